"""Faults with real processes on loopback: each node is its own `tongban serve` (API and
worker) over its own SQLite file. A node killed with SIGKILL mid-forwarding, or frozen
for a while, loses nothing: afterwards every envelope has taken effect exactly once and
both sides' case histories agree."""

from __future__ import annotations

import base64
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.federation.harness import REGIONS, small_catalog
from tests.federation.test_federation_modes import GJJ_SH, PDF, form
from tongban.cases.models import Case, CaseEvent
from tongban.db import make_engine, make_sessionmaker
from tongban.federation import demo
from tongban.federation.models import CaseLink, InboxEnvelope
from tongban.node.keyring import keyring

pytestmark = pytest.mark.slow
API = "/api/v1"
GJJ_SH_CODE = next(i["implementation_code"] for i in small_catalog()["implementations"]
                   if i["name"] == GJJ_SH)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    def __init__(self, specs: list[demo.LocalNodeSpec]) -> None:
        self.specs = {s.region: s for s in specs}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, region: str) -> None:
        spec = self.specs[region]
        self.procs[region] = demo.start(spec)
        demo.wait_healthy(spec, timeout=60)

    def kill(self, region: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[region]
        proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            proc.wait(timeout=10)

    def url(self, region: str) -> str:
        return self.specs[region].url

    def token(self, region: str, user: str) -> dict[str, str]:
        response = httpx.post(f"{self.url(region)}{API}/auth/login",
                              json={"username": user, "password": demo.PASSWORD}, timeout=10)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def query(self, region: str, fn: Callable[[Any], Any]) -> Any:
        settings = self.specs[region].settings
        engine = make_engine(settings.database_url, keys=keyring(settings))
        try:
            with make_sessionmaker(engine)() as session:
                return fn(session)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base: Path = tmp_path_factory.mktemp("faults")
    specs = demo.prepare(base=base, count=2, ports=[_free_port(), _free_port()],
                         catalog_doc=small_catalog(), regions=REGIONS)
    cluster = Cluster(specs)
    try:
        for region in cluster.specs:
            cluster.start(region)
        yield cluster
    finally:
        for proc in cluster.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(timeout=10)


def _forward(cluster: Cluster, headers: dict[str, str]) -> str:
    response = httpx.post(f"{cluster.url('510000')}{API}/federation/cases", headers=headers,
                          timeout=20, json={
                              "implementation_code": GJJ_SH_CODE, "mode": "fully_online",
                              "form_data": form("zhangwei", GJJ_SH),
                              "materials": [{"code": "application_form", "filename": "a.pdf",
                                             "content_base64": base64.b64encode(PDF).decode()}]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _view(cluster: Cluster, headers: dict[str, str], fc_id: str) -> dict[str, Any]:
    response = httpx.get(f"{cluster.url('510000')}{API}/federation/cases/{fc_id}",
                         headers=headers, timeout=20)
    assert response.status_code == 200
    return dict(response.json())


def _wait(predicate: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the federation to settle")


def _handled(cluster: Cluster, fc_ids: list[str]) -> dict[str, list[str]]:
    """Per forwarded case: the numbers of the cases the handler opened for it."""
    def read(s: Any) -> dict[str, list[str]]:
        rows = s.execute(select(CaseLink.peer_case_ref, Case.number)
                         .join(Case, Case.id == CaseLink.case_id)
                         .where(CaseLink.peer_case_ref.in_(fc_ids))).all()
        found: dict[str, list[str]] = {ref: [] for ref in fc_ids}
        for ref, number in rows:
            found[ref].append(number)
        return found
    return dict(cluster.query("310000", read))


def _history(cluster: Cluster, number: str) -> list[tuple[int, str, str]]:
    def read(s: Any) -> list[tuple[int, str, str]]:
        case = s.scalar(select(Case).where(Case.number == number))
        return [(e.seq, e.action, e.to_state) for e in s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))]
    return list(cluster.query("310000", read))


def _mirror(view: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(e["remote_seq"], e["action"].removeprefix("remote."), e["state"])
            for e in view["events"] if e["remote_seq"] is not None]


def _agree(cluster: Cluster, headers: dict[str, str], fc_ids: list[str]) -> bool:
    handled = _handled(cluster, fc_ids)
    for fc_id in fc_ids:
        if len(handled[fc_id]) != 1:
            return False
        if _mirror(_view(cluster, headers, fc_id)) != _history(cluster, handled[fc_id][0]):
            return False
    return True


def _assert_exactly_once(cluster: Cluster, fc_ids: list[str]) -> None:
    handled = _handled(cluster, fc_ids)
    assert all(len(numbers) == 1 for numbers in handled.values()), handled
    unprocessed = cluster.query("310000", lambda s: s.scalar(
        select(func.count()).select_from(InboxEnvelope)
        .where(InboxEnvelope.processed_at.is_(None))))
    assert unprocessed == 0


def test_a_handler_killed_mid_forwarding_loses_nothing_and_doubles_nothing(
        cluster: Cluster) -> None:
    applicant = cluster.token("510000", "zhangwei")
    fc_ids = [_forward(cluster, applicant) for _ in range(6)]
    time.sleep(0.8)  # some are on the wire or in the handler's inbox now
    cluster.kill("310000")
    fc_ids += [_forward(cluster, applicant) for _ in range(3)]  # queued while it is down
    time.sleep(2)
    cluster.start("310000")
    _wait(lambda: _agree(cluster, applicant, fc_ids))
    _assert_exactly_once(cluster, fc_ids)


def test_a_receiving_node_killed_while_statuses_flow_back_ends_in_agreement(
        cluster: Cluster) -> None:
    applicant = cluster.token("510000", "zhangwei")
    fc_ids = [_forward(cluster, applicant) for _ in range(4)]
    _wait(lambda: _agree(cluster, applicant, fc_ids))
    clerk = cluster.token("310000", "clerk.shanghai")
    for number in (n[0] for n in _handled(cluster, fc_ids).values()):
        response = httpx.post(f"{cluster.url('310000')}{API}/cases/{number}/actions/"
                              "pre_review_pass", headers=clerk, json={}, timeout=20)
        assert response.status_code == 200, response.text
    cluster.kill("510000")  # statuses are queued at 上海 or in flight
    time.sleep(2)
    cluster.start("510000")
    applicant = cluster.token("510000", "zhangwei")
    _wait(lambda: _agree(cluster, applicant, fc_ids))
    _assert_exactly_once(cluster, fc_ids)
    assert all(_view(cluster, applicant, f)["state"] == "submitted" for f in fc_ids)


def test_a_node_frozen_for_a_while_catches_up_exactly_once(cluster: Cluster) -> None:
    applicant = cluster.token("510000", "zhangwei")
    cluster.kill("310000", signal.SIGSTOP)  # blocked: connections hang, nothing answers
    try:
        fc_ids = [_forward(cluster, applicant) for _ in range(3)]
        time.sleep(4)
    finally:
        cluster.kill("310000", signal.SIGCONT)
    _wait(lambda: _agree(cluster, applicant, fc_ids))
    _assert_exactly_once(cluster, fc_ids)
