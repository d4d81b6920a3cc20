"""The map in real Chromium against a real server over a small generated city.

Screenshots of the main views go to test-artifacts/ at the repository root, for review.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import mapbox_vector_tile
import pytest
from playwright.sync_api import Browser, Page, Response
from shapely.geometry import shape

from tests.servers import serve_twin
from tests.web.conftest import ARTIFACTS, Lumen, shot

pytestmark = pytest.mark.slow
LINK = {"Link": '<https://civictwin.org/ns/civictwin-context.jsonld>; '
                'rel="http://www.w3.org/ns/json-ld#context"'}
IDLE = """() => new Promise((done) => {
  const map = window.civictwinMap.map;
  if (map.loaded() && map.areTilesLoaded()) done(true); else map.once("idle", () => done(true));
})"""


@pytest.fixture
def served(lumen: Lumen) -> Iterator[str]:
    """The twin over the small city on loopback."""
    with serve_twin(lumen.store) as base:
        yield base


@pytest.fixture
def page(browser: Browser, served: str, lumen: Lumen) -> Iterator[Page]:
    """The map page for the city's tenant, rendered and idle; every request stays local."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.requests = []  # type: ignore[attr-defined]
    page.on("request", lambda r: page.requests.append(r.url))  # type: ignore[attr-defined]
    page.goto(f"{served}/web/?tenant={lumen.tenant}")
    page.wait_for_selector("body[data-map-ready=true]", timeout=30_000)
    page.evaluate(IDLE)
    yield page
    outside = [u for u in page.requests if not u.startswith((served, "data:", "blob:"))]  # type: ignore[attr-defined]
    context.close()
    assert outside == [], "the page must not reach outside the twin"


def rendered(page: Page, layer: str) -> list[str]:
    ids: list[str] = page.evaluate(
        "(layer) => window.civictwinMap.map.queryRenderedFeatures({layers: [layer]})"
        ".map((f) => f.properties.id)", layer)
    return ids


