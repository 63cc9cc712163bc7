"""Licence fixtures: regions, two issuing departments, a person, an enterprise, the
shipped licence types, and staff actors with their scopes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from tongban.catalog.models import Department, Region
from tongban.config import Settings
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR, Actor, Scope
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.identity.models import Enterprise, Person
from tongban.licences import service
from tongban.licences.models import Licence

BUSINESS_LICENCE = "11100000000000019F001"
RESIDENCE_PERMIT = "11100000000000027A001"
REGIONS = [
    ("100000", "中华人民共和国", 1, None),
    ("510000", "四川省", 2, "100000"),
    ("510100", "成都市", 3, "510000"),
    ("510104", "锦江区", 4, "510100"),
    ("110000", "北京市", 2, "100000"),
]


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id with the smallest parameters: logins in API tests stay fast."""
    previous = identity.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    identity.use_password_hasher(previous)


@dataclass
class World:
    db_session: Session
    settings: Settings
    market: Department  # issues 营业执照
    police: Department  # issues 居住证
    person: Person
    enterprise: Enterprise

    def staff(self, *roles: str, region: str = "510104",
              department: Department | None = None) -> Actor:
        """A staff actor with `roles`, scoped to a region (and department)."""
        return Actor(account_id=uuid.uuid4(), name=f"staff:{'+'.join(roles)}",
                     roles=frozenset(roles),
                     scopes=(Scope(region, department.id if department else None),))

    @property
    def holder(self) -> Actor:
        return Actor(account_id=uuid.uuid4(), name=self.person.name,
                     roles=frozenset({"applicant"}), person_id=self.person.id)

    def business_fields(self, **changes: Any) -> dict[str, Any]:
        return {
            "credit_code": self.enterprise.credit_code, "name": self.enterprise.name,
            "entity_type": "有限责任公司(自然人投资或控股)", "legal_representative": "张蜀锦",
            "business_scope": "文化艺术交流活动策划;会议及展览服务。",
            "registered_capital": "壹佰万元整", "established_on": "2024-03-18",
            "operating_period": "2024年03月18日至长期", "domicile": "成都市锦江区红星路三段1号",
            **changes,
        }

    def residence_fields(self, **changes: Any) -> dict[str, Any]:
        return {"name": self.person.name, "gender": "女", "ethnicity": "汉",
                "birth_date": "1990-05-17", "residence_address": "成都市锦江区春熙路88号",
                "household_address": "重庆市渝中区解放碑街道", **changes}

    def issue_business(self, **kwargs: Any) -> Licence:
        params: dict[str, Any] = {"valid_from": date.today()} | kwargs
        return service.issue(
            db_session=self.db_session, settings=self.settings,
            licence_type_code=BUSINESS_LICENCE, holder_enterprise_id=self.enterprise.id,
            fields=params.pop("fields", self.business_fields()),
            issuer_department_id=self.market.id, **params)

    def issue_residence(self, **kwargs: Any) -> Licence:
        params: dict[str, Any] = {"valid_from": service.today_in_china()} | kwargs
        return service.issue(
            db_session=self.db_session, settings=self.settings,
            licence_type_code=RESIDENCE_PERMIT, holder_person_id=self.person.id,
            fields=params.pop("fields", self.residence_fields()),
            issuer_department_id=self.police.id, **params)


@pytest.fixture
def world(db_session: Session, settings: Settings) -> World:
    """Chengdu's market regulator and public security bureau, a resident and a company."""
    for code, name, level, parent in REGIONS:
        db_session.add(Region(code=code, name=name, level=level, parent_code=parent))
        db_session.flush()
    market = Department(name="成都市锦江区市场监督管理局", region_code="510104",
                        credit_code=make_uscc("1", "1", "510104", "MB123456"),
                        kind="市场监督管理", level=4)
    police = Department(name="成都市公安局", region_code="510100",
                        credit_code=make_uscc("1", "1", "510100", "MB654321"),
                        kind="公安", level=3)
    db_session.add_all([market, police])
    db_session.flush()
    person = identity.create_person(
        db_session=db_session, settings=settings, actor=SYSTEM_ACTOR, name="李春熙",
        id_number=make_resident_id("500103", date(1990, 5, 17), 282))
    enterprise = identity.create_enterprise(
        db_session=db_session, actor=SYSTEM_ACTOR, name="成都蜀锦文化传播有限公司",
        credit_code=make_uscc("9", "1", "510104", "MA6CXY12"), region_code="510104")
    service.load_licence_types(db_session=db_session)
    db_session.commit()
    return World(db_session, settings, market, police, person, enterprise)
