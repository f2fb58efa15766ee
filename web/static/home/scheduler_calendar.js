// The desk's calendar: a week (Monday to Sunday) or a month of the sessions in the
// person's scope, Vietnam time, days off hatched with their reason, and "Hủy phiên" on a
// planned session the person may cancel.
//
// GET /api/sessions?from&to&site=<province> (the server answers the sessions in which a
// site of that subtree takes part; a central scheduler asks without site) and
// GET /api/calendar/days?from&to.

import { t } from "/static/shared/i18n.js";
import {
  addDays,
  api,
  confirmDialog,
  dayLabel,
  daysBetween,
  ddmmyyyy,
  el,
  localParts,
  mondayOf,
  monthStart,
  now,
  reasonText,
  showError,
  vnDay,
  weekdayOf,
} from "/static/home/scheduler_util.js";

const MONTH_CELL_SESSIONS = 3;

export class Calendar {
  /** `tree`: the SiteTree; `flash(text)`: the desk's notice line. */
  constructor(tree, flash) {
    this.tree = tree;
    this.flash = flash;
    this.view = "week";
    this.anchor = vnDay(now());
    this.sessions = [];
    this.days = new Map();
    this.highlight = null;
    this.loaded = false;
    this.loading = 0;
    this.build();
  }

  build() {
    const button = (key, onclick, attrs = {}) =>
      el("button", { type: "button", class: "secondary", onclick, ...attrs }, t(key));
    this.weekButton = button("desk.cal.week", () => this.setView("week"), { "aria-pressed": "true" });
    this.monthButton = button("desk.cal.month", () => this.setView("month"), { "aria-pressed": "false" });
    this.prevButton = button("desk.cal.prev.week", () => this.move(-1), { id: "desk-cal-prev" });
    this.todayButton = button("desk.cal.today", () => this.goTo(vnDay(now())), { id: "desk-cal-today" });
    this.nextButton = button("desk.cal.next.week", () => this.move(1), { id: "desk-cal-next" });
    this.period = el("p", { id: "desk-cal-period", class: "desk-period", "aria-live": "polite" });
    this.summary = el("p", { id: "desk-cal-summary", class: "muted small", "aria-live": "polite" });
    this.error = el("p", { class: "error-box", role: "alert", hidden: true });
    this.body = el("div", { id: "desk-cal-body", class: "desk-cal-body", "aria-busy": "true" });
    this.legend = el("p", { class: "muted small desk-legend" });
    this.heading = el("h2", { id: "desk-cal-h" });
    this.viewGroup = el("div", { class: "desk-toggle", role: "group" }, this.weekButton, this.monthButton);
    this.root = el(
      "section",
      { id: "desk-calendar", class: "card desk-card", "aria-labelledby": "desk-cal-h" },
      el(
        "div",
        { class: "desk-cal-bar" },
        this.heading,
        this.viewGroup,
        el("div", { class: "desk-nav" }, this.prevButton, this.todayButton, this.nextButton),
        this.period,
      ),
      this.error,
      this.body,
      el("div", { class: "desk-cal-foot" }, this.summary, this.legend),
    );
  }

  setView(view) {
    if (this.view === view) return;
    this.view = view;
    this.load();
  }

  move(step) {
    this.anchor = this.view === "week" ? addDays(this.anchor, 7 * step) : monthStart(this.anchor, step);
    this.load();
  }

  goTo(day) {
    this.anchor = day;
    return this.load();
  }

  /** Show the week of `day` with the session `id` marked (after a booking). */
  showSession(day, id) {
    this.view = "week";
    this.anchor = day;
    this.highlight = id;
    return this.load();
  }

  range() {
    if (this.view === "week") {
      const from = mondayOf(this.anchor);
      return { from, to: addDays(from, 6) };
    }
    const first = monthStart(this.anchor);
    const last = addDays(monthStart(this.anchor, 1), -1);
    return { from: mondayOf(first), to: addDays(mondayOf(last), 6) };
  }

  async load() {
    const ticket = ++this.loading;
    const { from, to } = this.range();
    const query = new URLSearchParams({ from, to });
    if (this.tree.root !== null) query.set("site", this.tree.root);
    this.body.setAttribute("aria-busy", "true");
    this.renderBar();
    try {
      const [sessions, days] = await Promise.all([
        api(`/api/sessions?${query}`),
        api(`/api/calendar/days?${new URLSearchParams({ from, to })}`),
      ]);
      if (ticket !== this.loading) return;
      this.sessions = sessions.sessions;
      this.days = new Map(days.days.map((d) => [d.date, d]));
      this.loaded = true;
      showError(this.error, null);
    } catch (error) {
      if (ticket !== this.loading) return;
      showError(this.error, error);
    }
    this.render();
    this.body.setAttribute("aria-busy", "false");
  }

