"""The audit trail on both stores: chaining, tamper detection, concurrency, export."""

from __future__ import annotations

import hashlib
import io
import json
import threading

import pytest
from sqlalchemy import delete, insert, select, update

from civictwin.dataspace.audit import GENESIS, AuditLog, canonical_json, verify_export
from civictwin.errors import BadRequestData
from civictwin.store import Store
from civictwin.store.audit import AuditFilter
from civictwin.store.schema import audit_heads, audit_log


def _fill(log: AuditLog, tenant: str, n: int = 5) -> None:
    for i in range(1, n + 1):
        log.record(tenant, f"urn:actor:{i % 2}", "access.allowed", f"urn:dataset:{i}",
                   {"i": i, "purpose": "energy planning", "ü": [1.5, None, True]})


def _sql(store: Store, statement: object) -> None:
    with store.engine.connect() as conn, conn.begin():  # type: ignore[attr-defined]
        conn.execute(statement)


def test_entries_chain_by_hash(store: Store, tenant: str) -> None:
    log = AuditLog(store)
    first = log.record(tenant, "urn:a", "negotiation.agreed", "urn:n:1", {"offer": "urn:o"})
    second = log.record(tenant, "urn:a", "access.allowed", "urn:d:1", {})
    assert (first.seq, first.prev) == (1, GENESIS)
    assert (second.seq, second.prev) == (2, first.hash)
    members = {k: v for k, v in second.to_json().items() if k != "hash"}
    assert hashlib.sha256(canonical_json(members).encode()).hexdigest() == second.hash
    report = log.verify(tenant)
    assert report.ok and report.entries == 2 and report.heads == {tenant: second.hash}


def test_bad_entries_are_refused(store: Store, tenant: str) -> None:
    log = AuditLog(store)
    with pytest.raises(BadRequestData, match="dotted"):
        log.record(tenant, "urn:a", "nodots", "s", {})
    with pytest.raises(BadRequestData, match="plain JSON"):
        log.record(tenant, "urn:a", "access.allowed", "s", {"x": {1, 2}})
    assert log.verify(tenant).entries == 0


@pytest.mark.parametrize("tamper, bad", [
    ("alter", 3), ("alter_rehash", 4), ("remove", 3), ("remove_last", 5), ("insert", 6),
    ("reorder", 2), ("head", 5)])
def test_tampering_is_detected(store: Store, tenant: str, tamper: str, bad: int) -> None:
    log = AuditLog(store)
    _fill(log, tenant)
    assert log.verify(tenant).ok
    c = audit_log.c
    row = {r.seq: r for r in _rows(store, tenant)}
    if tamper == "alter":
        _sql(store, update(audit_log).where(c.tenant == tenant, c.seq == 3)
             .values(detail='{"i":3,"purpose":"marketing"}'))
    elif tamper == "alter_rehash":
        changed = {**_members(row[3]), "actor": "urn:someone-else"}
        digest = hashlib.sha256(canonical_json(changed).encode()).hexdigest()
        _sql(store, update(audit_log).where(c.tenant == tenant, c.seq == 3)
             .values(actor="urn:someone-else", hash=digest))
    elif tamper == "remove":
        _sql(store, delete(audit_log).where(c.tenant == tenant, c.seq == 3))
    elif tamper == "remove_last":
        _sql(store, delete(audit_log).where(c.tenant == tenant, c.seq == 5))
    elif tamper == "insert":
        forged = {**row[5]._asdict(), "seq": 6, "prev_hash": row[5].hash, "hash": "f" * 64}
        _sql(store, insert(audit_log).values(**forged))
    elif tamper == "reorder":
        for seq, other in ((2, row[4]), (4, row[2])):
            _sql(store, update(audit_log).where(c.tenant == tenant, c.seq == seq).values(
                at=other.at, actor=other.actor, subject=other.subject, detail=other.detail,
                prev_hash=other.prev_hash, hash=other.hash))
    else:
        _sql(store, update(audit_heads).where(audit_heads.c.tenant == tenant)
             .values(hash="0" * 64))
    report = log.verify(tenant)
    assert not report.ok
    assert report.first_bad == bad, report.problem
    assert report.tenant == tenant


