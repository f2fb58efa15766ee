// The operator console: the central office's director's board for one reception session.
// Protocol: signaling/PROTOCOL.md (namespace /bridge, "Operator commands").
//
// The console only watches (one subscribe connection: operators receive every point,
// standby ones included, as previews) and commands. Its picture of the session is the
// server's `bridge_state`: every command is answered with it, and every change is
// broadcast, so two consoles, or one that reloads, show the same state.
// "Kết thúc phiên" ends the session for every site (`close_session`, after a confirm()).
// The socket, phases, errors, the subscribe leg and the session's end are BridgePage's
// (shared/bridge_client.js). Tests read window.rbc.state (`closed`: the session_closed
// payload once the session is over) and call window.rbc.command / window.rbc.stats.

import {
  addressToken,
  BridgePage,
  bridgeState,
  createMediaView,
  peerConnectionStates,
  showTrack,
  stateLabel,
} from "/static/shared/bridge_client.js";
import { addMessages, setLanguage, t } from "/static/shared/i18n.js";
import { AudioMeter } from "/static/shared/audio_meter.js";
import { consoleMessages } from "/static/console/console_messages.js";
import { duration, formatTime } from "/static/shared/time_format.js";

const ACK_TIMEOUT_MS = 30000;
const METER_INTERVAL_MS = 100;

addMessages(consoleMessages);

const $ = (id) => document.getElementById(id);

/** What the console knows; plain data only, so tests can read it as JSON. */
const state = {
  ...bridgeState(),
  board: null,
  previews: {},
  bookEntry: null,
};

let clockOffsetMs = 0;
/** site -> {el, video, audio, tracks: {video, audio}, meter, level} */
const cards = new Map();

const client = new BridgePage(state, {
  tag: "rbc",
  texts: "console",
  ackTimeoutMs: ACK_TIMEOUT_MS,
  render,
  accept: (welcome) => {
    if (welcome.role === "operator") return true;
    client.fail({ code: "not_operator", message: `role ${welcome.role}` });
    return false;
  },
  joined,
  release: reconcileCards,
  end: (phase) => {
    // A session that is over has no board left to direct (nor a session clock running).
    if (phase === "closed") state.board = null;
    client.teardown();
    client.setPhase(phase);
  },
  tracksChanged: reconcileCards,
  events: { bridge_state: applyState },
});
const { request, warn, reportFailure } = client;

// ---------------------------------------------------------------- start and join

function start() {
  for (const button of document.querySelectorAll(".board-bar button[data-op]")) {
    button.addEventListener("click", () => runCommand(button.dataset.op));
  }
  $("mark-form").addEventListener("submit", onMark);
  $("close-session").addEventListener("click", onCloseSession);
  setInterval(tickClocks, 1000);
  setInterval(updateMeters, METER_INTERVAL_MS);
  tickClocks();
  client.start();
}

/** Admitted (again): the board as it stands (the subscribe leg is open). */
async function joined() {
  const reply = await request("state", {});
  applyState(reply.state);
}

// ---------------------------------------------------------------- state and commands

/** Take a `bridge_state` (event or ack) unless a newer one is already shown. */
function applyState(board) {
  if (!board) return;
  if (state.board && board.revision < state.board.revision) return;
  state.board = board;
  clockOffsetMs = Date.parse(board.now) - Date.now();
  reconcileCards();
}

/** Run `op` (with `fields`); resolves to {reply, sentAt, ackAt} (epoch ms), or throws. */
async function command(op, fields = {}) {
  const sentAt = Date.now();
  const reply = await request("command", { op, ...fields });
  const ackAt = Date.now();
  applyState(reply.state);
  // A command that went through clears an earlier refusal; it may bring its own warning.
  warn(reply.warning ?? null);
  return { reply, sentAt, ackAt };
}

async function runCommand(op, fields = {}) {
  try {
    await command(op, fields);
  } catch (err) {
    reportFailure(err);
  }
}

async function onMark(event) {
  event.preventDefault();
  const number = $("mark-number").value.trim();
  if (!number) return;
  const text = $("mark-text").value.trim();
  try {
    await command("mark_case", { case_number: number, text });
  } catch (err) {
    reportFailure(err);
    return;
  }
  $("mark-number").value = "";
  $("mark-text").value = "";
  if ($("book-name").value.trim()) await writeBook(number, text);
}

/** The marker's reception written into the book: an online entry of this session, its
 * outcome left for a clerk to complete (POST /api/book/entries with the page's token). */
