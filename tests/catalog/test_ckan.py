"""The CKAN-compatible action API, read with the real ckanapi client over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import ckanapi
import httpx
import pytest
import requests

from civictwin.catalog import Catalogue
from civictwin.store import Store
from tests.catalog.helpers import good_dataset
from tests.servers import serve_twin

PUBLISHERS = [("urn:civictwin:participant:heatco", "HeatCo"),
              ("urn:civictwin:participant:city", "City of Lumen")]


@pytest.fixture
def ckan(store: Store, tenant: str) -> Iterator[ckanapi.RemoteCKAN]:
    """A twin on loopback with five published datasets, and a ckanapi client for it."""
    catalogue = Catalogue(store)
    for n in range(1, 6):
        publisher, name = PUBLISHERS[0 if n in (1, 2, 4) else 1]
        keywords = ["heat", "district heating"] if n <= 3 else ["air quality", "no2"]
        themes = ["ENER"] if n <= 3 else ["ENVI"]
        catalogue.publish(tenant, good_dataset(
            n, publisher=publisher, publisher_name=name, keywords=keywords, themes=themes,
            title={"en": f"{'Heat' if n <= 3 else 'Air'} dataset {n}"},
            description={"en": "Deliveries per district." if n <= 3 else "Hourly NO2."},
            modified=f"2025-02-0{n}T00:00:00Z"))
    catalogue.refresh(tenant)  # the twin's own datasets: none, the tenant has no entities
    session = requests.Session()
    session.headers["NGSILD-Tenant"] = tenant
    with serve_twin(store) as url:
        client = ckanapi.RemoteCKAN(url, session=session)
        yield client
    session.close()


def test_status_and_listing(ckan: ckanapi.RemoteCKAN) -> None:
    status = ckan.action.status_show()
    assert status["ckan_version"].startswith("2.") and status["site_url"].startswith("http")
    names = ckan.action.package_list()
    assert len(names) == 5 and names == sorted(names)
    assert ckan.action.package_list(limit=2, offset=1) == names[1:3]
    assert ckan.action.organization_list() == ["city", "heatco"]
    orgs = ckan.action.organization_list(all_fields=True, sort="package_count desc")
    assert [(o["name"], o["title"], o["package_count"]) for o in orgs] == [
        ("heatco", "HeatCo", 3), ("city", "City of Lumen", 2)]


def test_package_search_text_filters_sort_and_facets(ckan: ckanapi.RemoteCKAN) -> None:
    found = ckan.action.package_search(q="heating", sort="metadata_modified desc", rows=2)
    assert found["count"] == 3
    assert [p["title"] for p in found["results"]] == ["Heat dataset 3", "Heat dataset 2"]
    page2 = ckan.action.package_search(q="heating", sort="metadata_modified desc", rows=2,
                                       start=2)
    assert [p["title"] for p in page2["results"]] == ["Heat dataset 1"]
    filtered = ckan.action.package_search(fq='organization:heatco tags:"district heating"')
    assert sorted(p["title"] for p in filtered["results"]) == ["Heat dataset 1",
                                                               "Heat dataset 2"]
    negated = ckan.action.package_search(q="groups:envi", fq="-organization:city")
    assert [p["title"] for p in negated["results"]] == ["Air dataset 4"]
    faceted = ckan.action.package_search(**{
        "facet.field": '["organization", "tags", "res_format", "groups"]', "rows": 0})
    assert faceted["count"] == 5 and faceted["results"] == []
    assert faceted["facets"]["organization"] == {"heatco": 3, "city": 2}
    assert faceted["facets"]["tags"]["no2"] == 2
    assert faceted["facets"]["res_format"] == {"CSV": 5}
    items = faceted["search_facets"]["groups"]["items"]
    assert {(i["name"], i["count"]) for i in items} == {("ener", 3), ("envi", 2)}
    by_title = ckan.action.package_search(sort="title_string asc", rows=5)
    assert [p["title"] for p in by_title["results"]][:2] == ["Air dataset 4", "Air dataset 5"]


def test_package_show_by_name_id_or_iri(ckan: ckanapi.RemoteCKAN) -> None:
    iri = "https://data.example.org/dataset/heat-2"
    shown = ckan.action.package_show(id=iri)
    assert shown["title"] == "Heat dataset 2" and shown["organization"]["name"] == "heatco"
    assert ckan.action.package_show(id=shown["name"])["id"] == shown["id"]
    assert ckan.action.package_show(id=shown["id"])["name"] == shown["name"]
    resource = shown["resources"][0]
    assert (resource["format"], resource["mimetype"], resource["url"]) == (
        "CSV", "text/csv", "https://data.example.org/heat.csv")
    extras = {e["key"]: e["value"] for e in shown["extras"]}
    assert extras["uri"] == iri and extras["access_rights"].endswith("/RESTRICTED")
    assert shown["license_id"] == "CC_BY_4_0" and shown["isopen"]


def test_errors_come_in_ckan_form(ckan: ckanapi.RemoteCKAN) -> None:
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="no-such-package")
    with pytest.raises(ckanapi.ValidationError) as caught:
        ckan.action.package_show()
    assert caught.value.error_dict["id"] == ["Missing value"]
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(sort="colour desc")
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(fq="colour:red")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_search(rows="many")


def test_get_requests_and_the_short_path(ckan: ckanapi.RemoteCKAN) -> None:
    base = ckan.address
    tenant = ckan.session.headers["NGSILD-Tenant"]
    with httpx.Client(base_url=base, headers={"NGSILD-Tenant": tenant}) as http:
        answer = http.get("/api/action/package_search", params={
            "q": "air", "facet.field": '["tags"]'}).json()
        assert answer["success"] and answer["result"]["count"] == 2
        assert answer["help"].endswith("help_show?name=package_search")
        unknown = http.get("/api/3/action/package_create")
        assert unknown.status_code == 400 and unknown.json()["success"] is False