  renderBar() {
    const week = this.view === "week";
    this.heading.textContent = t("desk.cal.h");
    this.viewGroup.setAttribute("aria-label", t("desk.cal.view"));
    this.weekButton.textContent = t("desk.cal.week");
    this.monthButton.textContent = t("desk.cal.month");
    this.weekButton.setAttribute("aria-pressed", String(week));
    this.monthButton.setAttribute("aria-pressed", String(!week));
    this.prevButton.textContent = t(week ? "desk.cal.prev.week" : "desk.cal.prev.month");
    this.nextButton.textContent = t(week ? "desk.cal.next.week" : "desk.cal.next.month");
    this.todayButton.textContent = t("desk.cal.today");
    const { from, to } = this.range();
    if (week) {
      this.period.textContent = t("desk.cal.period.week", { from: ddmmyyyy(from), to: ddmmyyyy(to) });
    } else {
      const first = monthStart(this.anchor);
      const [year, month] = first.split("-");
      const name = new Intl.DateTimeFormat("en-GB", { month: "long", timeZone: "UTC" }).format(
        new Date(`${first}T00:00:00Z`),
      );
      this.period.textContent = t("desk.cal.period.month", { month: Number(month), year, name });
    }
    this.legend.textContent = t("desk.cal.legend");
  }

  render() {
    this.renderBar();
    if (!this.loaded) return;
    this.body.replaceChildren(this.view === "week" ? this.weekView() : this.monthView());
    const shown = this.sessions.length;
    this.summary.textContent = shown ? t("desk.cal.count", { count: shown }) : t("desk.cal.none");
  }

  sessionsOn(day) {
    return this.sessions.filter((s) => localParts(s.starts_at_local).day === day);
  }

  dayNote(day) {
    const info = this.days.get(day);
    if (!info) return null;
    if (!info.working) {
      return el(
        "p",
        { class: "desk-dayoff-note" },
        info.reason ? t("desk.cal.dayoff", { reason: reasonText(info.reason) }) : t("desk.cal.dayoff.plain"),
      );
    }
    if (weekdayOf(day) >= 5) return el("p", { class: "desk-swapped-note" }, t("desk.cal.swapped"));
    return null;
  }

  dayAttrs(day, extra = {}) {
    const info = this.days.get(day);
    const today = vnDay(now());
    return {
      dataset: { day, off: String(Boolean(info && !info.working)) },
      class: ["desk-day", info && !info.working ? "off" : "", day === today ? "today" : "", extra.class ?? ""]
        .filter(Boolean)
        .join(" "),
    };
  }

  weekView() {
    const { from } = this.range();
    const today = vnDay(now());
    return el(
      "ol",
      { class: "desk-week" },
      daysBetween(from, addDays(from, 6)).map((day) => {
        const sessions = this.sessionsOn(day);
        const head = el(
          "h3",
          { id: `desk-day-${day}` },
          el("span", { class: "desk-weekday" }, t(`desk.weekday.${weekdayOf(day)}`)),
          " ",
          el("span", { class: "desk-date" }, ddmmyyyy(day).slice(0, 5)),
          day === today ? el("span", { class: "desk-today-mark" }, t("desk.cal.today.mark")) : null,
        );
        return el(
          "li",
          { ...this.dayAttrs(day), "aria-labelledby": `desk-day-${day}` },
          head,
          this.dayNote(day),
          sessions.length
            ? el("ul", { class: "desk-sessions" }, sessions.map((s) => el("li", {}, this.card(s))))
            : el("p", { class: "desk-empty muted small" }, t("desk.cal.empty")),
        );
      }),
    );
  }

