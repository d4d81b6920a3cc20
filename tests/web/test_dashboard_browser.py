"""The dashboard's data space views in real Chromium against one real server for the module.

The twin requires credentials; the city's tenant is open data (`anonymous_read`), so an
anonymous visitor sees the map and the catalogue, and signs in with an API key for the rest.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response

from civictwin.samplecity import SampleCity
from civictwin.store import Store, open_store
from tests.privacy.city import Meter, build, monthly
from tests.servers import serve_twin
from tests.web.conftest import load_city, shot
from tests.web.dataspace_seed import Seeded, seed
from tests.web.insight_seed import seed_insight

pytestmark = pytest.mark.slow
PRIVATE = "metered"  # a tenant of private meter data, released only as aggregates


@dataclass(frozen=True)
class Site:
    """The served twin: its base URL, store, seeded data space and forecast building."""

    base: str
    store: Store
    seeded: Seeded
    forecast: str

    def get(self, path: str, key: str, tenant: str | None = None) -> Any:
        """Return the JSON the API answers `key`'s holder (what the page must show)."""
        headers = {"Authorization": f"Bearer {key}"}
        if tenant is not None:
            headers["NGSILD-Tenant"] = tenant
        answer = httpx.get(f"{self.base}{path}", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, small_city: SampleCity) -> Iterator[Site]:
    """One twin over a SQLite file: the small city, the seeded data space, insight's data."""
    folder = tmp_path_factory.mktemp("dash")
    store = open_store(f"sqlite:///{folder / 'twin.db'}")
    tenant = "lumen"
    load_city(store, tenant, small_city)
    seeded = seed(store, tenant)
    building = seed_insight(store, folder / "lake", small_city, tenant)
    build(store, PRIVATE, [Meter(n, "North" if n <= 12 else "South",
                                 readings=monthly(2024, [100.0 + n] * 12)) for n in range(1, 16)])
    with serve_twin(store, auth_required=True, anonymous_read=(tenant,),
                    lake_path=str(folder / "lake")) as base:
        # Two ledgers (one per consumer): one consumer's second release would difference.
        for on_fail, consumer in (("merge", seeded.consumer_id), ("suppress", None)):
            answer = httpx.post(f"{base}/privacy/aggregates", json={
                "quantity": "electricity", "groupBy": ["district"], "period": None,
                "start": "2024-01-01", "end": "2025-01-01", "consumer": consumer,
                "rules": {"minContributors": 10, "onFail": on_fail}}, headers={
                "Authorization": f"Bearer {seeded.operator_key}", "NGSILD-Tenant": PRIVATE})
            assert answer.status_code == 201, answer.text
        yield Site(base, store, seeded, building)


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


def test_an_indicator_card_shows_the_computed_value(page: Page, site: Site) -> None:
    sign_in(page, site, site.seeded.operator_key, tenant=False)
    page.click("#views-nav a[data-view=indicators]")
    assert settled(page, "indicators") == "ready"
    served = {i["id"]: i for i in site.get("/insight/indicators",
                                           site.seeded.operator_key)["indicators"]}
    cards = page.locator("article.card")
    assert cards.count() == len(served) > 0
    energy = page.locator("article.card[data-indicator=energy-per-capita]")
    shown = energy.locator(".value data").get_attribute("data-raw")
    assert shown is not None and float(shown) == served["energy-per-capita"]["value"]
    for card in cards.all():
        indicator = served[card.get_attribute("data-indicator") or ""]
        raw = card.locator(".value data").get_attribute("data-raw")
        assert (float(raw) if raw else None) == indicator["value"]
        iso = card.locator(".iso").text_content() or ""
        assert (indicator["iso"] or indicator["standard"]) in iso
    shot(page, "dashboard-indicators", full_page=True)
    key = site.seeded.operator_key
    probe = site.get("/insight/indicators?period=2024-01", key)["indicators"]
    month = max(p["period"] for i in probe for p in i["series"])
    monthly = {i["id"]: i for i in site.get(f"/insight/indicators?period={month}",
                                            key)["indicators"]}
    page.select_option("#indicator-period", "month")
    page.wait_for_function("(m) => document.querySelector('#indicator-cards .card .hint')"
                           "?.textContent.startsWith(m)", arg=month)
    for card in page.locator("article.card").all():
        indicator = monthly[card.get_attribute("data-indicator") or ""]
        raw = card.locator(".value data").get_attribute("data-raw")
        assert (float(raw) if raw else None) == indicator["value"]
        trend = card.locator(".spark svg path")
        assert trend.count() == (1 if len(indicator["series"]) > 1 else 0)
    assert page.locator(".spark svg path").count() > 0  # months make a trend
    shot(page, "dashboard-indicators-monthly", full_page=True)


def test_the_ghg_inventory_and_trajectory_are_drawn(page: Page, site: Site) -> None:
    sign_in(page, site, site.seeded.operator_key, tenant=False)
    page.click("#views-nav a[data-view=climate]")
    assert settled(page, "climate") == "ready"
    ghg = site.get("/insight/ghg", site.seeded.operator_key)
    total = page.locator("#ghg-total").get_attribute("value")
    assert total is not None and float(total) == ghg["total_tco2e"]
    estimated = sorted(s["tco2e"] for s in ghg["sectors"] if s["tco2e"] is not None)
    bars = page.locator("#ghg-sectors svg rect")
    assert sorted(float(b.get_attribute("data-value") or "nan") for b in bars.all()) == estimated
    lines = page.locator("#ghg-trajectory svg path")
    assert [p.get_attribute("data-name") for p in lines.all()] == ["Actual", "Target"]
    targets = page.locator("#ghg-trajectory svg [data-value]").count()
    known = sum((p["actual"] is not None) + (p["target"] is not None) for p in ghg["trajectory"])
    assert targets == known > 1
    shot(page, "dashboard-ghg", full_page=True)


