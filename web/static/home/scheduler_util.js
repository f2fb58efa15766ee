// What the parts of the scheduler's desk share: the server's answers as words, the site
// tree as the person's scope sees it, Vietnam days, and a confirmation dialog.
// Calling the server and building elements come from the home page's util.js.

import "/static/home/scheduler_messages.js";
import { has, t } from "/static/shared/i18n.js";
import { ApiError, addDays, el } from "/static/home/util.js";

export { ApiError, SiteTree, addDays, api, dateInput, el, fold, formatVnDate, mondayOf, now, parseVnDate, setCsrfToken, vnDay } from "/static/home/util.js";

export const TIME_ZONE = "Asia/Ho_Chi_Minh";

// -- errors ----------------------------------------------------------------------------

/** A failed request in the page's language: our sentence for its code if we have one. */
export function errorText(error) {
  const code = error?.code ?? "";
  if (has(`desk.err.${code}`)) return t(`desk.err.${code}`);
  if (error?.serverMessage) return error.serverMessage;
  if (error?.status) return t("desk.err.http", { status: error.status });
  return String(error?.message ?? error);
}

/** Show `error` in `box` (null hides it), with the server's words in small print. */
export function showError(box, error) {
  box.replaceChildren();
  box.hidden = !error;
  if (!error) return;
  box.append(el("span", {}, errorText(error)));
  if (error instanceof ApiError && error.serverMessage && error.serverMessage !== errorText(error)) {
    const detail = `${error.serverMessage}${error.code ? ` (${error.code})` : ""}`;
    box.append(" ", el("small", { class: "error-detail" }, t("desk.err.detail", { detail })));
  }
}

// -- days and times in Vietnam ---------------------------------------------------------

/** 0 = Monday ... 6 = Sunday, of a YYYY-MM-DD day. */
export function weekdayOf(day) {
  const [y, m, d] = day.split("-").map(Number);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
}

/** dd/mm/yyyy. */
export function ddmmyyyy(day) {
  const [y, m, d] = day.split("-");
  return `${d}/${m}/${y}`;
}

/** "Thứ Năm, 03/12/2026". */
export function dayLabel(day) {
  return `${t(`desk.weekday.${weekdayOf(day)}`)}, ${ddmmyyyy(day)}`;
}

/** Why a day is off, in the page's language where we know the words (holiday names come
 * from the calendar in Vietnamese). */
export function reasonText(reason) {
  const key = { "cuối tuần": "desk.reason.weekend", "ngày làm bù": "desk.reason.swapped" }[reason];
  return key ? t(key) : reason;
}

/** The Vietnam day (YYYY-MM-DD) and time (HH:MM) of an instant given with its local
 * offset (the API's *_local fields). */
export function localParts(isoLocal) {
  return { day: isoLocal.slice(0, 10), time: isoLocal.slice(11, 16) };
}

/** The first day of the month of `day`, and of the month `n` months later. */
export function monthStart(day, n = 0) {
  const [y, m] = day.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1 + n, 1));
  return date.toISOString().slice(0, 10);
}

/** Every day from `from` to `to`, both included. */
export function daysBetween(from, to) {
  const out = [];
  for (let day = from; day <= to; day = addDays(day, 1)) out.push(day);
  return out;
}

// -- the site tree ---------------------------------------------------------------------

// -- a confirmation dialog -------------------------------------------------------------

/** Ask before something that cannot be undone. Resolves null on "back", else {reason}. */
export function confirmDialog({ title, text, action, reasonLabel = null }) {
  return new Promise((resolve) => {
    const reason = reasonLabel
      ? el("input", { id: "desk-dialog-reason", name: "reason", maxlength: "500", autocomplete: "off" })
      : null;
    const dialog = el(
      "dialog",
      { class: "confirm desk-dialog", "aria-labelledby": "desk-dialog-title" },
      el(
        "form",
        { method: "dialog" },
        el("h2", { id: "desk-dialog-title" }, title),
        el("p", {}, text),
        reason ? el("label", { class: "field", for: "desk-dialog-reason" }, el("span", {}, reasonLabel), reason) : null,
        el(
          "div",
          { class: "actions" },
          el("button", { type: "submit", value: "back", class: "secondary" }, t("desk.dialog.back")),
          el("button", { type: "submit", value: "ok", class: "danger" }, action),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      const value = reason ? reason.value.trim() : "";
      dialog.remove();
      resolve(ok ? { reason: value } : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (reason ?? dialog.querySelector("button.secondary")).focus();
  });
}
