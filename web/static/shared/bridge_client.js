// Client pieces shared by the room page (room.js) and the operator console (console.js):
// BridgePage, the page's side of the /bridge socket (joining with the page's token, phases,
// warnings and errors, reconnecting, the subscribe leg, the session's end), and the
// WebRTC and rendering helpers both pages use. Protocol: signaling/PROTOCOL.md.

import { io } from "/vendor/socket.io/socket.io.esm.min.js";
import { applyI18n, bindLanguageSwitch, has, onLanguageChange, t } from "/static/shared/i18n.js";
import { formatTime } from "/static/shared/time_format.js";

const ICE_GATHERING_TIMEOUT_MS = 5000;
/** After `session_closed`, how long the socket stays for what is still on its way (a
 * command's ack); the server disconnects it itself within that time. */
const CLOSE_LINGER_MS = 2000;
/** The latest peer connections a page made, kept so tests can see them closed. */
const PEER_CONNECTIONS_KEPT = 8;
/** Replacing a failed leg: the first wait, doubled each attempt up to the cap, each one
 * times 1 ± the jitter so pages that failed together do not all come back at once. */
const RECOVERY_FIRST_DELAY_MS = 500;
const RECOVERY_MAX_DELAY_MS = 8000;
const RECOVERY_JITTER = 0.25;
/** The warning shown while a failed leg is being replaced. */
export const MEDIA_RECONNECTING = "media_reconnecting";
/** Warnings about the connection to the server, gone once the server admits the page again. */
const CONNECTION_TROUBLE = new Set(["server_unreachable", "server_restarting"]);

/** A request the server refused: `code` is the protocol's error code. */
export class ProtocolError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The ?token= of the page's address, or null. */
export function addressToken() {
  return new URLSearchParams(location.search).get("token");
}

/** What a page without ?token= shows. */
export const TOKEN_MISSING = { code: "token_missing", message: "no ?token= in the address" };

/** The part of a page's state that BridgePage keeps; plain data, so tests read it as JSON. */
export function bridgeState() {
  return {
    phase: "init",
    error: null,
    warning: null,
    /** The `session_closed` payload once the session is over for good, else null. */
    closed: null,
    endpointId: null,
    socketId: null,
    /** The node a `redirect` sent the page to (its address), or null: the page's own server. */
    node: null,
    role: null,
    site: null,
    session: null,
    /** The subscribe leg's tracks (`subscribe_offer.tracks`) and the offer's revision. */
    tracks: [],
    revision: null,
    subscribeState: "new",
    /** Phase `waiting`: when the token becomes valid (ms since the epoch), and how many
     * times the page has tried to connect. */
    opensAt: null,
    waitAttempts: 0,
    /** Every `leg_failed` received, with `at` (epoch ms) added. */
    legFailures: [],
    /** {leg, at} each time a replacement leg was asked for and acknowledged. */
    recoveries: [],
  };
}

/** Wait before going back to the page's own server after the node a redirect named
 * could not be reached (it may have died: the cluster places the session again). */
export const REDIRECT_RETRY_MS = 400;

/**
 * A socket on the /bridge namespace, authenticated with `token`, on the page's own server
 * or on the node `url` a `redirect` named. WebSocket only: the workers of one server share
 * its port, and long-polling would need every request of a socket on the same worker.
 */
export function connectBridge(token, url = null) {
  const where = url ? `${url.replace(/\/+$/, "")}/bridge` : "/bridge";
  return io(where, { auth: { token }, transports: ["websocket"] });
}

/** Emit `event` and await its ack within `timeoutMs`; an `{error}` reply throws ProtocolError. */
export async function request(socket, event, payload, timeoutMs) {
  if (!socket) throw new ProtocolError("internal", "not connected");
  const reply = await socket.timeout(timeoutMs).emitWithAck(event, payload);
  if (reply?.error) throw new ProtocolError(reply.error.code, reply.error.message);
  return reply;
}

/** `{code, message}` of whatever the server sent as an error (codes default to "unknown"). */
export function normaliseError(data) {
  const code = typeof data?.code === "string" ? data.code : "unknown";
  const message = typeof data?.message === "string" ? data.message : "";
  return { code, message };
}

/** Take the endpoint, role, site and session a `welcome` assigns. */
export function adoptWelcome(state, welcome) {
  state.endpointId = welcome.endpoint_id;
  state.role = welcome.role;
  state.site = welcome.site;
  state.session = welcome.session;
}

