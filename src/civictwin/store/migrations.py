"""Versioned schema migrations: each step runs once, in order, inside one transaction.

Every applied version has its own row in schema_version, so a step merged after a higher one
(7 arriving once 8 has run) is still applied. Databases from before that rule recorded only
their newest version N: a lone row means 1..N were all applied.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, func, insert, select, update

from civictwin.store import schema


def _v1_entities(conn: Connection) -> None:
    """Create the entity, index and @context tables."""
    tables = [schema.entities, schema.entity_types, schema.attribute_values,
              schema.geometries, schema.jsonld_contexts]
    schema.metadata.create_all(conn, tables=tables)


def _v3_subscriptions(conn: Connection) -> None:
    """Create the subscription and notification outbox tables."""
    schema.metadata.create_all(conn, tables=[schema.subscriptions, schema.notification_outbox])


def _v5_registrations(conn: Connection) -> None:
    """Create the context source registration table."""
    schema.metadata.create_all(conn, tables=[schema.csource_registrations])


def _v4_ingest(conn: Connection) -> None:
    """Create the ingest dead-letter and run tables."""
    schema.metadata.create_all(conn, tables=[schema.ingest_dead_letters, schema.ingest_runs])


def _v2_temporal(conn: Connection) -> None:
    """Create the temporal history tables (PostgreSQL partitions attribute_instances itself)."""
    tables = [schema.temporal_entities, schema.temporal_series]
    if conn.dialect.name != "postgresql":
        tables.append(schema.attribute_instances)
    schema.metadata.create_all(conn, tables=tables)


def _v6_null_json(conn: Connection) -> None:
    """Store JSON-less attribute rows as SQL NULL, not the JSON text 'null'."""
    json_type = func.json_type if conn.dialect.name == "sqlite" else func.jsonb_typeof
    values = schema.attribute_values
    conn.execute(update(values).where(json_type(values.c.json) == "null").values(json=None))


def _v8_temporal_deletions(conn: Connection) -> None:
    """Create the table recording when entities with history were deleted."""
    schema.metadata.create_all(conn, tables=[schema.temporal_deletions])


def _v9_dataspace(conn: Connection) -> None:
    """Create the participant, API key, negotiation and transfer tables."""
    tables = [schema.participants, schema.participant_keys, schema.dsp_negotiations,
              schema.dsp_transfers]
    schema.metadata.create_all(conn, tables=tables)


def _v10_policy(conn: Connection) -> None:
    """Create the audit trail and consent tables."""
    tables = [schema.audit_log, schema.audit_heads, schema.consent_records,
              schema.consent_events, schema.consent_exclusions]
    schema.metadata.create_all(conn, tables=tables)


def _v11_catalog(conn: Connection) -> None:
    """Create the catalogue's dataset, refresh and harvest tables."""
    tables = [schema.catalog_datasets, schema.catalog_refreshes, schema.catalog_harvests]
    schema.metadata.create_all(conn, tables=tables)


def _v13_scenarios(conn: Connection) -> None:
    """Create the scenario and scenario result tables."""
    schema.metadata.create_all(conn, tables=[schema.scenarios, schema.scenario_results])


def _v14_privacy(conn: Connection) -> None:
    """Create the privacy release ledger, contributor set and budget tables."""
    tables = [schema.privacy_releases, schema.privacy_footprints,
              schema.privacy_contributor_sets, schema.privacy_consumers, schema.privacy_budgets]
    schema.metadata.create_all(conn, tables=tables)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_entities),
    (2, _v2_temporal),
    (3, _v3_subscriptions),
    (4, _v4_ingest),
    (5, _v5_registrations),
    (6, _v6_null_json),
    (8, _v8_temporal_deletions),
    (9, _v9_dataspace),
    (10, _v10_policy),
    (11, _v11_catalog),
    (13, _v13_scenarios),
    (14, _v14_privacy),
]
"""(version, step) pairs; dialect-specific statements per version live in the store modules."""


def applied_versions(conn: Connection, now: str) -> set[int]:
    """Return the versions applied here, first recording 1..N-1 for a legacy lone row N."""
    table = schema.schema_version
    rows = {int(v) for v in conn.execute(select(table.c.version)).scalars()}
    if len(rows) == 1 and (newest := min(rows)) > 1:
        conn.execute(insert(table), [{"version": v, "applied_at": now} for v in range(1, newest)])
        rows = set(range(1, newest + 1))
    return rows
