"""NGSI-LD subscription endpoints under /ngsi-ld/v1/subscriptions (HTTP only)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from civictwin.errors import BadRequestData
from civictwin.ngsild.http import Call, accepted, read_call, respond
from civictwin.ngsild.subscriptions import Subscriptions, status_of
from civictwin.openapi import MAX_OFFSET, OBJECT, SUBSCRIPTION, described
from civictwin.store.outbox import SubscriptionRow

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD subscriptions"])
CallDep = Annotated[Call, Depends(read_call)]


def subscriptions(request: Request) -> Subscriptions:
    """Return the app's Subscriptions."""
    found: Subscriptions = request.app.state.subscriptions
    return found


SubscriptionsDep = Annotated[Subscriptions, Depends(subscriptions)]


def render_subscription(row: SubscriptionRow) -> dict[str, Any]:
    """Return a subscription as GET shows it: the document plus status fields (5.2.12)."""
    body = {**row.doc, "isActive": row.is_active, "status": status_of(row)}
    notification: dict[str, Any] = {**row.doc["notification"],
                                    "timesSent": row.times_sent,
                                    "timesFailed": row.times_failed}
    for key, value in (("lastNotification", row.last_notification),
                       ("lastSuccess", row.last_success), ("lastFailure", row.last_failure)):
        if value is not None:
            notification[key] = value
    if row.last_notification is not None:
        failing = row.last_failure is not None and (row.last_success or "") < row.last_failure
        notification["status"] = "failed" if failing else "ok"
    body["notification"] = notification
    return body


@router.post("/subscriptions", status_code=201, openapi_extra=described(body=SUBSCRIPTION))
def create_subscription(call: CallDep, subs: SubscriptionsDep) -> Response:
    """Create a subscription (5.8.1)."""
    row = subs.create(call.tenant, call.body, call.raw_context)
    return Response(status_code=201,
                    headers={"Location": f"/ngsi-ld/v1/subscriptions/{row.id}"})


@router.get("/subscriptions", openapi_extra=described("limit", "offset", "count"))
def query_subscriptions(request: Request, call: CallDep, subs: SubscriptionsDep) -> Response:
    """Return a page of subscriptions (5.8.4)."""
    media = accepted(request, geo=False)
    settings = request.app.state.settings
    limit = _count_param(request, "limit", settings.default_limit)
    if limit > settings.max_limit:
        raise BadRequestData(f"limit {limit} is above the maximum of {settings.max_limit}")
    rows, total = subs.page(call.tenant, limit, _count_param(request, "offset", 0))
    headers = {}
    if request.query_params.get("count", "false").lower() == "true":
        headers["NGSILD-Results-Count"] = str(total)
    return respond(call, media, [render_subscription(r) for r in rows], headers=headers)


@router.get("/subscriptions/{subscription_id}")
def retrieve_subscription(subscription_id: str, request: Request, call: CallDep,
                          subs: SubscriptionsDep) -> Response:
    """Return one subscription with its notification status (5.8.3)."""
    media = accepted(request, geo=False)
    row = subs.retrieve(call.tenant, subscription_id)
    return respond(replace(call, raw_context=row.context), media, render_subscription(row))


@router.patch("/subscriptions/{subscription_id}", status_code=204,
            openapi_extra=described(body=OBJECT))
def update_subscription(subscription_id: str, call: CallDep,
                        subs: SubscriptionsDep) -> Response:
    """Update a subscription with a fragment (5.8.2)."""
    subs.update(call.tenant, subscription_id, call.body, call.raw_context)
    return Response(status_code=204)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def delete_subscription(subscription_id: str, call: CallDep,
                        subs: SubscriptionsDep) -> Response:
    """Delete a subscription (5.8.5)."""
    subs.delete(call.tenant, subscription_id)
    return Response(status_code=204)


def _count_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_OFFSET:
        raise BadRequestData(f"{name}: {raw!r} is not a whole number from 0 to {MAX_OFFSET}")
    return int(raw)
