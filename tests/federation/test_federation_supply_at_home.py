"""全程网办: the applicant answers the handling region's 补正 notice, or withdraws, from
the home node, through its portal page (我的办件 → the forwarded application) and the CLI
(`tongban federation supply | withdraw --as`); the handling node applies it, and the
clock resumes when it was supplied at home."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.federation.harness import PASSWORD, Federation, Node
from tests.federation.test_federation_modes import act, complete, handling_case, view
from tests.federation.test_federation_supplements import ITEMS, SCAN, _online
from tests.web.browser import BrowserClient
from tongban import cli
from tongban.cases.models import CaseMaterial, Pause
from tongban.config import get_settings
from tongban.federation.models import ForwardedCaseEvent, InboxEnvelope


def _signed_in(node: Node, who: str) -> BrowserClient:
    """A browser-like client of the node's own app, signed in as `who`."""
    client = BrowserClient(node.client.app, base_url=node.url)
    client.get("/login")
    signed = client.post("/login", data={"username": node.usernames[who],
                                         "password": PASSWORD, "next": "/my/cases"},
                         follow_redirects=False)
    assert signed.status_code == 303, signed.text
    client.get(signed.headers["location"])
    return client


def _asked_after_acceptance(fed: Federation) -> tuple[str, str]:
    """张伟's online application, accepted at Shanghai, then a 补正 notice (the clock
    pauses), mirrored at home; (forwarded id, Shanghai's case number)."""
    fc_id, number = _online(fed)
    act(fed.sh, number, "clerk", "pre_review_pass")
    complete(fed.sh, number)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "request_supplement", reason="请补正申请表", items=ITEMS)
    assert handling_case(fed.sh, number).paused
    fed.pump()
    return fc_id, number


def _sent(node: Node, fc_id: str, action: str) -> int:
    return node.count(ForwardedCaseEvent,
                      ForwardedCaseEvent.forwarded_case_id == uuid.UUID(fc_id),
                      ForwardedCaseEvent.action == action)


