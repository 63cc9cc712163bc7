"""The node worker runs every domain's job: a legal act reaches the signed log."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tongban import worker
from tongban.config import Settings
from tongban.db import make_sessionmaker
from tongban.ledger import service as ledger


def test_a_recorded_act_is_logged_and_checkpointed_by_one_tick(
    engine: Engine, settings: Settings, db_session: Session
) -> None:
    ledger.record_act(db_session=db_session, kind="case.accepted", payload={"case": "x"})
    db_session.commit()

    done = worker.tick(make_sessionmaker(engine), settings)

    assert done["ledger"] == 1
    assert ledger.tree_size(db_session=db_session) == 1
    assert ledger.latest_checkpoint(db_session=db_session) is not None


def test_a_failing_job_does_not_stop_the_others(
    engine: Engine, settings: Settings, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_session: Session, _settings: Settings) -> int:
        raise RuntimeError("boom")

    real = worker.jobs()
    monkeypatch.setattr(worker, "jobs", lambda: [worker.NamedJob("broken", broken), *real])
    ledger.record_act(db_session=db_session, kind="case.accepted", payload={"case": "y"})
    db_session.commit()

    done = worker.tick(make_sessionmaker(engine), settings)

    assert done["broken"] == -1
    assert done["ledger"] == 1
