"""ASGI middleware that keeps the twin standing under load: admission, rate limit, access log.

One class, outermost in the app: it rate-limits by client address (429), admits at most
`max_concurrent_requests` at once with a short wait for a slot (503 beyond it, both with
Retry-After), then times the request, counts it by route template and logs one line for it.
Operations endpoints skip the limits so a saturated twin can still be watched. Every route's
body is bounded by `max_body_bytes` here, whoever reads it: a declared Content-Length beyond
it is refused before the route runs, and a body that streams past it fails its read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civictwin.config import Settings
from civictwin.errors import (
    BadRequestData,
    CivicTwinError,
    ServiceUnavailable,
    TooManyRequests,
)
from civictwin.ops.metrics import Metrics

access_log = logging.getLogger("civictwin.access")
UNLIMITED = ("/health", "/ready", "/metrics")
MAX_CLIENTS = 10_000


class TokenBuckets:
    """Per-client token buckets; the least recently seen clients are forgotten first."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Take one token for `client`; return 0, or the seconds until one is available."""
        tokens, then = self.buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self.buckets[client] = (tokens, now)
        if len(self.buckets) > MAX_CLIENTS:
            self.buckets.popitem(last=False)
        return wait


class Guard:
    """Rate limit, admission control, metrics and the access log, as one ASGI middleware."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.limit = settings.max_concurrent_requests
        self.slots = asyncio.Semaphore(self.limit)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.wait = settings.admission_wait_seconds
        rate = settings.rate_limit_per_second
        self.buckets = TokenBuckets(rate, settings.rate_limit_burst) if rate > 0 else None
        self.max_body = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            declared = _header(scope, b"content-length") or ""
            if declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
                await _refuse(scope, send_status, self._too_large(), 0)
            elif scope["path"] in UNLIMITED:
                await self.app(scope, receive, send_status)
            else:
                await self._limited(scope, self._bounded(receive), send_status)
        finally:
            self._record(scope, status[0], time.perf_counter() - started)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is not None:
            wait = self.buckets.take(_client(scope), time.monotonic())
            if wait > 0:
                self.metrics.rejected.labels("rate_limit").inc()
                await _refuse(scope, send, TooManyRequests(
                    f"more than {self.buckets.rate:g} requests per second from this client"),
                    wait)
                return
        slots = self._slots()
        try:
            if slots.locked():
                await asyncio.wait_for(slots.acquire(), timeout=self.wait)
            else:
                await slots.acquire()
        except TimeoutError:
            self.metrics.rejected.labels("saturated").inc()
            await _refuse(scope, send, ServiceUnavailable(
                "the twin is serving as many requests as it can; retry shortly"), 1)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()

    def _too_large(self) -> BadRequestData:
        return BadRequestData(f"request body larger than {self.max_body} bytes")

    def _bounded(self, receive: Receive) -> Receive:
        """Return `receive`, failing the read once the body passes `max_body_bytes`."""
        seen = [0]

        async def bounded() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body:
                    raise self._too_large()
            return message

        return bounded

    def _slots(self) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop; a test client may bring a new one.
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.loop, self.slots = loop, asyncio.Semaphore(self.limit)
        return self.slots

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.observe(scope["method"], template, status, seconds)
        # Never the query string or headers: they may carry tokens and API keys.
        tenant = _header(scope, b"ngsild-tenant")
        fields = {"method": scope["method"], "route": template, "status": status,
                  "duration_ms": round(seconds * 1000, 2), "tenant": tenant,
                  "client": _client(scope)}
        access_log.info("%s %s %d %.1fms tenant=%s", scope["method"], template, status,
                        seconds * 1000, tenant or "-", extra=fields)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _refuse(scope: Scope, send: Send, error: CivicTwinError, retry_after: float) -> None:
    body: Any = json.dumps(error.to_problem(instance=scope["path"])).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
