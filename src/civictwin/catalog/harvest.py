"""Harvest DCAT from another catalogue over HTTP, page by page, idempotently.

Datasets keep their IRI and the source URL; a re-harvest updates what changed, leaves the
rest, and drops what the source no longer lists (only after a complete run). A record that
cannot be read or fails the checks is reported, never fatal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from rdflib import Graph

from civictwin.catalog.catalogue import Catalogue
from civictwin.catalog.model import ORIGIN_HARVESTED, Dataset
from civictwin.catalog.rdf import HYDRA
from civictwin.catalog.reader import parse_rdf, read_datasets
from civictwin.catalog.validate import is_iri
from civictwin.errors import BadRequestData, CivicTwinError, SourceUnavailable
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.store.outbox import stamp

ACCEPT = "text/turtle, application/ld+json;q=0.9, application/rdf+xml;q=0.8"
MAX_PAGES = 1000
MAX_REDIRECTS = 5


def harvest(catalogue: Catalogue, tenant: str, url: str, timeout: float = 30.0,
            client: httpx.Client | None = None,
            policy: OutboundPolicy | None = None) -> dict[str, Any]:
    """Harvest the DCAT catalogue at `url` into the tenant's catalogue; return the report.

    With a `policy` (a harvest a client asked for over HTTP) every page and every redirect
    is checked against it and fetched from the address that was checked.
    """
    if not is_iri(url, web=True):
        raise BadRequestData(f"{url!r} is not an http(s) URL")
    if policy is not None:
        policy.addresses(url, "harvest source")  # refused now, before anything is recorded
    started = stamp(datetime.now(UTC))
    report: dict[str, Any] = {"source": url, "pages": 0, "found": 0, "rejected": [],
                              "notes": [], "complete": True, "error": None}
    found: dict[str, Dataset] = {}
    with client or httpx.Client(timeout=timeout, follow_redirects=policy is None) as http:
        page: str | None = url
        seen: set[str] = set()
        while page is not None and page not in seen and len(seen) < MAX_PAGES:
            seen.add(page)
            try:
                graph = _fetch(http, page, policy)
            except CivicTwinError as exc:
                if not report["pages"]:
                    raise
                report["complete"], report["error"] = False, f"{page}: {exc.detail}"
                break
            report["pages"] += 1
            reading = read_datasets(graph, ORIGIN_HARVESTED, url)
            report["rejected"] += reading.rejected
            report["notes"] += reading.notes
            for dataset in reading.datasets:
                found[dataset.id] = dataset
            page = _next_page(graph)
    report["found"] = len(found)
    outcome = catalogue.replace_harvested(tenant, url, list(found.values()),
                                          remove_missing=report["complete"])
    report.update(outcome)
    report["conflicts"] = [{"id": i, "problem": "a dataset with this id exists already and "
                            "was not harvested from this source"} for i in outcome["conflicts"]]
    report["run"] = catalogue.rows.record_harvest(tenant, url, started,
                                                  stamp(datetime.now(UTC)), report)
    return report


def _fetch(http: httpx.Client, url: str, policy: OutboundPolicy | None) -> Graph:
    try:
        response = _get(http, url, policy)
    except httpx.HTTPError as exc:
        raise SourceUnavailable(f"could not read {url}: {exc}") from exc
    if response.status_code != 200:
        raise SourceUnavailable(f"{url} answered HTTP {response.status_code}")
    media = response.headers.get("content-type", "text/turtle")
    try:
        return parse_rdf(response.content, media, base=url)
    except BadRequestData as exc:
        raise SourceUnavailable(f"{url}: {exc.detail}") from exc


def _get(http: httpx.Client, url: str, policy: OutboundPolicy | None) -> httpx.Response:
    """GET `url`; with a policy, check it and each redirect and connect to the checked address."""
    if policy is None:
        return http.get(url, headers={"Accept": ACCEPT})
    for _ in range(MAX_REDIRECTS + 1):
        if not is_iri(url, web=True):
            raise SourceUnavailable(f"{url!r} is not an http(s) URL")
        pinned = policy.pin(url, "harvest source")
        response = http.get(pinned.url, headers={"Accept": ACCEPT, **pinned.headers},
                            extensions=pinned.extensions)
        location = response.headers.get("location")
        if not response.is_redirect or location is None:
            return response
        url = str(httpx.URL(url).join(location))
    raise SourceUnavailable(f"more than {MAX_REDIRECTS} redirects")


def _next_page(graph: Graph) -> str | None:
    for link in graph.objects(None, HYDRA.next):
        return str(link)
    return None

