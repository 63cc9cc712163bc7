"""The three cross-region modes end to end across in-process nodes, through the API:
全程网办, 异地代收代办, 多地联办; the status mirror (in order, even when envelopes arrive
out of order), failures sent back, 数据回流 and the purge of forwarding copies."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.federation.harness import PEOPLE, Federation, Node, b64, small_catalog
from tongban.cases import service as cases
from tongban.cases.models import Case, CaseEvent, CaseMaterial
from tongban.catalog.models import Implementation, ImplementationVersion
from tongban.federation import modes, service
from tongban.federation.models import ForwardedCase, InboxEnvelope, JointCase, ResultRecord
from tongban.identity.ids import make_resident_id
from tongban.licences import service as licences
from tongban.outbox.models import OutboxMessage

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
API = "/api/v1/federation"
GJJ_SH = "住房公积金异地转移接续(上海)"
HUKOU_IN_SH = "夫妻投靠户口迁入(浦东新区)"
HUKOU_OUT_SC = "户口迁出(锦江区)"
PENSION_OUT_SC = "企业职工基本养老保险关系转移接续(转出)(成都)"
PENSION_IN_SH = "企业职工基本养老保险关系转移接续(转入)(上海)"


def code_of(node: Node, name: str) -> str:
    """The implementation code of a demo implementation, by its name."""
    with node.read() as s:
        code = s.scalar(select(Implementation.implementation_code)
                        .join(ImplementationVersion,
                              ImplementationVersion.id == Implementation.current_version_id)
                        .where(ImplementationVersion.name == name))
    assert code is not None, name
    return code


def form(login: str, item: str = "", **extra: str) -> dict[str, Any]:
    """A valid application form of `item` (by name) for a demo person."""
    name, home, born, seq, _node = PEOPLE[login]
    data = {"applicant_name": name, "id_number": make_resident_id(home, born, seq),
            "phone": "13800000001", "address": "四川省成都市锦江区红星路三段1号",
            "residence_address": "上海市浦东新区世纪大道100号", "from_region": "510104",
            "to_region": "310115", "bank_account": "6222020200112233445",
            "bank_name": "中国工商银行", "pension_type": "企业职工基本养老保险",
            "move_reason": "夫妻投靠", "spouse_name": "李娜",
            "spouse_id_number": make_resident_id("310115", date(1992, 11, 3), 246)}
    data.update(extra)
    if not item:
        return data
    properties = SCHEMAS[item]["properties"]
    return {k: v for k, v in data.items() if k in properties}


SCHEMAS = {i["name"]: i["form_schema"] for i in small_catalog()["implementations"]}


def handling_case(node: Node, number: str) -> Case:
    with node.read() as s:
        return cases.get_case(db_session=s, case_number=number)


def complete(node: Node, number: str, data: bytes = PDF) -> None:
    """The handling window scans every required material the case still lacks (the ID
    card and shared data too: nothing is fetched for them yet), each as the file `data`."""
    with node.session() as s:
        case = cases.get_case(db_session=s, case_number=number)
        guide, _ = cases.guide_of(db_session=s, case=case)
        have = {m.material_code for m in s.scalars(select(CaseMaterial).where(
            CaseMaterial.case_id == case.id, CaseMaterial.superseded_by.is_(None)))}
        for material in guide["materials"]:
            if material.get("required", True) and material["code"] not in have:
                cases.attach_material(db_session=s, settings=node.settings,
                                      actor=node.actors["clerk"], case_number=number,
                                      material_code=material["code"],
                                      filename=f"{material['code']}.pdf", data=data)


def act(node: Node, number: str, who: str, action: str, reason: str | None = None,
        **data: Any) -> None:
    with node.session() as s:
        cases.act(db_session=s, settings=node.settings, actor=node.actors[who],
                  case_number=number, action=action, reason=reason, data=data)


def events_at(node: Node, number: str) -> list[tuple[int, str, str]]:
    with node.read() as s:
        case = cases.get_case(db_session=s, case_number=number)
        return [(e.seq, e.action, e.to_state) for e in s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))]


def mirror(view: dict[str, Any]) -> list[tuple[int, str, str]]:
    """The handling node's events as the receiving node mirrored them."""
    return [(e["remote_seq"], e["action"].removeprefix("remote."), e["state"])
            for e in view["events"] if e["remote_seq"] is not None]


