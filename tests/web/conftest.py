"""A small generated city in a store of each kind, for the web map's tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from civictwin.config import Settings
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.samplecity import SampleCity, generate_city, iter_entities
from civictwin.store import Store
from civictwin.twin import open_twin

BUILDINGS = 60


@dataclass(frozen=True)
class Lumen:
    """The sample city loaded into one tenant of a store."""

    store: Store
    tenant: str
    city: SampleCity
    entities: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def small_city() -> SampleCity:
    """Return a small deterministic sample city."""
    return generate_city(seed=7, buildings=BUILDINGS)


def load_city(store: Store, tenant: str, city: SampleCity) -> Lumen:
    """Upsert the city's entities into the tenant (no meter history: tests add their own)."""
    twin = open_twin(Settings(database_url="sqlite://"), store)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    entities = list(iter_entities(city))
    result = twin.broker.batch_upsert(tenant, entities, ctx)
    assert not result.errors
    return Lumen(store, tenant, city, {e["id"]: e for e in entities})


@pytest.fixture
def lumen(store: Store, tenant: str, small_city: SampleCity) -> Lumen:
    """The small city in this test's tenant of each store."""
    return load_city(store, tenant, small_city)
