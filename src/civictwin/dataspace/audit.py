"""The tamper-evident audit trail: every access, decision, negotiation step and consent event.

Each tenant has one append-only chain. An entry is (seq, at, tenant, actor, action, subject,
detail, prev) and its hash is SHA-256 over the canonical JSON of exactly those members
(keys sorted, no spaces, UTF-8), `prev` being the previous entry's hash (64 zeros for the
first). Changing, removing, inserting or reordering any entry breaks a hash or a link, and the
recorded head catches entries cut from the end. An export is one JSON line per entry plus a
head line, verifiable with a few lines of any language (docs/policies.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Connection

from civictwin.errors import BadRequestData
from civictwin.store.audit import AuditFilter, AuditRow, AuditTable
from civictwin.store.base import Store

if TYPE_CHECKING:
    from civictwin.dataspace.odrl_model import AccessRequest, Decision

GENESIS = "0" * 64
_ACTION = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)+$")


def canonical_json(value: Any) -> str:
    """Return the one JSON text of a value that the hashes are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def entry_hash(members: dict[str, Any]) -> str:
    """Return SHA-256 (hex) over the canonical JSON of an entry's members (without `hash`)."""
    return hashlib.sha256(canonical_json(members).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of a tenant's chain."""

    seq: int
    at: str
    tenant: str
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    prev: str
    hash: str

    def members(self) -> dict[str, Any]:
        """Return the members the hash covers."""
        return {"seq": self.seq, "at": self.at, "tenant": self.tenant, "actor": self.actor,
                "action": self.action, "subject": self.subject, "detail": self.detail,
                "prev": self.prev}

    def to_json(self) -> dict[str, Any]:
        """Return the entry as exported: its members plus its hash."""
        return {**self.members(), "hash": self.hash}


@dataclass(frozen=True)
class AuditReport:
    """The outcome of verifying chains: ok, or the first bad sequence number and why."""

    ok: bool
    entries: int
    tenant: str | None = None
    first_bad: int | None = None
    problem: str | None = None
    heads: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """Return the report as one line for people."""
        if self.ok:
            return f"audit trail intact: {self.entries} entries in {len(self.heads)} chain(s)"
        return (f"audit trail broken in tenant {self.tenant!r} at entry {self.first_bad}: "
                f"{self.problem}")


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: the number of entries and the head it ends with."""

    tenant: str
    entries: int
    head: str


class AuditLog:
    """Append to and verify the audit trail kept in a store."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self.table = AuditTable(store)
        self.clock = clock or (lambda: datetime.now(UTC))

    def record(self, tenant: str, actor: str, action: str, subject: str,
               detail: dict[str, Any] | None = None) -> AuditEntry:
        """Append an entry in its own transaction and return it."""
        with self.table.write() as conn, conn.begin():
            return self.record_in(conn, tenant, actor, action, subject, detail)

    def record_in(self, conn: Connection, tenant: str, actor: str, action: str, subject: str,
                  detail: dict[str, Any] | None = None) -> AuditEntry:
        """Append an entry inside the caller's write transaction (it commits with the caller)."""
        detail = _checked(actor, action, subject, detail)
        self.table.lock(conn, tenant)
        head = self.table.head(conn, tenant)
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        at = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        draft = AuditEntry(seq, at, tenant, actor, action, subject, detail, prev, "")
        entry = AuditEntry(**{**draft.__dict__, "hash": entry_hash(draft.members())})
        self.table.append(conn, AuditRow(
            tenant=tenant, seq=seq, at=at, actor=actor, action=action, subject=subject,
            detail=canonical_json(detail), prev_hash=prev, hash=entry.hash), head is None)
        return entry

    def record_decision(self, tenant: str, actor: str, subject: str, policy_id: str,
                        decision: Decision, request: AccessRequest | None = None,
                        conn: Connection | None = None) -> AuditEntry:
        """Audit a policy decision as access.allowed / access.denied (in `conn` if given)."""
        detail: dict[str, Any] = {"policy": policy_id, "rule": decision.rule,
                                  "reason": decision.reason, "duties": list(decision.duties)}
        if request is not None:
            detail.update(requested=request.action, purpose=request.purpose,
                          assignee=request.assignee, form=request.form,
                          at=request.at.isoformat())
        action = "access.allowed" if decision.allowed else "access.denied"
        if conn is not None:
            return self.record_in(conn, tenant, actor, action, subject, detail)
        return self.record(tenant, actor, action, subject, detail)

    def count(self, tenant: str | None = None) -> int:
        """Return how many entries one tenant's chain (or every chain) holds."""
        return self.table.count(tenant)

    def verify(self, tenant: str | None = None,
               progress: Callable[[int], None] | None = None) -> AuditReport:
        """Check one tenant's chain (or every chain); name the first bad entry."""
        tenants = [tenant] if tenant is not None else self.table.tenants()
        heads: dict[str, str] = {}
        total = 0
        for name in tenants:
            stored = self.table.stored_head(name)
            rows = self.table.chain(name)
            report = verify_chain(name, (_entry(r) for r in _counted(rows, progress)), stored)
            if not report.ok:
                return report
            total += report.entries
            heads.update(report.heads)
        return AuditReport(True, total, tenant, heads=heads)

    def entries(self, tenant: str, where: AuditFilter | None = None, limit: int = 100,
                offset: int = 0) -> tuple[list[AuditEntry], int]:
        """Return a page of a tenant's entries, newest first, and how many match."""
        rows, total = self.table.page(tenant, where or AuditFilter(), limit, offset)
        return [_entry(r) for r in rows], total

    def export(self, tenant: str, out: TextIO) -> ExportSummary:
        """Write a tenant's chain as JSON Lines, then a head line; return what was written."""
        count, last = 0, GENESIS
        for row in self.table.chain(tenant):
            entry = _entry(row)
            out.write(canonical_json(entry.to_json()) + "\n")
            count, last = count + 1, entry.hash
        head = {"head": last, "tenant": tenant, "entries": count}
        out.write(canonical_json(head) + "\n")
        return ExportSummary(tenant, count, last)


def verify_chain(tenant: str, entries: Iterable[AuditEntry],
                 head: tuple[int, str] | None) -> AuditReport:
    """Check a chain's order, links and hashes, then its recorded head."""
    expected, prev = 1, GENESIS
    for entry in entries:
        if entry.seq != expected:
            if entry.seq > expected:
                return _bad(tenant, expected, f"entry {expected} is missing (next is "
                            f"{entry.seq}): removed")
            return _bad(tenant, entry.seq, "out of order")
        if entry.tenant != tenant:
            return _bad(tenant, entry.seq, f"it belongs to tenant {entry.tenant!r}")
        if entry_hash(entry.members()) != entry.hash:
            return _bad(tenant, entry.seq, "its content does not match its hash (altered)")
        if entry.prev != prev:
            return _bad(tenant, entry.seq, f"it does not link to entry {entry.seq - 1} "
                        "(an entry was altered and rehashed, inserted or reordered)")
        expected, prev = expected + 1, entry.hash
    last = expected - 1
    if head is None:
        if last:
            return _bad(tenant, 1, "the chain has no recorded head")
        return AuditReport(True, 0, tenant)
    if head[0] > last:
        return _bad(tenant, last + 1, f"the head says {head[0]} entries but the chain ends "
                    f"at {last}: entries were removed from the end")
    if head[0] < last:
        return _bad(tenant, head[0] + 1, f"the chain runs past its head ({head[0]}): "
                    "entries were appended outside the audit log")
    if head[1] != prev:
        return _bad(tenant, last, "the recorded head hash differs from the last entry's hash")
    return AuditReport(True, last, tenant, heads={tenant: prev})


def verify_export(lines: Iterable[str]) -> AuditReport:
    """Verify an export (JSON Lines) the way an external auditor would."""
    entries: list[AuditEntry] = []
    head_line: dict[str, Any] | None = None
    tenant = ""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            return _bad(tenant, number, f"line {number} is not JSON")
        if "head" in item:
            head_line = item
            break
        tenant = item.get("tenant", tenant)
        try:
            entries.append(AuditEntry(**item))
        except TypeError:
            return _bad(tenant, number, f"line {number} is not an audit entry")
    if head_line is None:
        return _bad(tenant, len(entries) + 1, "the export has no head line (truncated)")
    tenant = str(head_line.get("tenant", tenant))
    return verify_chain(tenant, iter(entries), (int(head_line["entries"]), head_line["head"]))


def _counted(rows: Iterable[AuditRow],
             progress: Callable[[int], None] | None) -> Iterator[AuditRow]:
    for row in rows:
        yield row
        if progress is not None:
            progress(1)


def _bad(tenant: str, seq: int, problem: str) -> AuditReport:
    return AuditReport(False, 0, tenant, seq, problem)


def _checked(actor: str, action: str, subject: str,
             detail: dict[str, Any] | None) -> dict[str, Any]:
    if not _ACTION.match(action or ""):
        raise BadRequestData(f"audit action {action!r} must be a dotted name such as "
                             "'access.allowed'")
    if not isinstance(actor, str) or not actor:
        raise BadRequestData("an audit entry needs an actor")
    if not isinstance(subject, str):
        raise BadRequestData("an audit entry's subject must be a string")
    detail = dict(detail or {})
    try:
        canonical_json(detail)
    except (TypeError, ValueError) as exc:
        raise BadRequestData(f"audit detail must be plain JSON: {exc}") from None
    return detail


def _entry(row: AuditRow) -> AuditEntry:
    try:
        detail = json.loads(row.detail)
    except json.JSONDecodeError:
        detail = {"unreadable": row.detail}
    return AuditEntry(row.seq, row.at, row.tenant, row.actor, row.action, row.subject,
                      detail, row.prev_hash, row.hash)
