"""`civictwin backup` and `civictwin restore`: the same functions as ops.backup, with progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from sqlalchemy import make_url

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError
from civictwin.ops.backup import backup as backup_database
from civictwin.ops.backup import restore as restore_database

err = Console(stderr=True, soft_wrap=True)


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int | None], None]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}{task.fields[unit]}"))
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(what, total=None, unit="")

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total,
                       unit=f"/{total} pages" if total else " objects")

        yield advance


def backup(out: Annotated[Path, typer.Option("--out", help="Backup file to write.")],
           config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Write a consistent backup of the twin's database while it keeps serving."""
    from civictwin.cli import _fail, _settings

    settings = _settings(config, database_url)
    try:
        with _progress(f"backing up {settings.database_url.split(':')[0]}") as advance:
            result = backup_database(settings.database_url, out, advance)
    except CivicTwinError as exc:
        _fail(exc.detail)
    err.print(f"[green]backed up[/green] {result.kind} to {result.path} "
              f"({result.size:,} bytes)")


def restore(backup_file: Annotated[Path, typer.Argument(help="A file `civictwin backup` wrote.")],
            config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Restore a backup into an empty database, then bring its schema up to date."""
    from civictwin.cli import _fail, _settings

    settings = _settings(config, database_url)
    try:
        with _progress(f"restoring {backup_file.name}") as advance:
            version = restore_database(backup_file, settings.database_url, advance)
    except CivicTwinError as exc:
        _fail(exc.detail)
    err.print(f"[green]restored[/green] {backup_file} into "
              f"{make_url(settings.database_url).render_as_string(hide_password=True)} "
              f"(schema at version {version})")
