// The data space views: catalogue and dataset pages (policies in plain language), agreements
// and negotiations, consent overview, the audit log with its verify button, and the privacy
// releases' aggregate cells.
import { getJson } from "./api";
import { badge, facts, fmt, h, loading, ready, refused, table } from "./dom";
import { me } from "./session";

interface DatasetSummary {
  id: string; title: string; description: string; publisherName: string; keywords: string[];
  origin: string; policies: number; modified: string | null;
}

interface DatasetPage {
  id: string; title: string; description: string; publisher: string; publisher_name: string;
  keywords: string[]; licence: string | null; access_rights: string | null; modified: string | null;
  temporal_start: string | null; temporal_end: string | null; origin: string;
  distributions: { access_url: string; title: string | null; format: string | null; media_type: string | null }[];
  policies: { uid: string | null; text: string | null; error: string | null }[];
}

export function datasetHref(id: string): string {
  return `#dataset/${encodeURIComponent(id)}`;
}

export function catalogueView(host: HTMLElement): void {
  const input = h("input", { id: "catalogue-q", type: "search", name: "q", autocomplete: "off" });
  const results = h("div", { id: "catalogue-results", "aria-live": "polite" });
  const form = h("form", { role: "search", class: "toolbar", "aria-label": "Search the catalogue" },
    h("label", { for: "catalogue-q" }, "Search datasets"), input, h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void search(results, input.value);
  });
  ready(host, form, results);
  void search(results, "");
}

async function search(host: HTMLElement, q: string): Promise<void> {
  loading(host, "datasets");
  try {
    const answer = await getJson<{ total: number; datasets: DatasetSummary[] }>(
      `web/open/catalogue?q=${encodeURIComponent(q)}`);
    const items = answer.datasets.map((d) => h("li", { class: "dataset", "data-id": d.id },
      h("h3", {}, h("a", { href: datasetHref(d.id) }, d.title)),
      h("p", {}, d.description),
      h("p", { class: "hint" }, `${d.publisherName} · ${d.origin}`,
        d.keywords.length ? ` · ${d.keywords.join(", ")}` : "",
        ` · ${d.policies ? `${d.policies} usage ${d.policies === 1 ? "policy" : "policies"}` : "no usage policy"}`)));
    const said = q ? `${answer.total} datasets match “${q}”` : `${answer.total} datasets`;
    ready(host, h("p", { id: "catalogue-count" }, `${said}.`), h("ul", { class: "datasets" }, ...items));
  } catch (error) {
    refused(host, error);
  }
}

export async function datasetView(host: HTMLElement, id: string): Promise<void> {
  loading(host, "the dataset");
  delete host.dataset.title;
  try {
    const d = await getJson<DatasetPage>(`web/open/catalogue/${encodeURIComponent(id)}`);
    const policies = d.policies.length
      ? d.policies.map((p, i) => h("section", { class: "policy", "aria-labelledby": `policy-${i}` },
        h("h4", { id: `policy-${i}` }, p.uid ?? `Policy ${i + 1}`),
        p.text ? h("p", { class: "policy-text" }, p.text) : h("p", { class: "notice" }, `This policy cannot be read: ${p.error}`)))
      : [h("p", { class: "hint" }, "No usage policy is offered: ask the publisher how to get this data.")];
    host.dataset.title = d.title;
    const distributions = d.distributions.map((x) => [x.title ?? x.format ?? "distribution", x.media_type ?? x.format ?? "", x.access_url]);
    ready(host,
      h("p", {}, h("a", { href: "#catalogue" }, "← Back to the catalogue")),
      h("p", { class: "lead" }, d.description),
      facts([["Identifier", d.id], ["Publisher", d.publisher_name || d.publisher], ["Keywords", d.keywords.join(", ")],
        ["Licence", d.licence], ["Access", d.access_rights], ["Period", d.temporal_start ? `${d.temporal_start} to ${d.temporal_end ?? "now"}` : null],
        ["Last changed", d.modified], ["Origin", d.origin]]),
      h("h3", {}, "Usage policies in plain language"), ...policies,
      distributions.length ? table("Distributions", ["Title", "Media type", "Access URL"], distributions) : null);
  } catch (error) {
    refused(host, error);
  }
}

interface Negotiation {
  pid: string; role: string; counterparty: string; counterpartyName: string; dataset: string;
  state: string; agreementId: string | null; agreementStatus: string | null; uses: number;
  modifiedAt: string; policyText: string | null; tenant: string;
}

interface Transfer { pid: string; role: string; counterparty: string; agreement: string; dataset: string; format: string; state: string; modifiedAt: string }

