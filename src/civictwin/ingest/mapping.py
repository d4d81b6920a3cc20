"""The ingest mapping: how a device message or a file row becomes an NGSI-LD entity update.

One TOML file, validated by the pydantic models below, serves MQTT and file ingestion alike.
A `Rule` names the entity (an id template filled from topic variables and source fields), its
type, and per attribute the source field, unit conversion and `observedAt`. `Rule.entity`
turns one record (a flat mapping of field names to values) into a normalized NGSI-LD body or
raises `RecordRejected` with a reason a person can act on.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping as MappingABC
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from civictwin.errors import BadRequestData
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL

# Factors to the target unit, and the UN/CEFACT code (NGSI-LD unitCode) of each unit.
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("Wh", "kWh"): 1e-3, ("kWh", "kWh"): 1.0, ("MWh", "kWh"): 1e3, ("GJ", "kWh"): 1e3 / 3.6,
    ("MJ", "kWh"): 1 / 3.6, ("kWh", "MWh"): 1e-3, ("Wh", "Wh"): 1.0, ("kWh", "Wh"): 1e3,
    ("W", "kW"): 1e-3, ("kW", "kW"): 1.0, ("MW", "kW"): 1e3, ("W", "W"): 1.0, ("kW", "W"): 1e3,
    ("l", "m3"): 1e-3, ("m3", "m3"): 1.0, ("m3", "l"): 1e3, ("l", "l"): 1.0,
    ("CEL", "CEL"): 1.0,
}
UNIT_CODES: dict[str, str] = {
    "Wh": "WHR", "kWh": "KWH", "MWh": "MWH", "W": "WTT", "kW": "KWT", "m3": "MTQ",
    "l": "LTR", "CEL": "CEL", "FAH": "FAH", "GJ": "GV", "MJ": "3B", "MW": "MAW",
}

FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


class RecordRejected(Exception):
    """A message or row that cannot become an entity update; the reason goes to dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MappingError(Exception):
    """A mapping file that cannot be read or is not valid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeMap(_Model):
    """One source field becoming one attribute."""

    source: str = Field(description="Field in the payload or row (dots reach into JSON).")
    name: str | None = Field(None, description="Attribute name; the field name by default.")
    kind: Literal["number", "integer", "text", "boolean"] = "number"
    required: bool = True
    from_unit: str | None = Field(None, description="Unit of the source value, e.g. Wh.")
    to_unit: str | None = Field(None, description="Unit stored, e.g. kWh.")
    factor: float | None = Field(None, description="Explicit factor (overrides the unit table).")
    offset: float = 0.0
    calorific_value: float | None = Field(
        None, gt=0, description="kWh per m3, to turn a gas volume (m3) into energy (kWh).")
    unit_code: str | None = Field(None, description="UN/CEFACT unitCode; from to_unit if unset.")

    @model_validator(mode="after")
    def _units_known(self) -> AttributeMap:
        if self.factor is None and (self.from_unit or self.to_unit):
            self.conversion()  # raises ValueError for an unknown pair
        return self

    def conversion(self) -> tuple[float, float]:
        """Return (factor, offset) to apply to the source value."""
        if self.factor is not None:
            return self.factor, self.offset
        if not self.from_unit and not self.to_unit:
            return 1.0, self.offset
        src = self.from_unit or self.to_unit or ""
        dst = self.to_unit or self.from_unit or ""
        if (src, dst) == ("m3", "kWh"):
            if self.calorific_value is None:
                raise ValueError("m3 to kWh needs calorific_value (kWh per m3)")
            return self.calorific_value, self.offset
        if (src, dst) == ("FAH", "CEL"):
            return 5 / 9, -32 * 5 / 9 + self.offset
        if (src, dst) not in UNIT_FACTORS:
            known = ", ".join(sorted({f"{a}->{b}" for a, b in UNIT_FACTORS}))
            raise ValueError(f"no conversion from {src} to {dst} (known: {known}, m3->kWh, "
                             "FAH->CEL; or give factor)")
        return UNIT_FACTORS[(src, dst)], self.offset

    def code(self) -> str | None:
        """Return the unitCode stored with the attribute."""
        unit = self.to_unit or self.from_unit
        return self.unit_code or (UNIT_CODES.get(unit) if unit else None)


class Rule(_Model):
    """How the records of one source (a topic pattern, a file) become entities."""

    name: str
    topic: str | None = Field(None, description="MQTT topic pattern: lumen/meters/{meterId}/x.")
    payload: Literal["json", "csv"] = "json"
    csv_fields: list[str] = Field(default_factory=list,
                                  description="Field names of a compact CSV payload, in order.")
    csv_delimiter: str = Field(",", min_length=1, max_length=1)
    entity_id: str = Field(description="Template, e.g. urn:ngsi-ld:Meter:{meterId}.")
    entity_type: str
    observed_at: str | None = Field(None, description="Field holding the observation time.")
    time_format: str = Field("iso", description="iso, epoch_s, epoch_ms or a strptime format.")
    geometry: str | None = Field(None, description="Attribute for a GeoJSON feature's geometry.")
    attributes: list[AttributeMap] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.payload == "csv" and not self.csv_fields:
            raise ValueError("a csv payload needs csv_fields")
        if not FIELD.search(self.entity_id):
            raise ValueError("entity_id must contain at least one {field}")
        if self.topic is not None:
            topic_pattern(self.topic)
        return self

    def topic_filter(self) -> str:
        """Return the MQTT subscription filter: each {var} level becomes +."""
        return FIELD.sub("+", self.topic or "#")

    def match(self, topic: str) -> dict[str, str] | None:
        """Return the topic variables if `topic` matches this rule's pattern, else None."""
        if self.topic is None:
            return None
        found = topic_pattern(self.topic).fullmatch(topic)
        return found.groupdict() if found else None

    def parse_payload(self, payload: bytes | bytearray) -> dict[str, Any]:
        """Decode a message payload into fields; RecordRejected if it is malformed."""
        import json

        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordRejected(f"payload is not UTF-8: {exc}") from None
        if self.payload == "csv":
            parts = [p.strip() for p in text.strip().split(self.csv_delimiter)]
            if len(parts) != len(self.csv_fields):
                raise RecordRejected(f"compact payload has {len(parts)} fields, expected "
                                     f"{len(self.csv_fields)} ({','.join(self.csv_fields)})")
            return dict(zip(self.csv_fields, parts, strict=True))
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecordRejected(f"payload is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RecordRejected("JSON payload must be an object")
        return data

    def entity(self, record: MappingABC[str, Any], geometry: Any = None) -> dict[str, Any]:
        """Return the normalized NGSI-LD entity for one record; RecordRejected if it is bad."""
        body: dict[str, Any] = {"id": _fill(self.entity_id, record), "type": self.entity_type}
        observed = _time(lookup(record, self.observed_at), self.time_format) \
            if self.observed_at else None
        for attr in self.attributes:
            raw = lookup(record, attr.source)
            if raw is None or raw == "":
                if attr.required:
                    raise RecordRejected(f"field {attr.source!r} is missing")
                continue
            prop: dict[str, Any] = {"type": "Property", "value": _value(attr, raw)}
            if (code := attr.code()) is not None:
                prop["unitCode"] = code
            if observed is not None:
                prop["observedAt"] = observed
            body[attr.name or attr.source] = prop
        if self.geometry is not None:
            if not isinstance(geometry, dict) or "type" not in geometry:
                raise RecordRejected("feature has no geometry")
            body[self.geometry] = {"type": "GeoProperty", "value": geometry}
        return body


class MqttSettings(_Model):
    """Where the bridge connects and how it batches."""

    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = "civictwin-ingest"
    qos: Literal[0, 1, 2] = 1
    batch_size: int = Field(500, ge=1, le=10_000)
    receive_maximum: int = Field(1000, ge=1, le=65_535)


class Mapping(_Model):
    """A whole mapping file: the target tenant and @context, MQTT settings, and rules."""

    context: str = CIVICTWIN_CONTEXT_URL
    tenant: str = ""
    mqtt: MqttSettings = MqttSettings()
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Mapping:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        return self

    def rule(self, name: str | None) -> Rule:
        """Return the rule called `name`, or the only rule when name is None."""
        if name is None:
            if len(self.rules) > 1:
                raise BadRequestData("the mapping has several rules: choose one with --rule")
            return self.rules[0]
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise BadRequestData(f"the mapping has no rule {name!r}")

    def route(self, topic: str) -> tuple[Rule, dict[str, str]]:
        """Return the first rule whose topic pattern matches, with the topic variables."""
        for rule in self.rules:
            found = rule.match(topic)
            if found is not None:
                return rule, found
        raise RecordRejected(f"no rule matches topic {topic!r}")


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file; MappingError with a one-line reason if it is bad."""
    try:
        with Path(path).open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"mapping {path}: {exc}") from None
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise MappingError(f"mapping {path}: {where}: {first['msg']}") from None


def topic_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a topic pattern with {var} levels into a regular expression."""
    parts = []
    for level in pattern.split("/"):
        found = FIELD.fullmatch(level)
        if found:
            parts.append(f"(?P<{found.group(1)}>[^/]+)")
        elif "{" in level or "+" in level or "#" in level:
            raise ValueError(f"topic level {level!r}: use a whole level {{name}} for variables")
        else:
            parts.append(re.escape(level))
    return re.compile("/".join(parts))


def lookup(record: MappingABC[str, Any], path: str | None) -> Any:
    """Return a field of a record; dots reach into nested JSON objects."""
    if path is None:
        return None
    if path in record:
        return record[path]
    value: Any = record
    for key in path.split("."):
        if not isinstance(value, MappingABC) or key not in value:
            return None
        value = value[key]
    return value


def _fill(template: str, record: MappingABC[str, Any]) -> str:
    def one(found: re.Match[str]) -> str:
        value = lookup(record, found.group(1))
        if value is None or value == "":
            raise RecordRejected(f"field {found.group(1)!r} for the entity id is missing")
        text = str(value).strip()
        if any(c in text for c in string.whitespace + "/#?<>\"{}"):
            raise RecordRejected(f"field {found.group(1)!r} = {text!r} cannot be part of an id")
        return text

    return FIELD.sub(one, template)


def _value(attr: AttributeMap, raw: Any) -> Any:
    if attr.kind == "text":
        return str(raw)
    if attr.kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "1", "yes"}:
            return True
        if text in {"false", "0", "no"}:
            return False
        raise RecordRejected(f"field {attr.source!r} = {raw!r} is not a boolean")
    if isinstance(raw, bool):
        raise RecordRejected(f"field {attr.source!r} = {raw!r} is not a number")
    try:
        number = float(str(raw).strip().replace(",", ".")) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        raise RecordRejected(f"field {attr.source!r} = {raw!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RecordRejected(f"field {attr.source!r} = {raw!r} is not a finite number")
    factor, offset = attr.conversion()
    converted = number * factor + offset
    if attr.kind == "integer":
        if converted != int(converted):
            raise RecordRejected(f"field {attr.source!r} = {raw!r} is not an integer")
        return int(converted)
    return round(converted, 9)


def _time(raw: Any, fmt: str) -> str:
    if raw is None or raw == "":
        raise RecordRejected("the observation time is missing")
    try:
        if fmt in {"epoch_s", "epoch_ms"}:
            seconds = float(raw) / (1000 if fmt == "epoch_ms" else 1)
            moment = datetime.fromtimestamp(seconds, UTC)
        elif fmt == "iso":
            moment = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        else:
            moment = datetime.strptime(str(raw).strip(), fmt)
    except (ValueError, OverflowError, OSError):
        raise RecordRejected(f"time {raw!r} does not match the format {fmt!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # declared formats without a zone are UTC
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
