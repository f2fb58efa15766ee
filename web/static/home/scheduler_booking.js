// The booking form: title, kind, host and its room, start and end (Vietnam time),
// participants with their rooms, officials, agenda, slot length, recording.
//
// As fields change, a dry run (POST /api/sessions/check, debounced) lists every reason
// the booking would be refused; each problem is shown next to its field and in a summary
// above the Save button. Save checks once more, then posts POST /api/sessions.

import { t } from "/static/shared/i18n.js";
import { SitePicker, roomOptions } from "/static/home/scheduler_picker.js";
import {
  TIME_ZONE,
  addDays,
  api,
  dateInput,
  dayLabel,
  ddmmyyyy,
  el,
  errorText,
  localParts,
  now,
  reasonText,
  showError,
  vnDay,
  weekdayOf,
} from "/static/home/scheduler_util.js";

const CHECK_DELAY_MS = 350;
const KINDS = ["ad_hoc", "periodic", "regular", "special"];
const HOST_KINDS = ["head", "staff"];

/** A labelled field: <div class="field"><label for=id>text</label>control hint problem</div>
 * (the label holds the text alone, so the control's name is the label's words). */
function field(id, control, { hint = false, problem = null } = {}) {
  const label = el("label", { for: id });
  const hintEl = hint ? el("small", { id: `${id}-hint`, class: "muted" }) : null;
  const described = [hintEl ? `${id}-hint` : null, problem ? problem.id : null].filter(Boolean).join(" ");
  if (described) control.setAttribute("aria-describedby", described);
  return { label, hint: hintEl, element: el("div", { class: "field" }, label, control, hintEl, problem) };
}

function problemSlot(id) {
  return el("p", { id, class: "desk-problem", hidden: true });
}

export class BookingForm {
  /** `onBooked(session)` runs after a save; `flash(text)` is the desk's notice line. */
  constructor(tree, me, { flash, onBooked }) {
    this.tree = tree;
    this.me = me;
    this.flash = flash;
    this.onBooked = onBooked;
    this.timer = null;
    this.ticket = 0;
    this.touched = new Set();
    this.submitted = false;
    this.lastCheck = null;
    this.picker = new SitePicker(tree, () => this.changed());
    this.build();
    this.reset();
  }

