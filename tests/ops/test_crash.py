"""SIGKILL mid-stream: every acknowledged write survives, no entity is half written, and the
notifications pending at the kill, those claimed at that moment included, are delivered
promptly after the restart. Both stores; real
`civictwin serve` and `civictwin ingest mqtt` processes, real Mosquitto, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from civictwin.store import open_store
from civictwin.store.ops import index_mismatches, outbox_counts
from civictwin.store.outbox import NotificationStore
from tests.ops.conftest import NewDatabase
from tests.servers import free_port

BATCH = 20
MAX_BATCHES = 400
RUN_SECONDS = 3.0
MESSAGES = 300
LEASE = 60.0  # the notifier's lease on a claimed notification
ENV = {**os.environ, "CIVICTWIN_AUTH_REQUIRED": "false",
       "CIVICTWIN_NOTIFICATION_ALLOWLIST": "127.0.0.1"}

MAPPING = """
tenant = "{tenant}"

[mqtt]
client_id = "{client_id}"
batch_size = 50

[[rules]]
name = "meter"
topic = "crash/{tenant}/meters/{{meter}}"
entity_id = "urn:ngsi-ld:Meter:{{meter}}"
entity_type = "Meter"
attributes = [{{ source = "seq", name = "seq", kind = "integer" }}]
"""


def _civictwin(log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-c", "from civictwin.cli import main; main()",
                                 *args], stdout=out, stderr=out, env=ENV)


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Receiver:
    """A notification endpoint on loopback that records the entity ids it is sent."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: set[str] = set()
        received = self.ids

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.update(item["id"] for item in body["data"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    @contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self.server.shutdown()
            self.server.server_close()


def _batch(n: int) -> list[dict[str, Any]]:
    sensors = [{"id": f"urn:ngsi-ld:Sensor:{n}-{i}", "type": "Sensor",
                "seq": {"type": "Property", "value": n},
                "location": {"type": "GeoProperty", "value": {
                    "type": "Point", "coordinates": [4.3 + i / 1000, 50.8 + n / 10000]}}}
               for i in range(BATCH - 1)]
    return [*sensors, {"id": f"urn:ngsi-ld:Alarm:{n}", "type": "Alarm",
                       "level": {"type": "Property", "value": n % 5}}]


def _write_until(base: str, tenant: str, stop: threading.Event, acked: list[int]) -> None:
    with httpx.Client(base_url=base, headers={"NGSILD-Tenant": tenant}, timeout=10) as http:
        for n in range(MAX_BATCHES):
            if stop.is_set():
                return
            try:
                response = http.post("/ngsi-ld/v1/entityOperations/upsert", json=_batch(n))
            except httpx.HTTPError:
                return  # the server is gone: this batch was never acknowledged
            assert response.status_code in (201, 204), response.text
            acked.append(n)


def _publish(mqtt_url: str, tenant: str, first: int, last: int) -> None:
    parts = urlsplit(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    try:
        for n in range(first, last):
            client.publish(f"crash/{tenant}/meters/m{n}", json.dumps({"seq": n}),
                           qos=1).wait_for_publish(timeout=10)
            time.sleep(0.005)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(new_database: NewDatabase, mqtt_url: str,
                                             tenant: str, tmp_path: Path) -> None:
    url = new_database()
    open_store(url).close()  # migrated once, before two processes open it
    port, receiver_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING.format(tenant=tenant, client_id=f"crash-{tenant}"))
    log = tmp_path / "processes.log"
    serve_args = ("serve", "--database-url", url, "--port", str(port))
    bridge_args = ("ingest", "mqtt", "--mapping", str(mapping), "--url", mqtt_url,
                   "--database-url", url)

    # Until the kill the endpoint accepts connections and never answers, so the notifier is
    # in the middle of a delivery, holding claims, when it dies.
    silent = socket.create_server(("127.0.0.1", receiver_port), backlog=128)
    server, bridge = _civictwin(log, *serve_args), _civictwin(log, *bridge_args)
    try:
        _until(lambda: _ready(base), 30, "the server")
        sub = {"type": "Subscription", "entities": [{"type": "Alarm"}],
               "notification": {"endpoint": {"uri": f"http://127.0.0.1:{receiver_port}/n"}}}
        assert httpx.post(f"{base}/ngsi-ld/v1/subscriptions", json=sub,
                          headers={"NGSILD-Tenant": tenant}).status_code == 201
        acked: list[int] = []
        stop = threading.Event()
        writer = threading.Thread(target=_write_until, args=(base, tenant, stop, acked))
        publisher = threading.Thread(target=_publish, args=(mqtt_url, tenant, 0, MESSAGES))
        writer.start()
        publisher.start()
        time.sleep(RUN_SECONDS)
        assert writer.is_alive(), "the writer finished before the kill"
        server.send_signal(signal.SIGKILL)
        bridge.send_signal(signal.SIGKILL)
        server.wait(10)
        bridge.wait(10)
        stop.set()
        writer.join(30)
        publisher.join(60)
    finally:
        silent.close()
        for proc in (server, bridge):
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    store = open_store(url)
    engine = store.engine  # type: ignore[attr-defined]
    assert acked, "no batch was acknowledged before the kill"
    assert index_mismatches(engine, tenant) == []  # no half-written entity
    for n in acked:
        got = store.get_entity(tenant, f"urn:ngsi-ld:Sensor:{n}-{BATCH - 2}")
        assert got is not None, f"acknowledged batch {n} lost"
        assert store.get_entity(tenant, f"urn:ngsi-ld:Alarm:{n}") is not None
    pending = outbox_counts(engine).get("pending", 0)
    assert pending >= len(acked)  # the receiver never answered: every alarm's notification waits
    assert NotificationStore(store).claim_holders(), "no claim was held at the kill"
    store.close()

    receiver = Receiver(receiver_port)
    server, bridge = _civictwin(log, *serve_args), _civictwin(log, *bridge_args)
    try:
        with receiver.running():
            _until(lambda: _ready(base), 30, "the restarted server")
            restarted = time.monotonic()
            check = open_store(url)

            def meters_in() -> bool:
                found = check.get_entity(tenant, f"urn:ngsi-ld:Meter:m{MESSAGES - 1}")
                return found is not None and all(
                    check.get_entity(tenant, f"urn:ngsi-ld:Meter:m{n}") is not None
                    for n in range(MESSAGES))

            _until(meters_in, 60, "every MQTT message published before the kill")
            alarms = {f"urn:ngsi-ld:Alarm:{n}" for n in acked}
            # The dead process's claims are released at start: far sooner than their lease.
            _until(lambda: alarms <= receiver.ids, 90, "the pending notifications")
            took = time.monotonic() - restarted
            assert took < LEASE / 2, f"pending notifications took {took:.0f} s after restart"
            assert index_mismatches(check.engine, tenant) == []  # type: ignore[attr-defined]
            check.close()
    finally:
        for proc in (server, bridge):
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