def click_entity(page: Page, entity: dict[str, Any]) -> None:
    point = shape(entity["location"]["value"]).representative_point()
    x, y = page.evaluate("([lon, lat]) => { const p = window.civictwinMap.map.project([lon, lat]);"
                         " const r = window.civictwinMap.map.getCanvas().getBoundingClientRect();"
                         " return [p.x + r.left, p.y + r.top]; }", [point.x, point.y])
    page.mouse.click(x, y)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_the_map_renders_building_tiles_from_the_twin(
        browser: Browser, served: str, lumen: Lumen) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    tiles: list[Response] = []
    page.on("response", lambda r: tiles.append(r) if "/tiles/" in r.url else None)
    page.goto(f"{served}/web/?tenant={lumen.tenant}")
    page.wait_for_selector("body[data-map-ready=true]", timeout=30_000)
    page.evaluate(IDLE)
    box = page.locator("#map canvas").bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 300
    assert tiles and all(r.status == 200 for r in tiles)
    assert {r.headers["content-type"] for r in tiles} == {"application/vnd.mapbox-vector-tile"}
    building_tiles = [r for r in tiles if "/tiles/buildings/" in r.url and r.body()]
    assert building_tiles
    decoded = mapbox_vector_tile.decode(building_tiles[0].body())
    assert decoded["buildings"]["features"]
    buildings = {e["id"] for e in lumen.city.buildings}
    on_screen = set(rendered(page, "buildings-flat"))
    assert on_screen and on_screen <= buildings
    assert len(on_screen) > len(buildings) // 2
    assert set(rendered(page, "sensors")) == {s["id"] for s in lumen.city.stations}
    shot(page, f"map-year-built-{lumen.store.dialect}")
    context.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_measures_and_3d_restyle_the_buildings(page: Page, lumen: Lumen) -> None:
    page.select_option("#measure", "heatingType")
    page.wait_for_function("document.querySelector('#legend').textContent.includes('Heat pump')")
    colour = page.evaluate(
        "() => JSON.stringify(window.civictwinMap.map.getPaintProperty('buildings-flat', "
        "'fill-color'))")
    assert "heatingType" in colour and "heatPump" in colour
    page.evaluate(IDLE)
    shot(page, "map-heating-type")
    page.select_option("#measure", "solarPotential")  # a computed measure, joined by id
    page.wait_for_function("document.querySelector('#legend').textContent.includes("
                           f"'({len(lumen.city.buildings)} buildings have readings)')")
    state = page.evaluate("id => window.civictwinMap.map.getFeatureState({source: 'buildings', "
                          "sourceLayer: 'buildings', id})", lumen.city.buildings[0]["id"])
    assert state["solarPotential"] > 0
    page.check("#extrude")
    page.wait_for_function("window.civictwinMap.map.getPitch() > 50")
    page.evaluate(IDLE)
    assert rendered(page, "buildings-3d")
    assert page.evaluate("window.civictwinMap.map.getLayoutProperty('buildings-flat', "
                         "'visibility')") == "none"
    shot(page, "map-3d")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_clicking_a_building_shows_its_attributes_and_history(
        page: Page, served: str, lumen: Lumen) -> None:
    meter = lumen.city.meters[0]
    building = lumen.entities[meter["refBuilding"]["object"]]
    instances = [{"type": "Property", "value": 100.0 + month,
                  "observedAt": f"2024-{month:02d}-10T00:00:00Z"} for month in range(1, 13)]
    response = httpx.post(f"{served}/ngsi-ld/v1/temporal/entities/{meter['id']}/attrs",
                          json={"electricityConsumption": instances},
                          headers={**LINK, "NGSILD-Tenant": lumen.tenant})
    assert response.status_code == 204
    click_entity(page, building)
    details = page.locator("#details")
    details.wait_for(state="visible")
    page.wait_for_selector("#chart svg rect")
    attrs = page.locator("#details-attrs")
    assert attrs.locator("dd[data-attr=id]").text_content() == building["id"]
    assert attrs.locator("dd[data-attr=yearBuilt]").text_content() == str(
        building["yearBuilt"]["value"])
    assert attrs.locator("dd[data-attr=heatingType]").text_content() == (
        building["heatingType"]["value"])
    assert page.locator("#chart svg rect").count() == 12
    label = page.locator("#chart").get_attribute("aria-label") or ""
    assert "12 values" in label and "latest 112 kWh" in label
    assert page.evaluate("document.activeElement.id") == "details-heading"
    page.evaluate(IDLE)
    shot(page, "building-details")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_sensor_layer_updates_when_a_sensor_changes(
        page: Page, served: str, lumen: Lumen) -> None:
    sensor = next(s for s in lumen.city.stations if s["type"] == "AirQualityObserved")
    page.wait_for_selector("body[data-live=live]")
    page.select_option("#list-kind", "sensors")
    body = {"pm25": {"type": "Property", "value": 87.5, "unitCode": "GQ",
                     "observedAt": "2025-01-01T10:00:00Z"}}
    response = httpx.patch(f"{served}/ngsi-ld/v1/entities/{sensor['id']}/attrs", json=body,
                           headers={**LINK, "NGSILD-Tenant": lumen.tenant})
    assert response.status_code == 204
    entry = page.locator(f"#live-log li[data-id='{sensor['id']}']")
    entry.wait_for()
    assert "pm25 87.5" in (entry.text_content() or "")
    listed = page.locator(f"#features button[data-id='{sensor['id']}']")
    assert "pm25 87.5" in (listed.text_content() or "")
    assert page.evaluate(
        "(id) => window.civictwinMap.map.getFeatureState({source: 'sensors', "
        "sourceLayer: 'sensors', id}).live", sensor["id"]) is True
    shot(page, "sensor-live-update")
    weather = next(s for s in lumen.city.stations if s["type"] == "WeatherObserved")
    click_entity(page, lumen.entities[weather["id"]])
    page.wait_for_function("(id) => document.querySelector('#details-attrs dd[data-attr=id]')"
                           "?.textContent === id", arg=weather["id"])
    assert page.locator("#details-attrs dd[data-attr=temperature]").text_content() == str(
        weather["temperature"]["value"])
    listed.click()
    page.wait_for_function("(id) => document.querySelector('#details-attrs dd[data-attr=id]')"
                           "?.textContent === id", arg=sensor["id"])
    page.wait_for_selector("#chart svg circle")
    assert page.locator("#chart svg circle").count() == 2  # the first reading and the new one


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_controls_and_the_feature_list_work_by_keyboard(page: Page, lumen: Lumen) -> None:
    def tab_to(element_id: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == element_id:
                return
        raise AssertionError(f"#{element_id} is not reachable with Tab")

    tab_to("measure")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.querySelector('#measure').value === 'heatingType'")
    page.wait_for_function("document.querySelector('#legend').textContent.includes('Heat pump')")
    tab_to("layer-sensors")
    page.keyboard.press("Space")
    assert page.evaluate("window.civictwinMap.map.getLayoutProperty('sensors', 'visibility')") \
        == "none"
    page.keyboard.press("Space")
    tab_to("list-kind")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.querySelector('#list-kind').value === 'buildings'")
    page.wait_for_selector("#features button")
    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.dataset.id")
    assert first in lumen.entities
    page.keyboard.press("Enter")
    page.wait_for_function("(id) => document.querySelector('#details-attrs dd[data-attr=id]')"
                           "?.textContent === id", arg=first)
    assert page.evaluate("document.activeElement.id") == "details-heading"
    shot(page, "keyboard-details")
    page.keyboard.press("Escape")
    page.locator("#details").wait_for(state="hidden")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_page_fits_a_phone(browser: Browser, served: str, lumen: Lumen) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{served}/web/?tenant={lumen.tenant}")
    page.wait_for_selector("body[data-map-ready=true]", timeout=30_000)
    page.evaluate(IDLE)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#map canvas").bounding_box()
    assert box is not None and box["width"] >= 380 and box["height"] >= 400
    assert rendered(page, "buildings-flat")
    page.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
    context.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_changed_building_is_redrawn(page: Page, served: str, lumen: Lumen) -> None:
    building = lumen.city.buildings[0]
    page.wait_for_selector("body[data-live=live]")
    response = httpx.patch(f"{served}/ngsi-ld/v1/entities/{building['id']}/attrs",
                           json={"yearBuilt": {"type": "Property", "value": 2031}},
                           headers={**LINK, "NGSILD-Tenant": lumen.tenant})
    assert response.status_code == 204
    page.wait_for_function(
        "(id) => window.civictwinMap.map.queryRenderedFeatures({layers: ['buildings-flat']})"
        ".some((f) => f.properties.id === id && f.properties.yearBuilt === 2031)",
        arg=building["id"], timeout=15_000)
