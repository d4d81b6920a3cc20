"""`/privacy`: disclosure-controlled aggregates of private meter data, and the release ledger.

An external consumer calls with its transfer's access token: enforcement has checked the
agreement and put the grant in the request state, so the agreement's rules apply and the
ledger is the consumer's. A participant holding the tenant (or an operator) may ask for its
own analyses, under an agreement it provides (naming it) or under rules it gives.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from civictwin.dataspace.auth import current_participant
from civictwin.errors import BadRequestData
from civictwin.ngsild.http import read_body, tenant_of
from civictwin.privacy import service
from civictwin.privacy.aggregation import aggregate
from civictwin.privacy.publish import publish as publish_release

router = APIRouter(prefix="/privacy", tags=["privacy"])


def _grant(request: Request) -> dict[str, Any] | None:
    grant: dict[str, Any] | None = getattr(request.state, "privacy_grant", None)
    return grant


@router.post("/aggregates", status_code=201)
async def create_aggregate(request: Request) -> Response:
    """Release disclosure-controlled aggregates under an agreement; 403 if that would reveal."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object: the request and its agreement")
    agreement = body.get("agreement")
    if agreement is not None and not isinstance(agreement, str):
        raise BadRequestData("agreement must be the agreement's id")
    state = request.app.state
    grant = _grant(request)
    if grant is not None:
        asker = service.asker_from_grant(grant, agreement)
        if body.get("rules") is not None:
            raise BadRequestData("the rules of a release under an agreement are the "
                                 "agreement's")
    else:
        consumer = body.get("consumer")
        if consumer is not None and not isinstance(consumer, str):
            raise BadRequestData("consumer must be a participant id")
        asker = service.asker_for(state.store, state.settings, current_participant(request),
                                  tenant_of(request), agreement, consumer,
                                  service.rules_from_json(body.get("rules")))
    publish = body.get("publish", False)
    if not isinstance(publish, bool) or (publish and grant is not None):
        raise BadRequestData("publish is true or false, and only the data's holder publishes")
    wanted = service.parse_request(body, asker.tenant)

    def run() -> dict[str, Any]:
        release = aggregate(state.store, wanted, asker.rules, asker.consumer, asker.agreement)
        answer = release.to_json()
        if publish:
            where = publish_release(state.store, state.settings, asker.tenant, release)
            answer["published"] = {"entity": where.entity, "dataset": where.dataset}
        return answer

    answer = await anyio.to_thread.run_sync(run)
    return JSONResponse(answer, status_code=201,
                        headers={"Location": f"/privacy/releases/{answer['id']}"})


@router.get("/releases")
def list_releases(request: Request,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    """List releases, newest first: a consumer's own, or all of the tenant for its holder."""
    tenant, consumer = _reader(request)
    found = service.releases(request.app.state.store, tenant, consumer, limit)
    return JSONResponse([r.to_json() for r in found])


@router.get("/releases/{release_id}")
def get_release(request: Request, release_id: str) -> Response:
    """Return one release with its cells and method."""
    tenant, consumer = _reader(request)
    found = service.release(request.app.state.store, tenant, release_id, consumer)
    return JSONResponse(found.to_json())


def _reader(request: Request) -> tuple[str, str | None]:
    grant = _grant(request)
    if grant is not None:
        return str(grant["tenant"]), str(grant["consumer"])
    who = current_participant(request)
    tenant = tenant_of(request)
    return tenant, (None if who.may_use(tenant) else who.id)
