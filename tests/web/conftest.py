"""A small generated city in a store of each kind, and one headless Chromium, for the web tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from civictwin.config import Settings
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.samplecity import SampleCity, generate_city, iter_entities
from civictwin.store import Store
from civictwin.twin import open_twin
from civictwin.web.api import STATIC
from tests.services import chromium_path

BUILDINGS = 60
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


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


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (required under CI)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium, once the page is built."""
    if not (STATIC / "index.html").is_file():
        _missing(f"the web map is not built in {STATIC}: run scripts/test, which builds it, "
                 "or `cd web && npm ci && npm run build`")
    executable = chromium_path() or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                     else None)
    if executable is None:
        _missing("no Chromium: set CIVICTWIN_TEST_CHROMIUM or install chromium")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=executable, headless=True,
                                           args=CHROMIUM_ARGS)
        yield found
        found.close()


def shot(page: Page, name: str, full_page: bool = False) -> None:
    """Write a screenshot of the page to test-artifacts/<name>.png for review."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
