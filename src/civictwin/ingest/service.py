"""The MQTT bridges `civictwin serve` runs beside the API, one per mapping in `mqtt_mappings`.

Each bridge runs in its own thread with the same guarantees as `civictwin ingest mqtt` (QoS 1,
a persistent session, PUBACK only after the batch and its dead letters are committed). A broker
that cannot be reached when the twin starts, or a bridge that fails, is retried with a backoff
(1 s doubling to 60 s) while the API keeps serving; paho reconnects a dropped connection by
itself. Stopping writes what was received, then disconnects, keeping the session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from civictwin.config import Settings
from civictwin.errors import CivicTwinError
from civictwin.ingest.deadletter import DeadLetterBox
from civictwin.ingest.mapping import Mapping, MappingError, load_mapping
from civictwin.ingest.mqtt import BridgeStats, MqttBridge
from civictwin.ngsild.broker import ContextBroker

log = logging.getLogger(__name__)


class BridgeService:
    """Run one MQTT bridge per mapping in background threads, for the app's lifetime."""

    def __init__(self, broker: ContextBroker, mappings: Sequence[Mapping],
                 retry: float = 1.0, max_retry: float = 60.0) -> None:
        ids = [m.mqtt.client_id for m in mappings]
        if len(set(ids)) != len(ids):
            raise CivicTwinError("mqtt_mappings: every mapping needs its own mqtt.client_id "
                                 "(it names the durable session)")
        self.broker = broker
        self.mappings = list(mappings)
        self.retry = retry
        self.max_retry = max_retry
        self.running: dict[str, MqttBridge] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_settings(cls, settings: Settings, broker: ContextBroker) -> BridgeService:
        """Load the mapping files `mqtt_mappings` names; CivicTwinError if one is not valid."""
        try:
            mappings = [load_mapping(path) for path in settings.mqtt_mappings]
        except MappingError as exc:
            raise CivicTwinError(f"mqtt_mappings: {exc}") from None
        return cls(broker, mappings)

    def start(self) -> None:
        """Start every bridge's thread (connecting happens in the thread)."""
        if self._threads:
            return
        self._stop.clear()
        for mapping in self.mappings:
            thread = threading.Thread(target=self._run, args=(mapping,), daemon=True,
                                      name=f"civictwin-mqtt-{mapping.mqtt.client_id}")
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every bridge after it has written what it received."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def stats(self) -> dict[str, BridgeStats]:
        """Return the counts of each connected bridge by client id."""
        return {client_id: bridge.stats for client_id, bridge in self.running.items()}

    def _run(self, mapping: Mapping) -> None:
        delay = self.retry
        box = DeadLetterBox(self.broker.store)
        client_id = mapping.mqtt.client_id
        while not self._stop.is_set():
            bridge = MqttBridge(self.broker, mapping, box)
            try:
                bridge.start()
            except CivicTwinError as exc:
                log.warning("MQTT bridge %s: %s; retrying in %.0f s", client_id, exc.detail,
                            delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry)
                continue
            log.info("MQTT bridge %s listening on %s", client_id, bridge.url)
            self.running[client_id] = bridge
            delay = self.retry
            try:
                bridge.run(self._stop)
            except Exception:
                log.exception("MQTT bridge %s failed; unacknowledged messages come again",
                              client_id)
                self._stop.wait(delay)
            finally:
                self._close(bridge)

    def _close(self, bridge: MqttBridge) -> None:
        try:
            bridge.stop()
        except Exception:
            log.exception("MQTT bridge %s did not stop cleanly", bridge.mapping.mqtt.client_id)
            bridge.client.loop_stop()
