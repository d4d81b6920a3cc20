"""Smart Data Models validation on the way in, over HTTP and the broker, on both stores."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.errors import BadRequestData
from civictwin.models import EntityModels
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.entities import build_entity
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL, ContextResolver
from civictwin.samplecity import generate_city, iter_entities
from civictwin.store import Store

ENTITIES = "/ngsi-ld/v1/entities"
RESOLVER = ContextResolver(lambda url: None)
MODELS = EntityModels(RESOLVER)
NOW = "2026-01-01T00:00:00Z"


def prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra}


def building(n: int = 1, **attrs: Any) -> dict[str, Any]:
    body = {"id": f"urn:ngsi-ld:Building:m{n}", "type": "Building",
            "category": prop(["residential"]), "address": prop({"addressLocality": "Lumen"}),
            "floorsAboveGround": prop(4),
            "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                          "coordinates": [4.35, 50.85]}}}
    body.update(attrs)
    return {k: v for k, v in body.items() if v is not None}


def kpi() -> dict[str, Any]:
    """A KeyPerformanceIndicator shaped as the twin's indicator publisher writes it."""
    return {"id": "urn:ngsi-ld:KeyPerformanceIndicator:lumen:x", "type": "KeyPerformanceIndicator",
            "name": prop("Final energy use"), "process": prop("ISO 37120"),
            "calculationMethod": prop("automatic"), "calculationFrequency": prop("yearly"),
            "calculationPeriod": prop({"from": "2025-01-01", "to": "2026-01-01"}),
            "aggregatedData": prop([{"entityType": "SmartMeteringObservation",
                                     "attrs": ["totalConsumption"]}]),
            "kpiValue": prop(12.5, unitCode="KWH"),
            "dateModified": prop({"@type": "DateTime", "@value": NOW})}


def detail(response: Any) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"].endswith("BadRequestData")
    return str(body["detail"])


def test_the_sample_city_passes() -> None:
    ctx = RESOLVER.resolve(CIVICTWIN_CONTEXT_URL)
    seen = set()
    for body in iter_entities(generate_city(seed=3, buildings=80)):
        MODELS.check(build_entity(body, ctx, NOW))
        seen.add(body["type"])
    assert {"Building", "SmartMeteringObservation", "AirQualityObserved", "WeatherObserved",
            "CityDistrict"} <= seen


def test_a_published_indicator_passes() -> None:
    MODELS.check(build_entity(kpi(), RESOLVER.core, NOW))


def test_a_bad_value_is_refused_naming_entity_attribute_and_rule(client: TestClient) -> None:
    reason = detail(client.post(ENTITIES, json=building(floorsAboveGround=prop(-2))))
    assert "urn:ngsi-ld:Building:m1" in reason and "'floorsAboveGround'" in reason
    assert "at least 0" in reason and "Building" in reason
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Building:m1").status_code == 404


@pytest.mark.parametrize(("attrs", "words"), [
    ({"category": prop(["castle"])}, ["'category'", "one of", "'castle'"]),
    ({"category": None}, ["'category'", "is required"]),
    ({"address": prop("Main Street 1")}, ["'address'", "JSON object"]),
    ({"address": prop({"postalCode": 1000})}, ["'address'", "'postalCode'", "string"]),
    ({"floorsAboveGround": prop(2.5)}, ["'floorsAboveGround'", "whole number"]),
    ({"floorsAboveGround": prop("4")}, ["'floorsAboveGround'", "a number"]),
    ({"collapseRisk": prop(1.5)}, ["'collapseRisk'", "at most 1"]),
    ({"occupier": prop("urn:ngsi-ld:Person:1")}, ["'occupier'", "Relationship"]),
    ({"location": prop({"type": "Point", "coordinates": [4.3, 50.8]})},
     ["'location'", "GeoProperty"]),
])
def test_building_rules(client: TestClient, attrs: dict[str, Any], words: list[str]) -> None:
    reason = detail(client.post(ENTITIES, json=building(**attrs)))
    for word in words:
        assert word in reason


