"""A local federation for demos and tests: nodes on loopback, one database each.

`prepare` builds every node's database (tables, a small seed, federation identity),
makes the first node the registry authority, lists the others, and gives each the
anchor and the first registry, as an operator would with `federation anchor export` /
`anchor import` and `federation node export` / `member add`. `start` runs one node as
its own `tongban serve` process.

The small seed is the demo catalog restricted to the federation's regions and to
implementations offered across regions (the same catalog on every node, as a national
catalog would be), the licence types, the demo people of each node's region with their
logins, and one clerk, reviewer, supervisor and operator per node.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tongban.catalog import exchange as catalog_exchange
from tongban.catalog import service as catalog
from tongban.catalog.demo_data import build_demo_catalog
from tongban.config import Settings
from tongban.db import Base, import_all_models, make_engine, make_sessionmaker, transaction
from tongban.federation import registry
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id
from tongban.licences import service as licences
from tongban.node.keyring import keyring

# (node region, node name, demo regions it serves, people: (login, name, home, born, seq))
NODES: tuple[tuple[str, str, tuple[str, ...], tuple[tuple[str, str, str, str, int], ...]],
             ...] = (
    ("510000", "sichuan", ("510100", "510104"),
     (("zhangwei", "张伟", "510104", "1988-05-12", 123),
      ("liuyang", "刘洋", "510104", "1979-09-09", 311))),
    ("310000", "shanghai", ("310000", "310115"),
     (("lina", "李娜", "310115", "1992-11-03", 246),)),
    ("500000", "chongqing", ("500000", "500103"),
     (("wangfang", "王芳", "500103", "1985-02-28", 88),)),
)
PASSWORD = "Tongban-2026"
INSTANCE = "tongban-local"


@dataclass
class LocalNodeSpec:
    """One node of a local federation."""

    region: str
    name: str
    port: int
    root: Path
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = Settings(
            database_url=f"sqlite:///{(self.root / 'node.db').resolve()}",
            var_dir=self.root / "var", node_region=self.region, node_name=self.name,
            run_worker_in_process=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment a `tongban serve` process of this node needs."""
        return {**os.environ, "TONGBAN_DATABASE_URL": self.settings.database_url,
                "TONGBAN_VAR_DIR": str(self.settings.var_dir.resolve()),
                "TONGBAN_NODE_REGION": self.region, "TONGBAN_NODE_NAME": self.name,
                "TONGBAN_PUBLIC_URL": self.url}


def small_catalog(regions: set[str]) -> dict[str, Any]:
    """The demo catalog limited to `regions` and to cross-region implementations."""
    doc = build_demo_catalog()
    impls = [i for i in doc["implementations"] if i["region_code"] in regions
             and i["guide"].get("cross_region_modes")]
    credit = {i["department_credit_code"] for i in impls}
    basic = {i["basic_code"] for i in impls}
    return {"format": doc["format"],
            "departments": [d for d in doc["departments"] if d["credit_code"] in credit],
            "items": [i for i in doc["items"] if i["basic_code"] in basic],
            "implementations": impls}


def seed_node(*, db_session: Session, settings: Settings, catalog_doc: dict[str, Any],
              people: tuple[tuple[str, str, str, str, int], ...],
              regions: list[tuple[str, str, int, str | None]] | None = None
              ) -> list[tuple[str, str]]:
    """Seed one node; returns (role, login) of its accounts. `regions` (code, name,
    level, parent) replaces the full GB/T 2260 table when only a few are needed."""
    from datetime import date

    from tongban.catalog.models import Region

    if regions is None:
        catalog.load_regions(db_session=db_session)
    for code, name, level, parent in regions or []:
        db_session.add(Region(code=code, name=name, level=level, parent_code=parent))
        db_session.flush()
    catalog_exchange.import_document(db_session=db_session, doc=catalog_doc, actor=SYSTEM_ACTOR)
    licences.load_licence_types(db_session=db_session)
    logins = []
    for login, name, home, born, seq in people:
        person = identity.create_person(
            db_session=db_session, settings=settings, actor=SYSTEM_ACTOR, name=name,
            id_number=make_resident_id(home, date.fromisoformat(born), seq))
        identity.create_account(db_session=db_session, actor=SYSTEM_ACTOR, username=login,
                                password=PASSWORD, display_name=name, roles=["applicant"],
                                scopes=[], person_id=person.id)
        logins.append(("applicant", login))
    short = settings.node_name
    region = settings.node_region
    for role in ("clerk", "reviewer", "supervisor", "operator"):
        username = f"{role}.{short}"
        identity.create_account(db_session=db_session, actor=SYSTEM_ACTOR, username=username,
                                password=PASSWORD, display_name=f"{short} {role}",
                                roles=[role], scopes=[(region, None)])
        logins.append((role, username))
    return logins


