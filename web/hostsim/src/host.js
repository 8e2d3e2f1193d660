// HubSpot's side of the Calling Extensions SDK: the iframe, the SYNC handshake, origin
// checks, and HubSpot's answers to what the app sends (../../../../shared/spec,
// calling-extensions.md section (d)). The SDK's own IFrameManager creates the iframe
// (HubSpot's attributes: allow="microphone; autoplay", id hubspot-calling-extension-iframe)
// and supplies the message type constants; its host side is too thin to be HubSpot (SYNC
// carries only hostUrl, ids are Date.now()-based, no source check), so the transport and
// everything after it is here.
//
// CallingHost knows nothing of the page around it: main.js draws the CRM, the widget
// frame, alerts and the log from the events it emits (on(name, fn)).
import { Constants, IFrameManager } from "@hubspot/calling-extensions-sdk";

const T = Constants.messageType;
const UNKNOWN = Constants.errorType.UNKNOWN_MESSAGE_TYPE;

export const SYNC_EVERY_MS = 100;
export const SYNC_TIMEOUT_MS = 30000;
/** With the duplicateSyncs fault, SYNCs sent after the SYNC_ACK. */
const DUPLICATE_SYNCS = 3;
/** A DIAL_NUMBER is matched with the app's OUTGOING_CALL_STARTED within this time. */
const DIAL_MATCH_MS = 60000;

/** Replies the simulator can be told to fail: <name>_FAILED instead of <name>_SUCCEEDED. */
export const FAILABLE = [
  "CREATE_ENGAGEMENT",
  "UPDATE_ENGAGEMENT",
  "CALLER_ID_MATCH",
  "NAVIGATE_TO_RECORD",
  "FINALIZE_ENGAGEMENT",
  "PUBLISH_TO_CHANNEL",
  "SET_WIDGET_URL",
];

/** Other fault switches. */
export const FAULTS = {
  noSyncAck: "Drop the app's SYNC_ACK (HubSpot shows “issue connecting” when the SYNC loop times out)",
  duplicateSyncs: `Send ${DUPLICATE_SYNCS} more SYNCs after the SYNC_ACK`,
  objectIdZero: "Click-to-call sends objectId: 0 (the record is only in calleeInfo)",
  legacyEngagementCreated: "Also send the deprecated ENGAGEMENT_CREATED",
};

const END_STATUSES = ["COMPLETED", "FAILED", "CANCELED", "BUSY", "NO_ANSWER", "REJECTED", "MISSED"];

/** The page's instances' iframes: a message from a sibling instance is none of this one's business. */
const FRAMES = new Set();

export class CallingHost {
  /**
   * @param {object} o
   * @param {string} o.hostElementSelector   where the iframe goes
   * @param {object} o.settings              calling settings: url, width, height, name, usesCallingWindow…
   * @param {{portalId:number, userId:number, ownerId:number}} o.portal
   * @param {Record<string, boolean>} o.faults   FAULTS keys
   * @param {Set<string>} o.fail             FAILABLE names to fail
   * @param {number} o.syncTimeoutMs
   * @param {(number: string) => Array<object>} o.lookup   CRM records having a number
   * @param {(recordId: number) => object|null} o.recordById
   * @param {string} [o.location]            SYNC.iframeLocation: widget (default), remote, window
   * @param {string} [o.frameId]             the iframe's id (default: the SDK's, for the first instance)
   * @param {{n: number}} [o.counter]        log sequence shared by the page's instances
   */
  constructor(o) {
    this.o = o;
    this.location = o.location || "widget";
    this.counter = o.counter || { n: 0 };
    this.log = []; // every message both ways, and the host's own events
    this.problems = []; // protocol violations by the app (spec (d) 7)
    this.listeners = new Map();
    this.seq = 0;
    this.rounds = 0;
    this.state = "loading"; // loading | syncing | synced | failed
    this.frame = null;
    this.src = "";
    this.appOrigin = "";
    this.round = null;
    this.initialized = false;
    this.loggedIn = false;
    this.available = false;
    this.sdkVersion = "";
    this.calls = new Map(); // externalCallId → call, in start order
    this.pendingDial = null;
    this.visibility = { isMinimized: false, isHidden: false };
    this.size = { width: o.settings.width, height: o.settings.height };
    this.nextEngagement = 46000000000 + Math.floor(Math.random() * 900000000);
    window.addEventListener("message", (ev) => this.receive(ev));
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(fn);
  }

