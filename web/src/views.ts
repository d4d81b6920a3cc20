// The page's views and the hash router: #map, #indicators, …, #dataset/<id>, #sign-in.
// Each view is a <main> of the page; one is shown at a time and its heading takes focus.
import { agreementsView, aggregatesView, auditView, catalogueView, consentView, datasetView } from "./dataspace";
import { h } from "./dom";
import { climateView, forecastsView, indicatorsView, scenariosView } from "./insight";
import { describe, onSession, refresh, renderSignIn, type Me } from "./session";

type Render = (host: HTMLElement, arg: string) => void | Promise<void>;

interface View { title: string; render: Render; group: string; right: string }

export const VIEWS: Record<string, View> = {
  indicators: { title: "City indicators", render: indicatorsView, group: "Dashboard", right: "indicators" },
  climate: { title: "Greenhouse gases", render: (host) => climateView(host), group: "Dashboard", right: "climate" },
  scenarios: { title: "Scenarios", render: scenariosView, group: "Dashboard", right: "scenarios" },
  forecasts: { title: "Forecasts", render: forecastsView, group: "Dashboard", right: "forecasts" },
  catalogue: { title: "Catalogue", render: catalogueView, group: "Data space", right: "catalogue" },
  agreements: { title: "Agreements", render: agreementsView, group: "Data space", right: "agreements" },
  consent: { title: "Consent", render: consentView, group: "Data space", right: "consent" },
  audit: { title: "Audit log", render: auditView, group: "Data space", right: "audit" },
  aggregates: { title: "Aggregates", render: aggregatesView, group: "Data space", right: "aggregates" },
  dataset: { title: "Dataset", render: datasetView, group: "", right: "catalogue" },
  "sign-in": { title: "Sign in", render: (host) => renderSignIn(host), group: "", right: "map" },
};

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** Build the views' <main> elements and navigation, then follow the location's hash. */
export function startViews(showMap: () => Promise<void>): void {
  const nav = byId("views-nav");
  const after = byId("view-map");
  for (const [name, view] of Object.entries(VIEWS)) {
    const body = h("div", { class: "view-body", id: `${name}-body` });
    const section = h("main", { id: `view-${name}`, class: "page", hidden: true, "aria-labelledby": `${name}-heading` },
      h("h2", { id: `${name}-heading`, tabindex: -1 }, view.title), body);
    after.after(section);
    if (view.group) nav.append(h("a", { href: `#${name}`, "data-view": name }, view.title));
  }
  onSession(markRights);
  byId("skip").addEventListener("click", (event) => {
    const shown = document.querySelector<HTMLElement>("main:not([hidden])");
    const target = shown?.id === "view-map" ? byId("features") : shown?.querySelector<HTMLElement>("h2");
    if (target) {
      event.preventDefault();
      target.focus();
    }
  });
  let mapStarted = false;
  const route = (): void => {
    const [name, ...rest] = window.location.hash.replace(/^#/, "").split("/");
    const chosen = name === "" || name === "map" ? "map" : name in VIEWS ? name : null;
    if (chosen === null) return; // an in-page anchor such as the skip link's: stay where we are
    for (const main of document.querySelectorAll<HTMLElement>("body > main")) {
      main.hidden = main.id !== `view-${chosen}`;
    }
    for (const link of nav.querySelectorAll<HTMLAnchorElement>("a")) {
      if ((link.dataset.view ?? "map") === (chosen === "dataset" ? "catalogue" : chosen)) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.body.dataset.view = chosen;
    if (chosen === "map") {
      document.title = "civictwin — city map";
      if (!mapStarted) {
        mapStarted = true;
        showMap().catch(() => { mapStarted = false; }); // e.g. not signed in yet: retry next time
      }
      window.dispatchEvent(new Event("civictwin:map-shown"));
      return;
    }
    const view = VIEWS[chosen];
    document.title = `civictwin — ${view.title}`;
    byId("status").textContent = "";
    const host = byId(`${chosen}-body`);
    void Promise.resolve(view.render(host, decodeURIComponent(rest.join("/")))).then(() => {
      const heading = byId(`${chosen}-heading`);
      if (chosen === "dataset") heading.textContent = host.dataset.title ?? "Dataset";
    });
    byId(`${chosen}-heading`).focus({ preventScroll: false });
  };
  window.addEventListener("hashchange", route);
  route(); // at once: the map must not wait for the question who the visitor is
  void refresh().then(() => {
    if (document.body.dataset.view === "sign-in") route();
  });
}

function markRights(found: Me | null): void {
  byId("who").textContent = describe(found);
  const link = byId<HTMLAnchorElement>("sign-in-link");
  link.textContent = found?.participant && found.authRequired ? "Account" : "Sign in";
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#views-nav a[data-view]")) {
    const right = found?.views[VIEWS[a.dataset.view ?? ""]?.right ?? ""];
    const locked = right ? !right.allowed : false;
    a.classList.toggle("locked", locked);
    if (locked && right?.reason) a.title = right.reason; else a.removeAttribute("title");
    const note = a.querySelector(".visually-hidden");
    if (locked && !note) a.append(h("span", { class: "visually-hidden" }, " (not available to you)"));
    if (!locked) note?.remove();
  }
}
