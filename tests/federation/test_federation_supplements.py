"""补正 and withdrawal across regions, on two nodes: the handling region's supplement
notice reaches the receiving node; the applicant (全程网办) or the receiving window
(异地代收) answers it there, or withdraws, and the handling node applies it once, at the
time it was done at home (the clock resumes then, not when the envelope arrives)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.federation.harness import Federation, b64
from tests.federation.test_federation_modes import (
    API,
    GJJ_SH,
    HUKOU_IN_SH,
    PDF,
    act,
    code_of,
    complete,
    events_at,
    form,
    handling_case,
    mirror,
    view,
)
from tongban.cases.models import CaseMaterial, Pause
from tongban.federation import service
from tongban.federation.models import InboxEnvelope

SCAN = b"%PDF-1.7\n% the corrected application form\n%%EOF\n"
ITEMS = [{"material_code": "application_form", "problem": "申请表未签名"}]


def _online(fed: Federation) -> tuple[str, str]:
    """张伟 applies at home (四川) for Shanghai's 公积金 transfer; (forwarded id, number)."""
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH),
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(PDF)}]})
    assert response.status_code == 201, response.text
    fed.pump()
    fc_id = response.json()["id"]
    return fc_id, view(fed.sc, fc_id, "zhangwei")["remote_case_number"]


def _supply(fed: Federation, fc_id: str, who: str, content: bytes = SCAN) -> Any:
    return fed.sc.client.post(f"{API}/cases/{fc_id}/supply", headers=fed.sc.token(who),
                              json={"materials": [{"code": "application_form",
                                                   "filename": "申请表(已签名).pdf",
                                                   "content_base64": b64(content)}],
                                    "note": "已签名"})


def test_a_notice_after_acceptance_is_answered_at_home_and_the_clock_resumes_then(
        fed: Federation) -> None:
    fc_id, number = _online(fed)
    act(fed.sh, number, "clerk", "pre_review_pass")
    complete(fed.sh, number)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "request_supplement", reason="请补正申请表", items=ITEMS)
    assert handling_case(fed.sh, number).paused
    fed.pump()

    seen = view(fed.sc, fc_id, "zhangwei")
    assert seen["state"] == "supplement_in_process"
    assert seen["open_notice"]["items"] == ITEMS and seen["open_notice"]["text"] == "请补正申请表"
    assert _supply(fed, fc_id, "clerk").status_code == 403  # not the window's case
    answered = _supply(fed, fc_id, "zhangwei")
    assert answered.status_code == 200, answered.text
    assert _supply(fed, fc_id, "zhangwei").json()["error"] == "supply_pending"
    supplied_at = next(e["at"] for e in answered.json()["events"]
                       if e["action"] == "supplied_here")

    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "accepted" and not case.paused
    with fed.sh.read() as s:
        pause = s.scalar(select(Pause).where(Pause.case_id == case.id))
        supplied = s.scalars(select(CaseMaterial).where(
            CaseMaterial.case_id == case.id, CaseMaterial.material_code == "application_form",
            CaseMaterial.superseded_by.is_(None))).one()
        inbox = s.scalars(select(InboxEnvelope).where(InboxEnvelope.type == "case.supply",
                                                      InboxEnvelope.case_ref == fc_id)).one()
    # the pause ends when 张伟 supplied at home (the envelope's signed time, to the
    # millisecond), not when the handling node processed it
    assert pause is not None and pause.ended_at == inbox.created_at
    assert abs(pause.ended_at - datetime.fromisoformat(supplied_at)) < timedelta(milliseconds=1)
    assert inbox.processed_at is not None and inbox.processed_at > pause.ended_at
    assert inbox.outcome == "supplied"
    assert supplied.filename == "申请表(已签名).pdf" and supplied.sha256 is not None
    seen = view(fed.sc, fc_id, "zhangwei")
    assert seen["state"] == "accepted" and seen["open_notice"] is None
    assert mirror(seen) == events_at(fed.sh, number)


def test_a_repeated_supply_is_applied_once(fed: Federation) -> None:
    fc_id, number = _online(fed)
    act(fed.sh, number, "clerk", "request_supplement", reason="请补正申请表", items=ITEMS)
    fed.pump()
    answered = _supply(fed, fc_id, "zhangwei").json()
    seq = next(e["data"]["answers_seq"] for e in answered["events"]
               if e["action"] == "supplied_here")
    fed.pump()
    before = events_at(fed.sh, number)
    assert before[-1][1:] == ("supply", "submitted")
    with fed.sc.session() as s:  # the same answer again, under a new envelope
        service.send(db_session=s, settings=fed.sc.settings, receiver="310000",
                     kind="case.supply", case_id=fc_id,
                     payload={"answers_seq": seq, "materials": [], "by": "张伟",
                              "as": "applicant"})
    fed.pump()
    assert events_at(fed.sh, number) == before


