"""HTTP plumbing of the catalogue's routers: the app's Catalogue and RDF negotiation."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from civictwin.catalog import rdf
from civictwin.catalog.catalogue import Catalogue
from civictwin.errors import BadRequestData, NotAcceptable

FORMATS = {"jsonld": "jsonld", "json-ld": "jsonld", "turtle": "turtle", "ttl": "turtle",
           "rdfxml": "rdfxml", "rdf": "rdfxml", "xml": "rdfxml", "json": "json"}
OFFERED = {"application/ld+json": "jsonld", "text/turtle": "turtle",
           "application/rdf+xml": "rdfxml", "application/json": "json"}


def catalogue_of(request: Request) -> Catalogue:
    """Return the app's catalogue, made on first use."""
    found: Catalogue | None = getattr(request.app.state, "catalogue", None)
    if found is None:
        found = Catalogue(request.app.state.store, request.app.state.settings)
        request.app.state.catalogue = found
    return found


def choose_format(request: Request, given: str | None, plain_json: str = "jsonld") -> str:
    """Return the format `?format=` or else the Accept header asks for.

    `plain_json` is what application/json and */* mean: JSON-LD for the catalogue, the
    catalogue's own JSON form ("json") for one dataset.
    """
    if given is not None:
        if given.lower() not in FORMATS:
            raise BadRequestData(f"format={given!r}: expected one of {', '.join(FORMATS)}")
        return FORMATS[given.lower()]
    best: tuple[float, str] | None = None
    header = request.headers.get("Accept", "*/*")
    for position, part in enumerate(header.split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        choice = "json" if media in ("*/*", "application/*") else OFFERED.get(media)
        if choice == "json":
            choice = plain_json
        if choice and quality > 0 and (best is None or quality - position * 1e-6 > best[0]):
            best = (quality - position * 1e-6, choice)
    if best is None:
        raise NotAcceptable(f"Accept {header!r}: the catalogue offers {', '.join(OFFERED)}")
    return best[1]


def rdf_response(graph: Any, fmt: str) -> Response:
    """Return a graph serialised in `fmt` with its media type."""
    return Response(rdf.serialise(graph, fmt), media_type=rdf.MEDIA_TYPES[fmt])
