"""`/catalog` as DCAT-AP RDF: formats, negotiation, paging, and the official SHACL shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from civictwin.catalog import Dataset, Distribution
from civictwin.catalog.rdf import HYDRA, ODRL, dataset_graph
from tests.catalog.helpers import fill_twin, good_dataset
from tests.catalog.shacl import violations

PARSERS = {"application/ld+json": "json-ld", "text/turtle": "turtle",
           "application/rdf+xml": "xml"}


def graph_of(response: Any) -> Graph:
    assert response.status_code == 200, response.text
    media = response.headers["content-type"].split(";")[0]
    return Graph().parse(data=response.text, format=PARSERS[media])


@pytest.fixture
def filled(client: TestClient) -> TestClient:
    fill_twin(client)
    assert client.post("/catalog/datasets", json=good_dataset()).status_code == 201
    return client


@pytest.mark.parametrize("fmt", ["jsonld", "turtle", "rdfxml"])
def test_the_export_conforms_to_dcat_ap(filled: TestClient, specs_dir: Path, fmt: str) -> None:
    g = graph_of(filled.get("/catalog", params={"format": fmt}))
    assert violations(g, specs_dir) == []
    datasets = set(g.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 5  # Building, Meter, their histories, the published one
    heat = URIRef("https://data.example.org/dataset/heat-1")
    assert (heat, DCTERMS.title, Literal("Warmtelevering 1", lang="nl")) in g
    offer = g.value(heat, ODRL.hasPolicy)
    assert (offer, RDF.type, ODRL.Offer) in g
    service = next(iter(g.subjects(RDF.type, DCAT.DataService)))
    assert set(g.objects(service, DCAT.servesDataset)) == datasets - {heat}
    assert str(g.value(service, DCAT.endpointURL)).endswith("/ngsi-ld/v1/")


def test_the_shapes_do_catch_what_is_missing(specs_dir: Path) -> None:
    bad = Dataset(id="urn:x:bad", title="", description="", publisher="p",
                  distributions=[Distribution(access_url="https://x.example/d", id="urn:x:d")])
    g = dataset_graph(bad, [])
    g.remove((URIRef("urn:x:bad"), DCTERMS.title, None))
    g.remove((URIRef("urn:x:bad"), DCTERMS.description, None))
    g.remove((URIRef("urn:x:d"), DCAT.accessURL, None))
    found = {(focus, path) for focus, path, _ in violations(g, specs_dir)}
    assert found == {("urn:x:bad", str(DCTERMS.title)), ("urn:x:bad", str(DCTERMS.description)),
                     ("urn:x:d", str(DCAT.accessURL))}


def test_a_bad_dataset_is_refused_naming_each_field(client: TestClient) -> None:
    bad = good_dataset(licence="not a licence", access_rights="OPEN", frequency="sometimes")
    del bad["title"], bad["description"]
    bad["distributions"][0]["media_type"] = "csv"
    answer = client.post("/catalog/datasets", json=bad)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["type"].endswith("/BadRequestData")
    assert [e["field"] for e in body["errors"]] == [
        "title", "description", "licence", "access_rights", "frequency",
        "distributions[0].media_type"]
    assert "title: missing" in body["detail"]
    assert client.get("/catalog/datasets", params={"limit": 5}).json()["total"] == 0


def test_content_negotiation_and_format_parameter(filled: TestClient) -> None:
    for accept, media in [("text/turtle", "text/turtle"),
                          ("application/rdf+xml", "application/rdf+xml"),
                          ("application/ld+json", "application/ld+json"),
                          ("application/json", "application/ld+json"),
                          ("text/html;q=0.9, text/turtle;q=0.5", "text/turtle"),
                          ("*/*", "application/ld+json")]:
        answer = filled.get("/catalog", headers={"Accept": accept})
        assert answer.headers["content-type"].startswith(media), accept
    turtle = filled.get("/catalog?format=ttl", headers={"Accept": "application/rdf+xml"})
    assert turtle.headers["content-type"].startswith("text/turtle")
    assert filled.get("/catalog", headers={"Accept": "text/html"}).status_code == 406
    assert filled.get("/catalog?format=csv").status_code == 400


def test_pages_link_to_each_other(filled: TestClient) -> None:
    seen: list[str] = []
    url: str | None = "/catalog?limit=2&format=turtle"
    while url is not None:
        g = graph_of(filled.get(url))
        catalog = next(iter(g.subjects(RDF.type, DCAT.Catalog)))
        assert int(g.value(catalog, HYDRA.totalItems)) == 5
        seen += sorted(str(d) for d in g.objects(catalog, DCAT.dataset))
        view = g.value(catalog, HYDRA.view)
        following = g.value(view, HYDRA.next)
        url = str(following).replace("http://testserver", "") if following else None
    assert len(seen) == len(set(seen)) == 5
    assert str(g.value(view, HYDRA.first)).endswith("page=1&limit=2&format=turtle")


def test_one_dataset_as_json_and_as_rdf(filled: TestClient, specs_dir: Path) -> None:
    iri = "https://data.example.org/dataset/heat-1"
    plain = filled.get(f"/catalog/datasets/{iri}")
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["keywords"] == ["heat", "district heating"]
    g = graph_of(filled.get(f"/catalog/datasets/{iri}", headers={"Accept": "text/turtle"}))
    assert violations(g, specs_dir) == []
    missing = filled.get("/catalog/datasets/https://data.example.org/none")
    assert missing.status_code == 404
    assert filled.delete(f"/catalog/datasets/{iri}").status_code == 204
    assert filled.get(f"/catalog/datasets/{iri}").status_code == 404


def test_a_dataset_can_be_published_as_turtle(client: TestClient, specs_dir: Path) -> None:
    turtle = """
    @prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
    @prefix foaf: <http://xmlns.com/foaf/0.1/> .
    <https://data.example.org/dataset/trees> a dcat:Dataset ;
        dct:title "Street trees"@en ; dct:description "Every street tree."@en ;
        dct:publisher <https://parks.example.org/> ;
        dct:license <http://publications.europa.eu/resource/authority/licence/CC0> ;
        dcat:distribution [ a dcat:Distribution ;
                            dcat:accessURL <https://parks.example.org/trees.geojson> ] .
    <https://parks.example.org/> a foaf:Agent ; foaf:name "Parks" .
    """
    answer = client.post("/catalog/datasets", content=turtle,
                         headers={"Content-Type": "text/turtle"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["publisher_name"] == "Parks"
    g = graph_of(client.get("/catalog/datasets/https://data.example.org/dataset/trees",
                            params={"format": "rdfxml"}))
    assert violations(g, specs_dir) == []
    untitled = turtle.replace('dct:title "Street trees"@en ;', "")
    refused = client.post("/catalog/datasets", content=untitled,
                          headers={"Content-Type": "text/turtle"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "title"


def test_the_openapi_description_lists_the_catalogue(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/catalog", "/catalog/datasets", "/catalog/harvests",
            "/api/3/action/{action}"} <= set(paths)
    assert set(paths["/api/3/action/{action}"]) == {"get", "post"}


def test_each_tenant_has_its_own_catalogue(filled: TestClient) -> None:
    other = {"NGSILD-Tenant": filled.headers["NGSILD-Tenant"] + "b"}
    assert filled.get("/catalog/datasets").json()["total"] == 5
    assert filled.get("/catalog/datasets", headers=other).json()["total"] == 0
    g = graph_of(filled.get("/catalog?format=turtle", headers=other))
    assert set(g.subjects(RDF.type, DCAT.Dataset)) == set()
    assert filled.get("/catalog", headers={"NGSILD-Tenant": "bad tenant!"}).status_code == 400
