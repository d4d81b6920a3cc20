"""Cross-tenant inference: a participant of tenant A learns nothing about tenant B's entities.

Not by reading, querying, counting, listing types or attributes, temporal queries, its own
subscriptions' notifications, batch operations (an id B uses behaves for A exactly like an
id nobody uses: no 409 against 404), the catalogue, map tiles' ETags, or naming B's tenant;
and every answer A gets is the same before and after B writes. Both stores, real HTTP
notifications on loopback.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.dataspace.participants import Participants
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL, link_header
from civictwin.store import Store
from tests.servers import loopback_settings, serve_app

NGSI = "/ngsi-ld/v1"
B_ID = "urn:ngsi-ld:Vault:b-1"
UNUSED = "urn:ngsi-ld:Vault:nobody-has-this"
TILE = "/tiles/buildings/15/16780/10991.mvt"  # holds SQUARE
SQUARE = [[[4.35, 50.85], [4.352, 50.85], [4.352, 50.852], [4.35, 50.852], [4.35, 50.85]]]


@dataclass
class Tenants:
    """Two participants' clients, each acting in its own tenant, and A's notification inbox."""

    a: TestClient
    b: TestClient
    tenant_a: str
    tenant_b: str
    inbox: list[dict[str, Any]]
    inbox_url: str


def _participant(store: Store, tenant: str) -> str:
    participants = Participants(store)
    found = participants.add(f"dept-{uuid.uuid4().hex[:10]}", "Department", {"provider"},
                             tenant)
    return participants.issue_key(found.id, "tests").key


@pytest.fixture
def tenants(store: Store) -> Iterator[Tenants]:
    """Participants of tenants A and B of one twin; A's subscription receiver on loopback."""
    inbox: list[dict[str, Any]] = []

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        inbox.append(json.loads(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    tenant_a, tenant_b = f"a{uuid.uuid4().hex[:10]}", f"b{uuid.uuid4().hex[:10]}"
    app = create_app(loopback_settings(auth_required=True), store=store)
    with serve_app(receiver, access_log=False) as inbox_url, \
            TestClient(app, headers=_bearer(_participant(store, tenant_a))) as a, \
            TestClient(app, headers=_bearer(_participant(store, tenant_b))) as b:
        yield Tenants(a, b, tenant_a, tenant_b, inbox, inbox_url)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _vault(entity_id: str, amount: int) -> dict[str, Any]:
    return {"id": entity_id, "type": "Vault",
            "amount": {"type": "Property", "value": amount,
                       "observedAt": "2026-01-01T00:00:00Z"},
            "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:b"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [4.351, 50.851]}}}


