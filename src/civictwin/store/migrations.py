"""Versioned schema migrations: each step runs once, in order, inside one transaction."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from civictwin.store import schema


def _v1_entities(conn: Connection) -> None:
    """Create the entity, index and @context tables."""
    tables = [schema.entities, schema.entity_types, schema.attribute_values,
              schema.geometries, schema.jsonld_contexts]
    schema.metadata.create_all(conn, tables=tables)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_entities),
]
"""(version, step) pairs; dialect-specific statements per version live in the store modules."""