  emit(name, payload) {
    for (const fn of this.listeners.get(name) || []) fn(payload);
  }

  // -------------------------------------------------------------------------------------
  // The iframe and the handshake

  /** mount creates the iframe the way HubSpot's host does. */
  mount() {
    const { url, width, height } = this.o.settings;
    this.src = url;
    this.appOrigin = IFrameManager.extractHostFromUrl(url);
    this.frame = IFrameManager.createIFrame(
      { src: url, width, height, hostElementSelector: this.o.hostElementSelector },
      () => this.onLoad(),
      () => this.note("iframe error event", "warn"),
    );
    FRAMES.add(this.frame);
    if (this.o.frameId) this.frame.id = this.o.frameId;
    this.frame.dataset.location = this.location;
    this.frame.title = `${this.o.settings.name || "Calling"} calling ${this.location}`;
    this.resize({ width, height }, "settings");
  }

  /** On every load (first load, reload, navigation) the handshake starts again. */
  onLoad() {
    this.stopRound();
    this.state = "syncing";
    this.initialized = false;
    this.loggedIn = false;
    this.appOrigin = IFrameManager.extractHostFromUrl(this.src);
    const round = { n: ++this.rounds, started: Date.now(), ids: new Set(), timer: 0, acked: false };
    this.round = round;
    this.note(`iframe loaded (${this.src}); SYNC every ${SYNC_EVERY_MS} ms until SYNC_ACK`);
    const tick = () => {
      if (this.round !== round || round.acked) return;
      if (Date.now() - round.started > this.o.syncTimeoutMs) {
        this.state = "failed";
        this.note(`SYNC_ACK_FAILED: no SYNC_ACK in ${this.o.syncTimeoutMs} ms`, "warn", T.SYNC_ACK_FAILED);
        this.emit("state", this.snapshot());
        return;
      }
      this.sendSync(round);
      round.timer = setTimeout(tick, SYNC_EVERY_MS);
    };
    this.emit("state", this.snapshot());
    tick();
  }

  stopRound() {
    if (this.round) clearTimeout(this.round.timer);
  }

  sendSync(round) {
    const live = this.openCall();
    const sync = {
      hostUrl: window.location.origin,
      portalId: this.o.portal.portalId,
      userId: this.o.portal.userId,
      ownerId: this.o.portal.ownerId,
      iframeLocation: this.location,
      usesCallingWindow: !!this.o.settings.usesCallingWindow,
    };
    // Re-loading during a call: HubSpot tells the app which engagement is on.
    if (live && live.engagementId != null) sync.engagementId = live.engagementId;
    const id = this.post(T.SYNC, undefined, sync);
    round.ids.add(id);
  }

  onSyncAck(msg, entry) {
    const round = this.round;
    if (this.o.faults.noSyncAck) {
      entry.status = "dropped";
      entry.note = "dropped by the noSyncAck fault";
      return;
    }
    if (!round || !round.ids.has(msg.messageId)) {
      entry.status = "ignored";
      entry.note = "not the answer to a SYNC of this load";
      return;
    }
    if (round.acked) {
      this.problem("a second SYNC_ACK for the same load", entry);
      return;
    }
    round.acked = true;
    clearTimeout(round.timer);
    this.state = "synced";
    this.sdkVersion = String(msg.version || "");
    const acked = msg.iFrameUrl ? IFrameManager.extractHostFromUrl(msg.iFrameUrl) : "";
    if (acked && acked !== this.appOrigin) {
      this.problem(`SYNC_ACK.iFrameUrl ${acked} is not the iframe's origin ${this.appOrigin}`, entry);
    }
    if (acked) this.appOrigin = acked; // from now on post to, and accept from, the app's origin
    entry.note = `synced after ${Date.now() - round.started} ms; app SDK ${this.sdkVersion || "?"}`;
    this.emit("state", this.snapshot());
    if (this.o.faults.duplicateSyncs) {
      let left = DUPLICATE_SYNCS;
      const again = () => {
        if (this.round !== round || left-- <= 0) return;
        this.sendSync(round);
        setTimeout(again, SYNC_EVERY_MS);
      };
      setTimeout(again, SYNC_EVERY_MS);
    }
  }

  // -------------------------------------------------------------------------------------
  // Transport