export async function agreementsView(host: HTMLElement): Promise<void> {
  loading(host, "agreements and negotiations");
  try {
    const a = await getJson<{ negotiations: Negotiation[]; transfers: Transfer[]; states: Record<string, number> }>("web/api/agreements");
    const states = Object.entries(a.states).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(", ") || "none";
    const negotiations = a.negotiations.map((n) => h("article", { class: "agreement", "data-pid": n.pid },
      h("h3", {}, n.agreementId ?? n.pid, " ", badge(n.state, n.state)),
      facts([["Dataset", n.tenant === (me()?.tenant ?? "") ? h("a", { href: datasetHref(n.dataset) }, n.dataset) : n.dataset],
        ["This twin is the", n.role],
        ["With", `${n.counterpartyName} (${n.counterparty})`], ["Agreement", n.agreementStatus ?? "not reached yet"],
        ["Uses so far", String(n.uses)], ["Last step", n.modifiedAt]]),
      n.policyText ? h("details", {}, h("summary", {}, "What was agreed"), h("p", { class: "policy-text" }, n.policyText)) : null));
    const transfers = a.transfers.map((t) => [t.pid, t.agreement, t.dataset, t.format, badge(t.state, t.state), t.modifiedAt]);
    ready(host, h("p", { id: "negotiation-states" }, `Negotiations: ${states}.`),
      ...(negotiations.length ? negotiations : [h("p", { class: "hint" }, "No negotiations yet.")]),
      transfers.length ? table("Transfers", ["Process", "Agreement", "Dataset", "Format", "State", "Last step"], transfers)
        : h("p", { class: "hint" }, "No transfers yet."));
  } catch (error) {
    refused(host, error);
  }
}

interface Consent { id: string; piiPrincipalId: string; purposes: string[]; dataCategories: string[]; status: string; givenAt: string; expiresAt: string | null; withdrawnAt: string | null }

export async function consentView(host: HTMLElement): Promise<void> {
  loading(host, "the consents");
  try {
    const c = await getJson<{ total: number; byStatus: Record<string, number>; givenByPurpose: Record<string, number>; consents: Consent[] }>("web/api/consents");
    const summary = h("ul", { class: "tally", id: "consent-tally" }, ...Object.entries(c.byStatus).map(([s, n]) =>
      h("li", { "data-status": s }, h("strong", {}, String(n)), ` ${s}`)));
    const purposes = Object.entries(c.givenByPurpose).map(([p, n]) => [p, String(n)]);
    const rows = c.consents.map((r) => [r.piiPrincipalId, r.purposes.join(", "), r.dataCategories.join(", "),
      badge(r.status, r.status), r.givenAt.slice(0, 16), r.expiresAt?.slice(0, 10) ?? "until withdrawn", r.withdrawnAt?.slice(0, 16) ?? ""]);
    ready(host, h("p", {}, `${c.total} consents recorded.`), summary,
      purposes.length ? table("Consents in force by purpose", ["Purpose", "Consents"], purposes) : null,
      table("Newest consents", ["Data subject", "Purposes", "Data", "Status", "Given", "Expires", "Withdrawn"], rows, { id: "consent-table" }));
  } catch (error) {
    refused(host, error);
  }
}

interface AuditEntry { seq: number; at: string; actor: string; action: string; subject: string; hash: string; detail: unknown }
interface Verified { ok: boolean; entries: number; firstBad: number | null; problem: string | null; summary: string; head: string | null }

type AuditPage = { total: number; entries: AuditEntry[] };
const AUDIT_PAGE = 25;

function auditPath(action: string, offset: number): string {
  return `web/api/audit?limit=${AUDIT_PAGE}&offset=${offset}${action ? `&action=${encodeURIComponent(action)}` : ""}`;
}

export async function auditView(host: HTMLElement): Promise<void> {
  loading(host, "the audit log");
  let first: AuditPage;
  try {
    first = await getJson<AuditPage>(auditPath("", 0));
  } catch (error) {
    refused(host, error);
    return;
  }
  const verify = h("button", { type: "button", id: "audit-verify" }, "Verify the chain");
  const result = h("p", { id: "audit-result", role: "status", "aria-live": "polite" });
  const action = h("input", { id: "audit-action", type: "text", autocomplete: "off", placeholder: "e.g. consent.give" });
  const filter = h("form", { class: "toolbar" }, h("label", { for: "audit-action" }, "Action"), action, h("button", { type: "submit" }, "Filter"));
  const entries = h("div", { id: "audit-entries" });
  verify.addEventListener("click", () => void check(result, verify));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    void auditPage(entries, action.value.trim(), 0);
  });
  ready(host, h("div", { class: "toolbar" }, verify, result), filter, entries);
  showAuditPage(entries, first, "", 0);
}

