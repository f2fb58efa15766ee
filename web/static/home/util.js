// What the sign-in page and the home page share: calling the server (JSON, the CSRF
// header, errors as the server names them), Vietnam dates and times, a DOM builder,
// a confirmation dialog. Only the home and sign-in pages import this module.

import { getLanguage, has, onLanguageChange, t } from "/static/shared/i18n.js";

export const TIME_ZONE = "Asia/Ho_Chi_Minh";
const DAY_MS = 24 * 60 * 60 * 1000;

// -- calling the server ---------------------------------------------------------------

/** A refused or failed request: `status` (0 without an answer), the server's `code`
 * and `message` (its sentence, shown as the detail). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.serverMessage = message || "";
  }
}

let csrfToken = "";
let onSignedOut = null;
let clockSkewMs = 0;

/** The anti-forgery value every state-changing request sends in X-CSRF-Token. */
export function setCsrfToken(value) {
  csrfToken = value ?? "";
}

/** Called (once per answer) when the server says 401: the sign-in session is over. */
export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

/** The server's clock (its Date header), so a kiosk with a wrong clock still counts
 * down right. Only a skew of more than 5 s is corrected (the header has 1 s steps). */
export function now() {
  return Date.now() + clockSkewMs;
}

function noteServerClock(response) {
  const header = response.headers.get("Date");
  const server = header ? Date.parse(header) : NaN;
  if (Number.isNaN(server)) return;
  const skew = server - Date.now();
  clockSkewMs = Math.abs(skew) > 5000 ? skew : 0;
}

/** A request to `path` (a JSON body, or `body` as it is with `contentType`); resolves
 * with the JSON answer, rejects with an ApiError. */
export async function api(path, { method = "GET", body, csrf, contentType } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf ?? csrfToken;
  // With a contentType the body goes as it is (text, bytes: a TOML file), else as JSON.
  if (body !== undefined) headers["Content-Type"] = contentType ?? "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined || contentType ? body : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "");
  }
  noteServerClock(response);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      data?.error?.code ?? `http_${response.status}`,
      data?.error?.message ?? response.statusText,
    );
    error.details = data?.error ?? {}; // the error's other fields (a TOML error's line)
    if (response.status === 401 && onSignedOut) onSignedOut(error);
    throw error;
  }
  return data;
}

/** The error in the page's language: our sentence for the code when we have one,
 * else the server's own message. */
export function errorText(error) {
  const code = error?.code ?? "unknown";
  if (has(`err.${code}`)) return t(`err.${code}`);
  if (error?.serverMessage) return error.serverMessage;
  if (error?.status) return t("err.http", { status: error.status });
  return String(error?.message ?? error);
}

/** Show `error` (or nothing, for null) in `box`: our sentence, then the server's
 * message and code in small print so a helpdesk can tell what happened. */
export function showError(box, error) {
  box.replaceChildren();
  box.hidden = !error;
  if (!error) return;
  box.append(el("span", { class: "error-text" }, errorText(error)));
  if (!(error instanceof ApiError)) return; // the page's own check: no server detail
  const detail = [error.serverMessage, error.code && error.code !== "network" ? `(${error.code})` : ""]
    .filter(Boolean)
    .join(" ");
  if (detail && detail !== errorText(error)) {
    box.append(" ", el("small", { class: "error-detail" }, t("err.detail", { detail })));
  }
}

/** A same-site path to go to after sign-in, or "/" (never another site, never "//"). */
export function safeNext(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) {
    return "/";
  }
  try {
    const url = new URL(raw, location.origin);
    if (url.origin !== location.origin) return "/";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/";
  }
}

// -- Vietnam dates and times -----------------------------------------------------------

const isoDay = new Intl.DateTimeFormat("en-CA", {
  timeZone: TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
});

/** The Vietnam calendar day of instant `ms` as YYYY-MM-DD. */
export function vnDay(ms = now()) {
  return isoDay.format(new Date(ms));
}

/** `day` (YYYY-MM-DD) moved by `n` days. */
export function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d) + n * DAY_MS).toISOString().slice(0, 10);
}

/** The Monday of the week of `day` (YYYY-MM-DD). */
export function mondayOf(day) {
  const [y, m, d] = day.split("-").map(Number);
  const weekday = (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7; // Monday 0
  return addDays(day, -weekday);
}

function locale() {
  return getLanguage() === "vi" ? "vi-VN" : "en-GB";
}

/** HH:MM in Vietnam time. */
export function hhmm(iso) {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE,
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }).format(new Date(iso));
}

