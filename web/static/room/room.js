// The reception room page: publish the room's camera and microphone, show every other
// site of the session. Protocol: signaling/PROTOCOL.md (namespace /bridge).
//
// Two peer connections, as the protocol asks: `publish` (send-only, this page offers) and
// `subscribe` (the server offers whenever the set of tracks changes, this page answers).
// Tiles follow the subscribe connection's tracks; `tracks` in each offer maps mid -> site.
// The on-air banner follows `bridge_state`: whether the operator has this point live or on
// standby, whether it muted it, which case is discussed (rooms get no case text).
// The socket, phases, errors, the subscribe leg and the session's end are BridgePage's
// (shared/bridge_client.js). A publish leg that fails (its own state, or `leg_failed`
// from the server) is replaced after a backoff: a new connection, `publish` with
// `restart`; the others keep receiving this room on the same m-lines. Tests read window.rb.state (`closed`: the session_closed
// payload once the session is over) and await window.rb.stats().

import {
  BridgePage,
  LegRecovery,
  bridgeState,
  createMediaView,
  iceGatheringComplete,
  newPeerConnection,
  peerConnectionStates,
  showTrack,
  stateLabel,
} from "/static/shared/bridge_client.js";
import { setLanguage, t } from "/static/shared/i18n.js";
import { duration, formatTime, vnDateTime } from "/static/shared/time_format.js";

const TIME_ZONE = "Asia/Ho_Chi_Minh";
const ACK_TIMEOUT_MS = 20000;
const LIVE_STATES = new Set(["connecting", "connected", "media_lost", "disconnected"]);
const IN_SESSION = new Set(["joined", "reconnecting"]);
/** The home page's kiosk mode (home/room.js): the wall screen goes back to the home,
 * which waits for the next session of the day and joins it by itself. */
const KIOSK_KEY = "rb.home.kiosk";
const KIOSK_RETURN_S = 10;

const $ = (id) => document.getElementById(id);

/** What the page knows; plain data only, so tests can read it as JSON. */
const state = {
  ...bridgeState(),
  audioBlocked: false,
  peers: [],
  publishState: "new",
  remotes: [],
  /** The last `bridge_state` (rooms get it without case text and markers). */
  board: null,
  /** This point as the banner shows it: {patch, live, muted, host, case_number} or null. */
  onAir: null,
};

let publishPc = null;
let iceServers = [];
let mediaPromise = null;
let localStream = null;
/** Every local stream opened, so tests can see its tracks stopped. */
const localStreams = [];
const knownPeers = new Set();
/** endpoint_id -> {el, video, audio, info, trackIds} */
const tiles = new Map();
/** track id -> every remote MediaStreamTrack ever shown, so tests can see it end. */
const seenTracks = new Map();

const client = new BridgePage(state, {
  tag: "rb",
  texts: "room",
  ackTimeoutMs: ACK_TIMEOUT_MS,
  render,
  accept: adoptPeers,
  joined,
  release: releasePeerConnections,
  end,
  tracksChanged: reconcileTiles,
  publishFailed: () => publishRecovery.trigger(),
  events: { presence: onPresence, bridge_state: onBridgeState },
});
const { request, warn, reportFailure } = client;
const publishRecovery = new LegRecovery(republish, reportFailure);

// ---------------------------------------------------------------- start and join

function start() {
  $("leave").addEventListener("click", leave);
  $("rejoin").addEventListener("click", () => location.reload());
  $("sound").addEventListener("click", startSound);
  startClock();
  client.start();
}

async function openMedia() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    });
    if (!IN_SESSION.has(state.phase)) {
      // Left or refused while the camera was opening: give it back at once.
      for (const track of stream.getTracks()) track.stop();
      return null;
    }
    localStream = stream;
    localStreams.push(stream);
    $("local-video").srcObject = stream;
    return stream;
  } catch (err) {
    console.warn("rb: camera/microphone unavailable", err);
    warn({ code: "media_unavailable", message: String(err?.message ?? err) });
    return null;
  }
}

/** A welcome's peers (BridgePage took the endpoint, role, site and session). */
function adoptPeers(welcome) {
  state.peers = welcome.peers ?? [];
  rememberPeers();
}

/** Admitted (again): the state, the camera, and the publish leg. */
async function joined(welcome) {
  $("leave").disabled = false;
  // bridge_state follows the join; asking as well shows the patch state without waiting.
  request("state", {})
    .then((reply) => onBridgeState(reply?.state))
    .catch((err) => console.warn("rb: state not received", err));
  // The camera opens only once the server has admitted this page (not for a bad token).
  mediaPromise ??= openMedia();
  iceServers = welcome.ice_servers ?? [];
  await publish(false);
}

