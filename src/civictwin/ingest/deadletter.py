"""Dead letters (messages and rows that could not be ingested, with why) and ingest-run records."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, select

from civictwin.errors import BadRequestData
from civictwin.store.base import Store
from civictwin.store.schema import ingest_dead_letters, ingest_runs

MAX_PAYLOAD_CHARS = 65_536


@dataclass(frozen=True)
class DeadLetter:
    """One message or row that was not ingested: where it came from, what it was, and why."""

    source: str
    position: str
    payload: str
    reason: str
    tenant: str = ""
    received_at: str = ""


@dataclass(frozen=True)
class IngestRun:
    """One finished ingest run (a file, or an MQTT bridge session) with its counts."""

    kind: str
    source: str
    digest: str
    started_at: str
    accepted: int
    rejected: int
    tenant: str = ""


class DeadLetterBox:
    """The dead-letter and ingest-run tables of one twin's database."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise BadRequestData("dead letters need a SQL store (SQLite or PostgreSQL)")
        self.engine = engine
        self._write_options = {"write": True}

    def _connect(self) -> Connection:
        return self.engine.connect().execution_options(**self._write_options)

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """Keep dead letters; they are committed when this returns."""
        if not letters:
            return
        now = now_iso()
        rows = [{"tenant": d.tenant, "source": d.source, "position": d.position,
                 "payload": d.payload[:MAX_PAYLOAD_CHARS], "reason": d.reason,
                 "received_at": d.received_at or now} for d in letters]
        with self._connect() as conn, conn.begin():
            conn.execute(insert(ingest_dead_letters), rows)

    def list(self, source: str | None = None, limit: int = 50) -> list[DeadLetter]:
        """Return the newest dead letters first, optionally of one source."""
        stmt = select(ingest_dead_letters).order_by(ingest_dead_letters.c.pk.desc()).limit(limit)
        if source is not None:
            stmt = stmt.where(ingest_dead_letters.c.source == source)
        with self.engine.connect() as conn:
            return [DeadLetter(r.source, r.position, r.payload, r.reason, r.tenant,
                               r.received_at) for r in conn.execute(stmt)]

    def count(self, source: str | None = None) -> int:
        """Return how many dead letters are kept, optionally of one source."""
        stmt = select(func.count()).select_from(ingest_dead_letters)
        if source is not None:
            stmt = stmt.where(ingest_dead_letters.c.source == source)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def record_run(self, run: IngestRun) -> None:
        """Record a finished ingest run."""
        with self._connect() as conn, conn.begin():
            conn.execute(insert(ingest_runs).values(
                tenant=run.tenant, kind=run.kind, source=run.source, digest=run.digest,
                started_at=run.started_at, finished_at=now_iso(), accepted=run.accepted,
                rejected=run.rejected))

    def runs(self, limit: int = 20) -> builtins.list[IngestRun]:
        """Return the newest ingest runs first."""
        stmt = select(ingest_runs).order_by(ingest_runs.c.pk.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [IngestRun(r.kind, r.source, r.digest, r.started_at, r.accepted, r.rejected,
                              r.tenant) for r in conn.execute(stmt)]


def now_iso() -> str:
    """Return the current UTC time as an ISO 8601 string."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
