"""The algorithm register (OASC MIM5): every model and rule-based algorithm civictwin runs.

Each entry answers what a resident, a journalist or an auditor asks of a public algorithm, in
the manner of the Amsterdam and Helsinki registers and the Dutch algorithm register standard
(name, short description, purpose and impact, organisation, data, method, risks and how they
are managed, human oversight, legal basis, contact, version, status). A module registers its
own entry beside its code with `register(Algorithm(...))`; entries for algorithms whose module
belongs to another part of civictwin sit in `_TABLE` below until that module registers itself.
`entries()` imports every model module first, so the register is complete whoever asks.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass, fields
from typing import Any

KINDS = ("rule-based", "statistical model", "simulation model")
STATUSES = ("in use", "in development", "retired")
CITY = "the city running this civictwin instance"
CONTACT = "the twin's operator (see the deployment's data-protection notice); " \
          "issues at the civictwin project"

# Modules under civictwin/ that hold a model or a rule-based algorithm. A test checks that each
# module of civictwin/analytics/ is either listed here (and has an entry) or in INFRASTRUCTURE.
MODEL_MODULES = (
    "civictwin.analytics.forecast",
    "civictwin.analytics.scenario",
    "civictwin.analytics.indicators",
    "civictwin.analytics.ghg",
    "civictwin.dataspace.odrl",
    "civictwin.privacy.aggregation",
)
INFRASTRUCTURE = ("__init__", "algorithms", "algorithms_api", "api", "cli", "engine", "lake",
                  "lake_cli", "scenario_cli", "scenario_runs", "stock", "forecast_cli",
                  "forecast_runs", "plots", "solar", "insight", "insight_api")


@dataclass(frozen=True)
class Algorithm:
    """One register entry; every field is required (a test checks none is empty)."""

    id: str  # short stable slug, e.g. "energy-demand-forecast"
    name: str
    description_short: str  # at most 150 characters
    purpose: str  # the goal, and the effect on the city and its residents
    kind: str  # one of KINDS
    module: str  # the Python module that implements it
    owner: str  # who is responsible for its use
    data_used: tuple[str, ...]  # the data it reads, in plain words
    method: str  # how it works, enough to reproduce it
    limits_risks: str  # what it cannot do, how it can go wrong, who could be affected
    risk_management: str  # what is done about those risks
    human_oversight: str  # who looks at its outputs and what they decide
    legal_basis: str
    contact: str
    version: str
    status: str = "in use"  # one of STATUSES

    def to_json(self) -> dict[str, Any]:
        """Return the entry as a JSON object."""
        body = asdict(self)
        body["data_used"] = list(self.data_used)
        return body

    def missing(self) -> list[str]:
        """Return the names of the fields that are empty or invalid."""
        bad = [f.name for f in fields(self) if not getattr(self, f.name)]
        if len(self.description_short) > 150:
            bad.append("description_short")
        if self.kind not in KINDS:
            bad.append("kind")
        if self.status not in STATUSES:
            bad.append("status")
        return bad


REGISTER: dict[str, Algorithm] = {}
"""Every registered entry by id."""


def register(algorithm: Algorithm) -> Algorithm:
    """Add an entry to the register (again with the same content is fine); return it."""
    missing = algorithm.missing()
    if missing:
        raise ValueError(f"algorithm {algorithm.id}: incomplete fields {', '.join(missing)}")
    found = REGISTER.get(algorithm.id)
    if found is not None and found != algorithm:
        raise ValueError(f"algorithm {algorithm.id} is registered already with other content")
    REGISTER[algorithm.id] = algorithm
    return algorithm


def entries() -> list[Algorithm]:
    """Return every entry, by id, after letting each existing model module register itself."""
    for module in MODEL_MODULES:
        if _exists(module):
            importlib.import_module(module)
    for algorithm in _TABLE:
        if algorithm.id not in REGISTER and not _registers_itself(algorithm.module):
            REGISTER[algorithm.id] = _with_status(algorithm)
    return [REGISTER[key] for key in sorted(REGISTER)]


def entry(algorithm_id: str) -> Algorithm | None:
    """Return one entry by id, or None."""
    return next((a for a in entries() if a.id == algorithm_id), None)


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _registers_itself(module: str) -> bool:
    return any(a.module == module for a in REGISTER.values())


def _with_status(algorithm: Algorithm) -> Algorithm:
    """Say "in development" for a tabled entry whose module is not there yet."""
    if _exists(algorithm.module):
        return algorithm
    return Algorithm(**{**asdict(algorithm), "status": "in development"})


_TABLE = (
    Algorithm(
        id="odrl-policy-evaluation",
        name="Usage-policy evaluation (ODRL)",
        description_short="Decides whether a data-space request is allowed by the ODRL policy "
                          "of the agreement it is made under.",
        purpose="Enforce the terms a data provider set for sharing (purpose, time, place, "
                "number of uses, aggregate-only forms) so that data leaves the twin only as "
                "agreed; residents' and companies' data are protected by those terms.",
        kind="rule-based",
        module="civictwin.dataspace.odrl",
        owner="The data-space operator of the city; each provider owns its policies.",
        data_used=("ODRL policies of offers and agreements",
                   "the access request: participant, purpose, time, location, use count, "
                   "requested form (raw or aggregate)"),
        method="Parses ODRL 2.2 policies; evaluates the permissions, prohibitions and duties "
               "with their constraints against the request; a prohibition or an unmet "
               "constraint denies; no matching permission denies.",
        limits_risks="Only the ODRL operands and operators civictwin implements are understood; "
                     "a policy using others is refused, never guessed. A policy that is wrong "
                     "as written is enforced as written.",
        risk_management="Policies are shown in plain language before agreement; every decision "
                        "is written to the tamper-evident audit trail with the deciding rule.",
        human_oversight="Providers write and review their policies; the operator reviews "
                        "denied and allowed accesses in the audit trail and can suspend "
                        "participants.",
        legal_basis="The contract agreement between provider and consumer; GDPR art. 6 for "
                    "personal data.",
        contact=CONTACT,
        version="1.0",
    ),
    Algorithm(
        id="statistical-disclosure-control",
        name="Disclosure control of shared aggregates",
        description_short="Suppresses or perturbs aggregates of small or dominated groups "
                          "before they are shared.",
        purpose="Let the city share statistics about energy use and mobility without "
                "revealing any one household's or company's data.",
        kind="rule-based",
        module="civictwin.privacy.aggregation",
        owner="The data-space operator of the city.",
        data_used=("the records being aggregated (e.g. meter readings per building)",
                   "the disclosure rules of the sharing agreement"),
        method="Minimum group size (threshold rule), dominance rule (n largest contributors "
               "must not exceed k% of a total), and optionally differential-privacy noise "
               "with a stated privacy budget.",
        limits_risks="Rules protect single releases; many overlapping releases can still "
                     "be combined (differencing) unless the budget is tracked across them. "
                     "Suppression hides small districts' figures.",
        risk_management="Rules and parameters are part of each agreement and audited; the "
                        "privacy budget is tracked per consumer when noise is used.",
        human_oversight="The operator sets the rules; the data-protection officer reviews "
                        "them and the suppression log.",
        legal_basis="GDPR art. 5(1)(c) (data minimisation) and art. 89 (statistics).",
        contact=CONTACT,
        version="1.0",
    ),
    Algorithm(
        id="city-indicators",
        name="City indicators (ISO 37120 / 37122 / 37123)",
        description_short="Calculates the city's ISO 37120-series indicators from the twin, "
                          "with the provenance of every figure.",
        purpose="Report the city's sustainability, smartness and resilience in comparable, "
                "standard terms for council, residents and benchmarking.",
        kind="rule-based",
        module="civictwin.analytics.indicators",
        owner="The city's data and statistics office.",
        data_used=("the history lake (Parquet) exported from the twin: meters' monthly bills "
                   "and readings, buildings, districts and their population, air-quality and "
                   "weather stations' hourly observations",),
        method="Lake jobs (DuckDB or Spark) aggregate the history; each indicator is the "
               "formula of its ISO 37120-series definition (e.g. per capita, share of days "
               "above a WHO guideline) per city and district, graded for coverage, timeliness "
               "and method in the spirit of ISO 37114.",
        limits_risks="An indicator is only as complete as the data in the twin; missing "
                     "meters or stations bias it. Population figures may lag. Clause numbers "
                     "of the ISO standards are not confirmed against the texts.",
        risk_management="Every figure carries its grade and sources; where the data cannot "
                        "support an indicator it is reported as not computable with the "
                        "reason, never guessed.",
        human_oversight="The statistics office reviews figures before publication.",
        legal_basis="The city's public task of reporting (local statistics).",
        contact=CONTACT,
        version="1.0",
    ),
    Algorithm(
        id="ghg-inventory",
        name="Greenhouse-gas inventory (GPC BASIC)",
        description_short="Estimates the city's greenhouse-gas emissions by GPC sector and "
                          "scope from energy data and emission factors.",
        purpose="Track the city's emissions towards its climate-neutrality target and report "
                "them (e.g. to the Covenant of Mayors).",
        kind="rule-based",
        module="civictwin.analytics.ghg",
        owner="The city's climate and energy department.",
        data_used=("monthly energy bills of the twin's meters (history lake), by building "
                   "use and energy carrier", "the emission factor table shipped with "
                   "civictwin or the city's own"),
        method="Activity data times emission factors per GPC BASIC sector and scope: fuel "
               "burnt in buildings is scope 1, grid electricity and district heat scope 2; "
               "sectors without data are reported as NE (not estimated), never as zero.",
        limits_risks="Only stationary energy of metered buildings is covered; transport and "
                     "waste are not estimated; emission factors are averages and a change of "
                     "factors changes the trend.",
        risk_management="The factors and their sources are stated with every inventory; "
                        "sectors not estimated are marked with the GPC notation key.",
        human_oversight="The climate department reviews the inventory before reporting.",
        legal_basis="The city's climate plan and reporting commitments.",
        contact=CONTACT,
        version="1.0",
    ),
)
