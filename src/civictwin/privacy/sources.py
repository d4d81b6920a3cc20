"""Where contributions come from: each meter's readings summed per period, with its profile.

A contributor is a meter. Its profile (building, street block, district, building use,
heating type, construction period, heat carrier) comes from the twin's current entities;
its readings from the store's history (SQL in store/privacy.py) or from the lake through an
analytics engine (the `privacy_readings` and `privacy_profiles` jobs in analytics/engine.py).
Hourly and daily cells use interval readings only (the default dataset); monthly bills
stamped at the month's start would otherwise land in its first hour.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from civictwin.analytics.engine import PRIVACY_JOBS, AnalyticsEngine
from civictwin.privacy.model import AggregateRequest, stamp
from civictwin.store import Store
from civictwin.store.privacy import PrivacyStore

CT = "https://civictwin.org/ns/"
METER = "https://smartdatamodels.org/dataModel.Device/SmartMeteringObservation"
BUILDING = "https://smartdatamodels.org/dataModel.Building/Building"
REF_BUILDING = "https://smartdatamodels.org/dataModel.Building/refBuilding"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
_NAMES = {"electricity": "electricityConsumption", "heat": "heatConsumption",
          "gas": "heatConsumption", "water": "waterConsumption"}
ATTRIBUTES = {q: (CT + name, DEFAULT_VOCAB + name) for q, name in _NAMES.items()}
"""The history attribute each quantity is read from (kWh; water in m³), under civictwin's
vocabulary or, for terms a context did not define, the NGSI-LD default vocabulary."""
HEAT_CARRIERS = {"heat": frozenset({"DistrictHeat", "HeatingOil", "Biomass"}),
                 "gas": frozenset({"NaturalGas"})}
"""Heat meters count as gas or heat by their heatMeterType."""
PERIOD_STARTS = ((1919, "before 1919"), (1946, "1919-1945"), (1971, "1946-1970"),
                 (1991, "1971-1990"), (2011, "1991-2010"))
USE_NAMES = ("residential", "commercial", "office", "industrial", "public")


@dataclass(frozen=True)
class Profile:
    """What a meter's cells are keyed by."""

    meter: str
    building: str
    block: str
    district: str
    city: str
    building_use: str
    heating_type: str
    construction_period: str
    carrier: str

    def key(self, name: str) -> str:
        """Return this meter's value of one dimension or area level."""
        value: str = getattr(self, name)
        return value


@dataclass(frozen=True)
class Contribution:
    """One meter's readings in one period: their sum and how many there were."""

    meter: str
    bucket: str
    value: float
    readings: int


class ContributionSource(Protocol):
    """Gives meter profiles and per-meter sums; the store and the lake both do."""

    name: str

    def profiles(self, tenant: str) -> dict[str, Profile]:
        """Return every meter's profile."""
        ...

    def contributions(self, request: AggregateRequest) -> list[Contribution]:
        """Return per meter and period the sum of its readings of the request's quantity."""
        ...


def construction_period(year: Any) -> str:
    """Return the construction period band of a year built."""
    if not isinstance(year, int | float):
        return "unknown"
    for start, name in PERIOD_STARTS:
        if year < start:
            return name
    return "2011 and later"


def building_use(category: Any) -> str:
    """Return one use for an SDM category list (two categories, as SDM has no mixed: mixed)."""
    if isinstance(category, str):
        try:
            category = json.loads(category) if category.startswith("[") else [category]
        except ValueError:
            category = [category]
    names = [c for c in category if isinstance(c, str)] if isinstance(category, list) else []
    if len(names) > 1:
        return "mixed"
    return names[0] if names else "unknown"


def block_of(district: str, street: str) -> str:
    """Return the street block of an address: its district and street without the number."""
    name = re.sub(r"\s+\d+\w*$", "", street.strip()) if street else ""
    return f"{district}|{name}" if name else f"{district}|"


def _grain(request: AggregateRequest) -> str | None:
    return request.period


def _bucket_label(bucket: str, hour_s: int, grain: str | None) -> str:
    if grain == "hour":
        return datetime.fromtimestamp(hour_s, UTC).strftime("%Y-%m-%dT%H")
    return bucket


