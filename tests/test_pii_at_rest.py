"""No plain-text personal data at rest: the database's own files, after a realistic run of
one node (the demo's cases, a draft, a reveal), hold no valid ID number and no mobile."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from tests.cases.conftest import World, at, cheap_password_hashing, world  # noqa: F401
from tests.pii_scan import database_bytes, find_pii
from tests.supervision.conftest import approved_case
from tongban.cases.models import Case, CaseEvent
from tongban.config import Settings
from tongban.demo import seed_demo
from tongban.demo_cases import demo_actor
from tongban.identity.ids import make_resident_id
from tongban.outbox.models import OutboxMessage
from tongban.supervision.complaints import service as complaints
from tongban.supervision.complaints.models import Complaint, ComplaintEvent
from tongban.supervision.ratings import service as ratings
from tongban.supervision.ratings.models import Rating, RectificationEvent
from tongban.supervision.warnings import service as warnings
from tongban.supervision.warnings.models import SupervisionOrder
from tongban.web import service as web

DRAFT_ID = make_resident_id("510104", date(1990, 1, 2), 77)
DRAFT_PHONE = "13912345678"


def test_the_scanner_finds_what_plain_text_would_leak() -> None:
    raw = json.dumps({"id_number": DRAFT_ID, "phone": DRAFT_PHONE, "sha": "a" * 20}).encode()
    assert find_pii(raw) == {"id_numbers": {DRAFT_ID}, "mobiles": {DRAFT_PHONE}}
    assert find_pii(b"f" + DRAFT_ID.encode() + b"e") == {"id_numbers": set(), "mobiles": set()}


def test_a_node_after_the_demo_keeps_no_id_or_mobile_number_in_plain_text(
        db_session: Session, settings: Settings) -> None:
    seed_demo(db_session=db_session, settings=settings)
    applicant = demo_actor(db_session, "zhangwei")
    draft = web.open_draft(db_session=db_session, actor=applicant,
                           implementation_code="x" * 31)
    web.save_form(db_session=db_session, key=draft.key, actor=applicant,
                  form={"id_number": DRAFT_ID, "phone": DRAFT_PHONE})
    db_session.commit()

    # The data is there and readable through the node (so the scan below means something).
    forms = [c.form_data for c in db_session.scalars(select(Case))]
    assert any(find_pii(json.dumps(f).encode())["id_numbers"] for f in forms)
    assert db_session.scalars(select(CaseEvent)).first() is not None
    assert db_session.scalars(select(OutboxMessage)).first() is not None
    assert web.get_draft(db_session=db_session, key=draft.key).form["id_number"] == DRAFT_ID

    leaked = find_pii(database_bytes(db_session.get_bind().engine))  # type: ignore[union-attr]
    assert leaked == {"id_numbers": set(), "mobiles": set()}


COMPLAINT_ID = make_resident_id("510104", date(1985, 6, 7), 31)
COMPLAINT_PHONE = "13698765432"


def test_supervision_texts_keep_no_id_or_mobile_number_in_plain_text(
        world: World) -> None:  # noqa: F811  (the fixture imported above)
    """A complaint, its reply and reasons, a bad rating's comment, return visit, outcome
    and appeal, a 督办 order and its answer, each naming an ID and a mobile number."""
    w, pii = world, f"身份证{COMPLAINT_ID},电话{COMPLAINT_PHONE}"
    case = approved_case(w)
    ticket = complaints.file(db_session=w.db, actor=w["applicant"], category="service",
                             subject=f"窗口推诿 {COMPLAINT_PHONE}", body=f"我是{pii},窗口推诿",
                             region_code="510104", case_number=case.number).complaint
    for who, action, kw in [
            ("reviewer", "reply", {"reply": f"已联系{pii}"}),
            ("applicant", "unsatisfied", {"reason": f"没人联系{pii}"})]:
        complaints.act(db_session=w.db, actor=w[who], number=ticket.number, action=action, **kw)
    rating = ratings.rate(db_session=w.db, actor=w["applicant"], case_number=case.number,
                          channel="online", level=1, comment=f"差,{pii}").rating
    for action, kw in [("plan_rectification", {"reason": f"回访{pii}", "days": 3}),
                       ("report_outcome", {"outcome": f"已整改,告知{pii}"}),
                       ("appeal", {"reason": f"恶意{pii}", "evidence": f"录音{pii}"})]:
        ratings.act(db_session=w.db, actor=w["reviewer"], rating_id=rating.id, action=action,
                    **kw)
    order = warnings.issue(db_session=w.db, actor=w["supervisor"], case_number=case.number,
                           kind="supervise", text=f"请回复{pii}")
    for who, action in [("reviewer", "answer"), ("supervisor", "reopen")]:
        warnings.act_on_order(db_session=w.db, actor=w[who], order_id=order.id, action=action,
                              text=f"{action}{pii}")
    w.db.commit()
    w.db.expire_all()

    # Readable through the node, so the scan below means something.
    stored = w.db.get(Complaint, ticket.id)
    assert stored is not None and COMPLAINT_ID in stored.body and stored.reply
    assert COMPLAINT_PHONE in (w.db.get(Rating, rating.id) or rating).comment
    assert any(COMPLAINT_ID in (e.reason or "") for e in w.db.scalars(select(ComplaintEvent)))
    assert COMPLAINT_ID in str([e.notes for e in w.db.scalars(select(RectificationEvent))])
    assert COMPLAINT_ID in (w.db.get(SupervisionOrder, order.id) or order).text
    dup = complaints.duplicates(db_session=w.db, actor=w["supervisor"], number=ticket.number)
    assert dup == []  # opened and scored in Python: there is no other ticket

    leaked = find_pii(database_bytes(w.db.get_bind().engine))  # type: ignore[union-attr]
    assert COMPLAINT_ID not in leaked["id_numbers"]
    assert COMPLAINT_PHONE not in leaked["mobiles"]


ADDRESS = "锦江区红星路三段九十九号附二号"  # markers no other row of the world holds
PARCEL = "EMS9731002938475"


def test_case_events_keep_reasons_notes_and_names_sealed_and_their_facts_plain(
        world: World) -> None:  # noqa: F811  (the fixture imported above)
    w = world
    case = w.submit(when=at(2026, 9, 21, 9))
    w.complete(case, when=at(2026, 9, 21, 9))
    w.act("clerk", case, "accept", when=at(2026, 9, 21), note=f"申请人住{ADDRESS}")
    w.act("reviewer", case, "start_special_procedure", when=at(2026, 9, 22),
          reason=f"实地核查{ADDRESS}", kind="expert_review")
    w.act("reviewer", case, "end_special_procedure", when=at(2026, 9, 24))
    w.act("supervisor", case, "extend", when=at(2026, 9, 25), reason=f"核实{ADDRESS}", days=5)
    w.act("reviewer", case, "approve", when=at(2026, 9, 28), reason=f"经核{ADDRESS}属实")
    w.act("clerk", case, "deliver", when=at(2026, 9, 29), method="post", carrier="EMS",
          tracking_number=PARCEL)
    w.db.commit()
    w.db.expire_all()

    # Readable through the node, so the scan below means something.
    events = {e.action: e for e in w.events(case)}
    assert ADDRESS in events["accept"].data["note"] and ADDRESS in (events["extend"].reason or "")
    assert events["submit"].actor_name == w["applicant"].name
    assert ADDRESS in (case.decision_reason or "")
    assert [events[a].facts for a in ("submit", "end_special_procedure", "extend", "deliver")
            ] == [{"channel": "window"}, {"paused_working_days": 2}, {"days": 5},
                  {"method": "post"}]

    raw = text("SELECT actor_name, reason, data FROM case_events WHERE case_id = :c"
               ).bindparams(bindparam("c", type_=CaseEvent.__table__.c.case_id.type))
    stored = w.db.execute(raw, {"c": case.id}).all()
    assert len(stored) == len(events)
    for name, reason, data in stored:
        assert bytes(name)[:1] == b"\x01" and bytes(data)[:1] == b"\x01"
        assert w["applicant"].name.encode() not in bytes(name)
        assert reason is None or bytes(reason)[:1] == b"\x01"
    dump = database_bytes(w.db.get_bind().engine)  # type: ignore[union-attr]
    for marker in (ADDRESS, PARCEL):
        i = dump.find(marker.encode())
        assert i < 0, repr(dump[i - 400:i + 60])  # the table it is in, on PostgreSQL
