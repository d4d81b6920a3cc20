"""The catalogue as the Dataspace Protocol shows it: DCAT datasets carrying their ODRL offers.

The twin's data space catalogue spans the default tenant and the tenant of every provider
participant; a dataset without an offer is not negotiable and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civictwin.catalog import Catalogue, Dataset
from civictwin.config import Settings
from civictwin.dataspace.dsp_messages import DSPACE_CONTEXT, HTTP_PULL
from civictwin.dataspace.participants import Participants
from civictwin.errors import ResourceNotFound
from civictwin.store import Store

PAGE = 500


@dataclass(frozen=True)
class Offered:
    """A dataset of the catalogue and the tenant it is kept in."""

    tenant: str
    dataset: Dataset

    def offer(self, offer_id: str) -> dict[str, Any] | None:
        """Return the dataset's offer with @id `offer_id`, or None."""
        return next((o for o in self.dataset.offers if o.get("@id") == offer_id), None)


def catalog_tenants(store: Store) -> list[str]:
    """Return the tenants whose datasets the data space catalogue shows."""
    tenants = {p.tenant for p in Participants(store).all()
               if "provider" in p.roles and p.active}
    return sorted(tenants | {""})


def offered_datasets(store: Store, settings: Settings) -> list[Offered]:
    """Return every dataset with at least one offer, tenant by tenant."""
    catalogue = Catalogue(store, settings)
    found: list[Offered] = []
    for tenant in catalog_tenants(store):
        offset = 0
        while True:
            page = catalogue.list_datasets(tenant, PAGE, offset)
            found.extend(Offered(tenant, d) for d in page if d.offers)
            if len(page) < PAGE:
                break
            offset += PAGE
    return found


def find_dataset(store: Store, settings: Settings, dataset_id: str) -> Offered:
    """Return the offered dataset with id `dataset_id`; ResourceNotFound if none."""
    catalogue = Catalogue(store, settings)
    for tenant in catalog_tenants(store):
        try:
            dataset = catalogue.get_dataset(tenant, dataset_id)
        except ResourceNotFound:
            continue
        if dataset.offers:
            return Offered(tenant, dataset)
    raise ResourceNotFound(f"no dataset {dataset_id} is offered in the data space")


def dataset_in(store: Store, settings: Settings, tenant: str, dataset_id: str) -> Offered:
    """Return a dataset of one tenant's catalogue; ResourceNotFound if it is not there."""
    return Offered(tenant, Catalogue(store, settings).get_dataset(tenant, dataset_id))


def dsp_catalog(settings: Settings, datasets: list[Offered]) -> dict[str, Any]:
    """Return the DCAT Catalog message of the given datasets."""
    service = _service(settings)
    body: dict[str, Any] = {"@context": [DSPACE_CONTEXT],
                            "@id": f"{settings.base_url()}/dsp/catalog",
                            "@type": "Catalog", "participantId": settings.participant_id,
                            "service": [service]}
    if datasets:
        body["dataset"] = [_dataset(o.dataset, service["@id"]) for o in datasets]
    return body


def dsp_dataset(settings: Settings, offered: Offered) -> dict[str, Any]:
    """Return one Dataset message."""
    return {"@context": [DSPACE_CONTEXT], **_dataset(offered.dataset, _service(settings)["@id"])}


def _service(settings: Settings) -> dict[str, Any]:
    return {"@id": f"{settings.base_url()}/dsp", "@type": "DataService",
            "endpointURL": f"{settings.base_url()}/dsp"}


def _dataset(dataset: Dataset, service_id: str) -> dict[str, Any]:
    # In a catalogue an offer names no target: the dataset holding it is the target.
    policies = [{k: v for k, v in o.items() if k not in ("target", "@context")}
                for o in dataset.offers]
    body: dict[str, Any] = {"@id": dataset.id, "@type": "Dataset", "title": dataset.title,
                            "description": dataset.description, "hasPolicy": policies,
                            "distribution": [{"@type": "Distribution", "format": HTTP_PULL,
                                              "accessService": service_id}]}
    if dataset.keywords:
        body["keyword"] = list(dataset.keywords)
    if dataset.themes:
        body["theme"] = list(dataset.themes)
    return body
