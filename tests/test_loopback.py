"""The twin over real HTTP on loopback: uvicorn, httpx and a third-party NGSI-LD client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from ngsildclient import Client, Entity  # type: ignore[import-untyped]

from civictwin.store import Store
from tests.servers import serve_twin


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    """Serve the twin over `store` on a free loopback port; yield its base URL."""
    with serve_twin(store) as url:
        yield url


def test_round_trip_over_http(server: str, tenant: str) -> None:
    headers = {"NGSILD-Tenant": tenant}
    with httpx.Client(base_url=server, headers=headers) as http:
        body = {"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor",
                "noise": {"type": "Property", "value": 61, "unitCode": "2N"}}
        assert http.post("/ngsi-ld/v1/entities", json=body).status_code == 201
        found = http.get("/ngsi-ld/v1/entities", params={"type": "Sensor", "q": "noise>60",
                                                         "count": "true"})
        assert found.headers["NGSILD-Results-Count"] == "1"
        assert found.json() == [body]
        bad = http.post("/ngsi-ld/v1/entities", content=b"[1,", headers={
            "Content-Type": "application/json"})
        assert bad.status_code == 400 and bad.json()["type"].endswith("/InvalidRequest")


def test_a_third_party_ngsi_ld_client_works_against_the_twin(server: str, tenant: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    client = Client(hostname="127.0.0.1", port=port, tenant=tenant)
    for n in range(3):
        meter = Entity("ElectricityMeter", f"urn:ngsi-ld:ElectricityMeter:{n}")
        meter.prop("consumption", 100.0 + n, unitcode="KWH", observedat="2026-11-01T00:00:00Z")
        meter.gprop("location", (50.85 + n / 100, 4.35))
        meter.rel("refBuilding", f"urn:ngsi-ld:Building:{n}")
        client.create(meter)
    fetched = client.get("urn:ngsi-ld:ElectricityMeter:1")
    assert fetched["consumption"]["value"] == 101.0
    assert fetched["refBuilding"]["object"] == "urn:ngsi-ld:Building:1"
    assert client.count(type="ElectricityMeter", q="consumption>100.5") == 2
    queried = client.query_all(type="ElectricityMeter", q="consumption<101")
    assert [e.id for e in queried] == ["urn:ngsi-ld:ElectricityMeter:0"]
    assert client.delete("urn:ngsi-ld:ElectricityMeter:2")
    assert not client.exists("urn:ngsi-ld:ElectricityMeter:2")
    client.close()