  /** post sends one message to the app; returns its messageId. */
  post(type, data, topLevel) {
    const messageId = `host_${++this.seq}`;
    const msg = { ...(topLevel || {}), type, messageId };
    if (data !== undefined) msg.data = data;
    const win = this.frame && this.frame.contentWindow;
    if (win) win.postMessage(msg, this.appOrigin);
    this.record("out", msg);
    return messageId;
  }

  receive(ev) {
    const msg = ev.data;
    const looksSDK = msg && typeof msg === "object" && typeof msg.type === "string";
    const ignore = (note) => this.emit("log", this.record("in", looksSDK ? msg : { type: "(not an SDK message)" }, { status: "ignored", note, origin: ev.origin }));
    if (ev.source !== (this.frame && this.frame.contentWindow) && [...FRAMES].some((f) => f.contentWindow === ev.source)) {
      return; // another instance's: its own host logs it
    }
    if (!this.frame || ev.source !== this.frame.contentWindow) {
      // Other windows (this page, extensions, other frames): HubSpot ignores them.
      if (looksSDK) ignore(`not from the widget's window (origin ${ev.origin})`);
      return;
    }
    if (ev.origin !== this.appOrigin) {
      ignore(`origin ${ev.origin} is not the widget's ${this.appOrigin}`);
      return;
    }
    if (!looksSDK || !msg.messageId) {
      ignore("no type or messageId");
      return;
    }
    const entry = this.record("in", msg);
    // Shown before the replies it causes; its status and note are updated once handled.
    this.emit("log", entry);
    if (msg.type === T.SYNC_ACK) {
      this.onSyncAck(msg, entry);
    } else if (this.state !== "synced") {
      entry.status = "ignored";
      entry.note = "before SYNC_ACK: HubSpot does not listen yet";
      if (!this.o.faults.noSyncAck) this.problem(`${msg.type} sent before the handshake`, entry);
    } else {
      try {
        this.handle(msg, entry);
      } catch (e) {
        this.problem(`handling ${msg.type} failed: ${e.message || e}`, entry);
      }
    }
    this.emit("logupdate", entry);
    this.emit("state", this.snapshot());
  }

  record(dir, msg, extra = {}) {
    const { type, messageId, data, ...rest } = msg;
    const entry = {
      seq: ++this.counter.n,
      at: Date.now(),
      instance: this.location,
      dir, // "out": HubSpot → app, "in": app → HubSpot, "host": the host's own event
      type,
      messageId: messageId || "",
      // SYNC and SYNC_ACK carry their fields at the top level.
      data: data !== undefined ? data : Object.keys(rest).length ? rest : undefined,
      status: "ok",
      note: "",
      ...extra,
    };
    this.log.push(entry);
    if (dir === "out") this.emit("log", entry); // "in" entries: receive emits them
    return entry;
  }

  /** note logs an event of the host itself (not a message). */
  note(text, status = "ok", type = "host") {
    const entry = { seq: ++this.counter.n, at: Date.now(), instance: this.location, dir: "host", type, messageId: "", data: undefined, status, note: text };
    this.log.push(entry);
    this.emit("log", entry);
  }

  problem(text, entry) {
    this.problems.push({ at: Date.now(), text, type: entry ? entry.type : "" });
    if (entry) {
      entry.status = "warn";
      entry.note = entry.note ? `${entry.note}; ${text}` : text;
    }
    console.warn("hostsim: protocol problem:", text);
  }

  fails(name) {
    return this.o.fail.has(name);
  }

  // -------------------------------------------------------------------------------------
  // App → HubSpot

