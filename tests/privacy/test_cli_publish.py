"""`civictwin privacy ...` on both stores, and releases published as NGSI-LD and DCAT."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from civictwin.catalog.catalogue import Catalogue
from civictwin.cli import app
from civictwin.config import Settings
from civictwin.privacy.offer import meter_dataset_id
from civictwin.privacy.publish import RELEASE_TYPE
from civictwin.privacy.rules import DisclosureRules
from civictwin.store import Store
from tests.privacy import city


def run(*args: str) -> Result:
    """Run `civictwin ARGS` in this process."""
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def metered(store: Store, tenant: str) -> str:
    """Write 12 meters in d1 and 2 in d2; return the store's database URL."""
    meters = [city.Meter(n, "d1" if n <= 12 else "d2", readings=city.monthly(2024, [5.0, 6.0]))
              for n in range(1, 15)]
    city.build(store, tenant, meters)
    url: str = getattr(store, "engine").url.render_as_string(hide_password=False)  # noqa: B009
    return url


def test_aggregate_releases_show_and_offer(metered: str, store: Store, tenant: str) -> None:
    made = run("privacy", "aggregate", "electricity", "--start", "2024-01-01", "--end",
               "2024-03-01", "--consumer", "urn:city", "--on-fail", "suppress", "--json",
               "--database-url", metered, "--tenant", tenant)
    assert made.exit_code == 0, made.output
    release = json.loads(made.stdout)
    statuses = {(c["keys"]["district"][-2:], c["keys"]["period"]): c["status"]
                for c in release["cells"]}
    assert statuses == {("d1", "2024-01"): "released", ("d1", "2024-02"): "released",
                        ("d2", "2024-01"): "suppressed", ("d2", "2024-02"): "suppressed"}
    listed = run("privacy", "releases", "--json", "--database-url", metered, "--tenant", tenant)
    assert [r["consumer"] for r in json.loads(listed.stdout)] == ["urn:city"]
    assert run("privacy", "releases", "--database-url", metered, "--tenant", tenant) \
        .exit_code == 0
    shown = run("privacy", "show", release["id"], "--json", "--database-url", metered,
                "--tenant", tenant)
    assert json.loads(shown.stdout)["cells"] == release["cells"]
    missing = run("privacy", "show", "urn:nothing", "--database-url", metered,
                  "--tenant", tenant)
    assert missing.exit_code == 2 and "no release urn:nothing" in missing.output
    bad = run("privacy", "aggregate", "steam", "--start", "2024-01-01", "--end", "2024-03-01",
              "--database-url", metered, "--tenant", tenant)
    assert bad.exit_code == 2 and "quantity 'steam'" in bad.output
    offered = run("privacy", "offer", "--publisher", "urn:utility", "--min-contributors", "15",
                  "--dominance-k", "0.15", "--database-url", metered, "--tenant", tenant)
    assert offered.exit_code == 0, offered.output
    dataset = Catalogue(store, Settings()).get_dataset(tenant, meter_dataset_id(tenant))
    assert DisclosureRules.from_policy(dataset.offers[0]) == \
        DisclosureRules(min_contributors=15, dominance_k=0.15)


def test_a_published_release_is_an_entity_and_a_dataset(metered: str, client: TestClient,
                                                        store: Store, tenant: str) -> None:
    made = client.post("/privacy/aggregates", json={
        "quantity": "electricity", "groupBy": ["district"], "period": None,
        "start": "2024-01-01", "end": "2024-03-01", "publish": True})
    assert made.status_code == 201, made.text
    body = made.json()
    entity = client.get(f"/ngsi-ld/v1/entities/{body['published']['entity']}",
                        headers={"Link": '<https://civictwin.org/ns/civictwin-context.jsonld>; '
                                 'rel="http://www.w3.org/ns/json-ld#context"'})
    assert entity.status_code == 200, entity.text
    doc = entity.json()
    assert doc["type"] in (RELEASE_TYPE, "AggregateRelease")
    cells = next(v for k, v in doc.items() if k.endswith("cells"))["value"]
    assert [c["status"] for c in cells] == ["merged", "merged"]  # d2 pooled with d1
    dataset = Catalogue(store, Settings()).get_dataset(tenant, body["published"]["dataset"])
    assert "at least 10 contributors" in dataset.description
    assert dataset.conforms_to[0].endswith("/algorithms/statistical-disclosure-control")
