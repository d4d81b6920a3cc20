"""Harvesting DCAT over real HTTP on loopback: another civictwin, and generated DCAT files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from civictwin.catalog import Catalogue
from civictwin.catalog.harvest import harvest
from civictwin.errors import SourceUnavailable
from civictwin.store import Store, open_store
from tests.catalog.helpers import fill_twin, good_dataset, serve_files
from tests.catalog.shacl import violations
from tests.servers import free_port, serve_twin

EX = "https://data.example.org/dataset/"
THEME = "http://publications.europa.eu/resource/authority/data-theme/"


@pytest.fixture
def source(tmp_path: Path) -> Any:
    """A second civictwin, serving its own catalogue on loopback."""
    other = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    with serve_twin(other) as url, httpx.Client(base_url=url, timeout=30) as http:
        fill_twin(http, buildings=2, meters=1)
        assert http.post("/catalog/datasets", json=good_dataset()).status_code == 201
        yield url, http
    other.close()


def test_harvest_another_twin_idempotently(client: TestClient, source: Any,
                                           specs_dir: Path) -> None:
    url, http = source
    feed = f"{url}/catalog?limit=2"  # three pages: the harvester follows hydra:next
    first = client.post("/catalog/harvests", json={"url": feed}).json()
    assert (first["pages"], first["found"], len(first["added"])) == (3, 5, 5), first
    assert first["rejected"] == [] and first["complete"]
    again = client.post("/catalog/harvests", json={"url": feed}).json()
    assert (again["added"], again["updated"], len(again["unchanged"])) == ([], [], 5)

    changed = good_dataset(keywords=["heat", "renewed"])
    assert http.post("/catalog/datasets", json=changed).status_code == 201
    third = client.post("/catalog/harvests", json={"url": feed}).json()
    assert third["updated"] == [EX + "heat-1"]
    kept = client.get(f"/catalog/datasets/{EX}heat-1").json()
    assert kept["origin"] == "harvested" and kept["source"] == feed
    assert kept["keywords"] == ["heat", "renewed"] and kept["offers"][0]["@id"]

    assert http.delete(f"/catalog/datasets/{EX}heat-1").status_code == 204
    fourth = client.post("/catalog/harvests", json={"url": feed}).json()
    assert fourth["removed"] == [EX + "heat-1"]
    assert client.get(f"/catalog/datasets/{EX}heat-1").status_code == 404
    runs = client.get("/catalog/harvests").json()
    assert [r["run"] for r in runs] == sorted((r["run"] for r in runs), reverse=True)
    assert len(runs) == 4

    exported = Graph().parse(data=client.get("/catalog?format=turtle").text, format="turtle")
    assert violations(exported, specs_dir) == []


def dcat_file() -> Graph:
    """Return a DCAT catalogue with two good datasets and three bad records."""
    g = Graph()
    agent = URIRef("https://city.example.org/")
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal("City")))
    for n, title in enumerate(["Noise map", "Cycle counts", None, "Unnamed publisher"]):
        ds = URIRef(f"{EX}file-{n}")
        g.add((ds, RDF.type, DCAT.Dataset))
        if title:
            g.add((ds, DCTERMS.title, Literal(title, lang="en")))
        g.add((ds, DCTERMS.description, Literal(f"Record {n}.", lang="en")))
        if n != 3:
            g.add((ds, DCTERMS.publisher, agent))
        g.add((ds, DCAT.theme, URIRef(THEME + "ENVI")))
        g.add((ds, DCAT.theme, URIRef("http://eurovoc.europa.eu/100141")))
        g.add((ds, DCTERMS.license, URIRef("http://publications.europa.eu/resource/"
                                           "authority/licence/CC_BY_4_0")))
    blank = BNode()
    g.add((blank, RDF.type, DCAT.Dataset))
    g.add((blank, DCTERMS.title, Literal("Anonymous")))
    return g


@pytest.mark.parametrize("suffix,fmt", [("ttl", "turtle"), ("jsonld", "json-ld"),
                                        ("rdf", "xml")])
def test_bad_records_are_reported_not_fatal(store: Store, tenant: str, tmp_path: Path,
                                            suffix: str, fmt: str) -> None:
    (tmp_path / f"dcat.{suffix}").write_text(dcat_file().serialize(format=fmt), "utf-8")
    catalogue = Catalogue(store)
    with serve_files(tmp_path) as url:
        report = harvest(catalogue, tenant, f"{url}/dcat.{suffix}")
    assert sorted(report["added"]) == [EX + "file-0", EX + "file-1"]
    rejected = {r["id"]: r["problems"] for r in report["rejected"]}
    assert rejected == {None: ["a dataset without an IRI (blank node) cannot be kept up to "
                               "date"],
                        EX + "file-2": ["title: missing (mandatory in DCAT-AP)"],
                        EX + "file-3": ["publisher: missing (mandatory in DCAT-AP)"]}
    assert any("eurovoc" in note for note in report["notes"])
    assert catalogue.get_dataset(tenant, EX + "file-0").themes == [THEME + "ENVI"]


def test_an_unreachable_source_changes_nothing(client: TestClient, store: Store,
                                               tenant: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/catalog"
    answer = client.post("/catalog/harvests", json={"url": dead})
    assert answer.status_code == 502 and answer.json()["type"].endswith("/SourceUnavailable")
    with pytest.raises(SourceUnavailable):
        harvest(Catalogue(store), tenant, dead)
    assert client.post("/catalog/harvests", json={"url": "ftp://x"}).status_code == 400
    assert client.get("/catalog/harvests").json() == []


def test_remote_json_ld_contexts_are_never_fetched(client: TestClient, tmp_path: Path) -> None:
    fetched: list[str] = []
    (tmp_path / "ctx.jsonld").write_text('{"@context": {"dct": "http://purl.org/dc/terms/"}}')
    with serve_files(tmp_path, seen=fetched) as url:
        doc = {"@context": [f"{url}/ctx.jsonld", {"dcat": str(DCAT)}], "@id": EX + "ctx",
               "@type": "dcat:Dataset", "dct:title": "Uses a remote context"}
        (tmp_path / "feed.jsonld").write_text(json.dumps(doc))
        posted = client.post("/catalog/datasets", content=json.dumps(doc),
                             headers={"Content-Type": "application/ld+json"})
        assert posted.status_code == 400 and "never fetches" in posted.json()["detail"]
        harvested = client.post("/catalog/harvests", json={"url": f"{url}/feed.jsonld"})
        assert harvested.status_code == 502 and "never fetches" in harvested.json()["detail"]
    assert fetched == ["/feed.jsonld"]  # the feed itself, never its context
