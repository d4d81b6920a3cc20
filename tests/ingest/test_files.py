"""File ingestion on both stores: CSV billing extracts, Excel sheets, GeoJSON footprints."""

from __future__ import annotations

import json
from pathlib import Path

from civictwin.ingest.deadletter import DeadLetterBox
from civictwin.ingest.files import FileSource, ingest_file
from civictwin.ingest.mapping import Mapping
from civictwin.ngsild.broker import ContextBroker

BILLING_CSV = """meter,account,period_end,consumption_mwh
M-1,ACC-1,31/01/2026,1.5
M-2,ACC-2,31/01/2026,0.75
M-3,ACC-3,2026-01-31,2
,ACC-4,31/01/2026,1
M-5,ACC-5,31/01/2026,n/a
M-1,ACC-1,28/02/2026,1.25
"""


def _value(broker: ContextBroker, mapping: Mapping, entity_id: str, attr: str) -> object:
    ctx = broker.context(mapping.context)
    entity = broker.retrieve_entity(mapping.tenant, entity_id)
    return entity.attrs[ctx.expand(attr)][0]["value"]


def test_csv_extract_reports_rows_and_reruns_idempotently(
        tmp_path: Path, broker: ContextBroker, box: DeadLetterBox, mapping: Mapping) -> None:
    path = tmp_path / "billing.csv"
    path.write_text(BILLING_CSV)
    source = FileSource(path, "csv")
    ticks: list[int] = []
    report = ingest_file(broker, mapping, mapping.rule("billing"), source, box,
                         batch_size=2, progress=ticks.append)
    assert (report.rows, report.accepted, len(report.entities)) == (6, 3, 2)
    assert len(ticks) == 6 and source.total() == 6
    assert [(r.row, r.reason) for r in report.rejected] == [
        (4, "time '2026-01-31' does not match the format '%d/%m/%Y'"),
        (5, "field 'meter' for the entity id is missing"),
        (6, "field 'consumption_mwh' = 'n/a' is not a number"),
    ]
    # The February row comes later in the file, so it wins.
    assert _value(broker, mapping, "urn:ngsi-ld:SmartMeter:M-1", "billedEnergy") == 1250.0
    first = broker.retrieve_entity(mapping.tenant, "urn:ngsi-ld:SmartMeter:M-2")
    assert box.count(str(path)) == 3
    assert json.loads(box.list(str(path))[-1].payload)["account"] == "ACC-3"

    again = ingest_file(broker, mapping, mapping.rule("billing"), source, box)
    assert again.to_json() == report.to_json()
    second = broker.retrieve_entity(mapping.tenant, "urn:ngsi-ld:SmartMeter:M-2")
    assert _without_times(second.attrs) == _without_times(first.attrs)
    assert second.types == first.types
    assert [r.accepted for r in box.runs()][:2] == [3, 3]


def _without_times(attrs: dict[str, list[dict[str, object]]]) -> object:
    return {k: [{m: v for m, v in i.items() if m != "modifiedAt"} for i in instances]
            for k, instances in attrs.items()}


def test_excel_sheet(tmp_path: Path, broker: ContextBroker, box: DeadLetterBox,
                     mapping: Mapping) -> None:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    sheet.title = "January"
    sheet.append(["meter", "account", "period_end", "consumption_mwh"])
    sheet.append(["M-7", "ACC-7", "31/01/2026", 0.5])
    sheet.append([None, None, None, None])
    sheet.append(["M-8", "ACC-8", "31/01/2026", "broken"])
    path = tmp_path / "billing.xlsx"
    book.save(path)
    report = ingest_file(broker, mapping, mapping.rule("billing"),
                         FileSource(path, "excel", sheet="January"), box)
    assert report.accepted == 1
    assert [(r.row, r.reason) for r in report.rejected] == [
        (4, "field 'consumption_mwh' = 'broken' is not a number")]
    assert _value(broker, mapping, "urn:ngsi-ld:SmartMeter:M-7", "billedEnergy") == 500.0


def test_geojson_footprints(tmp_path: Path, broker: ContextBroker, box: DeadLetterBox,
                            mapping: Mapping) -> None:
    square = {"type": "Polygon", "coordinates": [[[4.35, 50.85], [4.351, 50.85],
                                                  [4.351, 50.851], [4.35, 50.85]]]}
    features = [
        {"type": "Feature", "geometry": square, "properties": {"ref": "B1", "floors": 3}},
        {"type": "Feature", "geometry": None, "properties": {"ref": "B2", "floors": 2}},
        {"type": "Feature", "geometry": square, "properties": {"ref": "B3", "floors": 2.5}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "x"},
         "properties": {"ref": "B4", "floors": 1}},
        "junk",
    ]
    path = tmp_path / "footprints.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    report = ingest_file(broker, mapping, mapping.rule("footprints"),
                         FileSource(path, "geojson"), box)
    assert report.accepted == 1
    reasons = {r.row: r.reason for r in report.rejected}
    assert reasons[2] == "feature has no geometry"
    assert "not an integer" in reasons[3]
    assert reasons[4].startswith("entity urn:ngsi-ld:Building:B4:")  # refused by the broker
    assert reasons[5] == "not a GeoJSON Feature"
    ctx = broker.context(mapping.context)
    b1 = broker.retrieve_entity(mapping.tenant, "urn:ngsi-ld:Building:B1")
    assert b1.attrs[ctx.expand("location")][0]["value"] == square
