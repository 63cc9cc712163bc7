"""The queue by due date (keyset on (promised due date, id) across pages) and the narrow
counts a supervision dashboard reads (per department, state and warning; overdue)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from tongban.cases import queries, service
from tongban.cases.models import Case
from tongban.errors import InvalidInput

from .conftest import World, at

# Due dates given to five cases, in submission order (None: not accepted yet).
DUES = [date(2026, 10, 9), None, date(2026, 10, 5), date(2026, 10, 9), date(2026, 10, 1)]


def _cases_with_dues(w: World) -> list[Case]:
    cases = []
    for n, due in enumerate(DUES):
        case = w.submit(when=at(2026, 9, 21, 9 + n))
        case.promised_due_date = due
        cases.append(case)
    w.db.commit()
    return cases


def _walk(w: World, who: str, order: str, limit: int) -> list[str]:
    """Every page, following next_cursor, as one list of case numbers."""
    numbers: list[str] = []
    cursor = None
    while True:
        rows, cursor = service.list_cases(db_session=w.db, actor=w.actors[who],
                                          filters=service.CaseFilters(), cursor=cursor,
                                          limit=limit, order=order)
        numbers += [c.number for c in rows]
        if cursor is None:
            return numbers


def _expected_due_order(cases: list[Case]) -> list[str]:
    ordered = sorted(cases, key=lambda c: (c.promised_due_date is None,
                                           c.promised_due_date or date.max, c.id))
    return [c.number for c in ordered]


def test_due_order_pages_earliest_first_ties_by_id_and_undated_last(world: World) -> None:
    cases = _cases_with_dues(world)
    expected = _expected_due_order(cases)
    assert expected[0] == cases[4].number and expected[-1] == cases[1].number
    for limit in (1, 2, 3, 5, 50):
        assert _walk(world, "clerk", "due", limit) == expected


def test_default_order_stays_newest_first(world: World) -> None:
    cases = _cases_with_dues(world)
    assert _walk(world, "clerk", "new", 2) == [c.number for c in reversed(cases)]


def test_due_order_keeps_scope(world: World) -> None:
    _cases_with_dues(world)
    assert _walk(world, "clerk_bj", "due", 2) == []


@pytest.mark.parametrize("cursor", ["not-base64!", "LS1-", "MjAyNi0xMy0wMX4xMjM"])
def test_a_bad_due_cursor_is_invalid_input(world: World, cursor: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        service.list_cases(db_session=world.db, actor=world.actors["clerk"],
                           filters=service.CaseFilters(), cursor=cursor, order="due")
    assert exc.value.details == [{"field": "cursor", "message": "invalid"}]


def test_a_newest_first_cursor_is_not_a_due_cursor(world: World) -> None:
    cases = _cases_with_dues(world)
    new_cursor = queries.encode_cursor(cases[2].id)
    with pytest.raises(InvalidInput):
        service.list_cases(db_session=world.db, actor=world.actors["clerk"],
                           filters=service.CaseFilters(), cursor=new_cursor, order="due")


def test_an_unknown_order_is_invalid_input(world: World) -> None:
    with pytest.raises(InvalidInput) as exc:
        service.list_cases(db_session=world.db, actor=world.actors["clerk"],
                           filters=service.CaseFilters(), order="oldest")
    assert exc.value.details[0]["field"] == "order"


def test_the_api_pages_by_due_date_with_order_due(client: TestClient, world: World) -> None:
    cases = _cases_with_dues(world)
    headers = world.token("clerk")
    seen: list[str] = []
    params: dict[str, str | int] = {"order": "due", "limit": 2}
    while True:
        body = client.get("/api/v1/cases", params=params, headers=headers).json()
        seen += [c["number"] for c in body["items"]]
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == _expected_due_order(cases)
    bad = client.get("/api/v1/cases", params={"order": "sideways"}, headers=headers)
    assert bad.status_code == 422


def test_counts_by_group_department_state_and_warning(world: World) -> None:
    cases = _cases_with_dues(world)
    cases[0].warning_level = "red"
    cases[2].warning_level = "yellow"
    world.db.commit()
    counts = service.counts_by(db_session=world.db, actor=world.actors["supervisor"])
    by_warning = {c.warning_level: c.count for c in counts}
    assert sum(c.count for c in counts) == len(DUES)
    assert by_warning == {"red": 1, "yellow": 1, "none": 3}
    assert {c.department_id for c in counts} == {world.market_id}
    assert service.counts_by(db_session=world.db, actor=world.actors["clerk_bj"]) == []


def test_overdue_lists_open_cases_past_their_due_date_most_overdue_first(
        world: World) -> None:
    cases = _cases_with_dues(world)
    cases[2].state = "approved"  # decided: no longer overdue whatever its date
    world.db.commit()
    overdue = service.list_overdue(db_session=world.db, actor=world.actors["supervisor"],
                                   today=date(2026, 10, 6))
    assert [c.number for c in overdue] == [cases[4].number]
    later = service.list_overdue(db_session=world.db, actor=world.actors["supervisor"],
                                 today=date(2026, 10, 10))
    assert [c.number for c in later] == [cases[4].number, cases[0].number, cases[3].number]
    assert service.list_overdue(db_session=world.db, actor=world.actors["clerk_bj"],
                                today=date(2026, 10, 10)) == []
