"""A finalized agreement and started transfer over a tenant's meter data, written directly
into the provider's tables (negotiation itself is tested in tests/dataspace)."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from civictwin.catalog.catalogue import Catalogue
from civictwin.catalog.model import Dataset
from civictwin.config import Settings
from civictwin.dataspace.participants import Participants, secret_digest
from civictwin.store import Store
from civictwin.store.dataspace import DataspaceStore, now_text

METER = "https://smartdatamodels.org/dataModel.Device/SmartMeteringObservation"
BUILDING = "https://smartdatamodels.org/dataModel.Building/Building"


@dataclass(frozen=True)
class Grant:
    """What a test consumer holds: its id, the agreement id and its transfer token headers."""

    consumer: str
    agreement: str
    headers: dict[str, str]


def grant(store: Store, tenant: str, constraints: list[dict[str, Any]],
          types: tuple[str, ...] = (METER, BUILDING)) -> Grant:
    """Record an agreement with `constraints` and a started transfer; return the grant."""
    suffix = uuid.uuid4().hex[:8]
    consumer = Participants(store).add(f"urn:city:{suffix}", "City of Lumen", {"consumer"},
                                       f"c{suffix}")
    settings = Settings()
    dataset = f"urn:civictwin:dataset:{tenant}:meters:{suffix}"
    offer = {"@id": f"urn:offer:{suffix}", "@type": "Offer",
             "permission": [{"action": "use", "constraint": constraints}]}
    Catalogue(store, settings).put_dataset(tenant, Dataset(
        id=dataset, title="Meter readings", description="Smart meter readings.",
        publisher="urn:utility", offers=[offer], ngsi_tenant=tenant, ngsi_types=list(types),
        temporal=True))
    agreement = {**offer, "@id": f"urn:agreement:{suffix}", "@type": "Agreement",
                 "target": dataset, "assigner": settings.participant_id,
                 "assignee": consumer.id, "timestamp": "2026-01-01T00:00:00Z"}
    rows, stamp = DataspaceStore(store), now_text()
    rows.insert_negotiation({
        "pid": f"urn:n:{suffix}", "role": "provider", "provider_pid": f"urn:n:{suffix}",
        "consumer_pid": "urn:c", "counterparty": consumer.id,
        "counterparty_address": "http://127.0.0.1:9/dsp", "dataset_id": dataset,
        "tenant": tenant, "offer": json.dumps(offer), "agreement": json.dumps(agreement),
        "agreement_id": agreement["@id"], "agreement_status": "active", "uses": 0,
        "state": "FINALIZED", "created_at": stamp, "modified_at": stamp})
    secret = secrets.token_urlsafe(16)
    rows.insert_transfer({
        "pid": f"urn:t:{suffix}", "role": "provider", "provider_pid": f"urn:t:{suffix}",
        "consumer_pid": "urn:ct", "counterparty": consumer.id,
        "counterparty_address": "http://127.0.0.1:9/dsp", "agreement_id": agreement["@id"],
        "dataset_id": dataset, "tenant": tenant, "format": "HttpData-PULL",
        "state": "STARTED", "data_address": None, "suspended_by": None, "token_id": suffix,
        "token_hash": secret_digest(secret), "created_at": stamp, "modified_at": stamp})
    return Grant(consumer.id, agreement["@id"],
                 {"Authorization": f"Bearer ctt_{suffix}.{secret}"})


def c(left: str, operator: str, right: Any) -> dict[str, Any]:
    """Return one ODRL constraint."""
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


AGGREGATES_MIN_10 = [c("civictwin:aggregation", "gteq", 10)]
"""The policy "aggregates only, at least 10 contributors"."""
