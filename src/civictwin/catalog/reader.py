"""Read DCAT datasets out of RDF (Turtle, JSON-LD, RDF/XML) into the catalogue's model.

Used by the harvester and by `POST /catalog/datasets` with an RDF body. Each dataset is read
on its own: one that cannot be read or fails the checks is reported with its problems and the
others still count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF
from rdflib.term import Node
from shapely import wkt
from shapely.errors import ShapelyError

from civictwin.catalog import vocab
from civictwin.catalog.model import Dataset
from civictwin.catalog.rdf import ODRL, VCARD
from civictwin.catalog.validate import InvalidDataset, dataset_from_document
from civictwin.errors import BadRequestData

RDF_FORMATS = {"text/turtle": "turtle", "application/x-turtle": "turtle",
               "application/ld+json": "json-ld", "application/rdf+xml": "xml",
               "application/xml": "xml", "text/xml": "xml", "application/n-triples": "nt"}


@dataclass
class Reading:
    """What a graph held: the datasets read, the records refused, and what was left out."""

    datasets: list[Dataset] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_rdf(text: str | bytes, media_type: str, base: str | None = None) -> Graph:
    """Return the graph an RDF document holds; BadRequestData if it is not readable."""
    fmt = RDF_FORMATS.get(media_type.split(";")[0].strip().lower())
    if fmt is None:
        raise BadRequestData(f"media type {media_type!r} is not RDF this catalogue reads "
                             f"({', '.join(sorted(set(RDF_FORMATS)))})")
    if fmt == "json-ld":
        refuse_remote_contexts(text)
    graph = Graph()
    try:
        graph.parse(data=text, format=fmt, publicID=base)
    except Exception as exc:  # rdflib raises many kinds; all mean the document is unreadable
        raise BadRequestData(f"the {fmt} document is not readable: {exc}") from exc
    return graph


def refuse_remote_contexts(text: str | bytes) -> None:
    """Refuse a JSON-LD document whose @context would have to be fetched (or is not JSON)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BadRequestData(f"the JSON-LD document is not JSON: {exc}") from exc
    remote = _remote_context(doc)
    if remote is not None:
        raise BadRequestData(f"the JSON-LD document refers to the @context {remote!r}; the "
                             "catalogue never fetches remote contexts: send it inline (or "
                             "send Turtle or RDF/XML)")


def _remote_context(node: Any) -> str | None:
    if isinstance(node, list):
        return next((r for r in map(_remote_context, node) if r is not None), None)
    if not isinstance(node, dict):
        return None
    for key, value in node.items():
        if key in ("@context", "@import"):
            found = _context_reference(value)
            if found is not None:
                return found
        found = _remote_context(value)
        if found is not None:
            return found
    return None


