// Times as the offices read them: Hanoi time (Asia/Ho_Chi_Minh), in the page's language.

import { getLanguage } from "/static/shared/i18n.js";

const TIME_ZONE = "Asia/Ho_Chi_Minh";

/** `iso` as HH:MM (with seconds and the date on request) in Hanoi time. */
export function formatTime(iso, { date = false, seconds = false } = {}) {
  if (!iso) return "";
  const options = { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", hour12: false };
  if (seconds) options.second = "2-digit";
  if (date) Object.assign(options, { day: "2-digit", month: "2-digit", year: "numeric" });
  return new Intl.DateTimeFormat(getLanguage() === "vi" ? "vi-VN" : "en-GB", options).format(
    new Date(iso),
  );
}

/** Instant `ms` in Vietnam time as dd/mm/yyyy HH:mm, whatever the language. */
export function vnDateTime(ms) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: TIME_ZONE,
      day: "2-digit",
      month: "2-digit",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.day}/${parts.month}/${parts.year} ${parts.hour}:${parts.minute}`;
}

/** `ms` as H:MM:SS, for the session clock. */
export function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
}
