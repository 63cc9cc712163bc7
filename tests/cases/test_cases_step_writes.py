"""What one step of a case writes besides the case: its event, its audit entry and its act
for the ledger, together (one statement on PostgreSQL), or not at all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import IntegrityError

from tests.cases.conftest import World, at
from tongban.audit.models import AuditEntry
from tongban.audit.service import entry_row
from tongban.cases import service
from tongban.db import insert_together, make_sessionmaker
from tongban.errors import Conflict
from tongban.outbox.models import OutboxMessage
from tongban.outbox.service import message_row


@contextmanager
def inserts(world: World) -> Iterator[list[str]]:
    """The INSERT statements run meanwhile, whitespace folded."""
    seen: list[str] = []

    def on_execute(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "INSERT" in statement:
            seen.append(" ".join(statement.split()))

    bind = world.db.get_bind()
    event.listen(bind, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(bind, "before_cursor_execute", on_execute)


def test_an_action_writes_its_event_audit_entry_and_ledger_act_together(world: World) -> None:
    case = world.submit(when=at(2026, 9, 21, 9))
    world.complete(case)
    with inserts(world) as seen:
        world.act("clerk", case, "accept", when=at(2026, 9, 22))
    world.db.commit()

    last = world.events(case)[-1]
    assert (last.seq, last.action, last.to_state) == (2, "accept", "accepted")
    entry = world.db.scalars(select(AuditEntry).where(AuditEntry.action == "case.accept",
                                                      AuditEntry.entity_id == case.number)
                             ).one()
    assert entry.details == {"from": "submitted", "to": "accepted", "version": case.version}
    assert entry.actor_id == world["clerk"].account_id
    act = world.db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "ledger",
                                                       OutboxMessage.kind == "case.accept")
                           ).one()
    assert (act.payload["case_number"], act.payload["seq"]) == (case.number, last.seq)
    writing_events = [s for s in seen if "INSERT INTO case_events" in s]
    assert len(writing_events) == 1
    together = all(f"INSERT INTO {t}" in writing_events[0]
                   for t in ("audit_entries", "outbox_messages"))
    # One round trip on PostgreSQL; SQLite has no data-modifying WITH: three INSERTs.
    assert together == (world.db.get_bind().dialect.name == "postgresql")


def test_submit_returns_the_event_id_the_database_gave(world: World) -> None:
    case = world.submit(when=at(2026, 9, 21, 9))
    # The response after submit shows the event it wrote, not read back: its id is the
    # one the INSERT returned.
    told = service.detail_of(db_session=world.db, actor=world["applicant"], case=case)
    world.db.commit()
    first = world.events(case)[0]
    assert [e.id for e in told.events] == [first.id]
    act = world.db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "case.submit")
                           ).one()
    assert act.payload["seq"] == first.seq == 1
    assert world.db.scalars(select(AuditEntry.entity_id)
                            .where(AuditEntry.action == "case.submit")).one() == case.number


def test_rows_written_together_are_all_lost_when_one_is_refused(world: World) -> None:
    taken = message_row(topic="ledger", kind="case.accept", payload={"seq": 1})
    world.db.execute(OutboxMessage.__table__.insert(), taken)
    world.db.commit()
    entry = entry_row(actor_id=None, actor_name="", action="case.accept", entity="case",
                      entity_id="X")
    twin = {**message_row(topic="ledger", kind="case.accept", payload={"seq": 2}),
            "id": taken["id"]}
    with pytest.raises(IntegrityError), world.db.begin_nested():
        insert_together(world.db, AuditEntry.__table__.c.id, entry,
                        (OutboxMessage.__table__, twin))
    world.db.commit()
    assert world.db.get(AuditEntry, entry["id"]) is None
    assert [m.payload for m in world.db.scalars(select(OutboxMessage))] == [{"seq": 1}]


def test_two_clerks_acting_at_once_leave_one_step_and_its_records(
        engine: Engine, world: World) -> None:
    """Both load the case, then accept and refuse it at the same moment: one commits, the
    other gets 409, and only the winner's event, audit entry and ledger act exist."""
    if engine.dialect.name != "postgresql":
        pytest.skip("real concurrent transactions are tested on PostgreSQL")
    case = world.submit(when=at(2026, 9, 21, 9))
    world.complete(case)
    world.db.commit()
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(2, timeout=10)
    outcomes: dict[str, str] = {}

    def clerk(action: str, reason: str | None) -> None:
        with factory() as db:
            service.get_case(db_session=db, case_number=case.number)
            barrier.wait()  # both hold version 1: the UPDATEs race
            try:
                service.act(db_session=db, settings=world.settings, actor=world["clerk"],
                            case_number=case.number, action=action, reason=reason,
                            now=at(2026, 9, 22))
                db.commit()
                outcomes[action] = "done"
            except Conflict as exc:
                db.rollback()
                outcomes[action] = exc.code

    threads = [threading.Thread(target=clerk, args=a)
               for a in (("accept", None), ("refuse", "材料不符"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes.values()) == ["done", "stale_version"], outcomes
    won = next(a for a, o in outcomes.items() if o == "done")
    world.db.expire_all()
    assert [e.action for e in world.events(case)] == ["submit", won]
    assert world.ledger_kinds(case) == ["case.submit", f"case.{won}"]
    steps = world.db.scalars(select(AuditEntry.action).where(
        AuditEntry.entity_id == case.number, AuditEntry.action.in_(
            ["case.accept", "case.refuse"]))).all()
    assert steps == [f"case.{won}"]
