"""NGSI-LD discovery endpoints (/types, /attributes) and @context hosting (/jsonldContexts)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from civictwin.errors import ResourceNotFound
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.http import Call, accepted, broker, read_body, read_call, respond
from civictwin.ngsild.jsonld import CORE_CONTEXT_URL, bundled_context
from civictwin.openapi import CONTEXT, described

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD discovery"])
CallDep = Annotated[Call, Depends(read_call)]
BrokerDep = Annotated[ContextBroker, Depends(broker)]
BodyDep = Annotated[Any, Depends(read_body)]


def _details(request: Request) -> bool:
    return request.query_params.get("details", "false").lower() == "true"


@router.get("/types", openapi_extra=described("details"))
def list_types(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """List entity types (5.7.5), or describe them all with details=true (5.7.6)."""
    media = accepted(request, geo=False)
    ctx = call.context
    types = ngsi.types(call.tenant)
    if not _details(request):
        body: Any = {"id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}", "type": "EntityTypeList",
                     "typeList": [ctx.compact(t) for t in types]}
        return respond(call, media, body)
    summary = ngsi.attributes(call.tenant)
    body = [{"id": t, "type": "EntityType", "typeName": ctx.compact(t),
             "attributeNames": sorted(ctx.compact(a) for a, s in summary.items()
                                      if t in s["types"])} for t in types]
    return respond(call, media, body)


@router.get("/types/{type_name:path}")
def describe_type(type_name: str, request: Request, call: CallDep,
                  ngsi: BrokerDep) -> Response:
    """Describe one entity type (5.7.7)."""
    media = accepted(request, geo=False)
    ctx = call.context
    iri = ctx.expand(type_name)
    types = ngsi.types(call.tenant)
    if iri not in types:
        raise ResourceNotFound(f"no entity of type {type_name} exists")
    summary = ngsi.attributes(call.tenant)
    details = [{"id": a, "type": "Attribute", "attributeName": ctx.compact(a),
                "attributeTypes": sorted(s["kinds"])}
               for a, s in sorted(summary.items()) if iri in s["types"]]
    body = {"id": iri, "type": "EntityTypeInfo", "typeName": ctx.compact(iri),
            "entityCount": types[iri], "attributeDetails": details}
    return respond(call, media, body)


@router.get("/attributes", openapi_extra=described("details"))
def list_attributes(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """List attributes (5.7.8), or describe them all with details=true (5.7.9)."""
    media = accepted(request, geo=False)
    ctx = call.context
    summary = ngsi.attributes(call.tenant)
    if not _details(request):
        body: Any = {"id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}", "type": "AttributeList",
                     "attributeList": [ctx.compact(a) for a in sorted(summary)]}
        return respond(call, media, body)
    body = [_attribute(a, s, ctx.compact) for a, s in sorted(summary.items())]
    return respond(call, media, body)


@router.get("/attributes/{attr:path}")
def describe_attribute(attr: str, request: Request, call: CallDep,
                       ngsi: BrokerDep) -> Response:
    """Describe one attribute (5.7.10)."""
    media = accepted(request, geo=False)
    iri = call.context.expand(attr)
    summary = ngsi.attributes(call.tenant)
    if iri not in summary:
        raise ResourceNotFound(f"no entity has an attribute {attr}")
    return respond(call, media, _attribute(iri, summary[iri], call.context.compact))


def _attribute(iri: str, info: dict[str, Any], compact: Any) -> dict[str, Any]:
    return {"id": iri, "type": "Attribute", "attributeName": compact(iri),
            "attributeCount": info["count"], "attributeTypes": sorted(info["kinds"]),
            "typeNames": sorted(compact(t) for t in info["types"])}


@router.get("/jsonldContexts")
def list_contexts(request: Request, ngsi: BrokerDep) -> Response:
    """List the @contexts this broker holds (5.13.3)."""
    kind = request.query_params.get("kind")
    rows = ngsi.store.list_contexts(kind.capitalize() if kind else None)
    builtin = [] if kind and kind.lower() != "cached" else [CORE_CONTEXT_URL]
    if _details(request):
        body: Any = [{"URL": r.url, "localId": r.id, "kind": r.kind, "createdAt": r.created_at}
                     for r in rows]
        body += [{"URL": url, "localId": "core", "kind": "Cached"} for url in builtin]
    else:
        body = [r.url for r in rows] + builtin
    return Response(json.dumps(body), media_type="application/json")


@router.post("/jsonldContexts", status_code=201, openapi_extra=described(body=CONTEXT))
def add_context(request: Request, body: BodyDep, ngsi: BrokerDep) -> Response:
    """Host a user @context (5.13.2)."""
    base = str(request.base_url).rstrip("/")
    row = ngsi.add_context(body, base)
    return Response(status_code=201, headers={"Location": row.url})


@router.get("/jsonldContexts/{context_id:path}")
def serve_context(context_id: str, ngsi: BrokerDep) -> Response:
    """Serve a hosted or bundled @context (5.13.4)."""
    builtin = bundled_context(context_id) if context_id != "core" else \
        bundled_context(CORE_CONTEXT_URL)
    body = builtin if builtin is not None else ngsi.get_context(context_id).body
    return Response(json.dumps(body), media_type="application/ld+json")


@router.delete("/jsonldContexts/{context_id:path}", status_code=204)
def delete_context(context_id: str, ngsi: BrokerDep) -> Response:
    """Delete a hosted @context (5.13.5)."""
    ngsi.delete_context(context_id)
    return Response(status_code=204)
