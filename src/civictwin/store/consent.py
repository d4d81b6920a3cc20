"""Consent records, their events and the entities they withhold, in SQL shared by both stores.

`withheld_filter` is what the entity and temporal queries use: one `NOT IN` over the tenant's
rows of the small `consent_exclusions` table, which both databases evaluate once per query,
and only when the tenant has anything withheld at all (checked once per query), so queries of
tenants without withdrawn consents keep their plans. A retrieval looks up only its own id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    delete,
    func,
    insert,
    select,
    update,
)

from civictwin.store.base import EntityWrite, Store
from civictwin.store.schema import (
    consent_events,
    consent_exclusions,
    consent_records,
    entities,
)


@dataclass(frozen=True)
class ConsentRow:
    """A stored consent record: its document and the columns queries use."""

    tenant: str
    id: str
    subject: str
    status: str
    given_at: str
    expires_at: str | None
    modified_at: str
    doc: dict[str, Any]


@dataclass(frozen=True)
class EventRow:
    """One event in a consent's log."""

    event: str
    at: str
    actor: str
    detail: dict[str, Any]


def withheld_filter(conn: Connection, tenant: str, entity_id: ColumnElement[Any],
                    among: Sequence[str] = ()) -> list[ColumnElement[bool]]:
    """Return [] or the one condition that keeps out entities a lapsed consent withholds.

    `among`: when the query names its few entity ids, only those are looked up.
    """
    if among and len(among) <= 500:
        hidden = withheld_among(conn, tenant, among)
        return [entity_id.not_in(sorted(hidden))] if hidden else []
    x = consent_exclusions.c
    now = stamp(datetime.now(UTC))
    lapsed = (x.tenant == tenant, x.from_at <= now)
    if conn.execute(select(1).where(*lapsed).limit(1)).first() is None:
        return []
    return [entity_id.not_in(select(x.entity_id).where(*lapsed))]


def withheld_pk_filter(conn: Connection, tenant: str,
                       entity_pk: ColumnElement[Any]) -> list[ColumnElement[bool]]:
    """Return [] or the condition that keeps out index rows of withheld entities (by pk)."""
    x, e = consent_exclusions.c, entities.c
    now = stamp(datetime.now(UTC))
    lapsed = (x.tenant == tenant, x.from_at <= now)
    if conn.execute(select(1).where(*lapsed).limit(1)).first() is None:
        return []
    return [entity_pk.not_in(select(e.pk).where(*lapsed, e.tenant == tenant,
                                                e.id == x.entity_id))]


def visible_writes(conn: Connection, tenant: str,
                   writes: list[EntityWrite]) -> list[EntityWrite]:
    """Return the writes (changes and deletions) of entities that are not withheld now."""
    def entity_id(write: EntityWrite) -> str:
        either = write.after or write.before
        return either.id if either is not None else ""

    hidden = withheld_among(conn, tenant, [entity_id(w) for w in writes])
    return [w for w in writes if entity_id(w) not in hidden] if hidden else writes


def withheld_among(conn: Connection, tenant: str, ids: Sequence[str]) -> set[str]:
    """Return which of these entity ids are withheld now (for notifications)."""
    x = consent_exclusions.c
    now = stamp(datetime.now(UTC))
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        stmt = select(x.entity_id).where(x.tenant == tenant, x.from_at <= now,
                                         x.entity_id.in_(ids[start: start + 500]))
        found.update(r.entity_id for r in conn.execute(stmt))
    return found


