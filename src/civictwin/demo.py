"""Load the generated sample city into a twin, with a progress bar."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from rich.progress import Progress

from civictwin.config import Settings
from civictwin.errors import BadRequestData
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL, Context
from civictwin.ngsild.temporal import history_for, load_meter_history
from civictwin.samplecity import SampleCity, generate_city, iter_entities
from civictwin.samplecity.history import billing_rows, station_rows
from civictwin.store import Store
from civictwin.store.base import Entity
from civictwin.store.temporal import TemporalStore, new_instance_id
from civictwin.twin import Twin, open_twin

BATCH = 500


def load_sample_city(settings: Settings, *, buildings: int = 3000, seed: int = 7,
                     tenant: str = "", history_meters: int = 20, insight: bool = True) -> int:
    """Generate the sample city and upsert it; return the number of entities loaded.

    The first `history_meters` meters also get a year of quarter-hour readings in their
    temporal history, every meter its monthly bills and every station its hourly
    observations, the first time the city is loaded into this database; then (with
    `insight`) the lake, indicators, example scenarios and a forecast that /insight serves.
    """
    twin = open_twin(settings)
    try:
        broker = twin.broker
        ctx = broker.context(CIVICTWIN_CONTEXT_URL)
        created: set[str] = set()
        with Progress(transient=False) as progress:
            task = progress.add_task("generating the sample city", total=None)
            city = generate_city(seed=seed, buildings=buildings)
            entities = list(iter_entities(city))
            progress.update(task, description="loading entities", total=len(entities))
            for start in range(0, len(entities), BATCH):
                chunk = entities[start: start + BATCH]
                result = broker.batch_upsert(tenant, chunk, ctx)
                if result.errors:
                    entity_id, error = result.errors[0]
                    raise BadRequestData(f"sample entity {entity_id}: {error.detail}")
                created.update(result.created)
                progress.advance(task, len(chunk))
            if city.meters and city.meters[0]["id"] in created and history_meters:
                progress.add_task(f"loading a year of readings for {history_meters} meters",
                                  total=None)
                load_meter_history(broker, city, ctx, tenant=tenant, meters=history_meters)
            if city.meters and city.meters[0]["id"] in created:
                smart = frozenset(m["id"] for m in city.meters[:history_meters])
                load_bills_and_observations(twin.store, city, ctx, tenant, progress, smart)
                progress.add_task("sharing utility data as district aggregates", total=None)
                share_utility_aggregates(twin.store, settings, tenant)
                if insight:
                    compute_insight(twin, tenant, progress)
                offer_to_network(twin.store, settings, tenant)
        return len(entities)
    finally:
        twin.store.close()


def load_bills_and_observations(store: Store, city: SampleCity, ctx: Context, tenant: str,
                                progress: Progress, smart: frozenset[str] = frozenset()) -> int:
    """Load every meter's monthly bills and every station's hourly year; return rows."""
    history = history_for(store)
    now = now_iso()
    types = {e["id"]: ctx.expand(e["type"]) for e in [*city.meters, *city.stations]}
    task = progress.add_task("loading monthly bills and station observations",
                             total=len(types))
    total, pending, entities = 0, [], []
    batches = itertools.chain(billing_rows(city, ctx.expand, new_instance_id, now, tenant, smart),
                              station_rows(city, ctx.expand, new_instance_id, now, tenant))
    for rows in batches:
        if rows:
            pending += rows
            entities.append(Entity(rows[0]["entity_id"], [types[rows[0]["entity_id"]]]))
        if len(pending) >= 50_000:
            total += _insert(history, pending, entities, tenant)
            pending, entities = [], []
        progress.advance(task)
    return total + _insert(history, pending, entities, tenant)


def _insert(history: TemporalStore, rows: list[dict[str, Any]], entities: list[Entity],
            tenant: str) -> int:
    with history.engine.connect().execution_options(write=True) as conn, conn.begin():
        history.insert(conn, rows, entities, tenant)
    return len(rows)


def compute_insight(twin: Twin, tenant: str, progress: Progress) -> None:
    """Export the lake, publish indicators, run the example scenarios, forecast a district."""
    from civictwin.analytics.insight import compute_all

    task = progress.add_task("computing insight", total=None)
    examples = Path(__file__).parents[2] / "examples" / "scenarios"
    files = sorted(examples.glob("*.toml")) if examples.is_dir() else []
    compute_all(twin.settings, twin.broker, tenant, files,
                lambda text: progress.update(task, description=text))
    progress.update(task, description="insight computed", total=1, completed=1)


def offer_to_network(store: Store, settings: Settings, tenant: str) -> None:
    """Offer the meter history to peer cities for aggregates only (the demo canvas links it)."""
    from civictwin.network.offers import offer_energy

    offer_energy(store, settings, tenant)


UTILITY = "urn:civictwin:participant:lumen-utility"
CITY = "urn:civictwin:participant:city-of-lumen"


def share_utility_aggregates(store: Store, settings: Settings, tenant: str = "") -> str:
    """Offer the meters' data as the utility, agree with the city, release district aggregates.

    The utility offers its meter data for aggregates only (at least 10 contributors, none
    above 85 %, merge along block > district > city); the agreement with the city is recorded
    as signed outside the protocol; the city's first release (electricity by district and
    month of 2024) is kept in its ledger and published. Returns the release id.
    """
    from civictwin.dataspace.participants import Participants
    from civictwin.privacy import AggregateRequest, DisclosureRules, aggregate
    from civictwin.privacy.offer import offer_meter_data, record_agreement
    from civictwin.privacy.publish import publish

    participants = Participants(store)
    for pid, name, role, home in ((UTILITY, "Lumen Energy (utility)", "provider", tenant),
                                  (CITY, "City of Lumen, energy department", "consumer",
                                   "city-of-lumen")):
        if participants.find(pid) is None:
            participants.add(pid, name, {role}, home)
    rules = DisclosureRules(min_contributors=10, hierarchy=("block", "district", "city"))
    dataset = offer_meter_data(store, settings, tenant, UTILITY, rules)
    agreement = record_agreement(store, settings, tenant, dataset, CITY)
    release = aggregate(store, AggregateRequest(tenant, "electricity", ("district",), "month",
                                                "2024-01-01", "2025-01-01"),
                        DisclosureRules.from_policy(dataset.offers[0]), CITY, agreement)
    publish(store, settings, tenant, release)
    return release.id
