"""Case fixtures: a small catalog (published, immediate, draft, withdrawn), people,
accounts of every role, and helpers that apply and act at fixed legal times."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tongban.audit.models import AuditEntry
from tongban.cases import service
from tongban.cases.models import Case, CaseEvent
from tongban.catalog import service as catalog
from tongban.catalog.models import Region
from tongban.catalog.schemas import DepartmentIn, ImplementationIn, ItemIn
from tongban.config import Settings
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.outbox.models import OutboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "cases-Pass-42"
REGIONS = [
    ("100000", "全国", 1, None),
    ("510000", "四川省", 2, "100000"),
    ("510100", "成都市", 3, "510000"),
    ("510104", "锦江区", 4, "510100"),
    ("510107", "武侯区", 4, "510100"),
    ("110000", "北京市", 2, "100000"),
    ("110101", "东城区", 4, "110000"),
]
MARKET = make_uscc("1", "1", "510104", "MB523456")  # 锦江区市场监管局
HEALTH = make_uscc("1", "1", "510104", "MB623456")  # 锦江区卫生健康局
LICENCE_ITEM = "000103003000"
IMMEDIATE_ITEM = "000104004000"

FORM = {
    "type": "object",
    "properties": {
        "shop_name": {"type": "string", "minLength": 2, "maxLength": 50},
        "phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$"},
        "capital": {"type": "integer", "minimum": 0},
    },
    "required": ["shop_name", "phone"],
}
GOOD_FORM = {"shop_name": "锦江小面馆", "phone": "13800138000", "capital": 50000}

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def ooxml(member: str) -> bytes:
    """A minimal ZIP container holding `member` (docx: word/document.xml, …)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(member, "<x/>")
    return buf.getvalue()


def at(y: int, m: int, d: int, h: int = 10) -> datetime:
    """A moment of a Beijing-time day, as the aware UTC datetime tongban stores."""
    return datetime(y, m, d, h, tzinfo=SHANGHAI).astimezone(UTC)


def guide(**overrides: Any) -> dict[str, Any]:
    """个体工商户设立登记: a promised item with an upload 容缺 may cover, and one it may not."""
    base: dict[str, Any] = {
        "item_kind": "promised",
        "applicant_types": ["person", "enterprise"],
        "materials": [
            {"code": "ID", "name": "经营者身份证明", "key": True, "form": "electronic",
             "source": "licence", "licence_type": "居民身份证"},
            {"code": "FORM", "name": "个体工商户登记申请书", "key": True},
            {"code": "PREMISES", "name": "经营场所使用证明", "deficiency_allowed": True},
            {"code": "PHOTO", "name": "门头照片", "required": False},
        ],
        "legal_days": 20,
        "promised_days": 10,
        "fees": [],
        "handling_forms": ["window", "online", "mobile"],
        "online_depth": 4,
        "special_procedures": ["听证", "专家评审"],
        "result": {"name": "营业执照", "kind": "document"},
    }
    base.update(overrides)
    return base


