"""Several nodes in one process: one app and one database each, routed to each other by
an httpx transport, federated the way operators do it (descriptor, anchor, registry)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tongban.app import create_app
from tongban.catalog import exchange as catalog_exchange
from tongban.catalog.demo_data import build_demo_catalog
from tongban.catalog.models import Region
from tongban.config import Settings
from tongban.db import make_sessionmaker, transaction, utcnow
from tongban.federation import modes, registry, service, transport
from tongban.federation import worker as fed_worker
from tongban.federation.models import InboxEnvelope
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.identity.ids import make_resident_id
from tongban.licences import service as licences
from tongban.outbox.models import OutboxMessage

PASSWORD = "fed-Pass-42"
REGIONS = [
    ("100000", "中华人民共和国", 1, None),
    ("510000", "四川省", 2, "100000"), ("510100", "成都市", 3, "510000"),
    ("510104", "锦江区", 4, "510100"),
    ("310000", "上海市", 2, "100000"), ("310115", "浦东新区", 4, "310000"),
    ("500000", "重庆市", 2, "100000"), ("500103", "渝中区", 4, "500000"),
]
# The demo implementations the tests use, by name.
WANTED = {
    "住房公积金异地转移接续(上海)",  # fully_online, at Shanghai
    "夫妻投靠户口迁入(浦东新区)",  # receive_and_forward + joint, at Shanghai
    "户口迁出(锦江区)",  # joint, at Sichuan
    "企业职工基本养老保险关系转移接续(转出)(成都)",  # joint
    "企业职工基本养老保险关系转移接续(转入)(上海)",  # joint
    "社会保障卡补领(重庆)",  # receive_and_forward, at Chongqing
}
NODES = (("510000", "sichuan"), ("310000", "shanghai"), ("500000", "chongqing"))
# login -> (name, home region, birth date, sequence, node)
PEOPLE = {
    "zhangwei": ("张伟", "510104", date(1988, 5, 12), 123, "510000"),
    "lina": ("李娜", "310115", date(1992, 11, 3), 246, "310000"),
    "wangfang": ("王芳", "500103", date(1985, 2, 28), 88, "500000"),
}
LONG_LIFE = timedelta(days=2)


def small_catalog() -> dict[str, Any]:
    doc = build_demo_catalog()
    impls = [i for i in doc["implementations"] if i["name"] in WANTED]
    assert len(impls) == len(WANTED), sorted(i["name"] for i in impls)
    credit = {i["department_credit_code"] for i in impls}
    basic = {i["basic_code"] for i in impls}
    return {"format": doc["format"],
            "departments": [d for d in doc["departments"] if d["credit_code"] in credit],
            "items": [i for i in doc["items"] if i["basic_code"] in basic],
            "implementations": impls}


class Router(httpx.BaseTransport):
    """Routes http://<region>.test/... to that node's in-process app; a blocked node
    looks unreachable (connection refused)."""

    def __init__(self) -> None:
        self.clients: dict[str, TestClient] = {}
        self.blocked: set[str] = set()
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.calls += 1
        if host in self.blocked or host not in self.clients:
            raise httpx.ConnectError(f"{host} unreachable", request=request)
        client = self.clients[host]
        path = request.url.raw_path.decode("ascii")
        response = client.request(request.method, path, content=request.read(),
                                  headers={k: v for k, v in request.headers.items()
                                           if k.lower() not in ("host", "content-length")})
        return httpx.Response(response.status_code, headers=response.headers,
                              content=response.content)


@dataclass
class Node:
    region: str
    name: str
    settings: Settings
    engine: Engine
    client: TestClient
    people: dict[str, uuid.UUID] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"{self.region}.test"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with transaction(make_sessionmaker(self.engine)) as session:
            yield session

    def read(self) -> Session:
        return make_sessionmaker(self.engine)()

    def count(self, model: Any, *where: Any) -> int:
        with self.read() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def token(self, who: str) -> dict[str, str]:
        with self.session() as s:
            token, _ = identity.login(db_session=s, settings=self.settings,
                                      username=self.usernames[who], password=PASSWORD)
        return {"Authorization": f"Bearer {token}"}


class Federation:
    """The nodes, the router between them, and a pump that runs their workers."""

    def __init__(self, nodes: list[Node], router: Router) -> None:
        self.nodes = {n.region: n for n in nodes}
        self.router = router
        self.http = httpx.Client(transport=router, timeout=5.0)

    def __getitem__(self, region: str) -> Node:
        return self.nodes[region]

    @property
    def sc(self) -> Node:
        return self.nodes["510000"]

    @property
    def sh(self) -> Node:
        return self.nodes["310000"]

    @property
    def cq(self) -> Node:
        return self.nodes["500000"]

    def step(self, node: Node) -> tuple[int, int]:
        """One worker pass of one node: deliver, then process its inbox."""
        with transport.use_client(self.http):
            with node.session() as s:
                delivered = fed_worker.deliver_job(s, node.settings)
            with node.session() as s:
                processed = fed_worker.inbox_job(s, node.settings)
        return delivered, processed

    def pump(self, rounds: int = 12) -> None:
        """Run every node's worker until nothing is left to do (or `rounds` passes)."""
        for _ in range(rounds):
            moved = 0
            for node in self.nodes.values():
                d, p = self.step(node)
                moved += d + p
            if moved == 0 and not self.pending():
                return

    def pending(self) -> int:
        """Envelopes still queued or unprocessed anywhere."""
        total = 0
        for node in self.nodes.values():
            total += node.count(OutboxMessage, OutboxMessage.topic == service.TOPIC,
                                OutboxMessage.delivered_at.is_(None))
            total += node.count(InboxEnvelope, InboxEnvelope.processed_at.is_(None))
        return total

    def due_now(self) -> None:
        """Make every retry due (as if the backoff had passed)."""
        for node in self.nodes.values():
            with node.session() as s:
                for m in s.scalars(select(OutboxMessage).where(
                        OutboxMessage.delivered_at.is_(None))):
                    m.next_attempt_at = None
                for row in s.scalars(select(InboxEnvelope).where(
                        InboxEnvelope.processed_at.is_(None))):
                    row.next_attempt_at = None


