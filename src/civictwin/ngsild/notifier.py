"""Deliver queued notifications (ETSI GS CIM 009 5.3.1) over HTTP and MQTT, with retries.

A background thread polls the outbox: it queues the periodic notifications of timeInterval
subscriptions, claims due rows under a lease, sends each, and records the outcome on the row
and on its subscription. A failed delivery is due again after an exponential backoff, up to
`max_attempts`; nothing here ever touches an entity write.

Each notifier names itself `host:pid:start:random` (`start` is when its process began, from
/proc, so a reused pid is told apart). When it starts it releases the claims of instances of
its own host whose process is gone: after a crash and restart, what the dead process had
claimed is sent at once. Claims of other hosts' instances wait out their lease.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from civictwin.ngsild.jsonld import CORE_CONTEXT_URL, link_header
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.ngsild.subscriptions import Subscriptions
from civictwin.store.outbox import OutboxRow, stamp

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A notification could not be delivered; the message says why."""


class Notifier:
    """The outbox's delivery loop, run in one daemon thread."""

    def __init__(self, subscriptions: Subscriptions, poll: float = 0.25, lease: float = 60.0,
                 backoff: float = 1.0, max_backoff: float = 300.0, max_attempts: int = 10,
                 timeout: float = 10.0) -> None:
        self.subscriptions = subscriptions
        self.records = subscriptions.records
        self.poll = poll
        self.lease = lease
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}:" \
                        f"{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        """Start delivering in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="civictwin-notifier",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, letting a delivery in progress finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)
            self._thread = None

    def release_dead(self) -> int:
        """Make the rows claimed by dead instances of this host due now; return how many."""
        dead = [i for i in self.records.claim_holders() if _dead(i)]
        released = self.records.release(dead, datetime.now(UTC))
        if released:
            log.info("released %d notifications claimed by %s", released, ", ".join(dead))
        return released

    def _run(self) -> None:
        try:
            self.release_dead()
        except Exception:
            log.exception("could not release the claims of dead notifiers; their lease will")
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as http:
            while not self._stop.is_set():
                try:
                    self.run_once(http)
                except Exception:
                    log.exception("notifier pass failed; retrying")
                self._stop.wait(self.poll)

    def run_once(self, http: httpx.Client) -> int:
        """Queue periodic notifications, deliver what is due; return how many were tried."""
        self.subscriptions.enqueue_periodic(datetime.now(UTC))
        rows = self.records.claim(datetime.now(UTC), self.lease, instance=self.instance)
        for row in rows:
            if self._stop.is_set():
                break  # the lease runs out and the row is due again
            self._attempt(http, row)
        return len(rows)

    def _attempt(self, http: httpx.Client, row: OutboxRow) -> None:
        try:
            deliver(http, row, self.timeout, self.subscriptions.policy)
        except Exception as exc:
            now = datetime.now(UTC)
            retry_at = None
            if row.attempts < self.max_attempts:
                delay = min(self.backoff * 2 ** (row.attempts - 1), self.max_backoff)
                retry_at = stamp(now + timedelta(seconds=delay))
            log.warning("notification %s of subscription %s failed (attempt %d): %s",
                        row.pk, row.subscription_id, row.attempts, exc)
            self.records.failed(row, stamp(now), f"{type(exc).__name__}: {exc}", retry_at)
        else:
            self.records.delivered(row, stamp(datetime.now(UTC)))


def _started(pid: int) -> str:
    """Return when process `pid` started (clock ticks since boot), '' if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


def _dead(instance: str) -> bool:
    """Whether a notifier instance ran on this host in a process that no longer exists."""
    parts = instance.rsplit(":", 3)
    if len(parts) != 4 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's process holds the pid: it runs
    started = _started(pid)
    return bool(parts[2]) and bool(started) and started != parts[2]


def notification(row: OutboxRow) -> dict[str, Any]:
    """Return the Notification body (5.3.1) for an outbox row."""
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": row.subscription_id,
        "notifiedAt": stamp(datetime.now(UTC)),
        "data": row.data,
    }
    if row.trigger_reason is not None:
        body["triggerReason"] = row.trigger_reason
    if row.endpoint["accept"] == "application/ld+json":
        context = row.endpoint.get("context")
        body = {"@context": context if context is not None else CORE_CONTEXT_URL, **body}
    return body


def headers(row: OutboxRow) -> dict[str, str]:
    """Return the headers (or MQTT metadata) a notification is sent with."""
    endpoint = row.endpoint
    out = {"Content-Type": endpoint["accept"]}
    context = endpoint.get("context")
    if endpoint["accept"] == "application/json":
        out["Link"] = link_header(context if isinstance(context, str) else CORE_CONTEXT_URL)
    if row.tenant:
        out["NGSILD-Tenant"] = row.tenant
    out.update(endpoint.get("receiverInfo", {}))
    return out


def deliver(http: httpx.Client, row: OutboxRow, timeout: float,
            policy: OutboundPolicy) -> None:
    """Send one notification to its endpoint if the policy allows it; raise on failure."""
    uri = row.endpoint["uri"]
    payload = json.dumps(notification(row), separators=(",", ":"), ensure_ascii=False)
    if uri.startswith(("http://", "https://")):
        pinned = policy.pin(uri, "notification endpoint")
        response = http.post(pinned.url, content=payload.encode(),
                             headers={**headers(row), **pinned.headers},
                             extensions=pinned.extensions)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"{uri} answered HTTP {response.status_code}")
        return
    message = json.dumps({"metadata": headers(row), "body": json.loads(payload)})
    publish_mqtt(uri, message, row.endpoint.get("notifierInfo", {}), timeout, policy)


def publish_mqtt(uri: str, message: str, info: dict[str, str], timeout: float,
                 policy: OutboundPolicy) -> None:
    """Publish one message to the broker and topic an mqtt:// or mqtts:// URL names."""
    address = min(policy.addresses(uri, "notification endpoint"), key=lambda a: a.version)
    parts = urlsplit(uri)
    topic = unquote(parts.path.lstrip("/"))
    qos = int(info.get("MQTT-QoS", "0"))
    if qos not in (0, 1, 2):
        raise DeliveryError(f"MQTT-QoS {qos} is not 0, 1 or 2")
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"civictwin-{uuid.uuid4().hex[:12]}")
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
    if parts.scheme == "mqtts":
        client.tls_set()
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    # Plain MQTT connects to the checked address; TLS needs the name to verify the certificate.
    host = (parts.hostname or "") if parts.scheme == "mqtts" else str(address)
    client.connect(host, port, keepalive=max(int(timeout), 5))
    client.loop_start()
    try:
        info_ = client.publish(topic, message, qos=qos)
        info_.wait_for_publish(timeout)
        if not info_.is_published():
            raise DeliveryError(f"{uri}: the broker did not take the message in {timeout} s")
    finally:
        client.disconnect()
        client.loop_stop()
