"""Live changes over server-sent events from a real server, on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import serve_twin
from tests.web.conftest import Lumen

LINK = {"Link": '<https://civictwin.org/ns/civictwin-context.jsonld>; '
                'rel="http://www.w3.org/ns/json-ld#context"'}


@pytest.fixture
def base(lumen: Lumen) -> Iterator[str]:
    """The twin over the loaded city, served on loopback."""
    with serve_twin(lumen.store) as url:
        yield url


def first(lumen: Lumen, entity_type: str) -> str:
    return next(s["id"] for s in lumen.city.stations if s["type"] == entity_type)


def frames(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Yield the SSE frames of a streaming response as dicts of their fields."""
    frame: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            frame[field] = value.removeprefix(" ")


def next_entity(stream: Iterator[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    for frame in stream:
        if frame.get("event") == "entity":
            return int(frame["id"]), json.loads(frame["data"])
    raise AssertionError("stream ended")


def test_a_committed_change_reaches_the_page_of_its_tenant_only(
        base: str, lumen: Lumen) -> None:
    sensor = first(lumen, "AirQualityObserved")
    mine = {"NGSILD-Tenant": lumen.tenant}
    with httpx.Client(base_url=base, timeout=10) as client, \
            client.stream("GET", "/web/events", headers=mine) as live, \
            client.stream("GET", "/web/events", headers={"NGSILD-Tenant": "other"}) as other:
        assert live.headers["content-type"].startswith("text/event-stream")
        stream, elsewhere = frames(live), frames(other)
        assert next(stream)["event"] == "ready"
        assert next(elsewhere)["event"] == "ready"
        refused = client.patch(f"/ngsi-ld/v1/entities/{sensor}/attrs",
                               json={"pm25": {"type": "Property"}}, headers={**mine, **LINK})
        assert refused.status_code == 400
        body = {"pm25": {"type": "Property", "value": 87.5, "unitCode": "GQ",
                         "observedAt": "2025-01-01T10:00:00Z"}}
        patched = client.patch(f"/ngsi-ld/v1/entities/{sensor}/attrs", json=body,
                               headers={**mine, **LINK})
        assert patched.status_code == 204, patched.text
        seq, change = next_entity(stream)
        assert change["id"] == sensor and change["type"] == "AirQualityObserved"
        assert change["attrs"]["pm25"] == 87.5
        assert change["observedAt"] == "2025-01-01T10:00:00Z"
        assert change["location"] == lumen.entities[sensor]["location"]["value"]["coordinates"]
        assert client.delete(f"/ngsi-ld/v1/entities/{sensor}", headers=mine).status_code == 204
        seq2, gone = next_entity(stream)
        assert gone == {"id": sensor, "type": "AirQualityObserved", "deleted": True}
        assert seq2 > seq
    # The other tenant's stream saw neither change: it ends (server side) with keep-alives only.
    with httpx.Client(base_url=base, timeout=10) as client, \
            client.stream("GET", "/web/events",
                          headers={**mine, "Last-Event-ID": str(seq - 1)}) as again:
        replay = frames(again)
        assert next(replay)["event"] == "ready"
        assert next_entity(replay)[0] == seq
        assert next_entity(replay)[1]["deleted"] is True


def test_changes_to_other_types_are_not_streamed(base: str, lumen: Lumen) -> None:
    meter = lumen.city.meters[0]["id"]
    sensor = first(lumen, "WeatherObserved")
    mine = {"NGSILD-Tenant": lumen.tenant, **LINK}
    with httpx.Client(base_url=base, timeout=10) as client, \
            client.stream("GET", "/web/events", headers=mine) as live:
        stream = frames(live)
        assert next(stream)["event"] == "ready"
        for entity, attr in ((meter, "totalConsumption"), (sensor, "temperature")):
            response = client.patch(f"/ngsi-ld/v1/entities/{entity}/attrs",
                                    json={attr: {"type": "Property", "value": 3.5}},
                                    headers=mine)
            assert response.status_code == 204
        _, change = next_entity(stream)
        assert change["id"] == sensor and change["attrs"]["temperature"] == 3.5