/** HH:MM:SS in Vietnam time, for the clock. */
export function hhmmss(ms) {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(new Date(ms));
}

/** A day (YYYY-MM-DD or an instant) as the offices write it: "Thứ Hai, 12/01/2026". */
export function longDay(dayOrIso) {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(dayOrIso) ? new Date(`${dayOrIso}T12:00:00+07:00`) : new Date(dayOrIso);
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE,
    weekday: "long",
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
  }).format(date);
}

/** dd/mm/yyyy of a day or an instant in Vietnam time. */
export function shortDay(dayOrIso) {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(dayOrIso) ? new Date(`${dayOrIso}T12:00:00+07:00`) : new Date(dayOrIso);
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE,
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
  }).format(date);
}

/** A wait as words: "1 giờ 05 phút", "12 phút 30 giây", "45 giây". */
export function waitText(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor(total / 60) % 60;
  const s = total % 60;
  if (h > 0) return t("time.hm", { h, m: String(m).padStart(2, "0") });
  if (m > 0) return t("time.ms", { m, s: String(s).padStart(2, "0") });
  return t("time.s", { s });
}

// -- dates as the office writes them -------------------------------------------------
//
// <input type="date"> shows the browser's locale (mm/dd/yyyy in an en-US Chromium); the
// offices write dd/mm/yyyy. Date fields are text inputs that show and take dd/mm/yyyy
// (d/m/yyyy, dots or dashes accepted and tidied), whatever the browser's locale; their
// `iso` property is the day as YYYY-MM-DD ("" while empty or not a real day).

const VN_DATE = /^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$/;

/** "dd/mm/yyyy" (or d/m/yyyy, with / . or -) as YYYY-MM-DD; null if it is no real day. */
export function parseVnDate(text) {
  const match = VN_DATE.exec(String(text ?? ""));
  if (!match) return null;
  const [d, m, y] = match.slice(1).map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  if (y < 1900 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return null;
  return date.toISOString().slice(0, 10);
}

/** YYYY-MM-DD as dd/mm/yyyy ("" for ""). */
export function formatVnDate(day) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day ?? "")) return "";
  const [y, m, d] = day.split("-");
  return `${d}/${m}/${y}`;
}

/** A date field: a text input showing dd/mm/yyyy, its day in `input.iso` (get and set).
 * Arrow Up/Down move it a day (from today when empty); a text that is no day, or out of
 * `min`/`max` (YYYY-MM-DD), is marked invalid with a sentence the form shows. */
