"""A finalized agreement and a transfer in a given state, written straight into the provider's
tables, for tests of what a transfer token may do (negotiation itself is tested elsewhere)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace.participants import secret_digest
from civictwin.store import Store
from civictwin.store.dataspace import DataspaceStore, now_text


def record_grant(store: Store, settings: Settings, tenant: str, consumer: str, dataset: str,
                 offer: dict[str, Any], suffix: str,
                 state: str = "STARTED") -> tuple[str, dict[str, str]]:
    """Record an agreement on `offer` and a transfer; return the agreement id and token headers."""
    agreement = {**offer, "@id": f"urn:agreement:{suffix}", "@type": "Agreement",
                 "target": dataset, "assigner": settings.participant_id,
                 "assignee": consumer, "timestamp": "2026-01-01T00:00:00Z"}
    rows, stamp = DataspaceStore(store), now_text()
    rows.insert_negotiation({
        "pid": f"urn:n:{suffix}", "role": "provider", "provider_pid": f"urn:n:{suffix}",
        "consumer_pid": "urn:c", "counterparty": consumer,
        "counterparty_address": "http://127.0.0.1:9/dsp", "dataset_id": dataset,
        "tenant": tenant, "offer": json.dumps(offer), "agreement": json.dumps(agreement),
        "agreement_id": agreement["@id"], "agreement_status": "active", "uses": 0,
        "state": "FINALIZED", "created_at": stamp, "modified_at": stamp})
    secret = secrets.token_urlsafe(16)
    rows.insert_transfer({
        "pid": f"urn:t:{suffix}", "role": "provider", "provider_pid": f"urn:t:{suffix}",
        "consumer_pid": "urn:ct", "counterparty": consumer,
        "counterparty_address": "http://127.0.0.1:9/dsp", "agreement_id": agreement["@id"],
        "dataset_id": dataset, "tenant": tenant, "format": "HttpData-PULL", "state": state,
        "data_address": None, "suspended_by": None, "token_id": suffix,
        "token_hash": secret_digest(secret), "created_at": stamp, "modified_at": stamp})
    return agreement["@id"], {"Authorization": f"Bearer ctt_{suffix}.{secret}"}