function onPresence(message) {
  state.peers = message?.peers ?? [];
  rememberPeers();
  reconcileTiles();
}

function onBridgeState(board) {
  if (!board || typeof board !== "object") return;
  // An ack and a broadcast may cross: never go back to an older state.
  const known = state.board?.session_id === board.session_id ? state.board.revision : null;
  if (known !== null && typeof board.revision === "number" && board.revision < known) return;
  state.board = board;
  render();
}

/** Out of the session for good (left, dropped, closed, refused): release everything. */
function end(phase) {
  client.teardown();
  stopLocalMedia();
  state.peers = [];
  state.board = null;
  $("leave").hidden = true;
  // Joining again is refused once the session is over, as it was for a refused token.
  $("rejoin").hidden = phase === "error" || phase === "closed";
  client.setPhase(phase);
  if (phase === "closed" && kioskMode()) kioskReturn();
}

function kioskMode() {
  try {
    return globalThis.localStorage?.getItem(KIOSK_KEY) === "1";
  } catch {
    return false;
  }
}

/** Kiosk: the ended notice for a few seconds, then back to the home page's waiting
 * screen (a button keeps this page instead). */
function kioskReturn() {
  const box = document.getElementById("session-ended");
  if (!box || document.getElementById("kiosk-return")) return;
  const deadline = Date.now() + KIOSK_RETURN_S * 1000;
  const line = document.createElement("p");
  line.id = "kiosk-return";
  line.setAttribute("aria-live", "polite");
  const text = document.createElement("span");
  const stay = document.createElement("button");
  stay.type = "button";
  stay.id = "kiosk-stay";
  line.append(text, " ", stay);
  box.append(line);
  const draw = () => {
    const seconds = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    text.textContent = t("room.kiosk.return", { seconds });
    stay.textContent = t("room.kiosk.stay");
  };
  const timer = setInterval(() => {
    if (Date.now() >= deadline) {
      clearInterval(timer);
      location.assign("/");
      return;
    }
    draw();
  }, 250);
  stay.addEventListener("click", () => {
    clearInterval(timer);
    line.remove();
  });
  draw();
}

function leave() {
  $("leave").disabled = true;
  return client.leave();
}

// ---------------------------------------------------------------- WebRTC