  handle(msg, entry) {
    const d = msg.data && typeof msg.data === "object" ? msg.data : {};
    switch (msg.type) {
      case T.INITIALIZED:
        if (this.initialized) this.problem("INITIALIZED twice in one load", entry);
        this.initialized = true;
        this.loggedIn = !!d.isLoggedIn;
        if ("isAvailable" in d) this.available = !!d.isAvailable;
        if (d.sizeInfo) this.resize(d.sizeInfo, "INITIALIZED.sizeInfo");
        entry.note = `logged ${this.loggedIn ? "in" : "out"}${d.engagementId != null ? `; resumed engagement ${d.engagementId}` : ""}`;
        return;
      case T.LOGGED_IN:
        this.loggedIn = true;
        return;
      case T.LOGGED_OUT:
        this.loggedIn = false;
        return;
      case T.USER_AVAILABLE:
        this.available = true;
        return;
      case T.USER_UNAVAILABLE:
        this.available = false;
        return;
      case T.OUTGOING_CALL_STARTED:
        this.startCall("OUTBOUND", d, entry);
        return;
      case T.INCOMING_CALL:
        // HubSpot routes inbound calls to users who said they are available.
        if (!this.available) this.problem("INCOMING_CALL while the user is not available", entry);
        this.startCall("INBOUND", d, entry);
        return;
      case T.CALL_ANSWERED: {
        const call = this.callOf(d, msg.type, entry);
        if (!call) return;
        call.status = "IN_PROGRESS";
        call.answeredAt = Date.now();
        this.changed(call);
        return;
      }
      case T.CALL_TRANSFERRED: {
        const call = this.callOf(d, msg.type, entry);
        if (!call) return;
        if (call.direction !== "INBOUND") this.problem("CALL_TRANSFERRED for an outbound call", entry);
        if (call.answeredAt) this.problem("CALL_TRANSFERRED after CALL_ANSWERED", entry);
        call.transferred = true;
        this.changed(call);
        return;
      }
      case T.CALL_ENDED: {
        const call = this.callOf(d, msg.type, entry);
        if (!call) return;
        call.ended++;
        if (call.ended > 1) this.problem("a second CALL_ENDED for the call", entry);
        this.checkEcho(call, d, entry);
        if (!END_STATUSES.includes(d.callEndStatus)) this.problem(`callEndStatus ${JSON.stringify(d.callEndStatus)} is not an SDK end status`, entry);
        call.endStatus = d.callEndStatus;
        call.status = d.callEndStatus || call.status;
        call.endedAt = Date.now();
        this.changed(call);
        return;
      }
      case T.CALL_COMPLETED:
        this.completeCall(d, entry);
        return;
      case T.FINALIZE_ENGAGEMENT:
      case T.PUBLISH_TO_CHANNEL: {
        const call = this.callOf(d, msg.type, entry);
        const name = msg.type;
        const reply = { engagementId: d.engagementId, externalCallId: d.externalCallId };
        if (this.fails(name) || !call) {
          this.post(T[`${name}_FAILED`], { ...reply, error: { message: call ? "Simulated failure." : "Unknown call." } });
        } else {
          this.post(T[`${name}_SUCCEEDED`], reply);
        }
        return;
      }
      case T.NAVIGATE_TO_RECORD: {
        const c = d.objectCoordinates || {};
        const rec = this.o.recordById(c.objectId);
        if (this.fails("NAVIGATE_TO_RECORD") || !rec) {
          this.post(T.NAVIGATE_TO_RECORD_FAILED, { engagementId: d.engagementId, objectCoordinates: c });
        } else {
          entry.note = `opened ${rec.name}`;
          this.emit("navigate", { recordId: rec.id, openIn: d.openIn || "CURRENT_TAB" });
        }
        return;
      }
      case T.RESIZE_WIDGET:
        this.resize(d, "RESIZE_WIDGET");
        return;
      case T.ERROR:
        if (d.type === UNKNOWN) {
          const orig = d.data && d.data.originalMessage;
          entry.note = `the app did not understand ${orig && orig.type ? orig.type : "a message"}`;
          return;
        }
        this.emit("alert", { kind: "error", message: String(d.message || "The calling app reported an error."), from: "app" });
        return;
      case T.SET_WIDGET_URL: {
        // setWidgetUrl() nests iFrameUrl in data; the public host reads it at the top level.
        const url = d.iFrameUrl || msg.iFrameUrl;
        if (!url || this.fails("SET_WIDGET_URL")) {
          this.post(T.SET_WIDGET_URL_FAILED, { iFrameUrl: url || null });
          return;
        }
        this.src = url;
        this.appOrigin = IFrameManager.extractHostFromUrl(url);
        entry.note = `the widget may now navigate to ${url}`;
        return;
      }
      case T.CALL_DATA:
        return;
      default:
        entry.status = "warn";
        entry.note = "unknown to HubSpot: answered with ERROR UNKNOWN_MESSAGE_TYPE";
        this.post(T.ERROR, { type: UNKNOWN, data: { originalMessage: { type: msg.type, data: msg.data, messageId: msg.messageId } } });
    }
  }

