"""`tongban federation …`: join nodes (anchors, descriptors), run the registry authority,
look at the message log, and start a local federation on loopback."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"无法读取 JSON 文件 / cannot read JSON from {path}: {exc}") from exc
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
             limit: int = typer.Option(50)) -> None:
    """The message log (both directions) with receipt status."""
    from tongban.federation import service

    with _session() as session:
        rows = service.messages(db_session=session, case_ref=case, limit=limit)
        table = Table()
        for column in ("logged", "dir", "peer", "type", "status", "sha256", "receipt"):
            table.add_column(column)
        for r in rows:
            table.add_row(f"{r.logged_at:%H:%M:%S}", r.direction, r.peer_region, r.type,
                          r.status, r.body_sha256[:12], "yes" if r.receipt else "no")
    console.print(table)


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
