// Signing in: the visitor pastes a participant's API key, kept in this tab's sessionStorage
// and sent as `Authorization: Bearer` on every call (never in a cookie, so no other site can
// make the browser use it). `/web/open/me` says who that is and which views it may open.
import { ApiError, TOKEN_KEY, getJson } from "./api";
import { h, ready } from "./dom";

export interface ViewRight { label: string; allowed: boolean; reason: string | null }

export interface Me {
  participant: { id: string; name: string; roles: string[]; tenant: string } | null;
  tenant: string;
  authRequired: boolean;
  views: Record<string, ViewRight>;
}

let current: Me | null = null;
let problem = "Cannot reach the twin";
const listeners: ((me: Me | null) => void)[] = [];

export function me(): Me | null {
  return current;
}

export function onSession(listener: (me: Me | null) => void): void {
  listeners.push(listener);
}

/** Ask the twin who the stored key belongs to; a refused key is dropped. */
export async function refresh(): Promise<Me | null> {
  try {
    current = await getJson<Me>("web/open/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && sessionStorage.getItem(TOKEN_KEY)) {
      sessionStorage.removeItem(TOKEN_KEY);
      current = await getJson<Me>("web/open/me").catch(() => null);
    } else {
      current = null;
      problem = error instanceof Error ? error.message : String(error);
    }
  }
  listeners.forEach((listener) => listener(current));
  return current;
}

export function describe(found: Me | null): string {
  if (!found) return problem;
  const p = found.participant;
  if (!p) return "Not signed in: open data only";
  if (!found.authRequired) return "Local operator (authentication is off)";
  return `Signed in as ${p.name} (${p.roles.join(", ") || "no role"})`;
}

/** Render the sign-in view: a labelled key field, or who is signed in and a sign-out button. */
export function renderSignIn(host: HTMLElement): void {
  const found = current;
  const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY)) && Boolean(found?.participant);
  const message = h("p", { id: "sign-in-message", role: "status", "aria-live": "polite" });
  if (signedIn && found?.participant) {
    const out = h("button", { type: "button", id: "sign-out" }, "Sign out");
    out.addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      void refresh().then(() => renderSignIn(host));
    });
    ready(host, h("p", {}, describe(found)),
      h("p", { class: "hint" }, `Participant ${found.participant.id}, tenant ${found.participant.tenant || "(default)"}.`),
      out, message);
    return;
  }
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off",
    spellcheck: "false", required: true, "aria-describedby": "api-key-hint" });
  const form = h("form", { id: "sign-in-form" },
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", { id: "api-key-hint", class: "hint" },
      "Paste the key the operator issued to your organisation (it starts with ctk_). It is kept in this browser tab only and forgotten when the tab closes."),
    h("button", { type: "submit" }, "Sign in"),
    message);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void signIn(input.value.trim(), message, host);
  });
  ready(host, form);
}

async function signIn(key: string, message: HTMLElement, host: HTMLElement): Promise<void> {
  if (!key) return;
  sessionStorage.setItem(TOKEN_KEY, key);
  const found = await refresh();
  if (!found?.participant || !sessionStorage.getItem(TOKEN_KEY)) {
    sessionStorage.removeItem(TOKEN_KEY);
    message.textContent = "The twin did not accept this key (unknown, revoked or mistyped).";
    message.dataset.state = "refused";
    return;
  }
  renderSignIn(host);
  const done = host.querySelector<HTMLElement>("#sign-in-message");
  if (done) done.textContent = `${describe(found)}.`;
}
