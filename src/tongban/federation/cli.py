"""`tongban federation …`: join nodes (anchors, descriptors), run the registry authority,
look at the message log, and start a local federation on loopback."""

from __future__ import annotations

import base64
import json
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from tongban.cli_support import read_json
from tongban.config import get_settings
from tongban.errors import InvalidInput

app = typer.Typer(help="Federation between regions' nodes (跨省通办).", no_args_is_help=True)
anchor_app = typer.Typer(help="Federation anchors (trust bootstrap).", no_args_is_help=True)
node_app = typer.Typer(help="This node's descriptor.", no_args_is_help=True)
member_app = typer.Typer(help="Registry authority: list or drop nodes.", no_args_is_help=True)
registry_app = typer.Typer(help="The signed federation registry.", no_args_is_help=True)
app.add_typer(anchor_app, name="anchor")
app.add_typer(node_app, name="node")
app.add_typer(member_app, name="member")
app.add_typer(registry_app, name="registry")
console = Console()


def _session() -> Any:
    from tongban.cli import cli_session

    return cli_session()


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} 不是 JSON 对象 / is not a JSON object")
    return data


def _write_json(doc: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"written to {out}")


@app.command("init")
def init(endpoint: str = typer.Option(..., help="This node's public base URL."),
         name: str | None = typer.Option(None, help="Display name (default: node name).")
         ) -> None:
    """Set this node's federation identity (region from TONGBAN_NODE_REGION)."""
    from tongban.federation import registry

    settings = get_settings()
    with _session() as session:
        node = registry.init_node(db_session=session, settings=settings, endpoint=endpoint,
                                  name=name)
        console.print(f"node {node.region_code} {node.name} at {node.endpoint}")


@app.command("authority")
def authority(instance: str = typer.Option("tongban-local", help="Federation name.")) -> None:
    """Make this node the registry authority of a federation (key, anchor, registry)."""
    from tongban.federation import registry

    settings = get_settings()
    with _session() as session:
        doc = registry.become_authority(db_session=session, settings=settings,
                                        instance=instance)
        console.print(f"registry {instance} version {doc.version}, expires {doc.expires_at}")


@anchor_app.command("export")
def anchor_export(out: Path | None = typer.Option(None, "--out", help="File to write.")) -> None:
    """Print (or write) this federation's anchor; check its fingerprint out of band."""
    from tongban.federation import registry

    with _session() as session:
        _write_json(registry.export_anchor(db_session=session), out)


@anchor_app.command("import")
def anchor_import(file: Path = typer.Argument(..., help="Anchor JSON file.")) -> None:
    """Trust a federation's registry: its URL and authority key; then pull the registry."""
    from tongban.federation import registry, transport

    with _session() as session:
        anchor = registry.import_anchor(db_session=session, document=_read_json(file))
        pulled = transport.pull_registry(db_session=session)
        console.print(f"anchor {anchor.instance} imported; registry "
                      f"{'fetched' if pulled else 'not fetched yet'} from {anchor.registry_url}")


@node_app.command("export")
def node_export(out: Path | None = typer.Option(None, "--out")) -> None:
    """This node's descriptor, for the registry authority's `member add`."""
    from tongban.federation import registry

    with _session() as session:
        _write_json(registry.descriptor(db_session=session, settings=get_settings()), out)


@member_app.command("add")
def member_add(file: Path = typer.Argument(..., help="Node descriptor JSON.")) -> None:
    """Authority: list a node and sign a new registry version."""
    from tongban.federation import registry

    settings = get_settings()
    with _session() as session:
        member = registry.add_member(db_session=session, document=_read_json(file))
        doc = registry.issue(db_session=session, settings=settings)
        console.print(f"listed {member.region_code} {member.name}; registry v{doc.version}")


@member_app.command("remove")
def member_remove(region: str = typer.Argument(...)) -> None:
    """Authority: drop a node and sign a new registry version."""
    from tongban.federation import registry
    from tongban.identity.actor import SYSTEM_ACTOR

    settings = get_settings()
    with _session() as session:
        registry.remove_member(db_session=session, region_code=region, actor=SYSTEM_ACTOR)
        doc = registry.issue(db_session=session, settings=settings)
        console.print(f"removed {region}; registry v{doc.version}")


@registry_app.command("show")
def registry_show() -> None:
    """The registry this node acts on."""
    from tongban.federation import modes

    with _session() as session:
        view = modes.registry_view(db_session=session)
    table = Table(title=f"{view.instance} v{view.version} (expires {view.expires_at:%H:%M:%S}"
                        f"{', EXPIRED' if view.expired else ''})")
    for column in ("region", "name", "endpoint", "offered"):
        table.add_column(column)
    for node in view.nodes:
        table.add_row(node.region_code, node.name, node.endpoint, str(len(node.offered)))
    console.print(table)


