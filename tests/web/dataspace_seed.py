"""A small data space for the dashboard's tests: participants, a dataset, an agreement, consents.

The agreement and its transfer are written into the provider's tables as the enforcement
tests do (the negotiation itself is tested over HTTP in tests/dataspace); consents go through
the registry, which writes their audit entries.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from civictwin.catalog.catalogue import Catalogue
from civictwin.catalog.model import Dataset
from civictwin.config import Settings
from civictwin.dataspace.consent import ConsentRegistry, parse_consent
from civictwin.dataspace.participants import Participants
from civictwin.store import Store
from civictwin.store.dataspace import DataspaceStore, now_text

OFFER_TEXT = "may use"  # what the plain-language text of the seeded offer says, in part


@dataclass(frozen=True)
class Seeded:
    """Who is who in the seeded data space, and what it holds."""

    tenant: str
    dataset: str
    operator_key: str
    consumer_id: str
    consumer_key: str
    provider_key: str
    other_consumer_key: str
    agreement: str
    consents: int


def seed(store: Store, tenant: str) -> Seeded:
    """Put participants, a dataset with an offer, an agreement and consents in `tenant`."""
    suffix = uuid.uuid4().hex[:8]
    participants = Participants(store)
    operator = participants.add(f"urn:test:operator-{suffix}", "Operator", {"operator"})
    consumer = participants.add(f"urn:test:research-{suffix}", "Lumen Climate Institute",
                                {"consumer"}, f"r{suffix}", "research")
    other = participants.add(f"urn:test:other-{suffix}", "Another consumer", {"consumer"},
                             f"o{suffix}")
    provider = participants.add(f"urn:test:energy-{suffix}", "Energy department",
                                {"provider"}, tenant, "department")
    dataset = f"urn:civictwin:dataset:{tenant}:heat-demand"
    offer = {"@id": f"urn:offer:{suffix}", "@type": "Offer", "assigner": operator.id,
             "permission": [{"action": "use", "constraint": [
                 {"leftOperand": "purpose", "operator": "eq",
                  "rightOperand": "climate-research"}]}]}
    Catalogue(store, Settings()).put_dataset(tenant, Dataset(
        id=dataset, title="Heat demand of Lumen", description="Yearly heat demand by building.",
        publisher=operator.id, publisher_name="City of Lumen", keywords=["heat", "energy"],
        offers=[offer], ngsi_tenant=tenant, ngsi_types=["https://smartdatamodels.org/dataModel.Building/Building"]))
    agreement = _agreement(store, tenant, dataset, offer, consumer.id, suffix)
    registry = ConsentRegistry(store)
    for n, purpose in enumerate(("energy planning", "energy planning", "research")):
        record = registry.give(tenant, provider.id, parse_consent(
            _consent(f"resident-{n}", purpose), datetime.now(UTC)))
        if n == 1:
            registry.withdraw(tenant, provider.id, record.id)
    return Seeded(tenant, dataset, participants.issue_key(operator.id).key, consumer.id,
                  participants.issue_key(consumer.id).key,
                  participants.issue_key(provider.id).key,
                  participants.issue_key(other.id).key, agreement, 3)


def _agreement(store: Store, tenant: str, dataset: str, offer: dict[str, Any],
               consumer: str, suffix: str) -> str:
    agreement = {**offer, "@id": f"urn:agreement:{suffix}", "@type": "Agreement",
                 "target": dataset, "assignee": consumer, "timestamp": "2026-01-01T00:00:00Z"}
    rows, stamp = DataspaceStore(store), now_text()
    rows.insert_negotiation({
        "pid": f"urn:n:{suffix}", "role": "provider", "provider_pid": f"urn:n:{suffix}",
        "consumer_pid": f"urn:c:{suffix}", "counterparty": consumer,
        "counterparty_address": "http://127.0.0.1:9/dsp", "dataset_id": dataset,
        "tenant": tenant, "offer": json.dumps(offer), "agreement": json.dumps(agreement),
        "agreement_id": agreement["@id"], "agreement_status": "active", "uses": 2,
        "state": "FINALIZED", "created_at": stamp, "modified_at": stamp})
    rows.insert_transfer({
        "pid": f"urn:t:{suffix}", "role": "provider", "provider_pid": f"urn:t:{suffix}",
        "consumer_pid": f"urn:ct:{suffix}", "counterparty": consumer,
        "counterparty_address": "http://127.0.0.1:9/dsp", "agreement_id": agreement["@id"],
        "dataset_id": dataset, "tenant": tenant, "format": "HttpData-PULL",
        "state": "STARTED", "data_address": json.dumps({"endpoint": "secret"}),
        "suspended_by": None, "token_id": suffix, "token_hash": "x" * 64,
        "created_at": stamp, "modified_at": stamp})
    return str(agreement["@id"])


def _consent(subject: str, purpose: str) -> dict[str, Any]:
    return {"subject": subject,
            "controller": {"id": "urn:participant:lumen-energy", "name": "Lumen Energy",
                           "contact": "Privacy office", "email": "privacy@energy.example",
                           "address": "1 Grid Street, Lumen", "phone": "+32 2 000 00 00"},
            "purposes": [purpose], "dataCategories": ["heat consumption"],
            "notice": {"url": "https://energy.example/privacy", "version": "2026-01"},
            "jurisdiction": "BE", "collectionMethod": "web form with opt-in"}
