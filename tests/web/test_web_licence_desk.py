"""The staff licence desk: a clerk of the issuing department looks a licence up, sees its
history and replaces it (补领/换领); the old one then shows as replaced everywhere."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.seed_web import Seeded
from tests.web.test_web_licences_i18n import _issue
from tongban.config import Settings
from tongban.licences import service as licences


def test_a_clerk_reissues_a_lost_licence_at_the_desk(
        login: Callable[[str], TestClient], seeded: Seeded, db_session: Session,
        settings: Settings) -> None:
    identifier = _issue(db_session, settings)
    client = login("clerk-cd")
    desk = client.get("/workbench/licences", params={"identifier": identifier})
    assert desk.status_code == 200 and "补领/换领" in desk.text and "签发 / issued" in desk.text

    refused = client.post(f"/workbench/licences/{identifier}/replace",
                          data={"kind": "reissue", "reason": " "})
    assert refused.status_code == 422 and "须填写理由" in refused.text

    done = client.post(f"/workbench/licences/{identifier}/replace",
                       data={"kind": "reissue", "reason": "持证人遗失"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    db_session.expire_all()
    old = licences.get_licence(db_session=db_session, identifier=identifier)
    assert old.status == "05" and old.replaced_by is not None
    assert old.replaced_by in done.headers["location"]

    page = client.get("/workbench/licences", params={"identifier": identifier}).text
    assert 'id="replaced-by"' in page and old.replaced_by in page and "持证人遗失" in page
    assert "签发新证" not in page  # a replaced licence is not replaced again
    public = client.get("/licences/verify", params={"identifier": identifier}).text
    assert "已被补领/换领的新证取代" in public and old.replaced_by in public


def test_the_desk_is_for_staff_in_scope(login: Callable[[str], TestClient], seeded: Seeded,
                                        db_session: Session, settings: Settings) -> None:
    identifier = _issue(db_session, settings)
    assert login("zhangsan").get("/workbench/licences").status_code == 403
    other = login("clerk-nj").get("/workbench/licences", params={"identifier": identifier})
    assert other.status_code == 403 and "签发新证" not in other.text
