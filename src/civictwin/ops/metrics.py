"""Prometheus metrics of one app: request counters and latency, writes, outbox, dead letters.

Each app has its own registry (tests build many apps in one process). Counts that live in the
database are read with cheap queries when Prometheus scrapes, never kept in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from civictwin.store.base import EntityWrite
from civictwin.store.ops import dead_letter_count, outbox_counts

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class StoreCollector(Collector):
    """Read the notification outbox and dead-letter counts from the database at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        """Yield the outbox backlog by state and the number of dead letters."""
        try:
            states = outbox_counts(self.engine)
            dead = dead_letter_count(self.engine)
        except Exception:  # a scrape must not fail because the database is down
            log.warning("metrics: database counts unavailable", exc_info=True)
            return
        outbox = GaugeMetricFamily("civictwin_notification_outbox",
                                   "Notifications in the outbox, by state", labels=["state"])
        for state in ("pending", "sent", "failed"):
            outbox.add_metric([state], states.get(state, 0))
        yield outbox
        yield GaugeMetricFamily("civictwin_ingest_dead_letters",
                                "Ingest messages and rows kept as dead letters", value=dead)


class Metrics:
    """The metrics one app exposes at /metrics."""

    def __init__(self, engine: Engine | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("civictwin_http_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("civictwin_http_request_duration_seconds",
                                 "Time to serve an HTTP request", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rejected = Counter("civictwin_http_rejected", "Requests refused by admission "
                                "control (503) or rate limit (429)", ["reason"],
                                registry=self.registry)
        self.writes = Counter("civictwin_entity_writes", "Entity writes by kind (the ingest rate)",
                              ["kind"], registry=self.registry)
        if engine is not None:
            self.registry.register(StoreCollector(engine))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one served request and its latency."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def on_writes(self, _conn: Any, _tenant: str, writes: list[EntityWrite]) -> None:
        """Count entity writes as a store listener sees them, inside their transaction."""
        for write in writes:
            kind = ("created" if write.before is None else
                    "deleted" if write.after is None else "updated")
            self.writes.labels(kind).inc()
