"""`civictwin serve` runs the MQTT bridges of `mqtt_mappings`: real uvicorn, real Mosquitto."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest

from civictwin.app import create_app
from civictwin.errors import CivicTwinError
from civictwin.ingest.deadletter import DeadLetterBox
from civictwin.store import Store
from tests.ingest.test_mqtt import forget_session, publish
from tests.ngsild.test_subscriptions import Receiver
from tests.servers import free_port, loopback_settings, serve_app

MAPPING = """
tenant = "{tenant}"

[mqtt]
url = "{url}"
client_id = "{client_id}"

[[rules]]
name = "meter"
topic = "lumen/{tenant}/meters/{{meterId}}/reading"
entity_id = "urn:ngsi-ld:SmartMeter:{{meterId}}"
entity_type = "SmartMeteringObservation"
observed_at = "ts"
time_format = "epoch_ms"
attributes = [
  {{ source = "energy_wh", name = "activeEnergyImport", from_unit = "Wh", to_unit = "kWh" }},
]
"""
CTX = ('<https://civictwin.org/ns/civictwin-context.jsonld>; '
       'rel="http://www.w3.org/ns/json-ld#context"')


def write_mapping(path: Path, tenant: str, url: str, client_id: str) -> Path:
    path.write_text(MAPPING.format(tenant=tenant, url=url, client_id=client_id))
    return path


def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def reading(n: int, wh: int) -> str:
    return json.dumps({"ts": 1767225600000 + n * 60_000, "energy_wh": wh})


@pytest.fixture
def session(mqtt_url: str, tenant: str) -> Iterator[str]:
    """A client id for this test's durable session, forgotten afterwards."""
    client_id = f"ct-serve-{tenant}"
    yield client_id
    forget_session(mqtt_url, client_id)


def serve(store: Store, mapping: Path) -> tuple[Any, Any]:
    """Return the app serving `store` with the bridge of `mapping`, and its context manager."""
    app = create_app(loopback_settings(mqtt_mappings=(str(mapping),)), store=store)
    return app, serve_app(app)


def test_serve_ingests_mqtt_with_history_notifications_and_dead_letters(
        store: Store, tenant: str, mqtt_url: str, session: str, tmp_path: Path,
        publisher: paho.Client) -> None:
    mapping = write_mapping(tmp_path / "m.toml", tenant, mqtt_url, session)
    base = f"lumen/{tenant}/meters"
    headers = {"NGSILD-Tenant": tenant, "Link": CTX}
    receiver = Receiver()
    app, server = serve(store, mapping)
    try:
        with server as url, httpx.Client(base_url=url, headers=headers) as http:
            until(lambda: session in app.state.bridges.running)
            created = http.post("/ngsi-ld/v1/subscriptions", json={
                "type": "Subscription", "entities": [{"type": "SmartMeteringObservation"}],
                "notification": {"format": "keyValues", "endpoint": {"uri": receiver.url}}})
            assert created.status_code == 201, created.text
            for n in range(6):
                publish(publisher, f"{base}/M{n % 2}/reading", reading(n, 1000 * (n + 1)))
            publish(publisher, f"{base}/M9/reading", "{not json")

            def meters() -> list[dict[str, Any]]:
                got = http.get("/ngsi-ld/v1/entities", params={
                    "type": "SmartMeteringObservation", "options": "keyValues"})
                found: list[dict[str, Any]] = got.json()
                return found

            until(lambda: len(meters()) == 2 and meters()[1]["activeEnergyImport"] == 6.0)
            assert meters()[0]["activeEnergyImport"] == 5.0
            history = http.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:SmartMeter:M0",
                               params={"options": "temporalValues"}).json()
            values = [v for v, _ in history["activeEnergyImport"]["values"]]
            assert sorted(values) == [1.0, 3.0, 5.0]
            until(lambda: {e["id"] for body, _ in receiver.received for e in body["data"]}
                  == {"urn:ngsi-ld:SmartMeter:M0", "urn:ngsi-ld:SmartMeter:M1"})
            until(lambda: app.state.bridges.stats()[session].dead_lettered == 1)
        letters = [d for d in DeadLetterBox(store).list() if d.tenant == tenant]
        assert [(d.source, d.reason.split(":")[0]) for d in letters] == \
            [(f"{base}/M9/reading", "payload is not JSON")]
        assert any(r.kind == "mqtt" and r.accepted == 6 for r in DeadLetterBox(store).runs()
                   if r.tenant == tenant)
    finally:
        receiver.close()


def test_messages_sent_while_the_twin_is_down_arrive_after_a_restart(
        store: Store, tenant: str, mqtt_url: str, session: str, tmp_path: Path,
        publisher: paho.Client) -> None:
    mapping = write_mapping(tmp_path / "m.toml", tenant, mqtt_url, session)
    base = f"lumen/{tenant}/meters"
    app, server = serve(store, mapping)
    with server:
        until(lambda: session in app.state.bridges.running)  # the durable session exists now
    for n in range(5):
        publish(publisher, f"{base}/D{n}/reading", reading(n, 100))
    assert store.get_entity(tenant, "urn:ngsi-ld:SmartMeter:D0") is None
    again, server = serve(store, mapping)
    with server:
        until(lambda: all(store.get_entity(tenant, f"urn:ngsi-ld:SmartMeter:D{n}") is not None
                          for n in range(5)))
        # The counts move just after the commit that made the entities visible.
        until(lambda: again.state.bridges.stats()[session].written == 5)


def test_an_unreachable_broker_does_not_stop_the_api(store: Store, tenant: str,
                                                     tmp_path: Path) -> None:
    mapping = write_mapping(tmp_path / "m.toml", tenant, f"mqtt://127.0.0.1:{free_port()}",
                            f"ct-down-{uuid.uuid4().hex[:8]}")
    app, server = serve(store, mapping)
    with server as url:
        answer = httpx.get(f"{url}/ngsi-ld/v1/entities", params={"type": "X"},
                           headers={"NGSILD-Tenant": tenant})
        assert answer.status_code == 200 and answer.json() == []
        assert app.state.bridges.running == {}


def test_bad_mapping_files_stop_the_app_from_starting(store: Store, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("rules = []\n")
    with pytest.raises(CivicTwinError, match="mqtt_mappings"):
        create_app(loopback_settings(mqtt_mappings=(str(broken),)), store=store)
    one = write_mapping(tmp_path / "a.toml", "t", "mqtt://127.0.0.1:1", "same")
    two = write_mapping(tmp_path / "b.toml", "u", "mqtt://127.0.0.1:1", "same")
    with pytest.raises(CivicTwinError, match="client_id"):
        create_app(loopback_settings(mqtt_mappings=(str(one), str(two))), store=store)
