"""Temporal answers in pages (ETSI GS CIM 009 v1.8 6.3.10): no answer is unbounded.

At most `temporal_max_instances` instances of each attribute come back at once. When a series
holds more, the answer is HTTP 206 with `Content-Range: date-time <first>-<last>/<size>`: the
instants of the first and last instance returned, and `size` the lastN asked for (else `*`).
Forward (no lastN) the page is cut before the first instant some series could not include,
the same instant for every series, so `timerel=after&timeAt=<last>` continues without a gap
(`after` includes timeAt: the instances at `last` come once more, same instanceId). Backward
(lastN) the page holds the newest instances, its range runs from newest to oldest, and
`timerel=before&timeAt=<oldest>` continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ContentRange:
    """The instants a partial temporal answer covers, in the order they were read."""

    first: str
    last: str
    size: str = "*"

    def header(self) -> str:
        """Return the Content-Range header value."""
        return f"date-time {_display(self.first)}-{_display(self.last)}/{self.size}"


def page_rows(rows: Sequence[Any], limit: int, last_n: int | None,
              time_column: str) -> tuple[list[Any], ContentRange | None]:
    """Cut history rows (time-ordered per series, at most limit+1 each) to one page."""
    series: dict[tuple[str, str, str], list[Any]] = {}
    for row in rows:
        series.setdefault((row.entity_id, row.attr, row.dataset_id), []).append(row)
    truncated = [s for s in series.values() if len(s) > limit]
    if not truncated:
        return list(rows), None

    def at(row: Any) -> str:
        return str(getattr(row, time_column))

    if last_n is None:
        cut = min(at(s[limit]) for s in truncated)
        kept = [r for r in rows if at(r) < cut]
        if not kept:  # more than `limit` instances share one instant
            kept = [r for s in series.values() for r in s[:limit]]
        times = [at(r) for r in kept]
        return kept, ContentRange(min(times), max(times))
    cut = max(at(s[0]) for s in truncated)  # the newest instant left out of a full series
    kept = [r for r in rows if at(r) > cut]
    if not kept:
        kept = [r for s in series.values() for r in s[-limit:]]
    times = [at(r) for r in kept]
    return kept, ContentRange(max(times), min(times), str(last_n))


def _display(moment: str) -> str:
    return moment.replace(".000000Z", "Z")
