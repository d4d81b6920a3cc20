"""NGSI-LD entity endpoints under /ngsi-ld/v1 (HTTP only: parse, call the broker, serialise)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild import federation
from civictwin.ngsild.broker import BatchResult, ContextBroker
from civictwin.ngsild.entities import UpdateResult
from civictwin.ngsild.http import GEO_JSON, Call, accepted, broker, read_call, respond
from civictwin.ngsild.params import (
    entity_query,
    options,
    query_body_params,
    render_options,
)
from civictwin.ngsild.render import render_entity, render_feature, render_geojson
from civictwin.openapi import (
    ENTITIES,
    ENTITY,
    ENTITY_QUERY,
    ENTITY_READ,
    FRAGMENT,
    IDS,
    OBJECT,
    QUERY,
    described,
)

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD entities"])
CallDep = Annotated[Call, Depends(read_call)]
BrokerDep = Annotated[ContextBroker, Depends(broker)]


def _no_content(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)


def _update_answer(call: Call, media: str, result: UpdateResult) -> Response:
    if not result.not_updated:
        return _no_content()
    return respond(call, media, result.to_json(call.context), status=207)


def _batch_answer(call: Call, result: BatchResult, created_status: bool) -> Response:
    if result.errors:
        return respond(call, "application/json", result.to_json(), status=207)
    if created_status and result.created:
        return respond(call, "application/json", result.created, status=201)
    return _no_content()


@router.post("/entities", status_code=201, openapi_extra=described(body=ENTITY))
def create_entity(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """Create an entity (5.6.1)."""
    entity = ngsi.create_entity(call.tenant, call.body, call.context)
    return _no_content(201, {"Location": f"/ngsi-ld/v1/entities/{entity.id}"})


@router.get("/entities", openapi_extra=described(*ENTITY_QUERY))
def query_entities(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """Query entities (5.7.2)."""
    media = accepted(request)
    params = dict(request.query_params)
    return _query_answer(request, call, ngsi, params, media)


@router.post("/entityOperations/query", openapi_extra=described(
    "limit", "offset", "count", "options", "format", "pick", "omit", "lang", body=QUERY))
def query_by_post(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """Query entities with a Query body (5.7.2 via POST, 6.23)."""
    media = accepted(request)
    params = query_body_params(call.body)
    for key in ("limit", "offset", "count", "options", "format", "pick", "omit", "lang"):
        if key in request.query_params:
            params[key] = request.query_params[key]
    return _query_answer(request, call, ngsi, params, media)


def _query_answer(request: Request, call: Call, ngsi: ContextBroker, params: dict[str, Any],
                  media: str) -> Response:
    ctx = call.context
    query = entity_query(params, ctx, ngsi.settings.default_limit)
    result, warnings = federation.query(ngsi, federation.hop(request, call), params, query)
    opts = render_options({k: v for k, v in params.items() if isinstance(v, str)}, ctx)
    headers = {"NGSILD-Results-Count": str(result.count)} if result.count is not None else {}
    headers.update(warnings)
    if media == GEO_JSON:
        geoproperty = ctx.expand(params.get("geometryProperty") or "location")
        body: Any = render_geojson(result.entities, ctx, opts, geoproperty)
    else:
        body = [render_entity(e, ctx, opts) for e in result.entities]
    return respond(call, media, body, headers=headers)


@router.get("/entities/{entity_id}", openapi_extra=described(*ENTITY_READ))
def retrieve_entity(entity_id: str, request: Request, call: CallDep,
                    ngsi: BrokerDep) -> Response:
    """Retrieve an entity (5.7.1)."""
    media = accepted(request)
    params = dict(request.query_params)
    entity, warnings = federation.retrieve(ngsi, federation.hop(request, call), entity_id,
                                           params)
    if params.get("type") and call.context.expand(params["type"]) not in entity.types:
        raise ResourceNotFound(f"entity {entity_id} does not exist with the given type")
    opts = render_options(params, call.context)
    if media == GEO_JSON:
        geoproperty = call.context.expand(params.get("geometryProperty") or "location")
        body = render_feature(entity, call.context, opts, geoproperty)
    else:
        body = render_entity(entity, call.context, opts)
    return respond(call, media, body, headers=warnings)


@router.delete("/entities/{entity_id}", status_code=204)
def delete_entity(entity_id: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Delete an entity (5.6.6)."""
    ngsi.delete_entity(call.tenant, entity_id)
    return _no_content()


