"""MQTT ingest throughput: broker -> twin messages/s, as a ratio of raw broker throughput.

ours      civictwin's MqttBridge (QoS 1, persistent session, manual acks after each batch is
          committed) writing every message as an entity update into a fresh store.
baseline  a plain paho subscriber at QoS 1 that only counts messages, on the same broker.

Both consume the same N smart-meter readings (JSON, `bench/{run}/meters/{id}/reading`) that a
publisher in another process sends as fast as the broker takes them. The consumer is pinned
to one core (the publisher and Mosquitto to others when the machine has them); the rate is
messages / seconds from the first message received to the last one processed. Unless
--mqtt-url is given, a private Mosquitto is started with queue limits lifted so that no
message is dropped by the broker while the twin is behind.

Run:  .venv/bin/python bench/mqtt_ingest.py [--messages 20000] [--meters 2000]
          [--database-url postgresql://...] [--mqtt-url mqtt://host:port]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from civictwin.config import Settings
from civictwin.ingest.deadletter import DeadLetterBox
from civictwin.ingest.mapping import Mapping
from civictwin.ingest.mqtt import MqttBridge
from civictwin.ngsild.broker import ContextBroker
from civictwin.store import open_store

MOSQUITTO = "/usr/sbin/mosquitto"


def _pin(core: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[core % len(cores)]})


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


def publish_all(url: str, prefix: str, messages: int, meters: int) -> None:
    """Publish the readings at QoS 1 as fast as the broker acknowledges them."""
    _pin(1)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(*_host_port(url))
    client.loop_start()
    last = None
    for i in range(messages):
        payload = json.dumps({"ts": 1767225600000 + i * 1000, "energy_wh": 1000 + i,
                              "power": {"w": 400 + i % 300}})
        last = client.publish(f"{prefix}/meters/M{i % meters}/reading", payload, qos=1)
    if last is not None:
        last.wait_for_publish(timeout=300)
    client.disconnect()
    client.loop_stop()


def _publisher(url: str, prefix: str, messages: int, meters: int) -> mp.Process:
    proc = mp.get_context("spawn").Process(target=publish_all,
                                           args=(url, prefix, messages, meters))
    proc.start()
    return proc


def baseline(url: str, messages: int, meters: int) -> float:
    """Return msgs/s of a paho subscriber that only counts."""
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    done = threading.Event()
    seen = {"n": 0, "first": 0.0, "last": 0.0}
    subscribed = threading.Event()

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        if seen["n"] == 0:
            seen["first"] = time.perf_counter()
        seen["n"] += 1
        if seen["n"] == messages:
            seen["last"] = time.perf_counter()
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"base-{prefix[-8:]}",
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(*_host_port(url))
    client.subscribe(f"{prefix}/meters/+/reading", qos=1)
    client.loop_start()
    subscribed.wait(10)
    proc = _publisher(url, prefix, messages, meters)
    if not done.wait(600):
        raise SystemExit(f"baseline: only {seen['n']} of {messages} messages arrived")
    proc.join()
    client.disconnect()
    client.loop_stop()
    return messages / (seen["last"] - seen["first"])


def ours(url: str, database_url: str, messages: int, meters: int) -> tuple[float, str]:
    """Return msgs/s through the bridge into the store, and a line on how it went."""
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    mapping = Mapping.model_validate({
        "mqtt": {"client_id": f"bridge-{prefix[-8:]}", "batch_size": 1000,
                 "receive_maximum": 10_000},
        "rules": [{"name": "meters", "topic": prefix + "/meters/{meterId}/reading",
                   "entity_id": "urn:ngsi-ld:SmartMeter:{meterId}",
                   "entity_type": "SmartMeteringObservation", "observed_at": "ts",
                   "time_format": "epoch_ms",
                   "attributes": [
                       {"source": "energy_wh", "name": "activeEnergyImport",
                        "from_unit": "Wh", "to_unit": "kWh"},
                       {"source": "power.w", "name": "activePower", "from_unit": "W",
                        "to_unit": "kW"}]}]})
    store = open_store(database_url)
    box = DeadLetterBox(store)
    broker = ContextBroker(store, Settings(database_url=database_url))
    bridge = MqttBridge(broker, mapping, box, url=url)
    bridge.start()
    proc = _publisher(url, prefix, messages, meters)
    first = 0.0
    while bridge.done < messages:
        if bridge.process(timeout=1.0) and not first:
            first = time.perf_counter()
    elapsed = time.perf_counter() - first
    proc.join()
    bridge.stop()
    entities = broker.types("")
    store.close()
    stats = bridge.stats
    note = (f"{stats.written} written, {stats.dead_lettered} dead letters, {stats.batches} "
            f"batches (mean {stats.received / max(stats.batches, 1):.0f} msgs), "
            f"{sum(entities.values())} entities")
    return messages / elapsed, note


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private Mosquitto on a free port; return it and its URL."""
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: _pin(2))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"mqtt://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("Mosquitto did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--meters", type=int, default=2_000)
    parser.add_argument("--mqtt-url")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mosquitto = None
        url = args.mqtt_url
        if url is None:
            mosquitto, url = start_mosquitto(Path(tmp))
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'twin.db'}"
        _pin(0)
        try:
            base = baseline(url, args.messages, args.meters)
            rate, note = ours(url, database_url, args.messages, args.meters)
        finally:
            if mosquitto is not None:
                mosquitto.terminate()
                mosquitto.wait()
    store_kind = database_url.split(":", 1)[0]
    print(f"messages: {args.messages} readings from {args.meters} meters, store: {store_kind}")
    print(f"baseline (paho subscriber, counting only): {base:10.0f} msgs/s")
    print(f"ours (MqttBridge -> {store_kind}):        {rate:10.0f} msgs/s   ({note})")
    print(f"ratio ours/baseline: {rate / base:.3f}")


if __name__ == "__main__":
    main()
