"""The dashboard's data space views over HTTP: who am I, catalogue, agreements, consent, audit.

`/web/open/...` is public (the catalogue is open to all); `/web/api/...` serves one view each
and refuses a visitor the view's rule (civictwin.web.access) does not admit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from civictwin.catalog.http import catalogue_of
from civictwin.catalog.model import Dataset
from civictwin.config import Settings
from civictwin.dataspace.audit_api import audit_log
from civictwin.dataspace.consent import STATUSES as CONSENT_STATUSES
from civictwin.dataspace.consent_api import registry
from civictwin.dataspace.negotiation import Negotiations
from civictwin.dataspace.odrl import describe, parse_policy
from civictwin.dataspace.participants import Participant, Participants
from civictwin.dataspace.transfer import Transfers
from civictwin.errors import CivicTwinError
from civictwin.ngsild.http import tenant_of
from civictwin.store.audit import AuditFilter
from civictwin.web.access import VIEWS, require, visitor

router = APIRouter(tags=["Web dashboard"])
NO_CACHE = {"Cache-Control": "no-store"}
PURPOSES_OVER = 10_000  # the newest consents in force that the tally by purpose counts
SEARCHED = ("title", "description", "publisher_name", "keywords", "themes", "ngsi_types", "id")


def _answer(body: Any) -> JSONResponse:
    return JSONResponse(body, headers=NO_CACHE)


@router.get("/web/open/me")
def me(request: Request) -> JSONResponse:
    """Say who the visitor is and which views it may open (and why not)."""
    who = visitor(request)
    settings: Settings = request.app.state.settings
    views = {name: {"label": rule.label, "allowed": rule.refusal(who) is None,
                    "reason": rule.refusal(who)} for name, rule in VIEWS.items()}
    return _answer({"participant": who.to_json() if who else None,
                    "tenant": tenant_of(request), "authRequired": settings.auth_required,
                    "views": views})


@router.get("/web/open/catalogue")
def search_catalogue(request: Request, q: str = "",
                     limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     offset: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
    """Find the tenant's datasets whose text holds every word of `q` (any case)."""
    words = [w.casefold() for w in q.split() if w]
    found = [d for d in catalogue_of(request).all_datasets(tenant_of(request))
             if all(w in _text(d) for w in words)]
    return _answer({"total": len(found), "offset": offset, "query": q,
                    "datasets": [_summary(d) for d in found[offset:offset + limit]]})


@router.get("/web/open/catalogue/{dataset_id:path}")
def dataset_page(request: Request, dataset_id: str) -> JSONResponse:
    """Return one dataset with each of its policies in plain language."""
    dataset = catalogue_of(request).get_dataset(tenant_of(request), dataset_id)
    names = _names(request, dataset)
    body = dataset.to_json()
    body["policies"] = [_policy_text(offer, names) for offer in dataset.offers]
    return _answer(body)


@router.get("/web/api/agreements")
def agreements(request: Request) -> JSONResponse:
    """List the negotiations and transfers the visitor takes part in, with their state."""
    who = require(request, "agreements")
    state = request.app.state
    mine = _party_to(who, tenant_of(request))
    negotiations = [n for n in Negotiations(state.store, state.settings).all()
                    if mine(n.counterparty, n.tenant)]
    names = {p.id: p.name for p in Participants(state.store).all()}
    rows = []
    for n in negotiations:
        row = n.to_json()
        row["counterpartyName"] = names.get(n.counterparty, n.counterparty)
        row["agreementId"] = n.agreement_id
        row["tenant"] = n.tenant
        row["policyText"] = _policy_text(n.agreement or n.offer, names)["text"]
        rows.append(row)
    transfers = []
    for t in Transfers(state.store, state.settings).all():
        if mine(t.counterparty, t.tenant):
            row = t.to_json()
            row.pop("dataAddress", None)  # the consumer's copy holds its access token
            transfers.append(row)
    return _answer({"negotiations": rows, "transfers": transfers,
                    "states": Counter(n.state for n in negotiations)})


@router.get("/web/api/consents")
def consents(request: Request, status: str | None = None,
             limit: Annotated[int, Query(ge=1, le=500)] = 100) -> JSONResponse:
    """Summarise the tenant's consents by status and purpose, with the newest records."""
    require(request, "consent")
    found = registry(request)
    tenant = tenant_of(request)
    shown, total = found.list(tenant, None, status, limit, 0)
    by_status = {s: n for s in CONSENT_STATUSES
                 if (n := found.list(tenant, None, s, 1, 0)[1])}
    given, _ = found.list(tenant, None, "given", PURPOSES_OVER, 0)
    by_purpose = Counter(p for r in given for p in r.terms.purposes)
    return _answer({"total": sum(by_status.values()), "shown": total, "byStatus": by_status,
                    "givenByPurpose": by_purpose, "consents": [r.to_json() for r in shown]})


@router.get("/web/api/audit")
def audit_entries(request: Request, action: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
    """Return a page of the tenant's audit trail, newest first (operators only)."""
    require(request, "audit")
    entries, total = audit_log(request).entries(tenant_of(request),
                                                AuditFilter(action=action or None),
                                                limit, offset)
    return _answer({"total": total, "offset": offset, "entries": [e.to_json() for e in entries]})


@router.get("/web/api/audit/verify")
def audit_verify(request: Request) -> JSONResponse:
    """Recompute the tenant's hash chain and say whether it is intact (operators only)."""
    require(request, "audit")
    report = audit_log(request).verify(tenant_of(request))
    return _answer({"ok": report.ok, "entries": report.entries, "firstBad": report.first_bad,
                    "problem": report.problem, "summary": report.summary(),
                    "head": report.heads.get(report.tenant or "")})


def _party_to(who: Participant | None, tenant: str) -> Callable[[str, str], bool]:
    """Return a test of (counterparty, tenant): the visitor's own, or the tenant's for operators."""
    if who is None or who.operator:
        return lambda _counterparty, of: of == tenant
    return lambda counterparty, _of: counterparty == who.id


def _text(dataset: Dataset) -> str:
    parts: list[str] = []
    for name in SEARCHED:
        value = getattr(dataset, name)
        parts.extend(value if isinstance(value, list) else [str(value or "")])
    return " ".join(parts).casefold()


def _summary(d: Dataset) -> dict[str, Any]:
    return {"id": d.id, "title": d.title, "description": d.description,
            "publisherName": d.publisher_name or d.publisher, "keywords": d.keywords,
            "themes": d.themes, "origin": d.origin, "licence": d.licence,
            "modified": d.modified, "policies": len(d.offers)}


def _names(request: Request, dataset: Dataset) -> dict[str, str]:
    names = {p.id: p.name for p in Participants(request.app.state.store).all()}
    if dataset.publisher_name:
        names[dataset.publisher] = dataset.publisher_name
    names[dataset.id] = f"“{dataset.title}”"
    return names


def _policy_text(offer: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Return a policy's uid and plain-language text, or why it cannot be read."""
    uid = offer.get("@id") or offer.get("uid")
    try:
        return {"uid": uid, "text": describe(parse_policy(offer), names), "error": None}
    except CivicTwinError as exc:
        return {"uid": uid, "text": None, "error": exc.detail}
