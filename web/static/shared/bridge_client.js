// Client pieces shared by the room page (room.js) and the operator console (console.js):
// the /bridge socket with the page's token, acknowledged requests, answering the server's
// subscribe offers, and how errors are shown. Protocol: signaling/PROTOCOL.md.

import { io } from "/vendor/socket.io/socket.io.esm.min.js";
import { has, t } from "/static/shared/i18n.js";

const ICE_GATHERING_TIMEOUT_MS = 5000;

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

/** A socket on the /bridge namespace, authenticated with `token`. */
export function connectBridge(token) {
  return io("/bridge", { auth: { token } });
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

/**
 * A `connect_error`. A network failure keeps the socket active and socket.io retries on its
 * own: the page is (re)connecting, with a "server unreachable" warning. A refusal by the
 * server (bad token...) leaves it inactive: the page fails with the server's code.
 */
export function handleConnectError(socket, err, state, { setPhase, warn, fail }) {
  if (socket.active) {
    setPhase(state.endpointId ? "reconnecting" : "connecting");
    warn({ code: "server_unreachable", message: String(err?.message ?? "") });
    return;
  }
  const error = normaliseError(err?.data);
  fail({ code: error.code, message: error.message || String(err?.message ?? "") });
}

/** Take the endpoint, role, site and session a `welcome` assigns. */
export function adoptWelcome(state, welcome) {
  state.endpointId = welcome.endpoint_id;
  state.role = welcome.role;
  state.site = welcome.site;
  state.session = welcome.session;
}

/** Admitted again: no error, and no "server unreachable" warning left over. */
export function clearConnectionTrouble(state) {
  state.error = null;
  if (state.warning?.code === "server_unreachable") state.warning = null;
}

/** The warning for a failed step: the server's code for a refusal, else "webrtc_failed". */
export function failureWarning(err) {
  if (err instanceof ProtocolError) return { code: err.code, message: err.message };
  return { code: "webrtc_failed", message: String(err?.message ?? err) };
}

// ---------------------------------------------------------------- WebRTC

/** A peer connection as the relay wants it (one bundle). */
export function newPeerConnection(iceServers) {
  return new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
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
 * Show `track` (or nothing) in `view[kind]`, the tile's <video> or <audio>, and redraw with
 * `render` whenever the track mutes, unmutes or ends. False if it was shown already.
 */
export function showTrack(view, kind, track, render) {
  if (view.tracks[kind] === track) return false;
  view.tracks[kind] = track;
  view[kind].srcObject = track ? new MediaStream([track]) : null;
  for (const ev of ["mute", "unmute", "ended"]) track?.addEventListener(ev, render);
  return true;
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
