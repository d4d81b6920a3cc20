"""Ask every city of the network one question; combine what each city released.

The question is "energy per m² by building band" (age band by default). This city answers
for itself with its own rules (those of its network offer); each peer answers under the
agreement this twin holds with it, at its `POST /network/questions/energy-per-m2`, computing
its bands with its own rules. Only bands cross the border. The combined band is the sum of
the cities' released energy over the sum of their floor areas; a city that withheld a band or
could not be asked is named beside it, never guessed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace import dsp_client
from civictwin.errors import BadRequestData, CivicTwinError
from civictwin.network.agreements import agreement_for, negotiate
from civictwin.network.discovery import discover
from civictwin.network.intensity import DIMENSIONS, Band
from civictwin.network.offers import OFFER_ID
from civictwin.network.peers import Peer, city_name, peers
from civictwin.store import Store
from civictwin.store.network import NetworkStore

QUESTION = "energy-per-m2"
Tick = Callable[[str], None]


@dataclass(frozen=True)
class CityAnswer:
    """One city's part of an answer: its bands, or why it has none."""

    city: str
    participant: str
    bands: list[Band]
    releases: list[str] = field(default_factory=list)
    rules: dict[str, Any] = field(default_factory=dict)
    agreement: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the city's answer as plain JSON."""
        return {"city": self.city, "participant": self.participant,
                "status": "failed" if self.error else "answered", "error": self.error,
                "agreement": self.agreement, "releases": self.releases, "rules": self.rules,
                "bands": [b.to_json() for b in self.bands]}


def check_question(by: str, start: str, end: str) -> None:
    """Refuse a question the cities could not answer (BadRequestData)."""
    if by not in DIMENSIONS:
        raise BadRequestData(f"by {by!r}: use one of {', '.join(DIMENSIONS)}")
    if not start or not end:
        raise BadRequestData("start and end are required (ISO dates)")


def ask(store: Store, settings: Settings, by: str, start: str, end: str,
        tick: Tick | None = None) -> dict[str, Any]:
    """Ask this city and every peer; save and return the combined answer."""
    from civictwin.network.answer import local_answer

    check_question(by, start, end)
    say = tick or (lambda _: None)
    say(f"computing {city_name(settings)}'s own bands")
    cities = [local_answer(store, settings, settings.network_tenant, by, start, end)]
    for peer in peers(store, settings):
        say(f"asking {peer.name}")
        cities.append(_ask_peer(store, settings, peer, by, start, end, say))
    asked = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer_id = f"urn:uuid:{uuid.uuid4()}"
    answer: dict[str, Any] = {"id": answer_id, "question": QUESTION, "by": by,
              "start": start, "end": end, "askedAt": asked, "unit": "kWh/m²",
              "cities": [c.to_json() for c in cities], "combined": combine(cities)}
    NetworkStore(store).put_answer(answer_id, QUESTION, asked, answer)
    return answer


def _ask_peer(store: Store, settings: Settings, peer: Peer, by: str, start: str, end: str,
              say: Tick) -> CityAnswer:
    try:
        held = agreement_for(store, settings, peer.id)
        if held is None:
            say(f"negotiating with {peer.name}")
            dataset = discover(store, settings, peer).dataset(OFFER_ID)
            held = negotiate(store, settings, peer, dataset)
        body = {"agreement": held.agreement_id, "by": by, "start": start, "end": end}
        # A city computes its bands while we wait: that takes longer than a protocol step.
        found = dsp_client.post(settings, peer.id,
                                f"{peer.base_url}/network/questions/{QUESTION}", body,
                                timeout=settings.network_wait_seconds)
        return CityAnswer(str(found.get("city") or peer.name), peer.id,
                          [_band(b) for b in found.get("bands", [])],
                          list(found.get("releases", [])), dict(found.get("rules", {})),
                          held.agreement_id)
    except CivicTwinError as exc:
        return CityAnswer(peer.name, peer.id, [], error=exc.detail)


def _band(doc: Any) -> Band:
    if not isinstance(doc, dict):
        raise BadRequestData("a peer's band is not a JSON object")
    return Band(str(doc.get("key", "")), _number(doc.get("energyKwh")),
                _number(doc.get("floorAreaM2")), int(doc.get("contributors") or 0),
                str(doc.get("status", "")), str(doc.get("reason", "")))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def combine(cities: list[CityAnswer]) -> list[dict[str, Any]]:
    """Return per band the network's energy per m² over the cities that released it."""
    keys = sorted({b.key for c in cities for b in c.bands})
    rows = []
    for key in keys:
        energy, area, released, missing = 0.0, 0.0, [], []
        for city in cities:
            band = next((b for b in city.bands if b.key == key), None)
            if band is None or band.kwh_per_m2 is None:
                missing.append(city.city)
                continue
            energy += band.energy_kwh or 0.0
            area += band.floor_area_m2 or 0.0
            released.append(city.city)
        rows.append({"key": key, "kwhPerM2": energy / area if area else None,
                     "energyKwh": energy if released else None,
                     "floorAreaM2": area if released else None,
                     "cities": released, "withheldOrMissing": missing})
    return rows


def answers(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Return the saved answers, newest first."""
    return NetworkStore(store).answers(QUESTION, limit)