  monthView() {
    const { from, to } = this.range();
    const month = monthStart(this.anchor).slice(0, 7);
    const weeks = [];
    for (let day = from; day <= to; day = addDays(day, 7)) weeks.push(daysBetween(day, addDays(day, 6)));
    const head = el(
      "tr",
      {},
      [0, 1, 2, 3, 4, 5, 6].map((n) =>
        el("th", { scope: "col", abbr: t(`desk.weekday.${n}`) }, t(`desk.weekday.short.${n}`)),
      ),
    );
    const cell = (day) => {
      const sessions = this.sessionsOn(day);
      const info = this.days.get(day);
      const open = el(
        "button",
        {
          type: "button",
          class: "desk-daynum",
          "aria-label": t("desk.cal.open.week", { day: dayLabel(day) }),
          onclick: async () => {
            // The button goes with the month: keep the keyboard on the calendar.
            this.view = "week";
            await this.goTo(day);
            this.weekButton.focus();
          },
        },
        String(Number(day.slice(8))),
      );
      const shown = sessions.slice(0, MONTH_CELL_SESSIONS).map((s) =>
        el(
          "li",
          { class: `desk-mini state-${s.state}`, dataset: { session: s.id }, title: s.title },
          el("span", { class: "desk-time" }, localParts(s.starts_at_local).time),
          " ",
          s.title,
        ),
      );
      const more = sessions.length - shown.length;
      return el(
        "td",
        {
          ...this.dayAttrs(day, { class: day.slice(0, 7) === month ? "" : "other-month" }),
          title: info && !info.working && info.reason ? info.reason : null,
        },
        open,
        this.dayNote(day),
        shown.length ? el("ul", { class: "desk-minis" }, shown) : null,
        more > 0 ? el("p", { class: "desk-more small" }, t("desk.cal.more", { count: more })) : null,
      );
    };
    return el(
      "table",
      { class: "desk-month", "aria-labelledby": "desk-cal-period" },
      el("thead", {}, head),
      el(
        "tbody",
        {},
        weeks.map((days) => el("tr", {}, days.map(cell))),
      ),
    );
  }

  card(session) {
    const start = localParts(session.starts_at_local);
    const end = localParts(session.ends_at_local);
    const time = end.day === start.day ? `${start.time}–${end.time}` : `${start.time}–${ddmmyyyy(end.day).slice(0, 5)} ${end.time}`;
    const others = session.sites.map((s) => s.site).filter((id) => id !== session.host_site);
    const titleId = `desk-sess-${session.id}`;
    const cancellable =
      session.state === "planned" && this.tree.inScope(session.host_site) && Date.parse(session.ends_at) > now();
    return el(
      "article",
      {
        class: ["desk-sess", `state-${session.state}`, session.id === this.highlight ? "desk-new" : ""]
          .filter(Boolean)
          .join(" "),
        dataset: { session: session.id, state: session.state },
        "aria-labelledby": titleId,
      },
      el("p", { class: "desk-time" }, time),
      el("h4", { id: titleId }, session.title),
      el("p", { class: "small" }, t("desk.session.host", { site: this.tree.name(session.host_site) })),
      others.length ? el("p", { class: "small" }, t("desk.session.sites", { sites: this.tree.names(others) })) : null,
      el(
        "p",
        { class: "desk-badges" },
        el("span", { class: `badge state-${session.state}` }, t(`desk.state.${session.state}`)),
        el("span", { class: "badge" }, t(`desk.kind.${session.kind}`)),
        session.on_day_off ? el("span", { class: "badge desk-badge-off" }, t("desk.session.dayoff")) : null,
        session.id === this.highlight ? el("span", { class: "badge desk-badge-new" }, t("desk.session.new")) : null,
      ),
      cancellable
        ? el(
            "button",
            {
              type: "button",
              class: "danger small-button",
              "aria-label": t("desk.cancel.label", { title: session.title }),
              onclick: () => this.cancel(session),
            },
            t("desk.cancel"),
          )
        : null,
    );
  }

  async cancel(session) {
    const start = localParts(session.starts_at_local);
    const end = localParts(session.ends_at_local);
    const answer = await confirmDialog({
      title: t("desk.cancel.title"),
      text: t("desk.cancel.confirm", {
        title: session.title,
        time: `${dayLabel(start.day)} ${start.time}–${end.time}`,
      }),
      action: t("desk.cancel.action"),
      reasonLabel: t("desk.cancel.reason"),
    });
    if (!answer) return;
    try {
      await api(`/api/sessions/${encodeURIComponent(session.id)}/cancel`, {
        method: "POST",
        body: answer.reason ? { reason: answer.reason } : {},
      });
      this.flash(t("desk.cancelled", { title: session.title }));
      showError(this.error, null);
    } catch (error) {
      showError(this.error, error);
    }
    await this.load();
  }
}
