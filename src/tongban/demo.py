"""Seed a node with demo data a person would believe: the region table, the demo catalog,
the licence types, people and enterprises with valid identifiers, one login per role, and
a few cases in different states.

Everything goes through the domains' services, so the demo exercises the same rules
(identifier checks, encryption at rest, scopes) as real use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.catalog import exchange as catalog_exchange
from tongban.catalog import service as catalog
from tongban.catalog.demo_data import build_demo_catalog
from tongban.catalog.models import Department
from tongban.config import Settings, get_settings
from tongban.db import utcnow
from tongban.demo_cases import demo_actor, seed_cases
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.licences import service as licences

DEMO_PASSWORD = "Tongban-2026"


@dataclass(frozen=True)
class DemoPerson:
    name: str
    region: str
    born: date
    sequence: int
    phone: str


PEOPLE = (
    DemoPerson("张伟", "510104", date(1988, 5, 12), 123, "13800000001"),
    DemoPerson("李娜", "310115", date(1992, 11, 3), 246, "13800000002"),
    DemoPerson("王芳", "500103", date(1985, 2, 28), 88, "13800000003"),
    DemoPerson("刘洋", "320102", date(1979, 9, 9), 311, "13800000004"),
    DemoPerson("陈静", "330102", date(1995, 7, 21), 52, "13800000005"),
    DemoPerson("杨帆", "340104", date(2000, 1, 15), 17, "13800000006"),
)

ENTERPRISES = (
    ("成都蜀锦数字科技有限公司", "510104", "MA6CXK1"),
    ("上海浦江智能制造有限公司", "310115", "MA1FPQ2"),
)


def _department(db_session: Session, region: str, kind: str) -> Department:
    """The demo department of `kind` in `region`."""
    stmt = select(Department).where(Department.region_code == region, Department.kind == kind)
    department = db_session.scalars(stmt).first()
    if department is None:
        raise LookupError(f"demo catalog has no {kind} department in {region}")
    return department


def _people(db_session: Session, settings: Settings) -> list[uuid.UUID]:
    ids = []
    for p in PEOPLE:
        person = identity.create_person(
            db_session=db_session, settings=settings, actor=SYSTEM_ACTOR, name=p.name,
            id_number=make_resident_id(p.region, p.born, p.sequence), phone=p.phone,
        )
        ids.append(person.id)
    return ids


def _enterprises(db_session: Session, legal_rep: uuid.UUID) -> list[uuid.UUID]:
    ids = []
    for name, region, body in ENTERPRISES:
        enterprise = identity.create_enterprise(
            db_session=db_session, actor=SYSTEM_ACTOR, name=name,
            credit_code=make_uscc("9", "1", region, body + "0"),
            region_code=region, legal_representative_id=legal_rep,
        )
        ids.append(enterprise.id)
    return ids


# username, display name, roles, scopes (region, department), owner (person / enterprise)
AccountSpec = tuple[str, str, list[str], list[tuple[str, uuid.UUID | None]], dict[str, uuid.UUID]]


def _accounts(db_session: Session, people: list[uuid.UUID], enterprises: list[uuid.UUID]
              ) -> list[tuple[str, str, str]]:
    """One login per role; staff work in 成都 (the clerk at the general window)."""
    fund = _department(db_session, "510100", "住房公积金管理中心")
    hrss = _department(db_session, "510100", "人力资源和社会保障")
    specs: list[AccountSpec] = [
        ("zhangwei", "张伟", ["applicant"], [], {"person_id": people[0]}),
        ("lina", "李娜", ["applicant"], [], {"person_id": people[1]}),
        ("shujin", "成都蜀锦数字科技有限公司", ["applicant"], [],
         {"enterprise_id": enterprises[0]}),
        ("agent.wang", "王芳(帮办代办员)", ["agent"], [], {"person_id": people[2]}),
        ("clerk.cd", "成都市政务服务中心综合窗口", ["clerk"], [("510100", None)], {}),
        ("reviewer.gjj", "成都住房公积金管理中心审核员", ["reviewer"], [("510100", fund.id)], {}),
        ("reviewer.rs", "成都市人社局审核员", ["reviewer"], [("510100", hrss.id)], {}),
        ("supervisor.sc", "四川省电子监察员", ["supervisor"], [("510000", None)], {}),
        ("catalog.sc", "四川省事项目录管理员", ["catalog_admin"], [("510000", None)], {}),
        ("steward.sc", "四川省数据管理员", ["data_steward"], [("510000", None)], {}),
        ("operator", "节点运维", ["operator"], [("100000", None)], {}),
    ]
    logins = []
    for username, display, roles, scopes, owner in specs:
        identity.create_account(
            db_session=db_session, actor=SYSTEM_ACTOR, username=username,
            password=DEMO_PASSWORD, display_name=display, roles=roles, scopes=scopes, **owner,
        )
        logins.append((roles[0], username, DEMO_PASSWORD))
    return logins


def _agent_authorisation(db_session: Session, people: list[uuid.UUID]) -> None:
    """王芳 (agent) may act for 刘洋 on every item for a year, recorded at a window."""
    agent = demo_actor(db_session, "agent.wang")
    assert agent.account_id is not None
    identity.create_agent_authorisation(
        db_session=db_session, actor=demo_actor(db_session, "clerk.cd"),
        agent_account_id=agent.account_id,
        principal_person_id=people[3], valid_until=utcnow() + timedelta(days=365),
    )


def seed_demo(*, db_session: Session, console: Console | None = None,
              settings: Settings | None = None) -> list[tuple[str, str, str]]:
    """Load the demo data; returns (role, username, password) for each demo login."""
    settings = settings or get_settings()
    say = console.print if console else (lambda *_a, **_k: None)
    say("regions (GB/T 2260) …")
    catalog.load_regions(db_session=db_session)
    say("demo catalog …")
    catalog_exchange.import_document(
        db_session=db_session, doc=build_demo_catalog(), actor=SYSTEM_ACTOR
    )
    say("standard guides and declared variances …")
    from tongban.catalog.demo_standard import seed_standard

    seed_standard(db_session=db_session)
    say("licence types …")
    licences.load_licence_types(db_session=db_session)
    say("people, enterprises and accounts …")
    people = _people(db_session, settings)
    enterprises = _enterprises(db_session, people[0])
    logins = _accounts(db_session, people, enterprises)
    _agent_authorisation(db_session, people)
    db_session.flush()
    say("sample cases …")
    seed_cases(db_session=db_session, settings=settings)
    say("一件事 bundles …")
    from tongban.bundles.demo import build_demo_bundles

    build_demo_bundles(db_session=db_session)
    say("base registries and the sharing catalog …")
    from tongban.sharing.demo import seed_sharing

    seed_sharing(db_session=db_session, settings=settings)
    say("eligibility rule sets (一键核对, 免申即享) …")
    from tongban.eligibility.demo import seed_benefit_items, seed_eligibility

    seed_eligibility(db_session=db_session, settings=settings)
    seed_benefit_items(db_session=db_session)
    return logins
