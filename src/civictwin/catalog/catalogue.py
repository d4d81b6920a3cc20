"""The catalogue: the twin's own datasets, those participants publish, and those harvested."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from civictwin.catalog import twin
from civictwin.catalog.model import (
    ORIGIN_HARVESTED,
    ORIGIN_PUBLISHED,
    ORIGIN_TWIN,
    DataService,
    Dataset,
)
from civictwin.catalog.twin import tenant_key
from civictwin.catalog.validate import dataset_from_document, validate
from civictwin.config import Settings
from civictwin.errors import Conflict, ResourceNotFound
from civictwin.store import Store
from civictwin.store.catalog import CatalogStore, DatasetRow
from civictwin.store.outbox import parse_stamp, stamp

log = logging.getLogger("civictwin.catalog")
_LOCK = threading.Lock()
_REFRESHING: set[tuple[int, str]] = set()


@dataclass(frozen=True)
class Refresh:
    """What a refresh derived from the twin."""

    tenant: str
    datasets: int
    history: int
    refreshed_at: str


class Catalogue:
    """DCAT-AP datasets per tenant, kept in the store.

    Reads re-derive the twin's own datasets once they are older than
    `catalog_refresh_seconds`. With `background` (the default), a stale read answers from
    what is stored and the refresh runs in a thread, one per database and tenant at a time
    however many Catalogue objects there are, so readers never wait for it; only a tenant's
    very first read derives at once.
    """

    def __init__(self, store: Store, settings: Settings | None = None,
                 background: bool = True) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.rows = CatalogStore(store)
        self.background = background

    # -- reading -------------------------------------------------------------------------
    def list_datasets(self, tenant: str, limit: int = 100, offset: int = 0) -> list[Dataset]:
        """Return a page of the tenant's datasets, ordered by id."""
        return self.page(tenant, limit, offset)[0]

    def page(self, tenant: str, limit: int, offset: int) -> tuple[list[Dataset], int]:
        """Return a page of the tenant's datasets and how many there are in all."""
        self.ensure_fresh(tenant)
        rows, total = self.rows.page(tenant, limit, offset)
        return [Dataset.from_json(r.doc) for r in rows], total

    def all_datasets(self, tenant: str) -> list[Dataset]:
        """Return every dataset of the tenant, ordered by id."""
        return self.page(tenant, 1_000_000, 0)[0]

    def get_dataset(self, tenant: str, dataset_id: str) -> Dataset:
        """Return one dataset; ResourceNotFound if the tenant has none by that id."""
        self.ensure_fresh(tenant)
        row = self.rows.get(tenant, dataset_id)
        if row is None:
            raise ResourceNotFound(f"no dataset {dataset_id} in the catalogue")
        return Dataset.from_json(row.doc)

    def services(self, tenant: str) -> list[DataService]:
        """Return the tenant's data services (the twin's NGSI-LD API)."""
        served = [r.id for r in self.rows.by_origin(tenant, ORIGIN_TWIN)]
        return [twin.ngsi_service(self.settings, tenant, served)]

    # -- writing -------------------------------------------------------------------------
    def put_dataset(self, tenant: str, dataset: Dataset) -> Dataset:
        """Validate and store a dataset (replacing one with its id); return it as stored."""
        checked = validate(dataset)
        self.rows.put([_row(tenant, checked)])
        return checked

    def publish(self, tenant: str, doc: Any) -> Dataset:
        """Add or replace a participant's dataset from its JSON document (InvalidDataset)."""
        dataset = dataset_from_document(doc, ORIGIN_PUBLISHED)
        existing = self.rows.get(tenant, dataset.id)
        if existing is not None and existing.origin != ORIGIN_PUBLISHED:
            raise Conflict(f"dataset {dataset.id} is {existing.origin} "
                           f"({existing.source or 'derived from the twin'}); choose another id")
        return self.put_dataset(tenant, dataset)

    def delete_dataset(self, tenant: str, dataset_id: str) -> None:
        """Remove a published or harvested dataset; ResourceNotFound if there is none."""
        row = self.rows.get(tenant, dataset_id)
        if row is None:
            raise ResourceNotFound(f"no dataset {dataset_id} in the catalogue")
        if row.origin == ORIGIN_TWIN:
            raise Conflict(f"dataset {dataset_id} describes the twin's own data; it goes "
                           "away with that data")
        self.rows.delete(tenant, [dataset_id])

    # -- the twin's own datasets ---------------------------------------------------------
    def ensure_fresh(self, tenant: str) -> None:
        """Derive the tenant's own datasets again if they are older than the refresh setting."""
        last = self.rows.refreshed_at(tenant)
        limit = timedelta(seconds=self.settings.catalog_refresh_seconds)
        if last is not None and datetime.now(UTC) - parse_stamp(last) < limit:
            return
        if last is None or not self.background:
            self.refresh(tenant)
            return
        key = (id(self.rows.engine), tenant)
        with _LOCK:
            if key in _REFRESHING:
                return
            _REFRESHING.add(key)
        threading.Thread(target=self._refresh_quietly, args=(key,), daemon=True,
                         name=f"catalogue-refresh-{tenant_key(tenant)}").start()

    def _refresh_quietly(self, key: tuple[int, str]) -> None:
        try:
            self.refresh(key[1])
        except Exception:  # a failed background refresh leaves the stored datasets in place
            log.exception("refreshing the catalogue of tenant %r failed", key[1])
        finally:
            with _LOCK:
                _REFRESHING.discard(key)

    def refresh(self, tenant: str) -> Refresh:
        """Derive the tenant's datasets from its entity types and history, now."""
        now = stamp(datetime.now(UTC))
        counts = self.store.type_counts(tenant)
        summary = self.store.attribute_summary(tenant)
        derived = twin.type_datasets(self.settings, tenant, counts, summary,
                                     self.rows.type_extents(tenant), now)
        history = twin.history_datasets(self.settings, tenant,
                                        self.rows.series_families(tenant), now)
        stored = {r.id: r.doc for r in self.rows.by_origin(tenant, ORIGIN_TWIN)}
        rows = [_row(tenant, validate(twin.keep_decisions(d, stored.get(d.id), now)), now)
                for d in [*derived, *history]]
        self.rows.replace_derived(tenant, ORIGIN_TWIN, rows, now)
        return Refresh(tenant, len(derived), len(history), now)

    # -- harvested datasets --------------------------------------------------------------
    def replace_harvested(self, tenant: str, source: str, datasets: list[Dataset],
                          remove_missing: bool = True) -> dict[str, list[str]]:
        """Store what one harvest of `source` found; drop what it no longer lists."""
        before = {r.id: r for r in self.rows.from_source(tenant, source)}
        added, updated, unchanged, refused = [], [], [], []
        rows: list[DatasetRow] = []
        for dataset in datasets:
            existing = self.rows.get(tenant, dataset.id)
            if existing is not None and existing.source != source:
                refused.append(dataset.id)
                continue
            dataset.origin, dataset.source = ORIGIN_HARVESTED, source
            row = _row(tenant, dataset)
            if existing is None:
                added.append(dataset.id)
            elif existing.doc == row.doc:
                unchanged.append(dataset.id)
                continue
            else:
                updated.append(dataset.id)
            rows.append(row)
        self.rows.put(rows)
        listed = {d.id for d in datasets}
        removed = sorted(set(before) - listed) if remove_missing else []
        self.rows.delete(tenant, removed)
        return {"added": added, "updated": updated, "unchanged": unchanged,
                "removed": removed, "conflicts": refused}


def _row(tenant: str, dataset: Dataset, now: str | None = None) -> DatasetRow:
    return DatasetRow(tenant, dataset.id, dataset.origin, dataset.source, dataset.to_json(),
                      now or stamp(datetime.now(UTC)))