def view(node: Node, fc_id: str, who: str) -> dict[str, Any]:
    response = node.client.get(f"{API}/cases/{fc_id}", headers=node.token(who))
    assert response.status_code == 200, response.text
    return response.json()


def test_fully_online_the_case_lives_at_the_handler_and_the_applicant_follows_it_at_home(
        fed: Federation) -> None:
    code = code_of(fed.sc, GJJ_SH)
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code, "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH),
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(PDF)}]})
    assert response.status_code == 201, response.text
    fc_id = response.json()["id"]
    fed.pump()
    seen = view(fed.sc, fc_id, "zhangwei")
    number = seen["remote_case_number"]
    assert seen["state"] == "pre_review" and number.startswith("310000")
    case = handling_case(fed.sh, number)
    assert case.receiving_region_code == "510000" and case.channel == "online"
    act(fed.sh, number, "clerk", "pre_review_pass")
    complete(fed.sh, number)
    for who, action in (("clerk", "accept"), ("reviewer", "approve")):
        act(fed.sh, number, who, action)
    act(fed.sh, number, "clerk", "deliver", method="post", tracking_number="SF1234567890")
    fed.pump()
    seen = view(fed.sc, fc_id, "zhangwei")
    assert seen["state"] == "delivered" and seen["decision"] == "approved"
    assert mirror(seen) == events_at(fed.sh, number)  # both histories agree
    assert seen["purged_at"] is not None
    actions = [e["action"] for e in seen["events"]]
    assert actions[:2] == ["received", "forwarded"] and actions[-1] == "purged"
    with fed.sc.read() as s:  # 数据回流: the home region (四川) holds the result record
        record = s.scalar(select(ResultRecord).where(ResultRecord.case_number == number))
        assert record is not None and record.decision == "approved"
        assert record.person_id == fed.sc.people["zhangwei"]


def test_receive_and_forward_the_window_checks_the_handler_decides_the_window_delivers(
        fed: Federation) -> None:
    code = code_of(fed.sc, HUKOU_IN_SH)
    clerk = fed.sc.token("clerk")
    response = fed.sc.client.post(f"{API}/cases", headers=clerk, json={
        "implementation_code": code, "mode": "receive_and_forward",
        "form_data": form("zhangwei", HUKOU_IN_SH), "person_id": str(fed.sc.people["zhangwei"]),
        "checks": {"identity_checked": True, "form_checked": True, "materials_checked": True,
                   "note": "核验身份证原件"},
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(PDF)}]})
    assert response.status_code == 201, response.text
    fc = response.json()
    assert fc["events"][0]["data"]["checks"]["identity_checked"] is True
    material = fc["materials"][0]["sha256"]
    fed.pump()
    number = view(fed.sc, fc["id"], "clerk")["remote_case_number"]
    case = handling_case(fed.sh, number)
    assert case.state == "submitted" and case.channel == "window"
    received = [e for e in _events(fed.sh, number) if e.action == "federation_received"]
    assert received and received[0].data["checks"]["note"] == "核验身份证原件"
    assert received[0].data["materials"][0]["sha256"] == material
    complete(fed.sh, number)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "approve")
    fed.pump()
    assert view(fed.sc, fc["id"], "clerk")["state"] == "approved"
    delivered = fed.sc.client.post(f"{API}/cases/{fc['id']}/deliver", headers=clerk,
                                   json={"method": "pickup",
                                         "pickup_window": "成都市政务服务中心 3 号窗口"})
    assert delivered.status_code == 200, delivered.text
    fed.pump()
    assert handling_case(fed.sh, number).state == "delivered"
    deliver = next(e for e in _events(fed.sh, number) if e.action == "deliver")
    assert "510000" in deliver.actor_name
    seen = view(fed.sc, fc["id"], "clerk")
    assert seen["state"] == "delivered" and mirror(seen) == events_at(fed.sh, number)
    assert seen["purged_at"] is not None
    assert not (fed.sc.settings.var_dir / "federation_blobs" / material[:2] / material).exists()


def _events(node: Node, number: str) -> list[CaseEvent]:
    with node.read() as s:
        case = cases.get_case(db_session=s, case_number=number)
        return list(s.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                              .order_by(CaseEvent.seq)))


