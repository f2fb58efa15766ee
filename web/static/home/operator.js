// An operator's section: the sessions the site hosts today and tomorrow (open, console,
// end), and "Phiên đột xuất": book a session that starts now for one hour with the sites
// chosen, then open it at once. Booking needs the scheduler or administrator role; an
// operator without one is told so in the form.

import { t } from "/static/shared/i18n.js";
import { addDays, api, confirmDialog, el, fold, hhmm, now, showError, shortDay } from "/static/home/util.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 60 * 1000;
const URGENT_MS = 60 * 60 * 1000;

export function startOperator(ctx) {
  let sessions = [];
  let loaded = false;
  const canBook = ctx.hasRole("scheduler") || ctx.hasRole("administrator");
  const chosen = new Set();

  async function load() {
    const today = ctx.today();
    const query = new URLSearchParams({ from: today, to: addDays(today, 1), site: ctx.me.site });
    try {
      const all = (await api(`/api/sessions?${query}`)).sessions;
      sessions = all.filter((s) => s.host_site === ctx.me.site);
      loaded = true;
      showError($("op-error"), null);
    } catch (error) {
      showError($("op-error"), error);
    }
    renderList();
  }

  function dayLabel(iso) {
    const today = ctx.today();
    const day = new Date(iso).toLocaleDateString("en-CA", { timeZone: "Asia/Ho_Chi_Minh" });
    if (day === today) return t("home.today");
    if (day === addDays(today, 1)) return t("home.tomorrow");
    return shortDay(iso);
  }

  async function act(session, action) {
    const verb = { open: "open", close: "close" }[action];
    if (action === "close") {
      const answer = await confirmDialog({
        title: t("home.op.close.title"),
        text: t("home.op.close.confirm", { title: session.title, time: `${hhmm(session.starts_at)} – ${hhmm(session.ends_at)}` }),
        action: t("home.op.close.action"),
      });
      if (!answer) return;
    }
    showError($("op-error"), null);
    try {
      await api(`/api/sessions/${encodeURIComponent(session.id)}/${verb}`, { method: "POST" });
      ctx.flash(t(action === "open" ? "home.op.opened" : "home.op.closed", { title: session.title }));
    } catch (error) {
      showError($("op-error"), error);
    }
    await load();
  }

  function row(session) {
    const live = session.state === "planned" || session.state === "open";
    const actions = el("td", { class: "actions" });
    if (session.state === "planned") {
      actions.append(el("button", { type: "button", class: "primary", dataset: { action: "open" }, onclick: () => act(session, "open") }, t("home.op.open")));
    }
    if (live) {
      actions.append(el("a", { class: "button", href: `/console?session=${encodeURIComponent(session.id)}`, dataset: { action: "console" } }, t("home.op.console")));
    }
    if (session.state === "open") {
      actions.append(el("button", { type: "button", class: "danger", dataset: { action: "close" }, onclick: () => act(session, "close") }, t("home.op.close")));
    }
    return el(
      "tr",
      { dataset: { session: session.id, state: session.state } },
      el("td", { class: "time-cell" }, `${dayLabel(session.starts_at)} ${hhmm(session.starts_at)} – ${hhmm(session.ends_at)}`),
      el("th", { scope: "row" }, session.title),
      el("td", {}, ctx.siteNames(session.sites.map((s) => s.site).filter((id) => id !== session.host_site)) || "—"),
      el("td", {}, el("span", { class: `badge state-${session.state}` }, t(`home.state.${session.state}`))),
      actions,
    );
  }

  function renderList() {
    $("op-intro").textContent = t("home.op.intro", { site: ctx.siteName(ctx.me.site) });
    const body = $("op-table").tBodies[0];
    const focusedId = body.contains(document.activeElement)
      ? [document.activeElement.closest("tr")?.dataset.session, document.activeElement.dataset.action]
      : null;
    body.replaceChildren(...sessions.map(row));
    if (focusedId) body.querySelector(`tr[data-session="${CSS.escape(focusedId[0] ?? "")}"] [data-action="${focusedId[1]}"]`)?.focus();
    $("op-table").hidden = sessions.length === 0;
    $("op-none").hidden = sessions.length > 0 || !loaded;
  }

  // -- Phiên đột xuất ---------------------------------------------------------------

  function pickable() {
    const today = ctx.today();
    return ctx.sorted([...ctx.sites.values()].filter((s) => s.id !== ctx.me.site && ctx.activeOn(s, today)));
  }

  function renderPicker() {
    const list = $("site-list");
    list.replaceChildren(
      ...pickable().map((site) => {
        const parent = site.parent ? ctx.siteName(site.parent) : "";
        const box = el("input", { type: "checkbox", value: site.id, checked: chosen.has(site.id) });
        box.addEventListener("change", () => {
          if (box.checked) chosen.add(site.id);
          else chosen.delete(site.id);
          renderChosen();
        });
        return el(
          "li",
          { dataset: { site: site.id, search: fold(`${site.name} ${site.name_en} ${site.id} ${parent}`) } },
          el("label", { class: "check" }, box, el("span", {}, ctx.siteName(site.id), parent ? el("span", { class: "level" }, ` — ${parent}`) : null)),
        );
      }),
    );
    filterPicker();
    renderChosen();
  }

  function filterPicker() {
    const words = fold($("site-search").value).split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const li of $("site-list").children) {
      const match = chosen.has(li.dataset.site) || words.every((w) => li.dataset.search.includes(w));
      li.hidden = !match;
      if (match) shown += 1;
    }
    $("site-no-match").hidden = shown > 0;
  }

  function renderChosen() {
    const names = [...chosen].map((id) => ctx.siteName(id));
    $("urgent-chosen").textContent = names.length
      ? t("home.urgent.selected", { count: names.length, names: names.join(", ") })
      : t("home.urgent.selected.none");
  }

  async function book(event) {
    event.preventDefault();
    const errorBox = $("urgent-error");
    if (!canBook) return;
    const title = $("urgent-title").value.trim();
    if (!title) {
      showError(errorBox, { code: "missing_title" });
      $("urgent-title").focus();
      return;
    }
    if (chosen.size === 0) {
      showError(errorBox, { code: "need_site" });
      $("site-search").focus();
      return;
    }
    showError(errorBox, null);
    const submit = $("urgent-submit");
    submit.disabled = true;
    submit.textContent = t("home.urgent.busy");
    const start = now();
    let booked;
    try {
      booked = await api("/api/sessions", {
        method: "POST",
        body: {
          title,
          host_site: ctx.me.site,
          starts_at: new Date(start).toISOString(),
          ends_at: new Date(start + URGENT_MS).toISOString(),
          participants: [...chosen],
          allow_day_off: true,
        },
      });
    } catch (error) {
      showError(errorBox, error);
      submit.disabled = false;
      submit.textContent = t("home.urgent.submit");
      return;
    }
    try {
      await api(`/api/sessions/${encodeURIComponent(booked.id)}/open`, { method: "POST" });
      ctx.flash(t("home.urgent.done", { title: booked.title, start: hhmm(booked.starts_at), end: hhmm(booked.ends_at) }));
      chosen.clear();
      $("urgent-title").value = t("home.urgent.title.default");
      $("site-search").value = "";
      renderPicker();
    } catch (error) {
      showError(errorBox, error);
      errorBox.prepend(t("home.urgent.not_opened", { title: booked.title }), " ");
    }
    submit.disabled = false;
    submit.textContent = t("home.urgent.submit");
    await load();
  }

  function render() {
    renderList();
    renderPicker();
  }

  $("urgent-title").value = t("home.urgent.title.default");
  $("urgent-no-right").hidden = canBook;
  $("urgent-fields").disabled = !canBook;
  $("urgent-sites").disabled = !canBook;
  $("site-search").addEventListener("input", filterPicker);
  $("urgent-form").addEventListener("submit", book);
  renderPicker();
  setInterval(() => {
    if (!$("op-table").contains(document.activeElement) && !document.querySelector("dialog[open]")) load();
  }, REFRESH_MS);
  load();
  return { render };
}
