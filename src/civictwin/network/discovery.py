"""Discover what each peer city offers: its protocol version, then its DCAT catalogue over DSP.

The catalogue comes as the Dataspace Protocol's Catalog message (DCAT datasets carrying their
ODRL offers); the last one found at each peer is kept, so negotiation and the CLI can read it
without asking again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace import dsp_client
from civictwin.dataspace.dsp_messages import VERSION, message
from civictwin.errors import CounterpartyError, ResourceNotFound
from civictwin.network.peers import Peer
from civictwin.store import Store
from civictwin.store.network import NetworkStore

AGGREGATION = ("civictwin:aggregation", "https://civictwin.org/ns/odrl/aggregation")


@dataclass(frozen=True)
class PeerDataset:
    """A dataset a peer city offers, with its offers and whether they allow aggregates only."""

    peer: str
    id: str
    title: str
    keywords: tuple[str, ...]
    offers: tuple[dict[str, Any], ...]

    @property
    def aggregates_only(self) -> bool:
        """Return whether every offer of the dataset allows aggregated use only."""
        return bool(self.offers) and all(_aggregate_offer(o) for o in self.offers)

    def to_json(self) -> dict[str, Any]:
        """Return the dataset as plain JSON."""
        return {"peer": self.peer, "id": self.id, "title": self.title,
                "keywords": list(self.keywords), "aggregatesOnly": self.aggregates_only,
                "offers": [o.get("@id") for o in self.offers]}


@dataclass(frozen=True)
class PeerCatalogue:
    """What one peer offered when last asked."""

    peer: Peer
    fetched_at: str
    datasets: tuple[PeerDataset, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the catalogue as plain JSON."""
        return {"peer": self.peer.to_json(), "fetchedAt": self.fetched_at,
                "datasets": [d.to_json() for d in self.datasets]}

    def dataset(self, offer_id: str, dataset_id: str | None = None) -> PeerDataset:
        """Return the dataset named by id, or the first one carrying offer `offer_id`."""
        for found in self.datasets:
            if found.id == dataset_id or (dataset_id is None and any(
                    o.get("@id") == offer_id for o in found.offers)):
                return found
        wanted = f"dataset {dataset_id}" if dataset_id else f"dataset under offer {offer_id}"
        raise ResourceNotFound(f"peer {self.peer.id} offers no {wanted} (it may not have run "
                               "`civictwin network offer` yet)")


def discover(store: Store, settings: Settings, peer: Peer) -> PeerCatalogue:
    """Ask a peer for its protocol version and catalogue; keep and return what it offers."""
    versions = dsp_client.get(settings, peer.id, f"{peer.base_url}/.well-known/dspace-version")
    listed = [v for v in versions.get("protocolVersions", []) if isinstance(v, dict)]
    spoken = next((v for v in listed if v.get("version") == VERSION), None)
    if spoken is None:
        raise CounterpartyError(f"peer {peer.id} does not speak Dataspace Protocol {VERSION} "
                                f"(it lists {[v.get('version') for v in listed]})")
    catalog = dsp_client.post(settings, peer.id, f"{peer.endpoint.rstrip('/')}/catalog/request",
                              message("CatalogRequestMessage", filter=[]))
    if catalog.get("@type") != "Catalog":
        raise CounterpartyError(f"peer {peer.id} answered the catalogue request with "
                                f"{catalog.get('@type')!r}, not a Catalog")
    fetched = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    NetworkStore(store).put_catalog(peer.id, fetched, catalog)
    return _read(peer, fetched, catalog)


def known_catalogue(store: Store, peer: Peer) -> PeerCatalogue:
    """Return the catalogue last discovered at a peer; ResourceNotFound if never asked."""
    kept = NetworkStore(store).catalog(peer.id)
    if kept is None:
        raise ResourceNotFound(f"peer {peer.id}'s catalogue has not been discovered yet "
                               "(`civictwin network discover`)")
    return _read(peer, kept[0], kept[1])


def _read(peer: Peer, fetched: str, catalog: dict[str, Any]) -> PeerCatalogue:
    datasets = []
    for doc in _list(catalog.get("dataset")):
        if not isinstance(doc, dict) or not isinstance(doc.get("@id"), str):
            continue
        datasets.append(PeerDataset(
            peer.id, doc["@id"], _text(doc.get("title")),
            tuple(str(k) for k in _list(doc.get("keyword"))),
            tuple(o for o in _list(doc.get("hasPolicy")) if isinstance(o, dict))))
    return PeerCatalogue(peer, fetched, tuple(datasets))


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("@value", ""))
    return str(value) if value is not None else ""


def _aggregate_offer(offer: dict[str, Any]) -> bool:
    """Whether an offer permits aggregates only: a form `aggregate` or a minimum group size."""
    for permission in _list(offer.get("permission")):
        if not any(c.get("leftOperand") in AGGREGATION and (
                c.get("rightOperand") == "aggregate" or c.get("operator") in ("gt", "gteq"))
                for c in _constraints(permission)):
            return False
    return bool(_list(offer.get("permission")))


def _constraints(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "leftOperand" in node:
            yield node
        for value in node.values():
            yield from _constraints(value)
    elif isinstance(node, list):
        for item in node:
            yield from _constraints(item)