@pytest.mark.parametrize(("kind", "tasks"), [
    ("hukou_migration", [(HUKOU_OUT_SC, "迁出地"), (HUKOU_IN_SH, "迁入地")]),
    ("pension_transfer", [(PENSION_OUT_SC, "转出地"), (PENSION_IN_SH, "转入地")]),
])
def test_joint_handling_completes_when_every_node_has_approved(
        fed: Federation, kind: str, tasks: list[tuple[str, str]]) -> None:
    body = {"kind": kind, "name": modes.JOINT_KINDS[kind]["name"],
            "tasks": [{"implementation_code": code_of(fed.sc, name), "role": role,
                       "form_data": form("zhangwei", name)} for name, role in tasks]}
    response = fed.sc.client.post(f"{API}/joint-cases", headers=fed.sc.token("zhangwei"),
                                  json=body)
    assert response.status_code == 201, response.text
    joint = response.json()
    fed.pump()
    joint = fed.sc.client.get(f"{API}/joint-cases/{joint['id']}",
                              headers=fed.sc.token("zhangwei")).json()
    assert joint["state"] == "open"
    for task in joint["tasks"]:
        node = fed[task["handling_region"]]
        number = task["remote_case_number"]
        _decide(node, number)
        fed.pump()
    joint = fed.sc.client.get(f"{API}/joint-cases/{joint['id']}",
                              headers=fed.sc.token("zhangwei")).json()
    assert joint["state"] == "completed" and joint["completed_at"]
    for task in joint["tasks"]:
        assert mirror(task) == events_at(fed[task["handling_region"]],
                                         task["remote_case_number"])


def _decide(node: Node, number: str, decision: str = "approve") -> None:
    """Pre-review, accept (every upload supplied by a clerk) and decide."""
    act(node, number, "clerk", "pre_review_pass")
    complete(node, number)
    act(node, number, "clerk", "accept")
    act(node, number, "reviewer", decision, reason="不符合条件" if decision == "deny" else None)


def test_a_joint_case_fails_when_one_node_denies(fed: Federation) -> None:
    body = {"kind": "pension_transfer", "name": "养老保险关系转移",
            "tasks": [{"implementation_code": code_of(fed.sc, PENSION_OUT_SC), "role": "转出地",
                       "form_data": form("zhangwei", PENSION_OUT_SC)},
                      {"implementation_code": code_of(fed.sc, PENSION_IN_SH), "role": "转入地",
                       "form_data": form("zhangwei", PENSION_IN_SH)}]}
    joint = fed.sc.client.post(f"{API}/joint-cases", headers=fed.sc.token("zhangwei"),
                               json=body).json()
    fed.pump()
    task = next(t for t in joint["tasks"] if t["handling_region"] == "310000")
    number = view(fed.sc, task["id"], "zhangwei")["remote_case_number"]
    _decide(fed.sh, number, "deny")
    fed.pump()
    joint = fed.sc.client.get(f"{API}/joint-cases/{joint['id']}",
                              headers=fed.sc.token("zhangwei")).json()
    assert joint["state"] == "failed"


def test_status_envelopes_that_arrive_out_of_order_are_applied_in_order(
        fed: Federation) -> None:
    code = code_of(fed.sc, GJJ_SH)
    fc = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code, "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH)}).json()
    fed.pump()
    number = view(fed.sc, fc["id"], "zhangwei")["remote_case_number"]
    act(fed.sh, number, "clerk", "pre_review_pass")  # status envelope 1
    act(fed.sh, number, "clerk", "refuse", reason="不属于受理范围")  # envelope 2
    with fed.sh.read() as s:
        queued = list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "federation", OutboxMessage.delivered_at.is_(None))
            .order_by(OutboxMessage.seq)))
        tokens = [service.open_token(fed.sh.settings, m.payload["token"]) for m in queued]
    assert len(tokens) == 2
    later = fed.sc.client.post(f"{API}/envelopes", content=tokens[1])
    assert later.status_code == 201
    fed.step(fed.sc)  # processes the later one first: it must wait
    with fed.sc.read() as s:
        waiting = s.get(InboxEnvelope, uuid.UUID(later.json()["envelope_id"]))
        assert waiting is not None and waiting.processed_at is None
        assert "waiting for event" in (waiting.last_error or "")
    fed.pump()
    fed.due_now()
    fed.pump()
    seen = view(fed.sc, fc["id"], "zhangwei")
    assert seen["state"] == "refused"
    assert mirror(seen) == events_at(fed.sh, number)


