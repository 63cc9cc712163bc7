"""A small catalog and one account per role, made through the services (web and e2e tests).

Two regions with staff: 成都市 (the implementations live there) and 南京市 (a clerk whose
scope does not cover 成都, to prove scoping). Passwords are the same for every account.
The licence types are loaded; 居住证申领(成都) issues the 居住证 e-licence on approval
(its form gives the name and residence address; the officer completes ethnicity and
household address). The agent 王代办 may act for 李四 (recorded at the 成都 window).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tongban.catalog.exchange import import_document
from tongban.catalog.models import Region
from tongban.catalog.service import search
from tongban.config import Settings
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.licences import service as licences

PASSWORD = "correct-horse-42"
REGIONS = [
    ("100000", "全国", 1, None),
    ("510000", "四川省", 2, "100000"),
    ("510100", "成都市", 3, "510000"),
    ("510104", "锦江区", 4, "510100"),
    ("320000", "江苏省", 2, "100000"),
    ("320100", "南京市", 3, "320000"),
]
CD_FUND = make_uscc("1", "1", "510100", "45100001")  # 成都住房公积金管理中心
CD_POLICE = make_uscc("1", "1", "510100", "45100002")  # 成都市公安局
NJ_POLICE = make_uscc("1", "1", "320100", "32000003")  # 南京市公安局
APPLICANT_ID = make_resident_id("510104", date(1990, 3, 7), 123)
WALK_IN_ID = make_resident_id("510104", date(1985, 11, 2), 456)

FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "phone", "amount", "reason", "start_date"],
    "properties": {
        "name": {"type": "string", "title": "申请人姓名", "minLength": 2, "maxLength": 20},
        "phone": {"type": "string", "title": "手机号码", "pattern": "^1[3-9]\\d{9}$"},
        "amount": {"type": "integer", "title": "提取金额(元)", "minimum": 1,
                   "maximum": 1000000},
        "reason": {"type": "string", "title": "提取原因", "enum": ["购房", "租房", "退休"]},
        "start_date": {"type": "string", "title": "开始日期", "format": "date"},
        "agree": {"type": "boolean", "title": "承诺所填信息真实"},
    },
}


def _guide(**overrides: Any) -> dict[str, Any]:
    guide: dict[str, Any] = {
        "item_kind": "promised", "applicant_types": ["person"],
        "acceptance_conditions": ["连续足额缴存住房公积金满3个月"],
        "materials": [
            {"code": "M1", "name": "购房合同", "required": True, "key": True},
            {"code": "M2", "name": "婚姻关系证明", "required": False, "key": False,
             "deficiency_allowed": True, "form": "copy"},
            {"code": "M3", "name": "居民身份证", "required": True, "source": "licence",
             "licence_type": "居民身份证", "form": "electronic"},
        ],
        "steps": [{"name": "受理", "days": 1}, {"name": "审核", "days": 2},
                  {"name": "办结", "days": 0}],
        "legal_days": 20, "promised_days": 3,
        "fees": [], "handling_forms": ["window", "online"], "online_depth": 4, "visits": 0,
        "cross_region_modes": ["fully_online"],
        "legal_basis": "《住房公积金管理条例》第二十四条",
        "result": {"name": "提取审批结果", "kind": "document"},
        "window_address": "成都市锦江区公积金大厦1楼", "window_phone": "12329",
        "office_hours": "工作日 9:00-17:00",
    }
    guide.update(overrides)
    return guide


RESIDENCE_FORM: dict[str, Any] = {
    "type": "object", "required": ["name", "residence_address"], "properties": {
        "name": {"type": "string", "title": "姓名", "minLength": 2},
        "residence_address": {"type": "string", "title": "居住地址", "minLength": 5}}}


def catalog_document() -> dict[str, Any]:
    """Three implementations in 成都 (one issuing an e-licence) and one in 南京."""
    return {
        "format": "tongban-catalog/1",
        "departments": [
            {"name": "成都住房公积金管理中心", "region_code": "510100", "credit_code": CD_FUND,
             "kind": "公积金", "level": 3},
            {"name": "成都市公安局", "region_code": "510100", "credit_code": CD_POLICE,
             "kind": "公安", "level": 3},
            {"name": "南京市公安局", "region_code": "320100", "credit_code": NJ_POLICE,
             "kind": "公安", "level": 3},
        ],
        "items": [
            {"basic_code": "000101001000", "name": "住房公积金提取", "item_type": "公共服务",
             "use_levels": [3], "legal_basis": "《住房公积金管理条例》", "topics": ["住房"]},
            {"basic_code": "000201002000", "name": "居住证签发", "item_type": "行政确认",
             "use_levels": [3], "legal_basis": "《居住证暂行条例》", "topics": ["户籍"]},
            {"basic_code": "000105021000", "name": "居住证申领", "item_type": "行政确认",
             "use_levels": [3], "legal_basis": "《居住证暂行条例》", "topics": ["户籍"]},
        ],
        "implementations": [
            {"basic_code": "000101001000", "department_credit_code": CD_FUND,
             "region_code": "510100", "level": 3, "name": "住房公积金提取(成都)",
             "guide": _guide(), "form_schema": FORM_SCHEMA},
            {"basic_code": "000201002000", "department_credit_code": CD_POLICE,
             "region_code": "510100", "level": 3, "name": "居住证签发(成都)",
             "guide": _guide(materials=[{"code": "P1", "name": "照片", "required": True}],
                             result={"name": "居住证", "kind": "document"}),
             "form_schema": {"type": "object", "required": ["name"], "properties": {
                 "name": {"type": "string", "title": "姓名", "minLength": 2}}}},
            {"basic_code": "000105021000", "department_credit_code": CD_POLICE,
             "region_code": "510100", "level": 3, "name": "居住证申领(成都)",
             "guide": _guide(materials=[{"code": "P1", "name": "照片", "required": True}],
                             result={"name": "居住证", "kind": "licence",
                                     "licence_type": "居住证"}),
             "form_schema": RESIDENCE_FORM},
            {"basic_code": "000201002000", "department_credit_code": NJ_POLICE,
             "region_code": "320100", "level": 3, "name": "居住证签发(南京)",
             "guide": _guide(materials=[{"code": "P1", "name": "照片", "required": True}],
                             result={"name": "居住证", "kind": "document"}),
             "form_schema": {"type": "object", "required": ["name"], "properties": {
                 "name": {"type": "string", "title": "姓名", "minLength": 2}}}},
        ],
    }


@dataclass(frozen=True)
class Seeded:
    fund_code: str  # 实施编码 of 住房公积金提取(成都)
    residence_code: str  # 实施编码 of 居住证签发(成都)
    nanjing_code: str
    permit_code: str  # 实施编码 of 居住证申领(成都): approval issues the 居住证 e-licence
    bundle_code: str  # 来蓉安居一件事: 公积金提取 + 居住证签发, one merged form


def seed(*, db_session: Session, settings: Settings) -> Seeded:
    """Regions, the catalog and accounts: applicant, agent, clerk, reviewer, supervisor
    in 成都, and a clerk in 南京."""
    for code, name, level, parent in REGIONS:
        db_session.add(Region(code=code, name=name, level=level, parent_code=parent))
        db_session.flush()
    licences.load_licence_types(db_session=db_session)
    import_document(db_session=db_session, doc=catalog_document(), actor=SYSTEM_ACTOR)
    person = identity.create_person(db_session=db_session, settings=settings,
                                    actor=SYSTEM_ACTOR, name="张三", id_number=APPLICANT_ID)
    principal = identity.create_person(db_session=db_session, settings=settings,
                                       actor=SYSTEM_ACTOR, name="李四", id_number=WALK_IN_ID)
    identity.create_account(db_session=db_session, actor=SYSTEM_ACTOR, username="zhangsan",
                            password=PASSWORD, display_name="张三", roles=["applicant"],
                            person_id=person.id)
    staff = [("clerk-cd", "王窗口", "clerk", "510100"),
             ("reviewer-cd", "赵审核", "reviewer", "510100"),
             ("head-cd", "钱主任", "supervisor", "510100"),
             ("clerk-nj", "孙窗口", "clerk", "320100")]
    for username, display, role, region in staff:
        identity.create_account(db_session=db_session, actor=SYSTEM_ACTOR, username=username,
                                password=PASSWORD, display_name=display, roles=[role],
                                scopes=[(region, None)])
    _agent(db_session, principal.id)
    hits = {h.name: h.implementation_code
            for h in search(db_session=db_session, q=None, limit=10).items}
    _bundle(db_session, [hits["住房公积金提取(成都)"], hits["居住证签发(成都)"]])
    return Seeded(fund_code=hits["住房公积金提取(成都)"], residence_code=hits["居住证签发(成都)"],
                  nanjing_code=hits["居住证签发(南京)"], permit_code=hits["居住证申领(成都)"],
                  bundle_code=BUNDLE_CODE)


BUNDLE_CODE = "cd-settle-in"


def _bundle(db_session: Session, members: list[str]) -> None:
    """来蓉安居一件事: both members start at once (no dependencies)."""
    from tongban.bundles import service as bundles
    from tongban.bundles.schemas import BundleIn, MemberIn

    bundles.save_draft(db_session=db_session, actor=SYSTEM_ACTOR, data=BundleIn(
        code=BUNDLE_CODE, name="来蓉安居一件事", topic="住房", region_code="510100",
        description="住房公积金提取和居住证签发，一次申请", legal_days=20, promised_days=5,
        members=[MemberIn(implementation_code=code) for code in members]))
    bundles.publish(db_session=db_session, actor=SYSTEM_ACTOR, bundle_code=BUNDLE_CODE)


def _agent(db_session: Session, principal_id: Any) -> None:
    """王代办 (agent) may act for 李四 for a year, as the 成都 window recorded."""
    agent = identity.create_account(db_session=db_session, actor=SYSTEM_ACTOR,
                                    username="agent-wang", password=PASSWORD,
                                    display_name="王代办", roles=["agent"])
    clerk = identity.find_account_by_username(db_session=db_session, username="clerk-cd")
    assert clerk is not None
    now = datetime.now(UTC)
    identity.create_agent_authorisation(
        db_session=db_session, actor=identity.actor_from_account(clerk),
        agent_account_id=agent.id, principal_person_id=principal_id,
        valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=365))
