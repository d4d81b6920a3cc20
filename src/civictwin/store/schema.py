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
# none_as_null: a Python None is SQL NULL, not the JSON text 'null'.
JsonValue = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

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

# Subscriptions (ETSI GS CIM 009 5.2.12): the document as the user wrote it plus its @context;
# the columns the notifier filters and counts on are kept beside it.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("id", String, primary_key=True),
    Column("doc", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("expires_at", String),
    Column("time_interval", Float),
    Column("next_periodic", String),
    Column("last_queued", String),
    Column("times_sent", Integer, nullable=False, default=0),
    Column("times_failed", Integer, nullable=False, default=0),
    Column("last_notification", String),
    Column("last_success", String),
    Column("last_failure", String),
    Column("created_at", String, nullable=False),
    Column("modified_at", String, nullable=False),
)

# Notifications waiting to be delivered: written in the same transaction as the entity change
# that caused them, so an acknowledged write's notifications survive a crash.
notification_outbox = Table(
    "notification_outbox",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("subscription_id", String, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("created_at", String, nullable=False),
    Column("due_at", String, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("state", String, nullable=False, default="pending"),
    Column("last_error", Text),
    Column("sent_at", String),
    Index("ix_notification_outbox_due", "state", "due_at"),
    Index("ix_notification_outbox_subscription", "tenant", "subscription_id"),
)

# Context source registrations (ETSI GS CIM 009 5.2.9), kept whole with names expanded to IRIs;
# a tenant holds few of them, so they are matched in Python, not indexed.
csource_registrations = Table(
    "csource_registrations",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("id", String, nullable=False),
    Column("doc", Text, nullable=False),
    Column("created_at", String, nullable=False),
    Column("modified_at", String, nullable=False),
    UniqueConstraint("tenant", "id", name="uq_csource_registrations_tenant_id"),
)

# Temporal history (store/temporal.py): one row per recorded attribute instance. `observed_at`
# is the instance's observedAt, or when it was recorded if it has none (`observed` False), in the
# sortable form, and `observed_s` the same in whole seconds since 1970 (periods are integer
# arithmetic on both databases); `num` holds numbers (booleans as 0/1) for aggregation, `value`
# the instance's JSON without its system members. PostgreSQL creates this table itself,
# range-partitioned by month (TEMPORAL_POSTGRES_DDL); the definition here is what queries use.
attribute_instances = Table(
    "attribute_instances",
    metadata,
    Column("tenant", String, nullable=False),
    Column("entity_id", String, nullable=False),
    Column("attr", String, nullable=False),
    Column("dataset_id", String, nullable=False),
    Column("instance_id", String, nullable=False),
    Column("observed_at", String, nullable=False),
    Column("observed_s", BigInteger, nullable=False),
    Column("observed", Boolean, nullable=False),
    Column("created_at", String, nullable=False),
    Column("modified_at", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("num", Float),
    Column("value", Text, nullable=False),
    # Covering for aggregation by observedAt: a series is read from the index alone.
    Index("ix_attribute_instances_series", "tenant", "entity_id", "attr", "dataset_id",
          "observed_at", "observed_s", "num"),
    Index("ix_attribute_instances_instance", "instance_id"),
)

# One row per attribute series (entity, attribute, datasetId) with history, so aggregation
# can run one index range scan per series.
temporal_series = Table(
    "temporal_series",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("entity_id", String, primary_key=True),
    Column("attr", String, primary_key=True),
    Column("dataset_id", String, primary_key=True),
    Column("kind", String, nullable=False),
)

# The types of every entity that has history, kept after the entity itself is deleted.
temporal_entities = Table(
    "temporal_entities",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("entity_id", String, primary_key=True),
    Column("type", String, primary_key=True),
)

# Ingestion (civictwin.ingest): messages and rows that could not become entity updates, kept
# with the reason so none is silently dropped, and one row per ingest run with its counts.
ingest_dead_letters = Table(
    "ingest_dead_letters",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("source", String, nullable=False),
    Column("position", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", String, nullable=False),
    Index("ix_ingest_dead_letters_source", "source", "pk"),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("source", String, nullable=False),
    Column("digest", String, nullable=False),
    Column("started_at", String, nullable=False),
    Column("finished_at", String, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
)

# Live twin (live helper, migration 8): when an entity with history was last deleted, so its
# temporal representation stays queryable and says so (`deletedAt`) after the entity is gone.
temporal_deletions = Table(
    "temporal_deletions",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("entity_id", String, primary_key=True),
    Column("deleted_at", String, nullable=False),
)

# Data space (civictwin.dataspace, migration 9): participants and their API keys, contract
# negotiations (with the agreement they reach) and transfer processes, on either side.
participants = Table(
    "participants",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("roles", String, nullable=False),
    Column("tenant", String, nullable=False),
    Column("status", String, nullable=False),
    Column("public_key", Text),
    Column("endpoint", String),
    Column("created_at", String, nullable=False),
    Column("modified_at", String, nullable=False),
)

participant_keys = Table(
    "participant_keys",
    metadata,
    Column("key_id", String, primary_key=True),
    Column("participant_id", String, ForeignKey("participants.id", ondelete="CASCADE"),
           nullable=False),
    Column("secret_hash", String, nullable=False),
    Column("label", String, nullable=False),
    Column("created_at", String, nullable=False),
    Index("ix_participant_keys_participant", "participant_id"),
)

dsp_negotiations = Table(
    "dsp_negotiations",
    metadata,
    Column("pid", String, primary_key=True),
    Column("role", String, nullable=False),
    Column("provider_pid", String),
    Column("consumer_pid", String),
    Column("counterparty", String, nullable=False),
    Column("counterparty_address", String, nullable=False),
    Column("dataset_id", String, nullable=False),
    Column("tenant", String, nullable=False),
    Column("offer", Text, nullable=False),
    Column("agreement", Text),
    Column("agreement_id", String, unique=True),
    Column("agreement_status", String),
    Column("uses", Integer, nullable=False),
    Column("state", String, nullable=False),
    Column("created_at", String, nullable=False),
    Column("modified_at", String, nullable=False),
)

dsp_transfers = Table(
    "dsp_transfers",
    metadata,
    Column("pid", String, primary_key=True),
    Column("role", String, nullable=False),
    Column("provider_pid", String),
    Column("consumer_pid", String),
    Column("counterparty", String, nullable=False),
    Column("counterparty_address", String, nullable=False),
    Column("agreement_id", String, nullable=False),
    Column("dataset_id", String, nullable=False),
    Column("tenant", String, nullable=False),
    Column("format", String, nullable=False),
    Column("state", String, nullable=False),
    Column("data_address", Text),
    Column("suspended_by", String),
    Column("token_id", String, unique=True),
    Column("token_hash", String),
    Column("created_at", String, nullable=False),
    Column("modified_at", String, nullable=False),
    Index("ix_dsp_transfers_agreement", "agreement_id"),
)

# -- policy (civictwin.dataspace.audit, civictwin.dataspace.consent) -----------------------
# The audit trail: one hash chain per tenant. Each entry's `hash` is SHA-256 over the canonical
# JSON of the entry with the previous entry's hash (`prev_hash`); `audit_heads` holds each
# chain's newest entry, so removing entries from the end is detected too.
audit_log = Table(
    "audit_log",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("subject", String, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String, nullable=False),
    Column("hash", String, nullable=False),
    Index("ix_audit_log_action", "tenant", "action", "seq"),
    Index("ix_audit_log_actor", "tenant", "actor", "seq"),
    Index("ix_audit_log_at", "tenant", "at"),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String, nullable=False),
)

# Consent records (ISO/IEC TS 27560): the record whole in `doc`, the columns queries need
# beside it, and its event log. `consent_exclusions` says from when an entity covered by a
# consent is withheld: the moment of withdrawal, or the expiry of a consent that has one.
consent_records = Table(
    "consent_records",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("id", String, primary_key=True),
    Column("subject", String, nullable=False),
    Column("status", String, nullable=False),
    Column("given_at", String, nullable=False),
    Column("expires_at", String),
    Column("modified_at", String, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_consent_records_subject", "tenant", "subject"),
    Index("ix_consent_records_due", "status", "expires_at"),
)

consent_events = Table(
    "consent_events",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("consent_id", String, nullable=False),
    Column("event", String, nullable=False),
    Column("at", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_consent_events_consent", "tenant", "consent_id", "pk"),
)

consent_exclusions = Table(
    "consent_exclusions",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("entity_id", String, primary_key=True),
    Column("consent_id", String, primary_key=True),
    Column("from_at", String, nullable=False),
    Index("ix_consent_exclusions_from", "tenant", "from_at"),
)

# Catalogue (civictwin.catalog): DCAT-AP datasets kept whole as JSON, one row per dataset per
# tenant, with the columns listing and harvesting filter on; when each tenant's own datasets
# were last derived from the twin; and one row per harvest run with its report.
catalog_datasets = Table(
    "catalog_datasets",
    metadata,
    Column("tenant", String, primary_key=True),
    # Byte-order collation on PostgreSQL, so ids page in the same order as on SQLite.
    Column("id", String().with_variant(String(collation="C"), "postgresql"), primary_key=True),
    Column("origin", String, nullable=False),
    Column("source", String),
    Column("doc", Text, nullable=False),
    Column("stored_at", String, nullable=False),
    Index("ix_catalog_datasets_source", "tenant", "source", "id"),
)

catalog_refreshes = Table(
    "catalog_refreshes",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("refreshed_at", String, nullable=False),
)

catalog_harvests = Table(
    "catalog_harvests",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("source", String, nullable=False),
    Column("started_at", String, nullable=False),
    Column("finished_at", String, nullable=False),
    Column("report", Text, nullable=False),
    Index("ix_catalog_harvests_source", "tenant", "source", "pk"),
)

# Scenarios (analytics/scenario.py, store/scenario.py): one row per saved scenario with all its
# assumptions as JSON text, and its results as one row per (district, year, metric); the
# district "" is never stored, city totals are the sum of the districts.
scenarios = Table(
    "scenarios",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("description", Text, nullable=False),
    Column("assumptions", Text, nullable=False),
    Column("base_year", Integer, nullable=False),
    Column("end_year", Integer, nullable=False),
    Column("buildings", Integer, nullable=False),
    Column("weather_source", Text, nullable=False),
    Column("model_version", String, nullable=False),
    Column("created_at", String, nullable=False),
)

scenario_results = Table(
    "scenario_results",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("scenario_id", String, primary_key=True),
    Column("district", String, primary_key=True),
    Column("metric", String, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("dpsir", String, nullable=False),
    Column("value", Float, nullable=False),
)

# Privacy (privacy/, store/privacy.py): the release ledger per consumer. A release is one
# answer; its cells that carried a value are its footprint (quantity, time window, the set of
# contributors) against which later releases to the same consumer are checked for
# differencing. Contributor sets are stored once per distinct set (its sha256 over the sorted
# member ids). A privacy budget row per agreement tracks the epsilon spent.
privacy_releases = Table(
    "privacy_releases",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("id", String, primary_key=True),
    Column("consumer", String, nullable=False),
    Column("agreement", String),
    Column("quantity", String, nullable=False),
    Column("request", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("cells", Text, nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("created_at", String, nullable=False),
    Index("ix_privacy_releases_consumer", "tenant", "consumer", "created_at"),
)

privacy_footprints = Table(
    "privacy_footprints",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("consumer", String, nullable=False),
    Column("release_id", String, nullable=False),
    Column("label", String, nullable=False),
    Column("quantity", String, nullable=False),
    Column("window_start", String, nullable=False),
    Column("window_end", String, nullable=False),
    Column("set_hash", String, nullable=False),
    Index("ix_privacy_footprints_consumer", "tenant", "consumer", "quantity", "window_start"),
)

privacy_contributor_sets = Table(
    "privacy_contributor_sets",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("set_hash", String, primary_key=True),
    Column("size", Integer, nullable=False),
    Column("members", Text, nullable=False),
)

privacy_consumers = Table(
    "privacy_consumers",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("consumer", String, primary_key=True),
    Column("releases", Integer, nullable=False),
)

privacy_budgets = Table(
    "privacy_budgets",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("agreement", String, primary_key=True),
    Column("budget", Float, nullable=False),
    Column("spent", Float, nullable=False),
    Column("updated_at", String, nullable=False),
)
