"""Editing a decision or a licence in the database is caught: the records no longer say
what the tamper-evident log recorded when they were made (`tongban verify`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

from tongban import cli
from tongban.cases.models import Case, CaseEvent
from tongban.config import get_settings
from tongban.integrity import verify_records
from tongban.ledger import service as ledger
from tongban.licences.models import Licence

from .conftest import World, at
from .test_cases_licensing import RESIDENCE_FIELDS, _accepted, _residence_implementation


def _approved_with_licence(w: World) -> Case:
    case = _accepted(w, _residence_implementation(w))
    w.act("reviewer", case, "approve", when=at(2026, 9, 24), reason="符合条件",
          licence_fields=RESIDENCE_FIELDS)
    w.db.commit()
    ledger.run_once(db_session=w.db, settings=w.settings)
    w.db.commit()
    return case


def _problems(w: World) -> list[str]:
    w.db.expire_all()
    return verify_records(db_session=w.db, settings=w.settings).problems


def test_untouched_records_agree_with_the_log(world: World) -> None:
    _approved_with_licence(world)
    report = verify_records(db_session=world.db, settings=world.settings)
    assert report.entries >= 3  # acceptance, decision, licence issue
    assert report.ok, report.problems


@pytest.mark.parametrize(("column", "value", "named"), [
    ("reason", "随意改写的理由", "reason_sha256"),
    ("to_state", "denied", "to_state"),
    ("actor_role", "clerk", "actor_role"),
])
def test_an_edited_decision_is_named(world: World, column: str, value: str, named: str) -> None:
    case = _approved_with_licence(world)
    world.db.execute(update(CaseEvent).where(CaseEvent.case_id == case.id,
                                             CaseEvent.action == "approve")
                     .values({column: value}))
    world.db.commit()
    problems = _problems(world)
    assert len(problems) == 1
    assert case.number in problems[0] and named in problems[0]


def test_a_deleted_decision_is_named(world: World) -> None:
    case = _approved_with_licence(world)
    world.db.execute(text("DELETE FROM case_events WHERE case_id = :c AND action = 'approve'"),
                     {"c": case.id.hex if world.db.bind.dialect.name == "sqlite" else case.id})
    world.db.commit()
    assert any("missing" in p and case.number in p for p in _problems(world))


def test_an_edited_licence_field_is_named(world: World) -> None:
    case = _approved_with_licence(world)
    licence = world.db.query(Licence).filter(Licence.case_id == case.id).one()
    document = dict(licence.document)
    document["fields"] = {**document["fields"], "residence_address": "北京市东城区某处"}
    world.db.execute(update(Licence).where(Licence.id == licence.id).values(document=document))
    world.db.commit()
    problems = _problems(world)
    assert any(licence.identifier in p and "tampered" in p for p in problems), problems


def test_a_status_edited_outside_the_log_is_named(world: World) -> None:
    case = _approved_with_licence(world)
    licence = world.db.query(Licence).filter(Licence.case_id == case.id).one()
    world.db.execute(update(Licence).where(Licence.id == licence.id).values(status="04"))
    world.db.commit()
    problems = _problems(world)
    assert any(licence.identifier in p and "status 04" in p for p in problems), problems


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, world: World) -> Iterator[None]:
    for name in ("database_url", "var_dir", "data_key", "index_key", "csrf_key", "node_key"):
        monkeypatch.setenv(f"TONGBAN_{name.upper()}", str(getattr(world.settings, name)))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_tongban_verify_passes_then_names_the_edit(world: World, cli_env: None) -> None:
    case = _approved_with_licence(world)
    good = CliRunner().invoke(cli.app, ["verify"])
    assert good.exit_code == 0, good.output
    assert "records agree with the log" in good.output

    world.db.execute(update(CaseEvent).where(CaseEvent.case_id == case.id,
                                             CaseEvent.action == "approve")
                     .values(reason="事后改写"))
    world.db.commit()
    bad = CliRunner().invoke(cli.app, ["verify"])
    assert bad.exit_code == 1
    assert case.number in bad.output and "reason_sha256" in bad.output
