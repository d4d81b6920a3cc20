"""A finalized agreement and started transfer over a tenant's meter data, written directly
into the provider's tables (negotiation itself is tested in tests/dataspace)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from civictwin.catalog.catalogue import Catalogue
from civictwin.catalog.model import Dataset
from civictwin.config import Settings
from civictwin.dataspace.participants import Participants
from civictwin.store import Store
from tests.dataspace.grants import record_grant

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
    agreement, headers = record_grant(store, settings, tenant, consumer.id, dataset, offer,
                                      suffix)
    return Grant(consumer.id, agreement, headers)


def c(left: str, operator: str, right: Any) -> dict[str, Any]:
    """Return one ODRL constraint."""
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


AGGREGATES_MIN_10 = [c("civictwin:aggregation", "gteq", 10)]
"""The policy "aggregates only, at least 10 contributors"."""