def test_two_scenarios_are_compared_in_charts(page: Page, site: Site) -> None:
    sign_in(page, site, site.seeded.operator_key)
    page.click("#views-nav a[data-view=scenarios]")
    assert settled(page, "scenarios") == "ready"
    page.wait_for_selector("#scenario-charts[data-compared]")
    compared = page.get_attribute("#scenario-charts", "data-compared") or ""
    first, second = compared.split(",")
    assert {first, second} == {"fast", "slow"}
    answer = site.get(f"/insight/scenarios/compare?ids={compared}", site.seeded.operator_key,
                      site.seeded.tenant)
    emissions = page.locator("#scenario-emissions svg")
    assert emissions.get_attribute("data-series") == "2"
    for n, scenario in enumerate(answer["scenarios"]):
        drawn = page.locator(f"#scenario-emissions svg path[data-name='{scenario['name']}']")
        assert drawn.count() == 1
        values = [float(v) for v in page.eval_on_selector_all(
            "#scenario-emissions svg [data-value]",
            "(nodes, n) => nodes.filter((_, i) => Math.floor(i / (nodes.length / 2)) === n)"
            ".map((node) => node.getAttribute('data-value'))", n)]
        assert values == [y["tco2e"] for y in scenario["years"]]
    page.select_option("#scenario-b", first)
    page.wait_for_function("(id) => document.querySelector('#scenario-charts')"
                           ".dataset.compared === id", arg=first)
    assert page.get_attribute("#scenario-emissions svg", "data-series") == "1"
    page.select_option("#scenario-b", second)
    page.wait_for_function("(c) => document.querySelector('#scenario-charts')"
                           ".dataset.compared === c", arg=compared)
    shot(page, "dashboard-scenarios", full_page=True)


def test_a_forecast_is_drawn_against_what_was_measured(page: Page, site: Site) -> None:
    sign_in(page, site, site.seeded.operator_key)
    page.click("#views-nav a[data-view=forecasts]")
    assert settled(page, "forecasts") == "ready"
    page.wait_for_selector("#forecast-chart svg")
    assert page.input_value("#forecast-entity") == site.forecast
    served = site.get(f"/insight/forecasts?entity={site.forecast}", site.seeded.operator_key,
                      site.seeded.tenant)
    markers = page.locator("#forecast-chart svg [data-value]")
    measured = sum(p["actual"] is not None for p in served["points"])
    assert markers.count() == len(served["points"]) + measured
    assert [p.get_attribute("data-name") for p in
            page.locator("#forecast-chart svg path").all()] == ["Forecast", "Measured"]
    shot(page, "dashboard-forecast", full_page=True)


def test_the_aggregates_view_shows_each_cell_with_its_status(page: Page, site: Site) -> None:
    sign_in(page, site, site.seeded.operator_key, tenant=False)
    page.goto(f"{site.base}/web/?tenant={PRIVATE}#aggregates")
    assert settled(page, "aggregates") == "ready"
    page.wait_for_selector("#cells-table tbody tr")
    releases = site.get("/privacy/releases", site.seeded.operator_key, PRIVATE)
    assert page.locator("#release option").count() == len(releases) == 2
    newest = releases[0]
    assert newest["method"]  # the suppressing release, asked for last
    rows = page.locator("#cells-table tbody tr")
    assert rows.count() == len(newest["cells"])
    for row, cell in zip(rows.all(), newest["cells"], strict=True):
        texts = [c.text_content() or "" for c in row.locator("td").all()]
        assert texts[3] == str(cell["contributors"])
        assert texts[4] == cell["status"] and texts[5] == cell["reason"]
        assert (texts[2] == "withheld") == (cell["value"] is None)
    statuses = {c["status"] for c in newest["cells"]}
    assert "suppressed" in statuses and "released" in statuses
    shot(page, "dashboard-aggregates-suppressed", full_page=True)
    page.select_option("#release", releases[1]["id"])
    page.wait_for_function("(n) => document.querySelectorAll('#cells-table tbody tr').length"
                           " === n && document.querySelector('#release-cells')"
                           ".dataset.state === 'ready'", arg=len(releases[1]["cells"]))
    merged = {c["status"] for c in releases[1]["cells"]}
    shown = {li.get_attribute("data-status") for li in page.locator("#release-tally li").all()}
    assert shown == merged
    shot(page, "dashboard-aggregates-merged", full_page=True)


def test_the_views_work_by_keyboard_and_fit_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    open_view(page, site, "catalogue")
    assert settled(page, "catalogue") == "ready"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.view") == "agreements":
            break
    else:
        raise AssertionError("the Agreements link is not reachable with Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("document.body.dataset.view === 'agreements'")
    assert page.evaluate("document.activeElement.id") == "agreements-heading"
    assert settled(page, "agreements") == "unauthorized"
    assert page.get_attribute("#views-nav a[data-view=agreements]", "aria-current") == "page"
    for view in ("catalogue", f"dataset/{site.seeded.dataset}"):
        open_view(page, site, view)
        settled(page, view.split("/")[0])
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, view
    shot(page, "dashboard-phone-dataset", full_page=True)
    context.close()
