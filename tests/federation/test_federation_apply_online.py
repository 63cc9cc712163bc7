"""全程网办 from the portal: an applicant at their home node (四川) applies online for an
item the federation registry says Shanghai handles; the draft goes there (one forwarded
case however often submit is pressed) and the application's page at home follows it. An
item Shanghai handles only at a window is refused on every apply page, nothing written;
`tongban federation apply` files the same from the CLI."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.federation.harness import Federation, Node
from tests.federation.test_federation_modes import (
    GJJ_SH,
    HUKOU_IN_SH,
    PDF,
    code_of,
    form,
    handling_case,
    view,
)
from tests.federation.test_federation_supply_at_home import (  # noqa: F401  (fixture)
    _main,
    _signed_in,
    at_home,
)
from tests.web.browser import BrowserClient
from tongban import cli
from tongban.cases.models import Case, CaseMaterial
from tongban.federation.models import ForwardedCase
from tongban.outbox.models import OutboxMessage
from tongban.web import service as web
from tongban.web.models import Draft

DRAFT = re.compile(r'name="_draft" value="([^"]+)"')


def _draft_key(client: BrowserClient, code: str) -> str:
    page = client.get(f"/apply/{code}")
    assert page.status_code == 200, page.text
    found = DRAFT.search(page.text)
    assert found, "the form carries its draft key"
    return found.group(1)


def _fill(client: BrowserClient, code: str, key: str) -> None:
    """The form (张伟's own data) and the one upload the handling region needs."""
    typed = client.post(f"/apply/{code}", data={"_draft": key, "_go": "next",
                                                **form("zhangwei", GJJ_SH)},
                        follow_redirects=False)
    assert typed.status_code == 303, typed.text
    materials = client.get(f"/apply/{code}/materials", params={"draft": key})
    assert materials.status_code == 200
    # the handling node cannot use this node's shared data or e-licences: all uploaded
    assert 'data-shared-material="gjj_info"' not in materials.text
    assert "办理地无法调用本地电子证照" in materials.text
    up = client.post(f"/apply/{code}/materials/application_form", data={"draft": key},
                     files={"file": ("申请表.pdf", PDF, "application/pdf")},
                     follow_redirects=False)
    assert up.status_code == 303, up.text


def _forwarded_with_key(node: Node, key: str) -> list[ForwardedCase]:
    with node.read() as s:
        return list(s.scalars(select(ForwardedCase).where(ForwardedCase.idempotency_key == key)))


def test_an_applicant_files_fully_online_on_the_home_portal_and_shanghai_gets_it(
        fed: Federation) -> None:
    code = code_of(fed.sc, GJJ_SH)
    client = _signed_in(fed.sc, "zhangwei")
    guide = client.get(f"/guide/{code}")
    assert 'id="handled-elsewhere"' in guide.text and "上海市节点办理（全程网办）" in guide.text
    assert f'href="/apply/{code}"' in guide.text
    assert "handled by the 上海市 node (fully online)" in client.get(
        f"/guide/{code}?lang=en").text
    client.get("/?lang=zh")  # the choice sticks (a cookie): back to Chinese
    local_cases = fed.sc.count(Case)

    key = _draft_key(client, code)
    _fill(client, code, key)
    review = client.get(f"/apply/{code}/review", params={"draft": key})
    assert 'id="handled-elsewhere"' in review.text and "申请表.pdf" in review.text
    assert "your application goes there" in client.get(
        f"/apply/{code}/review", params={"draft": key, "lang": "en"}).text
    client.get("/?lang=zh")

    first = client.post(f"/apply/{code}/submit", data={"draft": key}, follow_redirects=False)
    assert first.status_code == 303, first.text
    fc_id = first.headers["location"].removeprefix("/my/forwarded/").split("?")[0]
    second = client.post(f"/apply/{code}/submit", data={"draft": key}, follow_redirects=False)
    assert second.headers["location"] == f"/my/forwarded/{fc_id}"
    assert [str(fc.id) for fc in _forwarded_with_key(fed.sc, key)] == [fc_id]
    assert fed.sc.count(Case) == local_cases  # nothing filed here
    landed = client.get(first.headers["location"])
    assert landed.status_code == 200 and 'id="submitted"' in landed.text
    # the draft is done: the form starts a new one, the old one is not edited
    assert _draft_key(client, code) != key
    assert client.post(f"/apply/{code}", data={"_draft": key, "_go": "save",
                                               **form("zhangwei", GJJ_SH)}).status_code == 409

    fed.pump()
    number = view(fed.sc, fc_id, "zhangwei")["remote_case_number"]
    assert number, "Shanghai opened no case"
    case = handling_case(fed.sh, number)
    assert case.implementation_code == code and case.channel == "online"
    assert case.form_data == form("zhangwei", GJJ_SH)
    with fed.sh.read() as s:
        materials = list(s.scalars(select(CaseMaterial).where(CaseMaterial.case_id == case.id)))
    assert [(m.material_code, m.filename, m.sha256) for m in materials] == [
        ("application_form", "申请表.pdf", hashlib.sha256(PDF).hexdigest())]
    page = client.get(f"/my/forwarded/{fc_id}").text
    assert number in page and 'id="withdraw-form"' in page


def test_two_presses_at_once_make_one_forwarded_case(fed: Federation) -> None:
    """Two submits of one draft in flight together (threads): the draft's row lock lets
    one forward it, and the other lands on the same forwarded case."""
    if fed.sc.engine.dialect.name != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")
    code = code_of(fed.sc, GJJ_SH)
    client = _signed_in(fed.sc, "zhangwei")
    key = _draft_key(client, code)
    _fill(client, code, key)
    client.get(f"/apply/{code}/review", params={"draft": key})
    barrier = threading.Barrier(2)
    where: list[str] = []

    def press() -> None:
        barrier.wait()
        response = client.post(f"/apply/{code}/submit", data={"draft": key},
                               follow_redirects=False)
        where.append(f"{response.status_code} {response.headers.get('location', '')}")

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    found = _forwarded_with_key(fed.sc, key)
    assert len(found) == 1
    assert sorted(w.split("?")[0] for w in where) == [f"303 /my/forwarded/{found[0].id}"] * 2


def test_an_agent_files_it_on_the_portal_for_the_principal_they_act_for(
        fed: Federation) -> None:
    from tests.federation.test_federation_agent_forwarded import _agent

    agent, authorisation_id = _agent(fed)
    code = code_of(fed.sc, GJJ_SH)
    client = _signed_in(fed.sc, agent)
    client.get("/agent/principals")
    chosen = client.post("/agent/act-for", data={"authorisation_id": str(authorisation_id),
                                                 "next": f"/apply/{code}"},
                         follow_redirects=False)
    assert chosen.status_code == 303, chosen.text
    key = _draft_key(client, code)
    _fill(client, code, key)
    review = client.get(f"/apply/{code}/review", params={"draft": key}).text
    assert 'id="apply-for"' in review and "张伟" in review
    sent = client.post(f"/apply/{code}/submit", data={"draft": key}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith("/my/forwarded/")
    [fc] = _forwarded_with_key(fed.sc, key)
    assert fc.applicant_person_id == fed.sc.people["zhangwei"]
    assert fc.agent_authorisation_id == authorisation_id
    assert fc.received_by_account_id == fed.sc.actors[agent].account_id
    fed.pump()
    number = view(fed.sc, str(fc.id), "zhangwei")["remote_case_number"]  # the principal's
    assert handling_case(fed.sh, number).form_data["applicant_name"] == "张伟"


def _writes(node: Node) -> tuple[int, ...]:
    return (node.count(Draft), node.count(ForwardedCase), node.count(Case),
            node.count(OutboxMessage))


def test_an_item_shanghai_handles_only_at_a_window_is_refused_and_nothing_written(
        fed: Federation) -> None:
    code = code_of(fed.sc, HUKOU_IN_SH)  # 异地代收代办 and 多地联办, not 全程网办
    client = _signed_in(fed.sc, "zhangwei")
    guide = client.get(f"/guide/{code}")
    assert 'id="apply-at-window"' in guide.text and "请到窗口办理（异地代收代办）" in guide.text
    assert f'href="/apply/{code}"' not in guide.text
    assert "apply at a service window" in client.get(f"/guide/{code}?lang=en").text
    client.get("/?lang=zh")
    with fed.sc.session() as s:  # a draft begun before the registry named Shanghai
        key = web.open_draft(db_session=s, actor=fed.sc.actors["zhangwei"],
                             implementation_code=code).key
    before = _writes(fed.sc)
    for method, path, data in (
            ("GET", f"/apply/{code}", None),
            ("POST", f"/apply/{code}", {"_draft": key, **form("zhangwei", HUKOU_IN_SH)}),
            ("GET", f"/apply/{code}/materials?draft={key}", None),
            ("POST", f"/apply/{code}/materials/application_form", {"draft": key}),
            ("GET", f"/apply/{code}/review?draft={key}", None),
            ("POST", f"/apply/{code}/submit", {"draft": key})):
        files = ({"file": ("a.pdf", PDF, "application/pdf")}
                 if path.endswith("application_form") else None)
        response = client.request(method, path, data=data, files=files)
        assert response.status_code == 409, (path, response.status_code)
        assert "请到窗口办理（异地代收代办）" in response.text, path
    assert _writes(fed.sc) == before
    with fed.sc.read() as s:
        assert web.get_draft(db_session=s, key=key).form == {}  # what was posted is not kept


def test_the_cli_files_fully_online_and_refuses_in_one_line(
        fed: Federation, at_home: Node, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code = code_of(at_home, GJJ_SH)
    user = at_home.usernames["zhangwei"]
    form_file = tmp_path / "form.json"
    form_file.write_text(json.dumps(form("zhangwei", GJJ_SH), ensure_ascii=False),
                         encoding="utf-8")
    scan = tmp_path / "申请表.pdf"
    scan.write_bytes(PDF)
    before = at_home.count(ForwardedCase)
    bad_form = tmp_path / "list.json"
    bad_form.write_text("[1]", encoding="utf-8")
    for args, says in (
            ([code_of(at_home, HUKOU_IN_SH), "--form", str(form_file)],
             "does not offer this cross-region mode"),
            (["5101", "--form", str(form_file)], "implementation_code"),
            ([code, "--form", str(tmp_path / "missing.json")], "cannot read"),
            ([code, "--form", str(bad_form)], "JSON object"),
            ([code, "--form", str(form_file), "--material", "application_form"], "CODE=PATH"),
            ([code, "--form", str(form_file), "--as", "nobody"], "no account")):
        exit_code, err = _main(capsys, monkeypatch, "apply", *args,
                               *([] if "--as" in args else ["--as", user]))
        assert exit_code == 1 and says in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert at_home.count(ForwardedCase) == before

    argv = ["federation", "apply", code, "--form", str(form_file), "--material",
            f"application_form={scan}", "--as", user]
    result = CliRunner().invoke(cli.app, argv, catch_exceptions=False)
    assert result.exit_code == 0 and "forwarded to 310000" in result.output, result.output
    fc_id = str(uuid.UUID(result.output.split(":")[0].strip()))
    fed.pump()
    number = view(fed.sc, fc_id, "zhangwei")["remote_case_number"]
    case = handling_case(fed.sh, number)
    assert case.form_data["bank_account"] == "6222020200112233445"
    again = CliRunner().invoke(cli.app, [*argv, "--key", "cli-once"], catch_exceptions=False)
    twice = CliRunner().invoke(cli.app, [*argv, "--key", "cli-once"], catch_exceptions=False)
    assert again.output.split(":")[0] == twice.output.split(":")[0]  # one case per key
    assert at_home.count(ForwardedCase) == before + 2

