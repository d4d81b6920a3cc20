"""Shared test data for the catalogue: a small twin and datasets good and bad."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx

E = "/ngsi-ld/v1/entities"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def fill_twin(client: httpx.Client, buildings: int = 3, meters: int = 2) -> None:
    """Create buildings with footprints and meters with a few days of readings."""
    for n in range(1, buildings + 1):
        body = {"id": f"urn:ngsi-ld:Building:{n}", "type": "Building",
                "category": {"type": "Property", "value": ["residential"]},
                "address": {"type": "Property", "value": {"addressLocality": "Lumen"}},
                "floorsAboveGround": {"type": "Property", "value": n + 2},
                "location": {"type": "GeoProperty", "value": {
                    "type": "Point", "coordinates": [4.30 + n / 100, 50.80 + n / 100]}}}
        assert client.post(E, json=body).status_code == 201
    for n in range(1, meters + 1):
        meter = f"urn:ngsi-ld:Meter:{n}"
        body = {"id": meter, "type": "Meter", "power": {
            "type": "Property", "value": 1.0, "observedAt": "2025-01-01T00:00:00Z"}}
        assert client.post(E, json=body).status_code == 201
        for day in (2, 3):
            done = client.patch(f"{E}/{meter}/attrs/power", json={
                "value": float(day), "observedAt": f"2025-01-{day:02d}T00:00:00Z"})
            assert done.status_code == 204, done.text


def good_dataset(n: int = 1, **changes: Any) -> dict[str, Any]:
    """Return a participant's dataset document with every recommended property."""
    doc: dict[str, Any] = {
        "id": f"https://data.example.org/dataset/heat-{n}",
        "title": {"en": f"District heating deliveries {n}", "nl": f"Warmtelevering {n}"},
        "description": {"en": "Monthly heat delivered per district, in MWh.",
                        "nl": "Maandelijkse warmtelevering per wijk, in MWh."},
        "publisher": "urn:civictwin:participant:heatco",
        "publisher_name": "HeatCo",
        "contact_point": {"name": "HeatCo data desk", "email": "data@heatco.example"},
        "themes": ["ENER", "http://publications.europa.eu/resource/authority/data-theme/REGI"],
        "keywords": ["heat", "district heating"],
        "spatial": [4.2, 50.7, 4.5, 50.95],
        "temporal_start": "2024-01-01", "temporal_end": "2024-12-31",
        "issued": "2025-01-15", "modified": "2025-02-01T10:00:00Z",
        "licence": "CC_BY_4_0", "access_rights": "RESTRICTED",
        "conforms_to": ["https://smartdatamodels.org/dataModel.Energy"],
        "frequency": "MONTHLY",
        "distributions": [{
            "access_url": "https://data.example.org/heat.csv",
            "download_url": "https://data.example.org/heat.csv",
            "format": "CSV", "media_type": "text/csv", "licence": "CC_BY_4_0",
            "title": "Heat deliveries (CSV)"}],
        "offers": [{"@id": f"urn:uuid:offer-heat-{n}", "@type": "Offer",
                    "permission": [{"action": "use", "constraint": [{
                        "leftOperand": "purpose", "operator": "eq",
                        "rightOperand": "climate-planning"}]}]}],
    }
    doc.update(changes)
    return doc


@contextmanager
def serve_files(folder: Path, seen: list[str] | None = None) -> Iterator[str]:
    """Serve the files of `folder` over HTTP on loopback, with RDF media types; yield the URL.

    Each requested path is appended to `seen` when given.
    """

    class Handler(SimpleHTTPRequestHandler):
        extensions_map: ClassVar[dict[str, str]] = {
            ".ttl": "text/turtle", ".rdf": "application/rdf+xml",
            ".jsonld": "application/ld+json", ".json": "application/json"}

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if seen is not None:
                seen.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
