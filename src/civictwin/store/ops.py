"""Cheap read-only queries for operations: readiness, and counts read at metrics scrape time."""

from __future__ import annotations

import json

from sqlalchemy import Engine, func, inspect, select

from civictwin.store.base import Entity, Store
from civictwin.store.index import index_rows
from civictwin.store.migrations import MIGRATIONS
from civictwin.store.schema import (
    attribute_values,
    entities,
    entity_types,
    geometries,
    ingest_dead_letters,
    notification_outbox,
    schema_version,
)


def missing_migrations(engine: Engine) -> list[int]:
    """Return the migration versions not applied yet (raises if the database is unreachable)."""
    with engine.connect() as conn:
        found = {int(v) for v in conn.execute(select(schema_version.c.version)).scalars()}
    if len(found) == 1:  # a legacy lone row N means 1..N
        found = set(range(1, max(found) + 1))
    return [version for version, _ in MIGRATIONS if version not in found]


def outbox_counts(engine: Engine) -> dict[str, int]:
    """Return the number of outbox notifications in each state (pending, sent, failed)."""
    ob = notification_outbox.c
    stmt = select(ob.state, func.count()).group_by(ob.state)
    with engine.connect() as conn:
        return {str(state): int(n) for state, n in conn.execute(stmt)}


def dead_letter_count(engine: Engine) -> int:
    """Return how many ingest dead letters are kept."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingest_dead_letters)).scalar()
                   or 0)


def table_names(store: Store) -> set[str]:
    """Return the names of the tables in the store's database."""
    engine: Engine = store.engine  # type: ignore[attr-defined]
    return set(inspect(engine).get_table_names())


def index_mismatches(engine: Engine, tenant: str) -> list[str]:
    """Return the ids of the tenant's entities whose index rows disagree with their document."""
    counts: dict[str, dict[int, int]] = {}
    for table in (entity_types, attribute_values, geometries):
        stmt = (select(table.c.entity_pk, func.count()).where(table.c.tenant == tenant)
                .group_by(table.c.entity_pk))
        with engine.connect() as conn:
            counts[table.name] = {int(pk): int(n) for pk, n in conn.execute(stmt)}
    with engine.connect() as conn:
        stored = conn.execute(select(entities.c.pk, entities.c.id, entities.c.doc)
                              .where(entities.c.tenant == tenant)).all()
    bad: list[str] = []
    for pk, entity_id, doc in stored:
        body = json.loads(doc)
        entity = Entity(id=entity_id, types=body["types"], attrs=body["attrs"],
                        scope=body.get("scope", []))
        rows = index_rows(entity, tenant, pk)
        found = (counts["entity_types"].get(pk, 0), counts["attribute_values"].get(pk, 0),
                 counts["geometries"].get(pk, 0))
        if found != (len(rows.types), len(rows.values), len(rows.geometries)):
            bad.append(entity_id)
    return bad
