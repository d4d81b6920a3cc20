"""Load the generated sample city into a twin, with a progress bar."""

from __future__ import annotations

from rich.progress import Progress

from civictwin.config import Settings
from civictwin.errors import BadRequestData
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.samplecity import generate_city, iter_entities
from civictwin.store import open_store

BATCH = 500


def load_sample_city(settings: Settings, *, buildings: int = 3000, seed: int = 7,
                     tenant: str = "") -> int:
    """Generate the sample city and upsert it; return the number of entities loaded."""
    store = open_store(settings.database_url)
    try:
        broker = ContextBroker(store, settings)
        ctx = broker.context(CIVICTWIN_CONTEXT_URL)
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
                progress.advance(task, len(chunk))
        return len(entities)
    finally:
        store.close()
