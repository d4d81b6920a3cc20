"""One typed Settings object, read once from CIVICTWIN_* variables and an optional TOML file."""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]
"""A comma-separated list in the environment (CIVICTWIN_X=a,b), a list or a string in TOML."""


class Settings(BaseSettings):
    """Every setting civictwin reads; the README lists them all (a test checks)."""

    model_config = SettingsConfigDict(env_prefix="CIVICTWIN_", extra="forbid", frozen=True)

    database_url: str = Field(
        "sqlite:///civictwin.db",
        description="Where the twin keeps its state: sqlite:///path.db (default) or "
        "postgresql://user@host:port/db (PostGIS).",
    )
    host: str = Field("127.0.0.1", description="Address the API server listens on.")
    port: int = Field(1026, ge=1, le=65535, description="Port the API server listens on.")
    allow_remote_contexts: bool = Field(
        False,
        description="Fetch user @context documents given by URL. Off by default: unknown "
        "remote contexts are refused with LdContextNotAvailable.",
    )
    context_allowlist: CommaList = Field(
        (),
        description="Host names whose @context documents may be fetched when remote contexts "
        "are allowed (comma separated). Private and loopback addresses are always refused.",
    )
    max_context_bytes: int = Field(
        262_144, ge=1024, description="Largest @context document accepted, in bytes."
    )
    max_body_bytes: int = Field(
        8_388_608, ge=1024, description="Largest request body accepted, in bytes."
    )
    default_limit: int = Field(20, ge=1, description="Entities per page when `limit` is absent.")
    max_limit: int = Field(1000, ge=1, description="Largest `limit` a query may ask for.")
    statement_timeout_seconds: float = Field(
        30.0, ge=0,
        description="Longest a database statement of the API may run before it is cancelled "
        "with TooComplexQuery (PostgreSQL statement_timeout; on SQLite a progress handler and "
        "a time-limited regular expression engine); 0 turns the limit off.",
    )
    notification_allowlist: CommaList = Field(
        (),
        description="Hosts, IP addresses or CIDR networks that subscription notifications, "
        "context-source requests and catalogue harvests asked for over HTTP may go to although "
        "they are loopback, private or link-local (comma separated). Empty by default: only "
        "public addresses are called.",
    )
    temporal_max_instances: int = Field(
        10_000, ge=1,
        description="Most attribute instances one temporal answer holds; longer histories "
        "come in pages (HTTP 206 with Content-Range, continue with a narrower timeAt).",
    )
    mqtt_mappings: CommaList = Field(
        (),
        description="Ingest mapping files (TOML, comma separated) whose MQTT bridges "
        "`civictwin serve` runs beside the API, each with its mapping's broker URL.",
    )
    public_url: str = Field(
        "", description="Base URL clients reach the twin at, used in catalogue links; empty "
        "means http://host:port.")
    catalog_title: str = Field("civictwin catalogue", description="Title of the catalogue.")
    catalog_publisher: str = Field(
        "operator", description="Participant id of the twin's operator, publisher of the "
        "datasets the twin describes itself.")
    catalog_publisher_name: str = Field(
        "civictwin operator", description="Name of that publisher (foaf:name).")
    catalog_contact_email: str = Field(
        "", description="Contact e-mail for the twin's own datasets (vCard); empty: none.")
    catalog_licence: str = Field(
        "CC_BY_4_0", description="Licence of the twin's own datasets: an EU licence code "
        "or an IRI.")
    catalog_access_rights: str = Field(
        "PUBLIC", description="Access rights of the twin's own datasets: PUBLIC, RESTRICTED "
        "or NON_PUBLIC.")
    catalog_refresh_seconds: float = Field(
        60.0, ge=0, description="How old the twin's own datasets may be before a catalogue "
        "read derives them again from the twin.")
    lake_path: str = Field(
        "civictwin-lake",
        description="Where `civictwin lake export` writes the Parquet lake: a local folder, or "
        "any fsspec URL (s3://bucket/prefix needs the s3 extra and the usual AWS settings).",
    )
    emission_factors: str = Field(
        "", description="A city's emission factor TOML overriding the shipped defaults (GHG "
        "inventory, renewable share); empty uses the defaults, which a city must replace.",
    )
    analytics_engine: str = Field(
        "duckdb", pattern="^(duckdb|spark)$",
        description="Engine that runs indicator jobs over the lake: duckdb (in-process) or "
        "spark (pyspark).",
    )
    spark_master: str = Field(
        "local[2]", description="Spark master URL when analytics_engine is spark: local[N] or "
        "a cluster such as spark://host:7077.",
    )
    validate_models: bool = Field(
        True,
        description="Check entities of the Smart Data Models types the twin knows (Building, "
        "SmartMeteringObservation, AirQualityObserved, WeatherObserved, "
        "KeyPerformanceIndicator, CityDistrict) on every write; off accepts any values.",
    )
    timezone: str = Field(
        "Europe/Brussels",
        description="The city's time zone (IANA name); forecasts read the calendar in it.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as plain text or as one JSON object per line."
    )
    max_concurrent_requests: int = Field(
        64, ge=1, description="Requests served at once; more wait, then get 503 + Retry-After."
    )
    admission_wait_seconds: float = Field(
        1.0, ge=0, description="How long an excess request may wait for a slot before its 503."
    )
    rate_limit_per_second: float = Field(
        0, ge=0, description="Requests per second allowed per client address (0: no limit); "
        "beyond it 429 + Retry-After."
    )
    rate_limit_burst: int = Field(
        100, ge=1, description="Requests a client may send at once before the rate applies."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone name") from exc
        return value
    auth_required: bool = Field(
        True,
        description="Require a participant credential (API key or signed token) on every "
        "path but the public ones. Turn off only for local development: every request then "
        "acts as the operator.",
    )
    public_paths: tuple[str, ...] = Field(
        ("/health", "/ready", "/.well-known/dspace-version", "/docs", "/redoc", "/openapi.json",
         "/catalog", "/api/3/action", "/web/", "/web/static", "/web/open", "/algorithms"),
        description="Paths (and everything below them; one ending in / names just that page) "
        "anyone may read (GET) without a credential, comma separated: by default the protocol "
        "version, the API docs, the DCAT / CKAN catalogue and the map page (its data needs a "
        "credential or `anonymous_read`). Writes always need a credential.",
    )
    anonymous_read: tuple[str, ...] = Field(
        (),
        description="Tenants whose data anyone may read (GET: NGSI-LD, map tiles and feeds) "
        "without a credential (open data), comma separated; `default` names the default "
        "tenant. `civictwin demo` opens the sample city this way.",
    )
    participant_id: str = Field(
        "urn:civictwin:participant:local",
        description="This twin's participant id in the data space (the issuer of its signed "
        "tokens and the audience of tokens sent to it).",
    )
    signing_key_file: str = Field(
        "civictwin-signing-key.pem",
        description="Ed25519 private key (PEM) this twin signs its data space messages with; "
        "`civictwin dsp identity` creates it.",
    )
    dsp_auto_agree: bool = Field(
        True,
        description="As a provider, agree at once when a consumer requests one of the "
        "catalogue's offers unchanged (else an operator agrees with `civictwin dsp agree`).",
    )
    token_ttl_seconds: int = Field(
        300, ge=10, le=3600, description="Lifetime of the signed tokens this twin sends."
    )

    network_peers: CommaList = Field(
        (),
        description="Participant ids of the peer cities in this twin's network (comma "
        "separated); each must be a registered participant with its Dataspace Protocol "
        "endpoint and public key (`civictwin participants add`).",
    )
    network_city_name: str = Field(
        "", description="This city's name in cross-city answers and benchmarks; empty: "
        "the participant id.")
    network_tenant: str = Field(
        "", description="Tenant whose data this city shares with its network: the meter "
        "history it offers for aggregates and the indicators it benchmarks; empty: default.")
    network_wait_seconds: float = Field(
        30.0, gt=0, le=600, description="How long a network step waits for a peer city "
        "(a negotiation to finalize, an aggregate to come back).")

    def base_url(self) -> str:
        """Return the URL clients reach the twin at, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @field_validator("context_allowlist", "notification_allowlist", "mqtt_mappings",
                     "public_paths", "anonymous_read", "network_peers", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from an optional TOML file, then CIVICTWIN_* variables, then overrides."""
    path = config_file or os.environ.get("CIVICTWIN_CONFIG")
    values: dict[str, Any] = {}
    if path:
        with Path(path).open("rb") as fh:
            values = tomllib.load(fh)
    env = {k: v for k, v in Settings().model_dump().items() if _env_set(k)}
    values.update(env)
    values.update(overrides)
    return Settings(**values)


def _env_set(name: str) -> bool:
    return ("CIVICTWIN_" + name.upper()) in os.environ


@functools.cache
def settings() -> Settings:
    """Return the process-wide Settings, loaded once."""
    return load_settings()
