"""The audit trail's SQL: append to a tenant's hash chain under a lock, read it back in order.

Appends to one tenant's chain are serialised: PostgreSQL takes a transaction-scoped advisory
lock on the tenant's chain; SQLite's write transactions (BEGIN IMMEDIATE) are serial already.
The primary key (tenant, seq) is the last line of defence: two writers that somehow read the
same head cannot both commit, so the chain never forks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, union, update

from civictwin.store.base import Store
from civictwin.store.schema import audit_heads, audit_log


@dataclass(frozen=True)
class AuditRow:
    """One stored entry, as the columns hold it (detail as canonical JSON text)."""

    tenant: str
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditFilter:
    """Which entries of a tenant to list; every filter is optional."""

    action: str | None = None
    actor: str | None = None
    subject: str | None = None
    since: str | None = None
    until: str | None = None


class AuditTable:
    """The audit_log and audit_heads tables over a SQL store's engine."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("the audit trail needs a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    def write(self) -> Connection:
        """Open a connection for a write transaction (SQLite: BEGIN IMMEDIATE)."""
        return self.engine.connect().execution_options(write=True)

    def lock(self, conn: Connection, tenant: str) -> None:
        """Hold the tenant's chain until `conn`'s transaction ends."""
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_lock_key(tenant))))

    def head(self, conn: Connection, tenant: str) -> tuple[int, str] | None:
        """Return the sequence number and hash of the tenant's newest entry, or None."""
        found = conn.execute(select(audit_heads.c.seq, audit_heads.c.hash)
                             .where(audit_heads.c.tenant == tenant)).first()
        return (int(found.seq), str(found.hash)) if found is not None else None

    def append(self, conn: Connection, row: AuditRow, new_chain: bool) -> None:
        """Insert an entry and move the tenant's head to it (inside `conn`'s transaction)."""
        conn.execute(insert(audit_log).values(**row.__dict__))
        if new_chain:
            conn.execute(insert(audit_heads).values(tenant=row.tenant, seq=row.seq,
                                                    hash=row.hash))
        else:
            conn.execute(update(audit_heads).where(audit_heads.c.tenant == row.tenant)
                         .values(seq=row.seq, hash=row.hash))

    def stored_head(self, tenant: str) -> tuple[int, str] | None:
        """Return the recorded head of a tenant's chain."""
        with self.engine.connect() as conn:
            return self.head(conn, tenant)

    def count(self, tenant: str | None) -> int:
        """Return how many entries a tenant's chain (or every chain) holds."""
        stmt = select(func.count()).select_from(audit_log)
        if tenant is not None:
            stmt = stmt.where(audit_log.c.tenant == tenant)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def tenants(self) -> list[str]:
        """Return every tenant that has a chain (or entries), sorted."""
        stmt = union(select(audit_heads.c.tenant), select(audit_log.c.tenant))
        with self.engine.connect() as conn:
            return sorted(str(r[0]) for r in conn.execute(stmt))

    def chain(self, tenant: str, batch: int = 2000) -> Iterator[AuditRow]:
        """Yield a tenant's entries in sequence order, reading in batches."""
        after = -1
        while True:
            stmt = (select(audit_log).where(audit_log.c.tenant == tenant,
                                            audit_log.c.seq > after)
                    .order_by(audit_log.c.seq).limit(batch))
            with self.engine.connect() as conn:
                rows = [_row(r) for r in conn.execute(stmt)]
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].seq

    def page(self, tenant: str, where: AuditFilter, limit: int,
             offset: int) -> tuple[list[AuditRow], int]:
        """Return a page of a tenant's entries, newest first, and how many match."""
        c = audit_log.c
        conditions: list[Any] = [c.tenant == tenant]
        if where.action:
            conditions.append(c.action == where.action)
        if where.actor:
            conditions.append(c.actor == where.actor)
        if where.subject:
            conditions.append(c.subject == where.subject)
        if where.since:
            conditions.append(c.at >= where.since)
        if where.until:
            conditions.append(c.at < where.until)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(audit_log)
                                 .where(*conditions)).scalar()
            stmt = (select(audit_log).where(*conditions).order_by(c.seq.desc())
                    .limit(limit).offset(offset))
            rows = [_row(r) for r in conn.execute(stmt)]
        return rows, int(total or 0)


def _lock_key(tenant: str) -> int:
    digest = hashlib.sha256(b"civictwin.audit\x00" + tenant.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _row(r: Any) -> AuditRow:
    return AuditRow(tenant=r.tenant, seq=int(r.seq), at=r.at, actor=r.actor, action=r.action,
                    subject=r.subject, detail=r.detail, prev_hash=r.prev_hash, hash=r.hash)