def seed(node: Node, catalog_doc: dict[str, Any]) -> None:
    """Regions, the small catalog, licence types, this node's people and staff."""
    with node.session() as s:
        for code, name, level, parent in REGIONS:
            s.add(Region(code=code, name=name, level=level, parent_code=parent))
            s.flush()
        catalog_exchange.import_document(db_session=s, doc=catalog_doc, actor=SYSTEM_ACTOR)
        licences.load_licence_types(db_session=s)
        for login, (name, home, born, seq, region) in PEOPLE.items():
            if region != node.region:
                continue
            person = identity.create_person(db_session=s, settings=node.settings,
                                            actor=SYSTEM_ACTOR, name=name,
                                            id_number=make_resident_id(home, born, seq))
            account = identity.create_account(
                db_session=s, actor=SYSTEM_ACTOR, username=f"{login}.{node.name}",
                password=PASSWORD, display_name=name, roles=["applicant"], scopes=[],
                person_id=person.id)
            node.people[login] = person.id
            node.actors[login] = identity.actor_from_account(account)
            node.usernames[login] = account.username
        for role in ("clerk", "reviewer", "supervisor", "operator"):
            account = identity.create_account(
                db_session=s, actor=SYSTEM_ACTOR, username=f"{role}.{node.name}",
                password=PASSWORD, display_name=f"{node.name} {role}", roles=[role],
                scopes=[(node.region, None)])
            node.actors[role] = identity.actor_from_account(account)
            node.usernames[role] = account.username
        registry.init_node(db_session=s, settings=node.settings, endpoint=node.url,
                           name=node.name)


def federate(fed: Federation) -> None:
    """The first node is the authority; the others join by descriptor and anchor."""
    authority, *members = fed.nodes.values()
    descriptors = []
    for node in members:
        with node.read() as s:
            descriptors.append(registry.descriptor(db_session=s, settings=node.settings))
    with authority.session() as s:
        registry.become_authority(db_session=s, settings=authority.settings,
                                  instance="tongban-test")
        for doc in descriptors:
            registry.add_member(db_session=s, document=doc)
        registry.issue(db_session=s, settings=authority.settings, lifetime=LONG_LIFE)
        anchor = registry.export_anchor(db_session=s)
    with transport.use_client(fed.http):
        for node in members:
            with node.session() as s:
                registry.import_anchor(db_session=s, document=anchor)
                assert transport.pull_registry(db_session=s)


def make_node(region: str, name: str, engine: Engine, root: Path,
              keys: tuple[str, str]) -> Node:
    settings = Settings(database_url=engine.url.render_as_string(hide_password=False),
                        var_dir=root / region, data_key=keys[0], index_key=keys[1],
                        node_region=region, node_name=name, run_worker_in_process=False)
    app = create_app(settings, engine=engine)
    return Node(region=region, name=name, settings=settings, engine=engine,
                client=TestClient(app, base_url=f"http://{region}.test"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fresh_registry(fed: Federation, lifetime: timedelta = LONG_LIFE) -> None:
    """Authority signs a new version; members fetch it."""
    with fed.sc.session() as s:
        registry.issue(db_session=s, settings=fed.sc.settings, lifetime=lifetime)
    with transport.use_client(fed.http):
        for node in list(fed.nodes.values())[1:]:
            with node.session() as s:
                transport.pull_registry(db_session=s)


def now_plus(**delta: float) -> Any:
    return utcnow() + timedelta(**delta)


__all__ = ["Federation", "Node", "modes"]
