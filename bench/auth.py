"""What authentication costs a request: one entity retrieval with and without a credential.

baseline  GET /ngsi-ld/v1/entities/{id} on a twin with `auth_required = false` (no lookup).
api key   the same request with an operator's API key (key and participant looked up, SHA-256
          compared in constant time).
jwt       the same request with an EdDSA-signed token (issuer looked up, signature checked).

All three run interleaved on one SQLite twin through the in-process HTTP client, so background
load hits them alike. Target: a credential adds at most half a baseline request (ratio <= 1.5).
Run:  .venv/bin/python bench/auth.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from rich.table import Table

from bench.workload import console, quiet_heap
from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.dataspace.auth import ensure_identity, sign_token
from civictwin.dataspace.participants import Participants
from civictwin.store.factory import open_store

TARGET = 1.5
ENTITY = {"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor",
          "noise": {"type": "Property", "value": 61, "unitCode": "2N"}}


def main(argv: list[str] | None = None) -> int:
    """Measure the three ways and print the ratios; exit 1 if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/twin.db"
        store = open_store(url)
        twin = Settings(database_url=url, participant_id="urn:bench:twin")
        signer = Settings(participant_id="urn:bench:consumer", signing_key_file=f"{tmp}/k.pem")
        participants = Participants(store)
        participants.add("urn:bench:operator", "Operator", {"operator"})
        participants.add(signer.participant_id, "Consumer", {"operator"}, "", "other",
                         ensure_identity(signer))
        key = participants.issue_key("urn:bench:operator").key
        token = sign_token(signer, twin.participant_id)
        ways = {"baseline": (TestClient(create_app(twin.model_copy(update={
                    "auth_required": False}), store=store)), {}),
                "api key": (TestClient(create_app(twin, store=store)),
                            {"Authorization": f"Bearer {key}"}),
                "jwt": (TestClient(create_app(twin, store=store)),
                        {"Authorization": f"Bearer {token}"})}
        ways["baseline"][0].post("/ngsi-ld/v1/entities", json=ENTITY)
        times: dict[str, list[float]] = {name: [] for name in ways}
        with quiet_heap():
            for _ in range(args.repeat):
                for name, (client, headers) in ways.items():
                    started = time.perf_counter()
                    answer = client.get(f"/ngsi-ld/v1/entities/{ENTITY['id']}", headers=headers)
                    times[name].append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text
        store.close()
    base = statistics.median(times["baseline"])
    table = Table("path", "p50 ms", "x baseline (p50)",
                  title=f"GET /entities/{{id}}, {args.repeat} times each, interleaved")
    worst = 0.0
    for name, values in times.items():
        ratio = statistics.median(values) / base
        worst = max(worst, ratio)
        table.add_row(name, f"{statistics.median(values):.2f}", f"{ratio:.2f}")
    console.print(table)
    ok = worst <= TARGET
    console.print(f"{'PASS' if ok else 'FAIL'} authentication overhead: worst {worst:.2f} x "
                  f"baseline (target <= {TARGET})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
