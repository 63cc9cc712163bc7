"""`tongban bundles …`: the published 一件事 bundles, and one bundle with its merged form."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="一件事 bundles: list, show.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_bundles(
    region: str | None = typer.Option(None, help="Region code (bundles above or below it)."),
    topic: str | None = typer.Option(None),
) -> None:
    """Published bundles: code, name, region, members, limits, deny rule."""
    from tongban.bundles import service
    from tongban.cli import cli_session

    with cli_session() as session:
        rows = service.list_bundles(db_session=session, region=region, topic=topic)
        table = Table("code", "name", "region", "members", "promised/legal", "rule")
        for bundle, version in rows:
            table.add_row(bundle.code, version.name, bundle.region_code,
                          str(len(version.members)),
                          f"{version.promised_days}/{version.legal_days}", version.deny_rule)
    console.print(table)


@app.command("show")
def show(code: str, draft: bool = typer.Option(False, help="Show the latest draft.")) -> None:
    """One bundle: its members (with dependencies), the merged form and the materials."""
    from tongban.bundles import service
    from tongban.cli import cli_session

    with cli_session() as session:
        view = service.get_bundle(db_session=session, bundle_code=code, include_draft=draft)
        v = view.version
        console.print(f"[bold]{view.bundle.code}[/bold] {v.name} (v{v.version}, {v.state}) "
                      f"region {view.bundle.region_code}; promised {v.promised_days} / legal "
                      f"{v.legal_days} working days; rule {v.deny_rule}", highlight=False)
        members = Table("member", "name", "days", "depends on")
        for rm in view.members:
            members.add_row(rm.code, rm.name, str(rm.promised_days),
                            ", ".join(rm.member.depends_on) or "-")
        console.print(members)
        fields = Table("field", "title", "type", "required", "asked by")
        for f in view.merged.fields:
            fields.add_row(f.name, f.title, f.type or "", "yes" if f.required else "",
                           str(len(f.members)))
        console.print(fields)
        materials = Table("material", "name", "source", "required", "shared by")
        for m in view.merged.materials:
            materials.add_row(m.code, m.name, m.source, "yes" if m.required else "",
                              str(len(m.members)))
        console.print(materials)
        for p in view.problems:
            console.print(f"[red]problem[/red] {p['field']}: {p['message']}", highlight=False)