/** Admitted again: no error, and no "server unreachable" or "restarting" warning left over. */
export function clearConnectionTrouble(state) {
  state.error = null;
  if (CONNECTION_TROUBLE.has(state.warning?.code)) state.warning = null;
}

/** The warning for a failed step: the server's code for a refusal, else "webrtc_failed". */
export function failureWarning(err) {
  if (err instanceof ProtocolError) return { code: err.code, message: err.message };
  return { code: "webrtc_failed", message: String(err?.message ?? err) };
}

// ---------------------------------------------------------------- WebRTC

/**
 * Milliseconds to wait before attempt `attempt` (0 first): `first` doubling up to `max`,
 * times 1 ± `jitter` (random). The defaults are a failed leg's replacement (0.5 s doubling
 * to 8 s, ±25 %); the waiting phase passes its own bounds (1 s doubling to 30 s, no jitter).
 */
export function backoffDelay(
  attempt,
  { first = RECOVERY_FIRST_DELAY_MS, max = RECOVERY_MAX_DELAY_MS, jitter = RECOVERY_JITTER } = {},
) {
  const nominal = Math.min(first * 2 ** attempt, max);
  return nominal * (1 - jitter + 2 * jitter * Math.random());
}

/**
 * Replaces a failed leg after a backoff: `trigger()` schedules `run()` (async) unless one
 * is scheduled or running; a `run` that throws is tried again after a longer wait.
 * `connected()` (the new leg is up) starts the waits from the shortest again.
 * aiortc cannot restart ICE, so `run` opens a new connection (see PROTOCOL.md).
 */
export class LegRecovery {
  constructor(run, onError) {
    this.run = run;
    this.onError = onError;
    this.attempt = 0;
    this.timer = null;
    this.running = false;
    this.generation = 0;
  }

  get active() {
    return this.timer !== null || this.running;
  }

  trigger() {
    if (this.active) return;
    const generation = this.generation;
    this.timer = setTimeout(() => this.fire(generation), backoffDelay(this.attempt));
    this.attempt += 1;
  }

  async fire(generation) {
    this.timer = null;
    if (generation !== this.generation) return;
    this.running = true;
    try {
      await this.run();
      this.running = false;
    } catch (err) {
      this.running = false;
      if (generation !== this.generation) return;
      this.onError(err);
      this.trigger();
    }
  }

  connected() {
    this.attempt = 0;
  }

  /** Nothing more is tried (the page left or joined again). */
  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
    this.running = false;
    this.attempt = 0;
    this.generation += 1;
  }
}

const peerConnections = [];

/** A peer connection as the relay wants it (one bundle). */
export function newPeerConnection(iceServers) {
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
  peerConnections.push(pc);
  if (peerConnections.length > PEER_CONNECTIONS_KEPT) peerConnections.shift();
  return pc;
}

/** For tests: the signaling and connection state of the page's latest peer connections. */
export function peerConnectionStates() {
  return peerConnections.map((pc) => ({
    signalingState: pc.signalingState,
    connectionState: pc.connectionState,
  }));
}

/** The subscribe leg: `onConnectionState(state)` on every connection state change. */
export function createSubscribePc(iceServers, onConnectionState) {
  const pc = newPeerConnection(iceServers);
  pc.addEventListener("connectionstatechange", () => onConnectionState(pc.connectionState));
  return pc;
}

