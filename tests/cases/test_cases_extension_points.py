"""What a bundle (一件事) builds on: parent and task cases, list filters by kind and parent,
and a hook after every transition."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cases.conftest import World, at
from tongban.cases import service
from tongban.cases.models import Case, CaseEvent
from tongban.catalog import service as catalog
from tongban.node.root import wiring


@pytest.fixture
def hooks() -> Iterator[list[Any]]:
    seen: list[Any] = []

    def hook(*, db_session: Any, settings: Any, case: Case, event: CaseEvent) -> None:
        seen.append((case.number, event.action, event.to_state))

    with wiring().transition_hooks.added("test.seen", hook):
        yield seen


def test_a_bundle_case_owns_task_cases(world: World) -> None:
    w = world
    version = catalog.get_current_version(db_session=w.db, implementation_code=w.impl_code)
    party = service.resolve_applicant(db_session=w.db, actor=w["applicant"], given=None,
                                      item_code="000103003000", now=at(2026, 9, 21))
    base = service.target_of(version)
    bundle_terms = service.Target(
        workflow="promised", region_code="510104", department_id=None, item_code=None,
        item_name="开办个体工商户一件事", implementation_code=None, version_id=None,
        legal_days=20, promised_days=5)
    parent = service.open_case(db_session=w.db, actor=w["applicant"], target=bundle_terms,
                               party=party, form_data={}, channel="online",
                               now=at(2026, 9, 21), kind="bundle")
    task = service.open_case(db_session=w.db, actor=w["applicant"], target=base, party=party,
                             form_data={}, channel="online", now=at(2026, 9, 21),
                             kind="task", parent_case_id=parent.id, state="submitted")
    assert (parent.kind, task.kind, task.parent_case_id) == ("bundle", "task", parent.id)
    assert task.state == "submitted" and task.number != parent.number
    rows, _ = service.list_cases(db_session=w.db, actor=w["reviewer"],
                                 filters=service.CaseFilters(parent_case_id=parent.id))
    assert [c.number for c in rows] == [task.number]
    rows, _ = service.list_cases(db_session=w.db, actor=w["applicant"],
                                 filters=service.CaseFilters(kind="bundle"))
    assert [c.number for c in rows] == [parent.number]


def test_hooks_run_after_every_transition_in_the_same_transaction(
    world: World, hooks: list[Any]
) -> None:
    case = world.submit()
    world.complete(case)
    world.act("clerk", case, "accept")
    world.act("reviewer", case, "approve")
    assert hooks == [(case.number, "accept", "accepted"), (case.number, "approve", "approved")]
