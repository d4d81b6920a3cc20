"""The dashboard's data space views in real Chromium against one real server for the module.

The twin requires credentials; the city's tenant is open data (`anonymous_read`), so an
anonymous visitor sees the map and the catalogue, and signs in with an API key for the rest.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, Response

from civictwin.store import Store, open_store
from tests.servers import serve_twin
from tests.web.conftest import load_city, shot
from tests.web.dataspace_seed import Seeded, seed

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Site:
    """The served twin: its base URL, store and seeded data space."""

    base: str
    store: Store
    seeded: Seeded


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, small_city: object) -> Iterator[Site]:
    """One twin over a SQLite file with the small city and the seeded data space."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'twin.db'}")
    tenant = "lumen"
    load_city(store, tenant, small_city)  # type: ignore[arg-type]
    seeded = seed(store, tenant)
    with serve_twin(store, auth_required=True, anonymous_read=(tenant,)) as base:
        yield Site(base, store, seeded)


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser tab (no stored key); every request it makes stays on the twin."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    requests: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    yield tab
    outside = [u for u in requests if not u.startswith((site.base, "data:", "blob:"))]
    context.close()
    assert outside == [], "the page must not reach outside the twin"


def open_view(page: Page, site: Site, view: str, tenant: bool = True) -> None:
    query = f"?tenant={site.seeded.tenant}" if tenant else ""
    page.goto(f"{site.base}/web/{query}#{view}")
    page.wait_for_function("(v) => document.body.dataset.view === v", arg=view.split("/")[0])


def settled(page: Page, view: str) -> str:
    """Wait until a view has its data or says why not; return its state."""
    body = page.locator(f"#{view}-body")
    page.wait_for_function("(id) => ['ready', 'forbidden', 'unauthorized', 'error', 'missing']"
                           ".includes(document.getElementById(id).dataset.state)",
                           arg=f"{view}-body")
    return body.get_attribute("data-state") or ""


def sign_in(page: Page, site: Site, key: str, tenant: bool = True) -> None:
    open_view(page, site, "sign-in", tenant)
    page.fill("#api-key", key)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#sign-out")


def test_the_catalogue_search_finds_a_dataset_and_shows_its_policy(page: Page,
                                                                   site: Site) -> None:
    open_view(page, site, "catalogue")
    assert settled(page, "catalogue") == "ready"
    assert "Not signed in" in (page.text_content("#who") or "")
    page.fill("#catalogue-q", "heat demand")
    page.press("#catalogue-q", "Enter")
    page.wait_for_function("document.querySelector('#catalogue-count')?.textContent"
                           ".includes('match')")
    results = page.locator("#catalogue-results li.dataset")
    assert results.count() == 1
    assert results.first.get_attribute("data-id") == site.seeded.dataset
    shot(page, "dashboard-catalogue")
    results.first.locator("a").click()
    assert settled(page, "dataset") == "ready"
    policy = page.locator(".policy-text").first.text_content() or ""
    assert "climate-research" in policy and "City of Lumen" in policy
    assert "Anything not permitted here is refused." in policy
    assert page.text_content("#dataset-heading") == "Heat demand of Lumen"
    shot(page, "dashboard-dataset-policy", full_page=True)


def test_the_audit_verify_button_reports_a_verified_chain(page: Page, site: Site) -> None:
    sign_in(page, site, site.seeded.operator_key)
    assert "Signed in as Operator" in (page.text_content("#who") or "")
    page.click("#views-nav a[data-view=audit]")
    assert settled(page, "audit") == "ready"
    page.wait_for_selector("#audit-table tbody tr")
    page.click("#audit-verify")
    page.wait_for_function("document.querySelector('#audit-result').dataset.ok !== undefined")
    result = page.locator("#audit-result")
    assert result.get_attribute("data-ok") == "true"
    rows = page.locator("#audit-table tbody tr").count()
    assert rows > 0
    assert "Verified: all" in (result.text_content() or "")
    shot(page, "dashboard-audit-verified")


def test_a_participant_without_the_right_is_refused(page: Page, site: Site) -> None:
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/web/api/" in r.url else None)
    sign_in(page, site, site.seeded.consumer_key, tenant=False)
    assert "Lumen Climate Institute" in (page.text_content("#who") or "")
    assert "locked" in (page.get_attribute("#views-nav a[data-view=audit]", "class") or "")
    page.click("#views-nav a[data-view=audit]")
    assert settled(page, "audit") == "forbidden"
    notice = page.locator("#audit-body [role=alert]")
    assert "Not allowed" in (notice.text_content() or "")
    assert "operator" in (notice.text_content() or "")
    assert any(r.status == 403 and "/web/api/audit" in r.url for r in answers)
    shot(page, "dashboard-forbidden")
    page.click("#views-nav a[data-view=agreements]")
    assert settled(page, "agreements") == "ready"
    agreement = page.locator(f"article.agreement:has-text('{site.seeded.agreement}')")
    assert "FINALIZED" in (agreement.text_content() or "")
    shot(page, "dashboard-agreements")


def test_an_anonymous_visitor_is_asked_to_sign_in(page: Page, site: Site) -> None:
    open_view(page, site, "consent")
    assert settled(page, "consent") == "unauthorized"
    assert page.locator("#consent-body a[href='#sign-in']").is_visible()


def test_the_consent_overview_counts_consents_by_status(page: Page, site: Site) -> None:
    sign_in(page, site, site.seeded.provider_key, tenant=False)
    page.click("#views-nav a[data-view=consent]")
    assert settled(page, "consent") == "ready"
    tally = {li.get_attribute("data-status"): li.locator("strong").text_content()
             for li in page.locator("#consent-tally li").all()}
    assert tally == {"given": "2", "withdrawn": "1"}
    assert page.locator("#consent-table tbody tr").count() == site.seeded.consents
    shot(page, "dashboard-consent")
