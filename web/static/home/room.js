// A reception room's section: today's sessions its site takes part in, each with a large
// "Vào phiên" button. The button is a link to /room?session=<id> (the server mints the
// media token and sends the page on) from 15 minutes before the start until the end, while
// the session is planned or open; before that it counts down. In kiosk mode (remembered
// in localStorage) the page joins the current session by itself; the room page comes
// back here when a session ends (room/room.js), and this page asks for the day's
// sessions again, sooner while it waits (5 s, doubling up to a minute), so the next
// session of the day is joined without anyone touching the PC.

import { t } from "/static/shared/i18n.js";
import { api, el, hhmm, longDay, now, showError, waitText } from "/static/home/util.js";

const LEAD_MS = 15 * 60 * 1000; // a room's token is valid this long before the start
const REFRESH_MS = 60 * 1000;
const KIOSK_POLL_MS = [5000, 10000, 20000, 40000, REFRESH_MS];
const AUTO_JOIN_S = 5;
const KIOSK_KEY = "rb.home.kiosk";
const LIVE_STATES = new Set(["planned", "open"]);

const $ = (id) => document.getElementById(id);

function readKiosk() {
  try {
    return globalThis.localStorage?.getItem(KIOSK_KEY) === "1";
  } catch {
    return false;
  }
}

function writeKiosk(on) {
  try {
    if (on) globalThis.localStorage?.setItem(KIOSK_KEY, "1");
    else globalThis.localStorage?.removeItem(KIOSK_KEY);
  } catch {
    // Not remembered; it still applies to this page.
  }
}

/** Where a session stands for a room at instant `at`. */
export function roomStatus(session, at) {
  const start = Date.parse(session.starts_at);
  const end = Date.parse(session.ends_at);
  if (!LIVE_STATES.has(session.state)) return { joinable: false, kind: session.state };
  if (at >= end) return { joinable: false, kind: "over" };
  if (at < start - LEAD_MS) return { joinable: false, kind: "waiting", opensAt: start - LEAD_MS };
  return { joinable: true, kind: "joinable" };
}

