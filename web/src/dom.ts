// Small DOM helpers for the dashboard views: elements from plain values (text only, never
// HTML from the server), tables, and the states a view can be in (loading, refused, failed).
import { ApiError } from "./api";

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key === "class") node.className = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "object" ? child : String(child));
  }
  return node;
}

/** A captioned table in a box that scrolls sideways on a narrow screen (the page does not). */
export function table(caption: string, head: string[], rows: Child[][],
                      attrs: Attrs = {}): HTMLElement {
  return h("div", { class: "table-wrap" }, h("table", attrs,
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c)))))));
}

/** A definition list of label: value pairs. */
export function facts(pairs: [string, Child][]): HTMLDListElement {
  const list = h("dl", { class: "facts" });
  for (const [name, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(h("dt", {}, name), h("dd", {}, value));
  }
  return list;
}

export function fmt(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
  return Number(value.toPrecision(digits)).toLocaleString("en");
}

export function loading(host: HTMLElement, what: string): void {
  host.replaceChildren(h("p", { class: "hint", role: "status" }, `Loading ${what}…`));
  host.dataset.state = "loading";
}

/** Show why a view cannot be shown: not signed in, not allowed, or an error. */
export function refused(host: HTMLElement, error: unknown): void {
  const status = error instanceof ApiError ? error.status : 0;
  const detail = error instanceof Error ? error.message : String(error);
  let notice: HTMLElement;
  if (status === 401) {
    host.dataset.state = "unauthorized";
    notice = h("div", { class: "notice refused", role: "alert" },
      h("h3", {}, "Sign in to see this"),
      h("p", {}, detail),
      h("p", {}, h("a", { href: "#sign-in" }, "Sign in with an API key")));
  } else if (status === 403) {
    host.dataset.state = "forbidden";
    notice = h("div", { class: "notice refused", role: "alert" },
      h("h3", {}, "Not allowed"),
      h("p", {}, detail),
      h("p", { class: "hint" }, "Ask the twin's operator for the role this view needs, or sign in as another participant."));
  } else if (status === 404) {
    host.dataset.state = "missing";
    notice = h("div", { class: "notice", role: "alert" }, h("h3", {}, "Not found"), h("p", {}, detail));
  } else {
    host.dataset.state = "error";
    notice = h("div", { class: "notice", role: "alert" },
      h("h3", {}, "Could not load this view"), h("p", {}, detail));
  }
  host.replaceChildren(notice);
}

export function ready(host: HTMLElement, ...children: Child[]): void {
  host.replaceChildren();
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    host.append(typeof child === "object" ? child : String(child));
  }
  host.dataset.state = "ready";
}

export function badge(text: string, kind: string): HTMLSpanElement {
  return h("span", { class: `badge badge-${kind.toLowerCase()}` }, text);
}
