/*
 * hubline's HubSpot host simulator: a fake CRM page that embeds the softphone the way
 * HubSpot does and plays HubSpot's side of the Calling Extensions SDK (host.js), so the
 * softphone can be run, tried and tested in a real browser without HubSpot. Served by the
 * gateway in development mode only, at /hubspot/ (cmd/gateway/hostsim.go).
 *
 * What it reproduces (spec calling-extensions.md (d)):
 *   - the iframe (SDK IFrameManager.createIFrame: allow="microphone; autoplay"), its URL
 *     and size from the calling settings: the app's settings (settings.json, shaped like
 *     the settings API) with localStorage["LocalSettings:Calling:CallingExtensions"] (or
 *     the old "LocalSettings:Sales:CallingExtensions") merged over them, as HubSpot does;
 *   - the SYNC loop on every load (every 100 ms, SYNC_ACK_FAILED after 30 s) with
 *     hostUrl, portalId, userId, ownerId, iframeLocation, usesCallingWindow and, during a
 *     call, engagementId; ids "host_<n>", which cannot collide with the SDK's;
 *   - origin checks both ways (post to the iframe's origin; accept only its window and
 *     origin, with type and messageId; nothing before SYNC_ACK);
 *   - answers: CREATE_ENGAGEMENT_*, UPDATE_ENGAGEMENT_*, CALLER_ID_MATCH_*,
 *     NAVIGATE_TO_RECORD_FAILED, FINALIZE_ENGAGEMENT_*, PUBLISH_TO_CHANNEL_*,
 *     SET_WIDGET_URL_FAILED, ERROR UNKNOWN_MESSAGE_TYPE; RESIZE_WIDGET resizes; ERROR
 *     shows HubSpot's alert; the widget hides after CALL_COMPLETED unless hideWidget is
 *     false; VISIBILITY_CHANGED on minimise/close/reopen; END_CALL from the CRM's End call;
 *   - click-to-call from fake records (DIAL_NUMBER with the observed payload), refused
 *     with an alert unless the app is initialised and logged in;
 *   - a log of every message both ways and a timeline of the logged calls;
 *   - faults: no SYNC_ACK, every *_FAILED, duplicate SYNCs, objectId: 0, reload mid-call.
 *
 * Inbound calling: with usesRemote the page also runs the nav-bar calling remote
 * (iframeLocation "remote", its own SYNC handshake and log), and with usesCallingWindow
 * the docked instance is the calling window (iframeLocation "window") instead of the
 * record widget; each instance is its own host with its own origin checks. INCOMING_CALL
 * gets CREATE_ENGAGEMENT_* and CALLER_ID_MATCH_* (from the fake CRM's numbers) and shows
 * the matched record; NAVIGATE_TO_RECORD opens it; INCOMING_CALL from an unavailable user
 * is flagged.
 *
 * Not reproduced: BroadcastChannel between instances (hubline needs none), HubSpot's own
 * dialler UI and recording/transcription, REST APIs.
 *
 * Query parameters (tests; they win over the saved switches): fault=a,b (FAULTS keys),
 * fail=CREATE_ENGAGEMENT,… (FAILABLE), syncTimeoutMs=N, record=<id>.
 *
 * Test hooks (window.hostsim): state(), log(), problems(), calls(), alerts(), settings(),
 * instances() (each instance's state, by iframeLocation).
 */
import { CallingHost, FAILABLE, FAULTS, SYNC_TIMEOUT_MS } from "./host.js";
import { CALL_STATUS, DISPOSITIONS, OWNERS, PORTAL, RECORDS, dialPayload, record, recordsWithNumber } from "./crm.js";

const OVERRIDE_KEY = "LocalSettings:Calling:CallingExtensions";
const OLD_OVERRIDE_KEY = "LocalSettings:Sales:CallingExtensions";
const SWITCHES_KEY = "hubline:hostsim:switches";
const MAX_ALERTS = 4;
const WARN_ALERT_MS = 8000;

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
};
const icon = (id, cls = "i") => {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(ns, "use");
  use.setAttribute("href", `#${id}`);
  svg.append(use);
  return svg;
};

