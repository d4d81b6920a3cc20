"""Describe what the twin holds: a dataset per entity type and per history family, per tenant.

Everything here is derived from the store's own summaries (`type_counts`,
`attribute_summary`, the bounding boxes and history spans of `CatalogStore`), so the
description follows the data. The operator's decisions on a derived dataset (its offers,
licence and access rights) survive a refresh.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from civictwin.catalog import vocab
from civictwin.catalog.model import (
    ORIGIN_TWIN,
    ContactPoint,
    DataService,
    Dataset,
    Distribution,
)
from civictwin.config import Settings
from civictwin.store.catalog import SeriesFamily, TypeExtent

NGSI_PATH = "/ngsi-ld/v1"
KEPT_ON_REFRESH = ("offers", "licence", "access_rights")


def tenant_key(tenant: str) -> str:
    """Return the tenant as it appears in the twin's IRIs ('default' for the default one)."""
    return tenant or "default"


def service_id(tenant: str) -> str:
    """Return the IRI of the tenant's NGSI-LD data service."""
    return f"urn:civictwin:service:{tenant_key(tenant)}:ngsi-ld"


def short_name(type_iri: str) -> str:
    """Return the local name of an expanded type IRI (`.../Building` -> `Building`)."""
    return re.split(r"[/#:]", type_iri.rstrip("/#"))[-1] or type_iri


def type_datasets(settings: Settings, tenant: str, counts: dict[str, int],
                  summary: dict[str, dict[str, Any]], extents: dict[str, TypeExtent],
                  now: str) -> list[Dataset]:
    """Return one dataset per entity type of the tenant."""
    out = []
    for type_iri, count in counts.items():
        name = short_name(type_iri)
        attrs = sorted(short_name(a) for a, s in summary.items() if type_iri in s["types"])
        extent = extents.get(type_iri)
        entities = f"{settings.base_url()}{NGSI_PATH}/entities?type={quote(type_iri, safe='')}"
        dists = [_distribution(settings, entities, "JSON_LD", "application/ld+json",
                               f"{name} entities, NGSI-LD (JSON-LD)", tenant)]
        if extent is not None and extent.bbox is not None:
            dists.append(_distribution(settings, entities, "GEOJSON", "application/geo+json",
                                       f"{name} entities, GeoJSON", tenant))
        described = ", ".join(attrs) if attrs else "no attributes yet"
        out.append(_dataset(
            settings, tenant, f"urn:civictwin:dataset:{tenant_key(tenant)}:{name}",
            title=f"{name} entities of the twin",
            description=f"The current state of the {count} {name} entities the twin holds "
                        f"(NGSI-LD type {type_iri}); attributes: {described}.",
            keywords=[name, *attrs], themes=[vocab.theme_for(name)], types=[type_iri],
            distributions=dists, now=now, modified=extent.modified if extent else None,
            bbox=extent.bbox if extent else None))
    return out


def history_datasets(settings: Settings, tenant: str, families: list[SeriesFamily],
                     now: str) -> list[Dataset]:
    """Return one dataset per entity type whose attributes have temporal history."""
    by_type: dict[str, list[SeriesFamily]] = {}
    for family in families:
        by_type.setdefault(family.type, []).append(family)
    out = []
    for type_iri, found in by_type.items():
        name = short_name(type_iri)
        attrs = [short_name(f.attr) for f in found]
        firsts = [f.first for f in found if f.first]
        lasts = [f.last for f in found if f.last]
        entities = max(f.entities for f in found)
        url = (f"{settings.base_url()}{NGSI_PATH}/temporal/entities"
               f"?type={quote(type_iri, safe='')}")
        dist = _distribution(settings, url, "JSON_LD", "application/ld+json",
                             f"History of {name} attributes, NGSI-LD temporal API", tenant)
        dataset = _dataset(
            settings, tenant, f"urn:civictwin:dataset:{tenant_key(tenant)}:{name}:history",
            title=f"History of {name} attributes",
            description=f"Every recorded change of {', '.join(attrs)} for up to {entities} "
                        f"{name} entities (NGSI-LD type {type_iri}), queryable by time "
                        f"and aggregated by period.",
            keywords=[name, "history", "time series", *attrs], themes=[vocab.theme_for(name)],
            types=[type_iri], distributions=[dist], now=now, modified=max(lasts, default=None))
        dataset.temporal = True
        dataset.temporal_start = min(firsts, default=None)
        dataset.temporal_end = max(lasts, default=None)
        dataset.frequency = vocab.FREQUENCY_BASE + "UPDATE_CONT"
        out.append(dataset)
    return out


def ngsi_service(settings: Settings, tenant: str, served: list[str]) -> DataService:
    """Return the NGSI-LD API of the twin as a data service serving the tenant's datasets."""
    base = settings.base_url()
    return DataService(
        id=service_id(tenant), title="NGSI-LD API of the twin",
        description="The twin's ETSI NGSI-LD context broker: entities, queries, geo-queries, "
                    "temporal history and subscriptions"
                    + (f" (tenant {tenant}, NGSILD-Tenant header)." if tenant else "."),
        endpoint_url=f"{base}{NGSI_PATH}/", endpoint_description=f"{base}/openapi.json",
        serves_dataset=served, conforms_to=[vocab.NGSI_LD_SPEC],
        licence=licence_iri(settings.catalog_licence),
        access_rights=vocab.ACCESS_RIGHT_BASE + settings.catalog_access_rights,
        publisher=settings.catalog_publisher, publisher_name=settings.catalog_publisher_name)


def keep_decisions(fresh: Dataset, stored: dict[str, Any] | None, now: str) -> Dataset:
    """Carry the operator's offers, licence and access rights, and the first issue date, over."""
    fresh.issued = (stored or {}).get("issued") or now
    if stored:
        for name in KEPT_ON_REFRESH:
            if stored.get(name):
                setattr(fresh, name, stored[name])
    return fresh


def _dataset(settings: Settings, tenant: str, dataset_id: str, *, title: str,
             description: str, keywords: list[str], themes: list[str], types: list[str],
             distributions: list[Distribution], now: str, modified: str | None,
             bbox: tuple[float, float, float, float] | None = None) -> Dataset:
    contact = (ContactPoint(settings.catalog_publisher_name,
                            email=settings.catalog_contact_email)
               if settings.catalog_contact_email else None)
    return Dataset(
        id=dataset_id, title=title, description=description,
        publisher=settings.catalog_publisher, publisher_name=settings.catalog_publisher_name,
        contact_point=contact, themes=[vocab.THEME_BASE + t for t in themes],
        keywords=list(dict.fromkeys(keywords)), spatial=list(bbox) if bbox else None,
        issued=None, modified=modified or now, licence=licence_iri(settings.catalog_licence),
        access_rights=vocab.ACCESS_RIGHT_BASE + settings.catalog_access_rights,
        conforms_to=[vocab.NGSI_LD_SPEC], distributions=distributions,
        ngsi_tenant=tenant, ngsi_types=types, origin=ORIGIN_TWIN)


def _distribution(settings: Settings, url: str, file_type: str, media: str, title: str,
                  tenant: str) -> Distribution:
    return Distribution(
        id=f"{url}#{file_type.lower()}", access_url=url, title=title,
        format=vocab.FILE_TYPE_BASE + file_type, media_type=media,
        licence=licence_iri(settings.catalog_licence), access_service=service_id(tenant),
        conforms_to=[vocab.NGSI_LD_SPEC])


def licence_iri(value: str) -> str:
    """Return the IRI of a licence setting (an EU licence code or an IRI)."""
    return value if ":" in value else vocab.LICENCE_BASE + value