def test_an_application_the_handler_cannot_open_comes_back_failed(fed: Federation) -> None:
    code = code_of(fed.sc, GJJ_SH)
    bad = form("zhangwei", GJJ_SH, bank_account="not-a-number")
    fc = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code, "mode": "fully_online", "form_data": bad}).json()
    fed.pump()
    seen = view(fed.sc, fc["id"], "zhangwei")
    assert seen["state"] == "failed" and seen["purged_at"] is not None
    failed = next(e for e in seen["events"] if e["action"] == "remote.failed")
    assert failed["data"]["error"] == "invalid_form"


@pytest.mark.parametrize(("who", "body", "status", "code"), [
    ("zhangwei", {"mode": "receive_and_forward"}, 403, "forbidden"),
    ("clerk", {"mode": "receive_and_forward"}, 422, "invalid"),
    ("zhangwei", {"name": HUKOU_OUT_SC, "mode": "fully_online"}, 422, "local_item"),
    ("zhangwei", {"name": HUKOU_IN_SH, "mode": "fully_online"}, 422, "mode_not_offered"),
    ("zhangwei", {"code": "11310115MB0K58307E4000302009999", "mode": "fully_online"}, 422,
     "not_offered"),
    ("zhangwei", {"materials": [{"code": "x", "filename": "a.pdf", "content_base64": "@@"}]},
     422, "invalid"),
])
def test_a_forward_that_breaks_a_rule_is_refused_and_nothing_is_sent(
        fed: Federation, who: str, body: dict[str, Any], status: int, code: str) -> None:
    body = dict(body)  # the parameter is shared by both backends' runs
    name = body.pop("name", GJJ_SH if body.get("mode") != "receive_and_forward" else HUKOU_IN_SH)
    payload = {"implementation_code": body.pop("code", None) or code_of(fed.sc, name),
               "mode": "fully_online", "form_data": form("zhangwei", name), **body}
    if who == "clerk":
        payload["person_id"] = str(fed.sc.people["zhangwei"])
    before = fed.sc.count(OutboxMessage, OutboxMessage.topic == "federation")
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token(who), json=payload)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert fed.sc.count(OutboxMessage, OutboxMessage.topic == "federation") == before


def test_people_see_only_their_own_forwarded_cases(fed: Federation) -> None:
    code = code_of(fed.sc, GJJ_SH)
    fc = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code, "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH)}).json()
    other = fed.sh.client.get(f"{API}/cases/{fc['id']}", headers=fed.sh.token("lina"))
    assert other.status_code == 404
    mine = fed.sc.client.get(f"{API}/cases", headers=fed.sc.token("zhangwei")).json()
    assert fc["id"] in {c["id"] for c in mine}
    fed.pump()


def test_the_message_log_shows_every_hand_over_with_its_receipt(fed: Federation) -> None:
    code = code_of(fed.sc, GJJ_SH)
    fc = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code, "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH)}).json()
    fed.pump()
    rows = fed.sc.client.get(f"{API}/messages", params={"case_ref": fc["id"]},
                             headers=fed.sc.token("operator")).json()
    kinds = {(r["direction"], r["type"]) for r in rows}
    assert ("out", "case.apply") in kinds and ("in", "case.status") in kinds
    assert all(r["receipt"] for r in rows)


def test_registry_view_and_anchor_are_public(fed: Federation) -> None:
    registry_view = fed.sh.client.get(f"{API}/registry/view").json()
    assert {n["region_code"] for n in registry_view["nodes"]} == {"510000", "310000", "500000"}
    assert not registry_view["expired"]
    anchor = fed.sc.client.get(f"{API}/anchor").json()
    assert anchor["instance"] == "tongban-test" and len(anchor["fingerprint"]) == 64


SSC_CQ = "社会保障卡补领(重庆)"