def _building(entity_id: str) -> dict[str, Any]:
    return {"id": entity_id, "type": "Building",
            "category": {"type": "Property", "value": ["office"]},
            "address": {"type": "Property", "value": {"addressLocality": "Lumen"}},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Polygon", "coordinates": SQUARE}}}


def _b_writes(t: Tenants) -> None:
    """Tenant B fills its tenant with everything A could try to see."""
    b = t.b
    assert b.post(f"{NGSI}/entities", json=_vault(B_ID, 1_000_000)).status_code == 201
    upsert = b.post(f"{NGSI}/entityOperations/upsert",
                    json=[_vault(f"urn:ngsi-ld:Vault:b-{n}", n) for n in range(2, 6)])
    assert upsert.status_code == 201, upsert.text
    assert b.patch(f"{NGSI}/entities/{B_ID}/attrs",
                   json={"amount": {"type": "Property", "value": 2_000_000,
                                    "observedAt": "2026-01-02T00:00:00Z"}}).status_code == 204
    building = b.post(f"{NGSI}/entities", json=_building("urn:ngsi-ld:Building:b-1"),
                      headers={"Link": link_header(CIVICTWIN_CONTEXT_URL)})
    assert building.status_code == 201, building.text
    assert b.post("/catalog/refresh").status_code == 200


# Everything A can ask that could reflect B's data; each answer must not change when B writes.
PROBES = [
    f"{NGSI}/entities?type=Vault&count=true", f"{NGSI}/entities?idPattern=.*&count=true",
    f"{NGSI}/entities?q=amount>0&count=true", f"{NGSI}/entities?attrs=amount&count=true",
    f"{NGSI}/entities?georel=near;maxDistance==5000&geometry=Point"
    "&coordinates=[4.351,50.851]&count=true",
    f"{NGSI}/entities?id={B_ID}", f"{NGSI}/entities/{B_ID}",
    f"{NGSI}/types", f"{NGSI}/types?details=true", f"{NGSI}/types/Vault",
    f"{NGSI}/attributes", f"{NGSI}/attributes?details=true", f"{NGSI}/attributes/amount",
    f"{NGSI}/temporal/entities?type=Vault&count=true",
    f"{NGSI}/temporal/entities?type=Vault&timerel=after&timeAt=2000-01-01T00:00:00Z",
    f"{NGSI}/temporal/entities/{B_ID}", f"{NGSI}/subscriptions?count=true",
    "/catalog/datasets", "/catalog", "/api/3/action/package_list", TILE,
]
VOLATILE = ("date", "content-length")
_FRESH_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""Ids made for each answer (a type list's id): random, so not compared."""


def _snapshot(client: TestClient) -> dict[str, tuple[int, str, dict[str, str]]]:
    seen = {}
    for probe in PROBES:
        answer = client.get(probe)
        assert answer.status_code < 500, (probe, answer.text)
        headers = {k: v for k, v in answer.headers.items() if k not in VOLATILE}
        seen[probe] = (answer.status_code, _FRESH_ID.sub("UUID", answer.text), headers)
    return seen


def test_no_answer_a_gets_changes_when_b_writes(tenants: Tenants) -> None:
    before = _snapshot(tenants.a)
    _b_writes(tenants)
    after = _snapshot(tenants.a)
    for probe in PROBES:
        assert after[probe] == before[probe], f"{probe} changed when tenant B wrote"
    assert after[f"{NGSI}/entities/{B_ID}"][0] == 404
    assert after[f"{NGSI}/entities?type=Vault&count=true"][2]["ngsild-results-count"] == "0"
    b_sees = tenants.b.get(f"{NGSI}/entities?type=Vault&count=true")
    assert b_sees.headers["NGSILD-Results-Count"] == "5"  # the data is there, for B
    b_tile, a_tile_headers = tenants.b.get(TILE), after[TILE][2]
    assert b_tile.content and b_tile.headers["etag"] != a_tile_headers["etag"]
    assert tenants.b.get("/catalog/datasets").json()["total"] > 0


def _same_answer(a: TestClient, method: str, path: str, body: Any = None) -> None:
    """A used id of B and an id nobody uses get the same answer, but for the id itself."""
    used = a.request(method, path.format(id=B_ID), json=body(B_ID) if body else None)
    unused = a.request(method, path.format(id=UNUSED), json=body(UNUSED) if body else None)
    assert used.status_code == unused.status_code, (method, path, used.text, unused.text)
    assert used.text.replace(B_ID, "ID") == unused.text.replace(UNUSED, "ID"), (method, path)


def test_b_ids_behave_for_a_exactly_like_unused_ids(tenants: Tenants) -> None:
    _b_writes(tenants)
    a = tenants.a
    attrs = {"amount": {"type": "Property", "value": 1}}
    for method, path, body in [
        ("GET", f"{NGSI}/entities/{{id}}", None),
        ("GET", f"{NGSI}/temporal/entities/{{id}}", None),
        ("PATCH", f"{NGSI}/entities/{{id}}/attrs", lambda _i: attrs),
        ("POST", f"{NGSI}/entities/{{id}}/attrs", lambda _i: attrs),
        ("PATCH", f"{NGSI}/entities/{{id}}/attrs/amount", lambda _i: {"value": 3}),
        ("PUT", f"{NGSI}/entities/{{id}}", lambda i: _vault(i, 1)),
        ("PATCH", f"{NGSI}/entities/{{id}}", lambda _i: attrs),
        ("DELETE", f"{NGSI}/entities/{{id}}/attrs/amount", None),
        ("DELETE", f"{NGSI}/entities/{{id}}", None),
        ("DELETE", f"{NGSI}/temporal/entities/{{id}}", None),
        ("POST", f"{NGSI}/entityOperations/update", lambda i: [_vault(i, 1)]),
        ("POST", f"{NGSI}/entityOperations/merge", lambda i: [_vault(i, 1)]),
        ("POST", f"{NGSI}/entityOperations/delete", lambda i: [i]),
        ("POST", f"{NGSI}/entityOperations/query",
         lambda i: {"type": "Query", "entities": [{"id": i, "type": "Vault"}]}),
    ]:
        _same_answer(a, method, path, body)
    # Creating an id B uses succeeds in A's tenant: no 409 tells A that B has it.
    created = a.post(f"{NGSI}/entityOperations/create", json=[_vault(B_ID, 7)])
    assert created.status_code == 201, created.text
    assert a.post(f"{NGSI}/entities", json=_vault("urn:ngsi-ld:Vault:b-2", 7)).status_code == 201
    assert a.get(f"{NGSI}/entities/{B_ID}").json()["amount"]["value"] == 7
    assert tenants.b.get(f"{NGSI}/entities/{B_ID}").json()["amount"]["value"] == 2_000_000


def test_a_cannot_name_b_tenant_and_cannot_tell_it_exists(tenants: Tenants) -> None:
    _b_writes(tenants)
    nobody = f"n{uuid.uuid4().hex[:10]}"
    for path in (f"{NGSI}/entities?type=Vault", f"{NGSI}/types", "/catalog/datasets",
                 f"{NGSI}/temporal/entities?type=Vault"):
        to_b = tenants.a.get(path, headers={"NGSILD-Tenant": tenants.tenant_b})
        to_nobody = tenants.a.get(path, headers={"NGSILD-Tenant": nobody})
        assert to_b.status_code == to_nobody.status_code == 403, (path, to_b.text)
        assert to_b.text.replace(tenants.tenant_b, "T") == to_nobody.text.replace(nobody, "T")
    write = tenants.a.post(f"{NGSI}/entities", json=_vault(UNUSED, 1),
                           headers={"NGSILD-Tenant": tenants.tenant_b})
    assert write.status_code == 403
    assert tenants.b.get(f"{NGSI}/entities/{UNUSED}").status_code == 404


def test_a_subscription_never_notifies_b_changes(tenants: Tenants) -> None:
    a = tenants.a
    for selector in ({"type": "Vault"}, {"id": B_ID, "type": "Vault"},
                     {"idPattern": ".*", "type": "Vault"}):
        made = a.post(f"{NGSI}/subscriptions", json={
            "type": "Subscription", "entities": [selector],
            "notification": {"endpoint": {"uri": f"{tenants.inbox_url}/a"}}})
        assert made.status_code == 201, made.text
    _b_writes(tenants)
    assert a.post(f"{NGSI}/entities", json=_vault("urn:ngsi-ld:Vault:a-1", 1)).status_code == 201
    assert a.post(f"{NGSI}/entities", json=_vault(B_ID, 7)).status_code == 201  # A's own copy
    deadline = time.monotonic() + 10
    while len(tenants.inbox) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # B's writes came first: any notification of theirs would be here by now
    # type and idPattern: both of A's writes; the id selector: A's B_ID only.
    assert len(tenants.inbox) == 5, tenants.inbox
    amounts = sorted(e["amount"]["value"] for body in tenants.inbox for e in body["data"])
    assert amounts == [1, 1, 7, 7, 7]  # never B's 1,000,000 or 2,000,000
    listing = a.get(f"{NGSI}/subscriptions").json()
    assert all(s["status"] == "active" for s in listing)
    assert tenants.b.get(f"{NGSI}/subscriptions?count=true").headers[
        "NGSILD-Results-Count"] == "0"
