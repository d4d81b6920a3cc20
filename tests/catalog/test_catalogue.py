"""The catalogue's model and store: publish, read back, page, derive from the twin."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from civictwin.catalog import Catalogue, Dataset, InvalidDataset
from civictwin.config import Settings
from civictwin.errors import Conflict, ResourceNotFound
from civictwin.store import Store
from tests.catalog.helpers import DEFAULT_VOCAB, fill_twin, good_dataset

THEMES = "http://publications.europa.eu/resource/authority/data-theme/"


def test_a_published_dataset_reads_back_normalised(store: Store, tenant: str) -> None:
    catalogue = Catalogue(store)
    stored = catalogue.publish(tenant, good_dataset())
    found = catalogue.get_dataset(tenant, stored.id)
    assert found == stored
    assert found.title == "District heating deliveries 1"
    assert found.title_translations == {"nl": "Warmtelevering 1"}
    assert found.themes == [THEMES + "ENER", THEMES + "REGI"]
    assert found.licence == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"
    assert found.distributions[0].id == stored.id + "#distribution-1"
    assert found.offers[0]["@id"] == "urn:uuid:offer-heat-1"


def test_put_dataset_replaces_by_id_and_lists_in_id_order(store: Store, tenant: str) -> None:
    catalogue = Catalogue(store, Settings(catalog_refresh_seconds=3600))
    for n in (3, 1, 2):
        catalogue.publish(tenant, good_dataset(n))
    first = catalogue.get_dataset(tenant, "https://data.example.org/dataset/heat-1")
    first.keywords = ["changed"]
    catalogue.put_dataset(tenant, first)
    page = catalogue.list_datasets(tenant, limit=2, offset=1)
    assert [d.id[-6:] for d in page] == ["heat-2", "heat-3"]
    assert catalogue.get_dataset(tenant, first.id).keywords == ["changed"]
    assert catalogue.page(tenant, 10, 0)[1] == 3


def test_unknown_dataset_is_not_found_and_tenants_are_apart(store: Store, tenant: str) -> None:
    catalogue = Catalogue(store)
    catalogue.publish(tenant, good_dataset())
    with pytest.raises(ResourceNotFound):
        catalogue.get_dataset(tenant + "x", "https://data.example.org/dataset/heat-1")


def test_a_bad_dataset_names_every_problem_and_stores_nothing(store: Store,
                                                               tenant: str) -> None:
    catalogue = Catalogue(store)
    bad = good_dataset(title=" ", licence="CC BY 4.0", themes=["WEATHER"], issued="yesterday",
                       temporal="yes", colour="blue")
    del bad["description"]
    bad["distributions"][0]["access_url"] = "heat.csv"
    with pytest.raises(InvalidDataset) as caught:
        catalogue.publish(tenant, bad)
    fields = {p.field for p in caught.value.problems}
    assert fields == {"title", "description", "licence", "themes[0]", "issued",
                      "distributions[0].access_url", "temporal", "colour"}
    assert catalogue.rows.get(tenant, bad["id"]) is None


def test_offers_are_checked_as_odrl(store: Store, tenant: str) -> None:
    catalogue = Catalogue(store)
    offer = {"@id": "urn:uuid:o", "@type": "Offer", "permission": [{"action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "eq"}]}]}
    with pytest.raises(InvalidDataset) as caught:
        catalogue.publish(tenant, good_dataset(offers=[offer, {"@type": "Offer"}]))
    assert [p.field for p in caught.value.problems] == ["offers[0]", "offers[1].@id"]
    assert "rightOperand" in caught.value.problems[0].problem


def test_the_twin_describes_itself(client: TestClient, store: Store, tenant: str) -> None:
    fill_twin(client)
    catalogue = Catalogue(store)
    done = catalogue.refresh(tenant)
    assert (done.datasets, done.history) == (2, 2)  # every write is history
    key = tenant or "default"
    building = catalogue.get_dataset(tenant, f"urn:civictwin:dataset:{key}:Building")
    assert building.ngsi_types == [DEFAULT_VOCAB + "Building"] and not building.temporal
    assert "3 Building entities" in building.description
    assert building.spatial == pytest.approx([4.31, 50.81, 4.33, 50.83])
    assert {d.media_type for d in building.distributions} == {"application/ld+json",
                                                             "application/geo+json"}
    history = catalogue.get_dataset(tenant, f"urn:civictwin:dataset:{key}:Meter:history")
    assert history.temporal and history.ngsi_tenant == tenant
    assert history.temporal_start == "2025-01-01T00:00:00.000000Z"
    assert history.temporal_end == "2025-01-03T00:00:00.000000Z"
    served = catalogue.services(tenant)[0].serves_dataset
    assert building.id in served and history.id in served


def test_a_refresh_keeps_offers_and_drops_types_that_went(client: TestClient, store: Store,
                                                          tenant: str) -> None:
    fill_twin(client, meters=0)
    catalogue = Catalogue(store)
    catalogue.refresh(tenant)
    key = tenant or "default"
    building = catalogue.get_dataset(tenant, f"urn:civictwin:dataset:{key}:Building")
    building.offers = [{"@id": "urn:uuid:offer-b", "@type": "Offer",
                        "permission": [{"action": "use"}]}]
    building.access_rights = "RESTRICTED"
    catalogue.put_dataset(tenant, building)
    assert client.post("/ngsi-ld/v1/entities", json={
        "id": "urn:ngsi-ld:Sensor:1", "type": "Sensor"}).status_code == 201
    catalogue.refresh(tenant)
    kept = catalogue.get_dataset(tenant, building.id)
    assert kept.issued == building.issued is not None  # first derived, not last refreshed
    assert kept.offers[0]["@id"] == "urn:uuid:offer-b"
    assert kept.access_rights.endswith("/RESTRICTED")
    for n in (1, 2, 3):
        assert client.delete(f"/ngsi-ld/v1/entities/urn:ngsi-ld:Building:{n}").status_code == 204
    catalogue.refresh(tenant)
    with pytest.raises(ResourceNotFound):
        catalogue.get_dataset(tenant, building.id)
    assert catalogue.get_dataset(tenant, f"urn:civictwin:dataset:{key}:Sensor")


def test_published_ids_may_not_take_over_derived_ones(client: TestClient, store: Store,
                                                      tenant: str) -> None:
    fill_twin(client, meters=0)
    catalogue = Catalogue(store)
    catalogue.refresh(tenant)
    key = tenant or "default"
    with pytest.raises(Conflict):
        catalogue.publish(tenant, good_dataset(id=f"urn:civictwin:dataset:{key}:Building"))
    with pytest.raises(Conflict):
        catalogue.delete_dataset(tenant, f"urn:civictwin:dataset:{key}:Building")


def test_dataset_json_round_trips() -> None:
    dataset = Dataset(id="urn:x:1", title="t", description="d", publisher="p")
    assert Dataset.from_json(dataset.to_json()) == dataset


def test_stale_reads_refresh_in_the_background(client: TestClient, store: Store,
                                               tenant: str) -> None:
    catalogue = Catalogue(store, Settings(catalog_refresh_seconds=0))
    assert catalogue.list_datasets(tenant) == []  # the first read derives at once
    fill_twin(client, meters=0)
    catalogue.list_datasets(tenant)  # stale: answered from the store, refreshed in a thread
    for thread in threading.enumerate():
        if thread.name.startswith("catalogue-refresh-"):
            thread.join(30)
    key = tenant or "default"
    assert catalogue.rows.get(tenant, f"urn:civictwin:dataset:{key}:Building") is not None
