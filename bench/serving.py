"""What the HTTP benchmarks share: a node served by uvicorn in its own processes, up once
its health answers, and a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NODE_APP = ("tongban.app:create_app", "--factory")


def serve(url: str, var_dir: Path, port: int, *, keys: dict[str, str],
          processes: int = 1, app: tuple[str, ...] = NODE_APP,
          extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`processes` uvicorn workers of the node on `url` with `keys` (TONGBAN_<NAME>), no
    in-process worker (or of another `app`, as uvicorn's arguments; `extra` adds
    settings); returns once /api/v1/health answers 200 (a minute at most)."""
    env = {**os.environ, "TONGBAN_DATABASE_URL": url, "TONGBAN_VAR_DIR": str(var_dir),
           "TONGBAN_RUN_WORKER_IN_PROCESS": "false",
           **{f"TONGBAN_{k.upper()}": v for k, v in keys.items()}, **(extra or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *app,
         "--workers", str(processes), "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log"], env=env)
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("the server did not come up")
