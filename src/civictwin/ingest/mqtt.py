"""The MQTT bridge: device messages in, entity updates out, nothing dropped silently.

Durability: the bridge subscribes at QoS 1 with a persistent MQTT 5 session (fixed client id,
clean_start off, a session expiry) and acknowledges messages by hand. paho's network thread
only queues messages; the writing thread maps a batch, writes it with
`ContextBroker.batch_upsert(replace=False)`, keeps malformed ones as dead letters, and only
after both have committed sends the PUBACKs. A crash before that leaves the messages
unacknowledged in the session, so the broker delivers them again.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from civictwin.errors import BadRequestData, CivicTwinError
from civictwin.ingest.deadletter import DeadLetter, DeadLetterBox, IngestRun, now_iso
from civictwin.ingest.mapping import Mapping, RecordRejected
from civictwin.ingest.writer import EntityBatch
from civictwin.ngsild.broker import ContextBroker

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass
class BridgeStats:
    """Counts since the bridge started; received == written + dead_lettered + pending."""

    received: int = 0
    written: int = 0
    dead_lettered: int = 0
    batches: int = 0


class MqttBridge:
    """Subscribe to the mapping's topics and turn every message into an entity update."""

    def __init__(self, broker: ContextBroker, mapping: Mapping, box: DeadLetterBox,
                 url: str | None = None, client_id: str | None = None) -> None:
        self.broker = broker
        self.mapping = mapping
        self.box = box
        self.url = url or mapping.mqtt.url
        self.stats = BridgeStats()
        self.ctx = broker.context(mapping.context)
        self._queue: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self._subscribed = threading.Event()
        self._connect_error: str | None = None
        self._started = now_iso()
        self.client = paho.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or mapping.mqtt.client_id,
                                  protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # -- paho's network thread: only queue -----------------------------------------------
    def _on_connect(self, client: paho.Client, _userdata: object, _flags: paho.ConnectFlags,
                    reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            self._connect_error = f"MQTT broker refused the connection: {reason}"
            self._subscribed.set()
            return
        qos = self.mapping.mqtt.qos
        topics: list[tuple[str, int]] = [(r.topic_filter(), qos) for r in self.mapping.rules
                                         if r.topic]
        client.subscribe(topics)

    def _on_subscribe(self, _client: paho.Client, _userdata: object, _mid: int,
                      reasons: list[ReasonCode], _props: Properties | None) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._connect_error = f"MQTT broker refused the subscription: {', '.join(refused)}"
        self._subscribed.set()

    def _on_message(self, _client: paho.Client, _userdata: object,
                    message: paho.MQTTMessage) -> None:
        self._queue.put(message)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Connect, subscribe, and start receiving (messages wait until `run` writes them)."""
        parts = urlsplit(self.url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise BadRequestData(f"MQTT URL {self.url!r}: expected mqtt://host:port")
        if parts.scheme == "mqtts":
            self.client.tls_set()
        if parts.username:
            self.client.username_pw_set(parts.username, parts.password)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = self.mapping.mqtt.receive_maximum
        try:
            self.client.connect(parts.hostname, parts.port or (8883 if parts.scheme == "mqtts"
                                                               else 1883),
                                clean_start=False, properties=props)
        except OSError as exc:
            raise BadRequestData(f"cannot reach the MQTT broker at {self.url}: {exc}") from None
        self.client.loop_start()
        if not self._subscribed.wait(timeout) or self._connect_error:
            self.client.loop_stop()
            raise BadRequestData(self._connect_error or f"no answer from MQTT broker {self.url}")

    def run(self, stop: threading.Event, max_messages: int | None = None) -> None:
        """Write queued messages in batches until `stop` is set (or max_messages are done)."""
        while not stop.is_set():
            self.process(timeout=0.2)
            if max_messages is not None and self.done >= max_messages:
                break

    def process(self, timeout: float = 0.0) -> int:
        """Write the messages that are waiting (waiting up to timeout for one); return count."""
        try:
            first = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return 0
        messages = [first]
        while len(messages) < self.mapping.mqtt.batch_size:
            try:
                messages.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._write(messages)
        return len(messages)

    def stop(self) -> None:
        """Write what is queued, record the run, and disconnect (the session stays)."""
        while self.process():
            pass
        self.client.disconnect()
        self.client.loop_stop()
        self.box.record_run(IngestRun("mqtt", self.url, "", self._started, self.stats.written,
                                      self.stats.dead_lettered, self.mapping.tenant))

    @property
    def done(self) -> int:
        """Return how many messages were written or dead-lettered."""
        return self.stats.written + self.stats.dead_lettered

    # -- the writing thread --------------------------------------------------------------
    def _write(self, messages: list[paho.MQTTMessage]) -> None:
        batch: EntityBatch[paho.MQTTMessage] = EntityBatch(self.broker, self.mapping.tenant,
                                                           self.ctx)
        dead: list[tuple[paho.MQTTMessage, str]] = []
        for message in messages:
            try:
                rule, variables = self.mapping.route(message.topic)
                fields = {**rule.parse_payload(message.payload), **variables}
                batch.add(rule.entity(fields), message)
            except RecordRejected as exc:
                dead.append((message, exc.reason))
        try:
            result = batch.flush()
        except CivicTwinError as exc:  # the whole batch was refused (e.g. an unknown @context)
            dead += [(m, exc.detail) for tags in batch.tags.values() for m in tags]
            written = 0
        else:
            dead += result.rejected
            written = len(result.accepted)
        self.box.add([DeadLetter(m.topic, f"mid {m.mid}", _text(m.payload), reason,
                                 self.mapping.tenant) for m, reason in dead])
        for message in messages:  # everything is committed: now the broker may forget them
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)
        self.stats.received += len(messages)
        self.stats.written += written
        self.stats.dead_lettered += len(dead)
        self.stats.batches += 1


def run_bridge(bridge: MqttBridge, stop: threading.Event,
               max_messages: int | None = None) -> BridgeStats:
    """Start the bridge, write until stopped, then stop it cleanly; return the counts."""
    bridge.start()
    try:
        bridge.run(stop, max_messages)
    finally:
        bridge.stop()
    return bridge.stats


def _text(payload: bytes | bytearray) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.hex()
