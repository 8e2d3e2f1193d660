/*
 * hubline softphone: the page HubSpot loads in its calling iframe (bundled into
 * dist/softphone.js). It speaks docs/protocol.md with the gateway (gateway.js), carries the
 * call's audio over WebRTC (media.js) and relays HubSpot's Calling Extensions SDK both ways
 * (hubspot.js): HubSpot events go to the gateway as `sdk {name, data}`, and every `sdk`
 * message from the gateway becomes cti[name](data), unchanged.
 *
 * Test hooks, for the Chromium tests (window.hubline):
 *   hubline.state()      the view the rep sees: "connecting" | "unreachable" | "login" | "idle"
 *                        | "placing" (dial sent, no call yet) | "dialling" | "ringing"
 *                        | "early_media" | "answered" | "ended" (wrap-up form)
 *                        | "incoming" (an inbound call rings: answer or decline)
 *   hubline.instance()   this instance's id (the gateway's call.owner names the one with the media)
 *   hubline.available()  whether the rep takes inbound calls (presence)
 *   hubline.call()       the current call as the gateway last described it, or null
 *   hubline.lastError()  {code, message, at} of the last error shown (a gateway `error` code,
 *                        or a local one: mic_denied, mic_missing, mic_busy, mic_unavailable,
 *                        mic_failed, media_failed, call_failed, gateway_unreachable,
 *                        not_connected, dial_timeout, hubspot_failed), or null
 *   hubline.analyser(hz) energy of the remote audio within ±2 FFT bins (~±23 Hz) of hz, as a
 *                        fraction 0…1 of all remote audio energy; 0 without remote audio.
 *                        The first call builds the WebAudio graph: poll it.
 *   hubline.events       every SDK call made towards HubSpot, in order: {name, data, at}
 *                        (recorded in standalone mode too, where nothing is sent)
 *
 * Query parameters: ?gateway=wss://host:port/ws (or host:port) to use another gateway.
 */
import { Gateway, gatewayURL } from "./gateway.js";
import { HubSpot } from "./hubspot.js";
import { CallMedia, getMic, MicError } from "./media.js";
import {
  contextKind,
  contextName,
  endSummary,
  formatDuration,
  formatNumber,
  initials,
  LIVE_STATES,
  STATE_TEXT,
} from "./format.js";

const TOKEN_KEY = "hubline.session";
const READY_FALLBACK_MS = 3000;
const PLACING_TIMEOUT_MS = 20000;
const OUTBOX_MAX = 200;
/** Gateway error codes HubSpot should show as an alert (the rest stay in the widget). */
const ALERT_CODES = new Set([
  "invalid_number",
  "call_in_progress",
  "media_failed",
  "trunk_unavailable",
  "internal",
]);
const UNREACHABLE = "Can't reach the hubline gateway.";

// ---------------------------------------------------------------------------------------
// State. One object, changed by events, drawn by render().

const S = {
  conn: { state: "connecting", retryAt: 0, failures: 0, closeCode: 0 },
  token: loadToken(),
  resuming: "", // id of the `resume` in flight
  loginId: "", // id of the `login` in flight
  loginError: "",
  session: null, // the `session` message
  call: null, // the latest `call` message of the current call, plus UI fields
  placing: null, // {toNumber, context, id, at, cancel} between dial and the first `call`
  dialContext: null, // {data, at}: the last onDialNumber payload
  wrapId: "", // id of the `wrapUp` in flight
  media: null, // CallMedia of the current call
  offerIds: new Set(), // offers sent to restore audio after a reload
  remoteStream: null,
  outbox: [], // `sdk` events waiting for a socket that may carry them
  banner: null, // {code, message}
  lastError: null,
  micChecked: false,
  unreachableAlerted: false,
  userActed: false,
  view: "",
  available: false, // the rep takes inbound calls (the gateway's presence)
  availId: "", // id of the `setAvailable` in flight
  acceptId: "", // id of the `accept` in flight
  holdId: "", // id of the `hold` or `unhold` in flight
  location: "", // where HubSpot runs this instance: widget | remote | window
};

const events = [];
const hubspot = new HubSpot({ events, onEvent: fromHubSpot });
const gw = new Gateway({ url: gatewayURL(), onMessage: fromGateway, onStatus: gatewayStatus });

// ---------------------------------------------------------------------------------------
// Gateway → softphone

function gatewayStatus(st) {
  const was = S.conn.state;
  S.conn = { state: st.state, retryAt: st.retryAt || 0, failures: st.failures, closeCode: st.closeCode || 0 };
  if (st.state === "open") {
    S.unreachableAlerted = false;
    if (S.token) S.resuming = gw.send("resume", { token: S.token });
    flushOutbox();
  } else if (st.state === "waiting") {
    S.resuming = "";
    if (S.loginId) {
      S.loginId = "";
      S.loginError =
        st.closeCode === 4001
          ? "Too many failed sign-in attempts. Wait a moment, then try again."
          : "The connection to the gateway was lost. Try again.";
    }
    if (was !== "waiting") S.lastError = { code: "gateway_unreachable", message: UNREACHABLE, at: Date.now() };
    if (st.failures >= 2 || (S.call && LIVE_STATES.includes(S.call.state))) alertUnreachable();
  }
  render();
}

function alertUnreachable() {
  if (S.unreachableAlerted || !hubspot.initialized || hubspot.standalone) return;
  if (S.conn.state !== "waiting") return;
  S.unreachableAlerted = true;
  hubspot.call("sendError", {
    message: `${UNREACHABLE} Calls are unavailable until it is back; hubline keeps retrying.`,
  });
}

