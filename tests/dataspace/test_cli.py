"""`civictwin policy|audit|consent ...` run for real in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from civictwin.dataspace.audit import AuditLog
from civictwin.store import Store, open_store
from civictwin.store.schema import audit_log
from tests.dataspace.test_consent import consent_body
from tests.dataspace.test_odrl import LUMEN, _c, offer


def civictwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from civictwin.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_policy_check_and_evaluate(tmp_path: Path) -> None:
    doc = offer(_c("purpose", "eq", "energy planning"), _c("dateTime", "lteq", "2027-12-31"),
                assignee=LUMEN)
    path = tmp_path / "offer.json"
    path.write_text(json.dumps({"@type": "ContractOfferMessage", "offer": doc}))
    run = civictwin("policy", "check", str(path))
    assert run.returncode == 0, run.stderr
    assert f"{LUMEN} may use this dataset for the purpose 'energy planning'" in run.stdout
    allowed = civictwin("policy", "evaluate", str(path), "--purpose", "energy planning",
                        "--assignee", LUMEN, "--at", "2027-01-01T00:00:00Z")
    assert allowed.returncode == 0 and allowed.stdout.startswith("allowed by permission[0]")
    denied = civictwin("policy", "evaluate", str(path), "--purpose", "marketing",
                       "--assignee", LUMEN, "--at", "2027-01-01T00:00:00Z")
    assert denied.returncode == 1 and "denied by no-permission" in denied.stdout
    path.write_text(json.dumps(offer(_c("count", "lteq", "many"))))
    bad = civictwin("policy", "check", str(path))
    assert bad.returncode == 2 and "permission[0].constraint[0].rightOperand" in bad.stderr


@pytest.mark.slow
def test_audit_verify_export_and_tamper(tenant: str, tmp_path: Path) -> None:
    # The CLI on SQLite; tamper detection on both stores is tests/dataspace/test_audit.py.
    store = open_store(f"sqlite:///{tmp_path / 'twin.db'}")
    log = AuditLog(store)
    for i in range(4):
        log.record(tenant, "urn:a", "access.allowed", f"urn:d:{i}", {"i": i})
    url, out = _url(store), tmp_path / "chain.jsonl"
    ok = civictwin("audit", "verify", "--database-url", url, "--tenant", tenant)
    assert ok.returncode == 0 and "4 entries" in ok.stdout, ok.stderr
    exported = civictwin("audit", "export", "--database-url", url, "--tenant", tenant,
                         "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert len(out.read_text().splitlines()) == 5
    assert civictwin("audit", "check-export", str(out)).returncode == 0
    with store.engine.connect() as conn, conn.begin():  # type: ignore[attr-defined]
        conn.execute(update(audit_log).where(audit_log.c.tenant == tenant, audit_log.c.seq == 2)
                     .values(subject="urn:d:forged"))
    store.close()
    broken = civictwin("audit", "verify", "--database-url", url)
    assert broken.returncode == 1 and "at entry 2" in broken.stderr


@pytest.mark.slow
def test_consent_give_and_withdraw_by_receipt_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    body = tmp_path / "consent.json"
    body.write_text(json.dumps(consent_body("urn:ngsi-ld:Meter:1")))
    given = civictwin("consent", "give", str(body), "--database-url", url)
    assert given.returncode == 0, given.stderr
    receipt_id = json.loads(given.stdout)["receipt"]["consentReceiptID"]
    gone = civictwin("consent", "withdraw", receipt_id, "--database-url", url)
    assert gone.returncode == 0 and json.loads(gone.stdout)["status"] == "withdrawn"
    missing = civictwin("consent", "withdraw", "urn:uuid:none", "--database-url", url)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert civictwin("audit", "verify", "--database-url", url).returncode == 0