/** Resolves once `pc` has gathered its candidates (or after a timeout). */
export function iceGatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  // The server does not take trickled candidates: wait for all of them, within reason.
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && finish();
    const timer = setTimeout(finish, ICE_GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** `subscribe_offer`s handled one after another, in the order they arrive. */
export class OfferQueue {
  constructor(handle, onError) {
    this.handle = handle;
    this.onError = onError;
    this.chain = Promise.resolve();
  }

  push(offer) {
    this.chain = this.chain.then(() => this.handle(offer)).catch(this.onError);
  }

  reset() {
    this.chain = Promise.resolve();
  }
}

/**
 * Answer `offer` on the subscribe connection `pc` with every candidate gathered, echoing
 * the offer's revision. If the page replaced its connection meanwhile (`current()` is no
 * longer `pc`) the offer is dropped; otherwise `accepted(offer)` runs before the answer goes.
 */
export async function answerSubscribeOffer(pc, offer, { current, accepted, send }) {
  if (!pc) return;
  await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await iceGatheringComplete(pc);
  if (current() !== pc) return;
  accepted(offer);
  await send("subscribe_answer", {
    type: "answer",
    sdp: pc.localDescription.sdp,
    revision: offer.revision,
  });
}

/** What `pc` receives now, each track with its entry of the offer's `tracks` (mid -> site). */
export function receivedTracks(pc, trackInfos) {
  const byMid = new Map(trackInfos.map((tr) => [tr.mid, tr]));
  const out = [];
  for (const transceiver of pc?.getTransceivers() ?? []) {
    const info = byMid.get(transceiver.mid);
    const direction = transceiver.currentDirection;
    if (!info || !(direction === "recvonly" || direction === "sendrecv")) continue;
    out.push({ info, track: transceiver.receiver.track });
  }
  return out;
}

/**
 * A view for one site's media: `<template id=templateId>`'s element, appended to
 * #containerId and translated, as `{el, video, audio, tracks: {}}`.
 */
export function createMediaView(templateId, containerId) {
  const el = document.getElementById(templateId).content.firstElementChild.cloneNode(true);
  const view = { el, video: el.querySelector("video"), audio: el.querySelector("audio"), tracks: {} };
  document.getElementById(containerId).append(el);
  applyI18n(el);
  return view;
}

/**
 * Show `track` (or nothing) in `view[kind]`, the view's <video> or <audio>, play it
 * (`refused(err)` if the browser will not), and redraw with `render` whenever the track
 * mutes, unmutes or ends. False if it was shown already.
 */
export function showTrack(view, kind, track, { render, refused }) {
  if (view.tracks[kind] === track) return false;
  view.tracks[kind] = track;
  view[kind].srcObject = track ? new MediaStream([track]) : null;
  for (const ev of ["mute", "unmute", "ended"]) track?.addEventListener(ev, render);
  if (track) view[kind].play().catch(refused);
  return true;
}

// ---------------------------------------------------------------- the page's connection

/** Waiting for a session to open: the first retry after this long, doubling to WAIT_MAX_MS. */
const WAIT_FIRST_MS = 1000;
const WAIT_MAX_MS = 30000;
/** A retry at the opening moment comes this late, so the server's clock agrees it is valid. */
const WAIT_MARGIN_MS = 300;

/**
 * The page's side of the /bridge socket, the same for the room page and the console.
 *
 * Phases (`state.phase`): init, connecting, joined, reconnecting (socket.io retries on its
 * own after a network failure), dropped (the server disconnected this endpoint), left,
 * closed (the session is over: closed, cancelled or past its end; nothing retries), error
 * (refused: `state.error`). `state.warning` is a problem that does not end anything.
 * `state.closed` is the `session_closed` payload once the session is over (at and reason
 * null when only a refused connection said so).
 *
 * The page gives `state` (`bridgeState()` and its own fields), `texts` (the prefix of its
 * phase texts, `{texts}.phase.{phase}`) and hooks:
 * - `render()`: redraw from `state`.
 * - `accept(welcome)`: take a welcome's page data; `false` when the page refuses it (after
 *   calling `fail`).
 * - `joined(welcome)` (async): the page's part once admitted (the subscribe leg is open).
 * - `release()`: close the page's own connections (the subscribe leg is closed), redraw.
 * - `end(phase)`: out of the session for good: release everything, then `setPhase(phase)`.
 * - `tracksChanged()`: the subscribe leg answered an offer (`state.tracks` is new).
 * - `subscribeState(connection)` (optional): the subscribe leg's connection state changed.
 * - `publishFailed(failure)` (optional): the server says the publish leg failed
 *   (`leg_failed`); the page replaces it. A failed subscribe leg BridgePage replaces
 *   itself (`resubscribe`, after a backoff).
 * - `events`: `{event: handler}`, the page's own server events.
 */
export class BridgePage {
  constructor(state, { tag, texts, ackTimeoutMs, ...hooks }) {
    this.state = state;
    this.tag = tag;
    this.texts = texts;
    this.ackTimeoutMs = ackTimeoutMs;
    this.hooks = hooks;
    this.socket = null;
    /** Waits so far in the current waiting phase (its backoff; reset by `welcome`). */
    this.waitRound = 0;
    this.subscribePc = null;
    /** This page asked to leave: the disconnect that follows is no failure. */
    this.leaving = false;
    /** The server said it is restarting: its disconnect is no drop, the page reconnects. */
    this.restarting = false;
    this.iceServers = [];
    this.subscribeRecovery = new LegRecovery(
      () => this.resubscribe(),
      (err) => this.reportFailure(err),
    );
    this.offers = new OfferQueue(
      (offer) => this.answer(offer),
      (err) => this.reportFailure(err),
    );
    for (const name of ["setPhase", "fail", "warn", "reportFailure", "request"]) {
      this[name] = this[name].bind(this);
    }
  }

  /** Languages, then join with the address's token (or fail without one). */
  start() {
    bindLanguageSwitch(document.getElementById("lang"));
    applyI18n();
    onLanguageChange(this.hooks.render);
    const token = addressToken();
    if (!token) {
      this.fail(TOKEN_MISSING);
      return;
    }
    this.join(token);
  }

  join(token, url = null) {
    const { state, tag } = this;
    this.token = token;
    /** The node a redirect named, or null for the page's own server. */
    this.node = url;
    state.node = url;
    this.setPhase(state.endpointId ? "reconnecting" : "connecting");
    const socket = connectBridge(token, url);
    this.socket = socket;
    socket.on("redirect", (data) => this.moveTo(data?.url ?? null));
    socket.on("connect", () => {
      state.socketId = socket.id;
      console.info(`${tag}: socket connected`, socket.id);
    });
    socket.on("connect_error", (err) => this.onConnectError(err));
    socket.on("welcome", (welcome) => this.onWelcome(welcome).catch(this.reportFailure));
    socket.on("subscribe_offer", (offer) => this.offers.push(offer));
    socket.on("session_closed", (end) => this.onSessionClosed(end));
    socket.on("leg_failed", (failure) => this.onLegFailed(failure));
    socket.on("error", (err) => {
      console.warn(`${tag}: server error event`, err);
      this.warn(normaliseError(err));
    });
    socket.on("disconnect", (reason) => this.onDisconnect(reason));
    for (const [event, handler] of Object.entries(this.hooks.events ?? {})) socket.on(event, handler);
  }

  /** Emit `event` and await its ack; an `{error}` reply throws ProtocolError. */
  request(event, payload) {
    return request(this.socket, event, payload, this.ackTimeoutMs);
  }

  /**
   * A `connect_error`. A network failure keeps the socket active and socket.io retries on
   * its own: the page is (re)connecting, with a "server unreachable" warning (or still the
   * "restarting" one). A refusal by the server (bad token...) leaves it inactive: the page
   * fails with the server's code, or shows the session's end when that is the reason.
   */
  onConnectError(err) {
    const { socket, state } = this;
    console.warn(`${this.tag}: connect_error`, err?.message, err?.data);
    if (err?.data?.code === "redirect" && err.data.url) {
      this.moveTo(err.data.url);
      return;
    }
    if (socket.active && this.node) {
      // The node the session was on is unreachable: ask the page's own server again
      // (it places the session anew once the node is declared dead).
      setTimeout(() => this.moveTo(null), REDIRECT_RETRY_MS);
      socket.off();
      socket.disconnect();
      return;
    }
    if (socket.active) {
      this.setPhase(state.endpointId ? "reconnecting" : "connecting");
      if (state.warning?.code !== "server_restarting") {
        this.warn({ code: "server_unreachable", message: String(err?.message ?? "") });
      }
      return;
    }
    const error = normaliseError(err?.data);
    const message = error.message || String(err?.message ?? "");
    const opensAt = Date.parse(err?.data?.not_before ?? "");
    if (error.code === "token_not_yet_valid" && Number.isFinite(opensAt)) {
      this.waitForOpening(opensAt);
      return;
    }
    if (error.code === "session_closed") {
      this.close({
        session_id: state.session?.id ?? null,
        reason: null,
        state: null,
        at: null,
        by: "",
        message,
      });
      return;
    }
    this.fail({ code: error.code, message });
  }

  /**
   * Too early (`token_not_yet_valid` with `not_before`): phase `waiting`, `state.opensAt`
   * (ms) for the page's countdown, and connect again by itself: polling with backoff
   * (1 s doubling to 30 s), never later than the moment the token becomes valid.
   */
  waitForOpening(opensAt) {
    const { state } = this;
    state.opensAt = opensAt;
    state.error = null;
    state.waitAttempts = (state.waitAttempts ?? 0) + 1;
    const backoff = backoffDelay(this.waitRound, {
      first: WAIT_FIRST_MS,
      max: WAIT_MAX_MS,
      jitter: 0,
    });
    this.waitRound += 1;
    const untilOpen = opensAt - Date.now() + WAIT_MARGIN_MS;
    const delay = Math.max(WAIT_FIRST_MS, Math.min(untilOpen, backoff));
    this.setPhase("waiting");
    clearTimeout(this.waitTimer);
    this.waitTimer = setTimeout(() => {
      if (this.state.phase !== "waiting") return;
      console.info(`${this.tag}: trying again (attempt ${this.state.waitAttempts + 1})`);
      this.socket.connect();
    }, delay);
  }

  async onWelcome(welcome) {
    this.state.opensAt = null;
    this.waitRound = 0;
    // A welcome after a reconnection is a new endpoint: start every leg again.
    this.teardown();
    adoptWelcome(this.state, welcome);
    if (this.hooks.accept?.(welcome) === false) return;
    this.restarting = false;
    clearConnectionTrouble(this.state);
    this.setPhase("joined");
    this.iceServers = welcome.ice_servers ?? [];
    this.openSubscribePc();
    await this.hooks.joined(welcome);
  }

  /** A new subscribe leg (the old one, if any, is closed). */
  openSubscribePc() {
    this.subscribePc?.close();
    const pc = createSubscribePc(this.iceServers, (connection) => {
      if (this.subscribePc !== pc) return;
      this.state.subscribeState = connection;
      if (connection === "connected") {
        this.subscribeRecovery.connected();
        this.mediaBack();
      }
      if (connection === "failed") this.mediaLost("subscribe");
      this.hooks.subscribeState?.(connection);
      this.hooks.render();
    });
    this.subscribePc = pc;
    this.state.tracks = [];
    this.state.subscribeState = "new";
    return pc;
  }

  /** `leg_failed`: the server freed one of this page's legs; replace it. */
  onLegFailed(failure) {
    console.warn(`${this.tag}: leg_failed`, failure);
    this.state.legFailures.push({ ...failure, at: Date.now() });
    if (failure?.leg === "subscribe") this.mediaLost("subscribe");
    else if (failure?.leg === "publish") {
      this.warn({ code: MEDIA_RECONNECTING, message: `publish: ${failure.reason ?? ""}` });
      this.hooks.publishFailed?.(failure);
    }
  }

  /** A leg is gone: say so, and (for the subscribe leg) replace it after a backoff. */
  mediaLost(leg) {
    this.warn({ code: MEDIA_RECONNECTING, message: leg });
    if (leg === "subscribe") this.subscribeRecovery.trigger();
  }

  /** A leg is connected again: the "reconnecting" warning goes (other warnings stay). */
  mediaBack() {
    if (this.state.warning?.code === MEDIA_RECONNECTING) this.warn(null);
  }

  /** A new subscribe leg: the server closes the old one and offers again (`restart`). */
  async resubscribe() {
    this.openSubscribePc();
    this.offers.reset();
    this.hooks.tracksChanged();
    await this.request("resubscribe", {});
    this.state.recoveries.push({ leg: "subscribe", at: Date.now() });
  }

  /** Leave this socket for one on `url` (a node), or on the page's own server (null). */
  moveTo(url) {
    console.info(`${this.tag}: moving to`, url ?? "the page's server");
    const old = this.socket;
    old?.off();
    old?.disconnect();
    this.teardown();
    if (this.state.closed || this.state.phase === "error") return;
    this.join(this.token, url);
  }

  onDisconnect(reason) {
    console.info(`${this.tag}: disconnected`, reason);
    if (this.state.phase === "error" || this.state.closed) return;
    this.teardown();
    const byServer = reason === "io server disconnect";
    if (this.leaving) {
      this.hooks.end("left");
    } else if (byServer && !this.restarting) {
      this.hooks.end("dropped");
    } else {
      // socket.io retries by itself after a network failure, not after the server's own
      // disconnect: a server that said it restarts is asked again until it is back.
      if (byServer) this.socket.connect();
      this.setPhase("reconnecting");
    }
  }

  /** `session_closed`: the session is over, or (server_shutdown) only this server's run. */
  onSessionClosed(end) {
    console.info(`${this.tag}: session_closed`, end);
    if (end?.reason === "server_shutdown") {
      this.restarting = true;
      this.warn({ code: "server_restarting", message: "" });
      return;
    }
    const { session_id = null, reason = null, state = null, at = null, by = "" } = end ?? {};
    this.close({ session_id, reason, state, at, by });
  }

  /** Out for good: no reconnecting, no peer connection, no media; the page says why. */
  close(closed) {
    if (this.state.closed) return;
    Object.assign(this.state, { closed, error: null, warning: null, phase: "closed" });
    const socket = this.socket;
    socket?.io.reconnection(false);
    setTimeout(() => socket?.disconnect(), CLOSE_LINGER_MS);
    this.hooks.end("closed");
  }

  /** Say goodbye to the server, then out of the session. */
  async leave() {
    this.leaving = true;
    try {
      await this.request("leave", {});
    } catch (err) {
      console.warn(`${this.tag}: leave not acknowledged`, err);
    }
    this.socket?.disconnect();
    if (!this.state.closed) this.hooks.end("left");
  }

  /** Answer a subscribe offer (one at a time, through `offers`). */
  answer(offer) {
    if (offer?.restart && this.subscribePc?.remoteDescription) {
      // The first offer of a new subscribe connection on the server: a new one here too.
      this.openSubscribePc();
    }
    return answerSubscribeOffer(this.subscribePc, offer, {
      current: () => this.subscribePc,
      accepted: () => {
        this.state.tracks = offer.tracks ?? [];
        this.state.revision = offer.revision ?? null;
        this.hooks.tracksChanged();
      },
      send: this.request,
    });
  }

  /** What the subscribe leg receives now, each track with its entry of `state.tracks`. */
  receivedTracks() {
    return receivedTracks(this.subscribePc, this.state.tracks);
  }

  /** Close the subscribe leg, then the page's own connections (`release`). */
  teardown() {
    this.subscribeRecovery.cancel();
    this.subscribePc?.close();
    this.subscribePc = null;
    this.offers.reset();
    this.state.tracks = [];
    this.state.subscribeState = "closed";
    this.hooks.release();
  }

  setPhase(phase) {
    this.state.phase = phase;
    this.hooks.render();
  }

  /** Refused: the error, and out of the session. */
  fail(error) {
    if (this.state.closed) return;
    this.state.error = error;
    this.state.phase = "error";
    this.socket?.disconnect();
    this.hooks.end("error");
  }

  /** A problem that ends nothing (null clears it); nothing is added once the session closed. */
  warn(warning) {
    if (this.state.closed) return;
    this.state.warning = warning;
    this.hooks.render();
  }

  reportFailure(err) {
    console.error(`${this.tag}:`, err);
    this.warn(failureWarning(err));
  }

  /** The phase (body[data-phase], #phase), the #error box and the #session-ended notice. */
  renderStatus() {
    const { state } = this;
    document.body.dataset.phase = state.phase;
    document.getElementById("phase").textContent = t(`${this.texts}.phase.${state.phase}`);
    renderErrorBox(state.error, state.warning);
    renderSessionEnded(state.closed);
  }
}

// ---------------------------------------------------------------- rendering

/** The translated text of an error code (the generic one for codes it does not know). */
export function errorText(code) {
  return t(has(`error.${code}`) ? `error.${code}` : "error.unknown");
}

/** The translated label of a connection state, or the state itself. */
export function stateLabel(connection) {
  return has(`state.${connection}`) ? t(`state.${connection}`) : connection;
}

/** The #error box: the error if there is one, else the warning (styled as such), else hidden. */
export function renderErrorBox(error, warning) {
  const $ = (id) => document.getElementById(id);
  const shown = error ?? warning;
  const box = $("error");
  box.hidden = !shown;
  box.classList.toggle("warning", !error && Boolean(warning));
  box.querySelector("h2").hidden = !error;
  if (!shown) return;
  $("error-text").textContent = errorText(shown.code);
  $("error-code").textContent = shown.code;
  $("error-message").textContent = shown.message;
}

/** The #session-ended notice, made once, above the #error box. */
function sessionEndedBox() {
  const found = document.getElementById("session-ended");
  if (found) return found;
  const box = document.createElement("section");
  box.id = "session-ended";
  box.className = "session-ended";
  box.setAttribute("role", "alert");
  const title = document.createElement("h2");
  title.id = "session-ended-title";
  const reason = document.createElement("p");
  reason.id = "session-ended-reason";
  box.append(title, reason);
  document.getElementById("error").before(box);
  return box;
}

/** "The session ended at HH:MM" (Hanoi time) and why, or hidden while it goes on. */
export function renderSessionEnded(closed) {
  const $ = (id) => document.getElementById(id);
  const box = sessionEndedBox();
  box.hidden = !closed;
  if (!closed) return;
  box.dataset.reason = closed.reason ?? "";
  $("session-ended-title").textContent = closed.at
    ? t("closed.title.at", { time: formatTime(closed.at) })
    : t("closed.title");
  $("session-ended-reason").textContent = has(`closed.reason.${closed.reason}`)
    ? t("closed.reason", { reason: t(`closed.reason.${closed.reason}`) })
    : errorText("session_closed");
}
