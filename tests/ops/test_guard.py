"""Under saturation the twin answers 503 + Retry-After, per-client floods 429, big bodies 400."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.store import Store
from tests.ops.conftest import serve_app
from tests.servers import loopback_settings


def _slow_body(entity_id: str, seconds: float) -> AsyncIterator[bytes]:
    body = json.dumps({"id": entity_id, "type": "Sensor",
                       "noise": {"type": "Property", "value": 1}}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        await asyncio.sleep(seconds)  # the request holds its slot while its body trickles in
        yield body[10:]

    return chunks()


async def _saturate(base: str, tenant: str) -> tuple[list[httpx.Response], list[httpx.Response],
                                                      httpx.Response]:
    headers = {"NGSILD-Tenant": tenant, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        slow = [asyncio.create_task(http.post("/ngsi-ld/v1/entities",
                                              content=_slow_body(f"urn:ngsi-ld:Sensor:s{n}", 2)))
                for n in range(2)]
        await asyncio.sleep(0.5)
        excess = await asyncio.gather(*[http.get("/ngsi-ld/v1/entities?type=Sensor")
                                        for _ in range(5)])
        health = await http.get("/health")
        admitted = await asyncio.gather(*slow)
        return list(admitted), list(excess), health


def test_excess_concurrent_requests_get_503_and_retry_after(store: Store, tenant: str) -> None:
    with serve_app(store, max_concurrent_requests=2, admission_wait_seconds=0.2) as base:
        admitted, excess, health = asyncio.run(_saturate(base, tenant))
        after = httpx.get(f"{base}/ngsi-ld/v1/entities?type=Sensor",
                          headers={"NGSILD-Tenant": tenant})
        metrics = httpx.get(f"{base}/metrics").text
    assert [r.status_code for r in admitted] == [201, 201]
    assert [r.status_code for r in excess] == [503] * 5
    assert all(int(r.headers["Retry-After"]) >= 1 for r in excess)
    assert excess[0].json()["type"].endswith("ServiceUnavailable")
    assert health.status_code == 200  # operations endpoints stay reachable
    assert after.status_code == 200 and len(after.json()) == 2
    assert 'civictwin_http_rejected_total{reason="saturated"} 5.0' in metrics


def test_a_client_over_its_rate_gets_429(store: Store, tenant: str) -> None:
    settings = loopback_settings(rate_limit_per_second=0.5, rate_limit_burst=3)
    with TestClient(create_app(settings, store=store), headers={"NGSILD-Tenant": tenant}) as c:
        codes = [c.get("/ngsi-ld/v1/types").status_code for _ in range(4)]
        refused = c.get("/ngsi-ld/v1/types")
        assert c.get("/metrics").status_code == 200  # not rate limited
    assert codes == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert refused.json()["type"].endswith("TooManyRequests")


def test_rate_limit_is_off_by_default(client: TestClient) -> None:
    assert {client.get("/ngsi-ld/v1/types").status_code for _ in range(150)} == {200}


def test_a_body_over_max_body_bytes_is_refused_and_changes_nothing(store: Store,
                                                                   tenant: str) -> None:
    settings = loopback_settings(max_body_bytes=1024)
    big = {"id": "urn:ngsi-ld:Sensor:big", "type": "Sensor",
           "note": {"type": "Property", "value": "x" * 2000}}
    with TestClient(create_app(settings, store=store), headers={"NGSILD-Tenant": tenant}) as c:
        refused = c.post("/ngsi-ld/v1/entities", json=big)
        small = c.post("/ngsi-ld/v1/entities", json=big | {"note": {"type": "Property",
                                                                    "value": "short"}})
        batch = c.post("/ngsi-ld/v1/entityOperations/upsert", json=[big])
        kept = c.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:big?options=keyValues").json()
    assert refused.status_code == 400
    assert refused.json()["detail"] == "request body larger than 1024 bytes"
    assert batch.status_code == 400
    assert small.status_code == 201
    assert kept["note"] == "short"  # neither big body changed it
