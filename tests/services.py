"""Access to the throw-away services that ``scripts/test`` starts for the test suite.

Plain helpers, no pytest: fixtures in ``conftest.py`` decide whether to skip.

``scripts/test`` exports:

* ``CIVICTWIN_TEST_DATABASE_URL``: ``postgresql://civictwin@127.0.0.1:PORT/civictwin_test``
  (PostgreSQL 15 with PostGIS, trust auth; the role is a superuser, and the
  ``postgis`` extension already exists in ``civictwin_test``).
* ``CIVICTWIN_TEST_MQTT_URL``: ``mqtt://127.0.0.1:PORT`` (Mosquitto, anonymous).
* ``CIVICTWIN_TEST_CHROMIUM``: path of a Chromium binary.

Under CI (env var ``CI`` set) a missing service is an error, not a skip.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

DATABASE_URL_VAR = "CIVICTWIN_TEST_DATABASE_URL"
MQTT_URL_VAR = "CIVICTWIN_TEST_MQTT_URL"
CHROMIUM_VAR = "CIVICTWIN_TEST_CHROMIUM"


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _require(name: str, what: str) -> str | None:
    value = _env(name)
    if value is None and _in_ci():
        raise RuntimeError(
            f"{name} is not set but CI is: {what} is required under CI. "
            "Run the tests through scripts/test, which starts it."
        )
    return value


def postgres_url() -> str | None:
    """The test database URL, or None when no PostgreSQL was started."""
    return _env(DATABASE_URL_VAR)


def mqtt_url() -> str | None:
    """The test MQTT broker URL, or None when no broker was started."""
    return _env(MQTT_URL_VAR)


def chromium_path() -> str | None:
    """Path of the Chromium binary for browser tests, or None."""
    return _env(CHROMIUM_VAR)


def require_postgres_url() -> str | None:
    """The test database URL; None (caller skips) outside CI; RuntimeError under CI."""
    return _require(DATABASE_URL_VAR, "the test PostgreSQL")


def require_mqtt_url() -> str | None:
    """The test broker URL; None (caller skips) outside CI; RuntimeError under CI."""
    return _require(MQTT_URL_VAR, "the test MQTT broker")


def _libpq_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (``postgresql+psycopg://``) for psycopg."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


def _with_database(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


def _database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise ValueError(f"no database name in {url!r}")
    return name


def fresh_postgres_database(base_url: str) -> str:
    """Create a uniquely named database with PostGIS on base_url's server; return its URL.

    The returned URL keeps base_url's scheme, user, host, port and query.
    Drop it with :func:`drop_postgres_database`.
    """
    import psycopg
    from psycopg import sql

    name = f"civictwin_t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq_url(base_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(base_url, name)
    try:
        with psycopg.connect(_libpq_url(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except BaseException:
        drop_postgres_database(url)
        raise
    return url


def drop_postgres_database(url: str) -> None:
    """Drop the database named in url, first ending any connections to it."""
    import psycopg
    from psycopg import sql

    name = _database_name(url)
    admin_url = _libpq_url(_with_database(url, "postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
