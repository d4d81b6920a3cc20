"""Subscriptions over HTTP (in-process app) with notifications to real loopback listeners."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civictwin.ngsild.jsonld import CORE_CONTEXT_URL
from tests.servers import free_port

SUBS = "/ngsi-ld/v1/subscriptions"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


class Receiver:
    """A tiny HTTP server on a loopback port that records the notifications POSTed to it."""

    def __init__(self, port: int = 0, statuses: tuple[int, ...] = ()) -> None:
        self.received: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                if status < 300:
                    receiver.received.append((body, dict(self.headers.items())))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait for `count` notifications and return their bodies."""
        wait_until(lambda: len(self.received) >= count, timeout)
        return [body for body, _ in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def subscription(uri: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "Meter"}],
            "notification": {"endpoint": {"uri": uri}}, **extra}


def meter(n: int, power: float = 10.0, lon: float = 4.35, lat: float = 50.85) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Meter:{n}", "type": "Meter",
            "power": {"type": "Property", "value": power},
            "name": {"type": "Property", "value": f"meter {n}"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [lon, lat]}}}


def subscribe(client: TestClient, body: dict[str, Any]) -> str:
    created = client.post(SUBS, json=body)
    assert created.status_code == 201, created.text
    location: str = created.headers["Location"]
    return location


def status(client: TestClient, location: str) -> dict[str, Any]:
    got = client.get(location)
    assert got.status_code == 200, got.text
    notification: dict[str, Any] = got.json()["notification"]
    return notification


def set_power(client: TestClient, n: int, power: float) -> None:
    response = client.patch(f"/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:{n}/attrs",
                            json={"power": {"type": "Property", "value": power}})
    assert response.status_code == 204, response.text


def problem(response: Any, status_code: int, kind: str) -> None:
    assert response.status_code == status_code, response.text
    assert response.json()["type"] == ERR + kind


def test_crud(client: TestClient) -> None:
    body = subscription("http://127.0.0.1:9/n", id="urn:ngsi-ld:Subscription:one",
                        watchedAttributes=["power"], q="power>5", throttling=2,
                        expiresAt="2099-01-01T00:00:00Z")
    location = subscribe(client, body)
    assert location == f"{SUBS}/urn:ngsi-ld:Subscription:one"
    got = client.get(location).json()
    assert got["id"] == "urn:ngsi-ld:Subscription:one" and got["type"] == "Subscription"
    assert got["status"] == "active" and got["isActive"] is True and got["q"] == "power>5"
    assert got["expiresAt"] == "2099-01-01T00:00:00Z"
    assert got["notification"]["timesSent"] == 0
    problem(client.post(SUBS, json=body), 409, "AlreadyExists")
    subscribe(client, subscription("http://127.0.0.1:9/n"))
    listed = client.get(SUBS, params={"count": "true", "limit": "1"})
    assert listed.headers["NGSILD-Results-Count"] == "2" and len(listed.json()) == 1
    assert client.patch(location, json={"isActive": False, "q": "power>7"}).status_code == 204
    patched = client.get(location).json()
    assert patched["status"] == "paused" and patched["q"] == "power>7"
    assert patched["watchedAttributes"] == ["power"]
    assert client.patch(location, json={"expiresAt": None}).status_code == 204
    assert "expiresAt" not in client.get(location).json()
    problem(client.patch(location, json={"throttling": "often"}), 400, "BadRequestData")
    assert client.delete(location).status_code == 204
    problem(client.get(location), 404, "ResourceNotFound")
    problem(client.delete(location), 404, "ResourceNotFound")
    assert len(client.get(SUBS).json()) == 1


@pytest.mark.parametrize("change", [
    {"type": "Registration"},
    {"entities": None},
    {"notification": {"endpoint": {"uri": "ftp://example.org/x"}}},
    {"notification": {"endpoint": {"uri": "mqtt://127.0.0.1:1883"}}},
    {"notification": {"endpoint": {"uri": "http://x.org/", "accept": "text/plain"}}},
    {"notification": {"format": "fancy", "endpoint": {"uri": "http://x.org/"}}},
    {"timeInterval": 10, "watchedAttributes": ["power"]},
    {"throttling": -1},
    {"q": "power>>"},
    {"geoQ": {"georel": "near;maxDistance==10", "geometry": "Point"}},
    {"expiresAt": "2001-01-01T00:00:00Z"},
    {"entities": [{"idPattern": "("}]},
    {"isActive": "yes"},
])
def test_invalid_subscriptions_are_refused(client: TestClient, change: dict[str, Any]) -> None:
    body = {k: v for k, v in {**subscription("http://x.org/"), **change}.items()
            if v is not None}
    problem(client.post(SUBS, json=body), 400, "BadRequestData")
    assert client.get(SUBS).json() == []


