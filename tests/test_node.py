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