async function writeBook(number, text) {
  const body = {
    received_on: new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Ho_Chi_Minh" }),
    kind: $("book-kind").value,
    channel: "online",
    session_id: state.session?.id ?? "",
    recording_marker: number,
    persons: [{
      name: $("book-name").value.trim(),
      address: $("book-address").value.trim(),
      id_number: $("book-id").value.trim(),
    }],
    people_count: Number($("book-people").value || 1),
    summary: text,
  };
  try {
    const response = await fetch("/api/book/entries", {
      method: "POST",
      headers: { Authorization: `Bearer ${addressToken()}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer?.error?.message ?? `HTTP ${response.status}`);
    state.bookEntry = answer;
    $("book-status").textContent = t("console.book.saved", { number: answer.reference });
    for (const id of ["book-name", "book-address", "book-id"]) $(id).value = "";
    $("book-people").value = "1";
  } catch (err) {
    $("book-status").textContent = t("console.book.failed", { message: err.message });
  }
}

/** End the session for every site, once the operator confirms; every page hears
 * `session_closed` (this one too). A refusal shows in the error box. */
async function onCloseSession() {
  if (!window.confirm(t("console.close.confirm"))) return;
  await runCommand("close_session");
}

// ---------------------------------------------------------------- previews (WebRTC)

/** endpoint_id -> {video, audio}: the preview tracks the subscribe connection carries. */
function previewTracks() {
  const out = new Map();
  for (const { info, track } of client.receivedTracks()) {
    const entry = out.get(info.endpoint_id) ?? {};
    entry[info.kind] = track;
    out.set(info.endpoint_id, entry);
  }
  return out;
}

function reconcileCards() {
  const points = state.board?.points ?? [];
  const tracks = previewTracks();
  const sites = new Set(points.map((p) => p.site));
  for (const [site, card] of cards) {
    if (!sites.has(site)) {
      card.el.remove();
      cards.delete(site);
    }
  }
  for (const point of points) {
    const card = cards.get(point.site) ?? createCard(point.site);
    const media = point.endpoint_id ? (tracks.get(point.endpoint_id) ?? {}) : {};
    attach(card, "video", media.video);
    attach(card, "audio", media.audio);
  }
  render();
}

function createCard(site) {
  const card = { ...createMediaView("point-template", "points"), meter: null, level: 0 };
  const el = card.el;
  el.dataset.site = site;
  for (const button of el.querySelectorAll("button[data-op]")) {
    button.addEventListener("click", () => runCommand(button.dataset.op, { site }));
  }
  el.querySelector(".listen-box").addEventListener("change", (ev) => {
    card.audio.muted = !ev.target.checked;
  });
  cards.set(site, card);
  return card;
}

function attach(card, kind, track) {
  const refused = (err) => console.warn(`rbc: ${kind} autoplay refused`, err);
  if (!showTrack(card, kind, track, { render, refused }) || kind !== "audio") return;
  card.meter?.close();
  card.meter = track ? new AudioMeter(track) : null;
}

/** Level (0-100) of each point's preview audio, several times a second. */
function updateMeters() {
  for (const [site, card] of cards) {
    const level = card.meter?.level() ?? 0;
    card.level = level;
    state.previews[site] = { ...(state.previews[site] ?? {}), level };
    card.el.querySelector(".meter").setAttribute("aria-valuenow", String(level));
    card.el.querySelector(".meter-fill").style.width = `${level}%`;
  }
}

// ---------------------------------------------------------------- rendering

function tickClocks() {
  $("clock").textContent = formatTime(new Date().toISOString(), { seconds: true });
  const opened = state.board?.opened_at;
  $("session-clock").textContent = opened
    ? duration(Date.now() + clockOffsetMs - Date.parse(opened))
    : "--:--:--";
}

function render() {
  client.renderStatus();
  const session = state.session;
  $("session-title").textContent = session?.title || t("console.title");
  document.title = `${t("console.title")} — ${session?.title ?? ""}`;
  $("site-name").textContent = state.site?.name ?? "";
  $("schedule").textContent = session
    ? `${formatTime(session.starts_at, { date: true })} – ${formatTime(session.ends_at)}`
    : "";
  const board = state.board;
  $("operators").textContent = board
    ? t("console.operators", { count: board.operators?.length ?? 0 })
    : "";
  renderRecording(board);
  renderCase(board);
  renderPoints(board);
  tickClocks();
}

function renderRecording(board) {
  const recording = board?.recording ?? { active: false, since: null };
  const box = $("recording");
  box.dataset.active = String(recording.active);
  $("recording-text").textContent = recording.active
    ? recording.since
      ? t("console.record.on", { since: formatTime(recording.since, { seconds: true }) })
      : t("console.record.on.unknown")
    : t("console.record.off");
  const usable = state.phase === "joined" && Boolean(board);
  $("record-start").disabled = !usable || recording.active;
  $("record-stop").disabled = !usable || !recording.active;
  $("mark-submit").disabled = !usable;
  $("close-session").disabled = !usable;
}

function renderCase(board) {
  const current = board?.current_case;
  $("case-number").textContent = current?.case_number ?? t("console.case.none");
  $("case-text").textContent = current?.text ?? "";
  $("case-at").textContent = current ? formatTime(current.at, { seconds: true }) : "";
  $("markers").replaceChildren(
    ...[...(board?.markers ?? [])].reverse().map((marker) => {
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.textContent = formatTime(marker.at, { seconds: true });
      const number = document.createElement("strong");
      number.textContent = marker.case_number;
      item.append(time, " ", number, marker.text ? ` — ${marker.text}` : "");
      if (!marker.archived) {
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = ` (${t("console.marker.not.archived", { note: marker.archive_note })})`;
        item.append(note);
      }
      return item;
    }),
  );
}

function renderPoints(board) {
  const usable = state.phase === "joined" && Boolean(board);
  for (const point of board?.points ?? []) {
    const card = cards.get(point.site);
    if (!card) continue;
    const el = card.el;
    el.dataset.connection = point.connection;
    el.dataset.patch = point.patch;
    el.dataset.muted = String(point.muted);
    el.dataset.host = String(point.host);
    el.querySelector(".site-name").textContent =
      (point.site_name || point.site) + (point.host ? ` · ${t("console.host")}` : "");
    const badge = el.querySelector(".state-badge");
    badge.className = `state-badge state-${point.connection}`;
    badge.textContent = stateLabel(point.connection);
    const patch = el.querySelector(".patch-badge");
    patch.className = `patch-badge patch-${point.patch}`;
    patch.textContent = t(`console.patch.${point.patch}`);
    el.querySelector(".meter").classList.toggle("muted", point.muted);
    el.querySelector(".meter-text").textContent = point.muted ? t("console.muted") : "";
    const video = card.tracks.video;
    const showing = point.connection === "connected" && video && video.readyState !== "ended";
    el.classList.toggle("no-video", !showing);
    el.querySelector(".overlay").textContent =
      point.connection === "connected" ? t("room.waiting.media") : stateLabel(point.connection);
    const seen = point.connection !== "absent";
    const connected = point.connection === "connected" || point.connection === "connecting";
    const enable = {
      patch_in: seen && !point.host && !point.live,
      patch_out: seen && !point.host && point.live,
      mute: seen && !point.muted,
      unmute: seen && point.muted,
      drop: connected,
    };
    for (const button of el.querySelectorAll("button[data-op]")) {
      button.disabled = !usable || !enable[button.dataset.op];
    }
    state.previews[point.site] = {
      ...(state.previews[point.site] ?? {}),
      video: video ? { id: video.id, readyState: video.readyState, muted: video.muted } : null,
      audio: card.tracks.audio ? { id: card.tracks.audio.id } : null,
    };
  }
}

// ---------------------------------------------------------------- debug hook for tests

/** Per site: what the preview connection decodes (video) and receives (audio). */
async function stats() {
  const out = {};
  const pc = client.subscribePc;
  if (!pc) return out;
  const owners = new Map();
  for (const [site, card] of cards) {
    for (const kind of ["audio", "video"]) {
      if (card.tracks[kind]) owners.set(card.tracks[kind].id, site);
    }
  }
  const report = await pc.getStats();
  for (const s of report.values()) {
    if (s.type !== "inbound-rtp") continue;
    const site = owners.get(s.trackIdentifier);
    if (!site) continue;
    const entry = (out[site] ??= { framesDecoded: 0, audioPacketsReceived: 0, level: 0 });
    if (s.kind === "video") entry.framesDecoded = s.framesDecoded ?? 0;
    else entry.audioPacketsReceived = s.packetsReceived ?? 0;
    entry.level = cards.get(site)?.level ?? 0;
  }
  return out;
}

window.rbc = { state, command, stats, peerConnections: peerConnectionStates, setLanguage };

start();
