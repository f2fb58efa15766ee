// Reception rules and special periods: the list (GET /api/rules), a rule added
// (POST /api/rules) or deleted (DELETE /api/rules/{id}), and "Tạo lịch", the sessions the
// rules give over a range of days (POST /api/schedule/generate {from, to, site?}).

import { t } from "/static/shared/i18n.js";
import { roomOptions } from "/static/home/scheduler_picker.js";
import { addDays, api, confirmDialog, dateInput, ddmmyyyy, el, now, showError, vnDay } from "/static/home/scheduler_util.js";

const GENERATE_DAYS = 30;

function labelled(id, control) {
  const text = el("label", { for: id });
  return { text, element: el("div", { class: "field" }, text, control) };
}

export class Rules {
  /** `flash(text)`: the desk's notice line; `onGenerated()`: reload the calendar. */
  constructor(tree, me, { flash, onGenerated }) {
    this.tree = tree;
    this.me = me;
    this.flash = flash;
    this.onGenerated = onGenerated;
    this.rules = [];
    this.loaded = false;
    this.build();
    this.load();
  }

  build() {
    const c = (this.controls = {
      title: el("input", { id: "desk-rule-title", maxlength: "200", autocomplete: "off", required: true }),
      site: el("select", { id: "desk-rule-site" }),
      kind: el("select", { id: "desk-rule-kind" }),
      frequency: el("select", { id: "desk-rule-frequency" }),
      weekday: el("select", { id: "desk-rule-weekday" }),
      monthDay: el("input", { id: "desk-rule-month-day", type: "number", min: "1", max: "31", value: "15" }),
      start: el("input", { id: "desk-rule-start", type: "time", value: "08:00", required: true }),
      end: el("input", { id: "desk-rule-end", type: "time", value: "11:00", required: true }),
      from: dateInput({ id: "desk-rule-from" }),
      to: dateInput({ id: "desk-rule-to" }),
      hostKind: el("select", { id: "desk-rule-host-kind" }),
      room: el("select", { id: "desk-rule-room" }),
      slot: el("input", { id: "desk-rule-slot", type: "number", min: "5", max: "240", step: "5" }),
    });
    const f = (this.fields = {
      title: labelled("desk-rule-title", c.title),
      site: labelled("desk-rule-site", c.site),
      kind: labelled("desk-rule-kind", c.kind),
      frequency: labelled("desk-rule-frequency", c.frequency),
      weekday: labelled("desk-rule-weekday", c.weekday),
      monthDay: labelled("desk-rule-month-day", c.monthDay),
      start: labelled("desk-rule-start", c.start),
      end: labelled("desk-rule-end", c.end),
      from: labelled("desk-rule-from", c.from),
      to: labelled("desk-rule-to", c.to),
      hostKind: labelled("desk-rule-host-kind", c.hostKind),
      room: labelled("desk-rule-room", c.room),
      slot: labelled("desk-rule-slot", c.slot),
    });
    c.kind.addEventListener("change", () => this.kindChanged());
    c.frequency.addEventListener("change", () => this.showFields());
    c.site.addEventListener("change", () => roomOptions(c.room, this.tree.get(c.site.value)));

    const g = (this.gen = {
      from: dateInput({ id: "desk-gen-from", required: true }),
      to: dateInput({ id: "desk-gen-to", required: true }),
      site: el("select", { id: "desk-gen-site" }),
      skip: el("input", { id: "desk-gen-skip", type: "checkbox" }),
    });
    this.genFields = {
      from: labelled("desk-gen-from", g.from),
      to: labelled("desk-gen-to", g.to),
      site: labelled("desk-gen-site", g.site),
    };
    this.genSkipText = el("span");

    this.heading = el("h2", { id: "desk-rules-h" });
    this.intro = el("p", { class: "muted small" });
    this.error = el("p", { class: "error-box", role: "alert", hidden: true });
    this.none = el("p", { class: "muted", hidden: true });
    this.table = el("table", { id: "desk-rules-table", class: "list", hidden: true }, el("thead"), el("tbody"));
    this.addHeading = el("h3", { id: "desk-rule-add-h" });
    this.addError = el("p", { class: "error-box", role: "alert", hidden: true });
    this.addButton = el("button", { type: "submit", class: "primary" });
    this.addForm = el(
      "form",
      { id: "desk-rule-form", class: "desk-rule-form", "aria-labelledby": "desk-rule-add-h", novalidate: true },
      f.title.element,
      f.site.element,
      f.kind.element,
      f.frequency.element,
      f.weekday.element,
      f.monthDay.element,
      f.start.element,
      f.end.element,
      f.from.element,
      f.to.element,
      f.hostKind.element,
      f.room.element,
      f.slot.element,
      el("div", { class: "desk-form-end" }, this.addError, this.addButton),
    );
    this.addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add();
    });
    this.genHeading = el("h3", { id: "desk-gen-h" });
    this.genIntro = el("p", { class: "muted small" });
    this.genError = el("p", { class: "error-box", role: "alert", hidden: true });
    this.genResult = el("p", { id: "desk-gen-result", class: "notice", role: "status", hidden: true });
    this.genButton = el("button", { id: "desk-gen-submit", type: "submit", class: "primary" });
    this.genForm = el(
      "form",
      { id: "desk-gen-form", class: "desk-gen-form", "aria-labelledby": "desk-gen-h", novalidate: true },
      this.genFields.from.element,
      this.genFields.to.element,
      this.genFields.site.element,
      el("label", { class: "check", for: "desk-gen-skip" }, g.skip, this.genSkipText),
      el("div", { class: "desk-form-end" }, this.genButton),
    );
    this.genForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.generate();
    });
    this.root = el(
      "section",
      { id: "desk-rules", class: "card desk-card", "aria-labelledby": "desk-rules-h" },
      this.heading,
      this.intro,
      this.error,
      this.none,
      this.table,
      el(
        "div",
        { class: "desk-rules-forms" },
        el("div", {}, this.addHeading, this.addForm),
        el("div", {}, this.genHeading, this.genIntro, this.genForm, this.genError, this.genResult),
      ),
    );
    this.renderText();
    this.resetAdd();
    const today = vnDay(now());
    g.from.iso = today;
    g.to.iso = addDays(today, GENERATE_DAYS);
  }

  renderText() {
    const f = this.fields;
    const c = this.controls;
    this.heading.textContent = t("desk.rules.h");
    this.intro.textContent = t("desk.rules.intro");
    this.none.textContent = t("desk.rules.none");
    this.addHeading.textContent = t("desk.rule.add.h");
    this.addButton.textContent = t("desk.rule.add");
    const labels = {
      title: "desk.rule.f.title",
      site: "desk.rule.f.site",
      kind: "desk.rule.f.kind",
      frequency: "desk.rule.f.frequency",
      weekday: "desk.rule.f.weekday",
      monthDay: "desk.rule.f.month_day",
      start: "desk.rule.f.start",
      end: "desk.rule.f.end",
      from: "desk.rule.f.from",
      to: "desk.rule.f.to",
      hostKind: "desk.f.host_kind",
      room: "desk.rule.f.room",
      slot: "desk.rule.f.slot",
    };
    for (const [key, label] of Object.entries(labels)) f[key].text.textContent = t(label);
    c.title.placeholder = t("desk.rule.f.title.placeholder");
    const options = (select, pairs) => {
      const value = select.value;
      select.replaceChildren(...pairs.map(([v, key]) => el("option", { value: v }, t(key))));
      if (value) select.value = value;
    };
    options(c.kind, ["periodic", "regular", "special"].map((k) => [k, `desk.rule.kind.${k}`]));
    options(c.frequency, ["weekly", "monthly"].map((k) => [k, `desk.rule.freq.${k}`]));
    options(c.weekday, [0, 1, 2, 3, 4, 5, 6].map((n) => [String(n), `desk.weekday.${n}`]));
    options(c.hostKind, ["head", "staff"].map((k) => [k, `desk.host_kind.${k}`]));
    this.fillSites(c.site, false);
    roomOptions(c.room, this.tree.get(c.site.value), c.room.value || null);
    this.genHeading.textContent = t("desk.gen.h");
    this.genIntro.textContent = t("desk.gen.intro");
    this.genFields.from.text.textContent = t("desk.gen.from");
    this.genFields.to.text.textContent = t("desk.gen.to");
    this.genFields.site.text.textContent = t("desk.gen.site");
    this.genSkipText.textContent = t("desk.gen.skip");
    this.genButton.textContent = t("desk.gen.submit");
    this.fillSites(this.gen.site, true);
    this.showFields();
  }

  fillSites(select, withAll) {
    const value = select.value;
    const day = vnDay(now());
    const rows = this.tree.ordered(day).map(({ site, depth }) =>
      el("option", { value: site.id }, `${"\u2003".repeat(depth)}${this.tree.name(site.id)}`),
    );
    select.replaceChildren(...(withAll ? [el("option", { value: "" }, t("desk.gen.site.all"))] : []), ...rows);
    if (value || withAll) select.value = value;
  }

  render() {
    this.renderText();
    this.renderTable();
  }

  resetAdd() {
    const c = this.controls;
    c.title.value = "";
    c.kind.value = "periodic";
    c.frequency.value = "monthly";
    c.monthDay.value = "15";
    c.weekday.value = "0";
    c.start.value = "08:00";
    c.end.value = "11:00";
    c.from.iso = "";
    c.to.iso = "";
    c.slot.value = "";
    const own = [...c.site.options].some((o) => o.value === this.me.site);
    c.site.value = own ? this.me.site : (c.site.options[0]?.value ?? "");
    roomOptions(c.room, this.tree.get(c.site.value));
    this.kindChanged();
  }

  kindChanged() {
    const kind = this.controls.kind.value;
    this.controls.hostKind.value = kind === "periodic" ? "head" : "staff";
    if (kind === "regular") {
      this.controls.start.value = "07:30";
      this.controls.end.value = "11:30";
    }
    this.showFields();
  }

  /** Only the fields the chosen kind uses are shown. */
  showFields() {
    const c = this.controls;
    const f = this.fields;
    const periodic = c.kind.value === "periodic";
    const special = c.kind.value === "special";
    f.frequency.element.hidden = !periodic;
    f.weekday.element.hidden = !(periodic && c.frequency.value === "weekly");
    f.monthDay.element.hidden = !(periodic && c.frequency.value === "monthly");
    c.from.required = special;
    c.to.required = special;
  }

  async load() {
    try {
      this.rules = (await api("/api/rules")).rules;
      this.loaded = true;
      showError(this.error, null);
    } catch (error) {
      showError(this.error, error);
    }
    this.renderTable();
  }

  when(rule) {
    const times = { start: rule.start_time, end: rule.end_time };
    if (rule.frequency === "weekly") {
      return t("desk.rule.when.weekly", { ...times, weekday: t(`desk.weekday.${rule.weekday}`) });
    }
    if (rule.frequency === "monthly") return t("desk.rule.when.monthly", { ...times, day: rule.month_day });
    return t(`desk.rule.when.${rule.frequency}`, times);
  }

  valid(rule) {
    const from = rule.valid_from && ddmmyyyy(rule.valid_from);
    const to = rule.valid_to && ddmmyyyy(rule.valid_to);
    if (from && to) return t("desk.rule.valid.range", { from, to });
    if (from) return t("desk.rule.valid.from", { from });
    if (to) return t("desk.rule.valid.to", { to });
    return t("desk.rule.valid.always");
  }

  renderTable() {
    const head = el(
      "tr",
      {},
      ["title", "site", "kind", "when", "valid", "actions"].map((key) =>
        el("th", { scope: "col" }, t(`desk.rules.col.${key}`)),
      ),
    );
    this.table.tHead.replaceChildren(head);
    this.table.tBodies[0].replaceChildren(
      ...this.rules.map((rule) =>
        el(
          "tr",
          { dataset: { rule: String(rule.id), kind: rule.kind } },
          el("th", { scope: "row" }, rule.title),
          el("td", {}, this.tree.name(rule.site)),
          el("td", {}, t(`desk.kind.${rule.kind}`)),
          el("td", {}, this.when(rule)),
          el("td", {}, this.valid(rule)),
          el(
            "td",
            { class: "actions" },
            el(
              "button",
              {
                type: "button",
                class: "danger small-button",
                "aria-label": t("desk.rule.delete.label", { title: rule.title }),
                onclick: () => this.remove(rule),
              },
              t("desk.rule.delete"),
            ),
          ),
        ),
      ),
    );
    this.table.hidden = this.rules.length === 0;
    this.none.hidden = !this.loaded || this.rules.length > 0;
  }

  body() {
    const c = this.controls;
    const kind = c.kind.value;
    const body = {
      site: c.site.value,
      title: c.title.value.trim(),
      kind,
      start_time: c.start.value,
      end_time: c.end.value,
      host_kind: c.hostKind.value,
    };
    if (kind === "periodic") {
      body.frequency = c.frequency.value;
      if (c.frequency.value === "weekly") body.weekday = Number(c.weekday.value);
      else body.month_day = Number(c.monthDay.value);
    }
    if (c.from.iso) body.valid_from = c.from.iso;
    if (c.to.iso) body.valid_to = c.to.iso;
    if (c.room.value) body.room_id = Number(c.room.value);
    if (/^\d+$/.test(c.slot.value.trim())) body.slot_minutes = Number(c.slot.value.trim());
    return body;
  }

  /** The first date field with text that is no day (dd/mm/yyyy), focused; else null. */
  badDate(...inputs) {
    const bad = inputs.find((input) => input.value.trim() && !input.iso);
    bad?.focus();
    return bad ?? null;
  }

  async add() {
    showError(this.addError, null);
    if (this.badDate(this.controls.from, this.controls.to)) {
      showError(this.addError, { code: "bad_date" });
      return;
    }
    const body = this.body();
    if (!body.title) {
      showError(this.addError, { code: "missing_title" });
      this.controls.title.focus();
      return;
    }
    this.addButton.disabled = true;
    try {
      const rule = await api("/api/rules", { method: "POST", body });
      this.flash(t("desk.rule.added", { title: rule.title }));
      this.resetAdd();
      await this.load();
    } catch (error) {
      showError(this.addError, error);
    } finally {
      this.addButton.disabled = false;
    }
  }

  async remove(rule) {
    const answer = await confirmDialog({
      title: t("desk.rule.delete.title"),
      text: t("desk.rule.delete.confirm", { title: rule.title }),
      action: t("desk.rule.delete"),
    });
    if (!answer) return;
    try {
      await api(`/api/rules/${rule.id}`, { method: "DELETE" });
      this.flash(t("desk.rule.deleted", { title: rule.title }));
      showError(this.error, null);
    } catch (error) {
      showError(this.error, error);
    }
    await this.load();
    await this.onGenerated();
  }

  async generate() {
    const g = this.gen;
    showError(this.genError, null);
    this.genResult.hidden = true;
    if (this.badDate(g.from, g.to)) {
      showError(this.genError, { code: "bad_date" });
      return;
    }
    const body = { from: g.from.iso, to: g.to.iso, skip_conflicts: g.skip.checked };
    if (g.site.value) body.site = g.site.value;
    this.genButton.disabled = true;
    try {
      const report = await api("/api/schedule/generate", { method: "POST", body });
      const lines = [t("desk.gen.done", { created: report.created, existing: report.existing })];
      if (report.skipped.length) lines.push(t("desk.gen.skipped", { count: report.skipped.length }));
      this.genResult.textContent = lines.join(" ");
      this.genResult.hidden = false;
      await this.onGenerated();
    } catch (error) {
      showError(this.genError, error);
    } finally {
      this.genButton.disabled = false;
    }
  }
}