export function startRoom(ctx) {
  let sessions = [];
  let loadedAt = null;
  const items = new Map(); // session id -> {li, joinable, kind}
  let auto = null; // {session, deadline, timer}
  let stopped = false; // "Không vào lúc này": no auto-join until the box is ticked again

  const kiosk = $("kiosk");
  kiosk.checked = readKiosk();
  kiosk.addEventListener("change", () => {
    writeKiosk(kiosk.checked);
    stopped = false;
    if (!kiosk.checked) cancelAuto(false);
    tick();
    pollStep = 0;
    scheduleLoad();
  });

  let pollTimer = null;
  let pollStep = 0; // index in KIOSK_POLL_MS: backs off while nothing changes
  let lastSeen = "";

  /** The next load: every minute, or in kiosk mode with nothing to join yet, sooner,
   * backing off (5 s, 10 s, ... 1 min) while the list stays the same or fails. */
  function scheduleLoad() {
    clearTimeout(pollTimer);
    const waiting = kiosk.checked && !stopped && !auto && !current(now());
    const delay = waiting ? KIOSK_POLL_MS[Math.min(pollStep, KIOSK_POLL_MS.length - 1)] : REFRESH_MS;
    pollStep = waiting ? pollStep + 1 : 0;
    pollTimer = setTimeout(load, delay);
  }

  async function load() {
    const day = ctx.today();
    try {
      const query = new URLSearchParams({ from: day, to: day, site: ctx.me.site });
      const all = (await api(`/api/sessions?${query}`)).sessions;
      // ?site= takes the site's whole subtree: keep the sessions this site itself is in.
      sessions = all
        .filter((s) => s.sites.some((x) => x.site === ctx.me.site))
        .sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
      loadedAt = now();
      showError($("room-error"), null);
      const seen = JSON.stringify(sessions.map((x) => [x.id, x.state, x.starts_at, x.ends_at]));
      if (seen !== lastSeen) pollStep = 0; // something changed: look again soon
      lastSeen = seen;
    } catch (error) {
      showError($("room-error"), error);
    }
    render();
    scheduleLoad();
  }

  function joinHref(session) {
    return `/room?session=${encodeURIComponent(session.id)}`;
  }

  function statusLine(session, status) {
    if (status.kind === "joinable") return t("home.room.open_now");
    if (status.kind === "waiting") {
      return t("home.room.opens_in", { wait: waitText(status.opensAt - now()), time: hhmm(new Date(status.opensAt).toISOString()) });
    }
    if (status.kind === "over") return t("home.room.over");
    return t(`home.state.${session.state}`);
  }

  function item(session) {
    const status = roomStatus(session, now());
    const titleId = `room-title-${session.id}`;
    const lineId = `room-line-${session.id}`;
    const button = status.joinable
      ? el("a", { class: "button join", href: joinHref(session), "aria-describedby": titleId }, t("home.room.join"))
      : el("button", { type: "button", class: "join", disabled: true, "aria-describedby": `${titleId} ${lineId}` }, t("home.room.join"));
    const li = el(
      "li",
      { class: "room-session", dataset: { session: session.id, joinable: String(status.joinable), kind: status.kind } },
      el(
        "div",
        {},
        el("p", { class: "when" }, `${hhmm(session.starts_at)} – ${hhmm(session.ends_at)}`, " ",
          el("span", { class: `badge state-${session.state}` }, t(`home.state.${session.state}`))),
        el("h3", { id: titleId }, session.title),
        el("p", { class: "muted" }, t("home.room.host", { site: ctx.siteName(session.host_site) })),
        el("p", { id: lineId, class: "status-line", "aria-live": "polite" }, statusLine(session, status)),
      ),
      button,
    );
    items.set(session.id, { li, joinable: status.joinable, kind: status.kind, session });
    return li;
  }

  function render() {
    $("room-day").textContent = longDay(ctx.today());
    items.clear();
    $("room-list").replaceChildren(...sessions.map(item));
    $("room-none").hidden = sessions.length > 0 || loadedAt === null;
    $("room-updated").textContent = loadedAt ? t("home.updated", { time: hhmm(new Date(loadedAt).toISOString()) }) : "";
    if (auto) $("room-auto").replaceChildren(); // rebuilt in the page's language
    renderAuto();
    tick();
  }

  /** Every second: countdowns, and a button that turns into a link (or back). */
  function tick() {
    const at = now();
    for (const entry of items.values()) {
      const status = roomStatus(entry.session, at);
      if (status.joinable !== entry.joinable || status.kind !== entry.kind) {
        const focused = entry.li.contains(document.activeElement);
        const fresh = item(entry.session);
        entry.li.replaceWith(fresh);
        if (focused) fresh.querySelector(".join:not(:disabled)")?.focus();
      } else if (status.kind === "waiting") {
        entry.li.querySelector(".status-line").textContent = statusLine(entry.session, status);
      }
    }
    if (kiosk.checked && !auto && !stopped) {
      const target = current(at);
      if (target) beginAuto(target);
    }
  }

  /** The session to join now: an open one first, else the earliest joinable. */
  function current(at) {
    const joinable = sessions.filter((s) => roomStatus(s, at).joinable);
    return joinable.find((s) => s.state === "open") ?? joinable[0] ?? null;
  }

  function beginAuto(session) {
    auto = { session, deadline: now() + AUTO_JOIN_S * 1000, timer: setInterval(stepAuto, 250) };
    renderAuto();
  }

  function stepAuto() {
    if (!auto) return;
    if (!roomStatus(auto.session, now()).joinable) {
      cancelAuto(false);
      return;
    }
    if (now() >= auto.deadline) {
      clearInterval(auto.timer);
      location.assign(joinHref(auto.session));
      return;
    }
    renderAuto();
  }

  function cancelAuto(decline) {
    if (!auto) return;
    clearInterval(auto.timer);
    if (decline) stopped = true;
    auto = null;
    renderAuto();
  }

  function renderAuto() {
    const box = $("room-auto");
    if (!auto) {
      box.hidden = !kiosk.checked || sessions.some((s) => roomStatus(s, now()).joinable);
      box.replaceChildren(kiosk.checked ? t("home.room.auto.waiting") : "");
      box.className = "muted small";
      return;
    }
    const seconds = Math.max(0, Math.ceil((auto.deadline - now()) / 1000));
    const text = t("home.room.auto", { title: auto.session.title, seconds });
    let span = box.querySelector(".auto-text");
    if (!span || box.hidden) {
      span = el("span", { class: "auto-text" });
      box.replaceChildren(
        span,
        el("button", { type: "button", onclick: () => cancelAuto(true) }, t("home.room.auto.cancel")),
      );
    }
    if (span.textContent !== text) span.textContent = text;
    box.className = "warning auto-join";
    box.hidden = false;
  }

  setInterval(tick, 1000);
  load();
  return { render };
}
