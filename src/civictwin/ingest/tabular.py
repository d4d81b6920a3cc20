"""Read rows of CSV and Excel extracts (utility and billing data) as (row number, fields)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from civictwin.errors import BadRequestData

Row = tuple[int, dict[str, Any]]
"""A row number as a person sees it in the file (header is row 1) and the row's fields."""


def csv_rows(path: Path, delimiter: str = ",", encoding: str = "utf-8-sig") -> Iterator[Row]:
    """Yield the data rows of a CSV file with a header row."""
    with path.open(newline="", encoding=encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = _header(next(reader, None), path)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            fields: dict[str, Any] = dict(zip(header, row, strict=False))
            if len(row) != len(header):
                fields["__error__"] = f"row has {len(row)} cells, the header {len(header)}"
            yield reader.line_num, fields


def csv_row_count(path: Path) -> int:
    """Return the number of lines after the header (for a progress bar)."""
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def excel_rows(path: Path, sheet: str | None = None) -> Iterator[Row]:
    """Yield the data rows of an Excel sheet (the first, or `sheet`) with a header row."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise BadRequestData(f"{path}: not an Excel workbook ({exc})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise BadRequestData(f"{path}: no sheet {sheet!r} (has {', '.join(book.sheetnames)})")
        rows = book[sheet].iter_rows(values_only=True) if sheet else \
            book.worksheets[0].iter_rows(values_only=True)
        first = next(rows, None)
        header = _header([str(c) if c is not None else "" for c in first or ()], path)
        for number, row in enumerate(rows, start=2):
            if all(cell is None or str(cell).strip() == "" for cell in row):
                continue
            yield number, dict(zip(header, row, strict=False))
    finally:
        book.close()


def excel_row_count(path: Path, sheet: str | None = None) -> int | None:
    """Return the sheet's row count after the header, when the file says."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True)
        ws = book[sheet] if sheet else book.worksheets[0]
        count = ws.max_row
        book.close()
    except Exception:  # the row reader reports the real problem
        return None
    return max(count - 1, 0) if count else None


def _header(cells: list[str] | None, path: Path) -> list[str]:
    if not cells or not any(c.strip() for c in cells):
        raise BadRequestData(f"{path}: the first row must name the columns")
    header = [c.strip() for c in cells]
    dupes = sorted({c for c in header if c and header.count(c) > 1})
    if dupes:
        raise BadRequestData(f"{path}: duplicate column names {', '.join(dupes)}")
    return header
