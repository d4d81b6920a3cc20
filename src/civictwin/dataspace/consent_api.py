"""`/consent`: give, read, renew and withdraw consents; receipts for data subjects.

The acting party the audit trail records is the authenticated participant; a participant
acting for someone else (a consent portal recording a data subject's choice) may name them in
the `Civictwin-Actor` header, recorded as "participant (for name)".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from civictwin.dataspace.auth import Principal, requires_role
from civictwin.dataspace.consent import ConsentRecord, ConsentRegistry, parse_consent
from civictwin.errors import BadRequestData
from civictwin.ngsild.http import read_body, tenant_of
from civictwin.openapi import MAX_OFFSET, OBJECT, described

router = APIRouter(prefix="/consent", tags=["consent"], dependencies=[
    Depends(requires_role("provider", "intermediary", what="Consent records"))])


def registry(request: Request) -> ConsentRegistry:
    """Return the app's consent registry (made on first use)."""
    state = request.app.state
    if getattr(state, "consents", None) is None:
        state.consents = ConsentRegistry(state.store)
    found: ConsentRegistry = state.consents
    return found


RegistryDep = Annotated[ConsentRegistry, Depends(registry)]


def actor_of(request: Request) -> str:
    """Return who acts: the authenticated participant, and whom it acts for, if it says."""
    principal: Principal | None = getattr(request.state, "principal", None)
    participant = principal.participant if principal else None
    who = participant.id if participant else "anonymous"
    on_behalf = request.headers.get("Civictwin-Actor", "").strip()
    return f"{who} (for {on_behalf})" if on_behalf else who


@router.post("", status_code=201,
             openapi_extra=described(body=OBJECT))
async def give(request: Request, consents: RegistryDep) -> Response:
    """Record a consent; answer with the record and the data subject's receipt."""
    body = await read_body(request)
    record = consents.give(tenant_of(request), actor_of(request),
                           parse_consent(body, datetime.now(UTC)))
    return JSONResponse(_both(record), status_code=201,
                        headers={"Location": f"/consent/{record.id}"})


@router.get("")
def list_consents(request: Request, consents: RegistryDep, subject: str | None = None,
                  status: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Response:
    """List the tenant's consents, newest first, by data subject and status."""
    records, total = consents.list(tenant_of(request), subject, status, limit, offset)
    return JSONResponse([r.to_json() for r in records],
                        headers={"NGSILD-Results-Count": str(total)})


@router.get("/{consent_id}")
def get_consent(consent_id: str, request: Request, consents: RegistryDep) -> Response:
    """Return one consent record with its events."""
    return JSONResponse(consents.get(tenant_of(request), consent_id).to_json())


@router.get("/{consent_id}/receipt")
def receipt(consent_id: str, request: Request, consents: RegistryDep) -> Response:
    """Return the Kantara Consent Receipt v1.1 of a consent."""
    return JSONResponse(consents.get(tenant_of(request), consent_id).receipt())


@router.post("/{consent_id}/withdraw")
def withdraw(consent_id: str, request: Request, consents: RegistryDep) -> Response:
    """Withdraw a consent: one call with the receipt id; its data is withheld from now on."""
    record = consents.withdraw(tenant_of(request), actor_of(request), consent_id)
    return JSONResponse(record.to_json())


@router.post("/{consent_id}/renew",
             openapi_extra=described(body=OBJECT))
async def renew(consent_id: str, request: Request, consents: RegistryDep) -> Response:
    """Renew a consent until body.expiresAt (null or absent: until withdrawn)."""
    body = await read_body(request)
    if body is not None and not isinstance(body, dict):
        raise BadRequestData("the body must be an object such as {\"expiresAt\": \"...\"}")
    expires: Any = (body or {}).get("expiresAt")
    record = consents.renew(tenant_of(request), actor_of(request), consent_id, expires)
    return JSONResponse(record.to_json())


def _both(record: ConsentRecord) -> dict[str, Any]:
    return {"record": record.to_json(), "receipt": record.receipt()}
