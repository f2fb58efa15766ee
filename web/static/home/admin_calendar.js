// The administrator's calendar: the government's swapped days stored as overrides
// (GET /api/calendar/overrides; PUT / DELETE /api/calendar/overrides/{date}), listed for
// this year and the next, a form to add one, and the chosen month's working days
// (GET /api/calendar/days) so the administrator sees what an override changes.

import { applyI18n, t } from "/static/shared/i18n.js";
import { api, confirmDialog, dateInput, el, longDay, showError } from "/static/home/util.js";

const $ = (id) => document.getElementById(id);
const WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]; // Monday first, as Vietnamese calendars are printed

function monthOf(day) {
  return day.slice(0, 7);
}

function monthDays(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return { first: `${month}-01`, last: `${month}-${String(last).padStart(2, "0")}`, count: last };
}

function weekdayOf(day) {
  const [y, m, d] = day.split("-").map(Number);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7; // Monday 0
}

function shiftMonth(month, n) {
  const [y, m] = month.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1 + n, 1));
  return date.toISOString().slice(0, 7);
}

/** The month as words: "Tháng 3/2027", "March 2027". */
function monthTitle(month) {
  const [y, m] = month.split("-").map(Number);
  return t("home.cal.month.title", { month: m, year: y, name: t(`home.cal.month.${m}`) });
}

