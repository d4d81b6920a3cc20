"""`civictwin canvas ...`: write, check and render Data Cooperation Canvas files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.dataspace.participants_cli import err, fail, opened
from civictwin.errors import CivicTwinError

canvas_app = typer.Typer(help="Data Cooperation Canvas: one checked document per collaboration.",
                         no_args_is_help=True)
FileArg = Annotated[Path, typer.Argument(help="The canvas file (TOML, format civictwin-canvas/1).")]


@canvas_app.command("new")
def new(file: FileArg,
        canvas_id: Annotated[str, typer.Option("--id", help="The canvas id (a short name).")],
        title: Annotated[str, typer.Option(help="The collaboration's title.")],
        dataset: Annotated[list[str], typer.Option(
            help="A catalogue dataset the collaboration exchanges (repeat for more).")],
        tenant: Annotated[str, typer.Option(help="Tenant of the datasets.")] = "",
        force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
        config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Write a new canvas, pre-filled from the catalogue; fill in its TODOs, then check it."""
    from civictwin.canvas.template import new_canvas

    with opened(config, database_url) as (settings, store):
        try:
            written = new_canvas(store, settings, file, canvas_id, title, dataset, tenant, force)
        except CivicTwinError as exc:
            fail(exc.detail)
    err.print(f"wrote {written}; fill in the TODO fields, then `civictwin canvas check {file}`")


@canvas_app.command("check")
def check(file: FileArg, config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Check a canvas: its format, its placeholders, and that every link exists in the twin."""
    from civictwin.canvas.document import load, placeholders
    from civictwin.canvas.links import check as check_links
    from civictwin.canvas.links import links

    with opened(config, database_url) as (settings, store):
        try:
            canvas = load(file)
            found = placeholders(canvas) + check_links(store, settings, canvas)
        except CivicTwinError as exc:
            _report(exc.detail.splitlines())
        if found:
            _report(found)
        err.print(f"[green]ok[/green] {file}: {len(links(canvas))} links, all found in the twin")


def _report(lines: list[str]) -> None:
    for line in lines[:-1]:
        err.print(f"[red]error:[/red] {line}", markup=True, highlight=False)
    fail(lines[-1])


@canvas_app.command("render")
def render(file: FileArg,
           html: Annotated[Path | None, typer.Option(help="Write the HTML page here.")] = None,
           pdf: Annotated[Path | None, typer.Option(help="Write the PDF here.")] = None,
           config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Render a canvas whose links all check out as HTML and/or PDF."""
    from civictwin.canvas.document import load
    from civictwin.canvas.links import resolve
    from civictwin.canvas.render import to_html, to_pdf

    if html is None and pdf is None:
        fail("say where to write: --html FILE and/or --pdf FILE")
    with opened(config, database_url) as (settings, store):
        try:
            canvas = load(file)
            resolved = resolve(store, settings, canvas)
        except CivicTwinError as exc:
            _report(exc.detail.splitlines())
    broken = [f"{file}: {r.link.where}: {r.problem}" for r in resolved if r.problem]
    if broken:
        _report([*broken, "fix the links before rendering (`civictwin canvas check`)"])
    with Progress(transient=True, console=err) as progress:
        progress.add_task(f"rendering {canvas.id}", total=None)
        if html is not None:
            html.write_text(to_html(canvas, resolved), "utf-8")
        if pdf is not None:
            to_pdf(canvas, resolved, pdf)
    err.print(f"[green]rendered[/green] {', '.join(str(p) for p in (html, pdf) if p)}")