class StoreSource:
    """Profiles and readings from the store's entities and history."""

    name = "store"

    def __init__(self, store: Store) -> None:
        self.rows = PrivacyStore(store)

    def profiles(self, tenant: str) -> dict[str, Profile]:
        """Return every meter's profile from the current Building and meter entities."""
        buildings = dict(self.rows.entity_docs(tenant, BUILDING))
        found = {}
        for meter_id, doc in self.rows.entity_docs(tenant, METER):
            building_id = _value(doc, REF_BUILDING, "object") or ""
            bdoc = buildings.get(str(building_id), {"attrs": {}})
            address = _value(bdoc, "https://smartdatamodels.org/address") or {}
            found[meter_id] = _profile(
                meter_id, str(building_id), _value(bdoc, CT + "refCityDistrict", "object"),
                _value(bdoc, "https://smartdatamodels.org/dataModel.Building/category"),
                _value(bdoc, CT + "heatingType"), _value(bdoc, CT + "yearBuilt"),
                _member(address, "streetAddress"), _member(address, "addressLocality"),
                _value(doc, CT + "heatMeterType"))
        return found

    def contributions(self, request: AggregateRequest) -> list[Contribution]:
        """Return per meter and period the sums of the request's quantity from the history."""
        start, end = request.window()
        grain = _grain(request)
        rows = self.rows.reading_sums(request.tenant, list(ATTRIBUTES[request.quantity]),
                                      stamp(start), stamp(end), grain,
                                      interval_only=grain in ("hour", "day"))
        return [Contribution(m, b, v, n) for m, b, v, n in rows]


class LakeSource:
    """Profiles and readings from the Parquet lake through an analytics engine."""

    def __init__(self, engine: AnalyticsEngine) -> None:
        self.engine = engine
        self.name = f"lake ({engine.name})"

    def profiles(self, tenant: str) -> dict[str, Profile]:
        """Return every meter's profile from the lake's newest entity snapshots."""
        return {r["meter_id"]: _profile(r["meter_id"], r["building_id"], r["district_id"],
                                        r["category"], r["heating"], r["year_built"],
                                        r["street"], r["locality"], r["heat_carrier"])
                for r in self.engine.run(PRIVACY_JOBS["privacy_profiles"])}

    def contributions(self, request: AggregateRequest) -> list[Contribution]:
        """Return per meter and period the sums of the request's quantity from the lake."""
        start, end = request.window()
        grain = _grain(request)
        last = datetime.fromtimestamp(end.timestamp() - 1e-6, UTC)
        rows = self.engine.run(PRIVACY_JOBS[f"privacy_readings_{grain or 'all'}"], {
            "attr": ATTRIBUTES[request.quantity][0], "alt_attr": ATTRIBUTES[request.quantity][1],
            "first_day": start.strftime("%Y-%m-%d"), "last_day": last.strftime("%Y-%m-%d"),
            "start_s": int(start.timestamp()), "end_s": _ceil_seconds(end)})
        return [Contribution(r["meter_id"], _bucket_label(r["bucket"] or "", int(r["hour_s"]),
                                                          grain),
                             float(r["total"]), int(r["readings"])) for r in rows]


def _ceil_seconds(moment: datetime) -> int:
    whole = int(moment.timestamp())
    return whole if whole == moment.timestamp() else whole + 1


def _profile(meter: str, building: str, district: Any, category: Any, heating: Any,
             year: Any, street: Any, locality: Any, carrier: Any) -> Profile:
    district_id = str(district or "")
    return Profile(meter=meter, building=building or meter, block=block_of(
        district_id, str(street or "")), district=district_id, city=str(locality or "city"),
        building_use=building_use(category), heating_type=str(heating or "unknown"),
        construction_period=construction_period(year), carrier=str(carrier or ""))


def _value(doc: dict[str, Any], iri: str, member: str = "value") -> Any:
    instances = doc.get("attrs", {}).get(iri) or []
    return instances[0].get(member) if instances else None


def _member(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict):
        return None
    return obj.get(name, obj.get(f"https://smartdatamodels.org/{name}"))


def eligible(profiles: dict[str, Profile], request: AggregateRequest) -> dict[str, Profile]:
    """Return the meters that measure the request's quantity within its area."""
    carriers = HEAT_CARRIERS.get(request.quantity)
    chosen = {}
    for meter, p in profiles.items():
        if carriers is not None and p.carrier not in carriers:
            continue
        if request.area and request.area not in (p.district, p.block, p.building, p.city):
            continue
        chosen[meter] = p
    return chosen


def only(contributions: Iterable[Contribution], meters: dict[str, Profile]
         ) -> list[Contribution]:
    """Keep the contributions of the given meters."""
    return [c for c in contributions if c.meter in meters]
