"""A canvas file: TOML in the `civictwin-canvas/1` format, checked against its JSON Schema.

The nine sections are those of the Data Cooperation Canvas; `SECTIONS` gives their order and
headings. A file that is not TOML or breaks the schema is refused with one line per problem,
each naming the field (`data_exchanged[0].dataset`).
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from civictwin.errors import BadRequestData

FORMAT = "civictwin-canvas/1"
SECTIONS: tuple[tuple[str, str], ...] = (
    ("value_proposition", "Value proposition"),
    ("partners", "Partners and motivations"),
    ("targeted_users", "Targeted users"),
    ("data_exchanged", "Data exchanged"),
    ("technical_infrastructure", "Technical infrastructure"),
    ("resources_and_costs", "Resources and costs"),
    ("governance_model", "Governance model"),
    ("legal_basis", "Legal basis"),
    ("standards", "Standards used"),
)


@dataclass(frozen=True)
class Canvas:
    """A canvas as read from its file: the document and where it came from."""

    path: str
    doc: dict[str, Any]

    @property
    def id(self) -> str:
        """Return the canvas id."""
        return str(self.doc["canvas"]["id"])

    @property
    def title(self) -> str:
        """Return the canvas title."""
        return str(self.doc["canvas"]["title"])

    @property
    def tenant(self) -> str:
        """Return the tenant the canvas's links are looked up in by default."""
        return str(self.doc["canvas"].get("tenant", ""))


@functools.cache
def schema() -> dict[str, Any]:
    """Return the canvas JSON Schema bundled with the package."""
    text = resources.files("civictwin.canvas").joinpath("canvas.schema.json").read_text("utf-8")
    found: dict[str, Any] = json.loads(text)
    return found


def problems(doc: Any) -> list[str]:
    """Return one line per way `doc` breaks the canvas schema (none: it is well-formed)."""
    validator = jsonschema.Draft202012Validator(schema())
    lines = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
        lines.append(f"{_where(error.absolute_path) or '(top)'}: {error.message}")
    return lines


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load(path: str | Path) -> Canvas:
    """Read and check a canvas file; BadRequestData with every problem, one per line."""
    source = Path(path)
    try:
        doc = tomllib.loads(source.read_text("utf-8"))
    except OSError as exc:
        raise BadRequestData(f"{source}: cannot read it: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestData(f"{source}: not a TOML file: {exc}") from exc
    doc = _plain(doc)
    found = problems(doc)
    if found:
        raise BadRequestData("\n".join(f"{source}: {line}" for line in found))
    return Canvas(str(source), doc)


def _plain(value: Any) -> Any:
    """Return `value` with TOML dates as ISO text, so the schema sees JSON types only."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def placeholders(canvas: Canvas) -> list[str]:
    """Return one line per field still holding a `TODO` placeholder."""
    lines: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")
        elif isinstance(value, str) and value.strip().upper().startswith("TODO"):
            lines.append(f"{canvas.path}: {where}: still a placeholder ({value!r})")

    walk(canvas.doc, "")
    return lines
