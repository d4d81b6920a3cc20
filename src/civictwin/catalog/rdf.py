"""Write the catalogue as DCAT-AP 3.0.1 RDF with rdflib: JSON-LD, Turtle or RDF/XML.

Every node that a DCAT-AP shape constrains with `sh:class` is typed with exactly that class
(a licence is a dct:LicenseDocument, a format a dct:MediaTypeOrExtent, a theme a skos:Concept
with its label), so the official shapes validate the export without any vocabulary's class
hierarchy. A page of a large catalogue is a Hydra partial collection view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD
from rdflib.term import Node

from civictwin.catalog import vocab
from civictwin.catalog.model import DataService, Dataset, Distribution
from civictwin.catalog.validate import parse_moment

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GEOSPARQL = Namespace("http://www.opengis.net/ont/geosparql#")
PREFIXES = {"dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "vcard": VCARD, "odrl": ODRL,
            "hydra": HYDRA, "skos": SKOS, "xsd": XSD, "locn": LOCN, "geo": GEOSPARQL}
LANGUAGE_BASE = vocab.AUTHORITY + "language/"
MEDIA_TYPES = {"jsonld": "application/ld+json", "turtle": "text/turtle",
               "rdfxml": "application/rdf+xml"}
RDFLIB_FORMATS = {"jsonld": "json-ld", "turtle": "turtle", "rdfxml": "xml"}

# The ODRL terms a Dataspace Protocol offer uses in compact form; an offer is read with this
# bundled context (never a remote one) to put it into the graph.
ODRL_CONTEXT: dict[str, Any] = {
    "@vocab": str(ODRL), "odrl": str(ODRL), "uid": "@id",
    "action": {"@type": "@vocab"}, "leftOperand": {"@type": "@vocab"},
    "operator": {"@type": "@vocab"}, "target": {"@type": "@id"},
    "assigner": {"@type": "@id"}, "assignee": {"@type": "@id"},
}


@dataclass(frozen=True)
class CataloguePage:
    """What one page of the catalogue shows."""

    id: str
    title: str
    description: str
    publisher: str
    publisher_name: str
    licence: str | None
    datasets: list[Dataset]
    services: list[DataService]
    total: int
    page_url: str
    first_url: str
    last_url: str
    next_url: str | None
    previous_url: str | None
    modified: str | None = None


def catalogue_graph(page: CataloguePage) -> Graph:
    """Return the graph of one catalogue page: catalogue, datasets, services, paging."""
    g = _graph()
    cat = URIRef(page.id)
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal(page.title, lang="en")))
    g.add((cat, DCTERMS.description, Literal(page.description, lang="en")))
    g.add((cat, DCTERMS.publisher, _agent(g, page.publisher, page.publisher_name)))
    g.add((cat, DCAT.themeTaxonomy, _theme_scheme(g)))
    g.add((cat, DCTERMS.language, _typed(g, LANGUAGE_BASE + "ENG", DCTERMS.LinguisticSystem)))
    if page.licence:
        g.add((cat, DCTERMS.license, _typed(g, page.licence, DCTERMS.LicenseDocument)))
    if page.modified:
        _date(g, cat, DCTERMS.modified, page.modified)
    listed = {d.id for d in page.datasets}
    known = {s.id for s in page.services}
    for dataset in page.datasets:
        g.add((cat, DCAT.dataset, add_dataset(g, dataset, known)))
    for service in page.services:
        g.add((cat, DCAT.service, add_service(g, service, listed)))
    view = URIRef(page.page_url)
    g.add((cat, HYDRA.totalItems, Literal(page.total, datatype=XSD.nonNegativeInteger)))
    g.add((cat, HYDRA.view, view))
    g.add((view, RDF.type, HYDRA.PartialCollectionView))
    g.add((view, HYDRA.first, URIRef(page.first_url)))
    g.add((view, HYDRA.last, URIRef(page.last_url)))
    if page.next_url:
        g.add((view, HYDRA.next, URIRef(page.next_url)))
    if page.previous_url:
        g.add((view, HYDRA.previous, URIRef(page.previous_url)))
    return g


def dataset_graph(dataset: Dataset, services: list[DataService]) -> Graph:
    """Return the graph of one dataset with the services its distributions go through."""
    g = _graph()
    add_dataset(g, dataset, {s.id for s in services})
    used = {d.access_service for d in dataset.distributions}
    for service in services:
        if service.id in used:
            add_service(g, service, {dataset.id})
    return g


def serialise(g: Graph, fmt: str) -> str:
    """Return the graph as text in `fmt` (jsonld, turtle or rdfxml)."""
    if fmt == "jsonld":
        context = {k: str(v) for k, v in PREFIXES.items()}
        return g.serialize(format="json-ld", context=context, auto_compact=True)
    return g.serialize(format=RDFLIB_FORMATS[fmt])


def add_dataset(g: Graph, d: Dataset, services: set[str]) -> URIRef:
    """Add a dataset with its distributions, agents and offers; return its node.

    A distribution names its access service only if that service is in `services` (and so
    described in the same graph).
    """
    node = URIRef(d.id)
    g.add((node, RDF.type, DCAT.Dataset))
    for lang, text in d.all_titles().items():
        g.add((node, DCTERMS.title, Literal(text, lang=lang)))
    for lang, text in d.all_descriptions().items():
        g.add((node, DCTERMS.description, Literal(text, lang=lang)))
    g.add((node, DCTERMS.identifier, Literal(d.id)))
    g.add((node, DCTERMS.publisher, _agent(g, d.publisher, d.publisher_name)))
    if d.contact_point is not None:
        g.add((node, DCAT.contactPoint, _contact(g, d)))
    for theme in d.themes:
        g.add((node, DCAT.theme, _concept(g, theme, vocab.THEME_BASE, vocab.THEMES)))
    for keyword in d.keywords:
        g.add((node, DCAT.keyword, Literal(keyword, lang=d.language)))
    if d.spatial:
        g.add((node, DCTERMS.spatial, _location(g, d.spatial)))
    if d.temporal_start or d.temporal_end:
        g.add((node, DCTERMS.temporal, _period(g, d.temporal_start, d.temporal_end)))
    for name, value in ((DCTERMS.issued, d.issued), (DCTERMS.modified, d.modified)):
        if value:
            _date(g, node, name, value)
    if d.licence:
        g.add((node, DCTERMS.license, _typed(g, d.licence, DCTERMS.LicenseDocument)))
    if d.access_rights:
        rights = _typed(g, d.access_rights, DCTERMS.RightsStatement)
        g.add((rights, SKOS.prefLabel, Literal(vocab.label(
            d.access_rights, vocab.ACCESS_RIGHT_BASE, vocab.ACCESS_RIGHTS), lang="en")))
        g.add((node, DCTERMS.accessRights, rights))
    for standard in d.conforms_to:
        g.add((node, DCTERMS.conformsTo, _typed(g, standard, DCTERMS.Standard)))
    if d.frequency:
        g.add((node, DCTERMS.accrualPeriodicity, _typed(g, d.frequency, DCTERMS.Frequency)))
    if d.landing_page:
        g.add((node, DCAT.landingPage, _typed(g, d.landing_page, FOAF.Document)))
    g.add((node, DCTERMS.language, _typed(g, LANGUAGE_BASE + _language_code(d.language),
                                          DCTERMS.LinguisticSystem)))
    for dist in d.distributions:
        g.add((node, DCAT.distribution, _distribution(g, dist, services)))
    for offer in d.offers:
        g.add((node, ODRL.hasPolicy, _offer(g, offer)))
    return node


def add_service(g: Graph, s: DataService, listed: set[str]) -> URIRef:
    """Add a data service, naming the datasets it serves among `listed`; return its node."""
    node = URIRef(s.id)
    g.add((node, RDF.type, DCAT.DataService))
    g.add((node, DCTERMS.title, Literal(s.title, lang="en")))
    if s.description:
        g.add((node, DCTERMS.description, Literal(s.description, lang="en")))
    g.add((node, DCAT.endpointURL, URIRef(s.endpoint_url)))
    if s.endpoint_description:
        g.add((node, DCAT.endpointDescription, URIRef(s.endpoint_description)))
    for served in s.serves_dataset:
        if served in listed:
            g.add((node, DCAT.servesDataset, URIRef(served)))
    for standard in s.conforms_to:
        g.add((node, DCTERMS.conformsTo, _typed(g, standard, DCTERMS.Standard)))
    if s.licence:
        g.add((node, DCTERMS.license, _typed(g, s.licence, DCTERMS.LicenseDocument)))
    if s.access_rights:
        g.add((node, DCTERMS.accessRights, _typed(g, s.access_rights,
                                                  DCTERMS.RightsStatement)))
    if s.publisher:
        g.add((node, DCTERMS.publisher, _agent(g, s.publisher, s.publisher_name)))
    return node


def agent_iri(publisher: str) -> str:
    """Return the IRI of a publisher given as a participant id or an IRI."""
    return publisher if ":" in publisher else f"urn:civictwin:participant:{publisher}"


def _graph() -> Graph:
    g = Graph(bind_namespaces="none")
    for prefix, namespace in PREFIXES.items():
        g.bind(prefix, namespace)
    return g


def _typed(g: Graph, iri: str, kind: URIRef) -> URIRef:
    node = URIRef(iri)
    g.add((node, RDF.type, kind))
    return node


def _agent(g: Graph, publisher: str, name: str) -> URIRef:
    node = _typed(g, agent_iri(publisher), FOAF.Agent)
    g.add((node, FOAF.name, Literal(name or publisher)))
    return node


def _contact(g: Graph, d: Dataset) -> Node:
    assert d.contact_point is not None
    node = BNode()
    g.add((node, RDF.type, VCARD.Kind))
    g.add((node, VCARD.fn, Literal(d.contact_point.name)))
    if d.contact_point.email:
        g.add((node, VCARD.hasEmail, URIRef(f"mailto:{d.contact_point.email}")))
    if d.contact_point.url:
        g.add((node, VCARD.hasURL, URIRef(d.contact_point.url)))
    return node


def _concept(g: Graph, iri: str, base: str, codes: dict[str, str]) -> URIRef:
    node = _typed(g, iri, SKOS.Concept)
    g.add((node, SKOS.prefLabel, Literal(vocab.label(iri, base, codes), lang="en")))
    g.add((node, SKOS.inScheme, URIRef(base.rstrip("/"))))
    return node


def _theme_scheme(g: Graph) -> URIRef:
    node = _typed(g, vocab.THEME_BASE.rstrip("/"), SKOS.ConceptScheme)
    g.add((node, DCTERMS.title, Literal("Data theme", lang="en")))
    return node


def _location(g: Graph, bbox: list[float]) -> Node:
    west, south, east, north = bbox
    wkt = (f"POLYGON(({west} {south},{east} {south},{east} {north},{west} {north},"
           f"{west} {south}))")
    node = BNode()
    g.add((node, RDF.type, DCTERMS.Location))
    g.add((node, DCAT.bbox, Literal(wkt, datatype=GEOSPARQL.wktLiteral)))
    return node


def _period(g: Graph, start: str | None, end: str | None) -> Node:
    node = BNode()
    g.add((node, RDF.type, DCTERMS.PeriodOfTime))
    if start:
        _date(g, node, DCAT.startDate, start)
    if end:
        _date(g, node, DCAT.endDate, end)
    return node


def _date(g: Graph, node: Node, prop: URIRef, value: str) -> None:
    moment = parse_moment(value)
    if moment is None:
        g.add((node, prop, Literal(value)))
    elif len(value) == 10:
        g.add((node, prop, Literal(value, datatype=XSD.date)))
    else:
        g.add((node, prop, Literal(moment.isoformat(), datatype=XSD.dateTime)))


def _distribution(g: Graph, dist: Distribution, services: set[str]) -> Node:
    node = URIRef(dist.id) if dist.id else BNode()
    g.add((node, RDF.type, DCAT.Distribution))
    g.add((node, DCAT.accessURL, URIRef(dist.access_url)))
    if dist.download_url:
        g.add((node, DCAT.downloadURL, URIRef(dist.download_url)))
    if dist.title:
        g.add((node, DCTERMS.title, Literal(dist.title, lang="en")))
    if dist.description:
        g.add((node, DCTERMS.description, Literal(dist.description, lang="en")))
    if dist.format:
        g.add((node, DCTERMS.format, _typed(g, dist.format, DCTERMS.MediaTypeOrExtent)))
    if dist.media_type:
        g.add((node, DCAT.mediaType, _typed(g, vocab.IANA_MEDIA_TYPES + dist.media_type,
                                            DCTERMS.MediaType)))
    if dist.licence:
        g.add((node, DCTERMS.license, _typed(g, dist.licence, DCTERMS.LicenseDocument)))
    if dist.access_service in services:
        g.add((node, DCAT.accessService, URIRef(str(dist.access_service))))
    for standard in dist.conforms_to:
        g.add((node, DCTERMS.conformsTo, _typed(g, standard, DCTERMS.Standard)))
    return node


def _offer(g: Graph, offer: dict[str, Any]) -> URIRef:
    doc = {k: v for k, v in offer.items() if k != "@context"}
    doc["@context"] = ODRL_CONTEXT
    g += Graph().parse(data=json.dumps(doc), format="json-ld")  # keeps g's prefixes
    node = URIRef(offer["@id"])
    g.add((node, RDF.type, ODRL.Offer))
    return node


def _language_code(tag: str) -> str:
    return _ISO_639_3.get(tag.split("-")[0].lower(), "MUL")


_ISO_639_3 = {"en": "ENG", "nl": "NLD", "fr": "FRA", "de": "DEU", "es": "SPA", "it": "ITA",
              "pt": "POR", "da": "DAN", "sv": "SWE", "fi": "FIN", "pl": "POL", "cs": "CES",
              "el": "ELL", "hu": "HUN", "ro": "RON", "bg": "BUL", "sk": "SLK", "sl": "SLV",
              "hr": "HRV", "et": "EST", "lv": "LAV", "lt": "LIT", "mt": "MLT", "ga": "GLE",
              "no": "NOR", "ca": "CAT", "eu": "EUS"}