def test_watched_attributes_q_and_projection(client: TestClient, receiver: Receiver) -> None:
    location = subscribe(client, subscription(
        receiver.url, watchedAttributes=["power"], q="power>50",
        notification={"attributes": ["power"], "format": "keyValues",
                       "endpoint": {"uri": receiver.url}}))
    assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201  # q fails
    assert client.patch("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1/attrs",
                        json={"name": {"type": "Property", "value": "x"}}).status_code == 204
    set_power(client, 1, 60)
    (note,) = receiver.wait(1)
    assert note["type"] == "Notification" and note["id"].startswith("urn:")
    assert note["subscriptionId"] == location.rsplit("/", 1)[1] and note["notifiedAt"]
    assert note["data"] == [{"id": "urn:ngsi-ld:Meter:1", "type": "Meter", "power": 60}]
    headers = receiver.received[0][1]
    assert CORE_CONTEXT_URL in headers["Link"]
    assert headers["NGSILD-Tenant"] == client.headers["NGSILD-Tenant"]
    wait_until(lambda: status(client, location).get("status") == "ok")
    done = status(client, location)
    assert done["timesSent"] == 1 and done["lastSuccess"] == done["lastNotification"]
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_geo_query_and_json_ld(client: TestClient, receiver: Receiver) -> None:
    subscribe(client, subscription(
        receiver.url,
        geoQ={"georel": "near;maxDistance==2000", "geometry": "Point",
              "coordinates": [4.35, 50.85]},
        notification={"format": "concise", "endpoint": {
            "uri": receiver.url, "accept": "application/ld+json"}}))
    client.post("/ngsi-ld/v1/entities", json=meter(1, lat=51.5))  # far away
    client.post("/ngsi-ld/v1/entities", json=meter(2, lat=50.851))
    (note,) = receiver.wait(1)
    assert note["@context"] == CORE_CONTEXT_URL
    assert [e["id"] for e in note["data"]] == ["urn:ngsi-ld:Meter:2"]
    assert note["data"][0]["power"] == 10
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_failed_delivery_is_retried_and_recorded(client: TestClient) -> None:
    flaky = Receiver(statuses=(500,))
    try:
        client.app.state.notifier.backoff = 0.1  # type: ignore[attr-defined]
        location = subscribe(client, subscription(flaky.url))
        assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
        flaky.wait(1)
        wait_until(lambda: status(client, location).get("status") == "ok")
        done = status(client, location)
        assert done["timesSent"] == 2 and done["timesFailed"] == 1
        assert done["lastFailure"] < done["lastSuccess"]
    finally:
        flaky.close()


def test_unreachable_endpoint_never_blocks_writes(client: TestClient) -> None:
    location = subscribe(client, subscription(f"http://127.0.0.1:{free_port()}/down"))
    started = time.monotonic()
    for n in range(5):
        assert client.post("/ngsi-ld/v1/entities", json=meter(n)).status_code == 201
    assert time.monotonic() - started < 5
    wait_until(lambda: status(client, location).get("status") == "failed")
    assert status(client, location)["timesFailed"] >= 1


def test_throttling_drops_notifications_inside_the_period(client: TestClient,
                                                          receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, throttling=60))
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    set_power(client, 1, 20)
    receiver.wait(1)
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_time_interval_sends_current_matches(client: TestClient, receiver: Receiver) -> None:
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    subscribe(client, subscription(receiver.url, timeInterval=0.5, q="power<100"))
    first = receiver.wait(1)[0]
    assert [e["id"] for e in first["data"]] == ["urn:ngsi-ld:Meter:1"]
    set_power(client, 1, 200)  # no longer matches: periodic notifications go quiet
    client.post("/ngsi-ld/v1/entities", json=meter(2))
    wait_until(lambda: any(e["id"] == "urn:ngsi-ld:Meter:2"
                           for body, _ in receiver.received for e in body["data"]))
    assert all(e["id"] == "urn:ngsi-ld:Meter:2" for e in receiver.received[-1][0]["data"])


def test_paused_and_expired_subscriptions_stay_quiet(client: TestClient,
                                                    receiver: Receiver) -> None:
    # Far enough ahead that a slow machine still accepts it as a future time.
    soon = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expiring = subscribe(client, subscription(receiver.url, expiresAt=soon))
    paused = subscribe(client, subscription(receiver.url, isActive=False))
    wait_until(lambda: client.get(expiring).json()["status"] == "expired", timeout=10)
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    time.sleep(0.5)
    assert receiver.received == []
    assert client.patch(paused, json={"isActive": True}).status_code == 204
    set_power(client, 1, 30)
    (note,) = receiver.wait(1)
    assert note["subscriptionId"] == paused.rsplit("/", 1)[1]


def test_subscription_speaks_its_own_context(client: TestClient, receiver: Receiver) -> None:
    ctx = {"Lamp": "https://example.org/city/Lamp", "lux": "https://example.org/city/lux"}
    body = {**subscription(receiver.url, watchedAttributes=["lux"], q="lux>100",
                           notification={"format": "concise",
                                         "endpoint": {"uri": receiver.url}}),
            "entities": [{"type": "Lamp"}], "@context": ctx}
    created = client.post(SUBS, json=body, headers={"Content-Type": "application/ld+json"})
    assert created.status_code == 201, created.text
    lamp = {"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp", "lux": 150, "@context": ctx}
    posted = client.post("/ngsi-ld/v1/entities", json=lamp,
                         headers={"Content-Type": "application/ld+json"})
    assert posted.status_code == 201, posted.text
    client.post("/ngsi-ld/v1/entities", json={"id": "urn:ngsi-ld:Lamp:2", "type": "Lamp",
                                              "lux": 150})  # another IRI: not watched
    (note,) = receiver.wait(1)
    assert note["data"] == [{"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp", "lux": 150}]
    assert client.get(created.headers["Location"]).json()["entities"] == [{"type": "Lamp"}]


def test_a_broken_subscription_never_fails_a_write(client: TestClient,
                                                   receiver: Receiver) -> None:
    from civictwin.ngsild.subscriptions import Subscriptions
    from civictwin.store.outbox import SubscriptionRow

    subs: Subscriptions = client.app.state.subscriptions  # type: ignore[attr-defined]
    tenant = client.headers["NGSILD-Tenant"]
    broken = subscription(receiver.url, id="urn:ngsi-ld:Subscription:broken", q="power>>")
    subs.records.insert(SubscriptionRow(tenant, broken["id"], broken, None,
                                        created_at="2026-01-01T00:00:00Z",
                                        modified_at="2026-01-01T00:00:00Z"))
    assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1").status_code == 200
    assert subs.records.pending(tenant) == 0