async function check(result: HTMLElement, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  result.textContent = "Verifying…";
  try {
    const v = await getJson<Verified>("web/api/audit/verify");
    result.dataset.ok = String(v.ok);
    result.textContent = v.ok
      ? `Verified: all ${v.entries} entries chain correctly${v.head ? ` (head ${v.head.slice(0, 12)}…)` : ""}.`
      : `Broken at entry ${v.firstBad}: ${v.problem}`;
    result.className = v.ok ? "ok" : "bad";
  } catch (error) {
    result.dataset.ok = "refused";
    result.textContent = `Could not verify: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    button.disabled = false;
  }
}

async function auditPage(host: HTMLElement, action: string, offset: number): Promise<void> {
  loading(host, "the audit log");
  try {
    showAuditPage(host, await getJson<AuditPage>(auditPath(action, offset)), action, offset);
  } catch (error) {
    refused(host, error);
  }
}

function showAuditPage(host: HTMLElement, page: AuditPage, action: string, offset: number): void {
  const rows = page.entries.map((e) => [String(e.seq), e.at.slice(0, 19).replace("T", " "), e.actor, e.action, e.subject,
    h("code", { title: e.hash }, `${e.hash.slice(0, 10)}…`)]);
  const nav = h("div", { class: "toolbar" });
  if (offset > 0) nav.append(button("Newer", () => void auditPage(host, action, Math.max(0, offset - AUDIT_PAGE))));
  if (offset + AUDIT_PAGE < page.total) nav.append(button("Older", () => void auditPage(host, action, offset + AUDIT_PAGE)));
  ready(host, h("p", {}, `${page.total} entries${action ? ` with action ${action}` : ""}, newest first.`),
    table("Audit log", ["#", "When (UTC)", "Who", "Action", "Subject", "Hash"], rows, { id: "audit-table" }), nav);
}

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = h("button", { type: "button" }, label);
  b.addEventListener("click", onClick);
  return b;
}

interface Cell { keys: Record<string, string>; level: string; value: number | null; contributors: number; status: string; reason: string }
interface Release {
  id: string; consumer?: string; agreement?: string | null; createdAt?: string;
  request?: { quantity?: string; groupBy?: string[]; period?: string | null; start?: string; end?: string };
  cells: Cell[]; method: Record<string, unknown>; epsilonSpent: number | null; budgetLeft?: number | null;
}

function releaseLabel(r: Release): string {
  const q = r.request;
  const what = q ? `${q.quantity ?? "?"} by ${(q.groupBy ?? []).join(" × ") || "total"}${q.period ? ` per ${q.period}` : ""}` : r.id;
  return `${what}${r.consumer ? `, for ${r.consumer}` : ""}${r.createdAt ? ` (${r.createdAt.slice(0, 16).replace("T", " ")})` : ""}`;
}

export async function aggregatesView(host: HTMLElement): Promise<void> {
  loading(host, "the aggregate releases");
  try {
    const answer = await getJson<{ releases: Release[] } | Release[]>("privacy/releases");
    const releases = Array.isArray(answer) ? answer : answer.releases;
    if (!releases.length) {
      ready(host, h("p", { class: "hint" }, "No aggregates have been released yet."));
      return;
    }
    const select = h("select", { id: "release" }, ...releases.map((r) =>
      h("option", { value: r.id }, releaseLabel(r))));
    const out = h("div", { id: "release-cells" });
    select.addEventListener("change", () => void release(out, select.value));
    ready(host, h("div", { class: "toolbar" }, h("label", { for: "release" }, "Release"), select), out);
    await release(out, releases[0].id);
  } catch (error) {
    refused(host, error);
  }
}

async function release(host: HTMLElement, id: string): Promise<void> {
  loading(host, "the release");
  try {
    const r = await getJson<Release>(`privacy/releases/${encodeURIComponent(id)}`);
    const counts: Record<string, number> = {};
    for (const c of r.cells) counts[c.status] = (counts[c.status] ?? 0) + 1;
    const rows = r.cells.map((c) => [Object.entries(c.keys).map(([k, v]) => `${k}: ${v}`).join(", "), c.level,
      c.value === null ? "withheld" : fmt(c.value), String(c.contributors), badge(c.status, c.status), c.reason]);
    const method = Object.entries(r.method).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)] as [string, string]);
    const q = r.request;
    ready(host,
      facts([["Release", r.id], ["Asked for", releaseLabel(r)], ["Under agreement", r.agreement ?? "none (the data holder's own analysis)"],
        ["Period", q?.start ? `${q.start} to ${q.end ?? ""}` : null]]),
      h("ul", { class: "tally", id: "release-tally" }, ...Object.entries(counts).map(([s, n]) =>
        h("li", { "data-status": s }, h("strong", {}, String(n)), ` ${s}`))),
      table(`Cells of release ${r.id}`, ["Group", "Level", "Value", "Contributors", "Status", "Reason"], rows, { id: "cells-table" }),
      h("h3", {}, "Method"),
      facts([...method, ["Privacy budget spent (ε)", r.epsilonSpent === null ? "none (no noise added)" : fmt(r.epsilonSpent)],
        ["Budget left (ε)", r.budgetLeft == null ? null : fmt(r.budgetLeft)]]));
  } catch (error) {
    refused(host, error);
  }
}
