// The home page of a signed-in person: who they are, and one section per role they
// hold (room, operator, clerk, scheduler, administrator). Vietnam time everywhere.
//
// GET /api/me (401: to the sign-in page); every state-changing request sends the
// session's CSRF token (util.js). Each section lives in its own module and exposes
// render() (called again after a language switch).

import "/static/home/messages.js";
import { applyI18n, bindLanguageSwitch, getLanguage, onLanguageChange, t } from "/static/shared/i18n.js";
import { LEVEL_ORDER, SiteTree, api, el, errorText, hhmmss, now, setCsrfToken, setSignedOutHandler, showError, vnDay } from "/static/home/util.js";
import { startRoom } from "/static/home/room.js";
import { startOperator } from "/static/home/operator.js";
import { startClerk } from "/static/home/clerk.js";
import { startScheduler } from "/static/home/scheduler.js";
import { startAdministrator } from "/static/home/admin.js";
import { startAdminCalendar } from "/static/home/admin_calendar.js";
import { startAdminSites } from "/static/home/admin_sites.js";

const $ = (id) => document.getElementById(id);
const SECTIONS = [
  ["room", startRoom],
  ["operator", startOperator],
  ["clerk", startClerk],
  ["scheduler", startScheduler],
  ["administrator", (ctx) => together(ctx, [startAdministrator, startAdminCalendar, startAdminSites])],
];

/** Several parts of one section, started in order and rendered together. */
function together(ctx, starters) {
  const parts = starters.map((startPart) => startPart(ctx));
  return { render: () => parts.forEach((part) => part.render()) };
}

function toSignIn() {
  const here = location.pathname + location.search;
  location.replace(here === "/" ? "/login" : `/login?next=${encodeURIComponent(here)}`);
}

/** What every section needs: the person, the site tree, the flash line. */
class Context {
  constructor(me, sites) {
    this.me = me;
    this.setSites(sites);
    this.flashTimer = null;
  }

  /** Take a new site tree (after the administrator loads one). */
  setSites(sites) {
    this.tree = new SiteTree(sites, this.me.scope);
  }

  /** Every site by id. */
  get sites() {
    return this.tree.byId;
  }

  hasRole(role) {
    return this.me.roles.includes(role);
  }

  siteName(id) {
    return this.tree.name(id);
  }

  /** A session's taking-part sites as words: at most four names, then "+ N". */
  siteNames(ids) {
    const names = ids.map((id) => this.siteName(id));
    if (names.length <= 4) return names.join(", ");
    return `${names.slice(0, 3).join(", ")} ${t("home.sites.more", { count: names.length - 3 })}`;
  }

  /** Whether the site exists on `day` (YYYY-MM-DD): not merged away, not yet to come. */
  activeOn(site, day) {
    return this.tree.activeOn(site, day);
  }

  /** Sites sorted as a list shows them: central offices, provinces, then the rest, by name. */
  sorted(sites) {
    const collator = new Intl.Collator(getLanguage() === "vi" ? "vi" : "en");
    return [...sites].sort(
      (a, b) =>
        (LEVEL_ORDER[a.level] ?? 9) - (LEVEL_ORDER[b.level] ?? 9) ||
        collator.compare(this.siteName(a.id), this.siteName(b.id)),
    );
  }

  /** The root of the person's scope (GET /api/me): null for a central office (every
   * site), else its province (or the top of its tree). */
  scopeRoot() {
    return this.tree.root;
  }

  /** The sites the person's province covers, or null for all of them. */
  scope() {
    return this.tree.scope;
  }

  /** A line under the header saying what just happened (kept 10 s). */
  flash(text, kind = "notice") {
    const box = $("flash");
    box.replaceChildren(el("p", { class: kind }, text));
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => box.replaceChildren(), 10000);
  }

  today() {
    return vnDay(now());
  }
}

function renderHeader(ctx) {
  $("who-name").textContent = ctx.me.display_name;
  $("who-site").textContent = t("home.site", { site: ctx.siteName(ctx.me.site) });
  const roles = SECTIONS.map(([role]) => role).filter((role) => ctx.hasRole(role));
  $("who-roles").textContent = t("home.roles", { roles: roles.map((r) => t(`home.role.${r}`)).join(", ") });
  document.title = `${t("home.title")} — ${t("app.name")}`;
}

async function signOut() {
  $("signout").disabled = true;
  try {
    await api("/api/logout", { method: "POST" });
  } catch (error) {
    if (error.status !== 401) {
      $("signout").disabled = false;
      showError($("page-error"), error);
      $("page-error").prepend(t("home.signout.failed"), " ");
      return;
    }
  }
  location.replace("/login");
}

function tickClock() {
  $("clock").textContent = hhmmss(now());
  $("clock").dateTime = new Date(now()).toISOString();
}

async function start() {
  bindLanguageSwitch($("lang"));
  applyI18n();
  setSignedOutHandler(toSignIn);
  $("signout").addEventListener("click", signOut);
  let me;
  let sites;
  try {
    me = await api("/api/me");
  } catch (error) {
    if (error.status !== 401) {
      $("loading").hidden = true;
      showError($("page-error"), error);
    }
    return;
  }
  if (me.must_change_password) {
    location.replace("/login?next=/");
    return;
  }
  setCsrfToken(me.csrf_token);
  try {
    sites = (await api("/api/sites")).sites;
  } catch (error) {
    showError($("page-error"), error);
    sites = [];
  }
  const ctx = new Context(me, sites);
  $("loading").hidden = true;
  tickClock();
  setInterval(tickClock, 1000);
  renderHeader(ctx);
  const started = [];
  for (const [role, startSection] of SECTIONS) {
    if (!ctx.hasRole(role)) continue;
    $(`sec-${role}`).hidden = false;
    try {
      started.push(startSection(ctx));
    } catch (error) {
      console.error(error);
      showError($("page-error"), { code: "", serverMessage: errorText(error) });
    }
  }
  $("no-roles").hidden = started.length > 0;
  onLanguageChange(() => {
    renderHeader(ctx);
    tickClock();
    for (const section of started) section.render();
  });
  window.rbHome = { ctx, sections: started };
}

start();
