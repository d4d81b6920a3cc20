"""Back up and restore the twin's database, online, on both stores.

SQLite uses its online backup API: a consistent page-by-page copy taken while the twin keeps
serving. PostgreSQL uses pg_dump's custom format: one consistent snapshot of everything the
twin made (PostGIS columns and indexes, the temporal partitions, sequences, schema_version),
compressed, and restored by pg_restore; a hand-written dump of our tables would have to
re-create partitions and reset sequences itself and drift from the schema.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from civictwin.errors import BadRequestData, CivicTwinError, Conflict
from civictwin.store import open_store
from civictwin.store.ops import table_names

Progress = Callable[[int, int | None], None]
"""Called with (done, total) as work advances; total is None when not known."""
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
               "/usr/lib/postgresql/15/bin")
PAGES_PER_STEP = 256


@dataclass(frozen=True)
class BackupResult:
    """What a backup wrote."""

    kind: str
    path: Path
    size: int


def backup(url: str, out: Path, progress: Progress | None = None) -> BackupResult:
    """Write a consistent backup of the database at `url` to `out`."""
    if out.exists():
        raise Conflict(f"{out} exists already; choose another file")
    if url.startswith("sqlite"):
        _sqlite_copy(_sqlite_path(url), out, progress)
        kind = "sqlite"
    elif url.startswith("postgresql"):
        _run_pg(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--verbose",
                 "--file", str(out), "--dbname", _libpq(url)], progress)
        kind = "postgresql"
    else:
        raise BadRequestData(f"database URL {url!r}: expected sqlite:///... or postgresql://...")
    return BackupResult(kind, out, out.stat().st_size)


def restore(backup_file: Path, url: str, progress: Progress | None = None) -> int:
    """Restore `backup_file` into the empty database at `url`; return its schema version."""
    if not backup_file.is_file():
        raise BadRequestData(f"no backup file at {backup_file}")
    with backup_file.open("rb") as fh:
        magic = fh.read(16)
    store = open_store(url, migrate=False)
    try:
        tables = table_names(store)
    finally:
        store.close()
    if "schema_version" in tables:
        raise Conflict("the target database holds a twin already; restore into an empty one")
    if url.startswith("sqlite") and magic == SQLITE_MAGIC:
        _sqlite_copy(str(backup_file), Path(_sqlite_path(url)), progress)
    elif url.startswith("postgresql") and magic.startswith(PGDUMP_MAGIC):
        _run_pg(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--verbose",
                 "--dbname", _libpq(url), str(backup_file)], progress)
    else:
        raise BadRequestData(f"{backup_file} is not a backup for {url.split(':')[0]} "
                             "(SQLite backups restore into SQLite, pg_dump ones into PostgreSQL)")
    restored = open_store(url)  # a backup of an older schema is brought up to date
    try:
        return restored.migrate()
    finally:
        restored.close()


def _sqlite_copy(source: str, target: Path, progress: Progress | None) -> None:
    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    if not Path(source).is_file():
        raise BadRequestData(f"no SQLite database at {source}")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=PAGES_PER_STEP, progress=step)
    except sqlite3.Error as exc:
        raise CivicTwinError(f"SQLite backup failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _run_pg(args: list[str], progress: Progress | None) -> None:
    command = [_pg_tool(args[0]), *args[1:]]
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,  # noqa: S603
                          text=True) as proc:
        assert proc.stderr is not None
        lines: list[str] = []
        for line in proc.stderr:
            lines.append(line.rstrip())
            if progress is not None:
                progress(len(lines), None)
        code = proc.wait()
    if code != 0:
        errors = [line for line in lines if "error" in line.lower()] or lines[-1:]
        raise CivicTwinError(f"{args[0]} failed: {errors[0] if errors else f'exit {code}'}")


def _pg_tool(name: str) -> str:
    for folder in PG_BIN_DIRS:
        if (Path(folder) / name).is_file():
            return str(Path(folder) / name)
    found = shutil.which(name)
    if found is None:
        raise CivicTwinError(f"{name} not found (install postgresql-client-15)")
    return found


def _sqlite_path(url: str) -> str:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:":
        raise BadRequestData(f"{url!r} names no database file")
    return path


def _libpq(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    return parts._replace(scheme=scheme, path=unquote(parts.path)).geturl()
