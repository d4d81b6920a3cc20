"""Agreements with peer cities, negotiated over the Dataspace Protocol by the data space code.

This twin is the consumer: it asks the peer for a contract on one of its datasets under one of
the offers the peer's catalogue lists, and waits for the peer to agree and finalize (the
peer's messages arrive at this twin's own /dsp endpoints, so the twin must be serving). An
agreement already FINALIZED and in force for the same dataset is reused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace.negotiation import FINALIZED, TERMINATED, Negotiation, Negotiations
from civictwin.errors import CounterpartyError, ResourceNotFound
from civictwin.network.discovery import PeerDataset
from civictwin.network.peers import Peer
from civictwin.store import Store

POLL = 0.1


def agreement_for(store: Store, settings: Settings, peer_id: str,
                  dataset_id: str | None = None) -> Negotiation | None:
    """Return this twin's newest agreement in force with a peer (for one dataset), or None."""
    for found in Negotiations(store, settings).all("consumer"):
        if found.counterparty == peer_id and found.state == FINALIZED \
                and found.agreement_status == "active" \
                and dataset_id in (None, found.dataset_id):
            return found
    return None


def negotiate(store: Store, settings: Settings, peer: Peer, dataset: PeerDataset,
              offer_id: str | None = None, wait: float | None = None,
              tick: Callable[[str], None] | None = None) -> Negotiation:
    """Reach (or reuse) an agreement with a peer on one of its datasets; return it FINALIZED."""
    kept = agreement_for(store, settings, peer.id, dataset.id)
    if kept is not None:
        return kept
    offer = _offer(dataset, offer_id)
    negotiations = Negotiations(store, settings)
    started = negotiations.request(peer.id, dataset.id, offer, peer.endpoint)
    deadline = time.monotonic() + (wait if wait is not None else settings.network_wait_seconds)
    current = negotiations.get(started.pid)
    while current.state not in (FINALIZED, TERMINATED) and time.monotonic() < deadline:
        if tick is not None:
            tick(current.state)
        time.sleep(POLL)
        current = negotiations.get(started.pid)
    if current.state != FINALIZED:
        raise CounterpartyError(f"negotiation {current.pid} with {peer.id} for {dataset.id} is "
                                f"{current.state}, not FINALIZED")
    return current


def _offer(dataset: PeerDataset, offer_id: str | None) -> dict[str, Any]:
    for offer in dataset.offers:
        if offer_id in (None, offer.get("@id")):
            return offer
    raise ResourceNotFound(f"dataset {dataset.id} of {dataset.peer} has no offer {offer_id}")
