"""Offer a tenant's meter data in the catalogue for disclosure-controlled aggregates only."""

from __future__ import annotations

from civictwin.catalog.catalogue import Catalogue
from civictwin.catalog.model import Dataset
from civictwin.config import Settings
from civictwin.privacy.rules import DisclosureRules, policy_constraints
from civictwin.privacy.sources import BUILDING, METER
from civictwin.store import Store


def meter_dataset_id(tenant: str) -> str:
    """Return the id of a tenant's meter-data dataset."""
    return f"urn:civictwin:dataset:{tenant or 'default'}:meter-aggregates"


def offer_meter_data(store: Store, settings: Settings, tenant: str, publisher: str,
                     rules: DisclosureRules) -> Dataset:
    """Put the meter dataset with an aggregates-only ODRL offer carrying `rules`."""
    dataset_id = meter_dataset_id(tenant)
    offer = {"@id": f"{dataset_id}:offer", "@type": "Offer",
             "permission": [{"action": "use", "constraint": policy_constraints(rules)}]}
    dataset = Dataset(
        id=dataset_id, title="Smart meter readings (aggregates only)",
        description="Household and business meter readings with their buildings, shared "
                    f"only as disclosure-controlled aggregates: {rules.describe()}.",
        publisher=publisher, keywords=["energy", "meters", "privacy"], offers=[offer],
        ngsi_tenant=tenant, ngsi_types=[METER, BUILDING], temporal=True)
    return Catalogue(store, settings).put_dataset(tenant, dataset)


def record_agreement(store: Store, settings: Settings, tenant: str, dataset: Dataset,
                     consumer: str, counterparty_address: str = "") -> str:
    """Record an agreement on the dataset's offer concluded outside the Dataspace Protocol.

    A business-to-government data-sharing contract is often signed on paper first; this
    writes it as a FINALIZED agreement of this twin (as provider) so that releases under it
    apply its rules and count against its budget. Between two twins the agreement is
    negotiated with `civictwin dsp negotiate` instead. The step is audited.
    """
    import json
    import uuid

    from civictwin.dataspace.states import PROVIDER, record
    from civictwin.store.dataspace import DataspaceStore, now_text

    offer = dataset.offers[0]
    pid = f"urn:uuid:{uuid.uuid4()}"
    agreement_id = f"urn:uuid:{uuid.uuid4()}"
    stamp = now_text()
    agreement = {**offer, "@id": agreement_id, "@type": "Agreement", "target": dataset.id,
                 "assigner": settings.participant_id, "assignee": consumer,
                 "timestamp": stamp[:19] + "Z"}
    rows = DataspaceStore(store)
    with rows.transaction() as conn:
        rows.insert_negotiation({
            "pid": pid, "role": PROVIDER, "provider_pid": pid, "consumer_pid": pid,
            "counterparty": consumer, "counterparty_address": counterparty_address,
            "dataset_id": dataset.id, "tenant": tenant, "offer": json.dumps(offer),
            "agreement": json.dumps(agreement), "agreement_id": agreement_id,
            "agreement_status": "active", "uses": 0, "state": "FINALIZED",
            "created_at": stamp, "modified_at": stamp}, conn)
        record(conn, store, tenant, settings.participant_id, "agreement.recorded",
               agreement_id, {"dataset": dataset.id, "consumer": consumer,
                              "note": "concluded outside the Dataspace Protocol"})
    return agreement_id