export function dateInput(attrs = {}) {
  const { min, max, ...rest } = attrs;
  const input = el("input", {
    ...rest,
    type: "text",
    inputmode: "numeric",
    autocomplete: "off",
    maxlength: 10,
    // The pattern attribute is a v-flag regexp: "/" and "-" are escaped in classes.
    pattern: "\\s*\\d{1,2}[\\/.\\-]\\d{1,2}[\\/.\\-]\\d{4}\\s*",
    class: ["date-field", rest.class].filter(Boolean).join(" "),
  });
  input.dataset.dateField = "";
  Object.defineProperty(input, "iso", {
    get: () => parseVnDate(input.value) ?? "",
    set: (day) => {
      input.value = formatVnDate(day);
      check();
    },
  });
  const label = () => {
    input.placeholder = t("date.placeholder");
    input.title = t("date.hint");
  };
  let ownProblem = false; // aria-invalid set here (other code may set it for its reasons)
  function check() {
    const text = input.value.trim();
    const day = parseVnDate(text);
    let problem = "";
    if (text && !day) problem = t("date.invalid");
    else if (day && min && day < min) problem = t("date.before", { day: formatVnDate(min) });
    else if (day && max && day > max) problem = t("date.after", { day: formatVnDate(max) });
    input.setCustomValidity(problem);
    if (problem) input.setAttribute("aria-invalid", "true");
    else if (ownProblem) input.removeAttribute("aria-invalid");
    ownProblem = Boolean(problem);
    return day;
  }
  input.addEventListener("input", () => check());
  input.addEventListener("change", () => {
    const day = check();
    if (day) input.value = formatVnDate(day); // 4/12/2026 -> 04/12/2026
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    const day = parseVnDate(input.value) ?? vnDay(now());
    event.preventDefault();
    input.iso = parseVnDate(input.value) ? addDays(day, event.key === "ArrowUp" ? 1 : -1) : day;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  label();
  onLanguageChange(() => {
    label();
    check();
  });
  return input;
}

// -- DOM ------------------------------------------------------------------------------

/** el("a", {href, class, dataset: {...}, onclick}, ...children): a new element. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Ask before doing something that cannot be undone, in a modal <dialog>.
 * Resolves with null when the person goes back, else with {reason} (the text typed in
 * the optional reason field, "" without one). */
export function confirmDialog({ title, text, action, danger = true, reasonLabel = null }) {
  return new Promise((resolve) => {
    const reason = reasonLabel ? el("input", { name: "reason", maxlength: "500", autocomplete: "off" }) : null;
    const dialog = el(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title" },
      el(
        "form",
        { method: "dialog" },
        el("h2", { id: "confirm-title" }, title),
        el("p", {}, text),
        reason ? el("label", { class: "field" }, el("span", {}, reasonLabel), reason) : null,
        el(
          "div",
          { class: "actions" },
          el("button", { type: "submit", value: "back", class: "secondary" }, t("dialog.back")),
          el("button", { type: "submit", value: "ok", class: danger ? "danger" : "primary" }, action),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      const value = reason ? reason.value.trim() : "";
      dialog.remove();
      resolve(ok ? { reason: value } : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (reason ?? dialog.querySelector("button.secondary")).focus();
  });
}

// -- the site tree ---------------------------------------------------------------------

/** Lower case, without Vietnamese accents: "Đà Nẵng" and "da nang" meet. */
export function fold(text) {
  return String(text ?? "")
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/đ/g, "d")
    .replace(/Đ/g, "D")
    .toLowerCase();
}

/** How lists order sites by level: central offices, provinces, then the rest. */
export const LEVEL_ORDER = { central: 0, province: 1, district: 2, department: 3, commune: 4 };

/** The sites from GET /api/sites, and what the person may touch: `scope` is GET /api/me's
 * {root, sites} (root null and sites null: every site, a central office). The rule is the
 * server's alone (sessions/sitetree.py scope_root); this only reads its answer. One tree
 * for the home page's sections and the scheduler's desk. */
export class SiteTree {
  constructor(sites, scope) {
    this.byId = new Map(sites.map((s) => [s.id, s]));
    this.children = new Map();
    for (const site of sites) {
      if (!site.parent) continue;
      if (!this.children.has(site.parent)) this.children.set(site.parent, []);
      this.children.get(site.parent).push(site.id);
    }
    this.root = scope?.root ?? null;
    this.scope = scope?.sites ? new Set(scope.sites) : null;
  }

  get(id) {
    return this.byId.get(id);
  }

  name(id) {
    const site = this.byId.get(id);
    if (!site) return id;
    return getLanguage() === "en" && site.name_en ? site.name_en : site.name;
  }

  names(ids) {
    return ids.map((id) => this.name(id)).join(", ");
  }

  subtree(id) {
    const out = new Set([id]);
    const stack = [id];
    while (stack.length) {
      for (const child of this.children.get(stack.pop()) ?? []) {
        if (!out.has(child)) {
          out.add(child);
          stack.push(child);
        }
      }
    }
    return out;
  }

  inScope(id) {
    return this.scope === null || this.scope.has(id);
  }

  activeOn(site, day) {
    return (!site.valid_from || site.valid_from <= day) && (!site.valid_to || site.valid_to >= day);
  }

  /** Sites in scope existing on `day`, in tree order: central offices, then each
   * province followed by its communes and departments; names sorted as Vietnamese. */
  ordered(day) {
    const collator = new Intl.Collator(getLanguage() === "vi" ? "vi" : "en");
    const byName = (a, b) =>
      (LEVEL_ORDER[a.level] ?? 9) - (LEVEL_ORDER[b.level] ?? 9) || collator.compare(this.name(a.id), this.name(b.id));
    const usable = (s) => this.inScope(s.id) && this.activeOn(s, day);
    const out = [];
    const visit = (site, depth) => {
      out.push({ site, depth });
      const kids = (this.children.get(site.id) ?? []).map((id) => this.byId.get(id)).filter(usable);
      for (const kid of kids.sort(byName)) visit(kid, depth + 1);
    };
    const tops = [...this.byId.values()].filter((s) => {
      const parent = s.parent ? this.byId.get(s.parent) : null;
      return usable(s) && !(parent && usable(parent));
    });
    for (const site of tops.sort(byName)) visit(site, 0);
    return out;
  }
}