@router.post("/entities/{entity_id}/attrs", openapi_extra=described("options", body=FRAGMENT))
def append_attributes(entity_id: str, request: Request, call: CallDep,
                      ngsi: BrokerDep) -> Response:
    """Append attributes (5.6.3); options=noOverwrite keeps existing ones."""
    overwrite = "noOverwrite" not in options(request.query_params)
    result = ngsi.append_attributes(call.tenant, entity_id, call.body, call.context, overwrite)
    return _update_answer(call, "application/json", result)


@router.patch("/entities/{entity_id}/attrs", openapi_extra=described(body=FRAGMENT))
def update_attributes(entity_id: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Update existing attributes (5.6.2)."""
    result = ngsi.update_attributes(call.tenant, entity_id, call.body, call.context)
    return _update_answer(call, "application/json", result)


@router.patch("/entities/{entity_id}/attrs/{attr}", status_code=204,
            openapi_extra=described(body=OBJECT))
def partial_update(entity_id: str, attr: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Partially update one attribute (5.6.4)."""
    ngsi.partial_update(call.tenant, entity_id, attr, call.body, call.context)
    return _no_content()


@router.put("/entities/{entity_id}/attrs/{attr}", status_code=204,
            openapi_extra=described(body=OBJECT))
def replace_attribute(entity_id: str, attr: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Replace one attribute (5.6.19)."""
    ngsi.replace_attribute(call.tenant, entity_id, attr, call.body, call.context)
    return _no_content()


@router.delete("/entities/{entity_id}/attrs/{attr}", status_code=204,
            openapi_extra=described("datasetId", "deleteAll"))
def delete_attribute(entity_id: str, attr: str, request: Request, call: CallDep,
                     ngsi: BrokerDep) -> Response:
    """Delete an attribute, one datasetId instance of it, or all instances (5.6.5)."""
    params = request.query_params
    delete_all = params.get("deleteAll", "false").lower() == "true"
    ngsi.delete_attribute(call.tenant, entity_id, attr, call.context,
                          params.get("datasetId"), delete_all)
    return _no_content()


@router.put("/entities/{entity_id}", status_code=204, openapi_extra=described(body=ENTITY))
def replace_entity(entity_id: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Replace an entity (5.6.18)."""
    ngsi.replace_entity(call.tenant, entity_id, call.body, call.context)
    return _no_content()


@router.patch("/entities/{entity_id}", status_code=204, openapi_extra=described(body=FRAGMENT))
def merge_entity(entity_id: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Merge-patch an entity (5.6.17)."""
    ngsi.merge_entity(call.tenant, entity_id, call.body, call.context)
    return _no_content()


@router.post("/entityOperations/create", openapi_extra=described(body=ENTITIES))
def batch_create(call: CallDep, ngsi: BrokerDep) -> Response:
    """Create a batch of entities (5.6.7)."""
    result = ngsi.batch_create(call.tenant, call.body, call.context)
    if result.errors:
        return respond(call, "application/json", result.to_json(), status=207)
    return respond(call, "application/json", result.success, status=201)


@router.post("/entityOperations/upsert", openapi_extra=described("options", body=ENTITIES))
def batch_upsert(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """Create or replace (options=update: update) a batch of entities (5.6.8)."""
    flags = options(request.query_params)
    if {"replace", "update"} <= flags:
        raise BadRequestData("options: replace and update exclude each other")
    result = ngsi.batch_upsert(call.tenant, call.body, call.context, "update" not in flags)
    return _batch_answer(call, result, created_status=True)


@router.post("/entityOperations/update", openapi_extra=described("options", body=ENTITIES))
def batch_update(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """Update a batch of existing entities (5.6.9)."""
    overwrite = "noOverwrite" not in options(request.query_params)
    result = ngsi.batch_update(call.tenant, call.body, call.context, overwrite)
    return _batch_answer(call, result, created_status=False)


@router.post("/entityOperations/merge", openapi_extra=described(body=ENTITIES))
def batch_merge(call: CallDep, ngsi: BrokerDep) -> Response:
    """Merge-patch a batch of existing entities (5.6.20)."""
    return _batch_answer(call, ngsi.batch_merge(call.tenant, call.body, call.context), False)


@router.post("/entityOperations/delete", openapi_extra=described(body=IDS))
def batch_delete(call: CallDep, ngsi: BrokerDep) -> Response:
    """Delete a batch of entities by id (5.6.10)."""
    return _batch_answer(call, ngsi.batch_delete(call.tenant, call.body), False)
