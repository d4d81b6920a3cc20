"""Three cities on loopback: discovery, agreements, one question, aggregates only, benchmark."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from civictwin.analytics.indicators import Grade, IndicatorValue, publish
from civictwin.dataspace.transfer import STARTED, Transfers
from civictwin.network.discovery import discover
from civictwin.network.intensity import city_bands
from civictwin.network.offers import OFFER_ID, energy_dataset_id, energy_offer, offer_energy
from civictwin.network.peers import peer
from civictwin.privacy import DisclosureRules
from civictwin.store import Store, open_store
from civictwin.twin import open_twin
from tests.network.cities import YEAR, City, load_city, three_cities

RULES = (3, 5, 10)  # each city's own minimum of contributors per released band
BUILDINGS = 100
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "canvas" / "lumen-energy.toml"


def _headers(city: City) -> dict[str, str]:
    return {"Authorization": f"Bearer {city.operator_key}"}


def _ask(city: City) -> dict[str, Any]:
    answer = httpx.post(f"{city.url}/network/answers", headers=_headers(city), timeout=120,
                        json={"by": "construction_period", "start": YEAR[0], "end": YEAR[1]})
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


@pytest.mark.slow
def test_three_cities_answer_one_question_with_aggregates_only(store: Store, tmp_path: Path,
                                                               tenant: str) -> None:
    stores = [store, open_store(f"sqlite:///{tmp_path / 'brisa.db'}"),
              open_store(f"sqlite:///{tmp_path / 'cardo.db'}")]
    try:
        for seed, one in enumerate(stores, start=11):
            load_city(one, tenant, seed, BUILDINGS)
        with three_cities(stores, tmp_path, tenant) as cities:
            for city, least in zip(cities, RULES, strict=True):
                offer_energy(city.store, city.settings, tenant, least)
            _discovery(cities[0], cities[1], tenant)
            answer = _ask(cities[0])
            _each_city_as_it_computes_alone(cities, answer, tenant)
            _combined_is_the_sum_of_the_cities(answer)
            saved = httpx.get(f"{cities[0].url}/network/answers/{answer['id']}",
                              headers=_headers(cities[0]))
            assert saved.json() == answer
            _only_aggregates_crossed_the_border(cities)
            _raw_reads_are_refused(cities[0], cities[1], answer)
            _cli_and_canvas(cities[0], answer, tmp_path, tenant)
            _peer_refusals(cities, answer)
            _benchmark(cities)
    finally:
        for other in stores[1:]:
            other.close()


def _discovery(lumen: City, brisa: City, tenant: str) -> None:
    found = discover(lumen.store, lumen.settings,
                     peer(lumen.store, lumen.settings, brisa.settings.participant_id))
    dataset = found.dataset(OFFER_ID)
    assert dataset.id == energy_dataset_id(tenant) and dataset.aggregates_only
    assert [o["@id"] for o in dataset.offers] == [OFFER_ID]
    assert not any(d.aggregates_only for d in found.datasets if d.id != dataset.id)


def _each_city_as_it_computes_alone(cities: list[City], answer: dict[str, Any],
                                    tenant: str) -> None:
    assert [c["city"] for c in answer["cities"]] == ["Lumen", "Brisa", "Cardo"], [
        c["error"] for c in answer["cities"]]
    for city, least, part in zip(cities, RULES, answer["cities"], strict=True):
        assert part["error"] is None and part["status"] == "answered"
        assert part["rules"]["minContributors"] == least
        rules = DisclosureRules.from_policy(energy_offer(least))
        alone, _ = city_bands(city.store, tenant, "construction_period", *YEAR, rules,
                              "urn:test:the-city-alone", None)
        assert part["bands"] == [b.to_json() for b in alone], city.name
        assert len(part["releases"]) == 3  # electricity, heat, gas
        for band in part["bands"]:
            if band["status"] == "released":
                assert band["contributors"] >= least and band["kwhPerM2"] > 0
            else:
                assert band["kwhPerM2"] is None and band["reason"]
    withheld_by_cardo_only = [
        b["key"] for b in answer["cities"][2]["bands"] if b["status"] == "withheld"
        and any(o["key"] == b["key"] and o["status"] == "released"
                for o in answer["cities"][0]["bands"])]
    assert withheld_by_cardo_only, "the cities' own rules should differ in what they release"


def _combined_is_the_sum_of_the_cities(answer: dict[str, Any]) -> None:
    keys = sorted({b["key"] for c in answer["cities"] for b in c["bands"]})
    assert [r["key"] for r in answer["combined"]] == keys
    for row in answer["combined"]:
        released = [(c["city"], b) for c in answer["cities"] for b in c["bands"]
                    if b["key"] == row["key"] and b["kwhPerM2"] is not None]
        assert row["cities"] == [name for name, _ in released]
        assert set(row["withheldOrMissing"]) == {"Lumen", "Brisa", "Cardo"} - set(row["cities"])
        if not released:
            assert row["kwhPerM2"] is None
            continue
        energy = sum(b["energyKwh"] for _, b in released)
        area = sum(b["floorAreaM2"] for _, b in released)
        assert row["kwhPerM2"] == pytest.approx(energy / area)
        assert row["energyKwh"] == pytest.approx(energy)


def _only_aggregates_crossed_the_border(cities: list[City]) -> None:
    crossed = [(c.name, e) for c in cities for e in c.recorder.exchanges
               if not e["authorization"].startswith("Bearer ctk_")]
    paths = {e["path"] for _, e in crossed}
    assert "/network/questions/energy-per-m2" in paths
    allowed = re.compile(r"^(/\.well-known/dspace-version|/dsp/.*|"
                         r"/network/questions/energy-per-m2|/network/indicators)$")
    assert all(allowed.match(p) for p in paths), paths
    for name, exchange in crossed:
        for text in (exchange["request"], exchange["answer"]):
            assert "urn:ngsi-ld:SmartMeteringObservation" not in text, (name, exchange["path"])
            assert "urn:ngsi-ld:Building" not in text, (name, exchange["path"])
            # temporal readings carry these members; catalogue metadata names attributes only
            assert '"observedAt"' not in text and '"instanceId"' not in text
            assert '"values"' not in text
    for name, exchange in crossed:
        if exchange["path"] == "/network/questions/energy-per-m2" and exchange["status"] == 200:
            body = json.loads(exchange["answer"])
            assert set(body) == {"city", "participant", "status", "error", "agreement",
                                 "releases", "rules", "bands"}, name
            assert all(set(b) == {"key", "kwhPerM2", "energyKwh", "floorAreaM2", "contributors",
                                  "status", "reason"} for b in body["bands"])


def _agreement_with(answer: dict[str, Any], city: City) -> str:
    (part,) = [c for c in answer["cities"] if c["participant"] == city.settings.participant_id]
    agreement: str = part["agreement"]
    return agreement


def _raw_reads_are_refused(lumen: City, brisa: City, answer: dict[str, Any]) -> None:
    agreement = _agreement_with(answer, brisa)
    transfers = Transfers(lumen.store, lumen.settings)
    started = transfers.request(agreement)
    deadline = time.monotonic() + 20
    while transfers.get(started.pid).state != STARTED:
        assert time.monotonic() < deadline, "the transfer did not start"
        time.sleep(0.05)
    address = transfers.get(started.pid).data_address
    assert address is not None
    token = {p["name"]: p["value"] for p in address["endpointProperties"]}["authorization"]
    raw = httpx.get(f"{address['endpoint']}/temporal/entities",
                    params={"type": "SmartMeteringObservation"},
                    headers={"Authorization": f"Bearer {token}"})
    assert raw.status_code == 403, raw.text
    assert "urn:ngsi-ld:SmartMeteringObservation" not in raw.text


def _config(city: City, tmp_path: Path) -> Path:
    url = city.store.engine.url  # type: ignore[attr-defined]
    values = {**city.settings.model_dump(include={
        "participant_id", "signing_key_file", "host", "port", "network_city_name",
        "network_tenant"}), "network_peers": ",".join(city.settings.network_peers),
        "database_url": url.render_as_string(hide_password=False)}
    path = tmp_path / f"{city.name}.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()), "utf-8")
    return path


def _cli_and_canvas(lumen: City, answer: dict[str, Any], tmp_path: Path, tenant: str) -> None:
    from typer.testing import CliRunner

    from civictwin.cli import app as cli

    config = _config(lumen, tmp_path)
    ran = CliRunner().invoke(cli, ["network", "discover", "--config", str(config)])
    assert ran.exit_code == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert [c["peer"]["id"] for c in found] == list(lumen.settings.network_peers)
    assert all(any(d["aggregatesOnly"] for d in c["datasets"]) for c in found)
    listed = CliRunner().invoke(cli, ["network", "answers", "--limit", "1",
                                      "--config", str(config)])
    assert json.loads(listed.stdout)[0]["id"] == answer["id"]
    # A canvas of the collaboration in Lumen's twin, naming its agreement with Brisa.
    agreement = next(c["agreement"] for c in answer["cities"] if c["city"] == "Brisa")
    text = EXAMPLE.read_text("utf-8").replace('tenant = ""', f"tenant = {json.dumps(tenant)}")
    text = text.replace(":default:", f":{tenant}:").replace(
        "urn:civictwin:participant:local", lumen.settings.participant_id)
    text = text.replace(f'policy = "{OFFER_ID}"',
                        f'policy = "{OFFER_ID}"\nagreement = "{agreement}"')
    canvas = tmp_path / "collaboration.toml"
    canvas.write_text(text, "utf-8")
    checked = CliRunner().invoke(cli, ["canvas", "check", str(canvas), "--config", str(config)])
    assert checked.exit_code == 0, checked.stderr
    canvas.write_text(text.replace(agreement, "urn:uuid:11111111-1111-1111-1111-111111111111"),
                      "utf-8")
    broken = CliRunner().invoke(cli, ["canvas", "check", str(canvas), "--config", str(config)])
    assert broken.exit_code == 2
    assert broken.stderr.strip().splitlines() == [
        f"error: {canvas}: data_exchanged[0].agreement: no agreement "
        "urn:uuid:11111111-1111-1111-1111-111111111111 in this twin"]


def _peer_refusals(cities: list[City], answer: dict[str, Any]) -> None:
    from civictwin.dataspace.auth import sign_token

    lumen, brisa = cities[0], cities[1]
    url = f"{brisa.url}/network/questions/energy-per-m2"

    def asked(body: dict[str, Any]) -> httpx.Response:
        token = sign_token(lumen.settings, brisa.settings.participant_id)
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"})

    period = {"start": YEAR[0], "end": YEAR[1]}
    assert asked(period).status_code == 400
    unknown = asked({**period, "agreement": "urn:uuid:00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 404
    assert asked({**period, "by": "owner_name",
                  "agreement": _agreement_with(answer, brisa)}).status_code == 400
    Transfers(brisa.store, brisa.settings).set_agreement_status(
        _agreement_with(answer, brisa), "suspended", "board review")
    again = _ask(lumen)
    by_city = {c["participant"]: c for c in again["cities"]}
    refused = by_city[brisa.settings.participant_id]
    assert "suspended" in refused["error"] and refused["bands"] == []
    assert refused["city"] == "City of Brisa"  # the name Lumen registered it under
    cardo = by_city[cities[2].settings.participant_id]
    assert cardo["error"] is None and cardo["bands"]
    assert all("Brisa" not in r["cities"] for r in again["combined"])


def _benchmark(cities: list[City]) -> None:
    for n, city in enumerate(cities):
        twin = open_twin(city.settings, city.store)
        grade = Grade("ABC"[n], 1.0, 1.0 - n / 10, "measured", "test grade")
        publish(twin.broker, city.settings.network_tenant,
                [IndicatorValue("electricity-per-capita", "", city.name, "2024", 1000.0 + n,
                                grade)], city.name, "2025-01-02T00:00:00Z")
    lumen = cities[0]
    table = httpx.get(f"{lumen.url}/network/benchmark", headers=_headers(lumen), timeout=60)
    assert table.status_code == 200, table.text
    body = table.json()
    assert [c["city"] for c in body["cities"]] == ["Lumen", "Brisa", "Cardo"]
    (row,) = [r for r in body["indicators"] if r["id"] == "electricity-per-capita"]
    assert row["cities"] == {name: {"value": 1000.0 + n, "period": "2024", "grade": "ABC"[n]}
                             for n, name in enumerate(("Lumen", "Brisa", "Cardo"))}
    bands = [r for r in body["indicators"] if r["id"].startswith("energy-per-m2[")]
    assert bands and all(r["unit"] == "kWh/m²" for r in bands)
    as_csv = httpx.get(f"{lumen.url}/network/benchmark", params={"format": "csv"},
                       headers=_headers(lumen), timeout=60)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    for band in bands:
        (listed,) = [r for r in rows if r["indicator"] == band["id"]]
        assert listed["network"] == ("" if band["network"] is None else
                                     f"{band['network']:.6g}")
    (line,) = [r for r in rows if r["indicator"] == "electricity-per-capita"]
    assert (line["value (Brisa)"], line["grade (Brisa)"], line["grade (Cardo)"]) == \
        ("1001", "B", "C")
    outsider = httpx.get(f"{cities[1].url}/network/indicators",
                         headers=_headers(cities[0]))
    assert outsider.status_code == 401  # Lumen's operator key means nothing in Brisa
