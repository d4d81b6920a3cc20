"""Shared fixtures: every store test runs on real SQLite and real PostgreSQL/PostGIS."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.store import Store, open_store
from tests.servers import loopback_settings
from tests.services import (
    drop_postgres_database,
    fresh_postgres_database,
    require_mqtt_url,
    require_postgres_url,
)


@pytest.fixture(scope="session")
def postgres_store() -> Iterator[Store]:
    """One migrated PostgreSQL database for the session (tests isolate by tenant)."""
    base = require_postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not started (run the suite through scripts/test)")
    url = fresh_postgres_database(base)
    store = open_store(url)
    yield store
    store.close()
    drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A migrated store of each kind."""
    if request.param == "postgresql":
        found: Store = request.getfixturevalue("postgres_store")
        return found
    path = tmp_path_factory.mktemp("sqlite") / "twin.db"
    sqlite = open_store(f"sqlite:///{path}")
    request.addfinalizer(sqlite.close)
    return sqlite


@pytest.fixture
def tenant() -> str:
    """A tenant no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def operator_key(store: Store) -> str:
    """Register a fresh operator participant in `store`; return its API key."""
    from civictwin.dataspace.participants import Participants

    participants = Participants(store)
    operator = participants.add(f"operator-{uuid.uuid4().hex[:12]}", "Test operator",
                                {"operator"})
    return participants.issue_key(operator.id, "tests").key


@pytest.fixture
def client(store: Store, tenant: str) -> Iterator[TestClient]:
    """An in-process HTTP client, authenticated as an operator, in this test's tenant."""
    app = create_app(loopback_settings(auth_required=True), store=store)
    headers = {"NGSILD-Tenant": tenant, "Authorization": f"Bearer {operator_key(store)}"}
    with TestClient(app, headers=headers) as test_client:
        yield test_client


@pytest.fixture
def mqtt_url() -> str:
    """The test broker's URL (skips outside scripts/test, fails under CI without it)."""
    url = require_mqtt_url()
    if url is None:
        pytest.skip("Mosquitto not started (run the suite through scripts/test)")
    return url


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The official specification artefacts (DCAT-AP SHACL, Dataspace Protocol schemas)."""
    configured = os.environ.get("CIVICTWIN_SPECS_DIR")
    repo = Path(__file__).resolve().parents[1]
    path = Path(configured) if configured else repo.parent / "shared" / "specs"
    if not path.is_dir():
        pytest.fail(f"specification artefacts not found at {path} (set CIVICTWIN_SPECS_DIR)")
    return path
