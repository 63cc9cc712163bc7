"""Real concurrent transactions on PostgreSQL, held at a barrier: two refreshes of the
metrics, two runs of one draw."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.cases.conftest import World
from tests.supervision.test_draws import committed
from tests.supervision.test_metrics_service import approved_across_national_day
from tongban.db import make_sessionmaker
from tongban.errors import Conflict
from tongban.ledger import service as ledger
from tongban.outbox.models import OutboxMessage
from tongban.supervision.draws import service as draws
from tongban.supervision.metrics import service as metrics
from tongban.supervision.metrics.models import MetricCell, MetricFact


def race(engine: Engine, work: Callable[[Session], Any]) -> list[Any]:
    """Run `work` in two transactions opened together; each one's result or error."""
    if engine.dialect.name != "postgresql":
        pytest.skip("real concurrent writers need PostgreSQL")
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(2, timeout=10)
    results: list[Any] = []

    def one() -> None:
        with factory() as db:
            db.execute(select(func.now()))  # the transaction is open
            barrier.wait()
            try:
                results.append(work(db))
                db.commit()
            except Exception as exc:  # the test inspects it
                db.rollback()
                results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_first_refreshes_at_once_both_finish_with_one_set_of_facts(
        engine: Engine, world: World) -> None:
    approved_across_national_day(world, pause_and_extend=False)
    results = race(engine, lambda db: metrics.refresh(db_session=db))
    assert all(isinstance(r, metrics.RefreshResult) for r in results), results
    world.db.expire_all()
    assert world.db.scalar(select(func.count()).select_from(MetricFact)) == 1
    assert world.db.scalar(select(func.sum(MetricCell.decided))) == 1


def test_two_runs_of_one_draw_draw_it_once(engine: Engine, world: World) -> None:
    draw = committed(world)
    ledger.run_once(db_session=world.db, settings=world.settings)
    world.db.commit()
    results = race(engine, lambda db: draws.run_draw(
        db_session=db, actor=world["supervisor"], draw_id=draw.id).seed)
    seeds = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(seeds) == 1 and len(refused) == 1 and refused[0].code == "already_drawn"
    world.db.expire_all()
    acts = world.db.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "supervision.draw_result"))
    assert acts == 1


def test_two_ratings_of_one_service_at_once_one_is_given_the_other_a_clear_conflict(
        engine: Engine, world: World) -> None:
    from tests.supervision.conftest import approved_case
    from tongban.notify.models import Notification
    from tongban.supervision.ratings import service as ratings
    from tongban.supervision.ratings.models import Rating, Rectification

    case = approved_case(world)
    world.db.commit()
    results = race(engine, lambda db: ratings.rate(
        db_session=db, actor=world["applicant"], case_number=case.number, channel="online",
        level=1, comment="两个窗口同时提交"))
    given = [r for r in results if isinstance(r, ratings.RatingView)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(given), len(refused)) == (1, 1), results
    assert refused[0].status == 409 and "已评价" in refused[0].message
    world.db.expire_all()
    count = lambda model, *where: world.db.scalar(  # noqa: E731
        select(func.count()).select_from(model).where(*where))
    assert count(Rating) == count(Rectification) == 1
    assert count(OutboxMessage, OutboxMessage.kind == "rating.given") == 1
    assert count(Notification, Notification.kind == "supervision.rating_visit_due") == 1
