"""The Parquet lake: attribute history and entity snapshots, partitioned hive style.

Layout under the lake root (a local folder or any fsspec URL), per tenant (the default tenant
at the root, others under ``tenants/<name>``)::

    history/entity_type=<Type>/day=<YYYY-MM-DD>/part-<run>-<n>.parquet   (day of observedAt)
    entities/entity_type=<Type>/day=<YYYY-MM-DD>/part-<run>-<n>.parquet  (day of modifiedAt)
    _state.json                                                          (watermarks, runs)

History is one row per attribute instance. Entity snapshots are long: one row per attribute
instance of each entity version (plus ``name.key`` rows for the scalar members of object
values), so every entity type has the same schema and jobs pivot with ``CASE``. An export takes
only rows recorded after the watermark and not newer than ``settle`` seconds (so a transaction
still committing is picked up next time). Its files are named after the run, which is derived
from the watermark it starts at: a run that crashed before moving the watermark is repeated by
the next one, which first removes the crashed run's files. Deleted entities and instances
modified in place are not exported (the lake is append-only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from fsspec.implementations.local import LocalFileSystem

from civictwin.errors import BadRequestData
from civictwin.store.lake import LakeSource
from civictwin.store.temporal import VALUE_MEMBERS

Compact = Callable[[str], str]
OnProgress = Callable[[str, int, int], None]
"""Called with (stage, rows done, rows in all) as an export goes on."""

PARTITIONS = pa.schema([("entity_type", pa.string()), ("day", pa.string())])
HISTORY_SCHEMA = pa.schema([
    ("entity_id", pa.string()), ("name", pa.string()), ("attr", pa.string()),
    ("dataset_id", pa.string()), ("instance_id", pa.string()),
    ("observed_at", pa.timestamp("us", tz="UTC")), ("observed_s", pa.int64()),
    ("observed", pa.bool_()), ("recorded_at", pa.string()), ("kind", pa.string()),
    ("num", pa.float64()), ("text", pa.string()), ("unit", pa.string()),
    ("value", pa.string()), ("entity_type", pa.string()), ("day", pa.string()),
])
ENTITY_SCHEMA = pa.schema([
    ("entity_id", pa.string()), ("types", pa.string()), ("version", pa.string()),
    ("created_at", pa.string()), ("name", pa.string()), ("attr", pa.string()),
    ("dataset_id", pa.string()), ("kind", pa.string()), ("num", pa.float64()),
    ("text", pa.string()), ("json", pa.string()), ("unit", pa.string()),
    ("observed_at", pa.string()), ("entity_type", pa.string()), ("day", pa.string()),
])
SCHEMAS = {"history": HISTORY_SCHEMA, "entities": ENTITY_SCHEMA}
EPOCH = "0000-00-00T00:00:00.000000Z"  # sorts before every recorded time


@dataclass(frozen=True)
class Lake:
    """Where one tenant's lake lives: an fsspec file system and a root path on it."""

    url: str
    tenant: str = ""
    fs: Any = field(default=None, compare=False, repr=False)
    root: str = field(default="", compare=False)

    @classmethod
    def at(cls, url: str, tenant: str = "") -> Lake:
        """Open the lake at a local path or fsspec URL (nothing is created yet)."""
        if tenant and not tenant.replace("-", "").replace("_", "").isalnum():
            raise BadRequestData(f"tenant {tenant!r}: a lake folder needs letters, digits, - or _")
        fs, root = fsspec.core.url_to_fs(url)
        root = root.rstrip("/")
        if tenant:
            root = f"{root}/tenants/{tenant}"
        return cls(url, tenant, fs, root)

    def path(self, kind: str) -> str:
        """Return the folder of one table (history or entities)."""
        return f"{self.root}/{kind}"

    @property
    def arrow_fs(self) -> pafs.FileSystem:
        """Return the file system as pyarrow sees it."""
        if isinstance(self.fs, LocalFileSystem):
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    @property
    def is_local(self) -> bool:
        """Tell whether the lake is a folder on this machine."""
        return isinstance(self.fs, LocalFileSystem)

    def files(self, kind: str) -> list[str]:
        """Return the Parquet files of one table."""
        found = self.fs.glob(f"{self.path(kind)}/*/*/*.parquet")
        return sorted(str(f) for f in found)

    def dataset(self, kind: str) -> ds.Dataset:
        """Return one table as a pyarrow dataset (empty, with its schema, if nothing exported)."""
        files = self.files(kind)
        if not files:
            return ds.dataset(SCHEMAS[kind].empty_table())
        return ds.dataset(files, schema=SCHEMAS[kind], format="parquet",
                          filesystem=self.arrow_fs, partition_base_dir=self.path(kind),
                          partitioning=ds.partitioning(PARTITIONS, flavor="hive"))

    def read_state(self) -> dict[str, Any]:
        """Return the export state: watermarks per table and the latest runs."""
        path = f"{self.root}/_state.json"
        if not self.fs.exists(path):
            return {"watermarks": {}, "runs": []}
        with self.fs.open(path, "r") as fh:
            state: dict[str, Any] = json.load(fh)
        return state

    def write_state(self, state: dict[str, Any]) -> None:
        """Replace the export state (one object put; a rename on a local disk)."""
        self.fs.makedirs(self.root, exist_ok=True)
        path = f"{self.root}/_state.json"
        text = json.dumps(state, indent=1, sort_keys=True)
        if self.is_local:
            with self.fs.open(path + ".tmp", "w") as fh:
                fh.write(text)
            self.fs.mv(path + ".tmp", path)
        else:
            with self.fs.open(path, "w") as fh:
                fh.write(text)


