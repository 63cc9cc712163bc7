"""Catalog fixtures: a few real GB/T 2260 regions, departments, items and guides."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tongban.catalog import service
from tongban.catalog.models import Region
from tongban.catalog.schemas import DepartmentIn, ImplementationIn, ItemIn
from tongban.identity.actor import SYSTEM_ACTOR, Actor, Scope
from tongban.identity.ids import make_uscc

REGIONS = [
    ("100000", "全国", 1, None),
    ("510000", "四川省", 2, "100000"),
    ("510100", "成都市", 3, "510000"),
    ("510104", "锦江区", 4, "510100"),
    ("510107", "武侯区", 4, "510100"),
    ("500000", "重庆市", 2, "100000"),
    ("500100", "市辖区", 3, "500000"),
    ("500103", "渝中区", 4, "500100"),
    ("310000", "上海市", 2, "100000"),
    ("310100", "市辖区", 3, "310000"),
    ("310115", "浦东新区", 4, "310100"),
]

CHENGDU_HF = make_uscc("1", "1", "510100", "MB123456")  # 成都住房公积金管理中心
WUHOU_HR = make_uscc("1", "1", "510107", "MB223456")  # 武侯区人社局
CQ_HF = make_uscc("1", "1", "500103", "MB323456")  # 重庆住房公积金管理中心
SH_MS = make_uscc("1", "1", "310115", "MB423456")  # 浦东新区市场监管局

FORM = {"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}},
        "required": ["amount"]}


def guide(**overrides: Any) -> dict[str, Any]:
    """A complete, valid guide; override any field."""
    base: dict[str, Any] = {
        "item_kind": "promised",
        "applicant_types": ["person"],
        "acceptance_conditions": ["缴存职工购买自住住房"],
        "materials": [
            {"code": "M1", "name": "居民身份证", "key": True, "form": "electronic",
             "source": "licence", "licence_type": "居民身份证"},
            {"code": "M2", "name": "购房合同", "required": True, "deficiency_allowed": True,
             "form": "copy", "count": 1},
        ],
        "steps": [{"name": "受理", "days": 1}, {"name": "审核", "days": 2}],
        "legal_days": 5,
        "promised_days": 3,
        "fees": [],
        "handling_forms": ["window", "online"],
        "online_depth": 4,
        "visits": 0,
        "cross_region_modes": ["fully_online"],
        "special_procedures": [],
        "legal_basis": "《住房公积金管理条例》第二十四条",
        "result": {"name": "提取审批结果", "kind": "document"},
        "window_address": "成都市锦城大道366号",
        "window_phone": "028-12329",
        "office_hours": "工作日 9:00-17:00",
    }
    base.update(overrides)
    return base


def admin(region_code: str, department_id: uuid.UUID | None = None) -> Actor:
    """A catalog_admin scoped to one region (and department)."""
    return Actor(account_id=uuid.uuid4(), name=f"admin-{region_code}",
                 roles=frozenset({"catalog_admin"}),
                 scopes=(Scope(region_code=region_code, department_id=department_id),))


class Catalog:
    """Builds catalog rows through the service, as an operator would."""

    def __init__(self, db_session: Session) -> None:
        self.s = db_session
        self.actor = SYSTEM_ACTOR

    def regions(self) -> None:
        for code, name, level, parent in REGIONS:
            self.s.add(Region(code=code, name=name, level=level, parent_code=parent))
            self.s.flush()

    def department(self, credit_code: str, region_code: str, name: str, level: int = 3
                   ) -> Any:
        return service.create_department(db_session=self.s, actor=self.actor, data=DepartmentIn(
            name=name, region_code=region_code, credit_code=credit_code, kind="政务", level=level))

    def item(self, basic_code: str, name: str, item_type: str = "公共服务",
             use_levels: list[int] | None = None, topics: list[str] | None = None) -> Any:
        return service.create_item(db_session=self.s, actor=self.actor, data=ItemIn(
            basic_code=basic_code, name=name, item_type=item_type,
            use_levels=use_levels or [3, 4], topics=topics or []))

    def implementation(self, basic_code: str, credit_code: str, region_code: str,
                       name: str, level: int = 3, publish: bool = True, **guide_overrides: Any
                       ) -> Any:
        version = service.create_draft(db_session=self.s, actor=self.actor, data=ImplementationIn(
            basic_code=basic_code, department_credit_code=credit_code, region_code=region_code,
            level=level, name=name, guide=guide(**guide_overrides), form_schema=FORM))
        if publish:
            version = service.publish(db_session=self.s, actor=self.actor,
                                      implementation_code=version.implementation_code)
        return version

    def standard(self) -> None:
        """Regions, four departments, three items, four published implementations."""
        self.regions()
        self.department(CHENGDU_HF, "510100", "成都住房公积金管理中心")
        self.department(WUHOU_HR, "510107", "成都市武侯区人力资源和社会保障局", level=4)
        self.department(CQ_HF, "500103", "重庆市住房公积金管理中心")
        self.department(SH_MS, "310115", "上海市浦东新区市场监督管理局", level=4)
        self.item("000101001000", "住房公积金提取", topics=["住房"])
        self.item("000102002000", "社会保障卡申领", use_levels=[3, 4])
        self.item("000103003000", "个体工商户设立登记", item_type="行政许可", use_levels=[4])
        self.implementation("000101001000", CHENGDU_HF, "510100", "住房公积金提取(成都)")
        self.implementation("000101001000", CQ_HF, "500103", "住房公积金提取(重庆)",
                            promised_days=2)
        self.implementation("000102002000", WUHOU_HR, "510107", "社会保障卡申领", level=4)
        self.implementation("000103003000", SH_MS, "310115", "个体工商户设立登记", level=4,
                            applicant_types=["enterprise"], item_kind="immediate",
                            promised_days=0, legal_days=1)
        self.s.flush()


@pytest.fixture
def catalog(db_session: Session) -> Catalog:
    return Catalog(db_session)


@pytest.fixture
def standard(catalog: Catalog) -> Catalog:
    catalog.standard()
    return catalog


ImplCode = Callable[[str, int, str], str]


def code_of(credit_code: str, level: int, basic_code: str) -> str:
    return f"{credit_code}{level}{basic_code}"
