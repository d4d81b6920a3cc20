"""Distributed queries between two real twins served by uvicorn on loopback ports.

Twin A runs over the `store` fixture (SQLite and PostgreSQL), twin B over its own SQLite file;
A reaches B over real HTTP, as it would reach any NGSI-LD broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.store import Store, open_store
from tests.servers import free_port, serve_twin

ENTITIES = "/ngsi-ld/v1/entities"
REGISTRATIONS = "/ngsi-ld/v1/csourceRegistrations"
SMART = "https://smartdatamodels.org/dataModel.Building/"


@dataclass
class Twin:
    """One served twin: its base URL and a client speaking for one tenant."""

    url: str
    tenant: str
    http: httpx.Client

    def create(self, *entities: dict[str, Any]) -> None:
        for entity in entities:
            response = self.http.post(ENTITIES, json=entity)
            assert response.status_code == 201, response.text

    def register(self, other: Twin, mode: str = "inclusive", **info: Any) -> str:
        body = {"type": "ContextSourceRegistration", "endpoint": other.url, "mode": mode,
                "information": [info or {"entities": [{"type": "Meter"}]}],
                "contextSourceInfo": [{"key": "NGSILD-Tenant", "value": other.tenant}]}
        response = self.http.post(REGISTRATIONS, json=body)
        assert response.status_code == 201, response.text
        return response.headers["Location"].rsplit("/", 1)[1]

    def ids(self, **params: str) -> list[str]:
        response = self.http.get(ENTITIES, params=params)
        assert response.status_code == 200, response.text
        return [e["id"].rsplit(":", 1)[1] for e in response.json()]


@pytest.fixture
def twins(store: Store, tenant: str, tmp_path: Path) -> Iterator[tuple[Twin, Twin]]:
    """Twin A (over `store`) and twin B (its own SQLite file), both served on loopback."""
    other = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    with serve_twin(store) as url_a, serve_twin(other) as url_b, \
            httpx.Client(base_url=url_a, headers={"NGSILD-Tenant": tenant}, timeout=30,
                         trust_env=False) as http_a, \
            httpx.Client(base_url=url_b, headers={"NGSILD-Tenant": tenant + "b"}, timeout=30,
                         trust_env=False) as http_b:
        yield Twin(url_a, tenant, http_a), Twin(url_b, tenant + "b", http_b)
    other.close()


def meter(n: int, power: float = 10.0, observed: str = "2026-03-01T10:00:00Z",
          **extra: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Meter:{n}", "type": "Meter",
            "power": {"type": "Property", "value": power, "observedAt": observed}, **extra}


def test_a_query_merges_both_twins_with_counts_and_paging(twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    a.create(meter(1), meter(3, power=30), meter(5), {"id": "urn:ngsi-ld:Bus:1", "type": "Bus"})
    b.create(meter(2, power=20), meter(4, power=40), meter(
        3, power=33, observed="2026-03-01T11:00:00Z",
        voltage={"type": "Property", "value": 230}))
    assert a.ids(type="Meter") == ["1", "3", "5"]
    a.register(b)
    answer = a.http.get(ENTITIES, params={"type": "Meter", "count": "true"})
    assert answer.headers["NGSILD-Results-Count"] == "5"
    assert "NGSILD-Warning" not in answer.headers
    merged = {e["id"].rsplit(":", 1)[1]: e for e in answer.json()}
    assert list(merged) == ["1", "2", "3", "4", "5"]
    assert merged["3"]["power"]["value"] == 33 and merged["3"]["voltage"]["value"] == 230
    page = a.http.get(ENTITIES, params={"type": "Meter", "limit": "2", "offset": "1",
                                        "count": "true"})
    assert page.headers["NGSILD-Results-Count"] == "5"
    assert [e["id"][-1] for e in page.json()] == ["2", "3"]
    assert a.ids(type="Meter", q="power>=30") == ["3", "4"]
    assert a.ids(type="Meter", limit="3", offset="3") == ["4", "5"]
    assert a.ids(type="Meter", local="true") == ["1", "3", "5"]
    assert a.ids(type="Bus") == ["1"]
    assert b.ids(type="Meter") == ["2", "3", "4"]
    counted = a.http.get(ENTITIES, params={"type": "Meter", "limit": "0", "count": "true"})
    assert counted.json() == [] and counted.headers["NGSILD-Results-Count"] == "5"


def test_retrieve_and_post_query_reach_the_source(twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    a.create(meter(1, power=11, observed="2026-03-01T12:00:00Z"))
    b.create(meter(1, power=10, location={"type": "GeoProperty", "value": {
        "type": "Point", "coordinates": [4.35, 50.85]}}), meter(2))
    a.register(b)
    remote = a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:2")
    assert remote.status_code == 200 and remote.json()["power"]["value"] == 10
    both = a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:1", params={"options": "keyValues"})
    assert both.json()["power"] == 11  # the newer observation wins
    assert both.json()["location"]["type"] == "Point"
    missing = a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:9")
    assert missing.status_code == 404
    posted = a.http.post("/ngsi-ld/v1/entityOperations/query", json={
        "type": "Query", "entities": [{"type": "Meter"}],
        "geoQ": {"georel": "near;maxDistance==1000", "geometry": "Point",
                 "coordinates": [4.35, 50.85]}})
    assert posted.status_code == 200, posted.text
    assert [e["id"] for e in posted.json()] == ["urn:ngsi-ld:Meter:1"]


def test_dataset_instances_are_kept_and_the_newest_instance_wins(
        twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    a.create({"id": "urn:ngsi-ld:Meter:1", "type": "Meter", "power": [
        {"type": "Property", "value": 1, "observedAt": "2026-03-01T10:00:00Z"},
        {"type": "Property", "value": 2, "datasetId": "urn:ds:a"}]})
    b.create({"id": "urn:ngsi-ld:Meter:1", "type": "Meter", "power": [
        {"type": "Property", "value": 3, "observedAt": "2026-03-01T09:00:00Z"},
        {"type": "Property", "value": 4, "datasetId": "urn:ds:b"}]})
    a.register(b)
    power = a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:1").json()["power"]
    by_dataset = {i.get("datasetId"): i["value"] for i in power}
    assert by_dataset == {None: 1, "urn:ds:a": 2, "urn:ds:b": 4}


def test_redirect_exclusive_and_auxiliary_modes(twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    a.create(meter(1, power=1, observed="2026-03-01T23:00:00Z",
                   voltage={"type": "Property", "value": 1}), meter(2))
    b.create(meter(1, power=100, voltage={"type": "Property", "value": 100}), meter(3),
             {"id": "urn:ngsi-ld:Bus:9", "type": "Bus"})
    registration = a.register(b, mode="redirect")
    assert a.ids(type="Meter") == ["1", "3"]
    redirected = a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:1").json()
    assert redirected["power"]["value"] == 100 and redirected["voltage"]["value"] == 100
    a.http.delete(f"{REGISTRATIONS}/{registration}")

    a.register(b, mode="exclusive", entities=[{"type": "Meter", "id": "urn:ngsi-ld:Meter:1"}],
               propertyNames=["power"])
    exclusive = a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:1").json()
    assert exclusive["power"]["value"] == 100  # only B holds power, however new A's was
    assert exclusive["voltage"]["value"] == 1
    assert a.ids(type="Meter") == ["1", "2"]

    a.register(b, mode="auxiliary", entities=[{"type": "Bus"}])
    assert a.ids(type="Bus") == ["9"]
    a.create({"id": "urn:ngsi-ld:Bus:1", "type": "Bus"})
    assert a.ids(type="Bus") == ["1"]


def test_a_source_that_is_down_leaves_local_data_and_a_warning(
        twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    a.create(meter(1))
    b.create(meter(2))
    a.register(b)
    dead = Twin(f"http://127.0.0.1:{free_port()}", "nobody", a.http)
    gone = a.register(dead)
    answer = a.http.get(ENTITIES, params={"type": "Meter", "count": "true"})
    assert answer.status_code == 200
    assert [e["id"][-1] for e in answer.json()] == ["1", "2"]
    assert answer.headers["NGSILD-Results-Count"] == "2"
    assert gone in answer.headers["NGSILD-Warning"] and dead.url in answer.headers[
        "NGSILD-Warning"]
    one = a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:1")
    assert one.status_code == 200 and gone in one.headers["NGSILD-Warning"]
    broken = Twin(b.url + "/nowhere", b.tenant, a.http)
    a.register(broken)
    assert "HTTP 404" in a.http.get(ENTITIES, params={"type": "Meter"}).headers[
        "NGSILD-Warning"]


def test_mutual_registrations_terminate(twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    a.create(meter(1))
    b.create(meter(2))
    a.register(b)
    b.register(a)
    started = time.monotonic()
    assert a.ids(type="Meter") == ["1", "2"]
    assert b.ids(type="Meter") == ["1", "2"]
    assert b.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:1").status_code == 200
    assert time.monotonic() - started < 10
    # A broker that ignores local=true is stopped by Via: too many hops answer locally.
    many = ", ".join(f"1.1 hop{n}" for n in range(4))
    assert a.ids(type="Meter", options="keyValues") == ["1", "2"]
    hopped = a.http.get(ENTITIES, params={"type": "Meter"}, headers={"Via": many})
    assert [e["id"][-1] for e in hopped.json()] == ["1"]


def test_too_deep_paging_is_refused(twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    a.register(b)
    refused = a.http.get(ENTITIES, params={"type": "Meter", "offset": "20000"})
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/TooManyResults")


def test_the_registration_tenant_names_the_tenant_of_the_source(
        twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    b.create(meter(7))
    body = {"type": "ContextSourceRegistration", "endpoint": b.url + "/", "tenant": b.tenant,
            "information": [{"entities": [
                {"type": "Meter", "idPattern": "urn:ngsi-ld:Meter:[0-9]"}]}]}
    assert a.http.post(REGISTRATIONS, json=body).status_code == 201
    assert a.ids(type="Meter") == ["7"]
    assert a.http.get(f"{ENTITIES}/urn:ngsi-ld:Meter:7").status_code == 200
    # An expired registration (here of a source that is down) is not asked.
    expired = {**body, "expiresAt": "2020-01-01T00:00:00Z",
               "endpoint": f"http://127.0.0.1:{free_port()}"}
    assert a.http.post(REGISTRATIONS, json=expired).status_code == 201
    answer = a.http.get(ENTITIES, params={"type": "Meter"})
    assert [e["id"] for e in answer.json()] == ["urn:ngsi-ld:Meter:7"]
    assert "NGSILD-Warning" not in answer.headers


def test_the_request_context_travels_with_the_query(twins: tuple[Twin, Twin]) -> None:
    a, b = twins
    link = {"Link": f'<{CIVICTWIN_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; '
                    'type="application/ld+json"'}
    tower = {"id": "urn:ngsi-ld:Building:1", "type": "Building",
             "floorsAboveGround": {"type": "Property", "value": 30},
             # What Smart Data Models requires of a Building (validate_models is on):
             "category": {"type": "Property", "value": ["office"]},
             "address": {"type": "Property", "value": {"addressLocality": "Lumen"}}}
    assert b.http.post(ENTITIES, json=tower, headers=link).status_code == 201
    a.register(b, entities=[{"type": "Building"}], propertyNames=["floorsAboveGround"])
    # Registered without the context: "Building" means another IRI, so nothing is asked.
    assert a.http.get(ENTITIES, params={"type": "Building"}, headers=link).json() == []
    a.register(b, entities=[{"type": SMART + "Building"}])
    found = a.http.get(ENTITIES, params={"type": "Building", "q": "floorsAboveGround>20"},
                       headers=link)
    assert found.json() == [tower]
    assert a.http.get(ENTITIES, params={"type": "Building", "q": "floorsAboveGround>40"},
                      headers=link).json() == []
