"""Legal effects that must cross nodes: a joint case opened at a node that also handles one
of its tasks completes; the handling region's 补正 notice reaches the receiving window and
the applicant's home node, and what is supplied (or a withdrawal) goes back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.federation.harness import Federation, fresh_registry, small_catalog
from tests.federation.test_federation_modes import (
    API,
    HUKOU_IN_SH,
    HUKOU_OUT_SC,
    _decide,
    code_of,
    form,
    view,
)
from tongban.catalog import service as catalog
from tongban.catalog.models import Implementation
from tongban.catalog.schemas import DepartmentIn, ImplementationIn, ItemIn
from tongban.federation import registry
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_uscc

PROVINCE_POLICE = make_uscc("1", "1", "510000", "MB8JQNT2")
PROVINCE_ITEM = "000399001000"


def _provincial_hukou_out(fed: Federation) -> str:
    """户口迁出 handled at the province itself (region 510000 = the 四川 node's own region),
    offered for 多地联办: published once, then in the federation registry."""
    with fed.sc.session() as s:
        found = s.scalar(select(Implementation.implementation_code).where(
            Implementation.region_code == "510000"))
        if found is not None:
            return found
        template = next(i for i in small_catalog()["implementations"]
                        if i["name"] == HUKOU_OUT_SC)
        catalog.create_department(db_session=s, actor=SYSTEM_ACTOR, data=DepartmentIn(
            name="四川省公安厅", region_code="510000", credit_code=PROVINCE_POLICE,
            kind="公安", level=2))
        catalog.create_item(db_session=s, actor=SYSTEM_ACTOR, data=ItemIn(
            basic_code=PROVINCE_ITEM, name="户口迁出(省级)", item_type="公共服务",
            use_levels=[2]))
        draft = catalog.create_draft(db_session=s, actor=SYSTEM_ACTOR, data=ImplementationIn(
            basic_code=PROVINCE_ITEM, department_credit_code=PROVINCE_POLICE,
            region_code="510000", level=2, name="户口迁出(四川省)",
            guide=template["guide"], form_schema=template["form_schema"]))
        catalog.publish(db_session=s, actor=SYSTEM_ACTOR,
                        implementation_code=draft.implementation_code)
        code = draft.implementation_code
        registry.add_member(db_session=s, document=registry.descriptor(
            db_session=s, settings=fed.sc.settings))  # the authority lists its new offer
    fresh_registry(fed)
    return code


def _joint(fed: Federation, tasks: list[tuple[str, str, str]]) -> dict[str, Any]:
    body = {"kind": "hukou_migration", "name": "户口迁移",
            "tasks": [{"implementation_code": code, "role": role,
                       "form_data": form("zhangwei", schema_of)}
                      for code, role, schema_of in tasks]}
    response = fed.sc.client.post(f"{API}/joint-cases", headers=fed.sc.token("zhangwei"),
                                  json=body)
    assert response.status_code == 201, response.text
    fed.pump()
    return _joint_view(fed, response.json()["id"])


def _joint_view(fed: Federation, joint_id: str) -> dict[str, Any]:
    return fed.sc.client.get(f"{API}/joint-cases/{joint_id}",
                             headers=fed.sc.token("zhangwei")).json()


def test_a_joint_case_completes_when_this_node_handles_one_of_its_tasks(
        fed: Federation) -> None:
    here = _provincial_hukou_out(fed)
    joint = _joint(fed, [(here, "迁出地", HUKOU_OUT_SC),
                         (code_of(fed.sc, HUKOU_IN_SH), "迁入地", HUKOU_IN_SH)])
    mine = next(t for t in joint["tasks"] if t["handling_region"] == "510000")
    number = mine["remote_case_number"]
    assert number, "the task handled here was opened here"
    for task in joint["tasks"]:
        _decide(fed[task["handling_region"]], task["remote_case_number"])
        fed.pump()
    seen = view(fed.sc, mine["id"], "zhangwei")
    assert seen["state"] == "approved" and seen["decision"] == "approved"
    joint = _joint_view(fed, joint["id"])
    assert joint["state"] == "completed" and joint["completed_at"]
