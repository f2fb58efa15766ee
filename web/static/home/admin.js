// An administrator's section: the accounts of the province (all of them for a central
// office), disable / enable, a new one-time password, and a form to add an account.
// A one-time password is shown once, in a box that is gone when closed, and kept nowhere.

import { t } from "/static/shared/i18n.js";
import { api, confirmDialog, el, hhmm, shortDay, showError } from "/static/home/util.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["room", "operator", "clerk", "scheduler", "administrator"];

export function startAdministrator(ctx) {
  let users = [];
  let loaded = false;
  const scope = ctx.scope(); // null: every site
  const root = ctx.scopeRoot();

  async function load() {
    try {
      users = (await api("/api/users")).users;
      loaded = true;
      showError($("admin-error"), null);
    } catch (error) {
      showError($("admin-error"), error);
    }
    renderList();
  }

  /** Show a one-time password once; the box and the password go when it is closed. */
  function showOneTime(name, password) {
    const headingId = "otp-title";
    const box = el(
      "section",
      { class: "otp-box", "aria-labelledby": headingId, dataset: { user: name } },
      el("h3", { id: headingId, tabindex: "-1" }, t("home.admin.otp.h", { name })),
      el("p", {}, t("home.admin.otp.text")),
      el(
        "div",
        { class: "otp-row" },
        el("span", { class: "visually-hidden" }, t("home.admin.otp.label")),
        el("code", { class: "otp", id: "otp-value" }, password),
        el("button", {
          type: "button",
          onclick: async (event) => {
            try {
              await navigator.clipboard.writeText(password);
              event.target.textContent = t("home.admin.otp.copied");
            } catch {
              getSelection()?.selectAllChildren($("otp-value"));
            }
          },
        }, t("home.admin.otp.copy")),
      ),
      el("button", {
        type: "button",
        class: "primary",
        onclick: () => {
          $("otp-slot").replaceChildren();
          $("new-name").focus();
        },
      }, t("home.admin.otp.done")),
    );
    $("otp-slot").replaceChildren(box);
    box.querySelector("h3").focus();
  }

  async function action(user, verb) {
    if (verb === "disable" || verb === "reset-password") {
      const reset = verb === "reset-password";
      const answer = await confirmDialog({
        title: t(reset ? "home.admin.reset.title" : "home.admin.disable.title"),
        text: t(reset ? "home.admin.reset.confirm" : "home.admin.disable.confirm", { name: user.name, display: user.display_name }),
        action: t(reset ? "home.admin.reset" : "home.admin.disable"),
      });
      if (!answer) return;
    }
    showError($("admin-error"), null);
    try {
      const result = await api(`/api/users/${encodeURIComponent(user.name)}/${verb}`, { method: "POST" });
      if (verb === "reset-password") showOneTime(user.name, result.one_time_password);
      else ctx.flash(t(verb === "disable" ? "home.admin.disabled" : "home.admin.enabled", { name: user.name }));
    } catch (error) {
      showError($("admin-error"), error);
    }
    await load();
  }

  function status(user) {
    const parts = [];
    if (user.disabled) parts.push(el("span", { class: "badge user-disabled" }, t("home.admin.status.disabled")));
    else if (user.locked_until && Date.parse(user.locked_until) > Date.now()) {
      parts.push(el("span", { class: "badge user-locked" }, t("home.admin.status.locked", { time: `${hhmm(user.locked_until)} ${shortDay(user.locked_until)}` })));
    } else parts.push(el("span", { class: "badge user-active" }, t("home.admin.status.active")));
    if (user.must_change_password && !user.disabled) parts.push(" ", el("small", { class: "muted" }, t("home.admin.status.first")));
    return parts;
  }

  function row(user) {
    const self = user.name === ctx.me.user;
    const actions = el("td", { class: "actions" });
    if (!self) {
      actions.append(
        user.disabled
          ? el("button", { type: "button", dataset: { action: "enable" }, onclick: () => action(user, "enable") }, t("home.admin.enable"))
          : el("button", { type: "button", class: "danger", dataset: { action: "disable" }, onclick: () => action(user, "disable") }, t("home.admin.disable")),
        el("button", { type: "button", dataset: { action: "reset" }, onclick: () => action(user, "reset-password") }, t("home.admin.reset")),
      );
    }
    return el(
      "tr",
      { dataset: { user: user.name } },
      el("th", { scope: "row" }, el("code", {}, user.name)),
      el("td", {}, user.display_name),
      el("td", {}, ctx.siteName(user.site)),
      el("td", {}, user.roles.map((r) => t(`home.role.${r}`)).join(", ")),
      el("td", {}, status(user)),
      actions,
    );
  }

  function renderList() {
    $("admin-intro").textContent = t("home.admin.intro", {
      scope: root === null ? t("home.admin.scope.all") : ctx.siteName(root),
    });
    const body = $("admin-table").tBodies[0];
    const focused = body.contains(document.activeElement)
      ? [document.activeElement.closest("tr")?.dataset.user, document.activeElement.dataset.action]
      : null;
    body.replaceChildren(...users.map(row));
    if (focused) body.querySelector(`tr[data-user="${CSS.escape(focused[0] ?? "")}"] [data-action]`)?.focus();
    $("admin-table").hidden = users.length === 0;
    $("admin-none").hidden = users.length > 0 || !loaded;
  }

  function renderForm() {
    const select = $("new-site");
    const chosen = select.value || ctx.me.site;
    const today = ctx.today();
    const sites = ctx.sorted([...ctx.sites.values()].filter((s) => (scope === null || scope.has(s.id)) && ctx.activeOn(s, today)));
    select.replaceChildren(...sites.map((s) => new Option(ctx.siteName(s.id), s.id, false, s.id === chosen)));
    const fieldset = $("new-roles");
    const checked = new Set([...fieldset.querySelectorAll("input:checked")].map((i) => i.value));
    fieldset.replaceChildren(
      el("legend", {}, t("home.admin.add.roles")),
      ...ROLES.map((role) =>
        el("label", {}, el("input", { type: "checkbox", name: "roles", value: role, checked: checked.has(role) }), t(`home.role.${role}`)),
      ),
    );
  }

  async function add(event) {
    event.preventDefault();
    const form = $("add-user");
    const errorBox = $("add-error");
    const name = $("new-name").value.trim().toLowerCase();
    const display = $("new-display").value.trim();
    const roles = [...form.querySelectorAll('input[name="roles"]:checked')].map((i) => i.value);
    let problem = null;
    if (!/^[a-z0-9._-]{3,64}$/.test(name)) problem = ["bad_user_name", "new-name"];
    else if (!display) problem = ["bad_display_name", "new-display"];
    else if (roles.length === 0) problem = ["no_roles", null];
    if (problem) {
      showError(errorBox, { code: problem[0] });
      (problem[1] ? $(problem[1]) : form.querySelector('input[name="roles"]')).focus();
      return;
    }
    showError(errorBox, null);
    $("add-submit").disabled = true;
    try {
      const result = await api("/api/users", {
        method: "POST",
        body: { name, display_name: display, site: $("new-site").value, roles },
      });
      form.reset();
      renderForm();
      $("new-site").value = ctx.me.site;
      ctx.flash(t("home.admin.added", { name: result.user.name }));
      showOneTime(result.user.name, result.one_time_password);
    } catch (error) {
      showError(errorBox, error);
    }
    $("add-submit").disabled = false;
    await load();
  }

  function render() {
    renderList();
    renderForm();
    const box = $("otp-slot").firstElementChild;
    if (box) {
      // The password stays on screen as it is; only its words follow the language.
      box.querySelector("h3").textContent = t("home.admin.otp.h", { name: box.dataset.user });
      box.querySelector("p").textContent = t("home.admin.otp.text");
    }
  }

  $("add-user").addEventListener("submit", add);
  renderForm();
  load();
  return { render };
}
