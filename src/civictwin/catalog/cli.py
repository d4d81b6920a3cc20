"""`civictwin catalog ...`: describe the twin, add and remove datasets, harvest, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:  # the CLI imports this module on every command: keep it light
    from civictwin.catalog.catalogue import Catalogue

catalog_app = typer.Typer(help="The DCAT-AP catalogue: describe, publish, harvest, export.",
                          no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="NGSI-LD tenant (default: none).")]
SUFFIXES = {".ttl": "text/turtle", ".jsonld": "application/ld+json",
            ".rdf": "application/rdf+xml", ".xml": "application/rdf+xml"}


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


def _catalogue(config: Path | None, database_url: str | None) -> Catalogue:
    from civictwin.catalog.catalogue import Catalogue
    from civictwin.cli import _settings
    from civictwin.store import open_store

    settings = _settings(config, database_url)
    try:
        return Catalogue(open_store(settings.database_url), settings, background=False)
    except CivicTwinError as exc:
        _fail(exc.detail)


@catalog_app.command()
def refresh(config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "") -> None:
    """Describe what the twin holds again: a dataset per entity type and per history."""
    catalogue = _catalogue(config, database_url)
    done = catalogue.refresh(tenant)
    out.print(f"{done.datasets} entity-type datasets and {done.history} history datasets "
              f"for tenant {tenant or '(default)'}", highlight=False)


@catalog_app.command()
def add(file: Annotated[Path, typer.Argument(help="Dataset as JSON, or DCAT as .ttl, "
                                             ".jsonld or .rdf.", exists=True,
                                             dir_okay=False, readable=True)],
        config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "") -> None:
    """Publish a participant's dataset (replacing one with the same id)."""
    from civictwin.catalog.api import read_document
    from civictwin.catalog.validate import InvalidDataset

    catalogue = _catalogue(config, database_url)
    media = SUFFIXES.get(file.suffix.lower(), "application/json")
    try:
        stored = catalogue.publish(tenant, read_document(file.read_bytes(), media))
    except InvalidDataset as exc:
        for problem in exc.problems:
            err.print(f"{file}: {problem}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    except CivicTwinError as exc:
        _fail(exc.detail)
    out.print(f"published {stored.id}", highlight=False)


@catalog_app.command()
def harvest(url: Annotated[str, typer.Argument(help="URL of a DCAT catalogue (Turtle, "
                                               "JSON-LD or RDF/XML).")],
            config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "",
            report: Annotated[Path | None, typer.Option(
                "--report", help="Write the full JSON report here.")] = None) -> None:
    """Harvest another catalogue's datasets; bad records are reported, not fatal."""
    from civictwin.catalog.harvest import harvest as run_harvest

    catalogue = _catalogue(config, database_url)
    with err.status(f"harvesting {url}"):
        try:
            found = run_harvest(catalogue, tenant, url)
        except CivicTwinError as exc:
            _fail(exc.detail)
    for record in found["rejected"]:
        err.print(f"rejected {record['id'] or '(blank node)'}: {'; '.join(record['problems'])}",
                  highlight=False, markup=False)
    for conflict in found["conflicts"]:
        err.print(f"conflict {conflict['id']}: {conflict['problem']}", highlight=False,
                  markup=False)
    if found["error"]:
        err.print(f"incomplete: {found['error']}", highlight=False, markup=False)
    if report is not None:
        report.write_text(json.dumps(found, indent=2), "utf-8")
    out.print(f"{found['pages']} pages, {found['found']} datasets: {len(found['added'])} added, "
              f"{len(found['updated'])} updated, {len(found['unchanged'])} unchanged, "
              f"{len(found['removed'])} removed, {len(found['rejected'])} rejected",
              highlight=False)


@catalog_app.command("list")
def list_datasets(config: ConfigOpt = None, database_url: DbOpt = None,
                  tenant: TenantOpt = "") -> None:
    """List the catalogue's datasets: id, origin and title."""
    for dataset in _catalogue(config, database_url).all_datasets(tenant):
        typer.echo(f"{dataset.id}\t{dataset.origin}\t{dataset.title}")


@catalog_app.command()
def remove(dataset_id: Annotated[str, typer.Argument(help="The dataset's IRI.")],
           config: ConfigOpt = None, database_url: DbOpt = None,
           tenant: TenantOpt = "") -> None:
    """Remove a published or harvested dataset."""
    try:
        _catalogue(config, database_url).delete_dataset(tenant, dataset_id)
    except CivicTwinError as exc:
        _fail(exc.detail)
    out.print(f"removed {dataset_id}", highlight=False)


@catalog_app.command()
def export(config: ConfigOpt = None, database_url: DbOpt = None, tenant: TenantOpt = "",
           format: Annotated[str, typer.Option(help="turtle, jsonld or rdfxml.")] = "turtle",
           ) -> None:
    """Print the whole catalogue as DCAT-AP RDF."""
    from civictwin.catalog import rdf
    from civictwin.catalog.api import catalogue_page
    from civictwin.catalog.http import FORMATS

    fmt = FORMATS.get(format.lower())
    if fmt is None or fmt == "json":
        _fail(f"--format {format!r}: expected turtle, jsonld or rdfxml")
    catalogue = _catalogue(config, database_url)
    datasets = catalogue.all_datasets(tenant)
    url = f"{catalogue.settings.base_url()}/catalog"
    page = catalogue_page(catalogue.settings, tenant, datasets, catalogue.services(tenant),
                          len(datasets), 1, 1, lambda n: f"{url}?page={n}")
    typer.echo(rdf.serialise(rdf.catalogue_graph(page), fmt))
