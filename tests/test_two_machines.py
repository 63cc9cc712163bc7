"""One node on two "machines": two API processes and two workers, each with its own var/
folder and port, over one PostgreSQL, one S3 store (SeaweedFS) and one Redis, sharing one
key file. A case goes through its life across both; a material uploaded on one machine
downloads on the other; the ledger drains every act exactly once; and a worker killed
with SIGKILL in the middle of a batch loses nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import drop_pg_database, pg_database_url
from tests.identity.test_identity_rate_limits import REDIS, _redis_reachable
from tests.s3 import S3Server
from tests.web.seed_web import PASSWORD, seed
from tongban.config import Settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker, transaction
from tongban.ledger import service as ledger
from tongban.ledger.models import LedgerEntry
from tongban.node import keyring
from tongban.outbox.models import OutboxMessage

API = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TONGBAN = str(Path(sys.executable).parent / "tongban")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    env: dict[str, str]
    settings: Settings
    root: Path
    residence_code: str = ""
    api: list[str] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def machine(self, name: str) -> dict[str, str]:
        return {**os.environ, **self.env, "TONGBAN_VAR_DIR": str(self.root / name)}

    def start_api(self, name: str) -> str:
        port = _port()
        proc = subprocess.Popen(
            [TONGBAN, "serve", "--port", str(port)], env=self.machine(name),
            stdout=subprocess.DEVNULL, stderr=(self.root / f"{name}-api.log").open("wb"))
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            if proc.poll() is not None:
                raise RuntimeError((self.root / f"{name}-api.log").read_text()[-3000:])
            try:
                if httpx.get(f"{url}{API}/health", timeout=1).status_code == 200:
                    self.api.append(url)
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"API {name} did not start")

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [TONGBAN, "worker", "--interval", "0.2"], env=self.machine(name),
            stdout=subprocess.DEVNULL, stderr=(self.root / f"{name}-worker.log").open("wb"))
        self.procs.append(proc)
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


@pytest.fixture
def cluster(tmp_path: Path, s3_server: S3Server) -> Iterator[Cluster]:
    """The shared stores, the schema, the seed and the key file (the machines start in
    the tests)."""
    from tests.conftest import _pg_reachable

    if not _pg_reachable():
        if os.environ.get("TONGBAN_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required for the two-machine test")
        pytest.skip("PostgreSQL unreachable")
    if not _redis_reachable():
        if os.environ.get("TONGBAN_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required for the two-machine test at {REDIS}")
        pytest.skip("Redis unreachable")
    url = pg_database_url(f"tongban_test_two_{os.getpid()}")
    key_file = tmp_path / "node-keys.json"
    keyring.init_file(key_file)
    env = {"TONGBAN_DATABASE_URL": url, "TONGBAN_KEY_FILE": str(key_file),
           "TONGBAN_PRODUCTION": "1", "TONGBAN_RATE_LIMIT_STORAGE": REDIS,
           "TONGBAN_NODE_NAME": f"two-{os.getpid()}", "TONGBAN_LOG_FORMAT": "json",
           **s3_server.env(f"two-machines-{os.getpid()}-{tmp_path.name}/")}
    settings = Settings(**{k.removeprefix("TONGBAN_").lower(): v for k, v in env.items()},
                        var_dir=tmp_path / "seed")
    import_all_models()
    engine = make_engine(url, keys=keyring.keyring(settings))
    Base.metadata.create_all(engine)
    from argon2 import PasswordHasher

    from tongban.identity import service as identity

    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seeded = seed(db_session=session, settings=settings)
    finally:
        identity.use_password_hasher(previous)
    engine.dispose()
    nodes = Cluster(env=env, settings=settings, root=tmp_path,
                    residence_code=seeded.residence_code)
    try:
        yield nodes
    finally:
        nodes.stop()
        keyring.forget()
        drop_pg_database(url)


def _login(url: str, username: str) -> dict[str, str]:
    answer = httpx.post(f"{url}{API}/auth/login",
                        json={"username": username, "password": PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _act(url: str, who: dict[str, str], number: str, action: str) -> dict[str, object]:
    done = httpx.post(f"{url}{API}/cases/{number}/actions/{action}", json={}, headers=who,
                      timeout=30)
    assert done.status_code == 200, done.text
    body: dict[str, object] = done.json()
    return body


def _until(check: object, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def _ledger_counts(session: Session) -> tuple[int, int, int]:
    """(ledger acts queued, entries logged, distinct sources logged)."""
    session.expire_all()
    acts = session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.topic == ledger.TOPIC)) or 0
    entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    sources = session.scalar(select(func.count(func.distinct(LedgerEntry.source_id)))) or 0
    return acts, entries, sources


@pytest.mark.slow
def test_a_case_lives_across_two_machines_and_the_ledger_drains_once(cluster: Cluster
                                                                     ) -> None:
    a, b = cluster.start_api("a"), cluster.start_api("b")
    cluster.start_worker("a")
    cluster.start_worker("b")
    code = cluster.residence_code
    applicant = _login(a, "zhangsan")
    case = httpx.post(f"{a}{API}/cases", headers=applicant, timeout=30, json={
        "implementation_code": code, "channel": "online",
        "form_data": {"name": "张三", "residence_address": "成都市锦江区东大街1号"}})
    assert case.status_code == 201, case.text
    number = case.json()["number"]
    sent = httpx.post(f"{a}{API}/cases/{number}/materials", headers=applicant, timeout=30,
                      data={"material_code": "P1"}, files={"file": ("p.png", PNG)})
    assert sent.status_code == 201, sent.text
    clerk, reviewer = _login(b, "clerk-cd"), _login(a, "reviewer-cd")
    got = httpx.get(f"{b}{API}/cases/{number}/materials/{sent.json()['id']}/content",
                    headers=clerk, timeout=30)
    assert got.status_code == 200 and got.content == PNG  # uploaded on a, read on b
    _act(b, clerk, number, "pre_review_pass")
    _act(b, clerk, number, "accept")
    assert _act(a, reviewer, number, "approve")["state"] == "approved"
    engine = make_engine(cluster.env["TONGBAN_DATABASE_URL"],
                         keys=keyring.keyring(cluster.settings))
    try:
        with make_sessionmaker(engine)() as session:
            _until(lambda: (lambda c: c[0] > 0 and c[0] == c[1])(_ledger_counts(session)))
            acts, entries, sources = _ledger_counts(session)
            assert acts == entries == sources  # every act once, none twice
            report = ledger.verify(db_session=session, settings=cluster.settings)
            assert report.ok, report.problem
        health = httpx.get(f"{b}{API}/health", timeout=30).json()
        assert health["ledger"]["pending"] == 0
        assert health["ledger"]["checkpoint_size"] == health["ledger"]["tree_size"] == acts
        assert not (cluster.root / "a" / "blobs").exists()  # the bytes live in S3
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing(cluster: Cluster
                                                                     ) -> None:
    engine = make_engine(cluster.env["TONGBAN_DATABASE_URL"],
                         keys=keyring.keyring(cluster.settings))
    total = 20_000
    try:
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            for n in range(total):
                ledger.record_act(db_session=session, kind="test.act", payload={"n": n})
        doomed = cluster.start_worker("a")
        with factory() as session:
            # kill the leader once it is well into the backlog, mid-batch
            _until(lambda: _ledger_counts(session)[1] > 0, timeout=120)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        with factory() as session:
            halfway = _ledger_counts(session)[1]
        assert 0 < halfway < total, "the kill came too late to be mid-backlog"
        cluster.start_worker("b")  # takes the lead the dead worker's connection gave up
        with factory() as session:
            _until(lambda: _ledger_counts(session)[1] >= total, timeout=300)
            acts, entries, sources = _ledger_counts(session)
            assert acts == entries == sources == total
            report = ledger.verify(db_session=session, settings=cluster.settings)
            assert report.ok and report.entries == total, report.problem
    finally:
        engine.dispose()
