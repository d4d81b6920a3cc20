"""Data Cooperation Canvas: the file format, the link check against the twin, HTML and PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from civictwin.canvas.document import SECTIONS, load, placeholders
from civictwin.canvas.links import check, resolve
from civictwin.canvas.render import to_html, to_pdf
from civictwin.canvas.template import new_canvas
from civictwin.catalog import Catalogue, Dataset
from civictwin.cli import app as cli
from civictwin.config import Settings
from civictwin.dataspace.participants import Participants
from civictwin.errors import AlreadyExists, BadRequestData
from civictwin.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "canvas" / "lumen-energy.toml"
OFFER = {"@id": "urn:test:offer:aggregates", "@type": "Offer", "permission": [
    {"action": "use", "constraint": [{"leftOperand": "civictwin:aggregation", "operator": "eq",
                                      "rightOperand": "aggregate"}]}]}


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def _twin(store: Store, tenant: str) -> tuple[Settings, str]:
    settings = Settings(database_url=_url(store))
    dataset = f"urn:test:dataset:{tenant}:meters"
    Catalogue(store, settings).put_dataset(tenant, Dataset(
        id=dataset, title="Meter readings of Lumen", description="Quarter-hour readings.",
        publisher="urn:test:city", offers=[OFFER], ngsi_tenant=tenant,
        ngsi_types=["https://smartdatamodels.org/dataModel.Device/SmartMeteringObservation"],
        temporal=True))
    return settings, dataset


def _filled(store: Store, tenant: str, tmp_path: Path) -> tuple[Settings, Path, str]:
    settings, dataset = _twin(store, tenant)
    path = new_canvas(store, settings, tmp_path / "canvas.toml", "lumen-energy", "Lumen energy",
                      [dataset], tenant)
    text = path.read_text("utf-8").replace('"TODO: fill in"', '"Filled in by the test"')
    path.write_text(text + '\n[[indicators]]\nindicator = "residential-energy-per-m2"\n'
                    'why = "The headline figure."\n', "utf-8")
    return settings, path, dataset


def test_a_new_canvas_names_its_placeholders_and_checks_once_filled(
        store: Store, tenant: str, tmp_path: Path) -> None:
    settings, dataset = _twin(store, tenant)
    path = new_canvas(store, settings, tmp_path / "new.toml", "c1", "Lumen energy", [dataset],
                      tenant)
    canvas = load(path)
    todo = placeholders(canvas)
    assert f"{path}: value_proposition.summary: still a placeholder ('TODO: fill in')" in todo
    assert canvas.doc["data_exchanged"][0] == {"dataset": dataset, "form": "aggregate",
                                               "description": "Meter readings of Lumen",
                                               "policy": OFFER["@id"]}
    assert check(store, settings, canvas) == []
    with pytest.raises(AlreadyExists, match="exists already"):
        new_canvas(store, settings, path, "c1", "Lumen energy", [dataset], tenant)
    ran = CliRunner().invoke(cli, ["canvas", "check", str(path), "--database-url", _url(store)])
    assert ran.exit_code == 2 and "still a placeholder" in ran.stderr


def test_every_broken_link_is_one_precise_line(store: Store, tenant: str,
                                               tmp_path: Path) -> None:
    settings, path, dataset = _filled(store, tenant, tmp_path)
    text = path.read_text("utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace(f'policy = "{OFFER["@id"]}"',
                                   'policy = "urn:test:offer:gone"\n'
                                   'agreement = "urn:uuid:00000000-0000-0000-0000-000000000000"')
                      .replace('participant = "urn:civictwin:participant:local"',
                               'participant = "urn:test:nobody"')
                      .replace('"residential-energy-per-m2"', '"happiness-index"')
                      + f'\n[[data_exchanged]]\ndataset = "{dataset}:missing"\n'
                        'description = "x"\nform = "raw"\n', "utf-8")
    lines = check(store, settings, load(broken))
    assert lines == [
        f"{broken}: partners[0].participant: no participant urn:test:nobody is registered",
        f"{broken}: data_exchanged[0].policy: dataset {dataset} carries no offer "
        f"urn:test:offer:gone (it has: {OFFER['@id']})",
        f"{broken}: data_exchanged[0].agreement: no agreement "
        "urn:uuid:00000000-0000-0000-0000-000000000000 in this twin",
        f"{broken}: data_exchanged[1].dataset: no dataset {dataset}:missing in the catalogue "
        f"of tenant {tenant!r}",
        f"{broken}: indicators[0].indicator: no indicator happiness-index in the register "
        f"(known: {lines[-1].split('(known: ')[1][:-1]})",
    ]
    ran = CliRunner().invoke(cli, ["canvas", "check", str(broken), "--database-url", _url(store)])
    assert ran.exit_code == 2
    assert [ln for ln in ran.stderr.splitlines() if ln.startswith("error:")] == \
        [f"error: {ln}" for ln in lines]
    render = CliRunner().invoke(cli, ["canvas", "render", str(broken), "--html",
                                      str(tmp_path / "x.html"), "--database-url", _url(store)])
    assert render.exit_code == 2 and not (tmp_path / "x.html").exists()
    Participants(store).add(f"urn:test:nobody-{tenant}", "Somebody", {"consumer"})
    assert check(store, settings, load(path)) == []


def test_format_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text("utf-8").replace('form = "open"', 'form = "leaked"')
                   .replace("[governance_model]", "[governance]"), "utf-8")
    with pytest.raises(BadRequestData) as caught:
        load(bad)
    lines = caught.value.detail.splitlines()
    assert f"{bad}: (top): 'governance_model' is a required property" in lines
    assert f"{bad}: (top): Additional properties are not allowed ('governance' was " \
        "unexpected)" in lines
    assert any(ln.startswith(f"{bad}: data_exchanged[1].form: 'leaked' is not one of")
               for ln in lines)
    (tmp_path / "not.toml").write_text("title = \n", "utf-8")
    with pytest.raises(BadRequestData, match="not a TOML file"):
        load(tmp_path / "not.toml")


def test_render_html_and_pdf_show_every_section_and_the_linked_items(
        store: Store, tenant: str, tmp_path: Path) -> None:
    settings, path, dataset = _filled(store, tenant, tmp_path)
    canvas = load(path)
    resolved = resolve(store, settings, canvas)
    page = to_html(canvas, resolved)
    for _, heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page
    assert f"dataset {dataset} (Meter readings of Lumen)" in page
    assert "residential-energy-per-m2 (Residential end-use energy per m²" in page
    ran = CliRunner().invoke(cli, ["canvas", "render", str(path), "--html",
                                   str(tmp_path / "c.html"), "--pdf", str(tmp_path / "c.pdf"),
                                   "--database-url", _url(store)])
    assert ran.exit_code == 0, ran.stderr
    assert (tmp_path / "c.html").read_text("utf-8") == page
    pdf = (tmp_path / "c.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"/Type /Page" in pdf and b"DejaVu" in pdf
    to_pdf(canvas, resolved, tmp_path / "again.pdf")
    assert (tmp_path / "again.pdf").stat().st_size > 5000


@pytest.mark.slow
def test_the_demo_canvas_checks_against_the_sample_city(tmp_path: Path) -> None:
    # The example names the default tenant, so it gets a twin of its own (SQLite file).
    from civictwin.demo import load_sample_city
    from civictwin.store import open_store

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}",
                        lake_path=str(tmp_path / "lake"))
    load_sample_city(settings, buildings=40, history_meters=2)
    store = open_store(settings.database_url)
    try:
        assert check(store, settings, load(EXAMPLE)) == []
        assert placeholders(load(EXAMPLE)) == []
    finally:
        store.close()
