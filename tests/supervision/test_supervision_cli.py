"""`tongban supervision ratings|complaints|orders|warnings …`: each step of the three
workflows from a terminal, as an account (--as), in one transaction; a refused step is
one line on stderr and exit code 1, and writes nothing."""

from __future__ import annotations

import sys
import uuid

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.cases.conftest import World, at
from tests.supervision.conftest import approved_case
from tongban import cli
from tongban.supervision.complaints.models import Complaint, ComplaintEvent
from tongban.supervision.ratings.models import Rating, Rectification
from tongban.supervision.warnings.models import SupervisionOrder


def _run(world: World, *args: str) -> str:
    """Run `tongban supervision …`; its output (the command must succeed)."""
    result = CliRunner().invoke(cli.app, ["supervision", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    world.db.expire_all()
    return result.output


def _fails(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           *args: str) -> str:
    """Run it as the installed command does; its one line on stderr (exit code 1)."""
    monkeypatch.setattr(sys, "argv", ["tongban", "supervision", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_bad_rating_is_handled_to_the_raters_verdict_from_the_cli(
        cli_env: None, world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = approved_case(world)
    world.db.commit()
    u = world.usernames
    given = _run(world, "ratings", "rate", case.number, "--as", u["applicant"], "--level",
                 "2", "--comment", "窗口推诿")
    assert "2 不满意" in given and "visit_pending" in given
    rating_id = str(world.db.scalar(select(Rating.id)))
    queued = _run(world, "ratings", "list", "--as", u["reviewer"])
    assert rating_id in queued and case.number in queued
    # the rater cannot make the department's return visit
    err = _fails(capsys, monkeypatch, "ratings", "return-visit", rating_id, "--as",
                 u["applicant"], "--finding", "plan", "--reason", "x", "--days", "3")
    assert "办理部门" in err
    err = _fails(capsys, monkeypatch, "ratings", "return-visit", rating_id, "--as",
                 u["reviewer"], "--finding", "plan", "--reason", "电话回访属实", "--days", "99")
    assert "整改期限须为1到15个工作日" in err
    assert world.db.scalar(select(Rectification.state)) == "visit_pending"  # nothing written
    _run(world, "ratings", "return-visit", rating_id, "--as", u["reviewer"], "--finding",
         "plan", "--reason", "电话回访属实", "--days", "5")
    _run(world, "ratings", "rectify", rating_id, "--as", u["reviewer"], "--outcome",
         "窗口增设导办员")
    shown = _run(world, "ratings", "show", rating_id, "--as", u["applicant"])
    assert "awaiting_verdict" in shown and "accept (满意,办结)" in shown
    _run(world, "ratings", "verdict", rating_id, "--as", u["applicant"], "--accept")
    handling = world.db.scalar(select(Rectification))
    assert handling is not None and handling.state == "closed"
    assert (handling.outcome, handling.last_event_seq) == ("窗口增设导办员", 4)


def test_an_appeal_is_decided_by_a_supervisor_from_the_cli(
        cli_env: None, world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = approved_case(world)
    world.db.commit()
    u = world.usernames
    _run(world, "ratings", "rate", case.number, "--as", u["applicant"], "--level", "1")
    rating_id = str(world.db.scalar(select(Rating.id)))
    _run(world, "ratings", "appeal", rating_id, "--as", u["reviewer"], "--reason",
         "与办件无关的辱骂", "--evidence", "评价内容截图")
    err = _fails(capsys, monkeypatch, "ratings", "decide-appeal", rating_id, "--as",
                 u["reviewer"], "--uphold", "--reason", "自己裁决")
    assert "监督人员" in err
    _run(world, "ratings", "decide-appeal", rating_id, "--as", u["supervisor"], "--uphold",
         "--reason", "证据充分")
    rating = world.db.scalar(select(Rating))
    assert rating is not None and rating.annulled
    err = _fails(capsys, monkeypatch, "ratings", "show", "not-an-id", "--as", u["reviewer"])
    assert "rating_id is not a UUID" in err
    err = _fails(capsys, monkeypatch, "ratings", "show", str(uuid.uuid4()), "--as", "nobody")
    assert "no such account: nobody" in err


def test_a_ticket_is_routed_returned_reassigned_replied_and_closed_from_the_cli(
        cli_env: None, world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    u = world.usernames
    filed = _run(world, "complaints", "file", "--as", u["applicant"], "--category",
                 "service", "--subject", "窗口排队太久", "--body", "锦江区政务中心排队两小时",
                 "--region", "510104")
    number = world.db.scalar(select(Complaint.number))
    assert number is not None and f"complaint {number} received" in filed
    assert number in _run(world, "complaints", "list", "--as", u["supervisor"])
    _run(world, "complaints", "route", number, "--as", u["supervisor"], "--department",
         str(world.health_id))
    err = _fails(capsys, monkeypatch, "complaints", "send-back", number, "--as",
                 u["reviewer_health"], "--reason-code", "nonsense", "--reason", "不是我们")
    assert "退单原因无效" in err
    _run(world, "complaints", "send-back", number, "--as", u["reviewer_health"],
         "--reason-code", "not_our_duty", "--reason", "属市场监管职责")
    _run(world, "complaints", "reassign", number, "--as", u["supervisor"], "--department",
         str(world.market_id), "--reason", "按职责改派")
    _run(world, "complaints", "reply", number, "--as", u["reviewer"], "--text",
         "已增开两个窗口")
    shown = _run(world, "complaints", "show", number, "--as", u["applicant"])
    assert "reply: 已增开两个窗口" in shown and "[not_our_duty]" in shown
    _run(world, "complaints", "verdict", number, "--as", u["applicant"], "--satisfied")
    ticket = world.db.scalar(select(Complaint))
    assert ticket is not None and (ticket.state, ticket.returns) == ("closed", 1)
    assert ticket.department_id == world.market_id


def test_a_duplicate_ticket_is_merged_from_the_cli(
        cli_env: None, world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    u = world.usernames
    for _ in range(2):
        _run(world, "complaints", "file", "--as", u["applicant"], "--category", "service",
             "--subject", "窗口排队太久", "--body", "锦江区政务中心排队两小时", "--region",
             "510104")
    first, second = world.db.scalars(select(Complaint.number).order_by(Complaint.number))
    assert first in _run(world, "complaints", "duplicates", second, "--as", u["supervisor"])
    err = _fails(capsys, monkeypatch, "complaints", "merge", second, "--as", u["supervisor"],
                 "--into", second)
    assert "只能并入" in err
    _run(world, "complaints", "merge", second, "--as", u["supervisor"], "--into", first)
    states = dict(world.db.execute(select(Complaint.number, Complaint.state)).all())
    assert states == {first: "received", second: "merged"}
    before = world.db.scalar(select(func.count()).select_from(ComplaintEvent))
    err = _fails(capsys, monkeypatch, "complaints", "reply", first, "--as", u["applicant"],
                 "--text", "自问自答")
    assert "not allowed in this state" in err
    assert world.db.scalar(select(func.count()).select_from(ComplaintEvent)) == before


def test_an_order_is_issued_answered_and_closed_from_the_cli(
        cli_env: None, world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = world.submit(when=at(2026, 9, 21, 9))
    world.db.commit()
    u = world.usernames
    err = _fails(capsys, monkeypatch, "orders", "issue", case.number, "--as", u["supervisor"],
                 "--kind", "scold", "--text", "快办")
    assert "kind must be supervise or correct" in err
    issued = _run(world, "orders", "issue", case.number, "--as", u["supervisor"], "--text",
                  "请三日内完成受理", "--days", "3")
    order_id = str(world.db.scalar(select(SupervisionOrder.id)))
    assert "督办" in issued and order_id in issued
    assert order_id in _run(world, "orders", "list", "--as", u["reviewer"], "--state", "open")
    err = _fails(capsys, monkeypatch, "orders", "close", order_id, "--as", u["supervisor"])
    assert "not allowed in this state" in err
    _run(world, "orders", "answer", order_id, "--as", u["reviewer"], "--text", "已受理")
    _run(world, "orders", "close", order_id, "--as", u["supervisor"])
    shown = _run(world, "orders", "show", order_id, "--as", u["supervisor"])
    assert "closed" in shown and "answer (reviewer): 已受理" in shown and "#3" in shown
    assert "no escalated warnings" in _run(world, "warnings", "list", "--as", u["supervisor"])