function fromGateway(m) {
  switch (m.type) {
    case "session":
      S.session = m;
      S.available = !!m.available;
      S.token = m.token;
      saveToken(m.token);
      S.resuming = "";
      S.loginId = "";
      S.loginError = "";
      $("login-pass").value = "";
      flushOutbox();
      checkMic();
      if (S.userActed && S.view === "login") focusSoon("dial-number");
      break;
    case "loggedOut":
      endSession("");
      break;
    case "presence":
      S.available = !!m.available;
      if (m.re && m.re === S.availId) S.availId = "";
      if (m.reason === "disconnected") {
        showBanner("presence", "You were set to not take calls while no HubSpot tab had the phone open.");
      }
      break;
    case "error":
      gatewayError(m);
      break;
    case "call":
      callUpdate(m);
      break;
    case "dtmfReceived":
      // A digit the other end sent (an IVR's echo, a callee's keypad).
      if (S.call && S.call.callId === m.callId && /^[0-9*#A-D]$/.test(m.digit)) {
        S.call.dtmfHeard = (S.call.dtmfHeard + m.digit).slice(-24);
        announce(`They pressed ${m.digit === "*" ? "star" : m.digit === "#" ? "pound" : m.digit}`);
      }
      break;
    case "dtmfSent":
      break;
    case "answer":
      if (S.media && S.media.callId === m.callId) {
        S.media.applyAnswer(m.sdp).catch((e) =>
          fail("media_failed", `Couldn't set up the call audio (${e.message || e}).`, true),
        );
      }
      break;
    case "transfer":
      transferUpdate(m);
      break;
    case "sdk":
      if (typeof m.name !== "string") break;
      if (m.name === "outgoingCall" && m.data && m.data.dialingContext && S.call && !S.call.context) {
        S.call.context = m.data.dialingContext;
      }
      hubspot.call(m.name, m.data);
      break;
    default:
      console.debug("hubline: unhandled gateway message", m.type);
  }
  render();
}

function gatewayError(m) {
  const code = String(m.code || "error");
  const message = String(m.message || "The gateway reported an error.");
  S.lastError = { code, message, at: Date.now() };
  console.warn(`hubline: gateway error ${code}: ${message}`);
  if (m.re && S.placing && m.re === S.placing.id) S.placing = null;
  if (m.re && m.re === S.acceptId) S.acceptId = "";
  if (m.re && m.re === S.holdId) S.holdId = "";
  if (m.re && m.re === S.availId) S.availId = "";
  if (m.re && S.call && m.re === S.call.xferId) {
    // The transfer was not started: say why in the transfer panel.
    S.call.xferId = "";
    S.call.xfer = { state: "failed", message: message };
    return;
  }
  if (m.re && m.re === S.wrapId) {
    S.wrapId = "";
    if (code === "no_such_call" && S.call) S.call = null;
  }
  switch (code) {
    case "auth_failed":
      S.loginId = "";
      S.loginError = message;
      return;
    case "session_expired":
      S.resuming = "";
      S.loginId = "";
      S.token = "";
      clearToken();
      S.session = null;
      S.loginError = "Your session has ended. Please sign in again.";
      flushOutbox();
      return;
    case "unauthenticated":
      if (S.session) {
        S.session = null;
        S.loginError = "Your session has ended. Please sign in again.";
        return;
      }
      break;
  }
  if (m.re && S.offerIds.has(m.re)) {
    // An offer made to restore audio after a reload was refused.
    S.offerIds.delete(m.re);
    closeMedia();
    showBanner(code, "The call's audio could not be restored after the page reloaded. Hang up and call again.");
    return;
  }
  showBanner(code, message);
  if (ALERT_CODES.has(code)) hubspot.call("sendError", { message });
}

/** mine: this instance holds the call's media (the gateway's call.owner). */
function mine(call) {
  if (!call || !S.session) return false;
  if (call.owner) return call.owner === S.session.instance;
  return call.direction !== "INBOUND"; // an inbound call has no owner while it rings
}

/** callerContext makes HubSpot's caller-ID match look like a dialling context for the UI. */
function callerContext(caller) {
  if (!caller) return null;
  const c = caller.objectCoordinates || {};
  return { name: caller.name || "", objectType: caller.type || "", objectTypeId: c.objectTypeId || "" };
}

/** The number on the other end: the callee of an outbound call, the caller of an inbound one. */
function farNumber(call) {
  return call.direction === "INBOUND" ? call.fromNumber : call.toNumber;
}

const INBOUND_END = {
  missed: (c) => `Missed call from ${c.context && c.context.name ? c.context.name : formatNumber(c.fromNumber)}.`,
  answered_elsewhere: (c) => (c.answeredBy ? `Answered by ${c.answeredBy}.` : "Answered elsewhere."),
  routed: (c) => `Missed call from ${c.context && c.context.name ? c.context.name : formatNumber(c.fromNumber)}: it went to the next in line.`,
};

function callUpdate(m) {
  if (m.state === "completed") {
    if (S.call && S.call.callId === m.callId) {
      closeMedia();
      S.call = null;
      S.wrapId = "";
      S.acceptId = "";
      if (S.userActed) focusSoon("dial-number");
    }
    return;
  }
  const prev = S.call && S.call.callId === m.callId ? S.call : null;
  const prevState = prev ? prev.state : "";
  if (!prev) {
    closeMedia();
    const inbound = m.direction === "INBOUND";
    const recent = S.dialContext && Date.now() - S.dialContext.at < 60000 ? S.dialContext.data : null;
    const placing = inbound ? null : S.placing;
    S.call = {
      ...m,
      context: inbound ? callerContext(m.caller) : (placing && placing.context) || recent,
      muted: false,
      hangingUp: false,
      dtmfOpen: false,
      dtmfDigits: "",
      dtmfHeard: "",
      fresh: m.state === "dialling",
    };
    if (!inbound) {
      S.placing = null;
      S.dialContext = null;
    }
    resetWrapForm();
    if (placing && placing.cancel) hangup();
    if (inbound && m.state === "ringing") {
      announce(`Incoming call from ${contextName(S.call.context) || formatNumber(m.fromNumber)}`);
      if (S.view !== "call") S.banner = null;
    }
  } else {
    // Answered here after it rang: a fresh start of the media, not a restore.
    if (prevState === "ringing" && m.state === "answered") prev.fresh = true;
    if (!!m.held !== !!prev.held) S.holdId = "";
    // The carrier moved the call to another party (a REFER): the old contact's name no longer applies.
    if (m.direction === "OUTBOUND" && prev.toNumber && m.toNumber && m.toNumber !== prev.toNumber) prev.context = null;
    Object.assign(prev, m);
    // Absent means false: the gateway omits them then.
    prev.held = !!m.held;
    prev.heldByRemote = !!m.heldByRemote;
    if (m.caller) prev.context = callerContext(m.caller);
  }
  const call = S.call;
  if (S.media && !mine(call)) closeMedia();
  if (LIVE_STATES.includes(m.state) && !S.media && !call.hangingUp && mine(call)) startMedia(call);
  if (m.state === "ended" && prevState !== "ended") {
    closeMedia();
    call.hangingUp = false;
    S.acceptId = "";
    const lost = call.direction === "INBOUND" && INBOUND_END[m.endReason];
    if (lost) {
      // The rep did not take this call: nothing to wrap up (callCompleted follows at once).
      showBanner("call_" + m.endReason, lost(call));
      announce(lost(call));
      return;
    }
    const sum = endSummary(call);
    announce(`Call ended. ${sum.text}`);
    if (prev && prevState !== "ended" && m.endStatus === "FAILED") {
      fail("call_failed", sum.detail ? `${sum.text}. ${sum.detail}` : sum.text, true);
    }
    prefillOutcome(call);
  } else if (prevState !== m.state) {
    announce(STATE_TEXT[m.state] || "");
  }
}

// ---------------------------------------------------------------------------------------
// HubSpot → softphone → gateway

let readyTimer = 0;

function fromHubSpot(name, data) {
  if (name === "onReady") {
    S.location = (data && data.iframeLocation) || "widget";
    document.getElementById("app").dataset.location = S.location;
    clearTimeout(readyTimer);
    readyTimer = setTimeout(() => {
      if (hubspot.initialized) return;
      // The gateway answers onReady with `initialized`; without it HubSpot would wait.
      hubspot.call("initialized", { isLoggedIn: false });
      if (S.conn.state === "waiting") alertUnreachable();
    }, READY_FALLBACK_MS);
  }
  if (name === "onDialNumber") {
    S.dialContext = { data, at: Date.now() };
    const number = data && (data.phoneNumber || data.phone_number);
    if (S.session && !liveCall() && number) {
      S.banner = null;
      S.placing = { toNumber: String(number), context: data, id: "", at: Date.now(), cancel: false };
      S.userActed = true; // the rep clicked "call" in HubSpot
    }
  }
  if (name === "onEndCall" && S.call && LIVE_STATES.includes(S.call.state)) S.call.hangingUp = true;
  // HubSpot's own failures: the rep should know the call is not (fully) logged. HubSpot
  // knows already, so no sendError.
  if (name === "onCreateEngagementFailed") {
    noteHubSpotFailure("HubSpot couldn't create a record of this call, so it won't be logged in HubSpot. The call itself goes on.", data);
  }
  if (name === "onUpdateEngagementFailed") {
    noteHubSpotFailure("HubSpot couldn't save this call's outcome and notes.", data);
  }
  sendSdk(name, data);
  render();
}

function noteHubSpotFailure(message, data) {
  const why = data && data.error && typeof data.error.message === "string" ? data.error.message.trim() : "";
  const text = why ? `${message} HubSpot said: “${why}”` : message;
  S.lastError = { code: "hubspot_failed", message: text, at: Date.now() };
  showBanner("hubspot_failed", text);
}

function sendSdk(name, data) {
  const fields = { name };
  if (data && typeof data === "object" && !Array.isArray(data)) fields.data = data;
  const item = { fields, onSent: null };
  if (name === "onDialNumber" && S.placing) {
    const placing = S.placing;
    item.onSent = (id) => (placing.id = id);
  }
  if (!sendNow(item)) {
    if (S.outbox.length >= OUTBOX_MAX) S.outbox.shift();
    S.outbox.push(item);
  }
}

/** The socket can carry this `sdk` now: open, not resuming, and logged in unless onReady. */
function sendNow(item) {
  if (!gw.isOpen || S.resuming) return false;
  if (item.fields.name !== "onReady" && !S.session) return false;
  const id = gw.send("sdk", item.fields);
  if (id && item.onSent) item.onSent(id);
  return !!id;
}

function flushOutbox() {
  const keep = [];
  for (const item of S.outbox) {
    if (sendNow(item)) continue;
    // Logged out for good: HubSpot events about calls can't be delivered to anyone.
    if (gw.isOpen && !S.resuming && !S.session && !S.token) continue;
    keep.push(item);
  }
  S.outbox = keep;
}

// ---------------------------------------------------------------------------------------
// Rep actions

function login(ev) {
  ev.preventDefault();
  const username = $("login-user").value.trim();
  const password = $("login-pass").value;
  if (!username || !password) {
    S.loginError = !username ? "Enter your username." : "Enter your password.";
    render();
    focusSoon(!username ? "login-user" : "login-pass");
    return;
  }
  const id = gw.send("login", { username, password });
  if (!id) {
    S.loginError = "Not connected to the gateway yet. Try again in a moment.";
  } else {
    S.loginId = id;
    S.loginError = "";
  }
  render();
}

function logout() {
  if (liveCall()) return;
  if (!gw.send("logout")) endSession("");
  // The gateway answers with sdk userLoggedOut, then loggedOut → endSession.
}

function endSession(note) {
  closeMedia();
  S.session = null;
  S.token = "";
  clearToken();
  S.call = null;
  S.placing = null;
  S.available = false;
  S.availId = "";
  S.acceptId = "";
  S.micChecked = false;
  S.loginError = note;
  S.banner = null;
}

function dial(ev) {
  ev.preventDefault();
  const input = $("dial-number");
  const toNumber = input.value.replace(/[\s().\-\u00a0]/g, "");
  if (!toNumber) {
    input.focus();
    return;
  }
  if (liveCall() || S.placing) return;
  S.banner = null;
  const id = gw.send("dial", { toNumber });
  if (!id) {
    fail("not_connected", "Not connected to the gateway. Wait for it to reconnect, then call again.", false);
  } else {
    S.placing = { toNumber, context: null, id, at: Date.now(), cancel: false };
  }
  render();
}

function acceptCall() {
  const call = S.call;
  if (!call || call.direction !== "INBOUND" || call.state !== "ringing" || S.acceptId) return;
  S.userActed = true;
  S.banner = null;
  const id = gw.send("accept", { callId: call.callId });
  if (!id) fail("not_connected", "Not connected to the gateway. Wait for it to reconnect, then answer again.", false);
  else S.acceptId = id;
  render();
}

function declineCall() {
  const call = S.call;
  if (!call || call.direction !== "INBOUND" || call.state !== "ringing") return;
  if (gw.send("decline", { callId: call.callId })) call.hangingUp = true;
  render();
}

function openRecord() {
  const call = S.call;
  if (call && call.caller) gw.send("openRecord", { callId: call.callId });
}

function toggleAvailable(ev) {
  const want = ev.target.checked;
  const id = gw.send("setAvailable", { available: want });
  if (!id) {
    ev.target.checked = S.available;
    fail("not_connected", "Not connected to the gateway. Try again when it reconnects.", false);
    return;
  }
  S.availId = id;
  S.available = want; // the gateway's presence reply confirms it
  render();
}

function hangup() {
  if (S.call && S.call.direction === "INBOUND" && S.call.state === "ringing") {
    declineCall();
    return;
  }
  if (S.placing) {
    S.placing.cancel = true; // hang up as soon as the call exists
    render();
    return;
  }
  const call = S.call;
  if (!call || !LIVE_STATES.includes(call.state)) return;
  if (gw.send("hangup", { callId: call.callId })) call.hangingUp = true;
  else fail("not_connected", "Not connected to the gateway. Reconnecting… the call will be hung up if it can't be reached.", false);
  render();
}

function toggleMute() {
  const call = S.call;
  if (!call) return;
  call.muted = !call.muted;
  if (S.media) S.media.setMuted(call.muted);
  announce(call.muted ? "Microphone muted" : "Microphone on");
  render();
}

/** toggleHold holds the call (the gateway re-INVITEs the far end with sendonly) or resumes it. */
function toggleHold() {
  const call = S.call;
  if (!call || call.state !== "answered" || S.holdId) return;
  const id = gw.send(call.held ? "unhold" : "hold", { callId: call.callId });
  if (!id) {
    fail("not_connected", "Not connected to the gateway. Try again when it reconnects.", false);
    return;
  }
  S.holdId = id;
  announce(call.held ? "Resuming the call" : "Putting the call on hold");
  render();
}

function toggleKeypad() {
  if (!S.call) return;
  S.call.dtmfOpen = !S.call.dtmfOpen;
  if (S.call.dtmfOpen) S.call.xferOpen = false;
  render();
}

function toggleTransfer() {
  const call = S.call;
  if (!call) return;
  call.xferOpen = !call.xferOpen;
  if (call.xferOpen) {
    call.dtmfOpen = false;
    focusSoon("xfer-number");
  }
  render();
}

/** transferring: a transfer of the call is on its way (not failed, not done). */
function transferring(call) {
  return !!call && (!!call.xferId || (!!call.xfer && !["failed", "succeeded"].includes(call.xfer.state)));
}

function submitTransfer(ev) {
  ev.preventDefault();
  const call = S.call;
  const number = $("xfer-number").value.trim();
  if (!call || call.state !== "answered" || transferring(call)) return;
  if (!number) {
    call.xfer = { state: "failed", message: "Enter the number to transfer the call to." };
    render();
    return;
  }
  const id = gw.send("transfer", { callId: call.callId, to: number });
  if (!id) {
    fail("not_connected", "Not connected to the gateway. Try the transfer again when it reconnects.", false);
    return;
  }
  call.xferId = id;
  call.xfer = { state: "requested", to: number };
  render();
}

/** transferUpdate takes the gateway's "transfer" progress of the current call. */
function transferUpdate(m) {
  const call = S.call;
  if (!call || call.callId !== m.callId) return;
  if (m.re && m.re === call.xferId) call.xferId = "";
  call.xfer = m;
  if (m.initiator === "carrier") call.xferOpen = true;
  if (m.state === "failed") announce(m.message || "Transfer failed.");
  if (m.state === "succeeded") announce(`Transferred to ${formatNumber(m.to)}`);
}

const XFER_TEXT = {
  requested: (x) => `Transferring to ${formatNumber(x.to)}…`,
  accepted: (x) => `The carrier is transferring the call to ${formatNumber(x.to)}…`,
  trying: (x) => `Connecting ${formatNumber(x.to)}…`,
  ringing: (x) => `Ringing ${formatNumber(x.to)}…`,
  succeeded: (x) => `Transferred to ${formatNumber(x.to)}.`,
  failed: (x) => x.message || "Transfer failed. The call is still connected.",
};
const XFER_CARRIER_TEXT = {
  requested: (x) => `The other party is transferring you to ${formatNumber(x.to)}…`,
  ringing: (x) => `The other party is transferring you to ${formatNumber(x.to)}: ringing…`,
  succeeded: (x) => `You are now talking to ${formatNumber(x.to)}.`,
  failed: (x) => x.message || "The other party's transfer failed. The call is still connected.",
};

function renderTransfer(call, elsewhere) {
  const btn = $("btn-transfer");
  const open = !!(call && call.xferOpen) && !elsewhere;
  btn.setAttribute("aria-expanded", String(open));
  btn.disabled = !call || elsewhere || call.state !== "answered";
  show($("xfer"), open);
  $("view-call").classList.toggle("xfer-open", open);
  if (!open) return;
  const busy = transferring(call);
  $("xfer-number").disabled = busy;
  $("xfer-go").disabled = busy || call.state !== "answered";
  setText($("xfer-go"), busy ? "Transferring…" : "Transfer");
  const x = call.xfer;
  const status = $("xfer-status");
  show(status, !!x);
  if (!x) return;
  const texts = x.initiator === "carrier" ? XFER_CARRIER_TEXT : XFER_TEXT;
  const text = (texts[x.state] || XFER_TEXT.requested)(x);
  setText(status, text);
  status.dataset.tone = x.state === "failed" ? "bad" : x.state === "succeeded" ? "ok" : "";
}

// sendTone sends one keypad digit. Once the call is answered the gateway sends it to the
// carrier (RFC 4733 events or SIP INFO, as the trunk wants: the dtmf message); before that
// (early media, an IVR that answers with 183) the browser sends RFC 4733 events itself.
function sendTone(d) {
  const call = S.call;
  if (!call || !mine(call)) return;
  let sent = false;
  if (call.state === "answered") {
    sent = !!gw.send("dtmf", { callId: call.callId, digits: d });
  } else if (call.state === "early_media" && S.media) {
    sent = S.media.dtmf(d);
  }
  if (sent) {
    call.dtmfDigits = (call.dtmfDigits + d).slice(-24);
    render();
  }
}

function wrapUp(ev) {
  ev.preventDefault();
  const call = S.call;
  if (!call || call.state !== "ended" || S.wrapId) return;
  const id = gw.send("wrapUp", {
    callId: call.callId,
    outcome: $("wrap-outcome").value,
    notes: $("wrap-notes").value.slice(0, 10000),
  });
  if (!id) fail("not_connected", "Not connected to the gateway. Your notes are kept; save again when it reconnects.", false);
  else S.wrapId = id;
  render();
}

// ---------------------------------------------------------------------------------------
// Media

function startMedia(call) {
  if (!S.session) return;
  const restoring = !call.fresh;
  const media = new CallMedia({
    callId: call.callId,
    iceServers: S.session.iceServers,
    send: (type, fields) => {
      const id = gw.send(type, fields);
      if (type === "offer" && restoring && id) S.offerIds.add(id);
      return id;
    },
    onRemoteStream: attachRemote,
    onFailed: (message) => {
      if (S.media !== media) return;
      fail("media_failed", message, true);
      hangup();
    },
  });
  S.media = media;
  media.setMuted(call.muted);
  media.start().then(
    () => {
      if (S.banner && S.banner.code.startsWith("mic_")) S.banner = null;
      render();
    },
    (e) => {
      if (S.media !== media) return;
      closeMedia();
      if (e instanceof MicError) fail(e.code, e.message, true);
      else fail("media_failed", `Couldn't start the call audio (${e.message || e}).`, true);
      hangup();
    },
  );
}

function closeMedia() {
  if (S.media) S.media.close();
  S.media = null;
  S.offerIds.clear();
  S.remoteStream = null;
  const audio = $("remote-audio");
  if (audio.srcObject) audio.srcObject = null;
}

function attachRemote(stream) {
  S.remoteStream = stream;
  const audio = $("remote-audio");
  audio.srcObject = stream;
  const p = audio.play();
  if (p) p.catch((e) => console.warn("hubline: remote audio did not start", e));
}

function checkMic() {
  if (S.micChecked) return;
  S.micChecked = true;
  getMic().then(
    (stream) => {
      stream.getTracks().forEach((t) => t.stop()); // asked again per call; no mic light at idle
      if (S.banner && S.banner.code.startsWith("mic_")) S.banner = null;
      render();
    },
    (e) => fail(e.code || "mic_failed", e.message, true),
  );
}

// ---------------------------------------------------------------------------------------
// Errors

/** fail shows a local error in the widget and, if alert, in HubSpot. */
function fail(code, message, alert) {
  S.lastError = { code, message, at: Date.now() };
  showBanner(code, message);
  if (alert) hubspot.call("sendError", { message });
  render();
}

function showBanner(code, message) {
  S.banner = { code, message };
}

// ---------------------------------------------------------------------------------------
// Rendering

const $ = (id) => document.getElementById(id);

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
function show(el, on) {
  if (el.hidden === on) el.hidden = !on;
}
function liveCall() {
  return !!S.call && LIVE_STATES.includes(S.call.state);
}

function currentView() {
  if (!S.session) {
    if (S.conn.state === "open" && !S.resuming) return "login";
    if (S.conn.state === "waiting" && !S.token) return "unreachable";
    if (S.conn.state === "waiting" && S.conn.failures >= 2) return "unreachable";
    return "connecting";
  }
  if (S.call && S.call.state === "ended") return "wrapup";
  if (S.call && S.call.direction === "INBOUND" && S.call.state === "ringing") return "incoming";
  if (liveCall() || S.placing) return "call";
  return "idle";
}

function state() {
  switch (S.view || currentView()) {
    case "call":
      return S.call && LIVE_STATES.includes(S.call.state) ? S.call.state : "placing";
    case "wrapup":
      return "ended";
    case "incoming":
      return "incoming";
    default:
      return S.view;
  }
}

function retryIn() {
  return Math.max(1, Math.ceil((S.conn.retryAt - Date.now()) / 1000));
}

function render() {
  const view = currentView();
  const changed = view !== S.view;
  S.view = view;
  $("app").dataset.view = view;
  for (const v of ["connecting", "unreachable", "login", "idle", "incoming", "call", "wrapup"]) show($(`view-${v}`), v === view);

  // Header: connection state.
  const conn = $("conn");
  const cs = S.conn.state === "open" ? (S.session ? "online" : "open") : S.conn.state;
  conn.dataset.state = cs;
  setText($("conn-text"), { online: "Online", open: "Connected", connecting: "Connecting", waiting: "Offline" }[cs]);

  // Banner and reconnect strip.
  show($("banner"), !!S.banner);
  if (S.banner) setText($("banner-text"), S.banner.message);
  const stripOn = !!S.session && S.conn.state !== "open";
  show($("strip"), stripOn);
  if (stripOn) {
    setText(
      $("strip"),
      S.conn.state === "waiting"
        ? `Connection to the gateway lost. Reconnecting in ${retryIn()} s…`
        : "Reconnecting to the gateway…",
    );
  }
  const foot = $("foot");
  show(foot, hubspot.standalone);
  if (hubspot.standalone) setText(foot, "Standalone mode · not connected to HubSpot");

  if (view === "connecting") {
    setText($("connecting-text"), S.token ? "Signing you back in…" : "Getting your phone ready.");
  }
  if (view === "unreachable") {
    setText(
      $("unreachable-text"),
      S.conn.state === "waiting" ? `Retrying in ${retryIn()} s…` : "Trying again…",
    );
    $("retry-now").disabled = S.conn.state !== "waiting";
  }
  if (view === "login") renderLogin(changed);
  if (view === "idle") renderIdle();
  if (view === "incoming") renderIncoming();
  if (view === "call") renderCall();
  if (view === "wrapup") renderWrap();
}

function renderLogin(changed) {
  const err = $("login-error");
  show(err, !!S.loginError);
  setText(err, S.loginError);
  const busy = !!S.loginId;
  $("login-submit").disabled = busy;
  setText($("login-submit"), busy ? "Signing in…" : "Sign in");
  $("login-user").setAttribute("aria-invalid", S.loginError ? "true" : "false");
  $("login-pass").setAttribute("aria-invalid", S.loginError ? "true" : "false");
  show($("login-storage"), storageBlocked);
  if (changed && S.userActed) focusSoon($("login-user").value ? "login-pass" : "login-user");
}

function renderIdle() {
  const u = (S.session && S.session.user) || {};
  const name = u.displayName || u.username || "";
  setText($("rep-name"), name);
  setText($("rep-avatar"), initials(name) || "?");
  setText($("rep-cid"), formatNumber(u.fromNumber) || "not set");
  $("dial-call").disabled = S.conn.state !== "open";
  const toggle = $("presence-toggle");
  toggle.checked = S.available;
  toggle.disabled = S.conn.state !== "open" || !!S.availId;
  $("presence").dataset.on = String(S.available);
  setText($("presence-label"), S.available ? "Taking calls" : "Not taking calls");
  setText($("presence-sub"), S.available ? "Incoming calls ring here" : "Turn on to receive incoming calls");
}

function setAvatar(av, name) {
  const ini = initials(name);
  if (av.dataset.ini === ini && av.dataset.set) return;
  av.dataset.ini = ini;
  av.dataset.set = "1";
  av.textContent = ini;
  if (!ini) av.innerHTML = '<svg class="i" aria-hidden="true"><use href="#i-user"/></svg>';
}

function renderIncoming() {
  const call = S.call;
  const name = contextName(call.context);
  const kind = contextKind(call.context);
  setText($("in-name"), name || formatNumber(call.fromNumber));
  const sub = name ? [formatNumber(call.fromNumber), kind].filter(Boolean).join(" · ") : `To ${formatNumber(call.toNumber)}`;
  setText($("in-sub"), sub);
  setAvatar($("in-avatar"), name);
  setText($("in-status"), S.acceptId ? "Answering…" : call.hangingUp ? "Declining…" : "Incoming call");
  show($("in-record"), !!call.caller);
  $("btn-answer").disabled = !!S.acceptId || call.hangingUp || S.conn.state !== "open";
  $("btn-decline").disabled = !!S.acceptId || call.hangingUp;
}

function renderCall() {
  const call = S.call && LIVE_STATES.includes(S.call.state) ? S.call : null;
  const p = call ? null : S.placing;
  const ctx = call ? call.context : p && p.context;
  const number = call ? farNumber(call) : p && p.toNumber;
  const name = contextName(ctx);
  const kind = contextKind(ctx);
  setText($("call-name"), name || formatNumber(number));
  const inbound = !!call && call.direction === "INBOUND";
  const sub = name
    ? [formatNumber(number), kind].filter(Boolean).join(" · ")
    : kind
      ? `HubSpot ${kind.toLowerCase()}`
      : inbound
        ? "Inbound call"
        : "Outbound call";
  setText($("call-sub"), sub);
  const av = $("call-avatar");
  const ini = initials(name);
  if (av.dataset.ini !== ini) {
    av.dataset.ini = ini;
    av.textContent = ini;
    if (!ini) av.innerHTML = '<svg class="i" aria-hidden="true"><use href="#i-user"/></svg>';
  }
  const st = call ? call.state : "placing";
  const hanging = (call && call.hangingUp) || (p && p.cancel);
  $("call-status").dataset.state = hanging ? "ending" : st;
  let status = hanging ? "Hanging up…" : STATE_TEXT[st];
  if (!hanging && call && st === "answered" && call.heldByRemote) status = "On hold by the other side";
  else if (!hanging && call && st === "answered" && call.held) status = "On hold";
  setText($("call-status-text"), status);
  const timer = $("call-timer");
  const talking = call && call.state === "answered" && call.answeredAt;
  show(timer, !!talking);
  if (talking) setText(timer, formatDuration(Date.now() - call.answeredAt));
  // calls.maxDuration: the gateway hangs up at endsAt; say so from a minute before.
  const left = talking && call.endsAt ? call.endsAt - Date.now() : Infinity;
  show($("call-limit"), left <= 60000);
  if (left <= 60000) {
    setText($("call-limit"), `This call reaches the maximum call duration and ends in ${Math.max(0, Math.ceil(left / 1000))} s.`);
  }

  // Another instance (the calling window) holds the audio: this one mirrors the call.
  const elsewhere = !!call && !!call.owner && !mine(call);
  $("view-call").classList.toggle("elsewhere", elsewhere);
  show($("call-where"), elsewhere);
  if (elsewhere) {
    setText($("call-where"), S.location === "remote" ? "The call's audio is in the calling window." : "The call's audio is in another HubSpot tab.");
  }
  show($("call-record"), !!call && !!call.caller);
  const muted = !!(call && call.muted);
  const mute = $("btn-mute");
  mute.setAttribute("aria-pressed", String(muted));
  mute.disabled = !call || elsewhere;
  setText($("mute-label"), muted ? "Muted" : "Mute");
  const hold = $("btn-hold");
  const held = !!(call && call.held);
  hold.setAttribute("aria-pressed", String(held));
  hold.disabled = !call || elsewhere || call.state !== "answered" || !!S.holdId;
  setText($("hold-label"), S.holdId ? (held ? "Resuming…" : "Holding…") : held ? "Resume" : "Hold");
  renderTransfer(call, elsewhere);
  const kp = $("btn-keypad");
  const open = !!(call && call.dtmfOpen);
  kp.setAttribute("aria-expanded", String(open));
  kp.disabled = !call || elsewhere;
  show($("dtmf"), open);
  $("view-call").classList.toggle("dtmf-open", open);
  if (open) {
    setText($("dtmf-digits"), call.dtmfDigits);
    const canTone = mine(call) && (call.state === "answered" || (call.state === "early_media" && !!S.media));
    for (const b of $("dtmf-keypad").querySelectorAll("button")) b.disabled = !canTone;
  }
  const heard = (call && call.dtmfHeard) || "";
  show($("dtmf-heard"), !!heard);
  setText($("dtmf-heard-digits"), heard);
  $("btn-hangup").disabled = !!hanging;
}

let outcomesKey = "";
function renderWrap() {
  const call = S.call;
  const sum = endSummary(call);
  const chip = $("wrap-status");
  chip.dataset.tone = sum.tone;
  setText(chip, sum.text);
  const det = $("wrap-detail");
  show(det, !!sum.detail);
  setText(det, sum.detail);
  const name = contextName(call.context);
  setText($("wrap-name"), name || formatNumber(farNumber(call)));
  const kind = contextKind(call.context);
  setText($("wrap-number"), name ? formatNumber(farNumber(call)) : kind ? `HubSpot ${kind.toLowerCase()}` : "");
  const outcomes = (S.session && S.session.outcomes) || [];
  const key = JSON.stringify(outcomes);
  if (key !== outcomesKey) {
    outcomesKey = key;
    const sel = $("wrap-outcome");
    const keep = sel.value;
    sel.replaceChildren(new Option("No outcome", ""), ...outcomes.map((o) => new Option(o.label || o.key, o.key)));
    sel.value = keep;
  }
  const saving = !!S.wrapId;
  $("wrap-save").disabled = saving;
  setText($("wrap-save"), saving ? "Saving…" : hubspot.standalone ? "Save" : "Save to HubSpot");
}

function resetWrapForm() {
  $("wrap-outcome").value = "";
  $("wrap-notes").value = "";
}

/** prefillOutcome picks the outcome whose label matches how the call ended, if any. */
function prefillOutcome(call) {
  const sel = $("wrap-outcome");
  if (sel.value) return;
  renderWrap(); // make sure the options exist
  const want = { BUSY: /busy/i, NO_ANSWER: /no.?answer/i, COMPLETED: /connected/i }[call.endStatus];
  if (!want) return;
  const opt = [...sel.options].find((o) => o.value && want.test(o.text));
  if (opt) sel.value = opt.value;
}

function announce(text) {
  if (!text) return;
  const el = $("sr-status");
  el.textContent = "";
  setTimeout(() => (el.textContent = text), 50);
}

function focusSoon(id) {
  setTimeout(() => {
    const el = $(id);
    if (el && !el.closest("[hidden]")) el.focus();
  }, 0);
}

// ---------------------------------------------------------------------------------------
// Keypads

const KEYS = [
  ["1", ""], ["2", "ABC"], ["3", "DEF"],
  ["4", "GHI"], ["5", "JKL"], ["6", "MNO"],
  ["7", "PQRS"], ["8", "TUV"], ["9", "WXYZ"],
  ["*", ""], ["0", "+"], ["#", ""],
];

function buildKeypad(container, onKey, longZeroPlus) {
  for (const [d, letters] of KEYS) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "key";
    b.dataset.key = d;
    b.setAttribute("aria-label", d === "*" ? "star" : d === "#" ? "pound" : d);
    const digit = document.createElement("span");
    digit.className = "key-digit";
    digit.textContent = d;
    const sub = document.createElement("span");
    sub.className = "key-sub";
    sub.textContent = letters;
    sub.setAttribute("aria-hidden", "true");
    b.append(digit, sub);
    let timer = 0;
    let long = false;
    if (longZeroPlus && d === "0") {
      b.title = "Hold for +";
      b.addEventListener("pointerdown", () => {
        long = false;
        timer = setTimeout(() => {
          long = true;
          onKey("+");
        }, 550);
      });
      for (const t of ["pointerup", "pointerleave", "pointercancel"]) b.addEventListener(t, () => clearTimeout(timer));
    }
    b.addEventListener("click", () => {
      if (long) {
        long = false;
        return;
      }
      onKey(d);
    });
    container.append(b);
  }
}