@registry_app.command("refresh")
def registry_refresh() -> None:
    """Authority: sign a new version now. Member: pull it from the anchor URL now."""
    from tongban.federation import registry, transport

    settings = get_settings()
    with _session() as session:
        if registry.is_authority(settings):
            doc = registry.issue(db_session=session, settings=settings)
            console.print(f"issued v{doc.version}")
        else:
            new = transport.pull_registry(db_session=session)
            console.print("fetched a newer registry" if new else "no newer registry")


@app.command("ping")
def ping(region: str = typer.Argument(..., help="The peer's region code.")) -> None:
    """Send a ping envelope to a peer and deliver it now (checks keys, registry, receipt)."""
    from tongban.federation import service, transport

    settings = get_settings()
    with _session() as session:
        envelope = service.send(db_session=session, settings=settings, receiver=region,
                                kind="ping", payload={"note": "ping"})
    with _session() as session:
        report = transport.deliver_pending(db_session=session, settings=settings)
    console.print(f"envelope {envelope.id}: delivered {report.delivered}, failed "
                  f"{report.failed} {report.errors[:1]}")


@app.command("messages")
def messages(case: str | None = typer.Option(None, help="Only this case reference."),
             status: str | None = typer.Option(None, help="queued, delivered, failed or "
                                                "accepted."),
             limit: int = typer.Option(50)) -> None:
    """The message log (both directions) with receipt status and the last error."""
    from tongban.federation import service

    with _session() as session:
        rows = service.messages(db_session=session, case_ref=case, status=status,
                                limit=limit)
        table = Table()
        for column in ("logged", "dir", "peer", "type", "status", "sha256", "receipt",
                       "error"):
            table.add_column(column)
        for r in rows:
            table.add_row(f"{r.logged_at:%H:%M:%S}", r.direction, r.peer_region, r.type,
                          r.status, r.body_sha256[:12], "yes" if r.receipt else "no",
                          (r.last_error or "")[:80])
    console.print(table)


@app.command("parked")
def parked(limit: int = typer.Option(50)) -> None:
    """Received envelopes set aside because their handler cannot process them."""
    from tongban.federation import service

    with _session() as session:
        for r in service.parked(db_session=session, limit=limit):
            console.print(f"{r.parked_at:%Y-%m-%d %H:%M:%S} {r.type:<16} from {r.sender} "
                          f"{r.envelope_id} ({r.attempts} attempts): {r.last_error}",
                          highlight=False)


@app.command("rejections")
def rejections(limit: int = typer.Option(50)) -> None:
    """Envelopes this node refused, and why."""
    from tongban.federation import service

    with _session() as session:
        for r in service.rejections(db_session=session, limit=limit):
            console.print(f"{r.at:%H:%M:%S} {r.error:<18} from {r.claimed_sender} "
                          f"{r.envelope_id or '-'}: {r.message}", highlight=False)


@app.command("witness")
def witness_now() -> None:
    """Fetch, check and countersign every peer's latest checkpoint now."""
    from tongban.federation import witness

    with _session() as session:
        for region, result in witness.witness_peers(db_session=session,
                                                    settings=get_settings()).items():
            console.print(f"{region}: {result}")


def _forwarded_id(case: str) -> uuid.UUID:
    try:
        return uuid.UUID(case)
    except ValueError:
        raise InvalidInput(f"转办件编号应为 UUID / the forwarded case id is a UUID: {case!r}"
                           ) from None


def _acting(session: Any, username: str) -> Any:
    """The account a command acts as (its roles, scopes and person)."""
    from tongban.identity import service as identity

    account = identity.find_account_by_username(db_session=session, username=username)
    if account is None:
        raise InvalidInput(f"没有该账号 / no account {username!r}")
    return identity.actor_from_account(account)


def _material_files(specs: list[str]) -> list[Any]:
    """`CODE=PATH` options as the materials a supply carries (each file read whole, its
    size checked by the service against the node's upload limit)."""
    from tongban.federation.schemas import MaterialIn

    out = []
    for spec in specs:
        code, sep, path = spec.partition("=")
        if not sep or not code.strip() or not path.strip():
            raise InvalidInput(f"--material 应为 CODE=PATH / --material takes CODE=PATH: "
                               f"{spec!r}")
        file = Path(path.strip())
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"无法读取材料文件 / cannot read {file}: "
                               f"{exc.strerror or exc}") from None
        if not data:
            raise InvalidInput(f"材料文件为空 / {file} is empty")
        out.append(MaterialIn(code=code.strip()[:40], filename=file.name[:255],
                              content_base64=base64.b64encode(data).decode()))
    return out


