"""Write a new canvas file, pre-filled with what the twin knows about the datasets it covers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from civictwin.canvas.document import FORMAT
from civictwin.catalog import Catalogue
from civictwin.config import Settings
from civictwin.errors import AlreadyExists, BadRequestData
from civictwin.store import Store

TODO = "TODO: fill in"


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def new_canvas(store: Store, settings: Settings, path: str | Path, canvas_id: str, title: str,
               datasets: list[str], tenant: str = "", overwrite: bool = False) -> Path:
    """Write a canvas skeleton for `datasets` (which must be in the catalogue); return its path."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise AlreadyExists(f"{target} exists already (pass --force to replace it)")
    if not datasets:
        raise BadRequestData("name at least one dataset of the catalogue (--dataset)")
    catalogue = Catalogue(store, settings)
    found = [catalogue.get_dataset(tenant, d) for d in datasets]
    today = datetime.now(UTC).date().isoformat()
    lines = ["# Data Cooperation Canvas; format documented in docs/canvas.md.",
             "# `civictwin canvas check` verifies every dataset, policy, agreement, indicator",
             "# and participant named here exists in the twin.", "",
             "[canvas]", f"format = {_q(FORMAT)}", f"id = {_q(canvas_id)}", f"title = {_q(title)}",
             'status = "draft"', f'updated = "{today}"', f"tenant = {_q(tenant)}", "",
             "[value_proposition]", f"summary = {_q(TODO)}", "benefits = []", "",
             "[[partners]]", f"name = {_q(settings.catalog_publisher_name)}",
             'role = "data provider"', f"motivation = {_q(TODO)}",
             f"participant = {_q(settings.participant_id)}", "",
             "[[targeted_users]]", f"group = {_q(TODO)}", f"need = {_q(TODO)}", ""]
    for dataset in found:
        lines += ["[[data_exchanged]]", f"dataset = {_q(dataset.id)}",
                  f"description = {_q(dataset.title)}",
                  'form = "aggregate"' if dataset.offers else 'form = "open"']
        if dataset.offers:
            lines.append(f"policy = {_q(str(dataset.offers[0].get('@id')))}")
        lines.append("")
    lines += ["[technical_infrastructure]",
              'components = ["civictwin (NGSI-LD context broker, data space connector)"]',
              'endpoints = ["/dsp", "/catalog", "/ngsi-ld/v1"]', "",
              "[[resources_and_costs]]", f"item = {_q(TODO)}", f"borne_by = {_q(TODO)}", "",
              "[governance_model]", f"body = {_q(TODO)}", f"decisions = {_q(TODO)}", "",
              "[[legal_basis]]", f"instrument = {_q(TODO)}", f"applies_to = {_q(TODO)}", ""]
    for name, use in (("DCAT-AP 3.0.1", "describing the datasets"),
                      ("ODRL 2.2", "usage policies and agreements"),
                      ("Dataspace Protocol 2025-1", "catalogue, negotiation and transfer"),
                      ("ETSI NGSI-LD", "the context data itself")):
        lines += ["[[standards]]", f"name = {_q(name)}", f"used_for = {_q(use)}", ""]
    target.write_text("\n".join(lines), "utf-8")
    return target
