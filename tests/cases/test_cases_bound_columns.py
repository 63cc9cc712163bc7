"""Every column with legal weight is bound by the log: a case's decision, reason, state,
dates, parties and limits, and a licence's holder, validity, issue time and the rest.
Each, edited in the database by an SQL UPDATE, is named by `tongban verify` (row and
column) and the command exits non-zero; an untouched database verifies clean."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Table, select, text, update
from typer.testing import CliRunner

from tongban import cli
from tongban.cases.models import Case
from tongban.cases.service import BOUND_COLUMNS as CASE_COLUMNS
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_uscc
from tongban.integrity import verify_records
from tongban.ledger import service as ledger
from tongban.licences.models import Licence, StatusList
from tongban.licences.service import BOUND_COLUMNS as LICENCE_COLUMNS

from .conftest import World, at
from .test_cases_integrity import _approved_with_licence, cli_env  # noqa: F401


def _problems(w: World) -> list[str]:
    w.db.expire_all()
    return verify_records(db_session=w.db, settings=w.settings).problems


def _db_column(name: str) -> str:
    """The column a bound name reads (a hashed one is named after its column)."""
    return name.removesuffix("_sha256")


def _other_value(w: World, col: Column[Any], current: Any) -> Any:
    """A different value the column accepts: another row for a foreign key, the next day,
    number or text otherwise."""
    for fk in col.foreign_keys:
        target = fk.column
        found = w.db.scalar(select(target).where(target != current).limit(1)
                            if current is not None else select(target).limit(1))
        assert found is not None, f"no other {target} to point {col.name} at"
        return found
    kind = getattr(col.type, "impl", col.type).python_type
    if kind is bool:
        return not current
    if kind is datetime:
        return (current or at(2026, 9, 1)) + timedelta(days=1)
    if kind is date:
        return (current or date(2026, 9, 1)) + timedelta(days=1)
    if kind is int:
        return (current or 0) + 1
    if kind is uuid.UUID:
        return uuid.uuid4()
    return f"{current or ''}改"[-col.type.length:] if getattr(col.type, "length", None) \
        else f"{current or ''}改"


def _tamper(w: World, table: Table, row_id: uuid.UUID, name: str) -> None:
    col = table.c[_db_column(name)]
    current = w.db.execute(select(col).where(table.c.id == row_id)).scalar_one()
    w.db.execute(update(table).where(table.c.id == row_id)
                 .values({col.name: _other_value(w, col, current)}))
    w.db.commit()


@pytest.fixture
def decided(world: World) -> tuple[Case, Licence]:
    """An approved case with its licence, a second case, an enterprise and a second status
    list (so every foreign key has another row to point at), all logged."""
    case = _approved_with_licence(world)
    other = world.submit(when=at(2026, 9, 23))
    world.act("clerk", other, "refuse", reason="不属于本机关职权范围")
    identity.create_enterprise(db_session=world.db, actor=SYSTEM_ACTOR, name="锦江区某公司",
                               credit_code=make_uscc("9", "1", "510104", "MA6CABCE"))
    world.db.add(StatusList(size=1024, bits=1))
    world.db.commit()
    ledger.run_once(db_session=world.db, settings=world.settings)
    world.db.commit()
    licence = world.db.scalars(select(Licence).where(Licence.case_id == case.id)).one()
    assert _problems(world) == []
    return case, licence


@pytest.mark.parametrize("name", sorted(CASE_COLUMNS))
def test_each_bound_case_column_edited_is_named(world: World, decided: tuple[Case, Licence],
                                                name: str) -> None:
    case, _ = decided
    table = Case.__table__
    assert isinstance(table, Table)
    _tamper(world, table, case.id, name)
    problems = _problems(world)
    assert any(case.number in p and name in p for p in problems), problems


@pytest.mark.parametrize("name", sorted(LICENCE_COLUMNS))
def test_each_bound_licence_column_edited_is_named(
        world: World, decided: tuple[Case, Licence], name: str) -> None:
    _, licence = decided
    table = Licence.__table__
    assert isinstance(table, Table)
    identifier = licence.identifier
    _tamper(world, table, licence.id, name)
    problems = _problems(world)
    assert any(identifier in p and name in p for p in problems), problems


def test_a_refused_case_set_to_approved_fails_tongban_verify(
        world: World, decided: tuple[Case, Licence], cli_env: None,  # noqa: F811
) -> None:
    refused = world.db.scalars(select(Case).where(Case.state == "refused")).one()
    clean = CliRunner().invoke(cli.app, ["verify"])
    assert clean.exit_code == 0, clean.output
    world.db.execute(text("UPDATE cases SET state = 'approved', decision = 'approved' "
                          "WHERE number = :n"), {"n": refused.number})
    world.db.commit()
    bad = CliRunner().invoke(cli.app, ["verify"])
    assert bad.exit_code == 1
    assert f"case {refused.number}: state, decision differ from the log" in bad.output


def test_a_licence_moved_to_another_holder_fails_tongban_verify(
        world: World, decided: tuple[Case, Licence], cli_env: None,  # noqa: F811
) -> None:
    _, licence = decided
    stranger = world.people["principal"]
    world.db.execute(update(Licence).where(Licence.id == licence.id)
                     .values(holder_person_id=stranger, valid_until=date(2099, 12, 31)))
    world.db.commit()
    bad = CliRunner().invoke(cli.app, ["verify"])
    assert bad.exit_code == 1
    assert f"licence {licence.identifier}: holder_person_id, valid_until differ" in bad.output


def test_a_case_row_no_act_records_is_named(world: World,
                                           decided: tuple[Case, Licence]) -> None:
    case, _ = decided
    forged = world.submit(when=at(2026, 9, 24))
    world.db.commit()
    world.db.execute(text("DELETE FROM outbox_messages WHERE topic = 'ledger' "
                          "AND delivered_at IS NULL"))
    world.db.commit()
    problems = _problems(world)
    assert problems == [f"case {forged.number}: no act in the log records it (the row was "
                        "written outside the case engine)"], (case.number, problems)


def test_a_fresh_act_not_yet_appended_is_checked_against_the_outbox(
        world: World, decided: tuple[Case, Licence]) -> None:
    case = world.submit(when=at(2026, 9, 24))
    world.act("clerk", case, "refuse", reason="材料不全且不予补正")
    world.db.commit()
    report = verify_records(db_session=world.db, settings=world.settings)
    assert report.ok and report.pending == 2, report.problems
    world.db.execute(update(Case).where(Case.id == case.id).values(decision="approved"))
    world.db.commit()
    assert any(case.number in p and "decision" in p for p in _problems(world))
