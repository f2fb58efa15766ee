// The scheduler's desk in any container: the calendar (week or month), the booking form
// with its dry run, and the rules with "Tạo lịch". The standalone page /desk and the
// home page's scheduler section both call renderScheduler(container, me), `me` being the
// answer of GET /api/me (its csrf_token goes with every request that changes state).

import { onLanguageChange, t } from "/static/shared/i18n.js";
import { BookingForm } from "/static/home/scheduler_booking.js";
import { Calendar } from "/static/home/scheduler_calendar.js";
import { Rules } from "/static/home/scheduler_rules.js";
import { SiteTree, api, el, localParts, setCsrfToken, showError } from "/static/home/scheduler_util.js";

const STYLESHEET = "/static/home/scheduler.css";
const FLASH_MS = 12000;

function ensureStylesheet() {
  if (document.querySelector(`link[href="${STYLESHEET}"]`)) return;
  document.head.append(el("link", { rel: "stylesheet", href: STYLESHEET }));
}

/** Fill `container` with the desk for `me`; resolves with {render, calendar, form, rules}
 * once the site tree is loaded (render() re-draws in the current language). */
export async function renderScheduler(container, me) {
  ensureStylesheet();
  setCsrfToken(me.csrf_token);
  const scope = el("p", { id: "desk-scope", class: "muted desk-scope" });
  const flashBox = el("div", { id: "desk-flash", class: "desk-flash", role: "status", "aria-live": "polite" });
  const error = el("p", { class: "error-box", role: "alert", hidden: true });
  const loading = el("p", { class: "muted" }, t("desk.loading"));
  const desk = el("div", { class: "desk" }, scope, flashBox, error, loading);
  container.replaceChildren(desk);

  let sites = [];
  try {
    sites = (await api("/api/sites")).sites;
  } catch (err) {
    loading.remove();
    showError(error, err);
    return { render() {} };
  }
  const tree = new SiteTree(sites, me.scope);
  let flashTimer = null;
  const flash = (text) => {
    flashBox.replaceChildren(el("p", { class: "notice" }, text));
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => flashBox.replaceChildren(), FLASH_MS);
  };
  const calendar = new Calendar(tree, flash);
  const form = new BookingForm(tree, me, {
    flash,
    onBooked: async (session) => {
      await calendar.showSession(localParts(session.starts_at_local).day, session.id);
      calendar.root.scrollIntoView({ block: "start" });
    },
  });
  const rules = new Rules(tree, me, { flash, onGenerated: () => calendar.load() });
  loading.remove();
  desk.append(calendar.root, form.form, rules.root);

  const render = () => {
    scope.textContent =
      tree.root === null ? t("desk.scope.all") : t("desk.scope.province", { site: tree.name(tree.root) });
    calendar.render();
    form.render();
    rules.render();
  };
  render();
  await calendar.load();
  onLanguageChange(render);
  return { render, calendar, form, rules };
}
