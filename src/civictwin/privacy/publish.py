"""Publish a release: an NGSI-LD entity holding its cells and a DCAT dataset describing it.

Only what the release gave out is published (suppressed cells have no value), so anyone may
read it; the method (rules, merge path, noise) is recorded on both, and the DCAT dataset
conforms to the register entry of the algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass

from civictwin.catalog.catalogue import Catalogue
from civictwin.catalog.model import Dataset as CatalogDataset
from civictwin.catalog.model import Distribution
from civictwin.config import Settings
from civictwin.errors import BadRequestData
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.privacy.model import Release
from civictwin.store import Store
from civictwin.twin import open_twin

RELEASE_TYPE = "https://civictwin.org/ns/AggregateRelease"


@dataclass(frozen=True)
class Published:
    """Where a release was published."""

    entity: str
    dataset: str


def publish(store: Store, settings: Settings, tenant: str, release: Release) -> Published:
    """Write the release as an NGSI-LD entity and a DCAT dataset of `tenant`."""
    twin = open_twin(settings, store)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    request = release.request
    body = {
        "id": release.id, "type": RELEASE_TYPE,
        "quantity": {"type": "Property", "value": request.get("quantity")},
        "groupBy": {"type": "Property", "value": request.get("groupBy")},
        "period": {"type": "Property", "value": request.get("period") or "whole range"},
        "timeRange": {"type": "Property", "value": {"start": request.get("start"),
                                                    "end": request.get("end")}},
        "consumer": {"type": "Property", "value": release.consumer},
        "method": {"type": "Property", "value": release.method},
        "cells": {"type": "Property", "value": [c.to_json() for c in release.cells]},
        "epsilonSpent": {"type": "Property", "value": release.epsilon_spent},
        "dateCreated": {"type": "Property", "value": release.created_at}}
    if release.agreement:
        body["agreement"] = {"type": "Property", "value": release.agreement}
    result = twin.broker.batch_upsert(tenant, [body], ctx)
    if result.errors:
        raise BadRequestData(f"release {release.id}: {result.errors[0][1].detail}")
    counts = {s: sum(1 for c in release.cells if c.status == s)
              for s in ("released", "merged", "suppressed")}
    dataset_id = f"{release.id}:dataset"
    base = settings.base_url()
    Catalogue(store, settings).put_dataset(tenant, CatalogDataset(
        id=dataset_id,
        title=f"{str(request.get('quantity', '')).capitalize()} use by "
              f"{', '.join(request.get('groupBy') or ['city'])}, disclosure-controlled",
        description=(f"Aggregates of metered {request.get('quantity')} from "
                     f"{request.get('start')} to {request.get('end')} per "
                     f"{request.get('period') or 'whole range'}, released to "
                     f"{release.consumer}. Method: {release.method.get('description')}. "
                     f"{counts['released']} cells released, {counts['merged']} merged, "
                     f"{counts['suppressed']} suppressed."),
        publisher=settings.participant_id, keywords=["energy", "privacy", "aggregates"],
        temporal_start=str(request.get("start")), temporal_end=str(request.get("end")),
        conforms_to=[f"{base}/algorithms/{release.method.get('algorithm')}"],
        distributions=[Distribution(access_url=f"{base}/privacy/releases/{release.id}",
                                    media_type="application/json",
                                    title="The release with its cells and method")],
        ngsi_tenant=tenant, ngsi_types=[RELEASE_TYPE]))
    return Published(release.id, dataset_id)