def prepare(*, base: Path, count: int, base_port: int = 8101, ports: list[int] | None = None,
            catalog_doc: dict[str, Any] | None = None,
            regions: list[tuple[str, str, int, str | None]] | None = None,
            say: Any = lambda *_a: None) -> list[LocalNodeSpec]:
    """Build `count` nodes under `base` and federate them (the first is the authority)."""
    if not 1 <= count <= len(NODES):
        raise ValueError(f"a local federation has 1..{len(NODES)} nodes")
    import_all_models()
    chosen = NODES[:count]
    catalog_doc = catalog_doc or small_catalog(
        {r for _, _, node_regions, _ in chosen for r in node_regions})
    ports = ports or [base_port + i for i in range(count)]
    specs = []
    for i, (region, name, _regions, people) in enumerate(chosen):
        spec = LocalNodeSpec(region=region, name=name, port=ports[i],
                             root=base / f"node-{region}")
        spec.root.mkdir(parents=True, exist_ok=True)
        engine = _fresh_engine(spec)
        say(f"seeding {name} ({region}) …")
        with transaction(make_sessionmaker(engine)) as session:
            seed_node(db_session=session, settings=spec.settings, catalog_doc=catalog_doc,
                      people=people, regions=regions)
            registry.init_node(db_session=session, settings=spec.settings, endpoint=spec.url,
                               name=name)
        engine.dispose()
        specs.append(spec)
    federate(specs)
    return specs


def _fresh_engine(spec: LocalNodeSpec) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{spec.root / 'node.db'}{suffix}").unlink(missing_ok=True)
    engine = make_engine(spec.settings.database_url, keys=keyring(spec.settings))
    Base.metadata.create_all(engine)
    return engine


def federate(specs: list[LocalNodeSpec]) -> None:
    """Authority = the first node; every node's descriptor listed, the anchor and the
    first registry handed to each member."""
    engines = {s.region: make_engine(s.settings.database_url, keys=keyring(s.settings))
               for s in specs}
    try:
        authority = specs[0]
        descriptors = []
        for spec in specs[1:]:
            with transaction(make_sessionmaker(engines[spec.region])) as session:
                descriptors.append(registry.descriptor(db_session=session,
                                                       settings=spec.settings))
        with transaction(make_sessionmaker(engines[authority.region])) as session:
            registry.become_authority(db_session=session, settings=authority.settings,
                                      instance=INSTANCE)
            for doc in descriptors:
                registry.add_member(db_session=session, document=doc)
            token = registry.issue(db_session=session, settings=authority.settings).token
            anchor = registry.export_anchor(db_session=session)
        for spec in specs[1:]:
            with transaction(make_sessionmaker(engines[spec.region])) as session:
                registry.import_anchor(db_session=session, document=anchor)
                registry.store_token(db_session=session, token=token)
    finally:
        for engine in engines.values():
            engine.dispose()


def start(spec: LocalNodeSpec, *, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Run the node as `tongban serve` in its own process."""
    out = open(log or spec.root / "serve.log", "ab")  # noqa: SIM115 (the child owns it)
    return subprocess.Popen(
        [sys.executable, "-c", "from tongban.cli import main; main()", "serve",
         "--host", "127.0.0.1", "--port", str(spec.port)],
        env=spec.env(), stdout=out, stderr=subprocess.STDOUT)


def wait_healthy(spec: LocalNodeSpec, timeout: float = 60.0) -> None:
    """Wait until the node answers /api/v1/health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{spec.url}/api/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"node {spec.region} did not start on {spec.url}")