@dataclass
class World:
    """Everything a case test needs, with helpers that act at given legal times."""

    db: Session
    settings: Settings
    impl_code: str = ""
    immediate_code: str = ""
    draft_code: str = ""
    withdrawn_code: str = ""
    superseded_version_id: uuid.UUID | None = None
    market_id: uuid.UUID | None = None
    health_id: uuid.UUID | None = None
    actors: dict[str, Actor] = field(default_factory=dict)
    people: dict[str, uuid.UUID] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)
    extras: Callable[[], None] = lambda: None

    def __getitem__(self, who: str) -> Actor:
        return self.actors[who]

    def submit(self, who: str = "applicant", *, when: datetime | None = None,
               channel: str = "window", code: str | None = None,
               form: dict[str, Any] | None = None, key: str | None = None,
               **kwargs: Any) -> Case:
        return service.submit(
            db_session=self.db, settings=self.settings, actor=self.actors[who],
            implementation_code=code or self.impl_code, form_data=form or dict(GOOD_FORM),
            channel=channel, idempotency_key=key, now=when or at(2026, 9, 21), **kwargs,
        )

    def act(self, who: str, case: Case, action: str, *, when: datetime | None = None,
            reason: str | None = None, **data: Any) -> Case:
        return service.act(
            db_session=self.db, settings=self.settings, actor=self.actors[who],
            case_number=case.number, action=action, reason=reason, data=data,
            now=when or at(2026, 9, 22),
        )

    def upload(self, case: Case, code: str, *, who: str = "applicant",
               data: bytes = PDF, when: datetime | None = None) -> Any:
        return service.attach_material(
            db_session=self.db, settings=self.settings, actor=self.actors[who],
            case_number=case.number, material_code=code, filename=f"{code}.pdf", data=data,
            now=when or at(2026, 9, 21, 11),
        )

    def complete(self, case: Case, when: datetime | None = None) -> None:
        """Upload every required material (the ID card's scan: no e-licence is held)."""
        for code in ("ID", "FORM", "PREMISES"):
            self.upload(case, code, when=when)

    def events(self, case: Case) -> list[CaseEvent]:
        return list(self.db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                    .order_by(CaseEvent.seq)))

    def counts(self) -> tuple[int, int, int]:
        """(events, ledger outbox rows, audit entries): to prove a failure wrote nothing."""
        ev = self.db.scalar(select(func.count()).select_from(CaseEvent)) or 0
        ob = self.db.scalar(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.topic == "ledger")) or 0
        au = self.db.scalar(select(func.count()).select_from(AuditEntry)) or 0
        return ev, ob, au

    def ledger_kinds(self, case: Case) -> list[str]:
        rows = self.db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "ledger")
                               .order_by(OutboxMessage.seq))
        return [r.kind for r in rows if r.payload.get("case_number") == case.number]

    def token(self, who: str) -> dict[str, str]:
        token, _ = identity.login(db_session=self.db, settings=self.settings,
                                  username=self.usernames[who], password=PASSWORD)
        self.db.commit()
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    identity.use_password_hasher(previous)


def _catalog(w: World) -> None:
    s, sys = w.db, SYSTEM_ACTOR
    for code, name, level, parent in REGIONS:
        s.add(Region(code=code, name=name, level=level, parent_code=parent))
        s.flush()
    market = catalog.create_department(db_session=s, actor=sys, data=DepartmentIn(
        name="成都市锦江区市场监督管理局", region_code="510104", credit_code=MARKET,
        kind="市场监管", level=4))
    health = catalog.create_department(db_session=s, actor=sys, data=DepartmentIn(
        name="成都市锦江区卫生健康局", region_code="510104", credit_code=HEALTH,
        kind="卫生健康", level=4))
    w.market_id, w.health_id = market.id, health.id
    catalog.create_item(db_session=s, actor=sys, data=ItemIn(
        basic_code=LICENCE_ITEM, name="个体工商户设立登记", item_type="行政许可", use_levels=[4]))
    catalog.create_item(db_session=s, actor=sys, data=ItemIn(
        basic_code=IMMEDIATE_ITEM, name="个体工商户名称自主申报", item_type="公共服务",
        use_levels=[4]))
    catalog.create_item(db_session=s, actor=sys, data=ItemIn(
        basic_code="000105005000", name="公共场所卫生许可", item_type="行政许可",
        use_levels=[4]))
    catalog.create_item(db_session=s, actor=sys, data=ItemIn(
        basic_code="000106006000", name="食品经营许可", item_type="行政许可", use_levels=[4]))

    def impl(basic: str, credit: str, name: str, publish: bool = True, **g: Any) -> str:
        v = catalog.create_draft(db_session=s, actor=sys, data=ImplementationIn(
            basic_code=basic, department_credit_code=credit, region_code="510104", level=4,
            name=name, guide=guide(**g), form_schema=FORM))
        if publish:
            catalog.publish(db_session=s, actor=sys, implementation_code=v.implementation_code)
        return v.implementation_code

    w.impl_code = impl(LICENCE_ITEM, MARKET, "个体工商户设立登记")
    w.immediate_code = impl(IMMEDIATE_ITEM, MARKET, "名称自主申报", item_kind="immediate",
                            legal_days=1, promised_days=0,
                            materials=[{"code": "FORM", "name": "申报书"}])
    w.extras = lambda: _extras(w, impl)


