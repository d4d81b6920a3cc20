"""The twin over real HTTP on loopback: uvicorn, httpx and a third-party NGSI-LD client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from ngsildclient import Client, Entity  # type: ignore[import-untyped]

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.store import Store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    """Serve the twin over `store` on a free loopback port; yield its base URL."""
    port = _free_port()
    app = create_app(Settings(database_url="sqlite://", port=port), store=store)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


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
