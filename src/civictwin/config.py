"""One typed Settings object, read once from CIVICTWIN_* variables and an optional TOML file."""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    context_allowlist: tuple[str, ...] = Field(
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

    @field_validator("context_allowlist", mode="before")
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