def test_the_applicant_supplies_at_home_through_the_portal_and_the_clock_resumes(
        fed: Federation) -> None:
    fc_id, number = _asked_after_acceptance(fed)
    client = _signed_in(fed.sc, "zhangwei")
    assert f'href="/my/forwarded/{fc_id}"' in client.get("/my/cases").text
    page = client.get(f"/my/forwarded/{fc_id}")
    assert page.status_code == 200
    assert 'id="supplement"' in page.text and "申请表未签名" in page.text
    assert "请补正申请表" in page.text
    assert 'name="file_application_form"' in page.text and 'name="csrf_token"' in page.text
    assert 'id="withdraw-form"' in page.text
    assert "The handling region asks for a supplement" in client.get(
        f"/my/forwarded/{fc_id}?lang=en").text

    empty = client.post(f"/my/forwarded/{fc_id}/supply", data={"note": "已签名"})
    assert empty.status_code == 422 and "请上传补正通知要求的材料" in empty.text
    assert _sent(fed.sc, fc_id, "supplied_here") == 0

    sent = client.post(f"/my/forwarded/{fc_id}/supply", data={"note": "已签名"},
                       files={"file_application_form": ("申请表(已签名).pdf", SCAN,
                                                        "application/pdf")},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    waiting = client.get(f"/my/forwarded/{fc_id}", params={"lang": "zh"})
    assert 'id="supply-sent"' in waiting.text and "等待办理地处理" in waiting.text
    assert 'id="supply-form"' not in waiting.text
    again = client.post(f"/my/forwarded/{fc_id}/supply",
                        files={"file_application_form": ("申请表.pdf", SCAN,
                                                         "application/pdf")})
    assert again.status_code == 409 and "补正材料已发送" in again.text
    assert _sent(fed.sc, fc_id, "supplied_here") == 1

    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "accepted" and not case.paused
    with fed.sh.read() as s:
        pause = s.scalar(select(Pause).where(Pause.case_id == case.id))
        inbox = s.scalars(select(InboxEnvelope).where(InboxEnvelope.type == "case.supply",
                                                      InboxEnvelope.case_ref == fc_id)).one()
        supplied = s.scalars(select(CaseMaterial).where(
            CaseMaterial.case_id == case.id, CaseMaterial.material_code == "application_form",
            CaseMaterial.superseded_by.is_(None))).one()
    # the clock resumed when 张伟 pressed the button at home, not when Shanghai got it
    assert pause is not None and pause.ended_at == inbox.created_at
    assert inbox.processed_at is not None and inbox.processed_at > pause.ended_at
    assert supplied.filename == "申请表(已签名).pdf"
    after = client.get(f"/my/forwarded/{fc_id}").text
    assert 'id="supplement"' not in after and 'data-state="accepted"' in after


def test_only_the_applicant_supplies_from_the_portal_and_a_forged_post_is_refused(
        fed: Federation) -> None:
    fc_id, _ = _asked_after_acceptance(fed)
    files = {"file_application_form": ("申请表.pdf", SCAN, "application/pdf")}
    clerk = _signed_in(fed.sc, "clerk")  # staff of the node see the case, but it is not theirs
    page = clerk.get(f"/my/forwarded/{fc_id}")
    assert page.status_code == 200
    assert clerk.post(f"/my/forwarded/{fc_id}/supply", files=files).status_code == 403
    applicant = _signed_in(fed.sc, "zhangwei")
    applicant.get(f"/my/forwarded/{fc_id}")
    applicant.send_csrf = False
    assert applicant.post(f"/my/forwarded/{fc_id}/supply", files=files).status_code == 403
    assert _sent(fed.sc, fc_id, "supplied_here") == 0


def test_the_applicant_withdraws_at_home_with_a_reason_and_a_refusal_comes_back(
        fed: Federation) -> None:
    fc_id, number = _online(fed)
    client = _signed_in(fed.sc, "zhangwei")
    client.get(f"/my/forwarded/{fc_id}")
    blank = client.post(f"/my/forwarded/{fc_id}/withdraw", data={"reason": "  "})
    assert blank.status_code == 422 and "请填写撤回原因" in blank.text
    assert _sent(fed.sc, fc_id, "withdrawal_sent") == 0
    sent = client.post(f"/my/forwarded/{fc_id}/withdraw", data={"reason": "不再办理"},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    waiting = client.get(f"/my/forwarded/{fc_id}").text
    assert 'id="withdrawal-sent"' in waiting and 'id="withdraw-form"' not in waiting
    twice = client.post(f"/my/forwarded/{fc_id}/withdraw", data={"reason": "再次"})
    assert twice.status_code == 409 and "撤回申请已发送" in twice.text
    fed.pump()
    assert handling_case(fed.sh, number).state == "withdrawn"
    done = client.get(f"/my/forwarded/{fc_id}").text
    assert 'data-state="withdrawn"' in done and 'id="withdraw-form"' not in done

    late_id, late = _online(fed)
    act(fed.sh, late, "clerk", "refuse", reason="不属于受理范围")  # not yet mirrored at home
    client.get(f"/my/forwarded/{late_id}")
    assert client.post(f"/my/forwarded/{late_id}/withdraw", data={"reason": "不再办理"},
                       follow_redirects=False).status_code == 303
    fed.pump()
    refused = client.get(f"/my/forwarded/{late_id}").text
    assert 'id="request-refused"' in refused and 'data-code="action_not_allowed"' in refused
    assert 'id="withdraw-form"' not in refused  # decided: nothing to withdraw any more


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def at_home(fed: Federation, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    node = fed.sc
    for name, value in (("TONGBAN_DATABASE_URL", node.settings.database_url),
                        ("TONGBAN_VAR_DIR", str(node.settings.var_dir)),
                        ("TONGBAN_NODE_REGION", node.region),
                        ("TONGBAN_NODE_NAME", node.name),
                        ("TONGBAN_DATA_KEY", str(node.settings.data_key)),
                        ("TONGBAN_INDEX_KEY", str(node.settings.index_key))):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield node
    get_settings.cache_clear()


def _main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
          *args: str) -> tuple[int, str]:
    """`tongban federation …` as the shell runs it: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tongban", "federation", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return int(exc.value.code or 0), capsys.readouterr().err


def test_the_cli_supplies_and_withdraws_as_the_applicant(
        fed: Federation, at_home: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fc_id, number = _asked_after_acceptance(fed)
    scan = tmp_path / "申请表(已签名).pdf"
    scan.write_bytes(SCAN)
    user = at_home.usernames["zhangwei"]
    monkeypatch.setenv("COLUMNS", "200")
    listed = CliRunner().invoke(cli.app, ["federation", "cases", "--as", user],
                                catch_exceptions=False)
    assert listed.exit_code == 0 and fc_id in listed.output, listed.output
    assert "supplement_in_process" in listed.output
    for args, says in (
            (["--material", f"application_form={tmp_path / 'missing.pdf'}"], "cannot read"),
            (["--material", "application_form"], "CODE=PATH"),
            (["--material", f"id_card={scan}"], "id_card"),
            ([], "请上传补正通知要求的材料"),
            (["--material", f"application_form={scan}", "--as", "nobody"], "no account")):
        code, err = _main(capsys, monkeypatch, "supply", fc_id, *args,
                          *([] if "--as" in args else ["--as", user]))
        assert code == 1 and says in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, err = _main(capsys, monkeypatch, "supply", "not-a-case", "--as", user)
    assert code == 1 and "UUID" in err
    assert _sent(at_home, fc_id, "supplied_here") == 0

    result = CliRunner().invoke(cli.app, ["federation", "supply", fc_id, "--material",
                                          f"application_form={scan}", "--note", "已签名",
                                          "--as", user], catch_exceptions=False)
    assert result.exit_code == 0 and "supplement sent" in result.output, result.output
    code, err = _main(capsys, monkeypatch, "supply", fc_id, "--material",
                      f"application_form={scan}", "--as", user)
    assert code == 1 and "补正材料已发送" in err
    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "accepted" and not case.paused
    assert view(fed.sc, fc_id, "zhangwei")["open_notice"] is None

    code, err = _main(capsys, monkeypatch, "withdraw", fc_id, "--reason", " ", "--as", user)
    assert code == 1 and "reason" in err
    code, err = _main(capsys, monkeypatch, "withdraw", fc_id, "--reason", "不再办理",
                      "--as", at_home.usernames["clerk"])
    assert code == 1 and "only the applicant" in err  # a 全程网办 case is the applicant's
    result = CliRunner().invoke(cli.app, ["federation", "withdraw", fc_id, "--reason",
                                          "已在本地办理", "--as", user], catch_exceptions=False)
    assert result.exit_code == 0 and "withdrawal sent" in result.output, result.output
    fed.pump()
    assert handling_case(fed.sh, number).state == "withdrawn"


def test_a_field_the_notice_names_is_corrected_from_home(fed: Federation) -> None:
    fc_id, number = _online(fed)
    act(fed.sh, number, "clerk", "request_supplement", reason="请核对迁出地",
        items=[{"field": "from_region", "problem": "迁出地与缴存地不符"}])
    fed.pump()
    client = _signed_in(fed.sc, "zhangwei")
    page = client.get(f"/my/forwarded/{fc_id}").text
    assert 'id="sp-fields"' in page and 'name="fd_from_region"' in page
    assert 'value="510104"' in page  # what was sent, to correct
    assert 'name="file_' not in page  # no material is asked for
    cleared = client.post(f"/my/forwarded/{fc_id}/supply", data={"fd_from_region": ""})
    assert cleared.status_code == 422 and 'data-field-error="from_region"' in cleared.text
    assert _sent(fed.sc, fc_id, "supplied_here") == 0
    sent = client.post(f"/my/forwarded/{fc_id}/supply", data={"fd_from_region": "510100"},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "submitted" and case.form_data["from_region"] == "510100"
    assert case.form_data["applicant_name"] == "张伟"  # the rest of the form is kept


def test_the_cli_corrects_the_fields_the_notice_names_and_refuses_others_in_one_line(
        fed: Federation, at_home: Node, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fc_id, number = _online(fed)
    act(fed.sh, number, "clerk", "request_supplement", reason="请核对迁出地和电话",
        items=[{"field": "from_region", "problem": "迁出地与缴存地不符"},
               {"field": "phone", "problem": "电话无法接通"}])
    fed.pump()
    user = at_home.usernames["zhangwei"]
    for args, says in (
            (["--field", "bank_name=中国银行"], "does not ask to correct these fields: bank_name"),
            (["--field", "from_region=5101"], "from_region: 至少 6 个字符 / At least 6 characters"),
            (["--field", "from_region=51010X"], "from_region: 格式不正确 / Invalid format"),
            (["--field", "phone="], "phone: 此项为必填项 / This field is required"),
            (["--field", "phone=13900000002", "--field", "phone=13900000003"], "once: phone"),
            (["--field", "from_region"], "NAME=VALUE")):
        code, err = _main(capsys, monkeypatch, "supply", fc_id, *args, "--as", user)
        assert code == 1 and says in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _sent(at_home, fc_id, "supplied_here") == 0

    result = CliRunner().invoke(cli.app, ["federation", "supply", fc_id, "--field",
                                          "from_region=510100", "--field", "phone=13900000002",
                                          "--as", user], catch_exceptions=False)
    assert result.exit_code == 0 and "2 field(s)" in result.output, result.output
    fed.pump()
    case = handling_case(fed.sh, number)
    assert case.state == "submitted"
    assert case.form_data["from_region"] == "510100" and case.form_data["phone"] == "13900000002"
    assert case.form_data["bank_account"] == "6222020200112233445"  # the rest is kept
