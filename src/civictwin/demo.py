"""Load the generated sample city into a twin, with a progress bar."""

from __future__ import annotations

from rich.progress import Progress

from civictwin.config import Settings
from civictwin.errors import BadRequestData
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import load_meter_history
from civictwin.samplecity import generate_city, iter_entities
from civictwin.twin import open_twin

BATCH = 500


def load_sample_city(settings: Settings, *, buildings: int = 3000, seed: int = 7,
                     tenant: str = "", history_meters: int = 20) -> int:
    """Generate the sample city and upsert it; return the number of entities loaded.

    The first `history_meters` meters also get a year of quarter-hour readings in their
    temporal history, the first time the city is loaded into this database.
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
        return len(entities)
    finally:
        twin.store.close()
