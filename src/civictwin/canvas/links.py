"""The links of a canvas into the twin, and the check that each names something that exists.

A canvas links to datasets of the catalogue, to the offers (ODRL policies) those datasets
carry, to agreements this twin reached, to indicators of the indicator register and to
registered participants. `check` answers one line per broken link, naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civictwin.canvas.document import Canvas
from civictwin.catalog import Catalogue, Dataset
from civictwin.config import Settings
from civictwin.dataspace.negotiation import Negotiations
from civictwin.dataspace.participants import Participants
from civictwin.errors import ResourceNotFound
from civictwin.store import Store


@dataclass(frozen=True)
class Link:
    """One item of the twin a canvas names, and the field that names it."""

    kind: str  # dataset, policy, agreement, indicator or participant
    target: str
    where: str
    tenant: str = ""
    dataset: str | None = None  # for a policy or agreement: the dataset it belongs to


@dataclass(frozen=True)
class Resolved:
    """A link checked against the twin: what it names there, or why it is broken."""

    link: Link
    label: str | None
    problem: str | None


def links(canvas: Canvas) -> list[Link]:
    """Return every link of a canvas, in document order."""
    doc, found = canvas.doc, []
    for i, partner in enumerate(doc["partners"]):
        if "participant" in partner:
            found.append(Link("participant", partner["participant"], f"partners[{i}].participant"))
    for i, item in enumerate(doc["data_exchanged"]):
        tenant = item.get("tenant", canvas.tenant)
        where = f"data_exchanged[{i}]"
        found.append(Link("dataset", item["dataset"], f"{where}.dataset", tenant))
        for kind in ("policy", "agreement"):
            if kind in item:
                found.append(Link(kind, item[kind], f"{where}.{kind}", tenant, item["dataset"]))
    for i, item in enumerate(doc.get("indicators", [])):
        found.append(Link("indicator", item["indicator"], f"indicators[{i}].indicator"))
    return found


def resolve(store: Store, settings: Settings, canvas: Canvas) -> list[Resolved]:
    """Look every link of a canvas up in the twin."""
    catalogue = Catalogue(store, settings)
    datasets: dict[tuple[str, str], Dataset | None] = {}

    def dataset(tenant: str, dataset_id: str) -> Dataset | None:
        if (tenant, dataset_id) not in datasets:
            try:
                datasets[tenant, dataset_id] = catalogue.get_dataset(tenant, dataset_id)
            except ResourceNotFound:
                datasets[tenant, dataset_id] = None
        return datasets[tenant, dataset_id]

    return [_resolve(store, settings, link, dataset) for link in links(canvas)]


def check(store: Store, settings: Settings, canvas: Canvas) -> list[str]:
    """Return one line per broken link of a canvas (none: every link exists in the twin)."""
    return [f"{canvas.path}: {r.link.where}: {r.problem}"
            for r in resolve(store, settings, canvas) if r.problem is not None]


def _resolve(store: Store, settings: Settings, link: Link, dataset: Any) -> Resolved:
    tenant = f"tenant {link.tenant!r}" if link.tenant else "the default tenant"
    if link.kind == "participant":
        if link.target == settings.participant_id:
            return Resolved(link, "this twin", None)
        found = Participants(store).find(link.target)
        return Resolved(link, found.name, None) if found is not None else \
            Resolved(link, None, f"no participant {link.target} is registered")
    if link.kind == "indicator":
        from civictwin.analytics.indicators import REGISTER

        known = REGISTER.get(link.target)
        return Resolved(link, known.name, None) if known is not None else Resolved(
            link, None, f"no indicator {link.target} in the register (known: "
            f"{', '.join(sorted(REGISTER))})")
    if link.kind == "dataset":
        held = dataset(link.tenant, link.target)
        return Resolved(link, held.title, None) if held is not None else Resolved(
            link, None, f"no dataset {link.target} in the catalogue of {tenant}")
    held = dataset(link.tenant, link.dataset or "")
    if link.kind == "policy":
        if held is None:
            return Resolved(link, None, f"policy {link.target}: its dataset {link.dataset} is "
                            f"not in the catalogue of {tenant}")
        offer = next((o for o in held.offers if o.get("@id") == link.target), None)
        return Resolved(link, str(offer.get("@id")), None) if offer is not None else Resolved(
            link, None, f"dataset {link.dataset} carries no offer {link.target} (it has: "
            f"{', '.join(str(o.get('@id')) for o in held.offers) or 'none'})")
    return _agreement(store, settings, link)


def _agreement(store: Store, settings: Settings, link: Link) -> Resolved:
    try:
        found = Negotiations(store, settings).agreement(link.target)
    except ResourceNotFound:
        return Resolved(link, None, f"no agreement {link.target} in this twin")
    if found.dataset_id != link.dataset:
        return Resolved(link, None, f"agreement {link.target} is for dataset "
                        f"{found.dataset_id}, not {link.dataset}")
    status = found.agreement_status or found.state
    return Resolved(link, f"{found.state}, {status}, with {found.counterparty}", None)
