// A scheduler's section of the home page: this week's sessions of the province (Monday
// to Sunday, Vietnam time) with "Hủy phiên" for those not yet open, and the way to the
// full desk (/desk).

import { t } from "/static/shared/i18n.js";
import { addDays, api, confirmDialog, el, hhmm, longDay, mondayOf, shortDay, showError } from "/static/home/util.js";

// The full desk (week and month calendar, booking form with its dry run, rules and
// "Tạo lịch"), as the standalone page /desk shows it: renderScheduler(container, me).
export { renderScheduler } from "/static/home/scheduler_desk.js";

const $ = (id) => document.getElementById(id);

export function startScheduler(ctx) {
  let sessions = [];
  let loaded = false;
  const root = ctx.scopeRoot(); // null: a central office sees every site

  function week() {
    const from = mondayOf(ctx.today());
    return { from, to: addDays(from, 6) };
  }

  async function load() {
    const { from, to } = week();
    const query = new URLSearchParams({ from, to });
    if (root !== null) query.set("site", root);
    try {
      sessions = (await api(`/api/sessions?${query}`)).sessions;
      loaded = true;
      showError($("sched-error"), null);
    } catch (error) {
      showError($("sched-error"), error);
    }
    render();
  }

  async function cancel(session) {
    const when = `${longDay(session.starts_at)} ${hhmm(session.starts_at)} – ${hhmm(session.ends_at)}`;
    const answer = await confirmDialog({
      title: t("home.sched.cancel.title"),
      text: t("home.sched.cancel.confirm", { title: session.title, time: when }),
      action: t("home.sched.cancel.action"),
      reasonLabel: t("home.sched.cancel.reason"),
    });
    if (!answer) return;
    showError($("sched-error"), null);
    try {
      await api(`/api/sessions/${encodeURIComponent(session.id)}/cancel`, {
        method: "POST",
        body: answer.reason ? { reason: answer.reason } : undefined,
      });
      ctx.flash(t("home.sched.cancelled", { title: session.title }));
    } catch (error) {
      showError($("sched-error"), error);
    }
    await load();
  }

  function row(session) {
    const actions = el("td", { class: "actions" });
    if (session.state === "planned") {
      actions.append(el("button", { type: "button", class: "danger", dataset: { action: "cancel" }, onclick: () => cancel(session) }, t("home.sched.cancel")));
    }
    return el(
      "tr",
      { dataset: { session: session.id, state: session.state } },
      el("td", { class: "time-cell" }, longDay(session.starts_at), el("br"), `${hhmm(session.starts_at)} – ${hhmm(session.ends_at)}`),
      el("th", { scope: "row" }, session.title),
      el("td", {}, ctx.siteName(session.host_site)),
      el("td", {}, ctx.siteNames(session.sites.map((s) => s.site).filter((id) => id !== session.host_site)) || "—"),
      el("td", {}, el("span", { class: `badge state-${session.state}` }, t(`home.state.${session.state}`))),
      actions,
    );
  }

  function render() {
    const { from, to } = week();
    $("sched-scope").textContent = t("home.sched.scope", {
      site: root === null ? t("home.sched.scope.all") : ctx.siteName(root),
      from: shortDay(from),
      to: shortDay(to),
    });
    $("sched-table").tBodies[0].replaceChildren(...sessions.map(row));
    $("sched-table").hidden = sessions.length === 0;
    $("sched-none").hidden = sessions.length > 0 || !loaded;
  }

  load();
  return { render };
}