// ---------------------------------------------------------------------------------------
// Settings and switches

function readStore(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function readOverride() {
  for (const key of [OVERRIDE_KEY, OLD_OVERRIDE_KEY]) {
    const raw = readStore(key);
    if (!raw) continue;
    try {
      const v = JSON.parse(raw);
      if (v && typeof v === "object" && !Array.isArray(v)) return { key, raw, value: v, error: "" };
      return { key, raw, value: {}, error: `${key} is not a JSON object; ignored` };
    } catch (e) {
      return { key, raw, value: {}, error: `${key} is not valid JSON; ignored` };
    }
  }
  return { key: "", raw: "", value: {}, error: "" };
}

async function loadSettings() {
  let base;
  try {
    const res = await fetch("settings.json", { cache: "no-store" });
    base = await res.json();
  } catch {
    base = { name: "hubline", url: new URL("/softphone/", window.location.href).href, width: 400, height: 600 };
  }
  const override = readOverride();
  return { base, override, settings: { ...base, ...override.value } };
}

function loadSwitches() {
  const q = new URLSearchParams(window.location.search);
  const list = (s) => (s || "").split(",").map((x) => x.trim()).filter(Boolean);
  const fromQuery = q.has("fault") || q.has("fail");
  let saved = {};
  if (!fromQuery) {
    try {
      saved = JSON.parse(readStore(SWITCHES_KEY) || "{}") || {};
    } catch {
      saved = {};
    }
  }
  const faults = {};
  for (const k of Object.keys(FAULTS)) faults[k] = fromQuery ? list(q.get("fault")).includes(k) : !!(saved.faults || {})[k];
  const fail = new Set((fromQuery ? list(q.get("fail")) : saved.fail || []).filter((n) => FAILABLE.includes(n)));
  const timeout = Number(q.get("syncTimeoutMs"));
  return {
    faults,
    fail,
    fromQuery,
    syncTimeoutMs: timeout > 0 ? timeout : SYNC_TIMEOUT_MS,
    record: Number(q.get("record")) || 0,
  };
}

function saveSwitches(sw) {
  if (sw.fromQuery) return;
  try {
    window.localStorage.setItem(SWITCHES_KEY, JSON.stringify({ faults: sw.faults, fail: [...sw.fail] }));
  } catch {
    /* storage blocked: switches last for this page only */
  }
}

// ---------------------------------------------------------------------------------------
// Formatting

const pad = (n, w = 2) => String(n).padStart(w, "0");
const clock = (t) => {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
};
const when = (t) =>
  new Date(t).toLocaleString("en-US", { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
}
function timer(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${pad(Math.floor(s / 60))}:${pad(s % 60)}`;
}
const initials = (name) =>
  name
    .split(/\s+/)
    .filter((p) => /^\p{L}/u.test(p))
    .map((p) => p[0])
    .slice(0, 2)
    .join("")
    .toUpperCase();
const shortId = (id) => (id ? `${String(id).slice(0, 8)}…` : "");

// ---------------------------------------------------------------------------------------
// Page state

const UI = {
  tab: "CONTACT",
  recordId: RECORDS[0].id,
  showAll: false,
  alerts: [], // every alert shown: {at, kind, message, from}
};

let host; // the docked instance: the record widget, or the calling window
let remote = null; // the nav-bar calling remote (settings.usesRemote)
let hosts = [];
let switches;
let loaded;

async function start() {
  loaded = await loadSettings();
  switches = loadSwitches();
  const { settings } = loaded;
  if (switches.record && record(switches.record)) {
    UI.recordId = switches.record;
    UI.tab = record(switches.record).type;
  }

  const counter = { n: 0 };
  const common = {
    settings,
    portal: PORTAL,
    faults: switches.faults,
    fail: switches.fail,
    syncTimeoutMs: switches.syncTimeoutMs,
    lookup: recordsWithNumber,
    recordById: record,
    counter,
  };
  host = new CallingHost({
    ...common,
    hostElementSelector: "#widget-frame",
    location: settings.usesCallingWindow ? "window" : "widget",
  });
  hosts = [host];
  if (settings.usesRemote) {
    remote = new CallingHost({
      ...common,
      settings: { ...settings, width: 340, height: 300 },
      hostElementSelector: "#remote-frame",
      location: "remote",
      frameId: "hubspot-calling-extension-remote",
    });
    hosts.push(remote);
  }
  for (const h of hosts) {
    h.on("log", addLog);
    h.on("logupdate", updateLog);
    h.on("state", renderWidget);
    h.on("call", (c) => {
      // HubSpot shows the record the call is filed on.
      const ringing = c.status === "CONNECTING" || c.status === "RINGING";
      if (c.recordId && ringing && !c.answeredAt && record(c.recordId)) selectRecord(c.recordId);
      renderRecord();
      renderWidget();
    });
    h.on("alert", (a) => showAlert(a.kind, a.message, a.from));
    h.on("visibility", renderWidget);
    h.on("resize", renderWidget);
    h.on("navigate", (n) => selectRecord(n.recordId));
  }

  renderChrome();
  renderList();
  renderRecord();
  renderControls();
  bind();
  if (remote) {
    $("remote").hidden = false;
    remote.mount();
  }
  if (host.location === "window") {
    $("widget").classList.add("calling-window");
    $("widget-name").textContent = `${settings.name || "Calling"} · calling window`;
  }
  host.mount();
  renderWidget();
  setInterval(() => {
    const live = host.liveCall();
    if (!live) return;
    renderWidget();
    const f = document.querySelector(`[data-call="${CSS.escape(live.externalCallId)}"] [data-field="duration"]`);
    if (f && live.answeredAt) f.textContent = timer(Date.now() - live.answeredAt);
  }, 1000);

  window.hostsim = {
    ready: true,
    state: () => host.snapshot(),
    log: () => allLogs().map((e) => ({ ...e })),
    problems: () => hosts.flatMap((h) => h.problems.map((p) => ({ ...p, instance: h.location }))),
    calls: () => allCalls().map((c) => ({ ...c, properties: { ...c.properties } })),
    alerts: () => UI.alerts.map((a) => ({ ...a })),
    settings: () => ({ ...settings }),
    instances: () => Object.fromEntries(hosts.map((h) => [h.location, h.snapshot()])),
  };
}

// ---------------------------------------------------------------------------------------
// Chrome, records, timeline

function renderChrome() {
  $("nav-portal").textContent = `Portal ${PORTAL.portalId}`;
  $("nav-avatar").textContent = initials(PORTAL.user);
  $("nav-name").textContent = PORTAL.user;
  $("widget-name").textContent = loaded.settings.name || "Calling";
  for (const b of document.querySelectorAll(".nav-link")) b.setAttribute("aria-pressed", String(b.dataset.tab === UI.tab));
}

function renderList() {
  const recs = RECORDS.filter((r) => r.type === UI.tab);
  $("list-title").textContent = UI.tab === "CONTACT" ? "Contacts" : "Companies";
  $("list-count").textContent = String(recs.length);
  $("records").replaceChildren(
    ...recs.map((r) =>
      el(
        "li",
        { class: `row${r.id === UI.recordId ? " row-on" : ""}` },
        el(
          "button",
          { type: "button", class: "row-main", "data-record": r.id, onclick: () => selectRecord(r.id) },
          el("span", { class: `avatar avatar-${r.type.toLowerCase()}`, "aria-hidden": "true", text: initials(r.name) }),
          el(
            "span",
            { class: "row-text" },
            el("span", { class: "row-name", text: r.name }),
            el("span", { class: "row-sub", text: r.type === "CONTACT" ? `${r.title} · ${r.company}` : r.title }),
            el("span", { class: "row-phone", text: r.phones[0].value }),
          ),
        ),
        el(
          "button",
          { type: "button", class: "call-btn", "data-dial": `${r.id}:0`, title: `Call ${r.phones[0].value}`, "aria-label": `Call ${r.name}`, onclick: () => clickToCall(r, 0) },
          icon("i-phone", "i i-fill"),
        ),
      ),
    ),
  );
}

function selectRecord(id) {
  const r = record(id);
  if (!r) return;
  UI.recordId = r.id;
  if (UI.tab !== r.type) {
    UI.tab = r.type;
    renderChrome();
  }
  renderList();
  renderRecord();
}

/** The instances' logs, merged in the order they happened. */
function allLogs() {
  return hosts.flatMap((h) => h.log).sort((a, b) => a.seq - b.seq);
}

/** The calls HubSpot logged, from every instance, in start order. */
function allCalls() {
  return hosts.flatMap((h) => [...h.calls.values()]).sort((a, b) => a.startedAt - b.startedAt);
}

function renderRecord() {
  const r = record(UI.recordId);
  const calls = allCalls().filter((c) => UI.showAll || c.recordId === r.id).reverse();
  const owner = OWNERS[r.ownerId] || "No owner";
  const actions = [
    ["i-note", "Note"],
    ["i-mail", "Email"],
    ["i-phone", "Call"],
    ["i-task", "Task"],
  ].map(([ic, label]) =>
    el(
      "button",
      {
        type: "button",
        class: `action${label === "Call" ? " action-call" : ""}`,
        disabled: label !== "Call",
        title: label === "Call" ? `Call ${r.phones[0].value}` : `${label}: not simulated`,
        "data-dial": label === "Call" ? `${r.id}:0` : null,
        onclick: label === "Call" ? () => clickToCall(r, 0) : null,
      },
      el("span", { class: "action-icon" }, icon(ic, label === "Call" ? "i i-fill" : "i")),
      el("span", { text: label }),
    ),
  );
  const about = el(
    "dl",
    { class: "about" },
    ...r.phones.flatMap((p, i) => [
      el("dt", { text: p.label }),
      el(
        "dd",
        { class: "phone" },
        el("span", { class: "num", text: p.value }),
        el("button", { type: "button", class: "link-call", "data-dial": `${r.id}:${i}`, onclick: () => clickToCall(r, i) }, icon("i-phone", "i i-fill"), "Call"),
      ),
    ]),
    r.email ? [el("dt", { text: "Email" }), el("dd", { text: r.email })] : [],
    r.domain ? [el("dt", { text: "Domain" }), el("dd", { text: r.domain })] : [],
    el("dt", { text: "Record owner" }),
    el("dd", { text: owner }),
    el("dt", { text: "Lifecycle stage" }),
    el("dd", { text: r.lifecycle }),
    r.hint ? [el("dt", { text: "Demo trunk" }), el("dd", { class: "hint", text: r.hint })] : [],
  );
  $("record").replaceChildren(
    el(
      "section",
      { class: "card head" },
      el("span", { class: `avatar avatar-lg avatar-${r.type.toLowerCase()}`, "aria-hidden": "true", text: initials(r.name) }),
      el(
        "div",
        { class: "head-text" },
        el("h1", { text: r.name }),
        el("p", { class: "muted", text: r.type === "CONTACT" ? `${r.title} at ${r.company}` : r.title }),
        el("p", { class: "meta" }, el("span", { class: "pill", text: r.type === "CONTACT" ? "Contact" : "Company" }), el("span", { text: `Record ID ${r.id}` })),
      ),
      el("div", { class: "actions-row" }, ...actions),
    ),
    el("section", { class: "card" }, el("h2", { text: "About" }), about),
    el(
      "section",
      { class: "card timeline", id: "timeline" },
      el(
        "div",
        { class: "tl-head" },
        el("h2", { text: "Activity" }),
        el(
          "label",
          { class: "toggle" },
          el("input", {
            type: "checkbox",
            id: "tl-all",
            checked: UI.showAll,
            onchange: (e) => {
              UI.showAll = e.target.checked;
              renderRecord();
            },
          }),
          " All calls",
        ),
      ),
      calls.length
        ? el("ol", { class: "tl" }, ...calls.map(callCard))
        : el("p", { class: "muted empty", text: UI.showAll ? "No calls yet." : "No calls logged on this record yet. Click Call to place one." }),
    ),
  );
}

function callCard(c) {
  const rec = record(c.recordId);
  const who = rec ? rec.name : c.direction === "OUTBOUND" ? c.toNumber : c.fromNumber;
  const inboundStatus = c.transferred && !c.answeredAt ? "Routed to a colleague" : "";
  const p = c.properties || {};
  const status = p.hs_call_status || c.status;
  const live = !c.ended && !c.completed;
  const dur = p.hs_call_duration
    ? duration(Number(p.hs_call_duration))
    : c.answeredAt
      ? live
        ? timer(Date.now() - c.answeredAt)
        : duration((c.endedAt || Date.now()) - c.answeredAt)
      : "";
  const outcome = DISPOSITIONS[p.hs_call_disposition] || (p.hs_call_disposition ? p.hs_call_disposition : "");
  const saved = c.updated
    ? el("span", { class: "tag tag-ok", text: "Logged" })
    : c.updateError
      ? el("span", { class: "tag tag-bad", text: "Not saved" })
      : c.engagementError
        ? el("span", { class: "tag tag-bad", text: "No call record" })
        : c.completed
          ? el("span", { class: "tag", text: "Completed" })
          : el("span", { class: `tag ${live ? "tag-live" : ""}`, text: live ? "Live" : "Wrap-up" });
  return el(
    "li",
    { class: `call${live ? " call-live" : ""}`, "data-call": c.externalCallId },
    el("span", { class: "call-icon", "aria-hidden": "true" }, icon("i-phone", "i i-fill")),
    el(
      "div",
      { class: "call-body" },
      el(
        "div",
        { class: "call-top" },
        el("strong", { text: `${c.direction === "OUTBOUND" ? "Outbound" : "Inbound"} call` }),
        saved,
        el("time", { text: when(c.startedAt) }),
      ),
      el("p", { class: "call-who", text: `${PORTAL.user} ${c.direction === "OUTBOUND" ? "called" : "took a call from"} ${who}` }),
      el(
        "dl",
        { class: "call-facts" },
        el("dt", { text: "Status" }),
        el("dd", { "data-field": "status", text: inboundStatus || CALL_STATUS[status] || status || "—" }),
        el("dt", { text: "Outcome" }),
        el("dd", { "data-field": "outcome", text: outcome || "—" }),
        el("dt", { text: "Duration" }),
        el("dd", { "data-field": "duration", text: dur || "—" }),
      ),
      p.hs_call_body ? el("p", { class: "call-notes", "data-field": "notes", text: p.hs_call_body }) : null,
      c.updateError || c.engagementError ? el("p", { class: "call-error", text: c.updateError || c.engagementError }) : null,
      el(
        "p",
        { class: "call-ids" },
        el("span", { text: `Engagement ${c.engagementId != null ? c.engagementId : "—"}` }),
        el("span", { title: c.externalCallId, text: `externalCallId ${shortId(c.externalCallId)}` }),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------
// The widget

function renderWidget() {
  const s = host.snapshot();
  const w = $("widget");
  w.dataset.sync = s.sync;
  const live = host.liveCall();
  const open = host.openCall();
  let status;
  let tone = "idle";
  if (s.sync === "loading") status = "Loading…";
  else if (s.sync === "syncing") status = "Connecting…";
  else if (s.sync === "failed") {
    status = "Couldn't connect";
    tone = "bad";
  } else if (!s.initialized) status = "Starting…";
  else if (live) {
    const rec = record(live.recordId);
    const who = rec ? rec.name : live.direction === "INBOUND" ? live.fromNumber : live.toNumber;
    if (live.answeredAt) {
      status = `On call with ${who} · ${timer(Date.now() - live.answeredAt)}`;
      tone = "live";
    } else {
      status = live.direction === "INBOUND" ? `Incoming call from ${who}…` : `Calling ${who}…`;
      tone = "ringing";
    }
  } else if (open) status = "Wrap-up";
  else if (!s.loggedIn) {
    status = "Not logged in";
    tone = "warn";
  } else {
    status = s.available ? "Ready · available for calls" : "Ready";
    tone = "ok";
  }
  if (remote) {
    const r = remote.snapshot();
    $("remote-status").textContent =
      r.sync !== "synced" ? "Connecting…" : !r.initialized ? "Starting…" : r.loggedIn ? "Ready" : "Not logged in";
  }
  $("widget-status").textContent = status;
  w.dataset.tone = tone;
  $("end-call").hidden = !live || s.sync !== "synced";
  $("widget-close").disabled = !!live;
  w.hidden = s.visibility.isHidden;
  $("launcher").hidden = !s.visibility.isHidden;
  w.classList.toggle("minimized", s.visibility.isMinimized);
  const min = $("widget-min");
  min.replaceChildren(icon(s.visibility.isMinimized ? "i-max" : "i-min"));
  min.setAttribute("aria-label", s.visibility.isMinimized ? "Restore calling widget" : "Minimize calling widget");
  w.style.width = `${Number(s.size.width) + 2}px`;

  const ov = $("widget-overlay");
  const failed = s.sync === "failed";
  ov.hidden = !(failed || s.sync === "loading");
  ov.dataset.kind = failed ? "failed" : "loading";
  $("overlay-spinner").hidden = failed;
  $("overlay-icon").hidden = !failed;
  $("overlay-retry").hidden = !failed;
  const name = loaded.settings.name || "the calling app";
  $("overlay-title").textContent = failed ? `There was an issue connecting to ${name}` : `Loading ${name}…`;
  $("overlay-text").textContent = failed
    ? `HubSpot didn't hear back from the calling app within ${Math.round(switches.syncTimeoutMs / 100) / 10} seconds. Check that it is running, then try again.`
    : "";
}

function clickToCall(rec, phoneIndex) {
  const phone = rec.phones[phoneIndex];
  selectRecord(rec.id);
  const res = host.dial(dialPayload(rec, phone, { objectIdZero: switches.faults.objectIdZero }));
  if (!res.ok) showAlert(res.kind || "error", res.message, "hubspot");
}

// ---------------------------------------------------------------------------------------
// Alerts: HubSpot shows the app's sendError messages (and its own refusals) as alerts.

function showAlert(kind, message, from) {
  const a = { at: Date.now(), kind, message, from };
  UI.alerts.push(a);
  const box = $("alerts");
  const title = from === "app" ? `${loaded.settings.name || "Calling app"} reported an error` : "Calling";
  const node = el(
    "div",
    { class: `alert alert-${kind}`, role: "alert", "data-from": from },
    icon("i-alert", "i alert-icon"),
    el("div", { class: "alert-text" }, el("strong", { text: title }), el("p", { text: message })),
    el("button", { type: "button", class: "icon-btn", "aria-label": "Dismiss", onclick: () => node.remove() }, icon("i-x")),
  );
  box.append(node);
  while (box.children.length > MAX_ALERTS) box.firstElementChild.remove();
  // Warnings go away by themselves; errors stay until dismissed.
  if (kind === "warn") setTimeout(() => node.remove(), WARN_ALERT_MS);
}

// ---------------------------------------------------------------------------------------
// The message log

let lastRow = null;

function summary(e) {
  const d = e.data || {};
  switch (e.type) {
    case "SYNC":
      return `portal ${d.portalId} · ${d.iframeLocation}${d.engagementId != null ? ` · engagement ${d.engagementId}` : ""}`;
    case "SYNC_ACK":
      return `SDK ${d.version || "?"} · ${d.iFrameUrl || ""}`;
    case "INITIALIZED":
      return `isLoggedIn: ${d.isLoggedIn}${d.engagementId != null ? ` · engagement ${d.engagementId}` : ""}`;
    case "DIAL_NUMBER":
      return `${d.phoneNumber} · ${d.objectType} ${d.objectId}`;
    case "INCOMING_CALL":
      return `from ${d.fromNumber} to ${d.toNumber} · ${shortId(d.externalCallId)}`;
    case "CALLER_ID_MATCH_SUCCEEDED":
      return (d.callerIdMatches || []).map((m) => m.name || `${m.firstName} ${m.lastName}`).join(", ");
    case "CALL_TRANSFERRED":
      return shortId(d.externalCallId);
    case "NAVIGATE_TO_RECORD":
      return `record ${d.objectCoordinates && d.objectCoordinates.objectId}`;
    case "OUTGOING_CALL_STARTED":
      return `${d.toNumber} · ${shortId(d.externalCallId)}`;
    case "CREATE_ENGAGEMENT_SUCCEEDED":
    case "UPDATE_ENGAGEMENT_SUCCEEDED":
    case "ENGAGEMENT_CREATED":
      return `engagement ${d.engagementId}`;
    case "CALL_ANSWERED":
      return shortId(d.externalCallId);
    case "CALL_ENDED":
      return `${d.callEndStatus} · engagement ${d.engagementId ?? "—"}`;
    case "CALL_COMPLETED": {
      const p = d.engagementProperties || {};
      return `${p.hs_call_status || ""}${p.hs_call_disposition ? ` · ${DISPOSITIONS[p.hs_call_disposition] || "outcome"}` : ""} · hideWidget: ${d.hideWidget}`;
    }
    case "VISIBILITY_CHANGED":
      return `minimized: ${d.isMinimized} · hidden: ${d.isHidden}`;
    case "RESIZE_WIDGET":
      return `${d.width}×${d.height}`;
    case "ERROR":
      return d.message || d.type || "";
    default:
      if (e.type && e.type.endsWith("_FAILED")) return (d.error && d.error.message) || "";
      return "";
  }
}

function addLog(e) {
  const list = $("log-list");
  $("log-count").textContent = String(hosts.reduce((n, h) => n + h.log.length, 0));
  const isSync = e.type === "SYNC" || e.type === "SYNC_ACK";
  if (e.type === "SYNC" && lastRow && lastRow.dataset.type === "SYNC" && lastRow.dataset.instance === e.instance && e.status === "ok") {
    const n = Number(lastRow.dataset.n) + 1;
    lastRow.dataset.n = String(n);
    lastRow.querySelector(".times").textContent = `×${n}`;
    return;
  }
  const arrow = { out: "→", in: "←", host: "•" }[e.dir];
  const tag = hosts.length > 1 ? el("span", { class: `inst inst-${e.instance}`, text: e.instance }) : null;
  const head = el(
    "summary",
    {},
    el("time", { text: clock(e.at) }),
    el("span", { class: `dir dir-${e.dir}`, title: { out: "HubSpot → app", in: "app → HubSpot", host: "host" }[e.dir], text: arrow }),
    tag,
    el("code", { class: "type", text: e.type }),
    el("span", { class: "times", text: "" }),
    el("span", { class: "sum", text: summary(e) }),
  );
  const body = [];
  if (e.data !== undefined) body.push(el("pre", { class: "json", text: JSON.stringify(e.data, null, 2) }));
  if (e.messageId) body.push(el("p", { class: "entry-id", text: `messageId ${e.messageId}` }));
  const row = el(
    "li",
    { class: `entry dir-${e.dir} status-${e.status}${isSync ? " is-sync" : ""}`, "data-type": e.type, "data-n": "1", "data-seq": e.seq, "data-instance": e.instance },
    el("details", {}, head, ...body),
    el("p", { class: "entry-note", text: e.note, hidden: !e.note }),
  );
  list.append(row);
  lastRow = row;
  const pane = list.parentElement;
  if (pane.scrollHeight - pane.scrollTop - pane.clientHeight < 160) pane.scrollTop = pane.scrollHeight;
}

/** updateLog shows what handling a received message changed: its status and note. */
function updateLog(e) {
  const row = $("log-list").querySelector(`[data-seq="${e.seq}"]`);
  if (!row) return;
  row.className = `entry dir-${e.dir} status-${e.status}${e.type === "SYNC_ACK" ? " is-sync" : ""}`;
  const note = row.querySelector(".entry-note");
  note.textContent = e.note;
  note.hidden = !e.note;
}

// ---------------------------------------------------------------------------------------
// Controls

function renderControls() {
  const faults = $("faults");
  for (const [k, label] of Object.entries(FAULTS)) {
    faults.append(
      el(
        "label",
        { class: "switch" },
        el("input", {
          type: "checkbox",
          "data-fault": k,
          checked: switches.faults[k],
          onchange: (ev) => {
            switches.faults[k] = ev.target.checked;
            saveSwitches(switches);
          },
        }),
        el("span", { text: label }),
      ),
    );
  }
  const fails = $("fails");
  for (const name of FAILABLE) {
    fails.append(
      el(
        "label",
        { class: "switch" },
        el("input", {
          type: "checkbox",
          "data-fail": name,
          checked: switches.fail.has(name),
          onchange: (ev) => {
            if (ev.target.checked) switches.fail.add(name);
            else switches.fail.delete(name);
            saveSwitches(switches);
          },
        }),
        el("code", { text: `${name}_FAILED` }),
      ),
    );
  }
  $("fault-note").textContent = switches.fromQuery
    ? "Switches set by the page's query string (not saved)."
    : "Switches are saved in this browser. “Drop SYNC_ACK” applies from the next widget load.";
  const { base, override } = loaded;
  $("settings-effective").textContent = JSON.stringify(loaded.settings, null, 2);
  $("settings-override").value = override.raw || "";
  if (override.error) {
    $("settings-error").hidden = false;
    $("settings-error").textContent = override.error;
  }
  $("settings-effective").title = `from settings.json${override.key ? ` + ${override.key}` : ""}: ${JSON.stringify(base)}`;
}

function bind() {
  for (const b of document.querySelectorAll(".nav-link")) {
    b.addEventListener("click", () => {
      UI.tab = b.dataset.tab;
      const first = RECORDS.find((r) => r.type === UI.tab);
      if (record(UI.recordId).type !== UI.tab && first) UI.recordId = first.id;
      renderChrome();
      renderList();
      renderRecord();
    });
  }
  $("end-call").addEventListener("click", () => host.endCall());
  $("widget-min").addEventListener("click", () =>
    host.setVisibility({ isMinimized: !host.visibility.isMinimized, isHidden: false }, "user"),
  );
  $("widget-close").addEventListener("click", () => host.setVisibility({ isMinimized: false, isHidden: true }, "user"));
  $("launcher").addEventListener("click", () => host.setVisibility({ isMinimized: false, isHidden: false }, "user"));
  $("overlay-retry").addEventListener("click", () => host.reload("try again"));
  $("act-reload").addEventListener("click", () => host.reload("simulator control"));
  $("act-probe").addEventListener("click", () => host.probe());
  $("log-sync").addEventListener("change", (ev) => $("log-list").classList.toggle("hide-sync", !ev.target.checked));
  $("log-clear").addEventListener("click", () => {
    $("log-list").replaceChildren();
    lastRow = null;
  });
  $("settings-save").addEventListener("click", () => {
    const raw = $("settings-override").value.trim();
    const err = $("settings-error");
    if (raw) {
      try {
        const v = JSON.parse(raw);
        if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
      } catch (e) {
        err.hidden = false;
        err.textContent = `Not a JSON object: ${e.message}`;
        return;
      }
    }
    try {
      if (raw) window.localStorage.setItem(OVERRIDE_KEY, raw);
      else window.localStorage.removeItem(OVERRIDE_KEY);
    } catch {
      err.hidden = false;
      err.textContent = "This browser blocks localStorage for the page.";
      return;
    }
    window.location.reload();
  });
  $("settings-clear").addEventListener("click", () => {
    try {
      window.localStorage.removeItem(OVERRIDE_KEY);
      window.localStorage.removeItem(OLD_OVERRIDE_KEY);
    } catch {
      /* nothing to clear */
    }
    window.location.reload();
  });
}

start().catch((e) => {
  console.error("hostsim: failed to start", e);
  document.body.prepend(el("p", { class: "fatal", text: `The host simulator failed to start: ${e.message || e}` }));
});
