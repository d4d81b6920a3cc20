"""The mapping: validation, topic routing, payload parsing, units and times (no store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from civictwin.ingest.mapping import (
    AttributeMap,
    Mapping,
    MappingError,
    RecordRejected,
    load_mapping,
)
from tests.ingest.conftest import write_mapping


def test_routes_topics_and_fills_the_entity(mapping: Mapping) -> None:
    rule, variables = mapping.route(f"lumen/{mapping.tenant}/meters/M-17/reading")
    assert rule.name == "meter-json" and variables == {"meterId": "M-17"}
    assert rule.topic_filter() == f"lumen/{mapping.tenant}/meters/+/reading"
    fields = {**rule.parse_payload(b'{"ts": 1767225600000, "energy_wh": 12345,'
                                   b' "power": {"w": 1500}}'), **variables}
    body = rule.entity(fields)
    assert body["id"] == "urn:ngsi-ld:SmartMeter:M-17"
    assert body["activeEnergyImport"] == {"type": "Property", "value": 12.345,
                                          "unitCode": "KWH",
                                          "observedAt": "2026-01-01T00:00:00.000Z"}
    assert body["activePower"]["value"] == 1.5 and body["activePower"]["unitCode"] == "KWT"
    assert "status" not in body  # optional and absent


def test_compact_payload_and_gas_calorific_value(mapping: Mapping) -> None:
    rule, variables = mapping.route(f"lumen/{mapping.tenant}/meters/G-2/compact")
    body = rule.entity({**rule.parse_payload(b"20260301T120000,0.25,3"), **variables})
    assert body["activeEnergyImport"]["value"] == 250.0
    assert body["gasEnergy"] == {"type": "Property", "value": 31.5, "unitCode": "KWH",
                                 "observedAt": "2026-03-01T12:00:00.000Z"}


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("lumen/x", b"{}", "no rule matches topic"),
    ("lumen/meters/M1/reading", b"{not json", "payload is not JSON"),
    ("lumen/meters/M1/reading", b"[1, 2]", "must be an object"),
    ("lumen/meters/M1/reading", b"\xff\xfe", "not UTF-8"),
    ("lumen/meters/M1/reading", b'{"ts": 1, "power": {"w": 1}}', "'energy_wh' is missing"),
    ("lumen/meters/M1/reading", b'{"ts": 1, "energy_wh": "lots", "power": {"w": 1}}',
     "is not a number"),
    ("lumen/meters/M1/reading", b'{"ts": "soon", "energy_wh": 1, "power": {"w": 1}}',
     "does not match the format"),
    ("lumen/meters/M1/compact", b"20260301T120000,0.25", "has 2 fields, expected 3"),
])
def test_malformed_messages_are_rejected_with_a_reason(mapping: Mapping, topic: str,
                                                       payload: bytes, reason: str) -> None:
    with pytest.raises(RecordRejected, match=reason):
        rule, variables = mapping.route(topic.replace("lumen/", f"lumen/{mapping.tenant}/"))
        rule.entity({**rule.parse_payload(payload), **variables})


def test_unit_table_and_explicit_factor() -> None:
    assert AttributeMap(source="x", from_unit="Wh", to_unit="kWh").conversion() == (1e-3, 0.0)
    assert AttributeMap(source="x", factor=2.0, offset=1.0).conversion() == (2.0, 1.0)
    with pytest.raises(ValueError, match="calorific_value"):
        AttributeMap(source="x", from_unit="m3", to_unit="kWh")
    with pytest.raises(ValueError, match="no conversion from parsec to kWh"):
        AttributeMap(source="x", from_unit="parsec", to_unit="kWh")


def test_bad_mapping_files_give_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "a"\nentity_id = "urn:x:{id}"\nentity_type = "T"\n'
                   'attributes = [{ source = "v", from_unit = "Wh", to_unit = "parsec" }]\n')
    with pytest.raises(MappingError, match=r"rules\.0\.attributes\.0.*no conversion"):
        load_mapping(bad)
    bad.write_text("rules = [")
    with pytest.raises(MappingError, match=r"bad\.toml"):
        load_mapping(bad)
    bad.write_text('[[rules]]\nname = "a"\nentity_id = "urn:x:fixed"\nentity_type = "T"\n'
                   'attributes = [{ source = "v" }]\n')
    with pytest.raises(MappingError, match="at least one"):
        load_mapping(bad)
    with pytest.raises(MappingError, match="No such file"):
        load_mapping(tmp_path / "missing.toml")
    assert load_mapping(write_mapping(tmp_path / "ok.toml", "t")).tenant == "t"


def test_the_documented_mapping_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "ingest.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "doc.toml").write_text(example)
    mapping = load_mapping(tmp_path / "doc.toml")
    assert [r.name for r in mapping.rules] == ["meter-json", "meter-compact", "billing",
                                               "footprints"]
    rule, variables = mapping.route("lumen/meters/M-17/compact")
    body = rule.entity({**rule.parse_payload(b"20260301T120000,0.25,3"), **variables})
    assert body["gasEnergy"]["value"] == 31.5
