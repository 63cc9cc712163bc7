"""即办件 that issue an e-licence: acceptance is the decision, so it takes the licence
fields, and what is wrong with them comes back per field, in Chinese (service, API, CLI)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tongban import cli
from tongban.cases.models import Case
from tongban.errors import InvalidInput
from tongban.licences.models import Licence

from .conftest import World, at
from .test_cases_licensing import RESIDENCE, RESIDENCE_FIELDS, _implementation


def _immediate_permit(w: World) -> str:
    """居住证 issued on the spot: an immediate item whose result is the e-licence."""
    return _implementation(w, "000110010000", "居住证即时签发", item_kind="immediate",
                           legal_days=1, promised_days=0, result=RESIDENCE,
                           materials=[{"code": "FORM", "name": "居住证申领登记表"}])


def _submitted(w: World) -> Case:
    case = w.submit(code=_immediate_permit(w), when=at(2026, 9, 21))
    w.upload(case, "FORM")
    w.db.commit()
    return case


def _licences(w: World, case: Case) -> list[Licence]:
    return list(w.db.scalars(select(Licence).where(Licence.case_id == case.id)))


def test_accepting_an_immediate_item_decides_and_issues_its_licence(world: World) -> None:
    w = world
    case = _submitted(w)
    w.act("clerk", case, "accept", when=at(2026, 9, 21, 11), licence_fields=RESIDENCE_FIELDS)
    assert case.state == "approved" and case.decision == "approved"
    (licence,) = _licences(w, case)
    assert licence.status == "01" and licence.fields["ethnicity"] == "汉"


def test_missing_or_bad_licence_fields_are_named_in_chinese_and_nothing_is_written(
        world: World) -> None:
    w = world
    case = _submitted(w)
    before = w.counts()
    with pytest.raises(InvalidInput) as refused:
        w.act("clerk", case, "accept", when=at(2026, 9, 21, 11),
              licence_fields={"ethnicity": 7, "residence_address": "四川省成都市锦江区红星路"})
    w.db.rollback()
    problems = {p["field"]: p["message"] for p in refused.value.details}
    assert problems["fields.household_address"].startswith("户籍地址:必填")
    assert problems["fields.ethnicity"].startswith("民族:类型不正确")
    assert "户籍地址:必填" in refused.value.message  # the one line says it too
    assert w.counts() == before and _licences(w, case) == []
    w.db.expire_all()
    assert w.db.get(Case, case.id).state == "submitted"  # type: ignore[union-attr]


def test_a_promised_items_acceptance_takes_no_licence_fields(world: World) -> None:
    case = world.submit(when=at(2026, 9, 21))
    world.complete(case)
    with pytest.raises(InvalidInput) as refused:
        world.act("clerk", case, "accept", licence_fields=RESIDENCE_FIELDS)
    assert refused.value.details[0]["field"] == "data.licence_fields"


def test_over_http_the_clerk_accepts_with_the_licence_fields(
        world: World, client: TestClient) -> None:
    w = world
    case = _submitted(w)
    clerk = w.token("clerk")
    url = f"/api/v1/cases/{case.number}/actions/accept"
    bad = client.post(url, headers=clerk, json={"data": {"licence_fields": {"ethnicity": "汉"}}})
    assert bad.status_code == 422
    fields = {d["field"]: d["message"] for d in bad.json()["details"]}
    assert fields["fields.household_address"].startswith("户籍地址:必填")
    assert fields["fields.residence_address"].startswith("居住地址:必填")
    done = client.post(url, headers=clerk, json={"data": {"licence_fields": RESIDENCE_FIELDS}})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "approved"
    assert len(_licences(w, case)) == 1


def test_the_cli_accepts_with_licence_fields_and_names_a_missing_one_in_one_line(
        world: World, cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    w = world
    case = _submitted(w)
    partial = {k: v for k, v in RESIDENCE_FIELDS.items() if k != "household_address"}
    args = ["cases", "act", case.number, "accept", "--as", "clerk.cases", "--data"]
    with pytest.raises(SystemExit) as exited:
        _main([*args, json.dumps({"licence_fields": partial})])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "户籍地址:必填" in err and len(err.strip().splitlines()) == 1
    done = CliRunner().invoke(cli.app, [*args, json.dumps({"licence_fields": RESIDENCE_FIELDS})])
    assert done.exit_code == 0, done.output
    assert "approved" in done.output
    w.db.expire_all()
    assert len(_licences(w, case)) == 1


def _main(argv: list[str]) -> None:
    import sys

    saved = sys.argv
    sys.argv = ["tongban", *argv]
    try:
        cli.main()
    finally:
        sys.argv = saved
