"""The README's first command seeds a believable node: this is what it seeds."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tongban.cases.models import Case
from tongban.catalog.models import Implementation, ServiceItem
from tongban.config import Settings
from tongban.demo import DEMO_PASSWORD, seed_demo
from tongban.identity.models import Person


def test_demo_seeds_catalog_people_logins_and_cases(
    db_session: Session, settings: Settings, client: TestClient
) -> None:
    logins = seed_demo(db_session=db_session, settings=settings)
    db_session.commit()

    assert {role for role, _, _ in logins} >= {
        "applicant", "agent", "clerk", "reviewer", "supervisor", "catalog_admin",
        "data_steward", "operator",
    }
    assert db_session.scalar(select(func.count()).select_from(ServiceItem)) >= 100
    regions = db_session.scalars(select(Implementation.region_code).distinct()).all()
    assert len({code[:2] for code in regions}) >= 6
    assert db_session.scalar(select(func.count()).select_from(Person)) >= 6
    states = set(db_session.scalars(select(Case.state)))
    assert {"pre_review", "supplement_requested", "accepted", "approved"} <= states

    # Every demo login works against the API, and pinyin initials find 公积金.
    for _, username, password in logins:
        assert password == DEMO_PASSWORD
        resp = client.post("/api/v1/auth/login", json={"username": username,
                                                       "password": password})
        assert resp.status_code == 200, (username, resp.text)
    hits = client.get("/api/v1/implementations", params={"q": "gjj"}).json()
    assert any("公积金" in hit["name"] for hit in hits["items"])

    # The standardisation code finds exactly the demo's local differences; those with a
    # legal basis are declared and approved, the others are left to correct.
    from tongban.catalog import standardisation as std
    from tongban.catalog.demo_data import LOCAL_DIFFERENCES

    found = {(d.basic_code, c.region_code, x.declared) for d in std.conformance(
        db_session=db_session) for c in d.columns for x in c.differences}
    assert found == {(r.basic_code, r.region_code, bool(r.legal_basis))
                     for r in LOCAL_DIFFERENCES}
    variances = client.get("/api/v1/standard/variances", params={"state": "approved"}).json()
    assert len(variances) == 10 and all(v["approver"] and v["legal_basis"] for v in variances)