function dialKey(k) {
  const input = $("dial-number");
  if (input.value.length >= 32) return;
  input.value += k;
}

// ---------------------------------------------------------------------------------------
// Storage

function stores() {
  const out = [];
  try {
    out.push(window.sessionStorage);
  } catch {
    /* blocked (third-party storage policy) */
  }
  try {
    out.push(window.localStorage);
  } catch {
    /* blocked */
  }
  return out;
}
/** storageBlocked: the browser gives this (third-party) frame no storage at all. */
const storageBlocked = stores().length === 0;

function loadToken() {
  for (const s of stores()) {
    try {
      const v = s.getItem(TOKEN_KEY);
      if (v) return v;
    } catch {
      /* blocked */
    }
  }
  return "";
}
function saveToken(t) {
  for (const s of stores()) {
    try {
      s.setItem(TOKEN_KEY, t);
    } catch {
      /* blocked or full */
    }
  }
}
function clearToken() {
  for (const s of stores()) {
    try {
      s.removeItem(TOKEN_KEY);
    } catch {
      /* blocked */
    }
  }
}

// ---------------------------------------------------------------------------------------
// Test hooks

const an = { ctx: null, node: null, src: null, stream: null };

function analyser(freqHz) {
  const stream = S.remoteStream;
  if (!stream) return 0;
  if (!an.ctx) {
    an.ctx = new AudioContext();
    an.node = an.ctx.createAnalyser();
    an.node.fftSize = 4096;
    an.node.smoothingTimeConstant = 0;
  }
  if (an.ctx.state === "suspended") an.ctx.resume().catch(() => {});
  if (an.stream !== stream) {
    if (an.src) an.src.disconnect();
    // The stream is already on the <audio> element (Chrome needs that for remote audio).
    an.src = an.ctx.createMediaStreamSource(stream);
    an.src.connect(an.node);
    an.stream = stream;
  }
  const bins = new Float32Array(an.node.frequencyBinCount);
  an.node.getFloatFrequencyData(bins);
  const binHz = an.ctx.sampleRate / an.node.fftSize;
  const target = Math.round(freqHz / binHz);
  let total = 0;
  let near = 0;
  let peak = -Infinity;
  for (let i = 1; i < bins.length; i++) {
    const db = bins[i];
    if (!Number.isFinite(db)) continue;
    peak = Math.max(peak, db);
    const power = 10 ** (db / 10);
    total += power;
    if (Math.abs(i - target) <= 2) near += power;
  }
  if (peak < -110 || total <= 0) return 0; // silence
  return near / total;
}

