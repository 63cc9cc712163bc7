"""Applying: who may apply for whom, under which version, with which form data; numbers
and idempotency."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, func, select, text

from tests.cases.conftest import LICENCE_ITEM, World, at, authorise_agent
from tongban.cases import numbers, service
from tongban.cases.models import Case
from tongban.cases.schemas import ApplicantIn
from tongban.db import make_sessionmaker
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound


def _cases(w: World) -> int:
    return w.db.scalar(select(func.count()).select_from(Case)) or 0


def test_an_applicant_applies_for_themself(world: World) -> None:
    case = world.submit(channel="online")
    assert case.applicant_person_id == world.people["self"]
    assert case.applicant_account_id == world["applicant"].account_id
    assert case.department_id == world.market_id and case.region_code == "510104"
    assert case.item_code == LICENCE_ITEM and case.legal_days == 20
    assert case.promised_days == 10 and case.version == 1 and case.kind == "single"
    assert [e.action for e in world.events(case)] == ["submit"]


def test_case_numbers_are_region_day_and_a_daily_sequence(world: World) -> None:
    numbers = [world.submit(when=at(2026, 9, 21, h)).number for h in (9, 10, 11)]
    assert numbers == [f"51010420260921{n:06d}" for n in (1, 2, 3)]
    # the Beijing day decides: 01:00 on 22 Sep in Beijing is 21 Sep in UTC
    assert world.submit(when=at(2026, 9, 22, 1)).number == "51010420260922000001"


def test_the_same_idempotency_key_twice_is_one_case(world: World) -> None:
    first = world.submit(key="form-7f3a")
    again = world.submit(key="form-7f3a")
    assert again.id == first.id and _cases(world) == 1
    assert len(world.events(first)) == 1
    other = world.submit(key="form-other")
    assert other.id != first.id


def test_an_idempotency_key_reused_for_another_item_is_a_conflict(world: World) -> None:
    world.submit(key="k1")
    with pytest.raises(Conflict) as exc:
        world.submit(key="k1", code=world.immediate_code)
    assert exc.value.code == "idempotency_conflict"


def test_invalid_form_data_is_reported_per_field_in_chinese(world: World) -> None:
    with pytest.raises(InvalidInput) as exc:
        world.submit(form={"shop_name": "x", "phone": "12345", "capital": -1})
    fields = {d["field"]: d["message"] for d in exc.value.details}
    assert set(fields) == {"form_data.shop_name", "form_data.phone", "form_data.capital"}
    assert fields["form_data.shop_name"].startswith("太短")
    assert fields["form_data.phone"].startswith("格式不正确")
    with pytest.raises(InvalidInput) as missing:
        world.submit(form={"shop_name": "锦江小面馆"})
    assert missing.value.details[0]["field"] == "form_data.phone"
    assert missing.value.details[0]["message"].startswith("必填")
    with pytest.raises(InvalidInput) as both:
        world.submit(form={"capital": 1})
    assert [(d["field"], d["message"].split(" / ")[1]) for d in both.value.details] == [
        ("form_data.shop_name", "'shop_name' is a required property"),
        ("form_data.phone", "'phone' is a required property")]  # each names its own field
    assert _cases(world) == 0


@pytest.mark.parametrize("which", ["draft_code", "withdrawn_code"])
def test_an_unpublished_or_withdrawn_implementation_cannot_be_applied_for(
    world: World, which: str
) -> None:
    world.extras()
    with pytest.raises(Conflict) as exc:
        world.submit(code=getattr(world, which))
    assert exc.value.code == "not_published" and _cases(world) == 0


def test_a_superseded_version_cannot_be_applied_for(world: World) -> None:
    world.extras()
    with pytest.raises(Conflict) as exc:
        service.submit(db_session=world.db, settings=world.settings, actor=world["applicant"],
                       version_id=world.superseded_version_id, form_data={}, channel="online")
    assert exc.value.details["state"] == "superseded"


def test_an_unknown_implementation_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.submit(code="X" * 31)


def test_a_channel_the_guide_does_not_offer_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as exc:
        world.submit(code=world.immediate_code, channel="post")
    assert exc.value.details[0]["field"] == "channel"


def test_an_agent_applies_for_the_principal_under_an_authorisation(world: World) -> None:
    auth_id = authorise_agent(world)
    case = world.submit("agent", applicant=ApplicantIn(person_id=world.people["principal"]))
    assert case.applicant_person_id == world.people["principal"]
    assert case.agent_authorisation_id == auth_id and case.applicant_name == "李四"
    assert case.submitted_by_account_id == world["agent"].account_id
    # the principal sees it; the agent may withdraw it while the authorisation holds
    detail = service.get(db_session=world.db, actor=world["principal"],
                         case_number=case.number)
    assert "withdraw" in detail.allowed_actions
    world.act("agent", case, "withdraw", when=at(2026, 9, 22))
    assert case.state == "withdrawn"


def test_an_agent_without_an_authorisation_cannot_apply(world: World) -> None:
    with pytest.raises(Forbidden) as exc:
        world.submit("agent", applicant=ApplicantIn(person_id=world.people["principal"]))
    assert exc.value.code == "agent_not_authorised" and _cases(world) == 0


def test_an_expired_authorisation_does_not_let_the_agent_apply(world: World) -> None:
    authorise_agent(world, until=at(2026, 6, 30))
    with pytest.raises(Forbidden) as exc:
        world.submit("agent", applicant=ApplicantIn(person_id=world.people["principal"]))
    assert exc.value.details["reason"] == "expired"


def test_an_applicant_cannot_apply_in_someone_elses_name(world: World) -> None:
    with pytest.raises(Forbidden):
        world.submit(applicant=ApplicantIn(person_id=world.people["principal"]))


def test_a_window_clerk_files_for_a_walk_in_applicant(world: World) -> None:
    case = world.submit("clerk", applicant=ApplicantIn(person_id=world.people["walkin"]))
    assert case.state == "submitted" and case.channel == "window"
    assert case.applicant_person_id == world.people["walkin"]
    assert case.applicant_account_id is None and case.receiving_region_code == "510104"


def test_a_reviewer_cannot_apply(world: World) -> None:
    with pytest.raises(Forbidden):
        world.submit("reviewer")


def test_online_applications_start_in_pre_review_and_window_ones_are_received(
    world: World
) -> None:
    assert world.submit(channel="online").state == "pre_review"
    assert world.submit(channel="mobile").state == "pre_review"
    assert world.submit(channel="window").state == "submitted"


def test_a_case_lists_its_supplement_notice_deadline_before_acceptance(world: World) -> None:
    case = world.submit(when=at(2026, 9, 21))
    detail = service.get(db_session=world.db, actor=world["applicant"],
                         case_number=case.number, now=at(2026, 9, 21))
    # 22, 23, 24, (中秋 25-27 off) 28, 29 Sep
    assert detail.deadlines.supplement_notice_due == date(2026, 9, 29)


def test_an_open_application_does_not_hold_up_the_next_number(engine: Engine,
                                                               world: World) -> None:
    """PostgreSQL: a number is drawn in its own short transaction, so an application whose
    transaction is still open does not block the next one of the same region and day."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: applications queue by design")
    world.db.commit()
    factory = make_sessionmaker(engine)
    first, second = factory(), factory()
    try:
        day = date(2026, 9, 21)
        a = numbers.next_number(db_session=first, region_code="510104", day=day)
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        b = numbers.next_number(db_session=second, region_code="510104", day=day)
        assert (a, b) == ("51010420260921000001", "51010420260921000002")
        first.rollback()  # the open application gives up: its number stays used (a gap)
        second.commit()
    finally:
        first.close()
        second.close()
    assert world.submit(when=at(2026, 9, 21)).number == "51010420260921000003"
