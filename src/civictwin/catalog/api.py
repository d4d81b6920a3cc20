"""The catalogue over HTTP: `/catalog` as DCAT-AP RDF, datasets, refresh and harvest."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from rdflib.namespace import DCAT, RDF
from rdflib.term import URIRef
from starlette.concurrency import run_in_threadpool

from civictwin.catalog import rdf
from civictwin.catalog.ckan_api import router as ckan_router
from civictwin.catalog.harvest import harvest
from civictwin.catalog.http import catalogue_of, choose_format, rdf_response
from civictwin.catalog.reader import RDF_FORMATS, dataset_document, parse_rdf
from civictwin.catalog.twin import licence_iri, tenant_key
from civictwin.config import Settings
from civictwin.errors import (
    BadRequestData,
    InvalidRequest,
    UnsupportedMediaType,
)
from civictwin.ngsild.http import tenant_of
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.openapi import HARVEST, MAX_OFFSET, OBJECT, described

router = APIRouter(tags=["catalogue"])
router.include_router(ckan_router)  # the CKAN action API is part of the catalogue
PAGE_SIZE = 100


@router.get("/catalog", summary="The DCAT-AP 3.0.1 catalogue (JSON-LD, Turtle, RDF/XML)")
def get_catalogue(request: Request, page: Annotated[int, Query(ge=1, le=MAX_OFFSET)] = 1,
                  limit: Annotated[int | None, Query(ge=1, le=MAX_OFFSET)] = None,
                  format: str | None = None) -> Response:
    """Return one page of the catalogue as RDF, with Hydra paging links."""
    tenant = tenant_of(request)
    fmt = choose_format(request, format)
    if fmt == "json":
        fmt = "jsonld"
    settings: Settings = request.app.state.settings
    size = min(limit or PAGE_SIZE, settings.max_limit)
    catalogue = catalogue_of(request)
    datasets, total = catalogue.page(tenant, size, (page - 1) * size)
    last = max(1, -(-total // size))
    link = _page_link(request, size, format)
    described = catalogue_page(settings, tenant, datasets, catalogue.services(tenant), total,
                               page, last, link)
    return rdf_response(rdf.catalogue_graph(described), fmt)


def catalogue_page(settings: Settings, tenant: str, datasets: list[Any], services: list[Any],
                   total: int, page: int, last: int, link: Any) -> rdf.CataloguePage:
    """Return what page `page` of `last` of the tenant's catalogue shows."""
    modified = max((d.modified for d in datasets if d.modified), default=None)
    return rdf.CataloguePage(
        id=f"{settings.base_url()}/catalog" + (f"#{tenant_key(tenant)}" if tenant else ""),
        title=settings.catalog_title + (f" ({tenant})" if tenant else ""),
        description="Datasets of the civictwin local digital twin: what the twin holds "
                    "(one dataset per entity type and per history), what participants "
                    "publish, and what is harvested from other catalogues.",
        publisher=settings.catalog_publisher, publisher_name=settings.catalog_publisher_name,
        licence=licence_iri(settings.catalog_licence), datasets=datasets, services=services,
        total=total, page_url=link(page),
        first_url=link(1), last_url=link(last),
        next_url=link(page + 1) if page < last else None,
        previous_url=link(page - 1) if page > 1 else None, modified=modified)


def _page_link(request: Request, size: int, format: str | None) -> Any:
    base = str(request.url.replace(query=""))

    def link(n: int) -> str:
        extra = f"&format={quote(format)}" if format else ""
        return f"{base}?page={n}&limit={size}{extra}"
    return link