def _extras(w: World, impl: Any) -> None:
    """A draft, a withdrawn implementation and a superseded version (few tests need them)."""
    s, sys = w.db, SYSTEM_ACTOR
    w.draft_code = impl("000105005000", HEALTH, "公共场所卫生许可", publish=False)
    w.withdrawn_code = impl("000106006000", HEALTH, "食品经营许可")
    catalog.withdraw(db_session=s, actor=sys, implementation_code=w.withdrawn_code)
    # A second version of the main implementation supersedes the first.
    first = catalog.get_current_version(db_session=s, implementation_code=w.impl_code)
    w.superseded_version_id = first.id
    catalog.update_draft(db_session=s, actor=sys, implementation_code=w.impl_code,
                         data=_draft_in("个体工商户设立登记"))
    catalog.publish(db_session=s, actor=sys, implementation_code=w.impl_code)
    s.commit()


def _draft_in(name: str) -> Any:
    from tongban.catalog.schemas import DraftIn

    return DraftIn(name=name, guide=guide(), form_schema=FORM)


def _people(w: World) -> None:
    s = w.db
    for n, (key, name) in enumerate([("self", "张三"), ("principal", "李四"),
                                     ("walkin", "王五"), ("agent", "赵六")]):
        person = identity.create_person(
            db_session=s, settings=w.settings, actor=SYSTEM_ACTOR, name=name,
            id_number=make_resident_id("510104", datetime(1990, 1, 1 + n).date(), 11 + n))
        w.people[key] = person.id


def _accounts(w: World) -> None:
    specs: list[tuple[str, list[str], list[tuple[str, uuid.UUID | None]], str | None]] = [
        ("applicant", ["applicant"], [], "self"),
        ("principal", ["applicant"], [], "principal"),
        ("agent", ["agent"], [], "agent"),
        ("clerk", ["clerk"], [("510104", None)], None),
        ("reviewer", ["reviewer"], [("510104", w.market_id)], None),
        ("supervisor", ["supervisor"], [("510100", None)], None),
        ("operator", ["operator"], [("510000", None)], None),
        ("clerk_bj", ["clerk"], [("110000", None)], None),
        ("reviewer_bj", ["reviewer"], [("110000", None)], None),
        ("reviewer_health", ["reviewer"], [("510104", w.health_id)], None),
        ("catalog_admin", ["catalog_admin"], [("510104", None)], None),
    ]
    for key, roles, scopes, person in specs:
        account = identity.create_account(
            db_session=w.db, actor=SYSTEM_ACTOR, username=f"{key}.cases", password=PASSWORD,
            display_name=key, roles=roles, scopes=scopes,
            person_id=w.people[person] if person else None)
        w.actors[key] = identity.actor_from_account(account)
        w.usernames[key] = account.username
    w.actors["system"] = service.WORKER_ACTOR


@pytest.fixture
def world(db_session: Session, settings: Settings) -> World:
    """The catalog, people and accounts, committed."""
    w = World(db_session, settings)
    _catalog(w)
    _people(w)
    _accounts(w)
    db_session.commit()
    return w


def authorise_agent(w: World, *, until: datetime | None = None,
                    items: list[str] | None = None) -> uuid.UUID:
    """李四 lets 赵六's agent account act for him."""
    auth = identity.create_agent_authorisation(
        db_session=w.db, actor=w["principal"], agent_account_id=w["agent"].account_id,
        principal_person_id=w.people["principal"], item_codes=items or [LICENCE_ITEM],
        valid_from=at(2026, 1, 1), valid_until=until or at(2027, 12, 31),
        now=at(2026, 1, 1))
    w.db.commit()
    return auth.id
