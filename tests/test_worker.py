"""The node worker runs every domain's job under its claim: a legal act reaches the signed
log once, a failing job is put off without stopping the others, and a leased job runs in
one worker at a time however many there are."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tongban import worker
from tongban.config import Settings
from tongban.db import make_engine, make_sessionmaker, utcnow
from tongban.ledger import service as ledger
from tongban.node.keyring import keyring
from tongban.node.root import WorkerJob
from tongban.queue import service as queue
from tongban.queue.models import JobState


def test_a_recorded_act_is_logged_and_checkpointed_by_one_tick(
    engine: Engine, settings: Settings, db_session: Session
) -> None:
    ledger.record_act(db_session=db_session, kind="case.accepted", payload={"case": "x"})
    db_session.commit()

    done = worker.tick(make_sessionmaker(engine), settings)

    assert done["ledger"] == 1
    assert ledger.tree_size(db_session=db_session) == 1
    assert ledger.latest_checkpoint(db_session=db_session) is not None


def _broken(_session: Session, _settings: Settings) -> int:
    raise RuntimeError("boom")


def test_a_failing_job_is_recorded_and_put_off_without_stopping_the_others(
    engine: Engine, settings: Settings, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = worker.jobs()
    monkeypatch.setattr(worker, "jobs",
                        lambda: [worker.NamedJob("broken", WorkerJob(_broken)), *real])
    ledger.record_act(db_session=db_session, kind="case.accepted", payload={"case": "y"})
    db_session.commit()

    before = utcnow()
    done = worker.tick(make_sessionmaker(engine), settings)

    assert done["broken"] == -1
    assert done["ledger"] == 1
    state = db_session.get(JobState, "broken")
    assert state is not None and state.failures == 1
    assert state.last_error == "RuntimeError: boom"
    # Backoff, not every tick: the first failure waits two seconds from its own run
    # (counted from before the tick, so a slow machine cannot make it pass or fail).
    assert state.next_run_at >= before + timedelta(seconds=2)
    # A second worker a second after the failure (the clock held there: a slow machine
    # must not carry the tick past the backoff) finds the job not yet due.
    failed_at = state.last_finished_at
    assert failed_at is not None
    monkeypatch.setattr(worker, "utcnow", lambda: failed_at + timedelta(seconds=1))
    again = worker.Worker(make_sessionmaker(engine), settings)
    assert again.tick(only=[worker.NamedJob("broken", WorkerJob(_broken))]) == {"broken": None}
    again.close()


def test_a_leased_job_waits_its_interval_node_wide(
    engine: Engine, settings: Settings, db_session: Session
) -> None:
    runs: list[int] = []
    job = worker.NamedJob("counted", WorkerJob(lambda _s, _c: runs.append(1) or 1, every=60))
    first, second = (worker.Worker(make_sessionmaker(engine), settings) for _ in range(2))
    assert first.tick(only=[job]) == {"counted": 1}
    assert second.tick(only=[job]) == {"counted": None}  # another worker: not due yet
    assert first.tick(only=[job]) == {"counted": None}
    first.close()
    second.close()
    assert runs == [1]
    state = db_session.scalar(select(JobState).where(JobState.name == "counted"))
    assert state is not None and state.runs == 1 and state.last_done == 1


def test_two_workers_never_run_a_leased_job_at_once(
    engine: Engine, settings: Settings, db_session: Session
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("one writer on SQLite: two concurrent turns cannot even start")
    inside, release = threading.Barrier(2, timeout=10), threading.Event()
    seen: list[str] = []

    def slow(_session: Session, _settings: Settings) -> int:
        seen.append(threading.current_thread().name)
        inside.wait()  # the first worker holds the turn here while the second asks
        release.wait(10)
        return 1

    job = worker.NamedJob("slow", WorkerJob(slow, every=0))
    w1, w2 = (worker.Worker(make_sessionmaker(engine), settings) for _ in range(2))
    results: dict[str, dict[str, int | None]] = {}
    t = threading.Thread(target=lambda: results.update(a=w1.tick(only=[job])), name="w1")
    t.start()
    inside.wait()  # w1 is inside the job, holding its row
    results["b"] = w2.tick(only=[job])
    release.set()
    t.join(10)
    w1.close()
    w2.close()
    assert results == {"a": {"slow": 1}, "b": {"slow": None}}
    assert seen == ["w1"]


def test_a_job_waiting_on_a_peer_leaves_the_database_to_the_requests(
    engine: Engine, settings: Settings, db_session: Session
) -> None:
    """A job that reads, then waits as on a hung peer (an envelope posted, a checkpoint
    fetched), must not hold the write lock: on SQLite that is the whole database's, and
    every request of the node queued behind it until it answered 503 busy."""
    waiting, release = threading.Event(), threading.Event()

    def waits_on_a_peer(session: Session, _settings: Settings) -> int:
        session.execute(select(JobState.name)).all()
        waiting.set()
        release.wait(20)
        return 1

    job = worker.NamedJob("waits", WorkerJob(waits_on_a_peer, every=0))
    w = worker.Worker(make_sessionmaker(engine), settings)
    results: dict[str, dict[str, int | None]] = {}
    t = threading.Thread(target=lambda: results.update(run=w.tick(only=[job])))
    t.start()
    # A request's write meanwhile, on an engine that waits at most 0.3 s for a lock (on
    # SQLite it would otherwise wait its busy timeout, then fail).
    impatient = make_engine(settings.database_url, lock_timeout_ms=300, keys=keyring(settings))
    try:
        assert waiting.wait(20)
        with make_sessionmaker(impatient)() as request:
            ledger.record_act(db_session=request, kind="case.accepted", payload={"case": "w"})
            request.commit()
    finally:
        release.set()
        t.join(20)
        impatient.dispose()
        w.close()
    assert results == {"run": {"waits": 1}}
    state = db_session.scalar(select(JobState).where(JobState.name == "waits"))
    assert state is not None and state.runs == 1  # the turn was claimed and recorded


def test_one_worker_leads_a_sequencer_and_another_takes_over_when_it_goes(
    engine: Engine, db_session: Session
) -> None:
    a, b = queue.Leadership(engine), queue.Leadership(engine)
    try:
        assert a.leads("ledger")
        if engine.dialect.name == "postgresql":
            assert not b.leads("ledger")
            a.close()  # the leader's connection goes (as when its process is killed)
            assert b.leads("ledger")
        else:
            assert b.leads("ledger")  # one worker on SQLite: it always leads
    finally:
        a.close()
        b.close()
