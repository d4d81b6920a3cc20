"""The offer a city makes to its network: its meter history, for aggregates only.

The offer carries the city's disclosure rules as data (ODRL constraints): aggregated use only,
in groups of at least `min_contributors` contributors. It is put on the twin's own dataset of
SmartMeteringObservation history, so peers find it in the Dataspace Protocol catalogue.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from civictwin.catalog import Catalogue, Dataset
from civictwin.catalog.twin import tenant_key
from civictwin.config import Settings
from civictwin.errors import ResourceNotFound
from civictwin.store import Store

OFFER_ID = "urn:civictwin:offer:energy-aggregates"


def energy_dataset_id(tenant: str) -> str:
    """Return the id of the twin's own dataset of meter history in `tenant`."""
    return f"urn:civictwin:dataset:{tenant_key(tenant)}:SmartMeteringObservation:history"


def energy_offer(min_contributors: int = 10) -> dict[str, Any]:
    """Return the network offer: use for aggregates of at least `min_contributors`."""
    return {"@id": OFFER_ID, "@type": "Offer", "permission": [{
        "action": "use", "constraint": [
            {"leftOperand": "civictwin:aggregation", "operator": "eq",
             "rightOperand": "aggregate"},
            {"leftOperand": "civictwin:aggregation", "operator": "gteq",
             "rightOperand": str(min_contributors)}]}]}


def offer_energy(store: Store, settings: Settings, tenant: str = "",
                 min_contributors: int = 10) -> Dataset:
    """Put the network offer on the twin's meter-history dataset; return the dataset."""
    catalogue = Catalogue(store, settings)
    dataset_id = energy_dataset_id(tenant)
    try:
        dataset = catalogue.get_dataset(tenant, dataset_id)
    except ResourceNotFound:
        catalogue.refresh(tenant)
        try:
            dataset = catalogue.get_dataset(tenant, dataset_id)
        except ResourceNotFound:
            raise ResourceNotFound(f"the twin holds no meter history in tenant {tenant!r} "
                                   f"yet ({dataset_id}); load readings first") from None
    offers = [o for o in dataset.offers if o.get("@id") != OFFER_ID]
    return catalogue.put_dataset(tenant, replace(dataset, offers=[
        *offers, energy_offer(min_contributors)]))
