"""Temporal answers come in pages: 206 with Content-Range, continued without gaps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.store import Store
from tests.servers import loopback_settings

T = "/ngsi-ld/v1/temporal/entities"
M1 = "urn:ngsi-ld:Meter:1"


@pytest.fixture
def small(store: Store, tenant: str) -> Iterator[TestClient]:
    """A client of a twin that answers at most 3 instances per attribute at once."""
    app = create_app(loopback_settings(temporal_max_instances=3), store=store)
    with TestClient(app, headers={"NGSILD-Tenant": tenant}) as client:
        yield client


def at(day: int) -> str:
    return f"2025-01-{day:02d}T00:00:00Z"


def load(client: TestClient, entity_id: str = M1) -> None:
    """Power on days 1..10, energy on days 2, 5 and 9."""
    body = {"id": entity_id, "type": "Meter",
            "power": [{"type": "Property", "value": d, "observedAt": at(d)}
                      for d in range(1, 11)],
            "energy": [{"type": "Property", "value": d * 100, "observedAt": at(d)}
                       for d in (2, 5, 9)]}
    assert client.post(T, json=body).status_code == 201


def values(body: dict[str, Any], attr: str) -> list[Any]:
    return [i["value"] for i in body.get(attr, [])]


def test_forward_pages_cover_the_history_without_gaps(small: TestClient) -> None:
    load(small)
    first = small.get(f"{T}/{M1}")
    assert first.status_code == 206
    assert first.headers["Content-Range"] == f"date-time {at(1)}-{at(3)}/*"
    assert values(first.json(), "power") == [1, 2, 3]
    assert values(first.json(), "energy") == [200]
    seen: dict[str, Any] = {}
    page = first
    for _ in range(10):
        for attr in ("power", "energy"):
            for inst in page.json().get(attr, []):
                seen[inst["instanceId"]] = inst["value"]
        if page.status_code == 200:
            break
        last = page.headers["Content-Range"].split("/")[0][len("date-time "):][21:]
        page = small.get(f"{T}/{M1}", params={"timerel": "after", "timeAt": last})
        assert page.status_code in (200, 206)
    assert page.status_code == 200 and "Content-Range" not in page.headers
    assert sorted(seen.values()) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 200, 500, 900]


def test_last_n_pages_run_backwards(small: TestClient) -> None:
    load(small)
    newest = small.get(f"{T}/{M1}", params={"lastN": "5", "attrs": "power"})
    assert newest.status_code == 206
    assert newest.headers["Content-Range"] == f"date-time {at(10)}-{at(8)}/5"
    assert values(newest.json(), "power") == [8, 9, 10]
    rest = small.get(f"{T}/{M1}", params={"lastN": "2", "attrs": "power",
                                          "timerel": "before", "timeAt": at(8)})
    assert rest.status_code == 200 and values(rest.json(), "power") == [6, 7]
    within = small.get(f"{T}/{M1}", params={"lastN": "3"})
    assert within.status_code == 200 and values(within.json(), "power") == [8, 9, 10]


def test_small_histories_and_aggregates_are_whole(small: TestClient) -> None:
    load(small)
    few = small.get(f"{T}/{M1}", params={"attrs": "energy"})
    assert few.status_code == 200 and values(few.json(), "energy") == [200, 500, 900]
    sums = small.get(f"{T}/{M1}", params={"aggrMethods": "totalCount",
                                          "aggrPeriodDuration": "P1D"})
    assert sums.status_code == 200 and len(sums.json()["power"]["totalCount"]) == 10


def test_temporal_values_and_queries_are_paged_too(small: TestClient) -> None:
    load(small)
    load(small, "urn:ngsi-ld:Meter:2")
    answer = small.get(T, params={"type": "Meter", "options": "temporalValues"})
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"date-time {at(1)}-{at(3)}/*"
    assert [[v for v, _ in e["power"]["values"]] for e in answer.json()] == [[1, 2, 3]] * 2