@app.command("cases")
def forwarded_cases(as_user: str = typer.Option(..., "--as", help="The account: an "
                                                "applicant sees their own, an agent those "
                                                "they filed, staff of the node's region "
                                                "all of this node's."),
                    limit: int = typer.Option(50, min=1, max=500)) -> None:
    """Forwarded cases (handled in another region), newest first: the ids supply and
    withdraw take."""
    from tongban.cases.workflow import STATE_LABELS
    from tongban.federation import modes

    with _session() as session:
        rows = modes.list_forwarded(db_session=session, settings=get_settings(),
                                    actor=_acting(session, as_user), limit=limit)
        for fc in rows:  # one line each, never wrapped: the id is what scripts take
            console.print(f"{fc.id} {fc.state} ({STATE_LABELS.get(fc.state, fc.state)}) "
                          f"{fc.mode} at {fc.handling_region} "
                          f"{fc.remote_case_number or '-'} {fc.item_name}",
                          highlight=False, soft_wrap=True)


def _field_values(specs: list[str]) -> dict[str, list[str]]:
    """`NAME=VALUE` options, by field name (an array field may be given more than once)."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--field 应为 NAME=VALUE / --field takes NAME=VALUE: {spec!r}")
        out.setdefault(name.strip(), []).append(value.strip())
    return out


def _corrected(session: Any, settings: Any, actor: Any, forwarded_id: uuid.UUID,
               given: dict[str, list[str]]) -> dict[str, Any] | None:
    """The corrected form for `--field` options, checked as the portal checks its form:
    only the fields the open notice names, each value valid; None without options."""
    from tongban.federation import modes, supplements
    from tongban.web.corrections import asked_schema, corrected_form, guide_of, noticed_fields

    if not given:
        return None
    fc = modes.view(db_session=session, settings=settings, actor=actor,
                    forwarded_id=forwarded_id)
    if fc.open_notice is None:
        return None  # the supply itself says that nothing is asked
    asked = asked_schema(guide_of(session, fc.implementation_code)[1], fc)
    props = asked["properties"]
    noticed = noticed_fields(fc)
    stray = sorted(set(given) - set(noticed))
    if stray:
        raise InvalidInput(f"补正通知未要求改正这些字段 / the notice does not ask to correct "
                           f"these fields: {', '.join(stray)} (asked: "
                           f"{', '.join(noticed) or '-'})")
    unknown = sorted(set(given) - set(props))
    if unknown:
        raise InvalidInput(f"本节点没有该事项的表单,无法核对 / this node does not hold the "
                           f"item's form to check: {', '.join(unknown)}")
    twice = sorted(n for n, v in given.items() if len(v) > 1 and props[n].get("type") != "array")
    if twice:
        raise InvalidInput(f"字段只能给一次 / give each field once: {', '.join(twice)}")
    values = {n: (v if props[n].get("type") == "array" else v[0]) for n, v in given.items()}
    stored = supplements.current_form(db_session=session, settings=settings, actor=actor,
                                      forwarded_id=forwarded_id)
    try:
        return corrected_form(asked, values, stored)
    except InvalidInput as exc:
        raise InvalidInput(_field_problems(exc)) from None


def _field_problems(exc: InvalidInput) -> str:
    """A refused correction as one line: each field, its problem in Chinese and English."""
    from tongban.web.i18n import translate

    parts = [f"{d['field']}: {d['message']} / "
             f"{translate(d['key'], 'en', **d['params'])}" for d in exc.details or []]
    return f"请改正字段 / correct the fields: {'; '.join(parts)}"


@app.command("supply")
def supply(case: str = typer.Argument(..., help="The forwarded case's id (as listed here)."),
           material: list[str] = typer.Option([], "--material", help="CODE=PATH of a file "
                                              "the notice asks for; once per material."),
           field: list[str] = typer.Option([], "--field", help="NAME=VALUE: the corrected "
                                           "value of a form field the notice names; once "
                                           "per field (an array field: once per value)."),
           note: str | None = typer.Option(None, "--note", help="A note to the handling "
                                           "region."),
           as_user: str = typer.Option(..., "--as", help="The applicant or their agent "
                                       "(全程网办), or the receiving window's clerk "
                                       "(异地代收).")) -> None:
    """补正 from here: answer the handling region's open notice with the files it asks for
    and the corrected values of the form fields it names."""
    from tongban.federation import supplements
    from tongban.federation.schemas import SupplyIn

    forwarded_id = _forwarded_id(case)
    given = _field_values(field)
    materials = _material_files(material)
    settings = get_settings()
    with _session() as session:
        actor = _acting(session, as_user)
        form = _corrected(session, settings, actor, forwarded_id, given)
        out = supplements.supply(db_session=session, settings=settings, actor=actor,
                                 forwarded_id=forwarded_id,
                                 data=SupplyIn(materials=materials, form_data=form,
                                               note=note or None))
    console.print(f"{out.id}: 补正材料已发送 / supplement sent to {out.handling_region} "
                  f"({len(materials)} file(s), {len(given)} field(s)); waiting for the "
                  f"handling region", highlight=False)


@app.command("withdraw")
def withdraw(case: str = typer.Argument(..., help="The forwarded case's id."),
             reason: str = typer.Option(..., "--reason", help="Why (required)."),
             as_user: str = typer.Option(..., "--as", help="The applicant (or the receiving "
                                         "window's clerk, on the applicant's request).")
             ) -> None:
    """撤回申请 from here: the handling region withdraws its case if still undecided."""
    from tongban.federation import supplements
    from tongban.federation.schemas import WithdrawIn

    forwarded_id = _forwarded_id(case)
    if not reason.strip():
        raise InvalidInput("请填写撤回原因 / --reason must not be empty")
    settings = get_settings()
    with _session() as session:
        out = supplements.withdraw(db_session=session, settings=settings,
                                   actor=_acting(session, as_user), forwarded_id=forwarded_id,
                                   data=WithdrawIn(reason=reason.strip()[:2000]))
    console.print(f"{out.id}: 撤回申请已发送 / withdrawal sent to {out.handling_region}; "
                  f"waiting for the handling region", highlight=False)


@app.command("apply")
def apply(code: str = typer.Argument(..., help="The implementation code (实施编码) another "
                                     "node handles."),
          form: Path = typer.Option(..., "--form", help="The application form: a JSON "
                                    "object of the item's form fields."),
          material: list[str] = typer.Option([], "--material", help="CODE=PATH of a "
                                             "material's file; once per material."),
          key: str | None = typer.Option(None, "--key", help="An idempotency key: the same "
                                         "key again answers with the same application."),
          as_user: str = typer.Option(..., "--as", help="The applicant (or an agent, for "
                                      "themself).")) -> None:
    """全程网办 from here: apply for an item the federation registry says another node
    handles; the form and files go there, and `cases` lists the application."""
    from tongban.federation import modes
    from tongban.federation.schemas import ForwardIn

    try:
        data = ForwardIn(implementation_code=code, mode="fully_online",
                         form_data=_read_json(form), materials=_material_files(material),
                         idempotency_key=key)
    except ValidationError as exc:
        raise InvalidInput("申请无效 / invalid application: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    with _session() as session:
        out = modes.forward(db_session=session, settings=get_settings(),
                            actor=_acting(session, as_user), data=data)
    console.print(f"{out.id}: 已提交,转至办理地 / forwarded to {out.handling_region} "
                  f"({len(data.materials)} file(s)); follow it with `tongban federation cases`",
                  highlight=False, soft_wrap=True)


@app.command("up")
def up(nodes: int = typer.Option(3, "--nodes", min=1, max=3),
       base_port: int = typer.Option(8101, "--base-port"),
       directory: Path = typer.Option(Path("var/federation"), "--dir"),
       seed_only: bool = typer.Option(False, "--seed-only")) -> None:
    """Start a local federation on loopback: one process and one SQLite database per node,
    seeded and federated; Ctrl-C stops them all."""
    from tongban.federation import demo

    if directory.exists():
        shutil.rmtree(directory)
    specs = demo.prepare(base=directory, count=nodes, base_port=base_port, say=console.print)
    if seed_only:
        return
    def _stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the children too, like Ctrl-C

    signal.signal(signal.SIGTERM, _stop)
    procs = [demo.start(spec) for spec in specs]
    try:
        for spec in specs:
            demo.wait_healthy(spec)
        console.print(f"[bold]local federation {demo.INSTANCE}[/bold] "
                      f"(password {demo.PASSWORD}):")
        for spec, (_r, _n, _regions, people) in zip(specs, demo.NODES, strict=False):
            logins = ", ".join([p[0] for p in people] + [f"clerk.{spec.name}",
                                                         f"reviewer.{spec.name}"])
            console.print(f"  {spec.region} {spec.name:<10} {spec.url}  logins: {logins}")
        console.print("Ctrl-C stops all nodes.")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()
        console.print("stopped.")
