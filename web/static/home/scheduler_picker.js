// The booking form's participants: a search over the site tree (accents optional), a
// checkbox per site in tree order, and for each chosen site the room it will use.

import { t } from "/static/shared/i18n.js";
import { el, fold } from "/static/home/scheduler_util.js";
import { vnDay } from "/static/home/util.js";

/** A room <select> for `site`: its rooms, the first chosen, or no room at all. */
export function roomOptions(select, site, keep = null) {
  const rooms = site?.rooms ?? [];
  const wanted = keep ?? (rooms.length ? String(rooms[0].id) : "");
  select.replaceChildren(
    el("option", { value: "" }, t("desk.f.no_room")),
    ...rooms.map((room) => el("option", { value: String(room.id) }, room.name)),
  );
  select.value = rooms.some((r) => String(r.id) === wanted) ? wanted : "";
}

export class SitePicker {
  /** `onChange()` runs after a site is added or removed or its room changes. */
  constructor(tree, onChange) {
    this.tree = tree;
    this.onChange = onChange;
    this.day = null;
    this.host = null;
    this.picked = new Map(); // site id -> {row, select, problem}
    this.build();
  }

  build() {
    this.legend = el("legend");
    this.searchLabel = el("label", { for: "desk-site-search" });
    this.searchHint = el("small", { id: "desk-site-search-hint", class: "muted" });
    this.search = el("input", {
      id: "desk-site-search",
      type: "search",
      autocomplete: "off",
      "aria-controls": "desk-site-options",
      "aria-describedby": "desk-site-search-hint",
    });
    this.search.addEventListener("input", () => this.renderOptions());
    this.options = el("div", { id: "desk-site-options", class: "desk-options", role: "group" });
    this.noMatch = el("p", { class: "muted small", hidden: true });
    this.pickedHeading = el("h3", { id: "desk-picked-h", class: "desk-picked-h" });
    this.pickedList = el("ul", { id: "desk-picked", class: "desk-picked", "aria-labelledby": "desk-picked-h" });
    this.pickedNone = el("p", { class: "muted small" });
    this.problem = el("p", { id: "desk-prob-participants", class: "desk-problem", hidden: true });
    this.element = el(
      "fieldset",
      { id: "desk-participants", class: "desk-picker", "aria-describedby": "desk-prob-participants" },
      this.legend,
      el("div", { class: "field" }, this.searchLabel, this.search, this.searchHint),
      this.options,
      this.noMatch,
      this.pickedHeading,
      this.pickedNone,
      this.pickedList,
      this.problem,
    );
    this.renderText();
  }

  renderText() {
    this.legend.textContent = t("desk.f.participants");
    this.searchLabel.textContent = t("desk.f.search");
    this.searchHint.textContent = t("desk.f.search.hint");
    this.search.placeholder = t("desk.f.search.placeholder");
    this.options.setAttribute("aria-label", t("desk.f.options"));
    this.noMatch.textContent = t("desk.f.no_match");
    this.pickedNone.textContent = t("desk.f.picked.none");
    this.pickedHeading.textContent = t("desk.f.picked", { count: this.picked.size });
    this.pickedNone.hidden = this.picked.size > 0;
  }

  /** Re-draw in the current language (the chosen rooms are kept). */
  render() {
    this.renderText();
    this.renderOptions();
    for (const [id, item] of this.picked) {
      item.name.textContent = this.tree.name(id);
      item.label.textContent = t("desk.f.room_of", { site: this.tree.name(id) });
      item.remove.textContent = t("desk.f.remove");
      item.remove.setAttribute("aria-label", t("desk.f.remove.label", { site: this.tree.name(id) }));
      roomOptions(item.select, this.tree.get(id), item.select.value);
    }
  }

  setDay(day) {
    if (day === this.day) return;
    this.day = day;
    this.renderOptions();
  }

  setHost(id) {
    this.host = id;
    if (this.picked.has(id)) this.remove(id, { quiet: true });
    this.renderOptions();
  }

  renderOptions() {
    const query = fold(this.search.value.trim());
    const rows = this.tree
      .ordered(this.day ?? vnDay())
      .filter(({ site }) => site.id !== this.host);
    const matches = rows.filter(({ site }) => {
      if (!query) return true;
      return [site.name, site.name_en, site.id].some((text) => fold(text).includes(query));
    });
    this.options.replaceChildren(
      ...matches.map(({ site, depth }) => {
        const box = el("input", {
          type: "checkbox",
          id: `desk-opt-${site.id}`,
          value: site.id,
          checked: this.picked.has(site.id),
        });
        box.addEventListener("change", () => (box.checked ? this.add(site.id) : this.remove(site.id)));
        const parent = site.parent ? this.tree.name(site.parent) : "";
        const where = depth > 0 && query ? t("desk.f.in", { site: parent }) : t(`desk.level.${site.level}`);
        return el(
          "label",
          { class: `desk-opt depth-${Math.min(depth, 2)}`, for: `desk-opt-${site.id}` },
          box,
          el("span", {}, this.tree.name(site.id), " ", el("small", { class: "muted" }, where)),
        );
      }),
    );
    this.noMatch.hidden = matches.length > 0;
  }

  add(id) {
    if (this.picked.has(id)) return;
    const site = this.tree.get(id);
    const selectId = `desk-room-${id}`;
    const problemId = `desk-prob-site-${id}`;
    const select = el("select", { id: selectId, "aria-describedby": problemId });
    roomOptions(select, site);
    select.addEventListener("change", () => this.onChange());
    const label = el("label", { for: selectId }, t("desk.f.room_of", { site: this.tree.name(id) }));
    const name = el("strong", {}, this.tree.name(id));
    const remove = el(
      "button",
      {
        type: "button",
        class: "secondary small-button",
        "aria-label": t("desk.f.remove.label", { site: this.tree.name(id) }),
        onclick: () => {
          this.remove(id);
          this.search.focus();
        },
      },
      t("desk.f.remove"),
    );
    const problem = el("p", { id: problemId, class: "desk-problem", hidden: true });
    const row = el(
      "li",
      { dataset: { site: id } },
      el("div", { class: "desk-picked-name" }, name, remove),
      el("div", { class: "field compact" }, label, select),
      problem,
    );
    this.picked.set(id, { row, select, problem, label, name, remove });
    this.pickedList.append(row);
    this.syncBox(id, true);
    this.renderText();
    this.onChange();
  }

  remove(id, { quiet = false } = {}) {
    const item = this.picked.get(id);
    if (!item) return;
    item.row.remove();
    this.picked.delete(id);
    this.syncBox(id, false);
    this.renderText();
    if (!quiet) this.onChange();
  }

  syncBox(id, checked) {
    const box = this.options.querySelector(`#desk-opt-${CSS.escape(id)}`);
    if (box) box.checked = checked;
  }

  clear() {
    for (const id of [...this.picked.keys()]) this.remove(id, { quiet: true });
    this.search.value = "";
    this.renderOptions();
  }

  /** The body's participants: a site id, or {site, room_id} with a room. */
  participants() {
    return [...this.picked].map(([site, { select }]) =>
      select.value ? { site, room_id: Number(select.value) } : site,
    );
  }

  /** Where a problem about `siteId` is shown: its row, or the fieldset's own line. */
  slotFor(siteId) {
    const item = siteId ? this.picked.get(siteId) : null;
    return item ? { slot: item.problem, input: item.select } : { slot: this.problem, input: this.search };
  }

  slots() {
    return [this.problem, ...[...this.picked.values()].map((item) => item.problem)];
  }

  inputs() {
    return [this.search, ...[...this.picked.values()].map((item) => item.select)];
  }
}
