"""Benchmark the cities of the network: the same indicators side by side, with their grades.

Each city shares its published indicators (the insight module's answer) with its peers at
`GET /network/indicators`; this twin lays its own beside every peer's, indicator by indicator,
with each value's data-quality grade, and adds the bands of the newest network answer. A peer
that cannot be asked is listed with the reason; its columns stay empty.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from civictwin.analytics import insight
from civictwin.config import Settings
from civictwin.dataspace import dsp_client
from civictwin.errors import CivicTwinError
from civictwin.network.peers import city_name, peers
from civictwin.network.question import Tick, answers
from civictwin.ngsild.broker import ContextBroker
from civictwin.store import Store


def shared_indicators(broker: ContextBroker, settings: Settings) -> dict[str, Any]:
    """Return the indicators this city shares with its network."""
    found = insight.indicators(broker, settings.network_tenant)
    return {"city": city_name(settings), "participant": settings.participant_id,
            "indicators": found["indicators"]}


def benchmark(store: Store, settings: Settings, broker: ContextBroker,
              tick: Tick | None = None) -> dict[str, Any]:
    """Return every city's indicators side by side, with grades and the newest answer's bands."""
    say = tick or (lambda _: None)
    say(f"reading {city_name(settings)}'s indicators")
    shared = [shared_indicators(broker, settings)]
    cities = [{"city": shared[0]["city"], "participant": settings.participant_id,
               "error": None}]
    for peer in peers(store, settings):
        say(f"asking {peer.name} for its indicators")
        try:
            found = dsp_client.get(settings, peer.id, f"{peer.base_url}/network/indicators")
        except CivicTwinError as exc:
            cities.append({"city": peer.name, "participant": peer.id, "error": exc.detail})
            continue
        shared.append(found)
        cities.append({"city": str(found.get("city") or peer.name), "participant": peer.id,
                       "error": None})
    rows = _indicator_rows(shared) + _band_rows(store)
    return {"cities": cities, "indicators": rows}


def _indicator_rows(shared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for city in shared:
        for item in city.get("indicators", []):
            if not isinstance(item, dict) or "id" not in item:
                continue
            row = rows.setdefault(item["id"], {"id": item["id"], "name": item.get("name"),
                                               "unit": item.get("unit"), "iso": item.get("iso"),
                                               "cities": {}})
            grade = item.get("grade") or {}
            row["cities"][city.get("city", "")] = {
                "value": item.get("value"), "period": item.get("period"),
                "grade": grade.get("overall") if isinstance(grade, dict) else None}
    return list(rows.values())


def _band_rows(store: Store) -> list[dict[str, Any]]:
    newest = answers(store, 1)
    if not newest:
        return []
    answer = newest[0]
    rows = []
    for band in answer["combined"]:
        cities = {}
        for city in answer["cities"]:
            mine = next((b for b in city["bands"] if b["key"] == band["key"]), None)
            cities[city["city"]] = {
                "value": mine["kwhPerM2"] if mine else None,
                "period": f"{answer['start']}/{answer['end']}",
                "grade": None, "status": mine["status"] if mine else "not asked"}
        rows.append({"id": f"energy-per-m2[{answer['by']}={band['key']}]",
                     "name": f"Energy per m², {answer['by'].replace('_', ' ')} {band['key']}",
                     "unit": "kWh/m²", "iso": None, "cities": cities,
                     "network": band["kwhPerM2"], "answer": answer["id"]})
    return rows


def to_csv(table: dict[str, Any]) -> str:
    """Return the benchmark as CSV: one row per indicator, value and grade per city.

    For the network's bands the grade column holds the band's status (released or withheld)
    and the last column the network's combined value.
    """
    names = [c["city"] for c in table["cities"]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["indicator", "name", "unit", "iso", "period"]
                    + [f"{part} ({n})" for n in names for part in ("value", "grade")]
                    + ["network"])
    for row in table["indicators"]:
        cells = [row["cities"].get(n, {}) for n in names]
        period = next((c.get("period") for c in cells if c.get("period")), "")
        values = []
        for cell in cells:
            values += [_text(cell.get("value")), cell.get("grade") or cell.get("status") or ""]
        writer.writerow([row["id"], row["name"], row["unit"], row["iso"] or "", period,
                         *values, _text(row.get("network"))])
    return out.getvalue()


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)
