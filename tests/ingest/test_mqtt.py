"""The MQTT bridge against the real Mosquitto that scripts/test starts, on both stores."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from civictwin.ingest.deadletter import DeadLetterBox
from civictwin.ingest.mapping import Mapping
from civictwin.ingest.mqtt import MqttBridge
from civictwin.ngsild.broker import ContextBroker


def forget_session(url: str, client_id: str) -> None:
    """End a persistent session on the broker so it keeps no messages for it."""
    parts = urlsplit(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, clean_start=True)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


def publish(client: paho.Client, topic: str, payload: str | bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)


def until(condition: Callable[[], bool], step: Callable[[], object] | None = None,
          timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        if step is not None:
            step()
        else:
            time.sleep(0.02)


@pytest.fixture
def bridge(mqtt_url: str, broker: ContextBroker, mapping: Mapping,
           box: DeadLetterBox) -> Iterator[MqttBridge]:
    """A started bridge with this test's session; the session is forgotten afterwards."""
    bridge = MqttBridge(broker, mapping, box, url=mqtt_url)
    bridge.start()
    yield bridge
    bridge.client.disconnect()
    bridge.client.loop_stop()
    forget_session(mqtt_url, mapping.mqtt.client_id)


def test_messages_become_entity_updates_and_bad_ones_dead_letters(
        bridge: MqttBridge, publisher: paho.Client, mapping: Mapping, broker: ContextBroker,
        box: DeadLetterBox) -> None:
    base = f"lumen/{mapping.tenant}/meters"
    for i in range(50):
        publish(publisher, f"{base}/M{i % 5}/reading",
                json.dumps({"ts": 1767225600000 + i * 1000, "energy_wh": 1000 + i,
                            "power": {"w": 500}}))
    publish(publisher, f"{base}/G1/compact", "20260301T120000,0.25,3")
    publish(publisher, f"{base}/M1/reading", "{broken")
    publish(publisher, f"{base}/M1/compact", "20260301T120000,0.25")
    publish(publisher, f"{base}/M2/reading", json.dumps({"ts": 1, "power": {"w": 1}}))
    until(lambda: bridge.done >= 54, lambda: bridge.process(timeout=0.1))
    assert (bridge.stats.received, bridge.stats.written, bridge.stats.dead_lettered) == \
        (54, 51, 3)

    ctx = broker.context(mapping.context)
    m4 = broker.retrieve_entity(mapping.tenant, "urn:ngsi-ld:SmartMeter:M4")
    energy = m4.attrs[ctx.expand("activeEnergyImport")][0]
    assert energy["value"] == 1.049 and energy["unitCode"] == "KWH"  # the last of M4's
    assert energy["observedAt"] == "2026-01-01T00:00:49Z"
    g1 = broker.retrieve_entity(mapping.tenant, "urn:ngsi-ld:SmartMeter:G1")
    assert g1.attrs[ctx.expand("gasEnergy")][0]["value"] == 31.5
    reasons = {(d.source, d.reason.split(":")[0]) for d in box.list()
               if d.tenant == mapping.tenant}
    assert reasons == {(f"{base}/M1/reading", "payload is not JSON"),
                       (f"{base}/M1/compact", "compact payload has 2 fields, expected 3 "
                        "(ts,energy_mwh,gas_m3)"),
                       (f"{base}/M2/reading", "field 'energy_wh' is missing")}


def test_unwritten_messages_are_delivered_again_after_a_crash(
        bridge: MqttBridge, publisher: paho.Client, mapping: Mapping, broker: ContextBroker,
        box: DeadLetterBox, mqtt_url: str) -> None:
    base = f"lumen/{mapping.tenant}/meters"
    reading = {"ts": 1767225600000, "power": {"w": 1}}
    publish(publisher, f"{base}/A/reading", json.dumps({**reading, "energy_wh": 1}))
    until(lambda: bridge.done >= 1, lambda: bridge.process(timeout=0.1))
    for i in range(10):
        publish(publisher, f"{base}/B{i}/reading", json.dumps({**reading, "energy_wh": 2}))
    until(lambda: bridge._queue.qsize() >= 10)
    # Crash: drop the connection without DISCONNECT and without writing the queued messages.
    bridge.client.loop_stop()
    sock = bridge.client.socket()
    assert sock is not None
    sock.close()
    assert broker.store.get_entity(mapping.tenant, "urn:ngsi-ld:SmartMeter:B0") is None

    again = MqttBridge(broker, mapping, box, url=mqtt_url)
    again.start()
    try:
        until(lambda: again.done >= 10, lambda: again.process(timeout=0.1))
        time.sleep(0.3)
        again.process(timeout=0.1)
        assert again.stats.received == 10  # B0..B9 again, A not: it was acknowledged
        for i in range(10):
            assert broker.store.get_entity(mapping.tenant,
                                           f"urn:ngsi-ld:SmartMeter:B{i}") is not None
    finally:
        again.stop()
    assert box.runs()[0].kind == "mqtt" and box.runs()[0].accepted == 10
