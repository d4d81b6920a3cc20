"""`/audit`: the audit trail for operators: list and filter entries, verify, export."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from civictwin.dataspace.audit import AuditEntry, AuditLog
from civictwin.dataspace.auth import requires_role
from civictwin.errors import BadRequestData
from civictwin.ngsild.http import tenant_of
from civictwin.openapi import MAX_OFFSET
from civictwin.store.audit import AuditFilter

router = APIRouter(prefix="/audit", tags=["audit"],
                   dependencies=[Depends(requires_role(what="The audit log"))])


def audit_log(request: Request) -> AuditLog:
    """Return the app's audit log (made on first use)."""
    state = request.app.state
    if getattr(state, "audit", None) is None:
        state.audit = AuditLog(state.store)
    found: AuditLog = state.audit
    return found


AuditDep = Annotated[AuditLog, Depends(audit_log)]


@router.get("")
def list_entries(request: Request, log: AuditDep,
                 action: str | None = None, actor: str | None = None,
                 subject: str | None = None,
                 since: Annotated[str | None, Query(description="From (ISO 8601).")] = None,
                 until: Annotated[str | None, Query(description="Before this time.")] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Response:
    """List the tenant's audit entries, newest first, filtered by action, actor, subject, time."""
    where = AuditFilter(action=action, actor=actor, subject=subject,
                        since=_moment(since, "since"), until=_moment(until, "until"))
    entries, total = log.entries(tenant_of(request), where, limit, offset)
    body: dict[str, Any] = {"total": total, "entries": [_json(e) for e in entries]}
    return JSONResponse(body, headers={"NGSILD-Results-Count": str(total)})


@router.get("/verify")
def verify(request: Request, log: AuditDep) -> Response:
    """Verify the tenant's chain; `ok` false names the first bad entry."""
    report = log.verify(tenant_of(request))
    return JSONResponse({"ok": report.ok, "entries": report.entries,
                         "firstBad": report.first_bad, "problem": report.problem,
                         "head": report.heads.get(report.tenant or "")})


@router.get("/export")
def export(request: Request, log: AuditDep) -> Response:
    """Return the tenant's chain as JSON Lines ending with the head line."""
    buffer = io.StringIO()
    log.export(tenant_of(request), buffer)
    return Response(buffer.getvalue(), media_type="application/jsonl")


def _json(entry: AuditEntry) -> dict[str, Any]:
    return entry.to_json()


def _moment(value: str | None, name: str) -> str | None:
    """Return an ISO 8601 time in the trail's sortable UTC form."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestData(f"{name}: {value!r} is not an ISO 8601 date-time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