window.hubline = {
  state,
  lastError: () => S.lastError,
  analyser,
  events,
  instance: () => (S.session ? S.session.instance : ""),
  available: () => S.available,
  call: () => (S.call ? { ...S.call } : null),
};

// ---------------------------------------------------------------------------------------
// Start

function bind() {
  document.addEventListener("pointerdown", () => (S.userActed = true), { capture: true });
  document.addEventListener("keydown", () => (S.userActed = true), { capture: true });
  $("login-form").addEventListener("submit", login);
  $("dial-form").addEventListener("submit", dial);
  $("dial-back").addEventListener("click", () => {
    const input = $("dial-number");
    input.value = input.value.slice(0, -1);
  });
  $("signout").addEventListener("click", logout);
  $("retry-now").addEventListener("click", () => gw.connect());
  $("banner-close").addEventListener("click", () => {
    S.banner = null;
    render();
  });
  $("btn-hangup").addEventListener("click", hangup);
  $("btn-mute").addEventListener("click", toggleMute);
  $("btn-keypad").addEventListener("click", toggleKeypad);
  $("btn-hold").addEventListener("click", toggleHold);
  $("btn-transfer").addEventListener("click", toggleTransfer);
  $("xfer").addEventListener("submit", submitTransfer);
  $("wrap-form").addEventListener("submit", wrapUp);
  $("btn-answer").addEventListener("click", acceptCall);
  $("btn-decline").addEventListener("click", declineCall);
  $("in-record").addEventListener("click", openRecord);
  $("call-record").addEventListener("click", openRecord);
  $("presence-toggle").addEventListener("change", toggleAvailable);
  buildKeypad($("dial-keypad"), dialKey, true);
  buildKeypad($("dtmf-keypad"), sendTone, false);
  document.addEventListener("keydown", (ev) => {
    if (S.view !== "call" || !S.call || !["answered", "early_media"].includes(S.call.state)) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) return;
    if (/^[0-9*#]$/.test(ev.key)) {
      ev.preventDefault();
      S.call.dtmfOpen = true; // typing opens the keypad, so the rep sees what was sent
      sendTone(ev.key);
    }
  });
}

// Another instance of the softphone (HubSpot's remote in another tab, the calling window)
// signed in: its token lands in the shared storage, and this instance resumes the same
// session. Everything else comes from the gateway.
window.addEventListener("storage", (ev) => {
  if (ev.key !== TOKEN_KEY || !ev.newValue || S.session || S.resuming || S.loginId) return;
  S.token = ev.newValue;
  if (gw.isOpen) S.resuming = gw.send("resume", { token: S.token });
  render();
});

bind();
render();
gw.connect();
setInterval(() => {
  if (S.placing && Date.now() - S.placing.at > PLACING_TIMEOUT_MS) {
    S.placing = null;
    fail("dial_timeout", "The call didn't start: the gateway did not answer. Try again.", false);
  }
  if (["call", "unreachable"].includes(S.view) || (S.session && S.conn.state === "waiting")) render();
}, 1000);
