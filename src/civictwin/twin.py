"""Open a twin: the store plus every listener that derives data from entity writes.

Whoever writes entities — the API, the CLI's ingesters, the demo loader — opens the twin this
way, so history and subscription notifications are recorded for every write, in the writing
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from civictwin.config import Settings
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.ngsild.subscriptions import Subscriptions
from civictwin.ngsild.temporal import TemporalBroker
from civictwin.store import Store, open_store


@dataclass(frozen=True)
class Twin:
    """The parts of one running twin."""

    settings: Settings
    store: Store
    broker: ContextBroker
    temporal: TemporalBroker
    subscriptions: Subscriptions


def open_twin(settings: Settings, store: Store | None = None) -> Twin:
    """Open the store `settings` names (or use `store`) with history and subscriptions on."""
    store = store or open_store(settings.database_url)
    broker = ContextBroker(store, settings)
    return Twin(settings, store, broker, TemporalBroker(broker),
                Subscriptions(store, broker.contexts,
                              OutboundPolicy.of(settings.notification_allowlist)))
