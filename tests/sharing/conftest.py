"""Sharing fixtures: the demo registries (catalog owned by 成都 departments, records of
the demo people and enterprises) on a bare node, the demo people in identity, and the
actors the tests act as."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from tongban.catalog.models import Department, Region
from tongban.config import Settings
from tongban.demo import ENTERPRISES, PEOPLE
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor, Scope
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.sharing import demo

REGIONS = [
    ("100000", "全国", 1, None), ("510000", "四川省", 2, "100000"),
    ("510100", "成都市", 3, "510000"), ("510104", "锦江区", 4, "510100"),
    ("310000", "上海市", 2, "100000"), ("310115", "浦东新区", 4, "310000"),
    ("500000", "重庆市", 2, "100000"), ("500103", "渝中区", 4, "500000"),
    ("320000", "江苏省", 2, "100000"), ("320100", "南京市", 3, "320000"),
    ("320102", "玄武区", 4, "320100"), ("330000", "浙江省", 2, "100000"),
    ("330100", "杭州市", 3, "330000"), ("330102", "上城区", 4, "330100"),
    ("340000", "安徽省", 2, "100000"), ("340100", "合肥市", 3, "340000"),
    ("340104", "蜀山区", 4, "340100"),
]


@dataclass
class World:
    settings: Settings
    ids: dict[str, str]  # person name -> ID number
    people: dict[str, uuid.UUID]  # person name -> identity person id
    credit_codes: dict[str, str]  # enterprise name -> credit code
    owners: dict[str, str]  # owner key -> credit code
    departments: dict[str, Department] = field(default_factory=dict)

    def staff(self, key: str, *roles: str, name: str = "") -> Actor:
        """A staff member of the 成都 department with this owner key."""
        dept = self.departments[key]
        return Actor(account_id=uuid.uuid4(), name=name or f"{dept.name}工作人员",
                     roles=frozenset(roles), scopes=(Scope("510100", dept.id),))


def steward(region: str = "510000") -> Actor:
    """A data steward of a whole region (no department)."""
    return Actor(account_id=uuid.uuid4(), name="数据管理员", roles=frozenset({"data_steward"}),
                 scopes=(Scope(region, None),))


def seed_world(db_session: Session, settings: Settings) -> World:
    """Regions, the demo people and enterprises in identity, and the demo registries."""
    for code, name, level, parent in REGIONS:
        db_session.add(Region(code=code, name=name, level=level, parent_code=parent))
    db_session.flush()
    ids, people = {}, {}
    for p in PEOPLE:
        number = make_resident_id(p.region, p.born, p.sequence)
        person = identity.create_person(db_session=db_session, settings=settings,
                                        actor=SYSTEM_ACTOR, name=p.name, id_number=number,
                                        phone=p.phone)
        ids[p.name], people[p.name] = number, person.id
    codes = {}
    for name, region, body in ENTERPRISES:
        code = make_uscc("9", "1", region, body + "0")
        identity.create_enterprise(db_session=db_session, actor=SYSTEM_ACTOR, name=name,
                                   credit_code=code, region_code=region,
                                   legal_representative_id=people["张伟"])
        codes[name] = code
    demo.seed_registries(db_session=db_session, settings=settings)
    owners = demo.owner_departments(db_session)
    from sqlalchemy import select

    departments = {key: db_session.scalars(select(Department).where(
        Department.credit_code == code)).one() for key, code in owners.items()}
    db_session.commit()
    return World(settings, ids, people, codes, owners, departments)


@pytest.fixture
def world(db_session: Session, settings: Settings) -> World:
    """A node with the demo registries and nothing else."""
    return seed_world(db_session, settings)


PASSWORD = "sharing-Pass-42"


def account(db_session: Session, username: str, roles: list[str],
            scopes: list[tuple[str, uuid.UUID | None]] | None = None, **owner: uuid.UUID
            ) -> Actor:
    """A real login (so API tests authenticate as users do), returned as its Actor."""
    created = identity.create_account(db_session=db_session, actor=SYSTEM_ACTOR,
                                      username=username, password=PASSWORD,
                                      display_name=username, roles=roles,
                                      scopes=scopes or [], **owner)
    db_session.commit()
    return identity.actor_from_account(created)


def bearer(client: object, username: str) -> dict[str, str]:
    """The Authorization header of a fresh login."""
    resp = client.post("/api/v1/auth/login",  # type: ignore[attr-defined]
                       json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


WITHDRAWAL_ITEM = "000108005002"
FORM: dict[str, object] = {"type": "object", "properties": {
    "rent_monthly": {"type": "integer", "minimum": 1}}, "required": ["rent_monthly"]}


def withdrawal_guide() -> dict[str, object]:
    """租赁住房提取住房公积金: the fund record and the property record come from shared
    data (the first required), the lease is uploaded."""
    return {
        "item_kind": "promised", "applicant_types": ["person"],
        "materials": [
            {"code": "gjj_info", "name": "住房公积金缴存信息", "source": "shared_data",
             "dataset": "住房公积金缴存信息", "form": "electronic"},
            {"code": "property_info", "name": "不动产登记信息", "source": "shared_data",
             "dataset": "不动产登记信息", "required": False, "form": "electronic"},
            {"code": "exam", "name": "从业资格考试合格信息", "source": "shared_data",
             "dataset": "从业资格考试信息", "required": False, "form": "electronic"},
            {"code": "lease", "name": "房屋租赁合同", "form": "copy"},
        ],
        "legal_days": 10, "promised_days": 3, "fees": [],
        "handling_forms": ["window", "online"], "online_depth": 4,
        "result": {"name": "准予提取通知书", "kind": "document"},
    }


def publish_withdrawal(db_session: Session, world: World) -> str:
    """The implementation of 租赁住房提取 at 成都住房公积金管理中心, published."""
    from tongban.catalog import service as catalog
    from tongban.catalog.schemas import ImplementationIn, ItemIn

    catalog.create_item(db_session=db_session, actor=SYSTEM_ACTOR, data=ItemIn(
        basic_code=WITHDRAWAL_ITEM, name="租赁住房提取住房公积金", item_type="公共服务",
        use_levels=[3]))
    draft = catalog.create_draft(db_session=db_session, actor=SYSTEM_ACTOR, data=ImplementationIn(
        basic_code=WITHDRAWAL_ITEM, department_credit_code=world.owners["gjj"],
        region_code="510100", level=3, name="租赁住房提取住房公积金(成都)",
        guide=withdrawal_guide(), form_schema=FORM))
    catalog.publish(db_session=db_session, actor=SYSTEM_ACTOR,
                    implementation_code=draft.implementation_code)
    db_session.commit()
    return draft.implementation_code


def grant(db_session: Session, world: World, dataset: str, consumer: str = "gjj",
          **terms: object) -> object:
    """A grant by the owner's steward (defaults: every field unmasked, case or consent)."""
    from tongban.sharing import grants, registries
    from tongban.sharing.fields import Masking

    found = registries.get_dataset(db_session=db_session, code=dataset)
    base: dict[str, object] = {
        "dataset": dataset, "consumer_credit_code": world.owners[consumer],
        "purpose_code": WITHDRAWAL_ITEM, "purpose_text": "租赁住房提取住房公积金",
        "basis": "statute", "legal_ref": found.legal_basis, "requires": "case_or_consent",
        "fields": {f: Masking.none for f in registries.field_specs(found)}}
    made = grants.create_grant(db_session=db_session, settings=world.settings,
                               actor=steward(), terms=grants.GrantTerms(**{**base, **terms}))
    db_session.commit()
    return made
