"""Privacy rows in SQL shared by both stores: meter readings summed per contributor, the
release ledger (releases, footprints, contributor sets) and privacy budgets.

A release is checked and recorded under a per-consumer lock (a row lock on PostgreSQL, the
write lock on SQLite), so two releases racing for one consumer are checked one after the
other, each against the other's footprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError

from civictwin.errors import Forbidden
from civictwin.store.base import Store
from civictwin.store.schema import (
    attribute_instances,
    entities,
    entity_types,
    privacy_budgets,
    privacy_consumers,
    privacy_contributor_sets,
    privacy_footprints,
    privacy_releases,
)

GRAIN_CHARS = {"hour": 13, "day": 10, "month": 7}
"""How many leading characters of a sortable timestamp name its hour, day or month."""


@dataclass(frozen=True)
class Footprint:
    """What one released value covers: a quantity, a time window and a set of contributors."""

    label: str
    quantity: str
    start: str
    end: str
    members: frozenset[str]
    release_id: str = ""


def set_hash(members: frozenset[str]) -> str:
    """Return the key a contributor set is stored under."""
    return hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()


class PrivacyStore:
    """Reading sums per contributor, and the ledger and budget rows, over a SQL store."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("privacy needs a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    # -- source data ---------------------------------------------------------------------
    def entity_docs(self, tenant: str, type_iri: str) -> list[tuple[str, dict[str, Any]]]:
        """Return (id, document) of every entity of one type in a tenant."""
        stmt = (select(entities.c.id, entities.c.doc)
                .join(entity_types, entity_types.c.entity_pk == entities.c.pk)
                .where(entity_types.c.tenant == tenant, entity_types.c.type == type_iri)
                .order_by(entities.c.id))
        with self.engine.connect() as conn:
            return [(r.id, json.loads(r.doc)) for r in conn.execute(stmt)]

    def reading_sums(self, tenant: str, attrs: list[str], start: str, end: str,
                     grain: str | None, interval_only: bool
                     ) -> list[tuple[str, str, float, int]]:
        """Return (entity, period, sum, readings) of attributes' history in [start, end)."""
        t = attribute_instances.c
        # The grain is one of three fixed lengths, never text from a request.
        bucket = (func.substr(t.observed_at, 1, literal_column(str(GRAIN_CHARS[grain])))
                  if grain else literal_column("''"))
        where = [t.tenant == tenant, t.attr.in_(attrs), t.observed_at >= start,
                 t.observed_at < end, t.num.is_not(None)]
        if interval_only:
            where.append(t.dataset_id == "")
        keys = [t.entity_id, bucket] if grain else [t.entity_id]
        stmt = (select(t.entity_id, bucket.label("bucket"), func.sum(t.num).label("total"),
                       func.count().label("readings"))
                .where(*where).group_by(*keys))
        with self.engine.connect() as conn:
            return [(r.entity_id, str(r.bucket), float(r.total), int(r.readings))
                    for r in conn.execute(stmt)]

    # -- the ledger ----------------------------------------------------------------------
    @contextmanager
    def consumer_lock(self, tenant: str, consumer: str) -> Iterator[Connection]:
        """Yield a write transaction that holds the consumer's ledger lock until it ends."""
        c = privacy_consumers.c
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            key = (c.tenant == tenant, c.consumer == consumer)
            if conn.execute(select(c.releases).where(*key)).first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(privacy_consumers).values(
                            tenant=tenant, consumer=consumer, releases=0))
                except IntegrityError:
                    pass  # made by a release racing this one; the lock below waits for it
            conn.execute(select(c.releases).where(*key).with_for_update())
            yield conn

    def footprints(self, conn: Connection, tenant: str, consumer: str, quantity: str,
                   start: str, end: str) -> list[Footprint]:
        """Return a consumer's earlier footprints of a quantity meeting [start, end)."""
        f, s = privacy_footprints.c, privacy_contributor_sets.c
        stmt = (select(f.label, f.quantity, f.window_start, f.window_end, f.release_id,
                       s.members)
                .join(privacy_contributor_sets, (s.tenant == f.tenant)
                      & (s.set_hash == f.set_hash))
                .where(f.tenant == tenant, f.consumer == consumer, f.quantity == quantity,
                       f.window_start < end, f.window_end > start)
                .order_by(f.pk))
        sets: dict[str, frozenset[str]] = {}
        found = []
        for r in conn.execute(stmt):
            members = sets.setdefault(r.members, frozenset(json.loads(r.members)))
            found.append(Footprint(r.label, r.quantity, r.window_start, r.window_end, members,
                                   r.release_id))
        return found

    def record(self, conn: Connection, tenant: str, release: dict[str, Any],
               footprints: Sequence[Footprint]) -> None:
        """Store a release and its footprints (contributor sets once each)."""
        conn.execute(insert(privacy_releases).values(tenant=tenant, **release))
        hashes: dict[frozenset[str], str] = {}
        s = privacy_contributor_sets.c
        for fp in footprints:
            if fp.members in hashes:
                continue
            key = hashes[fp.members] = set_hash(fp.members)
            if conn.execute(select(s.size).where(s.tenant == tenant, s.set_hash == key)
                            ).first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(privacy_contributor_sets).values(
                            tenant=tenant, set_hash=key, size=len(fp.members),
                            members=json.dumps(sorted(fp.members))))
                except IntegrityError:
                    pass  # the same set, stored by another consumer's release meanwhile
        if footprints:
            conn.execute(insert(privacy_footprints), [
                {"tenant": tenant, "consumer": release["consumer"], "release_id": release["id"],
                 "label": fp.label, "quantity": fp.quantity, "window_start": fp.start,
                 "window_end": fp.end, "set_hash": hashes[fp.members]} for fp in footprints])
        c = privacy_consumers.c
        conn.execute(update(privacy_consumers)
                     .where(c.tenant == tenant, c.consumer == release["consumer"])
                     .values(releases=c.releases + 1))

    def releases(self, tenant: str, consumer: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
        """Return releases (of one consumer), newest first."""
        r = privacy_releases.c
        stmt = select(privacy_releases).where(r.tenant == tenant)
        if consumer is not None:
            stmt = stmt.where(r.consumer == consumer)
        stmt = stmt.order_by(r.created_at.desc(), r.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def release(self, tenant: str, release_id: str) -> dict[str, Any] | None:
        """Return one release row, or None."""
        r = privacy_releases.c
        with self.engine.connect() as conn:
            row = conn.execute(select(privacy_releases).where(
                r.tenant == tenant, r.id == release_id)).first()
        return dict(row._mapping) if row is not None else None

    # -- budgets -------------------------------------------------------------------------
    def spend(self, conn: Connection, tenant: str, agreement: str, budget: float,
              epsilon: float, now: str) -> float:
        """Spend epsilon of an agreement's budget; return what is left, Forbidden if too little."""
        b = privacy_budgets.c
        key = (b.tenant == tenant, b.agreement == agreement)
        if conn.execute(select(b.spent).where(*key)).first() is None:
            conn.execute(insert(privacy_budgets).values(tenant=tenant, agreement=agreement,
                                                        budget=budget, spent=0.0,
                                                        updated_at=now))
        # Compare-and-set: a spend that would overrun the budget changes nothing.
        done = conn.execute(update(privacy_budgets)
                            .where(*key, b.spent + epsilon <= b.budget + 1e-9)
                            .values(spent=b.spent + epsilon, updated_at=now))
        row = conn.execute(select(b.budget, b.spent).where(*key)).one()
        if not done.rowcount:
            raise Forbidden(f"the privacy budget of agreement {agreement} is spent: "
                            f"{row.spent:g} of {row.budget:g} used, this release needs "
                            f"{epsilon:g}", rule="privacy-budget")
        return float(row.budget - row.spent)

    def budget(self, tenant: str, agreement: str) -> tuple[float, float] | None:
        """Return (budget, spent) of an agreement, or None if it spent nothing yet."""
        b = privacy_budgets.c
        with self.engine.connect() as conn:
            row = conn.execute(select(b.budget, b.spent).where(
                b.tenant == tenant, b.agreement == agreement)).first()
        return (float(row.budget), float(row.spent)) if row is not None else None
