"""Demo 一件事 bundles in 成都 (510100), built from the demo catalog's implementations.

The demo catalog has no 公章刻制 or 税务 items, so 开办企业 bundles what it has: the
business licence first, then the employer's 公积金 and 就业(社保)登记 in parallel.
Members are named by (基本编码, region) and resolved to their 实施编码 here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tongban.bundles import service
from tongban.bundles.models import BundleVersion
from tongban.bundles.schemas import BundleIn, MemberIn
from tongban.identity.actor import SYSTEM_ACTOR, Actor

REGION = "510100"

# code, name, topic, promised, legal, rule, description,
# members: (basic code, region, depends on (basic codes), promised override)
DEMO_BUNDLES: tuple[dict[str, Any], ...] = (
    {"code": "CD-KBQY", "name": "开办企业一件事", "topic": "企业开办", "promised_days": 5,
     "legal_days": 20, "deny_rule": "terminate_others",
     "description": "营业执照办结后,住房公积金单位缴存登记与就业(社保)登记并联办理。"
                    "公章刻制备案与发票申领不在演示目录中。",
     "members": [("000501001001", "510100", (), None),
                 ("000108001000", "510100", ("000501001001",), None),
                 ("000208008000", "510104", ("000501001001",), None)]},
    {"code": "CD-XSECS", "name": "新生儿出生一件事", "topic": "生育收养", "promised_days": 15,
     "legal_days": 40, "deny_rule": "continue_others",
     "description": "出生医学证明签发后办理出生登记(落户);落户后社会保障卡申领与"
                    "基本医疗保险参保并联办理。",
     "members": [("000608001001", "510104", (), None),
                 ("000302001000", "510104", ("000608001001",), None),
                 ("000208001001", "510100", ("000302001000",), 5),
                 ("000808001000", "510104", ("000302001000",), None)]},
    {"code": "CD-5GJZ", "name": "5G基站建设一件事", "topic": "工程建设", "promised_days": 10,
     "legal_days": 30, "deny_rule": "deny_bundle",
     "description": "规划选址、环评登记表备案与无线电台执照并联办理;选址通过后"
                    "城市道路挖掘与临时占用城市道路许可并联办理。",
     "members": [("001107005000", "510100", (), None),
                 ("001206002000", "510100", (), None),
                 ("001301001000", "510100", (), None),
                 ("001001007000", "510100", ("001107005000",), None),
                 ("001001008000", "510100", ("001107005000",), None)]},
)


def _codes() -> dict[tuple[str, str], str]:
    """(基本编码, region) -> 实施编码 of the demo catalog."""
    from tongban.catalog.demo_data import build_demo_catalog

    return {(i["basic_code"], i["region_code"]): i["implementation_code"]
            for i in build_demo_catalog()["implementations"]}


def demo_bundle_terms() -> list[BundleIn]:
    """The demo bundles as API input, members resolved to implementation codes."""
    codes = _codes()
    out = []
    for spec in DEMO_BUNDLES:
        by_basic = {basic: codes[(basic, region)] for basic, region, _, _ in spec["members"]}
        members = [MemberIn(implementation_code=by_basic[basic],
                            depends_on=[by_basic[d] for d in deps], promised_days=days)
                   for basic, _, deps, days in spec["members"]]
        out.append(BundleIn(**{k: v for k, v in spec.items() if k != "members"},
                            region_code=REGION, members=members))
    return out


def build_demo_bundles(*, db_session: Session,
                       actor: Actor = SYSTEM_ACTOR) -> list[BundleVersion]:
    """Draft and publish the demo bundles (the demo catalog must be loaded)."""
    published = []
    for terms in demo_bundle_terms():
        service.save_draft(db_session=db_session, actor=actor, data=terms)
        published.append(service.publish(db_session=db_session, actor=actor,
                                         bundle_code=terms.code))
    return published
