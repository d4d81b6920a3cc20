"""Ingest a CSV, Excel or GeoJSON file into the twin and report every row's fate.

Re-running a file is idempotent: rows become upserts keyed by entity id (create, or append
attributes with overwrite), so the same file twice leaves the same entities. Rejected rows are
reported with their row number and reason, and kept as dead letters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from civictwin.ingest.deadletter import DeadLetter, DeadLetterBox, IngestRun, now_iso
from civictwin.ingest.geo import GEOMETRY_FIELD, feature_rows, load_features
from civictwin.ingest.mapping import Mapping, RecordRejected, Rule
from civictwin.ingest.tabular import csv_row_count, csv_rows, excel_row_count, excel_rows
from civictwin.ingest.writer import EntityBatch
from civictwin.ngsild.broker import ContextBroker

FileKind = Literal["csv", "excel", "geojson"]
Progress = Callable[[int], None]


@dataclass
class RowRejection:
    """A row that was not ingested and why."""

    row: int
    reason: str


@dataclass
class IngestReport:
    """What one file ingest did: counts, entities touched, every rejected row."""

    source: str
    kind: str
    rows: int = 0
    accepted: int = 0
    entities: set[str] = field(default_factory=set)
    rejected: list[RowRejection] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the machine-readable report written by `--report`."""
        return {"source": self.source, "kind": self.kind, "rows": self.rows,
                "accepted": self.accepted, "rejectedCount": len(self.rejected),
                "entities": len(self.entities),
                "rejected": [{"row": r.row, "reason": r.reason} for r in self.rejected]}


@dataclass
class FileSource:
    """A file to ingest and how to read it."""

    path: Path
    kind: FileKind
    sheet: str | None = None
    delimiter: str = ","

    def total(self) -> int | None:
        """Return the number of rows, when cheap to know, for a progress bar."""
        if self.kind == "csv":
            return csv_row_count(self.path)
        if self.kind == "excel":
            return excel_row_count(self.path, self.sheet)
        return None

    def rows(self) -> Iterable[tuple[int, dict[str, Any]]]:
        """Yield (row number, fields) for every data row."""
        if self.kind == "csv":
            return csv_rows(self.path, self.delimiter)
        if self.kind == "excel":
            return excel_rows(self.path, self.sheet)
        return feature_rows(load_features(self.path))


def ingest_file(broker: ContextBroker, mapping: Mapping, rule: Rule, source: FileSource,
                box: DeadLetterBox, batch_size: int = 500,
                progress: Progress | None = None) -> IngestReport:
    """Ingest every row of a file through the broker; return the report."""
    started = now_iso()
    report = IngestReport(str(source.path), source.kind)
    ctx = broker.context(mapping.context)
    batch: EntityBatch[tuple[int, str]] = EntityBatch(broker, mapping.tenant, ctx)
    raw: dict[int, str] = {}
    for number, fields in source.rows():
        report.rows += 1
        try:
            if "__error__" in fields:
                raise RecordRejected(str(fields["__error__"]))
            body = rule.entity(fields, fields.get(GEOMETRY_FIELD))
        except RecordRejected as exc:
            report.rejected.append(RowRejection(number, exc.reason))
            raw[number] = _show(fields)
        else:
            batch.add(body, (number, body["id"]))
            raw[number] = _show(fields)
        if len(batch) >= batch_size:
            _flush(batch, report, raw)
        if progress is not None:
            progress(1)
    _flush(batch, report, raw)
    report.rejected.sort(key=lambda r: r.row)
    box.add([DeadLetter(report.source, f"row {r.row}", raw.get(r.row, ""), r.reason,
                        mapping.tenant) for r in report.rejected])
    box.record_run(IngestRun(source.kind, report.source, _digest(source.path), started,
                             report.accepted, len(report.rejected), mapping.tenant))
    return report


def _flush(batch: EntityBatch[tuple[int, str]], report: IngestReport,
           raw: dict[int, str]) -> None:
    result = batch.flush()
    report.accepted += len(result.accepted)
    for number, entity_id in result.accepted:
        raw.pop(number, None)
        report.entities.add(entity_id)
    report.rejected += [RowRejection(n, reason) for (n, _), reason in result.rejected]


def _show(fields: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in fields.items() if k != "__error__"}, default=str)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()
