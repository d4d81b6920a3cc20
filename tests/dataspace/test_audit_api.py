"""`/audit` over HTTP on both stores: list, filter, verify and export."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import delete

from civictwin.dataspace.audit import AuditLog, verify_export
from civictwin.store import Store
from civictwin.store.schema import audit_log


def test_list_filter_verify_export(client: TestClient, store: Store, tenant: str) -> None:
    log = AuditLog(store)
    for i in range(5):
        log.record(tenant, f"urn:p:{i % 2}", "access.allowed" if i < 4 else "access.denied",
                   f"urn:d:{i}", {"i": i})
    log.record("someone-else", "urn:p:0", "access.allowed", "urn:d:x", {})
    page = client.get("/audit", params={"limit": 2})
    assert page.status_code == 200
    assert page.json()["total"] == 5 and [e["seq"] for e in page.json()["entries"]] == [5, 4]
    assert client.get("/audit", params={"actor": "urn:p:1"}).json()["total"] == 2
    denied = client.get("/audit", params={"action": "access.denied"}).json()
    assert denied["total"] == 1 and denied["entries"][0]["detail"] == {"i": 4}
    since = denied["entries"][0]["at"]
    assert client.get("/audit", params={"since": since}).json()["total"] == 1
    assert client.get("/audit", params={"until": since}).json()["total"] == 4
    assert client.get("/audit", params={"since": "yesterday"}).status_code == 400
    assert client.get("/audit/verify").json() == {
        "ok": True, "entries": 5, "firstBad": None, "problem": None,
        "head": page.json()["entries"][0]["hash"]}
    exported = client.get("/audit/export")
    assert exported.headers["content-type"].startswith("application/jsonl")
    assert verify_export(exported.text.splitlines()).ok
    with store.engine.connect() as conn, conn.begin():  # type: ignore[attr-defined]
        conn.execute(delete(audit_log).where(audit_log.c.tenant == tenant, audit_log.c.seq == 2))
    broken = client.get("/audit/verify").json()
    assert broken["ok"] is False and broken["firstBad"] == 2
