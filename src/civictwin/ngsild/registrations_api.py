"""NGSI-LD context source registration endpoints (/csourceRegistrations, ETSI GS CIM 009 5.9)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from civictwin.errors import BadRequestData
from civictwin.ngsild.attributes import check_uri
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.http import Call, accepted, broker, read_call, respond
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.ngsild.params import options, split
from civictwin.ngsild.registrations import Registrations, parse_registration
from civictwin.openapi import MAX_OFFSET, OBJECT, REGISTRATION, described

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD context source registrations"])
CallDep = Annotated[Call, Depends(read_call)]
BrokerDep = Annotated[ContextBroker, Depends(broker)]
PATH = "/ngsi-ld/v1/csourceRegistrations"


def _policy(ngsi: ContextBroker) -> OutboundPolicy:
    return OutboundPolicy.of(ngsi.settings.notification_allowlist)


def _int(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_OFFSET:
        raise BadRequestData(f"{name}: {raw!r} is not a whole number from 0 to {MAX_OFFSET}")
    return int(raw)


@router.post("/csourceRegistrations", status_code=201, openapi_extra=described(body=REGISTRATION))
def create_registration(call: CallDep, ngsi: BrokerDep) -> Response:
    """Register a context source (5.9.2)."""
    registration = parse_registration(call.body, call.context)
    _policy(ngsi).admit(registration.endpoint, "registration: endpoint")
    Registrations.of(ngsi.store).create(call.tenant, registration)
    return Response(status_code=201, headers={"Location": f"{PATH}/{registration.id}"})


@router.get("/csourceRegistrations",
            openapi_extra=described("id", "type", "attrs", "limit", "offset", "count", "options"))
def query_registrations(request: Request, call: CallDep, ngsi: BrokerDep) -> Response:
    """Query registrations by entity type, id and attributes (5.10.2)."""
    media = accepted(request, geo=False)
    params = request.query_params
    ctx = call.context
    types = {ctx.expand(t) for t in split(params.get("type"))} or None
    attrs = {ctx.expand(a) for a in split(params.get("attrs"))}
    ids = tuple(check_uri(i, "id") for i in split(params.get("id")))
    limit = _int(params.get("limit"), "limit", ngsi.settings.default_limit)
    offset = _int(params.get("offset"), "offset", 0)
    if limit > ngsi.settings.max_limit:
        raise BadRequestData(f"limit {limit} is above the maximum of {ngsi.settings.max_limit}")
    found = Registrations.of(ngsi.store).matching(call.tenant, types, attrs, ids)
    sys_attrs = "sysAttrs" in options(params)
    body = [r.to_json(ctx, sys_attrs) for r in found[offset: offset + limit]]
    count = params.get("count", "false").lower() == "true"
    headers = {"NGSILD-Results-Count": str(len(found))} if count else {}
    return respond(call, media, body, headers=headers)


@router.get("/csourceRegistrations/{registration_id}", openapi_extra=described("options"))
def retrieve_registration(registration_id: str, request: Request, call: CallDep,
                          ngsi: BrokerDep) -> Response:
    """Retrieve one registration (5.10.1)."""
    media = accepted(request, geo=False)
    registration = Registrations.of(ngsi.store).get(call.tenant, registration_id)
    sys_attrs = "sysAttrs" in options(request.query_params)
    return respond(call, media, registration.to_json(call.context, sys_attrs))


@router.patch("/csourceRegistrations/{registration_id}", status_code=204,
            openapi_extra=described(body=OBJECT))
def update_registration(registration_id: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Update the members of a registration that the body gives (5.9.3)."""
    Registrations.of(ngsi.store).update(call.tenant, registration_id, call.body, call.context,
                                        _policy(ngsi))
    return Response(status_code=204)


@router.delete("/csourceRegistrations/{registration_id}", status_code=204)
def delete_registration(registration_id: str, call: CallDep, ngsi: BrokerDep) -> Response:
    """Delete a registration (5.9.4)."""
    Registrations.of(ngsi.store).delete(call.tenant, registration_id)
    return Response(status_code=204)