  startCall(direction, d, entry) {
    const id = d.externalCallId;
    if (!id) {
      this.problem(`${entry.type} without externalCallId`, entry);
      return;
    }
    if (this.calls.has(id)) {
      this.problem(`${entry.type} again for externalCallId ${id}`, entry);
      return;
    }
    for (const f of direction === "OUTBOUND" ? ["toNumber", "fromNumber", "callStartTime"] : ["toNumber", "fromNumber"]) {
      if (d[f] === undefined || d[f] === "") this.problem(`${entry.type} without ${f}`, entry);
    }
    const dial = this.pendingDial && Date.now() - this.pendingDial.at < DIAL_MATCH_MS ? this.pendingDial : null;
    this.pendingDial = null;
    let recordId = null;
    if (dial) {
      // HubSpot files the call on the record it dialled from: calleeInfo, since objectId
      // may be 0 or another record.
      const ci = dial.payload.calleeInfo || {};
      recordId = ci.calleeId || dial.payload.objectId || null;
    } else {
      const [rec] = this.o.lookup(direction === "OUTBOUND" ? d.toNumber : d.fromNumber);
      if (rec) recordId = rec.id;
    }
    const call = {
      externalCallId: id,
      instance: this.location,
      direction,
      toNumber: d.toNumber,
      fromNumber: d.fromNumber,
      startedAt: Number(d.callStartTime) || Date.now(),
      fromHubSpot: !!dial,
      recordId,
      engagementId: null,
      engagementError: "",
      status: direction === "OUTBOUND" ? "CONNECTING" : "RINGING",
      endStatus: "",
      answeredAt: 0,
      endedAt: 0,
      ended: 0,
      completed: 0,
      properties: {},
      updated: false,
      updateError: "",
      hideWidget: null,
      transferred: false,
    };
    this.calls.set(id, call);
    if (d.createEngagement === true) {
      if (this.fails("CREATE_ENGAGEMENT")) {
        call.engagementError = "Simulated failure: the call engagement could not be created.";
        this.post(T.CREATE_ENGAGEMENT_FAILED, { error: { message: call.engagementError } });
      } else {
        call.engagementId = this.nextEngagement++;
        this.post(T.CREATE_ENGAGEMENT_SUCCEEDED, { engagementId: call.engagementId });
        if (this.o.faults.legacyEngagementCreated) this.post(T.ENGAGEMENT_CREATED, { engagementId: call.engagementId });
      }
    } else {
      entry.note = "createEngagement is not true: HubSpot logs nothing for this call";
    }
    if (direction === "INBOUND") {
      const matches = this.o.lookup(d.fromNumber);
      if (matches.length && !this.fails("CALLER_ID_MATCH")) {
        this.post(T.CALLER_ID_MATCH_SUCCEEDED, {
          callerIdMatches: matches.map((r) =>
            r.type === "CONTACT"
              ? { callerIdType: "CONTACT", objectCoordinates: { portalId: this.o.portal.portalId, objectId: r.id, objectTypeId: "0-1" }, firstName: r.name.split(" ")[0], lastName: r.name.split(" ").slice(1).join(" "), email: r.email }
              : { callerIdType: "COMPANY", objectCoordinates: { portalId: this.o.portal.portalId, objectId: r.id, objectTypeId: "0-2" }, name: r.name },
          ),
        });
      } else {
        this.post(T.CALLER_ID_MATCH_FAILED, { error: { message: "No record has this number." } });
      }
    }
    this.changed(call);
  }

  completeCall(d, entry) {
    const call = this.callOf(d, T.CALL_COMPLETED, entry);
    if (!call) return;
    call.completed++;
    if (call.completed > 1) this.problem("a second CALL_COMPLETED for the call", entry);
    if (!call.ended) this.problem("CALL_COMPLETED before CALL_ENDED", entry);
    this.checkEcho(call, d, entry);
    call.hideWidget = d.hideWidget;
    const props = d.engagementProperties;
    if (props && typeof props === "object") {
      const engagementId = call.engagementId != null ? call.engagementId : d.engagementId;
      if (engagementId == null) {
        call.updateError = "There is no engagement to update: creating it failed.";
        this.post(T.UPDATE_ENGAGEMENT_FAILED, { error: { message: call.updateError } });
      } else if (this.fails("UPDATE_ENGAGEMENT")) {
        call.updateError = "Simulated failure: the engagement could not be updated.";
        this.post(T.UPDATE_ENGAGEMENT_FAILED, { engagementId, error: { message: call.updateError } });
      } else {
        call.properties = { ...props };
        call.updated = true;
        if (props.hs_call_status) call.status = props.hs_call_status;
        this.post(T.UPDATE_ENGAGEMENT_SUCCEEDED, { engagementId });
      }
    }
    this.changed(call);
    // HubSpot closes the widget after the call unless told not to.
    if (d.hideWidget !== false) this.setVisibility({ isMinimized: false, isHidden: true }, "callCompleted");
  }