class ConsentTable:
    """The consent tables over a SQL store's engine."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("consent records need a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    def write(self) -> Connection:
        """Open a connection for a write transaction (SQLite: BEGIN IMMEDIATE)."""
        return self.engine.connect().execution_options(write=True)

    def insert(self, conn: Connection, row: ConsentRow) -> None:
        """Store a new record."""
        conn.execute(insert(consent_records).values(**_columns(row)))

    def save(self, conn: Connection, row: ConsentRow) -> None:
        """Replace a record's document and status."""
        c = consent_records.c
        values = {k: v for k, v in _columns(row).items() if k not in ("tenant", "id")}
        conn.execute(update(consent_records).where(c.tenant == row.tenant, c.id == row.id)
                     .values(**values))

    def get(self, conn: Connection, tenant: str, consent_id: str,
            lock: bool = False) -> ConsentRow | None:
        """Return one record (locked for update on PostgreSQL when `lock`), or None."""
        c = consent_records.c
        stmt = select(consent_records).where(c.tenant == tenant, c.id == consent_id)
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        found = conn.execute(stmt).first()
        return _record(found) if found is not None else None

    def page(self, tenant: str, subject: str | None, status: str | None, limit: int,
             offset: int) -> tuple[list[ConsentRow], int]:
        """Return a page of a tenant's records, newest first, and how many match."""
        c = consent_records.c
        where: list[ColumnElement[bool]] = [c.tenant == tenant]
        if subject:
            where.append(c.subject == subject)
        if status:
            where.append(c.status == status)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(consent_records)
                                 .where(*where)).scalar()
            stmt = (select(consent_records).where(*where)
                    .order_by(c.given_at.desc(), c.id).limit(limit).offset(offset))
            return [_record(r) for r in conn.execute(stmt)], int(total or 0)

    def due(self, conn: Connection, tenant: str | None, now: str) -> list[ConsentRow]:
        """Return records still marked given whose expiry has passed."""
        c = consent_records.c
        stmt = select(consent_records).where(c.status == "given", c.expires_at <= now)
        if tenant is not None:
            stmt = stmt.where(c.tenant == tenant)
        return [_record(r) for r in conn.execute(stmt)]

    def add_event(self, conn: Connection, tenant: str, consent_id: str, event: EventRow) -> None:
        """Append to a consent's event log."""
        conn.execute(insert(consent_events).values(
            tenant=tenant, consent_id=consent_id, event=event.event, at=event.at,
            actor=event.actor, detail=json.dumps(event.detail, sort_keys=True)))

    def events(self, tenant: str, consent_id: str) -> list[EventRow]:
        """Return a consent's events, oldest first."""
        e = consent_events.c
        stmt = (select(consent_events).where(e.tenant == tenant, e.consent_id == consent_id)
                .order_by(e.pk))
        with self.engine.connect() as conn:
            return [EventRow(r.event, r.at, r.actor, json.loads(r.detail))
                    for r in conn.execute(stmt)]

    def withhold(self, conn: Connection, tenant: str, consent_id: str,
                 entity_ids: Sequence[str], from_at: str | None) -> None:
        """Set from when a consent withholds its entities (None: it withholds nothing)."""
        x = consent_exclusions.c
        conn.execute(delete(consent_exclusions).where(x.tenant == tenant,
                                                      x.consent_id == consent_id))
        if from_at is not None and entity_ids:
            conn.execute(insert(consent_exclusions), [
                {"tenant": tenant, "entity_id": e, "consent_id": consent_id, "from_at": from_at}
                for e in dict.fromkeys(entity_ids)])

    def withheld(self, tenant: str, now: str) -> set[str]:
        """Return the ids of the tenant's entities withheld at `now`."""
        x = consent_exclusions.c
        stmt = select(x.entity_id).where(x.tenant == tenant, x.from_at <= now).distinct()
        with self.engine.connect() as conn:
            return {r.entity_id for r in conn.execute(stmt)}


def stamp(moment: datetime) -> str:
    """Return a moment in the sortable UTC form the consent columns use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _columns(row: ConsentRow) -> dict[str, Any]:
    return {"tenant": row.tenant, "id": row.id, "subject": row.subject, "status": row.status,
            "given_at": row.given_at, "expires_at": row.expires_at,
            "modified_at": row.modified_at, "doc": json.dumps(row.doc, sort_keys=True)}


def _record(r: Any) -> ConsentRow:
    return ConsentRow(tenant=r.tenant, id=r.id, subject=r.subject, status=r.status,
                      given_at=r.given_at, expires_at=r.expires_at, modified_at=r.modified_at,
                      doc=json.loads(r.doc))
