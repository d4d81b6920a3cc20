"""The dashboard's data space routes on both stores: who may see what, search, policy text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.dataspace.audit import AuditLog
from civictwin.store import Store
from tests.servers import loopback_settings
from tests.web.dataspace_seed import Seeded, seed


@pytest.fixture
def seeded(store: Store, tenant: str) -> Seeded:
    """The seeded data space in this test's tenant."""
    return seed(store, tenant)


@pytest.fixture
def app_client(store: Store, tenant: str) -> Iterator[TestClient]:
    """A client of a twin that requires credentials (none sent unless a test adds them), with
    this test's tenant opened as open data (its catalogue readable by anyone)."""
    settings = loopback_settings(auth_required=True, anonymous_read=(tenant,))
    with TestClient(create_app(settings, store=store)) as client:
        yield client


def test_a_closed_tenants_catalogue_needs_a_credential(store: Store, seeded: Seeded) -> None:
    settings = loopback_settings(auth_required=True)
    with TestClient(create_app(settings, store=store)) as closed:
        for path in ("/web/open/catalogue", f"/web/open/catalogue/{seeded.dataset}"):
            refused = closed.get(path, headers=as_(None, seeded.tenant))
            assert refused.status_code == 401, refused.text
            assert "is not open data" in refused.json()["detail"]
            allowed = closed.get(path, headers=as_(seeded.operator_key, seeded.tenant))
            assert allowed.status_code == 200, allowed.text
        me = closed.get("/web/open/me", headers=as_(None, seeded.tenant))
        assert me.status_code == 200 and me.json()["participant"] is None


def as_(key: str | None, tenant: str) -> dict[str, str]:
    """Return the headers of a request with `key` in `tenant` ('': the participant's own)."""
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def test_me_names_the_visitor_and_the_views_it_may_open(app_client: TestClient,
                                                        seeded: Seeded) -> None:
    anonymous = app_client.get("/web/open/me", headers=as_(None, seeded.tenant)).json()
    assert anonymous["participant"] is None and anonymous["authRequired"] is True
    assert anonymous["views"]["catalogue"]["allowed"] is True
    assert anonymous["views"]["audit"]["allowed"] is False
    assert "sign in" in anonymous["views"]["audit"]["reason"]
    consumer = app_client.get("/web/open/me", headers=as_(seeded.consumer_key, "")).json()
    assert consumer["participant"]["id"] == seeded.consumer_id
    assert consumer["views"]["agreements"]["allowed"] is True
    assert consumer["views"]["audit"]["allowed"] is False
    assert "operator" in consumer["views"]["audit"]["reason"]
    operator = app_client.get("/web/open/me", headers=as_(seeded.operator_key,
                                                          seeded.tenant)).json()
    assert all(v["allowed"] for v in operator["views"].values())
    bad = app_client.get("/web/open/me", headers=as_("ctk_nobody.nothing", seeded.tenant))
    assert bad.status_code == 401


def test_the_catalogue_search_finds_datasets_by_every_word(app_client: TestClient,
                                                           seeded: Seeded) -> None:
    def search(q: str) -> list[str]:
        answer = app_client.get("/web/open/catalogue", params={"q": q},
                                headers=as_(None, seeded.tenant))
        assert answer.status_code == 200
        return [d["id"] for d in answer.json()["datasets"]]

    assert search("HEAT lumen") == [seeded.dataset]
    assert search("energy") == [seeded.dataset]  # a keyword
    assert search("heat nowhere") == []
    assert seeded.dataset in search("")


def test_a_dataset_page_gives_its_policy_in_plain_language(app_client: TestClient,
                                                           seeded: Seeded) -> None:
    answer = app_client.get(f"/web/open/catalogue/{seeded.dataset}",
                            headers=as_(None, seeded.tenant))
    assert answer.status_code == 200
    body = answer.json()
    assert body["title"] == "Heat demand of Lumen"
    [policy] = body["policies"]
    assert policy["error"] is None
    assert "climate-research" in policy["text"] or "climate research" in policy["text"]
    assert "It is given by City of Lumen" in policy["text"]  # by name, not by IRI
    assert "Anything not permitted here is refused." in policy["text"]
    missing = app_client.get("/web/open/catalogue/urn:nothing", headers=as_(None, seeded.tenant))
    assert missing.status_code == 404


def test_agreements_show_each_participant_its_own(app_client: TestClient,
                                                  seeded: Seeded) -> None:
    mine = app_client.get("/web/api/agreements", headers=as_(seeded.consumer_key, ""))
    assert mine.status_code == 200
    [negotiation] = mine.json()["negotiations"]
    assert negotiation["state"] == "FINALIZED"
    assert negotiation["agreementId"] == seeded.agreement
    assert negotiation["counterpartyName"] == "Lumen Climate Institute"
    assert "climate" in negotiation["policyText"]
    [transfer] = mine.json()["transfers"]
    assert transfer["state"] == "STARTED" and "dataAddress" not in transfer
    other = app_client.get("/web/api/agreements", headers=as_(seeded.other_consumer_key, ""))
    assert other.json()["negotiations"] == [] and other.json()["transfers"] == []
    operator = app_client.get("/web/api/agreements",
                              headers=as_(seeded.operator_key, seeded.tenant))
    assert [n["agreementId"] for n in operator.json()["negotiations"]] == [seeded.agreement]
    assert operator.json()["states"] == {"FINALIZED": 1}
    elsewhere = app_client.get("/web/api/agreements", headers=as_(seeded.operator_key, "nope"))
    assert elsewhere.json()["negotiations"] == []
    assert app_client.get("/web/api/agreements",
                          headers=as_(None, seeded.tenant)).status_code == 401


def test_the_consent_overview_is_for_providers_and_operators(app_client: TestClient,
                                                             seeded: Seeded) -> None:
    answer = app_client.get("/web/api/consents", headers=as_(seeded.provider_key, ""))
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == seeded.consents
    assert body["byStatus"] == {"given": 2, "withdrawn": 1}
    assert body["givenByPurpose"] == {"energy planning": 1, "research": 1}
    refused = app_client.get("/web/api/consents", headers=as_(seeded.consumer_key, ""))
    assert refused.status_code == 403
    assert "provider" in refused.json()["detail"]


def test_the_audit_views_are_for_operators_and_verify_the_chain(
        app_client: TestClient, seeded: Seeded, store: Store) -> None:
    operator = as_(seeded.operator_key, seeded.tenant)
    page = app_client.get("/web/api/audit", headers=operator)
    assert page.status_code == 200
    expected = AuditLog(store).count(seeded.tenant)
    assert page.json()["total"] == expected > 0
    actions = {e["action"] for e in page.json()["entries"]}
    assert any(a.startswith("consent") for a in actions)
    verified = app_client.get("/web/api/audit/verify", headers=operator).json()
    assert verified["ok"] is True and verified["entries"] == expected
    assert verified["head"] == page.json()["entries"][0]["hash"]
    for key in (seeded.consumer_key, seeded.provider_key):
        refused = app_client.get("/web/api/audit/verify", headers=as_(key, ""))
        assert refused.status_code == 403
    assert app_client.get("/web/api/audit", headers=as_(None, seeded.tenant)).status_code == 401


def test_a_participant_may_not_look_into_another_tenant(app_client: TestClient,
                                                        seeded: Seeded) -> None:
    answer = app_client.get("/web/api/consents", headers=as_(seeded.provider_key, "elsewhere"))
    assert answer.status_code == 403