/** Open a publish leg; `restart` replaces one that failed (the server keeps the tracks). */
async function publish(restart) {
  const pc = newPeerConnection(iceServers);
  publishPc = pc;
  state.publishState = "new";
  pc.addEventListener("connectionstatechange", () => {
    if (publishPc !== pc) return;
    state.publishState = pc.connectionState;
    if (pc.connectionState === "connected") {
      publishRecovery.connected();
      client.mediaBack();
    }
    if (pc.connectionState === "failed") {
      warn({ code: "media_reconnecting", message: "publish" });
      publishRecovery.trigger();
    }
    render();
  });
  const stream = await mediaPromise;
  if (!stream || publishPc !== pc) return;
  for (const kind of ["audio", "video"]) {
    const track = stream.getTracks().find((tr) => tr.kind === kind);
    if (!track) continue;
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    if (kind === "video") preferVideoCodecs(transceiver);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  const answer = await request("publish", { type: "offer", sdp: pc.localDescription.sdp, restart });
  if (publishPc !== pc) return;
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
}

/** VP8 first (the relay forwards it without transcoding), H264 second, nothing else. */
function preferVideoCodecs(transceiver) {
  const capabilities = globalThis.RTCRtpReceiver?.getCapabilities?.("video");
  if (!capabilities || !transceiver.setCodecPreferences) return;
  const rank = (codec) =>
    ({ "video/vp8": 0, "video/h264": 1, "video/rtx": 2 })[codec.mimeType.toLowerCase()] ?? 9;
  const codecs = capabilities.codecs.filter((c) => rank(c) < 9).sort((a, b) => rank(a) - rank(b));
  try {
    transceiver.setCodecPreferences(codecs);
  } catch (err) {
    console.warn("rb: codec preferences refused", err);
  }
}

/** A new publish leg in place of the failed one. */
async function republish() {
  if (state.phase !== "joined") return;
  publishPc?.close();
  publishPc = null;
  await publish(true);
  state.recoveries.push({ leg: "publish", at: Date.now() });
}

/** The publish leg (BridgePage closed the subscribe leg). */
function releasePeerConnections() {
  publishRecovery.cancel();
  publishPc?.close();
  publishPc = null;
  state.publishState = "closed";
  reconcileTiles();
}

function stopLocalMedia() {
  for (const track of localStream?.getTracks() ?? []) track.stop();
  localStream = null;
  $("local-video").srcObject = null;
}

// ---------------------------------------------------------------- tiles

function peerOf(endpointId) {
  return state.peers.find((p) => p.endpoint_id === endpointId);
}

function rememberPeers() {
  for (const peer of state.peers) knownPeers.add(peer.endpoint_id);
}

/** A site is gone when presence says it left, or it was present and no longer is. */
function isGone(endpointId) {
  const peer = peerOf(endpointId);
  if (peer) return !LIVE_STATES.has(peer.state);
  return knownPeers.has(endpointId);
}

/** Bring the tiles in line with the subscribe connection's current tracks and presence. */
function reconcileTiles() {
  const wanted = new Map();
  for (const { info, track } of client.receivedTracks()) {
    if (isGone(info.endpoint_id)) continue;
    const entry = wanted.get(info.endpoint_id) ?? { info, tracks: {} };
    entry.tracks[info.kind] = track;
    wanted.set(info.endpoint_id, entry);
  }
  for (const [endpointId, tile] of tiles) {
    if (!wanted.has(endpointId)) {
      tile.el.remove();
      tiles.delete(endpointId);
    }
  }
  for (const [endpointId, entry] of wanted) {
    const tile = tiles.get(endpointId) ?? createTile(endpointId);
    tile.info = entry.info;
    attach(tile, "video", entry.tracks.video);
    attach(tile, "audio", entry.tracks.audio);
  }
  render();
}

function createTile(endpointId) {
  const tile = createMediaView("tile-template", "tiles");
  tile.el.dataset.endpoint = endpointId;
  tiles.set(endpointId, tile);
  return tile;
}

function attach(tile, kind, track) {
  if (track) seenTracks.set(track.id, track);
  showTrack(tile, kind, track, {
    render,
    refused: (err) => {
      console.warn(`rb: ${kind} autoplay refused`, err);
      // Browsers may refuse sound until the user acts: offer a button that starts it.
      if (kind === "audio" && err?.name === "NotAllowedError") {
        state.audioBlocked = true;
        render();
      }
    },
  });
}

function startSound() {
  state.audioBlocked = false;
  for (const tile of tiles.values()) {
    tile.audio.play().catch((err) => console.warn("rb: sound still refused", err));
  }
  render();
}

function siteKey(info) {
  // One room per site is the rule; other roles of the same site get their own key.
  return !info.role || info.role === "room" ? info.site : `${info.site}:${info.role}`;
}

// ---------------------------------------------------------------- rendering

function startClock() {
  const tick = () => {
    $("clock").textContent = new Intl.DateTimeFormat("en-GB", {
      timeZone: TIME_ZONE,
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hour12: false,
    }).format(new Date());
    renderWaiting();
  };
  tick();
  setInterval(tick, 1000);
}

/** Too early: when the room may join (Vietnam time) and a countdown, ticking with the clock. */
function renderWaiting() {
  const box = $("waiting");
  const waiting = state.phase === "waiting" && state.opensAt !== null;
  box.hidden = !waiting;
  if (!waiting) return;
  box.dataset.opensAt = String(state.opensAt);
  box.textContent = t("room.waiting.open", {
    at: vnDateTime(state.opensAt),
    left: duration(state.opensAt - Date.now()),
  });
}

function render() {
  client.renderStatus();
  const session = state.session;
  $("session-title").textContent = session?.title || t("room.title");
  document.title = `${session?.title || t("room.title")} — ${t("app.name")}`;
  $("site-name").textContent = state.site ? `${state.site.name}` : "";
  $("local-site").textContent = state.site?.name ?? "";
  $("schedule").textContent = session
    ? t("room.schedule", {
        start: formatTime(session.starts_at, { date: true }),
        end: formatTime(session.ends_at),
      })
    : "";
  $("recorded").hidden = !(session?.recorded && IN_SESSION.has(state.phase));
  $("sound").hidden = !(state.audioBlocked && IN_SESSION.has(state.phase));
  renderWaiting();
  renderOnAir();
  renderPresence();
  renderTiles();
  state.remotes = [...tiles.entries()].map(([endpointId, tile]) => ({
    endpoint_id: endpointId,
    key: siteKey(tile.info),
    site: tile.info.site,
    site_name: tile.info.site_name,
    role: peerOf(endpointId)?.role ?? tile.info.role ?? "room",
    state: peerOf(endpointId)?.state ?? null,
    video: trackState(tile.tracks.video),
    audio: trackState(tile.tracks.audio),
  }));
}

function trackState(track) {
  return track ? { id: track.id, readyState: track.readyState, muted: track.muted } : null;
}

/** This room's own point on the operator's board (rooms only; operators direct). */
function ownPoint() {
  if (!state.board || !state.site || state.role !== "room") return null;
  return state.board.points?.find((p) => p.site === state.site.id) ?? null;
}

function renderOnAir() {
  const point = IN_SESSION.has(state.phase) ? ownPoint() : null;
  const box = $("on-air");
  const current = state.board?.current_case ?? null;
  state.onAir = point
    ? {
        patch: point.patch,
        live: Boolean(point.live),
        muted: Boolean(point.muted),
        host: Boolean(point.host),
        case_number: current?.case_number ?? null,
      }
    : null;
  box.hidden = !point;
  if (!point) return;
  const onAir = state.onAir;
  box.dataset.patch = onAir.live ? "live" : "standby";
  box.dataset.muted = String(onAir.muted);
  $("on-air-state").textContent = t(onAir.live ? "room.onair.live" : "room.onair.standby");
  let detail = "room.onair.standby.detail";
  if (onAir.host) detail = "room.onair.live.host";
  else if (onAir.live) detail = "room.onair.live.detail";
  $("on-air-detail").textContent = t(detail);
  const muted = $("on-air-muted");
  muted.hidden = !onAir.muted;
  muted.textContent = onAir.muted ? t("room.onair.muted") : "";
  const caseBox = $("on-air-case");
  caseBox.hidden = !current;
  caseBox.textContent = current
    ? t("room.onair.case", { case: current.case_number, since: formatTime(current.at) })
    : "";
}

function renderPresence() {
  const list = $("presence");
  list.replaceChildren(
    ...state.peers.map((peer) => {
      const item = document.createElement("li");
      item.dataset.endpoint = peer.endpoint_id;
      item.dataset.site = peer.site;
      item.dataset.state = peer.state;
      const name = document.createElement("span");
      name.className = "site-name";
      const mine = peer.endpoint_id === state.endpointId;
      const label = peer.site_name || peer.site;
      name.textContent = mine ? t("room.you.site", { site: label }) : label;
      if (peer.role && peer.role !== "room") name.textContent += ` · ${t(`role.${peer.role}`)}`;
      const badge = document.createElement("span");
      badge.className = `state-badge state-${peer.state}`;
      badge.textContent = stateLabel(peer.state) + (peer.muted ? ` · ${t("room.muted")}` : "");
      item.append(name, " ", badge);
      return item;
    }),
  );
}

/** Whether the relay forwards `peer`'s media to this page now (the operator's patch). */
function reachesMe(peer) {
  const host = state.session?.host_site;
  if (!peer || peer.site === host || state.role === "operator") return true;
  if (!peer.live) return false;
  return state.site?.id === host || (peerOf(state.endpointId)?.live ?? true);
}

function renderTiles() {
  let shown = 0;
  for (const [endpointId, tile] of tiles) {
    const peer = peerOf(endpointId);
    // A point on standby is previewed by operators only: no empty tile for it here.
    tile.el.hidden = !reachesMe(peer);
    if (!tile.el.hidden) shown += 1;
    const peerState = peer?.state ?? "connecting";
    tile.el.dataset.site = tile.info.site;
    tile.el.dataset.state = peerState;
    const role = peer?.role ?? tile.info.role;
    tile.el.querySelector(".site-name").textContent =
      (tile.info.site_name || tile.info.site) + (role && role !== "room" ? ` · ${t(`role.${role}`)}` : "");
    const badge = tile.el.querySelector(".state-badge");
    badge.className = `state-badge state-${peerState}`;
    badge.textContent = stateLabel(peerState) + (peer?.muted ? ` · ${t("room.muted")}` : "");
    const video = tile.tracks.video;
    tile.el.classList.toggle("no-video", !video || video.muted || video.readyState === "ended");
  }
  $("no-remote").hidden = shown > 0 || state.phase !== "joined";
}

// ---------------------------------------------------------------- debug hook for tests

/** Per remote site (key: site id, or "site:role" for non-room roles): what arrives. */
async function stats() {
  const pc = client.subscribePc;
  const out = {};
  if (!pc) return out;
  const owners = new Map();
  for (const [endpointId, tile] of tiles) {
    for (const kind of ["audio", "video"]) {
      const track = tile.tracks[kind];
      if (track) owners.set(track.id, { endpointId, info: tile.info, track });
    }
  }
  const report = await pc.getStats();
  for (const s of report.values()) {
    if (s.type !== "inbound-rtp") continue;
    const owner = owners.get(s.trackIdentifier);
    if (!owner) continue;
    const key = siteKey(owner.info);
    const entry = (out[key] ??= {
      site: owner.info.site,
      site_name: owner.info.site_name,
      endpoint_id: owner.endpointId,
      timestamp: s.timestamp,
      framesDecoded: 0,
      fps: 0,
      frameWidth: 0,
      frameHeight: 0,
      keyFramesDecoded: 0,
      freezeCount: 0,
      videoPacketsLost: 0,
      framesReceived: 0,
      framesDropped: 0,
      nackCount: 0,
      pliCount: 0,
      firCount: 0,
      jitterBufferDelay: 0,
      jitterBufferEmittedCount: 0,
      totalFreezesDuration: 0,
      videoCodec: null,
      videoTrack: null,
      videoPlayoutNtp: null,
      audioPacketsReceived: 0,
      totalSamplesReceived: 0,
      audioPacketsLost: 0,
      audioTrack: null,
      audioPlayoutNtp: null,
    });
    const track = trackState(owner.track);
    if (s.kind === "video") {
      Object.assign(entry, {
        timestamp: s.timestamp,
        framesDecoded: s.framesDecoded ?? 0,
        fps: s.framesPerSecond ?? 0,
        frameWidth: s.frameWidth ?? 0,
        frameHeight: s.frameHeight ?? 0,
        keyFramesDecoded: s.keyFramesDecoded ?? 0,
        freezeCount: s.freezeCount ?? 0,
        videoPacketsLost: s.packetsLost ?? 0,
        // What the receiver did about it: repairs asked for, frames it could not use,
        // and how long frames waited in its jitter buffer (seconds, summed).
        framesReceived: s.framesReceived ?? 0,
        framesDropped: s.framesDropped ?? 0,
        nackCount: s.nackCount ?? 0,
        pliCount: s.pliCount ?? 0,
        firCount: s.firCount ?? 0,
        jitterBufferDelay: s.jitterBufferDelay ?? 0,
        jitterBufferEmittedCount: s.jitterBufferEmittedCount ?? 0,
        totalFreezesDuration: s.totalFreezesDuration ?? 0,
        videoCodec: report.get(s.codecId)?.mimeType ?? null,
        videoTrack: track,
        // Sender NTP time (ms) being played out now: audio minus video is the A/V offset.
        videoPlayoutNtp: s.estimatedPlayoutTimestamp ?? null,
      });
    } else {
      Object.assign(entry, {
        audioPacketsReceived: s.packetsReceived ?? 0,
        totalSamplesReceived: s.totalSamplesReceived ?? 0,
        audioPacketsLost: s.packetsLost ?? 0,
        audioTrack: track,
        audioPlayoutNtp: s.estimatedPlayoutTimestamp ?? null,
      });
    }
  }
  return out;
}

/** What this page sends: frames encoded and sent, codec, resolution. */
async function publishStats() {
  const out = {};
  if (!publishPc) return out;
  const report = await publishPc.getStats();
  for (const s of report.values()) {
    if (s.type !== "outbound-rtp") continue;
    out[s.kind] = {
      packetsSent: s.packetsSent ?? 0,
      framesEncoded: s.framesEncoded ?? 0,
      framesSent: s.framesSent ?? 0,
      fps: s.framesPerSecond ?? 0,
      frameWidth: s.frameWidth ?? 0,
      codec: report.get(s.codecId)?.mimeType ?? null,
      qualityLimitationReason: s.qualityLimitationReason ?? null,
    };
  }
  return out;
}

/** readyState and muted of a remote track this page showed (by id), or null. */
function receiverTrack(id) {
  return trackState(seenTracks.get(id));
}

/** readyState of every track of the local streams this page opened. */
function localTracks() {
  return localStreams.flatMap((stream) => stream.getTracks().map((track) => trackState(track)));
}

/** For tests: close the transport as a network failure would; socket.io reconnects. */
function breakTransport() {
  client.socket?.io.engine.close();
}

/** For tests: kill the publish leg under the page (it is not told; the server is). */
function breakPublish() {
  publishPc?.close();
}

window.rb = {
  state,
  stats,
  publishStats,
  receiverTrack,
  localTracks,
  peerConnections: peerConnectionStates,
  leave,
  setLanguage,
  breakTransport,
  breakPublish,
};

start();