  callOf(d, type, entry) {
    const call = this.calls.get(d.externalCallId);
    if (!call) this.problem(`${type} for unknown externalCallId ${JSON.stringify(d.externalCallId)}`, entry);
    return call || null;
  }

  /** checkEcho: CALL_ENDED and CALL_COMPLETED must carry the engagement HubSpot created. */
  checkEcho(call, d, entry) {
    if (call.engagementId == null) return;
    if (d.engagementId == null) this.problem(`${entry.type} without engagementId (HubSpot created ${call.engagementId})`, entry);
    else if (String(d.engagementId) !== String(call.engagementId))
      this.problem(`${entry.type}.engagementId ${d.engagementId} is not ${call.engagementId}`, entry);
  }

  changed(call) {
    this.emit("call", { ...call });
  }

  resize({ width, height }, why) {
    if (width) this.size.width = width;
    if (height) this.size.height = height;
    if (this.frame) {
      this.frame.style.width = IFrameManager.formatSize(this.size.width);
      this.frame.style.height = IFrameManager.formatSize(this.size.height);
    }
    this.emit("resize", { ...this.size, why });
  }

  // -------------------------------------------------------------------------------------
  // HubSpot → app, from the user's clicks

  /** openCall is the call between its start and CALL_COMPLETED, if any. */
  openCall() {
    let last = null;
    for (const c of this.calls.values()) if (!c.completed) last = c;
    return last;
  }

  /** liveCall is the call between its start and CALL_ENDED, if any. */
  liveCall() {
    let last = null;
    for (const c of this.calls.values()) if (!c.ended && !c.completed) last = c;
    return last;
  }

  /**
   * dial is the user's click on Call: HubSpot's gating, then DIAL_NUMBER. Returns
   * {ok, message}; a refusal is what HubSpot would show in an alert.
   */
  dial(payload) {
    const name = this.o.settings.name || "the calling app";
    if (this.state !== "synced" || !this.initialized) {
      return { ok: false, message: `${name} isn't ready yet. Wait for it to load, then try again.` };
    }
    if (!this.loggedIn) {
      this.setVisibility({ isMinimized: false, isHidden: false }, "log in");
      return { ok: false, message: `Log in to ${name} to make calls.`, kind: "warn" };
    }
    if (this.liveCall()) return { ok: false, message: "You're already on a call." };
    this.setVisibility({ isMinimized: false, isHidden: false }, "click to call");
    this.pendingDial = { payload, at: Date.now() };
    this.post(T.DIAL_NUMBER, payload);
    return { ok: true };
  }

  /** endCall is the user ending the call from HubSpot's UI. */
  endCall() {
    const call = this.liveCall();
    if (!call || this.state !== "synced") return false;
    this.post(T.END_CALL, { externalCallId: call.externalCallId, engagementId: call.engagementId });
    return true;
  }

  setVisibility(v, why) {
    const next = { isMinimized: !!v.isMinimized, isHidden: !!v.isHidden };
    if (next.isMinimized === this.visibility.isMinimized && next.isHidden === this.visibility.isHidden) return;
    this.visibility = next;
    if (this.state === "synced") this.post(T.VISIBILITY_CHANGED, { ...next });
    this.emit("visibility", { ...next, why });
  }

  /** reload reloads the widget's page (a cross-origin iframe: by navigating it again). */
  reload(why = "reload") {
    if (!this.frame) return;
    this.note(`widget reloaded (${why})`);
    this.stopRound();
    this.state = "loading";
    this.emit("state", this.snapshot());
    this.frame.src = this.src;
  }

  /** probe sends a type HubSpot's SDK does not know; the app must answer ERROR. */
  probe() {
    if (this.state !== "synced") return false;
    this.post("HUBLINE_SIMULATOR_PROBE", { hello: "unknown message type" });
    return true;
  }

  snapshot() {
    return {
      location: this.location,
      sync: this.state,
      initialized: this.initialized,
      loggedIn: this.loggedIn,
      available: this.available,
      visibility: { ...this.visibility },
      size: { ...this.size },
      appOrigin: this.appOrigin,
      hostOrigin: window.location.origin,
      sdkVersion: this.sdkVersion,
      src: this.src,
      rounds: this.rounds,
    };
  }
}
