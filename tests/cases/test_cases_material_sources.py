"""A material the guide says comes from an e-licence or from shared data is never waived
because of its source: nothing is fetched from shared data yet (data sharing will do it),
so until such a material is attached (a held e-licence) or uploaded, no case is accepted
with it missing, through the service, the API or the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tongban import cli
from tongban.cases import service
from tongban.errors import Conflict

from .conftest import PDF, World, at
from .test_cases_licensing import _implementation

SHARED_MATERIALS: list[dict[str, Any]] = [
    {"code": "INSURED", "name": "社会保险参保缴费信息", "source": "shared_data",
     "dataset": "社保参保信息", "note": "系统自动核验,免于提交"},
    {"code": "FORM", "name": "参保证明申请表"},
]


def _shared_item(w: World) -> str:
    return _implementation(w, "000109009000", "参保缴费证明开具", materials=SHARED_MATERIALS)


def test_a_shared_data_material_is_never_silently_waived(world: World) -> None:
    w = world
    case = w.submit(code=_shared_item(w), when=at(2026, 9, 21))
    w.upload(case, "FORM")
    with pytest.raises(Conflict) as refused:
        w.act("clerk", case, "accept", when=at(2026, 9, 22))
    assert refused.value.code == "materials_missing"
    assert refused.value.details == {"missing": ["INSURED"]}
    assert "社会保险参保缴费信息" in refused.value.message
    assert case.state == "submitted"
    scan = w.upload(case, "INSURED")
    assert (scan.material_code, scan.source) == ("INSURED", "upload")
    w.act("clerk", case, "accept", when=at(2026, 9, 22))
    assert case.state == "accepted"


def test_an_e_licence_material_without_a_held_licence_must_be_uploaded(world: World) -> None:
    """The ID card (source: the 居民身份证 e-licence, none held) is owed like an upload."""
    w = world
    case = w.submit(when=at(2026, 9, 21))
    for code in ("FORM", "PREMISES"):
        w.upload(case, code)
    with pytest.raises(Conflict) as refused:
        w.act("clerk", case, "accept", when=at(2026, 9, 22))
    assert refused.value.details == {"missing": ["ID"]}
    with pytest.raises(Conflict):  # a key material may not be owed under 容缺 either
        w.act("clerk", case, "accept_with_deficiency", when=at(2026, 9, 22),
              deficient_materials=["PREMISES"], promise_date="2026-10-09")


def test_over_http_acceptance_names_the_missing_shared_material(
        world: World, client: TestClient) -> None:
    w = world
    code = _shared_item(w)
    applicant, clerk = w.token("applicant"), w.token("clerk")
    number = client.post("/api/v1/cases", headers=applicant, json={
        "implementation_code": code, "channel": "window",
        "form_data": {"shop_name": "锦江小面馆", "phone": "13800138000"}}).json()["number"]
    up = client.post(f"/api/v1/cases/{number}/materials", headers=applicant,
                     data={"material_code": "FORM"},
                     files={"file": ("f.pdf", PDF, "application/pdf")})
    assert up.status_code == 201, up.text
    refused = client.post(f"/api/v1/cases/{number}/actions/accept", headers=clerk, json={})
    assert refused.status_code == 409
    assert refused.json()["details"] == {"missing": ["INSURED"]}
    up = client.post(f"/api/v1/cases/{number}/materials", headers=applicant,
                     data={"material_code": "INSURED"},
                     files={"file": ("参保.pdf", PDF, "application/pdf")})
    assert up.status_code == 201, up.text
    accepted = client.post(f"/api/v1/cases/{number}/actions/accept", headers=clerk, json={})
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"


def test_the_cli_refuses_acceptance_in_one_line_naming_the_material(
        world: World, cli_env: None) -> None:
    w = world
    case = w.submit(code=_shared_item(w), when=at(2026, 9, 21))
    w.upload(case, "FORM")
    w.db.commit()
    result = CliRunner().invoke(cli.app, ["cases", "act", case.number, "accept",
                                          "--as", "clerk.cases"])
    assert result.exit_code != 0
    assert isinstance(result.exception, Conflict)
    assert "社会保险参保缴费信息" in result.exception.message


def test_an_acceptance_refused_for_a_missing_material_sees_it_once_uploaded(
    world: World,
) -> None:
    """The guard's read of the materials is kept for the transaction (the answer shows
    them from it), and forgotten by an upload in that same transaction: the next guard
    sees the new material, and so does the case's detail."""
    w = world
    case = w.submit(when=at(2026, 9, 21))
    w.upload(case, "ID")
    w.upload(case, "FORM")
    with pytest.raises(Conflict) as refused:
        w.act("clerk", case, "accept", when=at(2026, 9, 22))
    assert refused.value.details == {"missing": ["PREMISES"]}
    w.upload(case, "PREMISES")  # the same transaction: nothing committed or rolled back
    accepted = w.act("clerk", case, "accept", when=at(2026, 9, 22))
    assert accepted.state == "accepted"
    detail = service.detail_of(db_session=w.db, actor=w["clerk"], case=accepted)
    assert sorted(m.material_code for m in detail.materials) == ["FORM", "ID", "PREMISES"]
    replaced = w.upload(case, "FORM", who="clerk")
    detail = service.detail_of(db_session=w.db, actor=w["clerk"], case=accepted)
    assert [m.id for m in detail.materials if m.material_code == "FORM"
            and m.superseded_by is None] == [replaced.id]
