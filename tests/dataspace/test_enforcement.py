"""Enforcement on both stores: each policy condition decides real NGSI-LD reads.

The agreement and started transfer are written straight into the provider's tables (the
negotiation itself is tested over HTTP in test_dsp_two_twins.py), so every policy case runs
against one in-process twin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.dataspace.participants import Participants
from civictwin.store import Store
from tests.conftest import operator_key
from tests.dataspace.grants import record_grant
from tests.dataspace.twins import offer_buildings

INSIDE = "[4.35,50.85]"
OUTSIDE = "[5.90,51.90]"
LUMEN = {"type": "Polygon", "coordinates": [[[4.3, 50.8], [4.4, 50.8], [4.4, 50.9],
                                             [4.3, 50.9], [4.3, 50.8]]]}


@pytest.fixture
def twin(store: Store, tenant: str) -> Iterator[TestClient]:
    """A provider twin with two buildings (one with history) and a streetlight in `tenant`."""
    with TestClient(create_app(Settings(database_url="sqlite://"), store=store)) as client:
        headers = {"Authorization": f"Bearer {operator_key(store)}", "NGSILD-Tenant": tenant}
        for n, (lon, lat) in enumerate(((4.35, 50.85), (4.36, 50.86)), start=1):
            body = {"id": f"urn:ngsi-ld:Building:{n}", "type": "Building",
                    "category": {"type": "Property", "value": ["residential"]},
                    "address": {"type": "Property", "value": {"addressLocality": "Lumen"}},
                    "energy": {"type": "Property", "value": 100 * n},
                    "location": {"type": "GeoProperty",
                                 "value": {"type": "Point", "coordinates": [lon, lat]}}}
            assert client.post("/ngsi-ld/v1/entities", json=body, headers=headers) \
                .status_code == 201
        client.patch("/ngsi-ld/v1/entities/urn:ngsi-ld:Building:1/attrs", headers=headers,
                     json={"energy": {"type": "Property", "value": 150}})
        client.post("/ngsi-ld/v1/entities", headers=headers, json={
            "id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight",
            "lamp": {"type": "Property", "value": "on"}})
        yield client


def grant(store: Store, tenant: str, constraints: list[dict[str, Any]],
          temporal: bool = True, state: str = "STARTED") -> dict[str, str]:
    """Record a finalized agreement and a transfer for a new consumer; return its headers."""
    suffix = uuid.uuid4().hex[:8]
    consumer = Participants(store).add(f"urn:consumer:{suffix}", "Consumer", {"consumer"},
                                       f"c{suffix}")
    Participants(store).add(f"dept-{suffix}", "Department", {"provider"}, tenant)
    offer = {"@id": f"urn:offer:{suffix}", "@type": "Offer",
             "permission": [{"action": "use", "constraint": constraints}]}
    settings = Settings()
    dataset = offer_buildings(store, settings, tenant, "urn:lumen", temporal, [offer])
    return record_grant(store, settings, tenant, consumer.id, dataset, offer, suffix,
                        state)[1]


def _near(coordinates: str) -> dict[str, str]:
    return {"type": "Building", "georel": "near;maxDistance==2000", "geometry": "Point",
            "coordinates": coordinates}


def test_a_place_condition_is_checked_against_the_geo_query(twin: TestClient, store: Store,
                                                            tenant: str) -> None:
    headers = grant(store, tenant, [{"leftOperand": "spatial", "operator": "isPartOf",
                                     "rightOperand": LUMEN}])
    inside = twin.get("/ngsi-ld/v1/entities", params=_near(INSIDE), headers=headers)
    assert inside.status_code == 200 and len(inside.json()) == 2
    outside = twin.get("/ngsi-ld/v1/entities", params=_near(OUTSIDE), headers=headers)
    assert outside.status_code == 403 and outside.json()["rule"] == "no-permission"
    anywhere = twin.get("/ngsi-ld/v1/entities", headers=headers)
    assert anywhere.status_code == 403


def test_an_aggregate_only_policy_allows_aggregated_history_only(twin: TestClient,
                                                                 store: Store,
                                                                 tenant: str) -> None:
    headers = grant(store, tenant, [{"leftOperand": "civictwin:aggregation", "operator": "eq",
                                     "rightOperand": "aggregate"}])
    assert twin.get("/ngsi-ld/v1/entities", headers=headers).status_code == 403
    raw = twin.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Building:1", headers=headers)
    assert raw.status_code == 403
    summed = twin.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Building:1", headers=headers,
                      params={"attrs": "energy", "aggrMethods": "sum,max",
                              "aggrPeriodDuration": "P1Y"})
    assert summed.status_code == 200, summed.text
    assert summed.json()["energy"]["max"][0][0] == 150


def test_an_expired_agreement_reads_nothing(twin: TestClient, store: Store,
                                            tenant: str) -> None:
    headers = grant(store, tenant, [{"leftOperand": "dateTime", "operator": "lteq",
                                     "rightOperand": "2025-12-31T23:59:59Z"}])
    expired = twin.get("/ngsi-ld/v1/entities", headers=headers)
    assert expired.status_code == 403 and "until 31 December 2025" in expired.json()["detail"]


def test_a_dataset_without_history_and_a_transfer_not_started(twin: TestClient, store: Store,
                                                              tenant: str) -> None:
    current_only = grant(store, tenant, [], temporal=False)
    assert twin.get("/ngsi-ld/v1/entities", headers=current_only).status_code == 200
    history = twin.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Building:1",
                       headers=current_only)
    assert history.status_code == 403 and "does not include history" in history.json()["detail"]
    waiting = grant(store, tenant, [], state="REQUESTED")
    assert "REQUESTED" in twin.get("/ngsi-ld/v1/entities", headers=waiting).json()["detail"]


def test_counts_types_and_attributes_see_only_the_dataset(twin: TestClient, store: Store,
                                                          tenant: str) -> None:
    headers = grant(store, tenant, [])
    counted = twin.get("/ngsi-ld/v1/entities", params={"count": "true", "limit": "0"},
                       headers=headers)
    assert counted.headers["NGSILD-Results-Count"] == "2"
    assert twin.get("/ngsi-ld/v1/entities", params={"attrs": "lamp", "count": "true"},
                    headers=headers).headers["NGSILD-Results-Count"] == "0"
    details = twin.get("/ngsi-ld/v1/types", params={"details": "true"}, headers=headers).json()
    assert [t["typeName"] for t in details] == ["Building"]
    assert details[0]["attributeNames"] == ["address", "category", "energy", "location"]
    assert twin.get("/ngsi-ld/v1/types/Building", headers=headers).json()["entityCount"] == 2
    names = twin.get("/ngsi-ld/v1/attributes", params={"details": "true"},
                     headers=headers).json()
    assert {a["attributeName"] for a in names} == {"address", "category", "energy", "location"}
    assert all(a["typeNames"] == ["Building"] for a in names)
    assert twin.get("/ngsi-ld/v1/attributes/lamp", headers=headers).status_code == 404
    query = twin.get("/ngsi-ld/v1/temporal/entities", params={"type": "Streetlight"},
                     headers=headers)
    assert query.status_code == 403


def test_a_place_named_by_id_is_an_entity_of_the_provider(twin: TestClient, store: Store,
                                                          tenant: str) -> None:
    district = "urn:ngsi-ld:CityDistrict:lumen:centre"
    made = twin.post("/ngsi-ld/v1/entities", json={
        "id": district, "type": "CityDistrict", "name": {"type": "Property", "value": "Centre"},
        "location": {"type": "GeoProperty", "value": LUMEN}},
        headers={"Authorization": f"Bearer {operator_key(store)}", "NGSILD-Tenant": tenant})
    assert made.status_code == 201
    headers = grant(store, tenant, [{"leftOperand": "spatial", "operator": "isPartOf",
                                     "rightOperand": district}])
    assert twin.get("/ngsi-ld/v1/entities", params=_near(INSIDE), headers=headers) \
        .status_code == 200
    assert twin.get("/ngsi-ld/v1/entities", params=_near(OUTSIDE), headers=headers) \
        .status_code == 403
    assert twin.get("/ngsi-ld/v1/entities/" + district, headers=headers).status_code == 403
