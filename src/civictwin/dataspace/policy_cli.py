"""`civictwin policy ...` and `civictwin audit ...`: check and try policies, verify the trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from civictwin.cli_options import ConfigOpt, DbOpt
from civictwin.errors import CivicTwinError

if TYPE_CHECKING:
    from civictwin.dataspace.odrl import Policy
    from civictwin.store import Store

policy_app = typer.Typer(help="Check ODRL usage policies and try requests against them.",
                         no_args_is_help=True)
audit_app = typer.Typer(help="Verify and export the tamper-evident audit trail.",
                        no_args_is_help=True)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

TenantOpt = Annotated[str | None, typer.Option(
    "--tenant", help="NGSI-LD tenant (default: every tenant to verify, '' to export).")]
PolicyArg = Annotated[Path, typer.Argument(help="An ODRL policy (JSON-LD), or a Dataspace "
                                           "Protocol message holding one.", exists=True,
                                           dir_okay=False, readable=True)]


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True)
    raise typer.Exit(code)


def _load_policy(path: Path) -> Policy:
    from civictwin.dataspace.odrl import parse_policy

    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{path}: not a JSON file ({exc})")
    if isinstance(doc, dict):
        for key in ("offer", "agreement", "policy"):
            if isinstance(doc.get(key), dict):
                doc = doc[key]
                break
    try:
        return parse_policy(doc)
    except CivicTwinError as exc:
        _fail(f"{path}: {exc.detail}")


@policy_app.command("check")
def check(file: PolicyArg,
          names: Annotated[Path | None, typer.Option(
              help="JSON object naming parties and areas by IRI, e.g. "
              '{"urn:...:lumen": "The City of Lumen"}.')] = None) -> None:
    """Validate a policy and print what it says in plain English."""
    from civictwin.dataspace.odrl import describe

    policy = _load_policy(file)
    known: dict[str, str] = {}
    if names is not None:
        try:
            known = {str(k): str(v) for k, v in json.loads(names.read_text()).items()}
        except (OSError, ValueError, AttributeError) as exc:
            _fail(f"{names}: not a JSON object of names ({exc})")
    out.print(describe(policy, known))
    if policy.unknown_terms():
        err.print("[yellow]warning:[/yellow] the policy uses terms civictwin cannot evaluate; "
                  "requests they concern will be denied", markup=True)


@policy_app.command("evaluate")
def evaluate_command(
    file: PolicyArg,
    purpose: Annotated[str | None, typer.Option(help="Declared purpose.")] = None,
    at: Annotated[str | None, typer.Option(help="When (ISO 8601; default now).")] = None,
    action: Annotated[str, typer.Option(help="ODRL action.")] = "use",
    assignee: Annotated[str | None, typer.Option(help="The requesting party.")] = None,
    recipient: Annotated[str | None, typer.Option(help="Who receives the results.")] = None,
    form: Annotated[str, typer.Option(help="raw or aggregate.")] = "raw",
    group_size: Annotated[int | None, typer.Option(help="Smallest aggregate group.")] = None,
    count: Annotated[int, typer.Option(help="Uses made so far.")] = 0,
    elapsed: Annotated[str | None, typer.Option(help="Time since agreement (P30D).")] = None,
    retention: Annotated[str | None, typer.Option(help="Intended retention (P30D).")] = None,
    location: Annotated[str | None, typer.Option(help="lon,lat of the use.")] = None,
    within: Annotated[list[str] | None, typer.Option(help="Area id the use lies in.")] = None,
) -> None:
    """Decide one request against a policy: exit 0 when allowed, 1 when denied."""
    from shapely.geometry import Point

    from civictwin.dataspace.durations import parse_duration
    from civictwin.dataspace.odrl import AccessRequest, evaluate

    policy = _load_policy(file)
    try:
        moment = datetime.fromisoformat(at) if at else datetime.now(UTC)
        where = Point(*(float(v) for v in location.split(","))) if location else None
        request = AccessRequest(
            at=moment if moment.tzinfo else moment.replace(tzinfo=UTC), action=action,
            assignee=assignee, purpose=purpose, recipient=recipient, form=form,
            group_size=group_size, count=count, location=where, within=frozenset(within or ()),
            elapsed=parse_duration(elapsed).to_timedelta() if elapsed else None,
            retention=parse_duration(retention).to_timedelta() if retention else None)
    except (ValueError, TypeError) as exc:
        _fail(f"request: {exc}")
    decision = evaluate(policy, request)
    verdict = "[green]allowed[/green]" if decision.allowed else "[red]denied[/red]"
    out.print(f"{verdict} by {decision.rule}: {decision.reason}", markup=True)
    for duty in decision.duties:
        out.print(f"duty: {duty}")
    if not decision.allowed:
        raise typer.Exit(1)


def _store(config: Path | None, database_url: str | None) -> Store:
    from civictwin.cli import _settings
    from civictwin.store import open_store

    settings = _settings(config, database_url)
    try:
        return open_store(settings.database_url)
    except CivicTwinError as exc:
        _fail(exc.detail)


@audit_app.command("verify")
def verify(config: ConfigOpt = None, database_url: DbOpt = None,
           tenant: TenantOpt = None) -> None:
    """Check every entry of the audit trail; exit 1 naming the first bad entry."""
    from rich.progress import Progress

    from civictwin.dataspace.audit import AuditLog

    store = _store(config, database_url)
    log = AuditLog(store)
    try:
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("verifying the audit trail", total=log.count(tenant))
            report = log.verify(tenant, lambda n: bar.advance(task, n))
    finally:
        store.close()
    if not report.ok:
        _fail(report.summary(), 1)
    out.print(report.summary())
    for name, head in sorted(report.heads.items()):
        out.print(f"  tenant {name!r}: head {head}")


@audit_app.command("export")
def export(out_file: Annotated[Path, typer.Option("--out", help="JSON Lines file to write.")],
           config: ConfigOpt = None, database_url: DbOpt = None,
           tenant: TenantOpt = None) -> None:
    """Write a tenant's chain as JSON Lines ending in a head line, for an external auditor."""
    from civictwin.dataspace.audit import AuditLog

    store = _store(config, database_url)
    try:
        with out_file.open("w", encoding="utf-8") as fh:
            summary = AuditLog(store).export(tenant or "", fh)
    except OSError as exc:
        _fail(f"{out_file}: {exc}")
    finally:
        store.close()
    out.print(f"wrote {summary.entries} entries to {out_file}; head {summary.head}")


@audit_app.command("check-export")
def check_export(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Verify an exported chain file, as an external auditor would; exit 1 if broken."""
    from civictwin.dataspace.audit import verify_export

    with file.open(encoding="utf-8") as fh:
        report = verify_export(fh)
    if not report.ok:
        _fail(report.summary(), 1)
    head = report.heads.get(report.tenant or "")
    out.print(f"export intact: {report.entries} entries; head {head}")
