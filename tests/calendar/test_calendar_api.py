"""The calendar over HTTP: deadlines for anyone, loading a year for operators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tongban.calendar.models import CalendarYear

API = "/api/v1/calendar"
Headers = Callable[[str], dict[str, str]]


def test_due_date_across_national_day_2026(client: TestClient) -> None:
    resp = client.get(f"{API}/due", params={"start": "2026-09-30", "days": 1})
    assert resp.status_code == 200
    assert resp.json() == {"start": "2026-09-30", "days": 1, "due": "2026-10-08",
                           "provisional": False}


def test_a_due_date_in_a_year_without_data_says_provisional(client: TestClient) -> None:
    resp = client.get(f"{API}/due", params={"start": "2026-12-25", "days": 10})
    assert resp.json()["due"] == "2027-01-08" and resp.json()["provisional"] is True


def test_bad_query_gets_a_clear_422(client: TestClient) -> None:
    for params in ({"start": "2026-13-01", "days": 1}, {"start": "2026-01-01", "days": -1},
                   {"start": "2026-01-01"}):
        resp = client.get(f"{API}/due", params=params)
        assert resp.status_code == 422, params
        body = resp.json()
        assert body["error"] == "invalid" and body["details"], params


def test_years_and_one_year(client: TestClient) -> None:
    years = client.get(f"{API}/years").json()
    assert [y["year"] for y in years] == list(range(2004, 2027))
    assert {y["origin"] for y in years} == {"shipped"}
    year = client.get(f"{API}/2026").json()
    assert year["source"]["number"] == "国办发明电〔2025〕7号"
    assert "2026-10-10" in year["workdays"] and year["origin"] == "shipped"
    missing = client.get(f"{API}/2099")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_loading_a_year_needs_an_operator(client: TestClient, staff_headers: Headers,
                                          doc_2027: dict[str, Any]) -> None:
    assert client.post(f"{API}/years", json=doc_2027).status_code == 401
    resp = client.post(f"{API}/years", json=doc_2027, headers=staff_headers("reviewer"))
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"


def test_an_operator_loads_2027_and_the_deadline_becomes_final(
    client: TestClient, staff_headers: Headers, doc_2027: dict[str, Any]
) -> None:
    resp = client.post(f"{API}/years", json=doc_2027, headers=staff_headers("operator"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["origin"] == "loaded" and resp.json()["year"] == 2027
    due = client.get(f"{API}/due", params={"start": "2026-12-25", "days": 10}).json()
    assert due["due"] == "2027-01-11" and due["provisional"] is False
    assert client.get(f"{API}/2027").json()["source"]["title"] == doc_2027["source"]["title"]


def test_a_bad_year_document_is_refused_and_nothing_is_written(
    client: TestClient, staff_headers: Headers, db_session: Session, doc_2027: dict[str, Any]
) -> None:
    headers = staff_headers("operator")
    doc_2027["workdays"] = ["2027-01-04"]  # a Monday
    resp = client.post(f"{API}/years", json=doc_2027, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["details"][0]["field"] == "workdays[0]"
    doc_2027["workdays"], doc_2027["year"] = [], 0
    resp = client.post(f"{API}/years", json=doc_2027, headers=headers)
    assert resp.status_code == 422 and resp.json()["error"] == "invalid"
    assert db_session.scalar(select(func.count()).select_from(CalendarYear)) == 0
