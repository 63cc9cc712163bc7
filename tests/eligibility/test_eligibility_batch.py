"""Batch checks of a file of applicants and screenings of a whole population."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.sharing.conftest import World, account, bearer
from tongban.audit.models import AuditEntry
from tongban.cli import app as cli
from tongban.eligibility import batch, screening, service
from tongban.errors import InvalidInput
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.outbox.models import OutboxMessage
from tongban.sharing import grants, queries
from tongban.sharing.models import Access, BulkSubject


def bulk_reads(db_session: Session) -> list[tuple[Access, str]]:
    """Every screening read logged, as (access row, subject key) pairs."""
    return [(a, key) for a, key in db_session.execute(
        select(Access, BulkSubject.subject_key)
        .join(BulkSubject, BulkSubject.bulk_id == Access.bulk_id)).all()]


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_a_file_of_applicants_gets_a_verdict_and_an_explanation_per_row(
        client: TestClient, db_session: Session, elig: World) -> None:
    account(db_session, "rev.civil", ["reviewer"], [("510100", elig.departments["civil"].id)])
    data = _csv([["姓名", "公民身份号码"], ["刘洋", elig.ids["刘洋"]], ["张伟", elig.ids["张伟"]],
                 ["", ""], ["杨帆", elig.ids["杨帆"]]])
    resp = client.post("/api/v1/eligibility/batches", data={"rule_set": "minimum_living"},
                       files={"file": ("申请人.csv", data, "text/csv")},
                       headers=bearer(client, "rev.civil"))
    assert resp.status_code == 200, resp.text
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["行号 row", "主体 subject", "结论 result", "姓名"]
    assert [(r[0], r[2], r[3]) for r in body] == [("2", "符合", "刘洋"), ("3", "不符合", "张伟"),
                                                 ("5", "不符合", "杨帆")]
    assert "216000" in body[1][-1] and "《最低生活保障审核确认办法》" in body[1][-1]
    assert elig.ids["张伟"] not in resp.text  # masked in the result
    assert len(bulk_reads(db_session)) == 3 * 7  # three applicants, seven datasets
    logged = db_session.scalars(select(Access).where(Access.kind == "bulk")).all()
    assert len(logged) == 7 and {a.result_count for a in logged} == {3}  # one per dataset


def test_a_bad_file_names_row_and_field_and_nothing_is_read(db_session: Session,
                                                            elig: World) -> None:
    data = _csv([["id_number"], [elig.ids["刘洋"]], ["110101199001011234"], ["x"]])
    with pytest.raises(InvalidInput) as err:
        batch.check_file(db_session=db_session, settings=elig.settings, actor=SYSTEM_ACTOR,
                         code="temporary_assistance", data=data, filename="a.csv")
    assert [(p["row"], p["field"]) for p in err.value.details] == [(3, "id_number"),
                                                                   (4, "id_number")]
    with pytest.raises(InvalidInput) as err:
        batch.check_file(db_session=db_session, settings=elig.settings, actor=SYSTEM_ACTOR,
                         code="temporary_assistance", data=_csv([["name"], ["刘洋"]]),
                         filename="a.csv")
    assert err.value.details[0]["row"] == 1
    assert db_session.scalars(select(Access)).first() is None


def test_the_cli_checks_an_xlsx_file_and_writes_the_result(
        cli_env: None, db_session: Session, elig: World, tmp_path: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    for key in ("data_key", "index_key", "csrf_key", "node_key"):
        monkeypatch.setenv(f"TONGBAN_{key.upper()}", getattr(elig.settings, key))
    wb = Workbook()
    wb.active.append(["统一社会信用代码", "企业名称"])  # type: ignore[union-attr]
    for name, code in elig.credit_codes.items():
        wb.active.append([code, name])  # type: ignore[union-attr]
    src, out = Path(str(tmp_path)) / "企业.xlsx", Path(str(tmp_path)) / "结果.xlsx"
    wb.save(src)
    done = CliRunner().invoke(cli, ["eligibility", "batch", "small_business_insurance_subsidy",
                                    str(src), "--out", str(out)])
    assert done.exit_code == 0, done.output
    sheet = load_workbook(out).active
    rows = list(sheet.iter_rows(values_only=True))  # type: ignore[union-attr]
    verdicts = {r[3]: r[2] for r in rows[1:]}
    assert verdicts == {"成都蜀锦数字科技有限公司": "符合", "上海浦江智能制造有限公司": "不符合"}
    bad = Path(str(tmp_path)) / "bad.csv"
    bad.write_text("credit_code\n91510100MA61234567\n", encoding="utf-8")
    failed = CliRunner().invoke(cli, ["eligibility", "batch", "job_retention_refund",
                                      str(bad), "--out", str(tmp_path) + "/never.csv"])
    assert failed.exit_code != 0 and "row 2, credit_code" in str(failed.exception)
    assert not (Path(str(tmp_path)) / "never.csv").exists()


def test_a_population_screening_logs_the_eligible_and_the_run(db_session: Session,
                                                             elig: World) -> None:
    done = screening.screen(db_session=db_session, settings=elig.settings,
                            actor=SYSTEM_ACTOR, code="housing_security")
    assert not isinstance(done, service.Refused)
    assert done.table.height == 6 and len(done.eligible_keys) == 1  # 王芳
    assert {key for _, key in bulk_reads(db_session)} == set(done.eligible_keys)
    (eligible,) = done.eligible_keys
    seen = queries.usage_of(db_session=db_session, subject_key=eligible).reads
    assert {(a.kind, a.dataset_code) for a in seen} == {
        ("bulk", dataset) for dataset in done.bound.datasets}
    acts = [m.payload for m in db_session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "sharing.access")).all() if m.payload.get("kind") == "bulk"]
    [act] = acts  # one act binds the run's reads of every dataset and its subjects
    assert sorted(r["dataset"] for r in act["reads"]) == sorted(done.bound.datasets)
    assert (act["subjects"], act["subjects_sha256"]) == (
        1, queries.subjects_digest([eligible]))
    run = db_session.scalars(select(AuditEntry).where(
        AuditEntry.action == "eligibility.screening")).one()
    assert run.details["population"] == 6 and run.details["eligible"] == 1


def test_a_screening_needs_a_grant_that_asks_no_consent_per_subject(
        db_session: Session, elig: World) -> None:
    doc = service.bound_rule_set(db_session=db_session, rule_set=service.current_rule_set(
        db_session=db_session, code="housing_security")).doc
    old = next(g for g in grants.list_grants(db_session=db_session,
                                             dataset="housing_fund.deposit")
               if g.purpose_code == doc.purpose_code)
    grants.amend_grant(db_session=db_session, settings=elig.settings, actor=SYSTEM_ACTOR,
                       grant_id=old.grant_id,
                       change=grants.GrantChange(reason="须本人授权", requires="consent"))
    done = screening.screen(db_session=db_session, settings=elig.settings,
                            actor=SYSTEM_ACTOR, code="housing_security")
    assert isinstance(done, service.Refused) and done.reason == "consent_required"
    assert done.details["dataset"] == "housing_fund.deposit"


PERSON_POLICIES = ("minimum_living", "temporary_assistance", "housing_security")


def test_a_nightly_run_reads_each_registry_once_and_logs_each_policy_as_screened_alone(
        db_session: Session, elig: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from tongban.eligibility import vector

    alone = {}
    for code in PERSON_POLICIES:
        done = screening.screen(db_session=db_session, settings=elig.settings,
                                actor=SYSTEM_ACTOR, code=code)
        assert not isinstance(done, service.Refused)
        alone[code] = (done.table.sort(vector.KEY), done.bound.datasets)
    db_session.rollback()
    reads: list[str] = []  # each dataset read: alone, or in one scan of them all
    real, real_scan = vector.read_columns, vector._scan
    monkeypatch.setattr(vector, "read_columns",
                        lambda **kw: reads.append(kw["dataset"]) or real(**kw))
    monkeypatch.setattr(vector, "_scan",
                        lambda s, wanted: reads.extend(wanted) or real_scan(s, wanted))
    together = screening.screen_many(db_session=db_session, settings=elig.settings,
                                     actor=SYSTEM_ACTOR, codes=PERSON_POLICIES)
    assert sorted(reads) == sorted({d for _, ds in alone.values() for d in ds})
    logged = bulk_reads(db_session)
    for code in PERSON_POLICIES:
        done = together[code]
        assert not isinstance(done, service.Refused)
        table, datasets = alone[code]
        assert done.table.sort(vector.KEY).equals(table)
        purpose = done.bound.doc.purpose_code
        for dataset, fields in datasets.items():
            rows = [(a, key) for a, key in logged if a.purpose_code == purpose and
                    a.dataset_code == dataset]
            assert sorted(key for _, key in rows) == sorted(done.eligible_keys)
            assert all(a.fields == (fields or ["id_number"]) and
                       a.grant_id == done.grants[dataset].grant_id for a, _ in rows)
    assert len(db_session.scalars(select(AuditEntry).where(
        AuditEntry.action == "eligibility.screening")).all()) == 3


def test_a_refused_policy_does_not_stop_the_nightly_run_of_the_others(
        db_session: Session, elig: World) -> None:
    doc = service.bound_rule_set(db_session=db_session, rule_set=service.current_rule_set(
        db_session=db_session, code="housing_security")).doc
    old = next(g for g in grants.list_grants(db_session=db_session,
                                             dataset="housing_fund.deposit")
               if g.purpose_code == doc.purpose_code)
    grants.amend_grant(db_session=db_session, settings=elig.settings, actor=SYSTEM_ACTOR,
                       grant_id=old.grant_id,
                       change=grants.GrantChange(reason="须本人授权", requires="consent"))
    done = screening.screen_many(db_session=db_session, settings=elig.settings,
                                 actor=SYSTEM_ACTOR, codes=PERSON_POLICIES)
    refused = done["housing_security"]
    assert isinstance(refused, service.Refused) and refused.reason == "consent_required"
    assert not isinstance(done["minimum_living"], service.Refused)
    logged = db_session.scalars(select(Access).where(Access.kind == "bulk")).all()
    assert doc.purpose_code not in {a.purpose_code for a in logged}