def test_a_licence_issued_by_the_handler_reaches_the_receiving_window(fed: Federation) -> None:
    """异地代收代办 of an item whose result is an e-licence: the handling node issues it on
    approval and sends it back once; the receiving window sees it, ready to hand over."""
    code = code_of(fed.cq, SSC_CQ)
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("clerk"), json={
        "implementation_code": code, "mode": "receive_and_forward",
        "form_data": form("zhangwei", SSC_CQ, card_reason="遗失", delivery="窗口领取"),
        "person_id": str(fed.sc.people["zhangwei"]),
        "checks": {"identity_checked": True, "form_checked": True, "materials_checked": True},
        "materials": [{"code": code, "filename": f"{code}.pdf", "content_base64": b64(PDF)}
                      for code in ("application_form", "id_card", "photo",
                                   "card_loss_statement")]})
    assert response.status_code == 201, response.text
    fc_id = response.json()["id"]
    fed.pump()
    number = view(fed.sc, fc_id, "clerk")["remote_case_number"]
    act(fed.cq, number, "clerk", "accept")
    act(fed.cq, number, "reviewer", "approve", licence_fields={
        "card_number": "A12345678", "issuing_region": "重庆市", "issued_on": "2026-11-22"})
    with fed.cq.read() as s:
        issued = licences.issued_for_case(db_session=s, case_id=handling_case(fed.cq, number).id)
    assert len(issued) == 1 and issued[0].status == "01"
    fed.pump()
    fed.pump()  # a second round sends nothing again
    seen = view(fed.sc, fc_id, "clerk")
    assert seen["state"] == "approved"
    assert [x["identifier"] for x in seen["licences"]] == [issued[0].identifier]


def test_the_same_idempotency_key_forwards_one_application(fed: Federation) -> None:
    """A double submit at the window sends one application to the handling region."""
    body = {"implementation_code": code_of(fed.sc, HUKOU_IN_SH), "mode": "receive_and_forward",
            "form_data": form("zhangwei", HUKOU_IN_SH),
            "person_id": str(fed.sc.people["zhangwei"]),
            "checks": {"identity_checked": True, "form_checked": True,
                       "materials_checked": True},
            "materials": [{"code": "application_form", "filename": "申请表.pdf",
                           "content_base64": b64(PDF)}], "idempotency_key": "window-7"}
    first = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("clerk"), json=body)
    again = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("clerk"), json=body)
    assert first.status_code == 201 and again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    with fed.sc.read() as s:  # (the federation is shared by this module's tests)
        keyed = s.scalars(select(ForwardedCase).where(
            ForwardedCase.idempotency_key == "window-7")).all()
    assert len(keyed) == 1
    assert [e["action"] for e in view(fed.sc, first.json()["id"], "clerk")["events"]] == [
        "received", "forwarded"]  # one application sent
    other = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("clerk"), json={
        **body, "implementation_code": code_of(fed.cq, SSC_CQ)})
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"


def test_a_joint_application_sends_each_region_the_materials_its_guide_asks_for(
        fed: Federation) -> None:
    """多地联办: materials are collected once; every handling region gets the ones its own
    guide lists (the application form both, the marriage certificate only 迁入地)."""
    tasks = [(HUKOU_OUT_SC, "迁出地"), (HUKOU_IN_SH, "迁入地")]
    body = {"kind": "hukou_migration", "name": "户口迁移",
            "tasks": [{"implementation_code": code_of(fed.sc, name), "role": role,
                       "form_data": form("zhangwei", name)} for name, role in tasks],
            "materials": [{"code": code, "filename": f"{code}.pdf", "content_base64": b64(PDF)}
                          for code in ("application_form", "marriage_cert")]}
    with fed.sc.read() as s:
        joints_before = s.scalar(select(func.count()).select_from(JointCase))
    stray = fed.sc.client.post(f"{API}/joint-cases", headers=fed.sc.token("zhangwei"), json={
        **body, "materials": [*body["materials"], {"code": "insured", "filename": "x.pdf",
                                                   "content_base64": b64(PDF)}]})
    assert stray.status_code == 422 and stray.json()["details"] == [
        {"field": "materials", "message": "insured"}]
    with fed.sc.read() as s:
        assert s.scalar(select(func.count()).select_from(JointCase)) == joints_before
    response = fed.sc.client.post(f"{API}/joint-cases", headers=fed.sc.token("zhangwei"),
                                  json=body)
    assert response.status_code == 201, response.text
    fed.pump()
    joint = fed.sc.client.get(f"{API}/joint-cases/{response.json()['id']}",
                              headers=fed.sc.token("zhangwei")).json()
    received = {}
    for task in joint["tasks"]:
        node = fed[task["handling_region"]]
        with node.read() as s:
            case = cases.get_case(db_session=s, case_number=task["remote_case_number"])
            received[task["role_in_joint"]] = sorted(s.scalars(
                select(CaseMaterial.material_code).where(CaseMaterial.case_id == case.id)))
    assert received == {"迁出地": ["application_form"],
                        "迁入地": ["application_form", "marriage_cert"]}