export function startAdminCalendar(ctx) {
  const year = Number(ctx.today().slice(0, 4));
  const from = `${year}-01-01`;
  const to = `${year + 1}-12-31`;
  let overrides = [];
  let loaded = false;
  let month = monthOf(ctx.today());
  let days = [];
  let daysError = null;
  let loadingMonth = null;

  const root = $("admin-calendar");
  root.replaceChildren(
    el("h3", { id: "cal-h", "data-i18n": "home.cal.h" }, t("home.cal.h")),
    el("p", { class: "muted small", "data-i18n": "home.cal.intro" }, t("home.cal.intro")),
    el("p", { id: "cal-error", class: "error-box", role: "alert", hidden: true }),
    el("div", { class: "cal-layout" },
      el("div", { class: "cal-left" },
        el("p", { id: "cal-none", class: "muted", hidden: true, "data-i18n": "home.cal.none" }, t("home.cal.none")),
        el("table", { id: "cal-table", class: "list", hidden: true, "aria-labelledby": "cal-h" },
          el("caption", { id: "cal-caption", class: "visually-hidden" }),
          el("thead", {}, el("tr", {},
            el("th", { scope: "col", "data-i18n": "home.cal.col.day" }, t("home.cal.col.day")),
            el("th", { scope: "col", "data-i18n": "home.cal.col.kind" }, t("home.cal.col.kind")),
            el("th", { scope: "col", "data-i18n": "home.cal.col.note" }, t("home.cal.col.note")),
            el("th", { scope: "col", "data-i18n": "home.col.actions" }, t("home.col.actions")),
          )),
          el("tbody"),
        ),
        el("h4", { id: "cal-add-h", "data-i18n": "home.cal.add.h" }, t("home.cal.add.h")),
        el("form", { id: "cal-form", class: "cal-form", "aria-labelledby": "cal-add-h", novalidate: true },
          el("label", { class: "field", for: "cal-date" },
            el("span", { "data-i18n": "home.cal.add.date" }, t("home.cal.add.date")),
            dateInput({ id: "cal-date", name: "date", required: true, min: from, max: to }),
          ),
          el("fieldset", { id: "cal-kind", class: "cal-kind" },
            el("legend", { "data-i18n": "home.cal.add.kind" }, t("home.cal.add.kind")),
            el("label", { class: "check" },
              el("input", { type: "radio", name: "working", value: "false", checked: true }),
              el("span", { "data-i18n": "home.cal.kind.off" }, t("home.cal.kind.off")),
            ),
            el("label", { class: "check" },
              el("input", { type: "radio", name: "working", value: "true" }),
              el("span", { "data-i18n": "home.cal.kind.working" }, t("home.cal.kind.working")),
            ),
          ),
          el("label", { class: "field", for: "cal-note" },
            el("span", { "data-i18n": "home.cal.add.note" }, t("home.cal.add.note")),
            el("input", { id: "cal-note", name: "note", maxlength: "200", autocomplete: "off", "aria-describedby": "cal-note-hint" }),
            el("small", { id: "cal-note-hint", class: "muted", "data-i18n": "home.cal.add.note.hint" }, t("home.cal.add.note.hint")),
          ),
          el("p", { id: "cal-add-error", class: "error-box", role: "alert", hidden: true }),
          el("div", { class: "submit-row" },
            el("button", { id: "cal-submit", type: "submit", class: "primary", "data-i18n": "home.cal.add.submit" }, t("home.cal.add.submit")),
          ),
        ),
      ),
      el("div", { class: "cal-right" },
        el("div", { class: "cal-month-bar" },
          el("button", { id: "cal-prev", type: "button", class: "secondary", "data-i18n-attr": "aria-label:home.cal.prev;title:home.cal.prev" }, "‹"),
          el("label", { class: "field", for: "cal-month" },
            el("span", { "data-i18n": "home.cal.month" }, t("home.cal.month")),
            el("input", { id: "cal-month", type: "month", value: month, min: `${year}-01`, max: `${year + 1}-12` }),
          ),
          el("button", { id: "cal-next", type: "button", class: "secondary", "data-i18n-attr": "aria-label:home.cal.next;title:home.cal.next" }, "›"),
        ),
        el("table", { id: "cal-grid", class: "cal-grid", "aria-describedby": "cal-legend" },
          el("caption", { id: "cal-grid-caption" }),
          el("thead"),
          el("tbody"),
        ),
        el("p", { id: "cal-legend", class: "cal-legend small" }),
        el("ul", { id: "cal-reasons", class: "cal-reasons small" }),
      ),
    ),
  );
  applyI18n(root);

  async function loadOverrides() {
    try {
      overrides = (await api("/api/calendar/overrides")).overrides.filter((o) => o.date >= from && o.date <= to);
      loaded = true;
      showError($("cal-error"), null);
    } catch (error) {
      showError($("cal-error"), error);
    }
    renderList();
  }

  async function loadMonth() {
    const wanted = month;
    const { first, last } = monthDays(wanted);
    loadingMonth = wanted;
    try {
      const answer = await api(`/api/calendar/days?from=${first}&to=${last}`);
      if (loadingMonth !== wanted) return;
      days = answer.days;
      daysError = null;
    } catch (error) {
      if (loadingMonth !== wanted) return;
      days = [];
      daysError = error;
    }
    renderMonth();
  }

  /** Show month `next` (YYYY-MM) of this year or the next; `again`: reload it even
   * when it is the one shown (an override was just added or deleted). */
  function setMonth(next, again = false) {
    if (!next || next < `${year}-01` || next > `${year + 1}-12`) return Promise.resolve();
    if (next === month && days.length && !again) return Promise.resolve();
    month = next;
    $("cal-month").value = month;
    $("cal-prev").disabled = month <= `${year}-01`;
    $("cal-next").disabled = month >= `${year + 1}-12`;
    return loadMonth();
  }

  async function remove(override) {
    const answer = await confirmDialog({
      title: t("home.cal.delete.title"),
      text: t("home.cal.delete.confirm", { day: longDay(override.date), kind: kindText(override.working) }),
      action: t("home.cal.delete"),
    });
    if (!answer) return;
    showError($("cal-error"), null);
    try {
      await api(`/api/calendar/overrides/${override.date}`, { method: "DELETE" });
      ctx.flash(t("home.cal.deleted", { day: longDay(override.date) }));
    } catch (error) {
      showError($("cal-error"), error);
    }
    await loadOverrides();
    await setMonth(monthOf(override.date), true);
    $("cal-date").focus();
  }

  function kindText(working) {
    return t(working ? "home.cal.kind.working" : "home.cal.kind.off");
  }

  function row(override) {
    return el(
      "tr",
      { dataset: { day: override.date } },
      el("th", { scope: "row" },
        el("button", {
          type: "button",
          class: "link",
          title: t("home.cal.show"),
          onclick: () => setMonth(monthOf(override.date)),
        }, longDay(override.date)),
      ),
      el("td", {}, el("span", { class: `badge ${override.working ? "day-working" : "day-off"}` }, kindText(override.working))),
      el("td", {}, override.note || el("span", { class: "muted" }, "—")),
      el("td", { class: "actions" },
        el("button", {
          type: "button",
          class: "danger",
          dataset: { action: "delete" },
          "aria-label": t("home.cal.delete.label", { day: longDay(override.date) }),
          onclick: () => remove(override),
        }, t("home.cal.delete")),
      ),
    );
  }

  function renderList() {
    $("cal-caption").textContent = t("home.cal.caption", { from: year, to: year + 1 });
    $("cal-table").tBodies[0].replaceChildren(...overrides.map(row));
    $("cal-table").hidden = overrides.length === 0;
    $("cal-none").hidden = overrides.length > 0 || !loaded;
  }

  function renderMonth() {
    const grid = $("cal-grid");
    grid.querySelector("caption").textContent = monthTitle(month);
    grid.tHead.replaceChildren(
      el("tr", {}, ...WEEKDAYS.map((w) => el("th", { scope: "col", abbr: t(`home.cal.wd.long.${w}`) }, t(`home.cal.wd.${w}`)))),
    );
    const byDay = new Map(days.map((d) => [d.date, d]));
    const marked = new Map(overrides.map((o) => [o.date, o]));
    const { first, count } = monthDays(month);
    const rows = [];
    let cells = [];
    for (let i = 0; i < weekdayOf(first); i += 1) cells.push(el("td", { class: "blank" }));
    const reasons = [];
    for (let n = 1; n <= count; n += 1) {
      const day = `${month}-${String(n).padStart(2, "0")}`;
      const info = byDay.get(day);
      const override = marked.get(day);
      const state = info ? (info.working ? "working" : "off") : "unknown";
      const words = [
        longDay(day),
        info ? kindText(info.working) : "",
        info?.reason ?? "",
        override ? t("home.cal.overridden") : "",
      ].filter(Boolean);
      cells.push(
        el("td", {
          class: `day ${state}${override ? " overridden" : ""}${day === ctx.today() ? " today" : ""}`,
          dataset: { day, working: info ? String(info.working) : "" },
          title: words.join(" — "),
        },
          el("span", { "aria-hidden": "true" }, String(n), override ? el("span", { class: "mark" }, "★") : null),
          el("span", { class: "visually-hidden" }, words.join(", ")),
        ),
      );
      if (info?.reason && (weekdayOf(day) < 5 || info.working || override)) {
        reasons.push(el("li", { dataset: { day } }, `${n}: ${info.reason}${override ? ` (${t("home.cal.overridden")})` : ""}`));
      }
      if (cells.length === 7) {
        rows.push(el("tr", {}, ...cells));
        cells = [];
      }
    }
    if (cells.length) {
      while (cells.length < 7) cells.push(el("td", { class: "blank" }));
      rows.push(el("tr", {}, ...cells));
    }
    grid.tBodies[0].replaceChildren(...rows);
    $("cal-legend").replaceChildren(
      el("span", { class: "swatch working" }), " ", t("home.cal.kind.working"), "  ",
      el("span", { class: "swatch off" }), " ", t("home.cal.kind.off"), "  ",
      el("span", { class: "mark" }, "★"), " ", t("home.cal.overridden"),
    );
    $("cal-reasons").replaceChildren(...reasons);
    if (daysError) showError($("cal-error"), daysError);
  }

  async function add(event) {
    event.preventDefault();
    const errorBox = $("cal-add-error");
    const day = $("cal-date").iso;
    const working = $("cal-form").querySelector('input[name="working"]:checked')?.value === "true";
    const note = $("cal-note").value.trim();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) {
      showError(errorBox, { code: $("cal-date").value.trim() ? "cal_bad_date" : "cal_no_date" });
      $("cal-date").focus();
      return;
    }
    if (day < from || day > to) {
      showError(errorBox, { code: "cal_out_of_range" });
      $("cal-date").focus();
      return;
    }
    showError(errorBox, null);
    $("cal-submit").disabled = true;
    try {
      await api(`/api/calendar/overrides/${day}`, { method: "PUT", body: { working, note } });
      ctx.flash(t("home.cal.added", { day: longDay(day), kind: kindText(working) }));
      $("cal-form").reset();
      await loadOverrides();
      await setMonth(monthOf(day), true);
    } catch (error) {
      showError(errorBox, error);
    }
    $("cal-submit").disabled = false;
  }

  $("cal-form").addEventListener("submit", add);
  // As soon as a whole day is typed (dd/mm/yyyy), its month shows.
  $("cal-date").addEventListener("input", () => {
    const day = $("cal-date").iso;
    if (day && monthOf(day) !== month) setMonth(monthOf(day));
  });
  $("cal-month").addEventListener("change", () => setMonth($("cal-month").value));
  $("cal-prev").addEventListener("click", () => setMonth(shiftMonth(month, -1)));
  $("cal-next").addEventListener("click", () => setMonth(shiftMonth(month, 1)));

  function render() {
    renderList();
    renderMonth();
  }

  renderMonth();
  loadOverrides().then(() => setMonth(month, true));
  return { render };
}
