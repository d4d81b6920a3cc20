"""Render a checked canvas as one self-contained HTML page, or as a PDF.

Both come from the same outline (sections of titled entries), so they say the same thing.
The PDF is drawn by fpdf2, pure Python from PyPI, with the DejaVu Sans font matplotlib ships:
nothing is fetched and no browser or system library is needed at run time.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from civictwin.canvas.document import SECTIONS, Canvas
from civictwin.canvas.links import Resolved


@dataclass(frozen=True)
class Entry:
    """One item of a section: a title, its text and short notes (links, figures)."""

    title: str
    text: str = ""
    notes: tuple[str, ...] = ()


@dataclass
class Section:
    """A heading and its entries."""

    heading: str
    entries: list[Entry] = field(default_factory=list)


def outline(canvas: Canvas, resolved: list[Resolved]) -> list[Section]:
    """Return the canvas as sections of entries, each link shown with what it names."""
    named = {r.link.where: f"{r.link.target} ({r.label})" for r in resolved if r.label}
    doc = canvas.doc
    out = [Section(heading) for _, heading in SECTIONS]
    value = doc["value_proposition"]
    out[0].entries = [Entry("Summary", value["summary"])] + [
        Entry("Benefit", b) for b in value.get("benefits", [])]
    out[1].entries = [Entry(f"{p['name']} — {p['role']}", p["motivation"], _note(
        "participant", named.get(f"partners[{i}].participant"))) for i, p in
        enumerate(doc["partners"])]
    out[2].entries = [Entry(u["group"], u["need"]) for u in doc["targeted_users"]]
    out[3].entries = [_exchange(i, d, named) for i, d in enumerate(doc["data_exchanged"])]
    out[3].entries += [Entry(f"Indicator {d['indicator']}", d["why"], _note(
        "indicator", named.get(f"indicators[{i}].indicator")))
        for i, d in enumerate(doc.get("indicators", []))]
    tech = doc["technical_infrastructure"]
    out[4].entries = [Entry("Component", c) for c in tech["components"]] + [
        Entry("Endpoint", e) for e in tech.get("endpoints", [])] + (
        [Entry("Hosting", tech["hosting"])] if "hosting" in tech else [])
    out[5].entries = [Entry(r["item"], f"borne by {r['borne_by']}", tuple(
        n for n in (_money(r.get("eur_per_year")), _days(r.get("person_days_per_year"))) if n))
        for r in doc["resources_and_costs"]]
    gov = doc["governance_model"]
    out[6].entries = [Entry(label, gov[key]) for key, label in (
        ("body", "Body"), ("decisions", "Decisions"), ("review", "Review"), ("exit", "Exit"))
        if key in gov]
    out[7].entries = [Entry(b["instrument"], b["applies_to"], _note("reference",
                                                                    b.get("reference")))
                      for b in doc["legal_basis"]]
    out[8].entries = [Entry(s["name"], s["used_for"], _note("reference", s.get("reference")))
                      for s in doc["standards"]]
    return out


def _exchange(i: int, item: dict[str, Any], named: dict[str, str]) -> Entry:
    where = f"data_exchanged[{i}]"
    notes = [f"dataset {named.get(where + '.dataset', item['dataset'])}",
             f"form: {item['form']}"]
    for kind in ("policy", "agreement"):
        if kind in item:
            notes.append(f"{kind} {named.get(f'{where}.{kind}', item[kind])}")
    return Entry(item["description"], "", tuple(notes))


def _note(label: str, value: str | None) -> tuple[str, ...]:
    return (f"{label}: {value}",) if value else ()


def _money(value: Any) -> str | None:
    return f"€{value:,.0f} per year" if value is not None else None


def _days(value: Any) -> str | None:
    return f"{value:g} person-days per year" if value is not None else None


def to_html(canvas: Canvas, resolved: list[Resolved]) -> str:
    """Return the canvas as a self-contained HTML page."""
    e = html.escape
    meta = canvas.doc["canvas"]
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{e(canvas.title)}</title><style>{_CSS}</style></head><body>",
             f"<header><h1>{e(canvas.title)}</h1><p class=\"meta\">Data Cooperation Canvas "
             f"<code>{e(canvas.id)}</code> · {e(meta['status'])} · updated "
             f"{e(meta['updated'])}</p></header><main>"]
    for section in outline(canvas, resolved):
        parts.append(f"<section><h2>{e(section.heading)}</h2><dl>")
        for entry in section.entries:
            parts.append(f"<dt>{e(entry.title)}</dt><dd>{e(entry.text)}")
            if entry.notes:
                parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in entry.notes)
                             + "</ul>")
            parts.append("</dd>")
        parts.append("</dl></section>")
    parts.append("</main></body></html>\n")
    return "".join(parts)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1b1b}"
        "main{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem}"
        "section{border:1px solid #ccd;border-radius:6px;padding:0 1rem}"
        "h2{font-size:1.1rem}dt{font-weight:600;margin-top:.5rem}dd{margin:0}"
        "ul{margin:.2rem 0;padding-left:1.1rem;font-size:.9em;color:#445}.meta{color:#556}")


def to_pdf(canvas: Canvas, resolved: list[Resolved], path: str | Path) -> None:
    """Write the canvas as a PDF (A4) at `path`."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    fonts = resources.files("matplotlib").joinpath("mpl-data/fonts/ttf")
    pdf.add_font("DejaVu", "", str(fonts.joinpath("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(fonts.joinpath("DejaVuSans-Bold.ttf")))
    pdf.set_title(canvas.title)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 8, canvas.title, new_x="LMARGIN", new_y="NEXT")
    meta = canvas.doc["canvas"]
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(0, 5, f"Data Cooperation Canvas {canvas.id} · {meta['status']} · updated "
                   f"{meta['updated']}", new_x="LMARGIN", new_y="NEXT")
    for section in outline(canvas, resolved):
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 12)
        pdf.multi_cell(0, 7, section.heading, new_x="LMARGIN", new_y="NEXT")
        for entry in section.entries:
            pdf.set_font("DejaVu", "B", 9.5)
            pdf.multi_cell(0, 5, entry.title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 9.5)
            if entry.text:
                pdf.multi_cell(0, 5, entry.text, new_x="LMARGIN", new_y="NEXT")
            for note in entry.notes:
                pdf.multi_cell(0, 4.5, f"  • {note}", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