@dataclass(frozen=True)
class TableExport:
    """What one export run wrote for one table."""

    kind: str
    run: str
    rows: int
    files: int
    watermark_before: str
    watermark_after: str


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote: per table rows, files and watermarks."""

    lake: str
    until: str
    tables: list[TableExport]

    @property
    def rows(self) -> int:
        """Return the rows written over all tables."""
        return sum(t.rows for t in self.tables)


def export_lake(source: LakeSource, lake: Lake, compact: Compact, *, settle: float = 5.0,
                now: datetime | None = None, on_progress: OnProgress | None = None
                ) -> ExportReport:
    """Export history and entity snapshots recorded since the last export; return what ran."""
    moment = (now or datetime.now(UTC)) - timedelta(seconds=settle)
    until = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    state = lake.read_state()
    tables = [_export_table(source, lake, kind, state, until, compact, on_progress)
              for kind in ("entities", "history")]
    if any(t.rows for t in tables):  # a run that found nothing leaves the lake as it was
        state["runs"] = [*state.get("runs", [])[-19:], {
            "until": until, **{t.kind: {"run": t.run, "rows": t.rows, "files": t.files}
                               for t in tables}}]
        lake.write_state(state)
    return ExportReport(lake.url, until, tables)


def _export_table(source: LakeSource, lake: Lake, kind: str, state: dict[str, Any], until: str,
                  compact: Compact, on_progress: OnProgress | None) -> TableExport:
    """Write one table's new rows, then move its watermark; return what was written."""
    tenant = lake.tenant
    after = str(state.setdefault("watermarks", {}).get(kind, EPOCH))
    run = hashlib.sha256(f"{kind}|{tenant}|{after}".encode()).hexdigest()[:12]
    for stale in lake.fs.glob(f"{lake.path(kind)}/*/*/part-{run}-*.parquet"):
        lake.fs.rm(stale)  # left by a run from the same watermark that did not finish
    if kind == "history":
        total = source.count_history(tenant, after, until)
        batches: Generator[list[dict[str, Any]], None, None] = source.history(tenant, after, until)
    else:
        total = source.count_entities(tenant, after, until)
        batches = source.entities(tenant, after, until)
    if not total:
        return TableExport(kind, run, 0, 0, after, after)
    tally = _Tally(newest=after)

    def stream() -> Iterator[pa.RecordBatch]:
        with contextlib.closing(batches) as source_rows:  # closes a cursor on failure
            yield from _converted(source_rows)

    def _converted(batches: Iterator[list[dict[str, Any]]]) -> Iterator[pa.RecordBatch]:
        for rows in batches:
            if kind == "history":
                ids = sorted({r["entity_id"] for r in rows})
                batch, newest = history_batch(rows, source.entity_types(tenant, ids), compact)
            else:
                batch, newest = entity_batch(rows, compact)
            tally.rows += batch.num_rows
            tally.sources += len(rows)
            tally.newest = max(tally.newest, newest)
            if on_progress is not None:
                on_progress(kind, tally.sources, total)
            yield batch

    written: list[str] = []
    lake.fs.makedirs(lake.path(kind), exist_ok=True)
    ds.write_dataset(
        stream(), lake.path(kind), schema=SCHEMAS[kind], format="parquet",
        filesystem=lake.arrow_fs, partitioning=ds.partitioning(PARTITIONS, flavor="hive"),
        basename_template=f"part-{run}-{{i}}.parquet", existing_data_behavior="overwrite_or_ignore",
        max_partitions=1_000_000, max_open_files=512, max_rows_per_group=64 * 1024,
        file_visitor=lambda f: written.append(f.path))
    state["watermarks"][kind] = tally.newest
    return TableExport(kind, run, tally.rows, len(written), after, tally.newest)


