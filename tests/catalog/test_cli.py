"""`civictwin catalog ...`: once in a subprocess (exit code, stderr), the rest in process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.namespace import DCAT, RDF
from typer.testing import CliRunner, Result

from civictwin.cli import app
from tests.catalog.helpers import good_dataset, serve_files
from tests.catalog.shacl import violations


def civictwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from civictwin.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_add_refuses_a_bad_dataset_one_line_per_field(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    bad = good_dataset(licence="see website", themes=["CLIMATE"])
    del bad["title"], bad["publisher"]
    (tmp_path / "bad.json").write_text(json.dumps(bad), "utf-8")
    refused = civictwin("catalog", "add", str(tmp_path / "bad.json"), "--database-url", url)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["title", "publisher", "themes[0]",
                                                       "licence"], refused.stderr
    listed = run("catalog", "list", "--database-url", url)
    assert listed.exit_code == 0 and listed.stdout == ""


def run(*args: str) -> Result:
    """Run `civictwin ARGS` in this process (the same Typer app the console script runs)."""
    return CliRunner().invoke(app, list(args))


def test_add_refresh_export_and_harvest(tmp_path: Path, specs_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    (tmp_path / "heat.json").write_text(json.dumps(good_dataset()), "utf-8")
    added = run("catalog", "add", str(tmp_path / "heat.json"), "--database-url", url)
    assert added.exit_code == 0, added.output
    assert "published https://data.example.org/dataset/heat-1" in added.stdout
    refreshed = run("catalog", "refresh", "--database-url", url)
    assert refreshed.exit_code == 0 and "0 entity-type datasets" in refreshed.stdout
    exported = run("catalog", "export", "--format", "turtle", "--database-url", url)
    assert exported.exit_code == 0, exported.output
    graph = Graph().parse(data=exported.stdout, format="turtle")
    assert violations(graph, specs_dir) == []
    assert len(set(graph.subjects(RDF.type, DCAT.Dataset))) == 1
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "catalog.ttl").write_text(exported.stdout, "utf-8")

    other = f"sqlite:///{tmp_path / 'other.db'}"
    with serve_files(tmp_path / "feed") as feed:
        report = tmp_path / "report.json"
        harvested = run("catalog", "harvest", f"{feed}/catalog.ttl", "--database-url", other,
                        "--tenant", "north", "--report", str(report))
        assert harvested.exit_code == 0, harvested.output
        assert "1 datasets: 1 added" in harvested.stdout
        again = run("catalog", "harvest", f"{feed}/catalog.ttl", "--database-url", other,
                    "--tenant", "north")
        assert "0 added, 0 updated, 1 unchanged" in again.stdout
        missing = run("catalog", "harvest", f"{feed}/nothing.ttl", "--database-url", other)
        assert missing.exit_code == 2 and "HTTP 404" in missing.stderr
    assert json.loads(report.read_text())["added"] == ["https://data.example.org/dataset/heat-1"]
    listed = run("catalog", "list", "--database-url", other, "--tenant", "north")
    assert listed.stdout.split("\t")[:2] == ["https://data.example.org/dataset/heat-1",
                                             "harvested"]
    removed = run("catalog", "remove", "https://data.example.org/dataset/heat-1",
                  "--database-url", other, "--tenant", "north")
    assert removed.exit_code == 0
    gone = run("catalog", "remove", "https://data.example.org/dataset/heat-1",
               "--database-url", other, "--tenant", "north")
    assert gone.exit_code == 2 and "no dataset" in gone.stderr