  build() {
    const c = (this.controls = {
      title: el("input", { id: "desk-title", name: "title", maxlength: "200", autocomplete: "off", required: true }),
      kind: el("select", { id: "desk-kind", name: "kind" }),
      hostKind: el("select", { id: "desk-host-kind", name: "host_kind" }),
      host: el("select", { id: "desk-host", name: "host_site" }),
      hostRoom: el("select", { id: "desk-host-room", name: "host_room_id" }),
      startDate: dateInput({ id: "desk-start-date", required: true }),
      startTime: el("input", { id: "desk-start-time", type: "time", required: true, step: "300" }),
      endDate: dateInput({ id: "desk-end-date", required: true }),
      endTime: el("input", { id: "desk-end-time", type: "time", required: true, step: "300" }),
      allowDayOff: el("input", { id: "desk-allow-day-off", type: "checkbox" }),
      officials: el("textarea", { id: "desk-officials", rows: "3", maxlength: "2000" }),
      agenda: el("textarea", { id: "desk-agenda", rows: "3", maxlength: "4000" }),
      slot: el("input", { id: "desk-slot", type: "number", min: "5", max: "240", step: "5", inputmode: "numeric" }),
      record: el("input", { id: "desk-record", type: "checkbox", checked: true }),
    });
    const p = (this.problems = {
      title: problemSlot("desk-prob-title"),
      host: problemSlot("desk-prob-host"),
      start: problemSlot("desk-prob-start"),
      end: problemSlot("desk-prob-end"),
      slot: problemSlot("desk-prob-slot"),
    });
    const f = (this.fields = {
      title: field("desk-title", c.title, { problem: p.title }),
      kind: field("desk-kind", c.kind),
      hostKind: field("desk-host-kind", c.hostKind),
      host: field("desk-host", c.host),
      hostRoom: field("desk-host-room", c.hostRoom, { problem: p.host }),
      startDate: field("desk-start-date", c.startDate),
      startTime: field("desk-start-time", c.startTime),
      endDate: field("desk-end-date", c.endDate),
      endTime: field("desk-end-time", c.endTime),
      officials: field("desk-officials", c.officials, { hint: true }),
      agenda: field("desk-agenda", c.agenda),
      slot: field("desk-slot", c.slot, { hint: true, problem: p.slot }),
    });
    for (const id of ["startDate", "startTime"]) c[id].setAttribute("aria-describedby", "desk-prob-start desk-day-info");
    for (const id of ["endDate", "endTime"]) c[id].setAttribute("aria-describedby", "desk-prob-end");
    this.dayInfo = el("p", { id: "desk-day-info", class: "desk-day-info small", "aria-live": "polite" });
    this.allowText = el("span");
    this.allowHint = el("small", { id: "desk-allow-hint", class: "muted" });
    c.allowDayOff.setAttribute("aria-describedby", "desk-allow-hint");
    this.allowRow = el(
      "div",
      { class: "desk-allow", hidden: true },
      el("label", { class: "check", for: "desk-allow-day-off" }, c.allowDayOff, this.allowText),
      this.allowHint,
    );
    this.recordText = el("span");
    this.whenLegend = el("legend");
    this.heading = el("h2", { id: "desk-book-h" });
    this.intro = el("p", { class: "muted small" });
    this.status = el("p", { id: "desk-check-status", class: "desk-check-status" });
    this.summaryList = el("ul", { id: "desk-check-list", class: "desk-check-list" });
    this.saveError = el("p", { class: "error-box", role: "alert", hidden: true });
    this.saveButton = el("button", { id: "desk-save", type: "submit", class: "primary" });
    this.clearButton = el("button", { id: "desk-clear", type: "button", class: "secondary", onclick: () => this.clear() });
    this.checkBox = el(
      "div",
      { id: "desk-check", class: "desk-check", role: "status", "aria-live": "polite", dataset: { state: "idle" } },
      this.status,
      this.summaryList,
    );
    this.form = el(
      "form",
      { id: "desk-book", class: "card desk-card desk-book", "aria-labelledby": "desk-book-h", novalidate: true },
      this.heading,
      this.intro,
      el(
        "div",
        { class: "desk-book-grid" },
        el(
          "div",
          { class: "desk-book-main" },
          f.title.element,
          el("div", { class: "desk-row" }, f.kind.element, f.hostKind.element),
          el("div", { class: "desk-row" }, f.host.element, f.hostRoom.element),
          el(
            "fieldset",
            { class: "desk-when" },
            this.whenLegend,
            el("div", { class: "desk-row four" }, f.startDate.element, f.startTime.element, f.endDate.element, f.endTime.element),
            this.dayInfo,
            p.start,
            p.end,
            this.allowRow,
          ),
          el("div", { class: "desk-row" }, f.officials.element, f.agenda.element),
          el(
            "div",
            { class: "desk-row" },
            f.slot.element,
            el("label", { class: "check desk-record", for: "desk-record" }, c.record, this.recordText),
          ),
        ),
        this.picker.element,
      ),
      el(
        "div",
        { class: "desk-book-foot" },
        this.checkBox,
        this.saveError,
        el("div", { class: "desk-buttons" }, this.saveButton, this.clearButton),
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.form.addEventListener("input", (event) => this.fieldChanged(event.target));
    this.form.addEventListener("change", (event) => this.fieldChanged(event.target));
    c.title.addEventListener("blur", () => {
      this.touched.add("title");
      this.showLast();
    });
    c.host.addEventListener("change", () => this.hostChanged());
    this.renderText();
  }

  renderText() {
    const f = this.fields;
    const c = this.controls;
    this.heading.textContent = t("desk.book.h");
    this.intro.textContent = t("desk.book.intro");
    f.title.label.textContent = t("desk.f.title");
    c.title.placeholder = t("desk.f.title.placeholder");
    f.kind.label.textContent = t("desk.f.kind");
    f.hostKind.label.textContent = t("desk.f.host_kind");
    f.host.label.textContent = t("desk.f.host");
    f.hostRoom.label.textContent = t("desk.f.host_room");
    this.whenLegend.textContent = t("desk.f.when");
    f.startDate.label.textContent = t("desk.f.start_date");
    f.startTime.label.textContent = t("desk.f.start_time");
    f.endDate.label.textContent = t("desk.f.end_date");
    f.endTime.label.textContent = t("desk.f.end_time");
    this.allowText.textContent = t("desk.f.allow_day_off");
    this.allowHint.textContent = t("desk.f.allow_day_off.hint");
    f.officials.label.textContent = t("desk.f.officials");
    f.officials.hint.textContent = t("desk.f.officials.hint");
    f.agenda.label.textContent = t("desk.f.agenda");
    f.slot.label.textContent = t("desk.f.slot");
    f.slot.hint.textContent = t("desk.f.slot.hint");
    this.recordText.textContent = t("desk.f.record");
    this.saveButton.textContent = t("desk.save");
    this.clearButton.textContent = t("desk.clear");
    const pick = (select, values, key) => {
      const value = select.value;
      select.replaceChildren(...values.map((v) => el("option", { value: v }, t(`${key}.${v}`))));
      if (value) select.value = value;
    };
    pick(c.kind, KINDS, "desk.kind");
    pick(c.hostKind, HOST_KINDS, "desk.host_kind");
    this.fillHosts();
  }

  /** Re-draw in the current language. */
  render() {
    this.renderText();
    this.picker.render();
    this.showLast();
  }

  fillHosts() {
    const c = this.controls;
    const value = c.host.value;
    const day = c.startDate.iso || vnDay(now());
    c.host.replaceChildren(
      ...this.tree.ordered(day).map(({ site, depth }) =>
        el("option", { value: site.id }, `${"\u2003".repeat(depth)}${this.tree.name(site.id)}`),
      ),
    );
    if (value) c.host.value = value;
    const room = c.hostRoom.value;
    roomOptions(c.hostRoom, this.tree.get(c.host.value), room || null);
  }

  hostChanged() {
    const c = this.controls;
    roomOptions(c.hostRoom, this.tree.get(c.host.value));
    this.picker.setHost(c.host.value);
    this.changed();
  }

  reset() {
    const c = this.controls;
    const start = addDays(vnDay(now()), 1);
    for (const key of ["title", "officials", "agenda", "slot"]) c[key].value = "";
    c.kind.value = "ad_hoc";
    c.hostKind.value = "head";
    c.startDate.iso = start;
    c.endDate.iso = start;
    c.startTime.value = "08:00";
    c.endTime.value = "11:00";
    c.allowDayOff.checked = false;
    c.record.checked = true;
    this.previousStart = start;
    this.fillHosts();
    const own = [...c.host.options].some((o) => o.value === this.me.site);
    c.host.value = own ? this.me.site : (this.tree.root ?? c.host.options[0]?.value ?? "");
    roomOptions(c.hostRoom, this.tree.get(c.host.value));
    this.picker.clear();
    this.picker.setDay(start);
    this.picker.setHost(c.host.value);
    this.touched.clear();
    this.submitted = false;
    showError(this.saveError, null);
    this.changed();
  }

  clear() {
    this.reset();
    this.controls.title.focus();
  }

  fieldChanged(target) {
    const c = this.controls;
    if (target === this.picker.search) return;
    if (target === c.title) this.touched.add("title");
    if (target === c.startDate && c.startDate.iso) {
      // The end follows the start's day unless it was set to another day.
      if (!c.endDate.iso || c.endDate.iso === this.previousStart) c.endDate.iso = c.startDate.iso;
      this.previousStart = c.startDate.iso;
      this.picker.setDay(c.startDate.iso);
    }
    this.changed();
  }

  /** A field changed: the last answer no longer holds (a dry run still under way is
   * dropped, and the box stops saying "valid" for what is no longer on the form); check
   * again shortly. */
  changed() {
    clearTimeout(this.timer);
    ++this.ticket;
    this.setState("running");
    this.timer = setTimeout(() => this.check(), CHECK_DELAY_MS);
  }

  /** The request body, or null while a date or time is missing. */
  body() {
    const c = this.controls;
    if (!c.startDate.iso || !c.startTime.value || !c.endDate.iso || !c.endTime.value) return null;
    const body = {
      title: c.title.value.trim(),
      host_site: c.host.value,
      starts_at: `${c.startDate.iso}T${c.startTime.value}`,
      ends_at: `${c.endDate.iso}T${c.endTime.value}`,
      time_zone: TIME_ZONE,
      participants: this.picker.participants(),
      kind: c.kind.value,
      host_kind: c.hostKind.value,
      officials: c.officials.value
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean),
      agenda: c.agenda.value.trim(),
      allow_day_off: c.allowDayOff.checked,
      record: c.record.checked,
    };
    if (c.hostRoom.value) body.host_room_id = Number(c.hostRoom.value);
    const slot = c.slot.value.trim();
    // A slot length that is not a whole number is the form's own problem (the server
    // would refuse the body as malformed).
    if (slot) body.slot_minutes = /^\d+$/.test(slot) ? Number(slot) : -1;
    return body;
  }

  /** Run the dry run now; resolves with its answer (null if none could be had). */
  async check() {
    clearTimeout(this.timer);
    const ticket = ++this.ticket;
    const body = this.body();
    if (body === null) {
      // A day typed that is no day (dd/mm/yyyy) says so at its field; else something is missing.
      const c = this.controls;
      const problems = [];
      if (c.startDate.value.trim() && !c.startDate.iso) problems.push({ code: "bad_date", field: "starts_at" });
      if (c.endDate.value.trim() && !c.endDate.iso) problems.push({ code: "bad_date", field: "ends_at" });
      if (!problems.length) problems.push({ code: "missing_time", field: "starts_at" });
      this.lastCheck = { ok: false, problems, days: [] };
      this.showLast("waiting");
      return this.lastCheck;
    }
    this.setState("running");
    let answer;
    try {
      answer = await api("/api/sessions/check", { method: "POST", body });
    } catch (error) {
      if (ticket !== this.ticket) return null;
      this.lastCheck = null;
      this.setState("error");
      this.status.textContent = `${t("desk.check.failed")} ${errorText(error)}`;
      this.summaryList.replaceChildren();
      return null;
    }
    if (ticket !== this.ticket) return null;
    this.lastCheck = answer;
    this.showLast();
    return answer;
  }

  setState(state) {
    this.checkBox.dataset.state = state;
    if (state === "running") this.status.textContent = t("desk.check.running");
  }

  /** Problems the person should see now: a blank title only once they have typed in it
   * or tried to save. */
  visible(problems) {
    return problems.filter(
      (p) => p.code !== "missing_title" || this.touched.has("title") || this.submitted,
    );
  }

  showLast(waiting = null) {
    const check = this.lastCheck;
    for (const slot of [...Object.values(this.problems), ...this.picker.slots()]) {
      slot.replaceChildren();
      slot.hidden = true;
    }
    for (const input of [...Object.values(this.controls), ...this.picker.inputs()]) input.removeAttribute("aria-invalid");
    if (!check) return;
    this.showDay(check);
    const problems = this.visible(check.problems);
    for (const problem of problems) {
      const { slot, inputs } = this.placeOf(problem);
      slot.hidden = false;
      slot.append(el("span", { dataset: { code: problem.code } }, this.problemText(problem)));
      for (const input of inputs) input.setAttribute("aria-invalid", "true");
    }
    if (waiting) {
      this.setState("waiting");
      this.status.textContent = t("desk.check.waiting");
      this.summaryList.replaceChildren();
      return;
    }
    if (problems.length === 0 && check.problems.length === 0) {
      this.setState("ok");
      this.status.textContent = t(check.on_day_off ? "desk.check.ok.dayoff" : "desk.check.ok");
      this.summaryList.replaceChildren();
      return;
    }
    // Only a blank title nobody has typed in yet: say what is left, without alarm.
    this.setState(problems.length ? "problems" : "incomplete");
    this.status.textContent = problems.length
      ? t("desk.check.problems", { count: problems.length })
      : t("desk.check.incomplete");
    this.summaryList.replaceChildren(
      ...problems.map((problem) => {
        const { inputs } = this.placeOf(problem);
        return el(
          "li",
          { dataset: { code: problem.code } },
          el(
            "button",
            { type: "button", class: "linklike", onclick: () => inputs[0]?.focus() },
            this.problemText(problem),
          ),
        );
      }),
    );
  }

  /** The day line under the dates, and the day-off box when a day off is involved. */
  showDay(check) {
    const c = this.controls;
    const day = check.day;
    if (!day) {
      this.dayInfo.textContent = "";
    } else if (day.working) {
      const swapped = weekdayOf(day.date) >= 5;
      this.dayInfo.textContent = t(swapped ? "desk.f.day.swapped" : "desk.f.day.working", {
        day: dayLabel(day.date),
        reason: reasonText(day.reason),
      });
    } else if (check.special_period) {
      this.dayInfo.textContent = t("desk.f.day.special", {
        day: dayLabel(day.date),
        reason: reasonText(day.reason),
        period: check.special_period,
      });
    } else {
      this.dayInfo.textContent = t("desk.f.day.off", { day: dayLabel(day.date), reason: reasonText(day.reason) });
    }
    const offDays = (check.days ?? []).some((d) => !d.working) && !check.special_period;
    const asked = check.problems.some((p) => p.code === "day_off");
    if (offDays || asked || c.allowDayOff.checked) this.allowRow.hidden = false;
    else if (check.days?.length) this.allowRow.hidden = true;
  }

  /** Where a problem shows, and which inputs it marks invalid. */
  placeOf(problem) {
    const c = this.controls;
    switch (problem.field) {
      case "title":
        return { slot: this.problems.title, inputs: [c.title] };
      case "starts_at":
        if (problem.code === "day_off") return { slot: this.problems.start, inputs: [c.startDate, c.allowDayOff] };
        return { slot: this.problems.start, inputs: [c.startDate, c.startTime] };
      case "ends_at":
        return { slot: this.problems.end, inputs: [c.endDate, c.endTime] };
      case "slot_minutes":
        return { slot: this.problems.slot, inputs: [c.slot] };
      case "host_site":
        return { slot: this.problems.host, inputs: problem.room ? [c.hostRoom] : [c.host] };
      default: {
        const sites = problem.sites ?? [];
        const { slot, input } = this.picker.slotFor(sites.length === 1 ? sites[0] : null);
        return { slot, inputs: [input] };
      }
    }
  }

  problemText(problem) {
    const sites = this.tree.names(problem.sites ?? []);
    switch (problem.code) {
      case "room_taken": {
        const start = localParts(problem.session.starts_at_local);
        const end = localParts(problem.session.ends_at_local);
        return t("desk.p.room_taken", {
          room: problem.room.name,
          site: this.tree.name(problem.room.site),
          title: problem.session.title,
          start: start.time,
          end: end.day === start.day ? end.time : `${end.time} ${ddmmyyyy(end.day)}`,
          day: ddmmyyyy(start.day),
        });
      }
      case "day_off":
        return t("desk.p.day_off", { day: dayLabel(problem.day.date), reason: reasonText(problem.day.reason) || "—" });
      case "site_inactive":
        return t("desk.p.site_inactive", { sites, day: ddmmyyyy(problem.day?.date ?? "") });
      case "unknown_site":
      case "outside_scope":
      case "unknown_room":
        return t(`desk.p.${problem.code}`, { sites });
      default: {
        const key = `desk.p.${problem.code}`;
        const text = t(key);
        return text === key ? t("desk.p.other", { message: problem.message }) : text;
      }
    }
  }

  async save() {
    this.submitted = true;
    showError(this.saveError, null);
    const check = await this.check();
    if (!check || !check.ok) {
      const first = check ? this.visible(check.problems)[0] : null;
      if (first) this.placeOf(first).inputs[0]?.focus();
      return;
    }
    const body = this.body();
    this.saveButton.disabled = true;
    this.status.textContent = t("desk.saving");
    try {
      const session = await api("/api/sessions", { method: "POST", body });
      const start = localParts(session.starts_at_local);
      const end = localParts(session.ends_at_local);
      this.flash(
        t("desk.saved", { title: session.title, day: dayLabel(start.day), start: start.time, end: end.time }),
      );
      this.reset();
      await this.onBooked(session);
    } catch (error) {
      showError(this.saveError, error);
      this.check();
    } finally {
      this.saveButton.disabled = false;
    }
  }
}
