"""NGSI-LD temporal endpoints under /ngsi-ld/v1/temporal (HTTP only: parse, call, serialise)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from civictwin.errors import BadRequestData
from civictwin.ngsild.http import Call, accepted, read_call, respond
from civictwin.ngsild.temporal import TemporalBroker, temporal_query
from civictwin.ngsild.temporal_paging import ContentRange
from civictwin.openapi import ENTITY, ENTITY_QUERY, ENTITY_READ, FRAGMENT, TEMPORAL_QUERY, described

router = APIRouter(prefix="/ngsi-ld/v1/temporal", tags=["NGSI-LD temporal"])
CallDep = Annotated[Call, Depends(read_call)]


async def temporal(request: Request) -> TemporalBroker:
    """Return the app's TemporalBroker (async: no thread hop for a lookup)."""
    found: TemporalBroker = request.app.state.temporal
    return found


TemporalDep = Annotated[TemporalBroker, Depends(temporal)]


@router.get("/entities", openapi_extra=described(*ENTITY_QUERY, *TEMPORAL_QUERY))
def query_temporal(request: Request, call: CallDep, ngsi: TemporalDep) -> Response:
    """Query the temporal representation of entities (5.7.4)."""
    media = accepted(request, geo=False)
    params = dict(request.query_params)
    query = temporal_query(params, call.context)
    bodies, total, page = ngsi.query_page(call.tenant, params, query, call.context)
    count = params.get("count", "false").lower() == "true"
    headers = {"NGSILD-Results-Count": str(total)} if count else {}
    return _partial(respond(call, media, bodies, headers=headers), page)


@router.get("/entities/{entity_id}", openapi_extra=described(*ENTITY_READ, *TEMPORAL_QUERY))
def retrieve_temporal(entity_id: str, request: Request, call: CallDep,
                      ngsi: TemporalDep) -> Response:
    """Retrieve the temporal representation of one entity (5.7.3)."""
    media = accepted(request, geo=False)
    query = temporal_query(request.query_params, call.context)
    body, page = ngsi.retrieve_page(call.tenant, entity_id, query, call.context)
    return _partial(respond(call, media, body), page)


def _partial(response: Response, page: ContentRange | None) -> Response:
    """Mark an answer cut to one page: 206 Partial Content with its Content-Range."""
    if page is not None:
        response.status_code = 206
        response.headers["Content-Range"] = page.header()
    return response


@router.post("/entities", status_code=201, openapi_extra=described(body=ENTITY))
def create_temporal(call: CallDep, ngsi: TemporalDep) -> Response:
    """Create or add to the temporal representation of an entity (5.6.11)."""
    created = ngsi.create(call.tenant, call.body, call.context)
    if not created:
        return Response(status_code=204)
    location = f"/ngsi-ld/v1/temporal/entities/{call.body['id']}"
    return Response(status_code=201, headers={"Location": location})


@router.post("/entities/{entity_id}/attrs", status_code=204,
            openapi_extra=described(body=FRAGMENT))
def append_temporal(entity_id: str, call: CallDep, ngsi: TemporalDep) -> Response:
    """Add attribute instances to an entity's temporal representation (5.6.12)."""
    ngsi.append(call.tenant, entity_id, call.body, call.context)
    return Response(status_code=204)


@router.delete("/entities/{entity_id}", status_code=204)
def delete_temporal(entity_id: str, call: CallDep, ngsi: TemporalDep) -> Response:
    """Delete an entity's temporal representation (5.6.16)."""
    ngsi.delete_entity(call.tenant, entity_id)
    return Response(status_code=204)


@router.delete("/entities/{entity_id}/attrs/{attr}", status_code=204,
            openapi_extra=described("datasetId", "deleteAll"))
def delete_temporal_attribute(entity_id: str, attr: str, request: Request, call: CallDep,
                              ngsi: TemporalDep) -> Response:
    """Delete an attribute's history: default instance, one datasetId, or all (5.6.13)."""
    params = request.query_params
    delete_all = params.get("deleteAll", "false").lower()
    if delete_all not in ("true", "false"):
        raise BadRequestData("deleteAll must be true or false")
    ngsi.delete_attribute(call.tenant, entity_id, attr, call.context,
                          params.get("datasetId"), delete_all == "true")
    return Response(status_code=204)


@router.patch("/entities/{entity_id}/attrs/{attr}/{instance_id}", status_code=204,
            openapi_extra=described(body=FRAGMENT))
def modify_instance(entity_id: str, attr: str, instance_id: str, call: CallDep,
                    ngsi: TemporalDep) -> Response:
    """Modify one attribute instance (5.6.14)."""
    ngsi.modify_instance(call.tenant, entity_id, attr, instance_id, call.body, call.context)
    return Response(status_code=204)


@router.delete("/entities/{entity_id}/attrs/{attr}/{instance_id}", status_code=204)
def delete_instance(entity_id: str, attr: str, instance_id: str, call: CallDep,
                    ngsi: TemporalDep) -> Response:
    """Delete one attribute instance (5.6.15)."""
    ngsi.delete_instance(call.tenant, entity_id, attr, instance_id, call.context)
    return Response(status_code=204)