def test_observation_and_district_rules(client: TestClient) -> None:
    air = {"id": "urn:ngsi-ld:AirQualityObserved:1", "type": "AirQualityObserved",
           "dateObserved": prop(NOW), "no2": prop(-1.0),
           "location": {"type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [4.35, 50.85]}}}
    assert "'no2'" in detail(client.post(ENTITIES, json=air))
    del air["dateObserved"]
    air["no2"] = prop(20.0)
    assert "'dateObserved' is required" in detail(client.post(ENTITIES, json=air))
    weather = {**air, "id": "urn:ngsi-ld:WeatherObserved:1", "type": "WeatherObserved",
               "dateObserved": prop("yesterday")}
    assert "ISO 8601" in detail(client.post(ENTITIES, json=weather))
    district = {"id": "urn:ngsi-ld:CityDistrict:1", "type": "CityDistrict",
                "name": prop("North"), "location": air["location"]}
    assert "Polygon or MultiPolygon" in detail(client.post(ENTITIES, json=district))
    meter = {"id": "urn:ngsi-ld:SmartMeteringObservation:1", "type": "SmartMeteringObservation",
             "powerFactor": prop(2)}
    assert "'powerFactor'" in detail(client.post(ENTITIES, json=meter))
    indicator = {**kpi(), "calculationFrequency": prop("sometimes")}
    assert "'calculationFrequency'" in detail(client.post(ENTITIES, json=indicator))


def test_unknown_types_pass_untouched(client: TestClient) -> None:
    body = {"id": "urn:ngsi-ld:Shed:1", "type": "Shed", "floorsAboveGround": prop(-3),
            "category": prop("castle")}
    assert client.post(ENTITIES, json=body).status_code == 201


def test_updates_and_merges_are_checked_and_change_nothing(client: TestClient) -> None:
    assert client.post(ENTITIES, json=building()).status_code == 201
    url = f"{ENTITIES}/urn:ngsi-ld:Building:m1"
    assert "'floorsAboveGround'" in detail(client.patch(
        f"{url}/attrs", json={"floorsAboveGround": prop(-1)}))
    assert "'category'" in detail(client.patch(url, json={"category": prop(["moon"])}))
    assert "'collapseRisk'" in detail(client.post(f"{url}/attrs",
                                                  json={"collapseRisk": prop(7)}))
    assert "'floorsAboveGround'" in detail(client.patch(
        f"{url}/attrs/floorsAboveGround", json={"value": -5}))
    assert "'category'" in detail(client.put(url, json={"type": "Building"}))
    assert "may not be removed" in detail(client.delete(f"{url}/attrs/category"))
    current = client.get(url, params={"options": "keyValues"}).json()
    assert current["floorsAboveGround"] == 4 and current["category"] == ["residential"]
    assert "collapseRisk" not in current


def test_batches_report_each_refused_entity(client: TestClient) -> None:
    bodies = [building(1), building(2, floorsAboveGround=prop(-1)), building(3)]
    answer = client.post("/ngsi-ld/v1/entityOperations/upsert", json=bodies)
    assert answer.status_code == 207, answer.text
    errors = answer.json()["errors"]
    assert [e["entityId"] for e in errors] == ["urn:ngsi-ld:Building:m2"]
    assert "'floorsAboveGround'" in errors[0]["error"]["detail"]
    assert sorted(answer.json()["success"]) == ["urn:ngsi-ld:Building:m1",
                                                "urn:ngsi-ld:Building:m3"]


def test_a_partial_upsert_may_build_an_entity_up(client: TestClient) -> None:
    footprint = {"id": "urn:ngsi-ld:Building:f1", "type": "Building",
                 "floorsAboveGround": prop(3)}
    upsert = "/ngsi-ld/v1/entityOperations/upsert"
    assert client.post(upsert, params={"options": "update"}, json=[footprint]).status_code \
        == 201
    bad = {**footprint, "floorsAboveGround": prop(-3)}
    answer = client.post(upsert, params={"options": "update"}, json=[bad])
    assert answer.status_code == 207 and "'floorsAboveGround'" in str(answer.json()["errors"])


def test_validation_can_be_switched_off(store: Store, tenant: str) -> None:
    app = create_app(Settings(database_url="sqlite://", validate_models=False), store=store)
    with TestClient(app, headers={"NGSILD-Tenant": tenant}) as off:
        assert off.post(ENTITIES, json=building(floorsAboveGround=prop(-2),
                                                category=None)).status_code == 201


BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "floorsAboveGround": st.one_of(st.integers(max_value=-1), st.floats(0.01, 1e6).filter(
        lambda f: not f.is_integer()), st.text(), st.booleans(), st.none().map(lambda _: [])),
    "collapseRisk": st.one_of(st.floats(1.0001, 1e9), st.floats(-1e9, -0.0001), st.text()),
    "peopleCapacity": st.one_of(st.floats(-1e9, -1e-9), st.integers(max_value=-1)),
    "category": st.one_of(st.text(min_size=1).filter(lambda t: t.lower() == t and t not in {
        "office", "house", "hut", "sty", "barn"}).map(lambda t: [t + "~"]),
        st.lists(st.integers(), min_size=1)),
}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_bad_values_are_refused_and_change_nothing(store: Store,
                                                             data: st.DataObject) -> None:
    tenant = f"h{uuid.uuid4().hex[:10]}"
    broker = ContextBroker(store, Settings(database_url="sqlite://"))
    ctx = broker.context(None)
    name = data.draw(st.sampled_from(sorted(BAD_VALUES)))
    value = data.draw(BAD_VALUES[name])
    with pytest.raises(BadRequestData, match=f"'{name}'"):
        broker.create_entity(tenant, building(**{name: prop(value)}), ctx)
    assert broker.store.get_entity(tenant, "urn:ngsi-ld:Building:m1") is None
    result = broker.batch_upsert(tenant, [building(**{name: prop(value)})], ctx, replace=False)
    assert result.success == [] and name in result.errors[0][1].detail
