"""The relational schema shared by both stores; dialect differences live in sqlite.py/postgres.py.

An entity is kept whole as a JSON document (`entities.doc`, attribute names expanded to IRIs)
and is indexed for queries by `entity_types`, `attribute_values` (one row per attribute
instance, sub-attribute and list member, with the value split by JSON type so comparisons use
plain indexed columns) and `geometries` (one row per GeoProperty instance).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

PrimaryKey = BigInteger().with_variant(Integer(), "sqlite")
JsonValue = JSON().with_variant(JSONB(), "postgresql")

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String, nullable=False),
)

entities = Table(
    "entities",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("id", String, nullable=False),
    Column("doc", Text, nullable=False),
    Column("created_at", String, nullable=False),
    Column("modified_at", String, nullable=False),
    UniqueConstraint("tenant", "id", name="uq_entities_tenant_id"),
)

entity_types = Table(
    "entity_types",
    metadata,
    Column("entity_pk", PrimaryKey, ForeignKey("entities.pk", ondelete="CASCADE"),
           primary_key=True),
    Column("type", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Index("ix_entity_types_tenant_type", "tenant", "type", "entity_pk"),
)

# One row per attribute instance (sub == ""), per sub-attribute (sub == its IRI) and per list
# member. Exactly one of num/text/flag/json is set for a value; all are NULL for a row that only
# records that the attribute exists (e.g. a GeoProperty or an empty list).
attribute_values = Table(
    "attribute_values",
    metadata,
    Column("entity_pk", PrimaryKey, ForeignKey("entities.pk", ondelete="CASCADE"),
           nullable=False),
    Column("tenant", String, nullable=False),
    Column("name", String, nullable=False),
    Column("sub", String, nullable=False),
    Column("dataset_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("num", Float),
    Column("text", Text),
    Column("flag", Boolean),
    Column("json", JsonValue),
    Index("ix_attribute_values_entity", "entity_pk"),
    Index("ix_attribute_values_num", "name", "sub", "num"),
    Index("ix_attribute_values_text", "name", "sub", "text"),
    Index("ix_attribute_values_tenant_name", "tenant", "name"),
)

# One row per GeoProperty instance. PostgreSQL adds a PostGIS `geom` column (GiST index),
# SQLite an R-tree `geometries_rtree(gk, minx, maxx, miny, maxy)`; see the dialect modules.
geometries = Table(
    "geometries",
    metadata,
    Column("gk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("entity_pk", PrimaryKey, ForeignKey("entities.pk", ondelete="CASCADE"),
           nullable=False),
    Column("tenant", String, nullable=False),
    Column("name", String, nullable=False),
    Column("dataset_id", String, nullable=False),
    Column("geojson", Text, nullable=False),
    Column("minx", Float, nullable=False),
    Column("miny", Float, nullable=False),
    Column("maxx", Float, nullable=False),
    Column("maxy", Float, nullable=False),
    Index("ix_geometries_entity", "entity_pk"),
    Index("ix_geometries_tenant_name", "tenant", "name"),
)

jsonld_contexts = Table(
    "jsonld_contexts",
    metadata,
    Column("id", String, primary_key=True),
    Column("url", String, nullable=False, unique=True),
    Column("kind", String, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", String, nullable=False),
)