def test_concurrent_writers_never_fork_the_chain(store: Store, tenant: str) -> None:
    log = AuditLog(store)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(15):
                log.record(tenant, f"urn:w:{worker}", "access.allowed", f"urn:d:{i}", {})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = log.verify(tenant)
    assert report.ok and report.entries == 60


def test_record_in_commits_and_rolls_back_with_the_caller(store: Store, tenant: str) -> None:
    log = AuditLog(store)
    with log.table.write() as conn, conn.begin():
        log.record_in(conn, tenant, "urn:a", "consent.given", "urn:c:1", {})
    with pytest.raises(RuntimeError), log.table.write() as conn, conn.begin():
        log.record_in(conn, tenant, "urn:a", "consent.withdrawn", "urn:c:1", {})
        raise RuntimeError("caller fails")
    entries, total = log.entries(tenant)
    assert total == 1 and entries[0].action == "consent.given"
    assert log.verify(tenant).ok


def test_filters_page_newest_first(store: Store, tenant: str) -> None:
    log = AuditLog(store)
    _fill(log, tenant, 6)
    log.record(tenant, "urn:actor:9", "access.denied", "urn:dataset:x", {})
    entries, total = log.entries(tenant, AuditFilter(actor="urn:actor:1"), limit=2)
    assert total == 3 and [e.seq for e in entries] == [5, 3]
    entries, total = log.entries(tenant, AuditFilter(action="access.denied"))
    assert total == 1 and entries[0].subject == "urn:dataset:x"
    since = entries[0].at
    assert log.entries(tenant, AuditFilter(since=since))[1] == 1


def test_export_verifies_independently(store: Store, tenant: str) -> None:
    log = AuditLog(store)
    _fill(log, tenant)
    out = io.StringIO()
    summary = log.export(tenant, out)
    lines = out.getvalue().splitlines()
    assert summary.entries == 5 and len(lines) == 6
    assert json.loads(lines[-1]) == {"head": summary.head, "tenant": tenant, "entries": 5}
    assert verify_export(lines).ok
    # The documented auditor procedure, written out independently of civictwin:
    prev = "0" * 64
    for line in lines[:-1]:
        entry = json.loads(line)
        digest = entry.pop("hash")
        assert entry["prev"] == prev
        text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == digest
        prev = digest
    assert prev == json.loads(lines[-1])["head"]
    edited = [lines[0], lines[1].replace("energy planning", "marketing"), *lines[2:]]
    report = verify_export(edited)
    assert not report.ok and report.first_bad == 2
    assert verify_export(lines[:3] + lines[4:]).first_bad == 4
    assert not verify_export(lines[:-1]).ok


def _rows(store: Store, tenant: str) -> list:  # type: ignore[type-arg]
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(conn.execute(select(audit_log).where(audit_log.c.tenant == tenant)))


def _members(row: object) -> dict[str, object]:
    r = row  # a Row of audit_log
    return {"seq": r.seq, "at": r.at, "tenant": r.tenant, "actor": r.actor,  # type: ignore[attr-defined]
            "action": r.action, "subject": r.subject,  # type: ignore[attr-defined]
            "detail": json.loads(r.detail), "prev": r.prev_hash}  # type: ignore[attr-defined]


def test_policy_decisions_are_audited(store: Store, tenant: str) -> None:
    from datetime import UTC, datetime

    from civictwin.dataspace.odrl import AccessRequest, evaluate, parse_policy

    policy = parse_policy({"@id": "urn:offer:9", "@type": "Offer", "permission": [
        {"action": "use", "constraint": [
            {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]})
    log = AuditLog(store)
    for purpose in ("research", "marketing"):
        request = AccessRequest(at=datetime(2026, 1, 1, tzinfo=UTC), purpose=purpose,
                                assignee="urn:p:uni")
        log.record_decision(tenant, "urn:p:uni", "urn:dataset:1", policy.uid,
                            evaluate(policy, request), request)
    entries, _ = log.entries(tenant)
    assert [e.action for e in entries] == ["access.denied", "access.allowed"]
    assert entries[0].detail["rule"] == "no-permission"
    assert entries[0].detail["purpose"] == "marketing"
    assert entries[1].detail["policy"] == "urn:offer:9" and log.count(tenant) == 2
