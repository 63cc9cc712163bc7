"""Bundle fixtures: three departments in 锦江区 and one in 成都, implementations whose
forms share fields and whose guides share a material, one draft (never published), one
whose form clashes, accounts for each role, and helpers that act at fixed legal times."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.cases.conftest import PASSWORD, PDF, at
from tongban.audit.models import AuditEntry
from tongban.bundles import service
from tongban.bundles.schemas import BundleIn, MemberIn
from tongban.cases import service as cases
from tongban.cases.models import Case, CaseEvent
from tongban.catalog import service as catalog
from tongban.catalog.models import Region
from tongban.catalog.schemas import DepartmentIn, ImplementationIn, ItemIn
from tongban.config import Settings
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.identity.ids import make_resident_id, make_uscc

REGIONS = [("100000", "全国", 1, None), ("510000", "四川省", 2, "100000"),
           ("510100", "成都市", 3, "510000"), ("510104", "锦江区", 4, "510100")]
DEPARTMENTS = {  # key: (name, region, org body)
    "health": ("成都市锦江区卫生健康局", "510104", "MB100001"),
    "police": ("成都市公安局锦江区分局", "510104", "MB100002"),
    "medical": ("成都市锦江区医疗保障局", "510104", "MB100003"),
    "hrss": ("成都市人力资源和社会保障局", "510100", "MB100004"),
}
TEXT = {"type": "string", "minLength": 2, "maxLength": 30}
PHONE = {"type": "string", "pattern": "^1[3-9][0-9]{9}$"}


def _form(*names: str, **extra: dict[str, Any]) -> dict[str, Any]:
    props = {"applicant_name": TEXT, "phone": PHONE, **{n: TEXT for n in names}, **extra}
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def _guide(materials: list[dict[str, Any]], promised: int = 5, legal: int = 20,
           kind: str = "promised") -> dict[str, Any]:
    return {"item_kind": kind, "applicant_types": ["person"], "materials": materials,
            "legal_days": legal, "promised_days": promised, "fees": [],
            "handling_forms": ["window", "online"], "online_depth": 4,
            "result": {"name": "结果", "kind": "document"}}


ID_COPY = {"code": "ID_COPY", "name": "身份证复印件", "key": True}
# (key, basic code, department, name, form, materials, promised, legal, kind)
IMPLEMENTATIONS: list[tuple[Any, ...]] = [
    ("birth_cert", "000608001001", "health", "出生医学证明首次签发",
     _form("child_name", "birth_place"),
     [ID_COPY, {"code": "DELIVERY", "name": "分娩记录", "required": False}], 5, 20, "promised"),
    ("birth_reg", "000302001000", "police", "出生登记", _form("child_name", "hukou_address"),
     [ID_COPY, {"code": "HUKOU", "name": "户口簿", "required": False}], 3, 30, "promised"),
    ("medical", "000808001000", "medical", "基本医疗保险参保登记", _form("child_name"),
     [{"code": "ID_COPY", "name": "居民身份证复印件", "key": True}], 2, 5, "promised"),
    ("social_card", "000208001001", "hrss", "社会保障卡申领", _form("bank_account"),
     [ID_COPY, {"code": "PHOTO", "name": "证件照", "required": False}], 10, 20, "promised"),
    ("clash", "000608009000", "health", "出生医学证明补发",
     _form(child_name={"type": "integer"}), [ID_COPY], 5, 20, "promised"),
    ("draft", "000302009000", "police", "户口迁入", _form(), [ID_COPY], 5, 20, "promised"),
]
GOOD = {"applicant_name": "张三", "phone": "13800138000", "child_name": "张小宝",
        "birth_place": "锦江区妇幼保健院", "hukou_address": "成都市锦江区东大街1号",
        "bank_account": "6222020200112233"}


@dataclass
class BundleWorld:
    db: Session
    settings: Settings
    codes: dict[str, str] = field(default_factory=dict)
    departments: dict[str, uuid.UUID] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)
    person_id: uuid.UUID | None = None

    def __getitem__(self, who: str) -> Actor:
        return self.actors[who]

    def define(self, code: str, members: list[str], *, rule: str = "deny_bundle",
               deps: dict[str, list[str]] | None = None, promised: int = 10, legal: int = 30,
               overrides: dict[str, int] | None = None, publish: bool = True) -> str:
        """Draft (and publish) a bundle of the named implementations."""
        deps, overrides = deps or {}, overrides or {}
        data = BundleIn(
            code=code, name=f"{code}一件事", topic="生育收养", region_code="510100",
            legal_days=legal, promised_days=promised, deny_rule=rule,
            members=[MemberIn(implementation_code=self.codes[m],
                              depends_on=[self.codes[d] for d in deps.get(m, [])],
                              promised_days=overrides.get(m)) for m in members])
        service.save_draft(db_session=self.db, actor=self["catalog_admin"], data=data)
        if publish:
            service.publish(db_session=self.db, actor=self["catalog_admin"], bundle_code=code)
        self.db.commit()
        return code

    def apply(self, code: str, *, who: str = "applicant", form: dict[str, Any] | None = None,
              when: datetime | None = None, key: str | None = None,
              channel: str = "window", **kwargs: Any) -> Case:
        if form is None:  # the good answers to the questions this bundle asks
            fields = {f.name for f in service.get_bundle(
                db_session=self.db, bundle_code=code).merged.fields}
            form = {k: v for k, v in GOOD.items() if k in fields}
        case = service.apply(db_session=self.db, settings=self.settings, actor=self[who],
                             bundle_code=code, form_data=form,
                             channel=channel, idempotency_key=key,
                             now=when or at(2026, 9, 21), **kwargs)
        self.db.commit()
        return case

    def share(self, bundle: Case, code: str = "ID_COPY", *, who: str = "applicant",
              data: bytes = PDF, when: datetime | None = None) -> Any:
        row = service.attach_material(db_session=self.db, settings=self.settings,
                                      actor=self[who], case_number=bundle.number,
                                      material_code=code, filename=f"{code}.pdf", data=data,
                                      now=when or at(2026, 9, 21, 11))
        self.db.commit()
        return row

    def act(self, who: str, case: Case, action: str, *, when: datetime | None = None,
            reason: str | None = None, **data: Any) -> Case:
        out = cases.act(db_session=self.db, settings=self.settings, actor=self[who],
                        case_number=case.number, action=action, reason=reason, data=data,
                        now=when or at(2026, 9, 22))
        self.db.commit()
        return out

    def tasks(self, bundle: Case) -> dict[str, Case]:
        """The started task cases of a bundle case, by fixture key."""
        rows, _ = cases.list_cases(db_session=self.db, actor=cases.WORKER_ACTOR,
                                   filters=cases.CaseFilters(parent_case_id=bundle.id))
        keys = {v: k for k, v in self.codes.items()}
        return {keys[c.implementation_code or ""]: c for c in rows}

    def statuses(self, bundle: Case) -> dict[str, str]:
        detail = service.get_case(db_session=self.db, actor=cases.WORKER_ACTOR,
                                  case_number=bundle.number)
        keys = {v: k for k, v in self.codes.items()}
        return {keys[t.member.code]: t.task.status for t in detail.tasks}

    def reload(self, case: Case) -> Case:
        self.db.expire_all()
        return cases.get_case(db_session=self.db, case_number=case.number)

    def counts(self) -> tuple[int, int, int]:
        """(cases, events, audit entries): to prove a failure wrote nothing."""
        return tuple(self.db.scalar(select(func.count()).select_from(t)) or 0  # type: ignore[return-value]
                     for t in (Case, CaseEvent, AuditEntry))

    def token(self, who: str) -> dict[str, str]:
        token, _ = identity.login(db_session=self.db, settings=self.settings,
                                  username=self.usernames[who], password=PASSWORD)
        self.db.commit()
        return {"Authorization": f"Bearer {token}"}


def _catalog(w: BundleWorld) -> None:
    s, sys = w.db, SYSTEM_ACTOR
    for code, name, level, parent in REGIONS:
        s.add(Region(code=code, name=name, level=level, parent_code=parent))
        s.flush()
    credit = {}
    for key, (name, region, body) in DEPARTMENTS.items():
        credit[key] = make_uscc("1", "1", region, body)
        dept = catalog.create_department(db_session=s, actor=sys, data=DepartmentIn(
            name=name, region_code=region, credit_code=credit[key], kind=key,
            level=3 if region == "510100" else 4))
        w.departments[key] = dept.id
    for key, basic, dept_key, name, form, materials, promised, legal, kind in IMPLEMENTATIONS:
        region = DEPARTMENTS[dept_key][1]
        level = 3 if region == "510100" else 4
        catalog.create_item(db_session=s, actor=sys, data=ItemIn(
            basic_code=basic, name=name, item_type="公共服务", use_levels=[level]))
        version = catalog.create_draft(db_session=s, actor=sys, data=ImplementationIn(
            basic_code=basic, department_credit_code=credit[dept_key], region_code=region,
            level=level, name=name, form_schema=form,
            guide=_guide(materials, promised, legal, kind)))
        if key != "draft":
            catalog.publish(db_session=s, actor=sys,
                            implementation_code=version.implementation_code)
        w.codes[key] = version.implementation_code


def _accounts(w: BundleWorld) -> None:
    person = identity.create_person(
        db_session=w.db, settings=w.settings, actor=SYSTEM_ACTOR, name="张三",
        id_number=make_resident_id("510104", datetime(1990, 1, 1).date(), 11))
    w.person_id = person.id
    d = w.departments
    specs: list[tuple[str, list[str], list[tuple[str, uuid.UUID | None]]]] = [
        ("applicant", ["applicant"], []),
        ("clerk", ["clerk"], [("510100", None)]),
        ("clerk_jj", ["clerk"], [("510104", None)]),
        ("health", ["reviewer"], [("510104", d["health"])]),
        ("police", ["reviewer"], [("510104", d["police"])]),
        ("medical", ["reviewer"], [("510104", d["medical"])]),
        ("hrss", ["reviewer"], [("510100", d["hrss"])]),
        ("supervisor", ["supervisor"], [("510100", None)]),
        ("catalog_admin", ["catalog_admin"], [("510100", None)]),
        ("catalog_jj", ["catalog_admin"], [("510104", None)]),
    ]
    for key, roles, scopes in specs:
        account = identity.create_account(
            db_session=w.db, actor=SYSTEM_ACTOR, username=f"{key}.bundles", password=PASSWORD,
            display_name=key, roles=roles, scopes=scopes,
            person_id=person.id if key == "applicant" else None)
        w.actors[key] = identity.actor_from_account(account)
        w.usernames[key] = account.username


@pytest.fixture
def bw(db_session: Session, settings: Settings) -> BundleWorld:
    """The catalog and accounts, committed."""
    w = BundleWorld(db_session, settings)
    _catalog(w)
    _accounts(w)
    db_session.commit()
    return w


def decide_all(w: BundleWorld, bundle: Case, reviewers: dict[str, str], *,
               when: datetime | None = None) -> None:
    """Accept (clerk) and approve (the department's reviewer) every started task."""
    for key, task in w.tasks(bundle).items():
        if task.state == "submitted":
            w.act("clerk", task, "accept", when=when)
        if task.state == "accepted":
            w.act(reviewers[key], task, "approve", when=when)


__all__ = ["GOOD", "BundleWorld", "at", "decide_all"]
