"""`tongban users create|list`: accounts from the command line, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban import cli
from tongban.audit.models import AuditEntry
from tongban.catalog.models import Department
from tongban.config import Settings, get_settings
from tongban.identity import service
from tongban.identity.ids import make_resident_id

from .conftest import PASSWORD

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, regions: list[str],
        capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """Run `tongban ARGS…` in-process against the test database; returns (code, out, err)."""
    monkeypatch.setenv("TONGBAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TONGBAN_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("TONGBAN_DATA_KEY", settings.data_key or "")
    monkeypatch.setenv("TONGBAN_INDEX_KEY", settings.index_key or "")
    get_settings.cache_clear()

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["tongban", *args])
        code = 0
        try:
            cli.main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    yield invoke
    get_settings.cache_clear()


def test_create_a_staff_account_with_region_and_department_scopes(
    run: Run, db_session: Session, department: Department
) -> None:
    code, out, _ = run("users", "create", "wang.clerk", "--role", "clerk",
                       "--role", "reviewer", "--name", "王窗口", "--region", "510100",
                       "--department", department.credit_code, "--password", PASSWORD)
    assert code == 0, out
    db_session.expire_all()
    account = service.find_account_by_username(db_session=db_session, username="wang.clerk")
    assert account is not None and service.account_roles(account) == ["clerk", "reviewer"]
    assert {(s.region_code, s.department_id) for s in account.scopes} == {
        ("510100", None), ("510104", department.id)}
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.entity_id == str(account.id)))
    assert entry is not None and entry.actor_name.startswith("cli:")
    code, out, _ = run("users", "list")
    assert code == 0 and "wang.clerk" in out and "clerk,reviewer" in out


def test_create_an_applicant_registers_the_person(run: Run, db_session: Session,
                                                  settings: Settings) -> None:
    number = make_resident_id("510104", date(1990, 5, 17), 123)
    code, out, err = run("users", "create", "zhang.san", "--role", "applicant",
                         "--name", "张三", "--id-number", number, "--password", PASSWORD)
    assert code == 0, err
    person = service.find_person_by_id_number(db_session=db_session, settings=settings,
                                              id_number=number)
    assert person is not None and person.name == "张三"
    assert number not in out


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "clerk"], "管辖范围"),
    (["--role", "clerk", "--region", "999999"], "行政区划代码不存在"),
    (["--role", "clerk", "--department", "91510104MA6CABCD1X"], "部门不存在"),
    (["--role", "applicant", "--id-number", "510104199005171230"], "公民身份号码"),
    (["--role", "clerk", "--region", "510104", "--password", "weak"], "密码"),
])
def test_bad_input_is_one_line_and_exit_1(run: Run, db_session: Session,
                                          args: list[str], message: str) -> None:
    extra = [] if "--password" in args else ["--password", PASSWORD]
    code, _, err = run("users", "create", "someone", "--name", "某人", *args, *extra)
    assert code == 1
    assert err.strip().count("\n") == 0 and message in err and err.startswith("error:")
    db_session.expire_all()
    assert service.find_account_by_username(db_session=db_session, username="someone") is None