def test_the_receiving_window_answers_a_notice_before_acceptance(fed: Federation) -> None:
    clerk = fed.sc.token("clerk")
    fc = fed.sc.client.post(f"{API}/cases", headers=clerk, json={
        "implementation_code": code_of(fed.sc, HUKOU_IN_SH), "mode": "receive_and_forward",
        "form_data": form("zhangwei", HUKOU_IN_SH), "person_id": str(fed.sc.people["zhangwei"]),
        "checks": {"identity_checked": True, "form_checked": True},
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(PDF)}]}).json()
    fed.pump()
    number = view(fed.sc, fc["id"], "clerk")["remote_case_number"]
    act(fed.sh, number, "clerk", "request_supplement", reason="请补正申请表", items=ITEMS)
    fed.pump()
    assert view(fed.sc, fc["id"], "clerk")["open_notice"]["items"] == ITEMS
    answered = _supply(fed, fc["id"], "clerk")
    assert answered.status_code == 200, answered.text
    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "submitted"
    supply = next(e for e in reversed(events_at(fed.sh, number)) if e[1] == "supply")
    assert supply[2] == "submitted"
    assert view(fed.sc, fc["id"], "clerk")["state"] == "submitted"


def test_the_applicant_withdraws_at_home_and_a_late_withdrawal_is_refused(
        fed: Federation) -> None:
    fc_id, number = _online(fed)
    response = fed.sc.client.post(f"{API}/cases/{fc_id}/withdraw",
                                  headers=fed.sc.token("zhangwei"), json={"reason": "不再办理"})
    assert response.status_code == 200, response.text
    fed.pump()
    assert handling_case(fed.sh, number).state == "withdrawn"
    seen = view(fed.sc, fc_id, "zhangwei")
    assert seen["state"] == "withdrawn" and mirror(seen) == events_at(fed.sh, number)
    again = fed.sc.client.post(f"{API}/cases/{fc_id}/withdraw",
                               headers=fed.sc.token("zhangwei"), json={"reason": "再次撤回"})
    assert again.status_code == 409

    late_id, late = _online(fed)
    act(fed.sh, late, "clerk", "refuse", reason="不属于受理范围")  # not yet mirrored at home
    sent = fed.sc.client.post(f"{API}/cases/{late_id}/withdraw",
                              headers=fed.sc.token("zhangwei"), json={"reason": "不再办理"})
    assert sent.status_code == 200, sent.text
    fed.pump()
    assert handling_case(fed.sh, late).state == "refused"
    refused = [e for e in view(fed.sc, late_id, "zhangwei")["events"]
               if e["action"] == "remote.request_refused"]
    assert refused and refused[0]["data"]["error"] == "action_not_allowed"


def test_the_receiving_window_supplies_through_its_page(fed: Federation) -> None:
    from tests.web.test_web_forwarding import _clerk

    fc = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("clerk"), json={
        "implementation_code": code_of(fed.sc, HUKOU_IN_SH), "mode": "receive_and_forward",
        "form_data": form("zhangwei", HUKOU_IN_SH), "person_id": str(fed.sc.people["zhangwei"]),
        "checks": {"identity_checked": True, "form_checked": True}}).json()
    fed.pump()
    number = view(fed.sc, fc["id"], "clerk")["remote_case_number"]
    act(fed.sh, number, "clerk", "request_supplement", reason="请补正申请表", items=ITEMS)
    fed.pump()
    client = _clerk(fed.sc)
    page = client.get(f"/workbench/forwarded/{fc['id']}")
    assert 'id="supplement"' in page.text and "申请表未签名" in page.text
    assert 'name="file_application_form"' in page.text
    sent = client.post(f"/workbench/forwarded/{fc['id']}/supply", data={"note": "已签名"},
                       files={"file_application_form": ("申请表.pdf", SCAN,
                                                        "application/pdf")},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    again = client.post(f"/workbench/forwarded/{fc['id']}/supply",
                        files={"file_application_form": ("申请表.pdf", SCAN,
                                                         "application/pdf")})
    assert again.status_code == 409 and "补正材料已发送" in again.text
    fed.pump()
    assert handling_case(fed.sh, number).state == "submitted"
    assert 'id="supplement"' not in client.get(f"/workbench/forwarded/{fc['id']}").text