def _context_reference(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return next((r for r in map(_context_reference, value) if r is not None), None)
    return _remote_context(value) if isinstance(value, dict) else None


def read_datasets(graph: Graph, origin: str, source: str | None = None) -> Reading:
    """Return every dcat:Dataset of the graph that passes the catalogue's checks."""
    reading = Reading()
    for node in sorted(set(graph.subjects(RDF.type, DCAT.Dataset)), key=str):
        if not isinstance(node, URIRef):
            reading.rejected.append({"id": None, "problems": [
                "a dataset without an IRI (blank node) cannot be kept up to date"]})
            continue
        if set(graph.predicates(node)) <= {RDF.type}:
            continue  # only referenced (e.g. by dcat:servesDataset), not described here
        doc = dataset_document(graph, node, reading.notes)
        try:
            reading.datasets.append(dataset_from_document(doc, origin, source))
        except InvalidDataset as exc:
            reading.rejected.append({"id": str(node),
                                     "problems": [str(p) for p in exc.problems]})
    return reading


def dataset_document(g: Graph, node: URIRef, notes: list[str]) -> dict[str, Any]:
    """Return the catalogue's JSON document for one dcat:Dataset node."""
    titles, descriptions = _texts(g, node, DCTERMS.title), _texts(g, node, DCTERMS.description)
    lang = "en" if "en" in titles or not titles else next(iter(titles))
    doc: dict[str, Any] = {"id": str(node), "language": lang, "title": titles or None,
                           "description": descriptions or None}
    publisher = g.value(node, DCTERMS.publisher)
    if publisher is not None:
        doc["publisher"] = str(publisher) if isinstance(publisher, URIRef) else None
        doc["publisher_name"] = str(g.value(publisher, FOAF.name) or "")
        if doc["publisher"] is None:
            doc["publisher"] = doc["publisher_name"] or None
    contact = g.value(node, DCAT.contactPoint)
    if contact is not None:
        doc["contact_point"] = _contact(g, contact)
    themes = [str(t) for t in g.objects(node, DCAT.theme)]
    doc["themes"] = sorted(t for t in themes if vocab.resolve(t, vocab.THEME_BASE,
                                                              vocab.THEMES))
    notes += [f"{node}: theme {t} is not an EU data theme; left out"
              for t in sorted(set(themes) - set(doc["themes"]))]
    doc["keywords"] = sorted({str(k) for k in g.objects(node, DCAT.keyword)})
    doc["spatial"] = _bbox(g, node)
    period = g.value(node, DCTERMS.temporal)
    if period is not None:
        doc["temporal_start"] = _text(g.value(period, DCAT.startDate))
        doc["temporal_end"] = _text(g.value(period, DCAT.endDate))
    for name, prop in (("issued", DCTERMS.issued), ("modified", DCTERMS.modified),
                       ("licence", DCTERMS.license), ("access_rights", DCTERMS.accessRights),
                       ("frequency", DCTERMS.accrualPeriodicity),
                       ("landing_page", DCAT.landingPage)):
        doc[name] = _text(g.value(node, prop))
    doc["conforms_to"] = sorted(str(s) for s in g.objects(node, DCTERMS.conformsTo))
    doc["distributions"] = [_distribution(g, d) for d in sorted(
        g.objects(node, DCAT.distribution), key=str)]
    doc["offers"] = [_policy(g, p) for p in sorted(g.objects(node, ODRL.hasPolicy), key=str)]
    return {k: v for k, v in doc.items() if v not in (None, "")}


def _texts(g: Graph, node: Node, prop: URIRef) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in g.objects(node, prop):
        if isinstance(value, Literal) and str(value).strip():
            out.setdefault(value.language or "en", str(value))
    return out


def _text(value: Node | None) -> str | None:
    return str(value) if value is not None else None


def _contact(g: Graph, node: Node) -> dict[str, Any]:
    email = _text(g.value(node, VCARD.hasEmail))
    name = g.value(node, VCARD.fn) or g.value(node, VCARD["organization-name"])
    return {k: v for k, v in {
        "name": _text(name), "email": email.removeprefix("mailto:") if email else None,
        "url": _text(g.value(node, VCARD.hasURL))}.items() if v}


def _bbox(g: Graph, node: URIRef) -> list[float] | None:
    for place in g.objects(node, DCTERMS.spatial):
        box = g.value(place, DCAT.bbox)
        if box is None:
            continue
        try:
            west, south, east, north = wkt.loads(str(box)).bounds
        except (ShapelyError, ValueError):
            return None
        return [west, south, east, north]
    return None


def _distribution(g: Graph, node: Node) -> dict[str, Any]:
    media = _text(g.value(node, DCAT.mediaType))
    doc = {
        "id": str(node) if isinstance(node, URIRef) else None,
        "access_url": _text(g.value(node, DCAT.accessURL)),
        "download_url": _text(g.value(node, DCAT.downloadURL)),
        "title": _text(g.value(node, DCTERMS.title)),
        "description": _text(g.value(node, DCTERMS.description)),
        "format": _text(g.value(node, DCTERMS.format)),
        "media_type": media.removeprefix(vocab.IANA_MEDIA_TYPES) if media else None,
        "licence": _text(g.value(node, DCTERMS.license)),
        "conforms_to": sorted(str(s) for s in g.objects(node, DCTERMS.conformsTo)) or None,
    }
    return {k: v for k, v in doc.items() if v is not None}


def _policy(g: Graph, node: Node, depth: int = 0) -> dict[str, Any]:
    """Return an ODRL node in the compact form the Dataspace Protocol uses."""
    out: dict[str, Any] = {} if isinstance(node, BNode) else {"@id": str(node)}
    kinds = [_odrl_term(t) for t in g.objects(node, RDF.type)]
    if kinds:
        out["@type"] = kinds[0] if len(kinds) == 1 else kinds
    for prop, value in sorted(g.predicate_objects(node), key=lambda pv: (str(pv[0]),
                                                                         str(pv[1]))):
        if prop == RDF.type or not str(prop).startswith(str(ODRL)):
            continue
        key = str(prop)[len(str(ODRL)):]
        if isinstance(value, BNode) and depth < 8:
            item: Any = _policy(g, value, depth + 1)
        elif isinstance(value, Literal):
            item = value.toPython()
        else:
            item = _odrl_term(value)
        if key in ("permission", "prohibition", "obligation", "duty", "constraint"):
            out.setdefault(key, []).append(item)
        else:
            out[key] = item
    return out


def _odrl_term(value: Node) -> str:
    text = str(value)
    return text[len(str(ODRL)):] if text.startswith(str(ODRL)) else text
