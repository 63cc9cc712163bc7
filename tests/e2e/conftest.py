"""Browser tests: a real uvicorn server on a free loopback port over a fresh SQLite
database (seeded through the services), driven by Debian's Chromium via Playwright.

Skipped when Chromium or Playwright is missing, unless TONGBAN_REQUIRE_E2E=1 (CI), where
that is an error. Screenshots go to TONGBAN_SCREENSHOT_DIR when set (docs/screenshots
when regenerating the docs), else to a temporary folder.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from tests.web.seed_web import seed
from tongban.config import Settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker, transaction
from tongban.identity import service as identity
from tongban.node.keyring import keyring

CHROMIUM = os.environ.get("TONGBAN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
MAX_UPLOAD = 200_000  # small, so the browser-side size check can be shown


def _require(reason: str) -> None:
    if os.environ.get("TONGBAN_REQUIRE_E2E") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder is a browser test."""
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Node:
    url: str
    seeded: Any  # what the seed function returned (tests.web.seed_web.Seeded for `node`)
    settings: Settings


@contextmanager
def served(root: Path, seed_node: Callable[[Session, Settings], Any]) -> Iterator[Node]:
    """A node over a fresh SQLite file under `root`, seeded by `seed_node` through the
    services, served by uvicorn in its own process."""
    if not Path(CHROMIUM).exists():
        _require(f"Chromium not found at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)")
    env = {
        "TONGBAN_DATABASE_URL": f"sqlite:///{root / 'node.db'}",
        "TONGBAN_VAR_DIR": str(root / "var"),
        "TONGBAN_DATA_KEY": base64.urlsafe_b64encode(b"e" * 32).decode(),
        "TONGBAN_INDEX_KEY": base64.urlsafe_b64encode(b"f" * 32).decode(),
        "TONGBAN_RUN_WORKER_IN_PROCESS": "false",
        "TONGBAN_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        # One browser signs in as the same few accounts many times a minute, from one
        # address: the login limits are tested in tests/identity, not here.
        "TONGBAN_RATE_LIMIT_LOGIN": "1000/minute",
        "TONGBAN_RATE_LIMIT_LOGIN_SOURCE": "1000/minute",
    }
    settings = Settings(**{k.removeprefix("TONGBAN_").lower(): v for k, v in env.items()})
    import_all_models()
    engine = make_engine(settings.database_url, keys=keyring(settings))
    Base.metadata.create_all(engine)
    # Cheap Argon2id parameters for the seeded accounts (the server rehashes on login).
    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seeded = seed_node(session, settings)
    finally:
        identity.use_password_hasher(previous)
    engine.dispose()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tongban.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield Node(url=url, seeded=seeded, settings=settings)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A seeded node served by uvicorn in its own process."""
    with served(tmp_path_factory.mktemp("e2e-node"),
                lambda session, settings: seed(db_session=session, settings=settings)) as up:
        yield up


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            output = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"server exited early:\n{output}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start within 10 s")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless, sandbox and background networking off."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        _require("playwright is not installed (pip install playwright pytest-playwright)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A desktop window in Beijing time and Chinese."""
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800},
            "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go."""
    target = os.environ.get("TONGBAN_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
