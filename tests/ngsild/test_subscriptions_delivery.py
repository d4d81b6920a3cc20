"""Notification delivery: MQTT endpoints on the real Mosquitto, and the outbox across restarts."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from civictwin.app import create_app
from civictwin.store import open_store
from tests.ngsild.test_subscriptions import (
    Receiver,
    meter,
    status,
    subscribe,
    subscription,
    wait_until,
)
from tests.servers import free_port, loopback_settings


def test_mqtt_endpoint_gets_the_notification(client: TestClient, mqtt_url: str) -> None:
    broker = urlsplit(mqtt_url)
    topic = f"civictwin/test/{uuid.uuid4().hex}"
    messages: queue.Queue[Any] = queue.Queue()
    ready = threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    listener.on_message = lambda _c, _u, message: messages.put(message)
    listener.on_subscribe = lambda *_args: ready.set()
    listener.connect(broker.hostname or "", broker.port or 1883)
    listener.loop_start()
    try:
        listener.subscribe(topic, qos=1)
        assert ready.wait(5)
        uri = f"mqtt://{broker.hostname}:{broker.port}/{topic}"
        location = subscribe(client, subscription(uri, notification={"endpoint": {
            "uri": uri, "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}}))
        assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
        message = json.loads(messages.get(timeout=10).payload)
    finally:
        listener.disconnect()
        listener.loop_stop()
    assert message["metadata"]["Content-Type"] == "application/json"
    assert message["metadata"]["NGSILD-Tenant"] == client.headers["NGSILD-Tenant"]
    body = message["body"]
    assert body["type"] == "Notification" and body["subscriptionId"] == location.rsplit("/")[-1]
    assert body["data"][0]["id"] == "urn:ngsi-ld:Meter:1"
    wait_until(lambda: status(client, location).get("status") == "ok")


def test_mqtt_broker_down_is_recorded(client: TestClient) -> None:
    location = subscribe(client, subscription(f"mqtt://127.0.0.1:{free_port()}/t"))
    assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
    wait_until(lambda: status(client, location).get("status") == "failed")
    assert status(client, location)["timesFailed"] >= 1


def test_notification_due_before_a_restart_is_sent_after_it(tmp_path: Path,
                                                            tenant: str) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    port = free_port()
    headers = {"NGSILD-Tenant": tenant}
    first = open_store(url)
    with TestClient(create_app(loopback_settings(database_url=url), store=first),
                    headers=headers) as client:
        location = subscribe(client, subscription(f"http://127.0.0.1:{port}/notify"))
        assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
        wait_until(lambda: status(client, location).get("timesFailed") == 1)
    first.close()

    receiver = Receiver(port=port)
    second = open_store(url)
    try:
        with TestClient(create_app(loopback_settings(database_url=url), store=second),
                        headers=headers) as client:
            (note,) = receiver.wait(1)
            assert note["data"][0]["id"] == "urn:ngsi-ld:Meter:1"
            wait_until(lambda: status(client, location).get("status") == "ok")
            assert status(client, location)["timesSent"] == 2
    finally:
        second.close()
        receiver.close()


def test_notification_queued_without_a_notifier_survives(tmp_path: Path, tenant: str,
                                                         receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    headers = {"NGSILD-Tenant": tenant}
    first = open_store(url)
    # No `with`: the app's lifespan never runs, as if the process died right after the write.
    client = TestClient(create_app(loopback_settings(database_url=url), store=first),
                        headers=headers)
    subscribe(client, subscription(receiver.url))
    assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
    first.close()
    second = open_store(url)
    try:
        with TestClient(create_app(loopback_settings(database_url=url), store=second),
                        headers=headers):
            (note,) = receiver.wait(1)
        assert note["data"][0]["id"] == "urn:ngsi-ld:Meter:1"
    finally:
        second.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