@router.get("/catalog/datasets", summary="The catalogue's datasets as plain JSON")
def list_datasets(request: Request, limit: Annotated[int, Query(ge=1, le=MAX_OFFSET)] = PAGE_SIZE,
                  offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> JSONResponse:
    """Return a page of datasets in the catalogue's JSON form, with the total."""
    settings: Settings = request.app.state.settings
    datasets, total = catalogue_of(request).page(tenant_of(request),
                                                 min(limit, settings.max_limit), offset)
    return JSONResponse({"total": total, "offset": offset,
                         "datasets": [d.to_json() for d in datasets]})


@router.post("/catalog/datasets", status_code=201, summary="Publish a dataset",
             openapi_extra=described(body=OBJECT))
async def post_dataset(request: Request) -> JSONResponse:
    """Add or replace a participant's dataset (JSON, or DCAT as Turtle/JSON-LD/RDF-XML)."""
    tenant = tenant_of(request)
    body = await request.body()
    settings: Settings = request.app.state.settings
    if len(body) > settings.max_body_bytes:
        raise BadRequestData(f"the body is larger than {settings.max_body_bytes} bytes")
    doc = await run_in_threadpool(read_document, body, request.headers.get("content-type", ""))
    stored = await run_in_threadpool(catalogue_of(request).publish, tenant, doc)
    location = f"/catalog/datasets/{quote(stored.id, safe='')}"
    return JSONResponse(stored.to_json(), status_code=201, headers={"Location": location})


def read_document(body: bytes, content_type: str) -> Any:
    """Return the dataset document a body holds: JSON as is, DCAT RDF read into JSON."""
    media = content_type.split(";")[0].strip().lower() or "application/json"
    plain = media == "application/json" or (media == "application/ld+json"
                                             and b"@context" not in body)
    if plain:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise InvalidRequest(f"the body is not JSON: {exc}") from exc
    if media not in RDF_FORMATS:
        raise UnsupportedMediaType(f"Content-Type {media!r}: send application/json or DCAT "
                                   "as text/turtle, application/ld+json or application/rdf+xml")
    graph = parse_rdf(body, media)
    nodes = [n for n in set(graph.subjects(RDF.type, DCAT.Dataset))
             if isinstance(n, URIRef) and set(graph.predicates(n)) - {RDF.type}]
    if len(nodes) != 1:
        raise BadRequestData(f"expected one dcat:Dataset with an IRI, found {len(nodes)}")
    return dataset_document(graph, nodes[0], [])


@router.get("/catalog/datasets/{dataset_id:path}", summary="One dataset")
def get_dataset(request: Request, dataset_id: str, format: str | None = None) -> Response:
    """Return one dataset as JSON (application/json) or RDF."""
    catalogue = catalogue_of(request)
    tenant = tenant_of(request)
    dataset = catalogue.get_dataset(tenant, dataset_id)
    fmt = choose_format(request, format, plain_json="json")
    if fmt == "json":
        return JSONResponse(dataset.to_json())
    return rdf_response(rdf.dataset_graph(dataset, catalogue.services(tenant)), fmt)


@router.delete("/catalog/datasets/{dataset_id:path}", status_code=204,
               summary="Remove a published or harvested dataset")
def delete_dataset(request: Request, dataset_id: str) -> Response:
    """Remove a dataset that a participant published or that was harvested."""
    catalogue_of(request).delete_dataset(tenant_of(request), dataset_id)
    return Response(status_code=204)


@router.post("/catalog/refresh", summary="Describe the twin's data again, now")
def post_refresh(request: Request) -> JSONResponse:
    """Derive the tenant's own datasets from its entity types and history."""
    done = catalogue_of(request).refresh(tenant_of(request))
    return JSONResponse({"tenant": done.tenant, "datasets": done.datasets,
                         "historyDatasets": done.history, "refreshedAt": done.refreshed_at})


@router.post("/catalog/harvests", summary="Harvest another DCAT catalogue",
             openapi_extra=described(body=HARVEST))
async def post_harvest(request: Request) -> JSONResponse:
    """Harvest the DCAT catalogue at the body's `url`; answer with the run's report."""
    tenant = tenant_of(request)
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        raise BadRequestData('expected {"url": "http(s)://..."}')
    policy = OutboundPolicy.of(request.app.state.settings.notification_allowlist)
    report = await run_in_threadpool(harvest, catalogue_of(request), tenant, body["url"],
                                     policy=policy)
    return JSONResponse(report)


@router.get("/catalog/harvests", summary="The latest harvest runs")
def get_harvests(request: Request) -> JSONResponse:
    """Return the tenant's latest harvest runs with their reports."""
    return JSONResponse(catalogue_of(request).rows.harvests(tenant_of(request)))