@dataclass
class _Tally:
    """Counts kept while an export streams."""

    newest: str
    rows: int = 0
    sources: int = 0


def history_batch(rows: list[dict[str, Any]], types: dict[str, list[str]],
                  compact: Compact) -> tuple[pa.RecordBatch, str]:
    """Turn history rows into a lake batch; return it with the newest recorded time."""
    cols: dict[str, list[Any]] = {name: [] for name in HISTORY_SCHEMA.names}
    names: dict[str, str] = {}
    newest = EPOCH
    for r in rows:
        value = json.loads(r["value"])
        member = value.get(VALUE_MEMBERS.get(str(r["kind"]), "value"))
        moment = str(r["observed_at"])
        attr = str(r["attr"])
        entity_types = types.get(r["entity_id"]) or ["Unknown"]
        cols["entity_id"].append(r["entity_id"])
        cols["name"].append(names.get(attr) or names.setdefault(attr, compact(attr)))
        cols["attr"].append(attr)
        cols["dataset_id"].append(r["dataset_id"])
        cols["instance_id"].append(r["instance_id"])
        cols["observed_at"].append(int(r["observed_s"]) * 1_000_000 + int(moment[20:26] or 0))
        cols["observed_s"].append(int(r["observed_s"]))
        cols["observed"].append(bool(r["observed"]))
        cols["recorded_at"].append(r["created_at"])
        cols["kind"].append(r["kind"])
        cols["num"].append(r["num"])
        cols["text"].append(scalar_text(member))
        cols["unit"].append(value.get("unitCode"))
        cols["value"].append(r["value"])
        cols["entity_type"].append(compact(entity_types[0]))
        cols["day"].append(moment[:10])
        newest = max(newest, str(r["created_at"]))
    return pa.RecordBatch.from_pydict(cols, schema=HISTORY_SCHEMA), newest


def entity_batch(docs: list[dict[str, Any]], compact: Compact) -> tuple[pa.RecordBatch, str]:
    """Turn entity documents into long snapshot rows; return them with the newest version."""
    cols: dict[str, list[Any]] = {name: [] for name in ENTITY_SCHEMA.names}
    newest = EPOCH
    for d in docs:
        types = [compact(t) for t in d["doc"]["types"]] or ["Unknown"]
        head = {"entity_id": d["id"], "types": json.dumps(types), "version": d["modified_at"],
                "created_at": d["created_at"], "entity_type": types[0],
                "day": str(d["modified_at"])[:10]}
        for attr, instances in d["doc"]["attrs"].items():
            short = compact(attr)
            for inst in instances:
                for row in instance_rows(short, attr, inst):
                    for key, item in {**head, **row}.items():
                        cols[key].append(item)
        newest = max(newest, str(d["modified_at"]))
    return pa.RecordBatch.from_pydict(cols, schema=ENTITY_SCHEMA), newest


def instance_rows(name: str, attr: str, inst: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the snapshot rows of one attribute instance (object members one level down)."""
    kind = str(inst.get("type", "Property"))
    member = inst.get(VALUE_MEMBERS.get(kind, "value"))
    base = {"dataset_id": str(inst.get("datasetId", "")), "kind": kind,
            "unit": inst.get("unitCode"), "observed_at": inst.get("observedAt")}
    rows = [{**base, "name": name, "attr": attr, **cell(member)}]
    if isinstance(member, dict) and "@value" not in member:
        for key, item in sorted(member.items()):
            if item is None or isinstance(item, str | int | float | bool):
                rows.append({**base, "name": f"{name}.{key}", "attr": f"{attr}.{key}",
                             **cell(item)})
    return rows


def cell(value: Any) -> dict[str, Any]:
    """Split a value into the num, text and json columns."""
    num = None
    if isinstance(value, bool):
        num = 1.0 if value else 0.0
    elif isinstance(value, int | float):
        num = float(value)
    text = scalar_text(value)
    blob = None
    if num is None and text is None and value is not None:
        blob = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return {"num": num, "text": text, "json": blob}


def scalar_text(value: Any) -> str | None:
    """Return a value as text when it is a string, a boolean or a typed literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "@value" in value:
        return str(value["@value"])
    return None
