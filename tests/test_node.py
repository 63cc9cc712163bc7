"""The node answers its health check and speaks the error contract."""

import gc

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tongban.app import create_app
from tongban.config import Settings


def test_health_reports_database(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["database"] in {"sqlite", "postgresql"}


def test_unknown_route_is_json_error(client: TestClient) -> None:
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/api/openapi.json").json()["info"]["title"].startswith("tongban")


def test_a_serving_app_keeps_its_startup_objects_out_of_the_collector(
        engine: Engine, settings: Settings) -> None:
    """Full collections while serving must not rescan what startup built (their pauses
    were the slowest requests); a stopped app gives them back."""
    with TestClient(create_app(settings, engine=engine)) as serving:
        assert serving.get("/api/v1/health").status_code == 200
        assert gc.get_freeze_count() > 50_000
    assert gc.get_freeze_count() == 0


def test_health_reports_the_queue_backlog_and_the_ledger_lag(
        engine: Engine, settings: Settings, client: TestClient) -> None:
    from tongban import worker
    from tongban.db import make_sessionmaker
    from tongban.ledger import service as ledger

    with make_sessionmaker(engine)() as session:
        for n in range(2):
            ledger.record_act(db_session=session, kind="case.accepted", payload={"n": n})
        session.commit()
    before = client.get("/api/v1/health").json()
    assert before["database_ok"] is True and before["status"] == "ok"
    assert before["ledger"]["pending"] == 2 and before["ledger"]["tree_size"] == 0
    assert before["queue"]["outbox"]["ledger"]["pending"] == 2
    worker.tick(make_sessionmaker(engine), settings)
    after = client.get("/api/v1/health").json()
    assert after["ledger"] == {"pending": 0, "lag_seconds": 0.0, "tree_size": 2,
                               "checkpoint_size": 2}
    assert "ledger" not in after["queue"]["outbox"]
    jobs = {j["name"]: j for j in after["queue"]["jobs"]}
    assert jobs["ledger"]["runs"] == 1 and jobs["ledger"]["failures"] == 0


def test_a_database_that_stops_answering_is_a_503(client: TestClient) -> None:
    from dataclasses import replace

    from tongban.db import make_engine, make_sessionmaker
    from tongban.node.health import report

    down = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none",
                       connect_args={"connect_timeout": 1})
    node = replace(client.app.state.node, sessionmaker=make_sessionmaker(down))  # type: ignore[attr-defined]
    status, body = report(node, worker_in_process=False)
    assert status == 503 and body["status"] == "down" and body["database_ok"] is False
    assert "Connection refused" in body["database_error"] or "connect" in body["database_error"]


def test_every_response_carries_a_request_id_that_the_logs_carry_too(
        client: TestClient) -> None:
    import io
    import json
    import logging

    from tongban.node.observe import JsonFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tongban.request")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        given = client.get("/api/v1/health", headers={"X-Request-ID": "lb-42.a"})
        fresh = client.get("/api/v1/no-such-thing")
        odd = client.get("/api/v1/health", headers={"X-Request-ID": "<script>"})
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    assert given.headers["x-request-id"] == "lb-42.a"
    assert len(fresh.headers["x-request-id"]) == 32
    assert odd.headers["x-request-id"] != "<script>"
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["request_id"], x["status"], x["path"]) for x in lines] == [
        ("lb-42.a", 200, "/api/v1/health"),
        (fresh.headers["x-request-id"], 404, "/api/v1/no-such-thing"),
        (odd.headers["x-request-id"], 200, "/api/v1/health")]


def test_several_api_processes_need_postgresql_and_a_shared_rate_limit_store(
        tmp_path: object) -> None:
    import pytest

    from tongban.cli import check_many_processes
    from tongban.node.registry import ConfigurationError

    with pytest.raises(ConfigurationError, match="needs PostgreSQL"):
        check_many_processes(Settings(database_url="sqlite:///x.db"))
    pg = "postgresql+psycopg://postgres@127.0.0.1/x"
    with pytest.raises(ConfigurationError, match="TONGBAN_RATE_LIMIT_STORAGE=redis"):
        check_many_processes(Settings(database_url=pg))
    check_many_processes(Settings(database_url=pg, rate_limit_storage="redis://h:6379/0"))


def test_request_handlers_run_on_at_most_api_threads_threads(
        engine: Engine, settings: Settings) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    app = create_app(settings.model_copy(update={"api_threads": 2}), engine=engine)
    inside, peak, lock = [0], [0], threading.Lock()

    def busy() -> dict[str, int]:  # a sync handler: it runs in the thread pool
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.2)
        with lock:
            inside[0] -= 1
        return {}

    app.add_api_route("/api/v1/test-busy", busy)
    with TestClient(app) as client, ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: client.get("/api/v1/test-busy").status_code, range(6)))
    assert codes == [200] * 6  # the others waited their turn, none was refused
    assert peak[0] == 2
