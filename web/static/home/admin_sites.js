// The administrator's site tree: every site (GET /api/sites) as a collapsible tree with
// its level, rooms, validity and what it was merged into, searchable by name or id; and
// a form that loads a TOML site tree (the format of config/sites.toml) from a file, read
// with FileReader and sent as it is to POST /api/sites/tree (all or nothing).

import { applyI18n, getLanguage, t } from "/static/shared/i18n.js";
import { LEVEL_ORDER, api, el, fold, shortDay, showError } from "/static/home/util.js";

const $ = (id) => document.getElementById(id);

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsArrayBuffer(file); // the bytes as they are: the server checks UTF-8
  });
}

export function startAdminSites(ctx) {
  let sites = [...ctx.sites.values()];
  let byId = new Map();
  let children = new Map();
  const open = new Set();
  let lastLoaded = new Set();

  const root = $("admin-sites");
  root.replaceChildren(
    el("h3", { id: "tree-h", "data-i18n": "home.tree.h" }, t("home.tree.h")),
    el("p", { class: "muted small", "data-i18n": "home.tree.intro" }, t("home.tree.intro")),
    el("p", { id: "tree-error", class: "error-box", role: "alert", hidden: true }),
    el("div", { class: "tree-layout" },
      el("div", { class: "tree-left" },
        el("div", { class: "tree-tools", role: "search" },
          el("label", { class: "field", for: "tree-search" },
            el("span", { "data-i18n": "home.tree.search" }, t("home.tree.search")),
            el("input", { id: "tree-search", type: "search", autocomplete: "off", "aria-controls": "tree-root", "aria-describedby": "tree-count", "data-i18n-attr": "placeholder:home.tree.search.placeholder" }),
          ),
          el("div", { class: "tree-buttons" },
            el("button", { id: "tree-expand", type: "button", class: "secondary", "data-i18n": "home.tree.expand" }, t("home.tree.expand")),
            el("button", { id: "tree-collapse", type: "button", class: "secondary", "data-i18n": "home.tree.collapse" }, t("home.tree.collapse")),
          ),
        ),
        el("p", { id: "tree-count", class: "muted small", "aria-live": "polite" }),
        el("ul", { id: "tree-root", class: "site-tree" }),
      ),
      el("div", { class: "tree-right" },
        el("h4", { id: "tree-load-h", "data-i18n": "home.tree.load.h" }, t("home.tree.load.h")),
        el("form", { id: "tree-form", class: "tree-form", novalidate: true },
          el("label", { class: "field", for: "tree-file" },
            el("span", { "data-i18n": "home.tree.load.file" }, t("home.tree.load.file")),
            el("input", { id: "tree-file", name: "file", type: "file", accept: ".toml,text/plain,application/toml", required: true, "aria-describedby": "tree-file-hint" }),
          ),
          // Outside the label: the hint describes the field, it is not its name.
          el("p", { id: "tree-file-hint", class: "muted small", "data-i18n": "home.tree.load.hint" }, t("home.tree.load.hint")),
          el("p", { id: "tree-load-error", class: "error-box", role: "alert", hidden: true }),
          el("div", { id: "tree-load-result", role: "status", "aria-live": "polite" }),
          el("div", { class: "submit-row" },
            el("button", { id: "tree-submit", type: "submit", class: "primary", "data-i18n": "home.tree.load.submit" }, t("home.tree.load.submit")),
          ),
        ),
      ),
    ),
  );
  applyI18n(root);

  function index() {
    byId = new Map(sites.map((s) => [s.id, s]));
    children = new Map();
    for (const site of sites) {
      const parent = site.parent && byId.has(site.parent) ? site.parent : "";
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(site);
    }
    const collator = new Intl.Collator(getLanguage() === "vi" ? "vi" : "en");
    for (const list of children.values()) {
      list.sort((a, b) => (LEVEL_ORDER[a.level] ?? 9) - (LEVEL_ORDER[b.level] ?? 9) || collator.compare(name(a), name(b)));
    }
  }

  function name(site) {
    return getLanguage() === "en" && site.name_en ? site.name_en : site.name;
  }

  /** Open the way down to `id` (its parents). */
  function reveal(id) {
    let site = byId.get(id);
    const seen = new Set();
    while (site?.parent && !seen.has(site.parent)) {
      seen.add(site.parent);
      open.add(site.parent);
      site = byId.get(site.parent);
    }
  }

  async function load() {
    try {
      sites = (await api("/api/sites")).sites;
      // New sites below the scope are in it: the server says which (GET /api/me).
      ctx.me.scope = (await api("/api/me")).scope;
      showError($("tree-error"), null);
    } catch (error) {
      showError($("tree-error"), error);
    }
    // The other sections (the account form's offices) see the new tree too.
    ctx.setSites(sites);
    index();
    renderTree();
  }

  function matches(site, query) {
    return [site.name, site.name_en, site.id].some((text) => fold(text).includes(query));
  }

  function details(site) {
    const today = ctx.today();
    const parts = [el("span", { class: `badge level level-${site.level}` }, t(`home.tree.level.${site.level}`))];
    parts.push(el("code", { class: "site-id" }, site.id));
    const rooms = site.rooms ?? [];
    parts.push(
      el("span", { class: "rooms", title: rooms.map((r) => r.name).join("; ") || null },
        rooms.length ? t("home.tree.rooms", { count: rooms.length }) : t("home.tree.rooms.none")),
    );
    if (site.valid_from || site.valid_to) {
      const key = site.valid_from && site.valid_to ? "home.tree.valid.both" : site.valid_from ? "home.tree.valid.from" : "home.tree.valid.to";
      parts.push(el("span", { class: "validity" }, t(key, {
        from: site.valid_from ? shortDay(site.valid_from) : "",
        to: site.valid_to ? shortDay(site.valid_to) : "",
      })));
    }
    if (site.merged_into) {
      const target = byId.get(site.merged_into);
      parts.push(el("span", { class: "merged" }, t("home.tree.merged", { site: target ? name(target) : site.merged_into })));
    }
    if (!ctx.activeOn(site, today)) {
      parts.push(el("span", { class: "badge inactive" }, t(site.valid_from && site.valid_from > today ? "home.tree.future" : "home.tree.ended")));
    }
    return parts;
  }

  /** The node of `site` and, when open (or searching), its children. */
  function node(site, shown, searching, query) {
    const kids = (children.get(site.id) ?? []).filter((k) => shown === null || shown.has(k.id));
    const expanded = kids.length > 0 && (searching || open.has(site.id));
    const label = `tree-label-${site.id}`;
    const hit = searching && matches(site, query);
    return el(
      "li",
      { dataset: { site: site.id }, class: `${hit ? "hit" : ""}${lastLoaded.has(site.id) ? " loaded" : ""}`.trim() || null },
      el("div", { class: "tree-row" },
        kids.length
          ? el("button", {
              type: "button",
              class: "toggle",
              "aria-expanded": String(expanded),
              "aria-controls": `tree-kids-${site.id}`,
              "aria-label": t(expanded ? "home.tree.close" : "home.tree.open", { site: name(site), count: kids.length }),
              disabled: searching,
              onclick: () => {
                if (open.has(site.id)) open.delete(site.id);
                else open.add(site.id);
                renderTree();
                root.querySelector(`li[data-site="${CSS.escape(site.id)}"] > .tree-row > .toggle`)?.focus();
              },
            }, expanded ? "▾" : "▸")
          : el("span", { class: "toggle-space", "aria-hidden": "true" }),
        el("span", { id: label, class: "site-name" }, name(site)),
        el("span", { class: "site-details" }, details(site)),
      ),
      expanded
        ? el("ul", { id: `tree-kids-${site.id}`, "aria-labelledby": label }, kids.map((k) => node(k, shown, searching, query)))
        : null,
    );
  }

  function renderTree() {
    const query = fold($("tree-search").value.trim());
    const searching = query.length > 0;
    let shown = null;
    let hits = 0;
    if (searching) {
      shown = new Set();
      for (const site of sites) {
        if (!matches(site, query)) continue;
        hits += 1;
        shown.add(site.id);
        let up = site;
        const seen = new Set();
        while (up?.parent && byId.has(up.parent) && !seen.has(up.parent)) {
          seen.add(up.parent);
          shown.add(up.parent);
          up = byId.get(up.parent);
        }
      }
    }
    const tops = (children.get("") ?? []).filter((s) => shown === null || shown.has(s.id));
    $("tree-root").replaceChildren(...tops.map((s) => node(s, shown, searching, query)));
    $("tree-count").textContent = searching
      ? t(hits ? "home.tree.hits" : "home.tree.no_hits", { count: hits })
      : t("home.tree.count", { count: sites.length });
  }

  function showResult(answer) {
    const box = $("tree-load-result");
    const list = answer.sites.map((id) => {
      const site = byId.get(id);
      return el("li", {}, site ? `${name(site)} (${id})` : id);
    });
    box.replaceChildren(
      el("div", { class: "notice" },
        el("p", {}, t("home.tree.loaded", { count: answer.loaded })),
        el("ul", { class: "loaded-sites small" }, list),
      ),
    );
  }

  function showLoadError(error) {
    const box = $("tree-load-error");
    showError(box, error);
    const line = error?.details?.line;
    if (error?.code === "bad_toml" && line) {
      box.querySelector(".error-text").textContent = t("home.tree.bad_toml.at", { line, column: error.details.column ?? "?" });
    }
  }

  async function submit(event) {
    event.preventDefault();
    const input = $("tree-file");
    const file = input.files?.[0];
    $("tree-load-result").replaceChildren();
    if (!file) {
      showError($("tree-load-error"), { code: "tree_no_file" });
      input.focus();
      return;
    }
    showError($("tree-load-error"), null);
    $("tree-submit").disabled = true;
    try {
      const bytes = await readFile(file);
      const answer = await api("/api/sites/tree", {
        method: "POST",
        body: bytes,
        contentType: "application/toml; charset=utf-8",
      });
      lastLoaded = new Set(answer.sites);
      await load();
      for (const id of answer.sites) reveal(id);
      renderTree();
      showResult(answer);
      ctx.flash(t("home.tree.loaded", { count: answer.loaded }));
    } catch (error) {
      showLoadError(error);
      input.focus();
    }
    $("tree-submit").disabled = false;
  }

  $("tree-search").addEventListener("input", renderTree);
  $("tree-expand").addEventListener("click", () => {
    for (const site of sites) if (children.has(site.id)) open.add(site.id);
    renderTree();
  });
  $("tree-collapse").addEventListener("click", () => {
    open.clear();
    renderTree();
  });
  $("tree-form").addEventListener("submit", submit);

  // Open at first: the top of the tree, and the way to the administrator's own office.
  index();
  for (const site of children.get("") ?? []) if (site.level === "central") open.add(site.id);
  open.add(ctx.me.site);
  reveal(ctx.me.site);
  renderTree();

  function render() {
    index();
    renderTree();
    const box = $("tree-load-result").firstElementChild;
    if (box) box.remove(); // its words were in the other language; the tree shows the sites
  }

  return { render };
}
