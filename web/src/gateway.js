// The browser side of the hubline softphone ↔ gateway protocol (docs/protocol.md, v1):
// one WebSocket, one JSON object per text frame, envelope {v:1, type, id?, ...fields}.
//
// Gateway owns the socket: connecting, reconnecting with back-off, keep-alive pings and
// request ids. It knows nothing about calls or HubSpot; main.js decides what to send.

/** Reconnect delays in seconds; the last one repeats. A little jitter is added. */
const BACKOFF_S = [1, 2, 5, 10, 20, 30];
const OPEN_TIMEOUT_MS = 5000;
const PING_EVERY_MS = 25000;
const PONG_TIMEOUT_MS = 10000;

/**
 * gatewayURL returns the WebSocket URL of the gateway: `/ws` on this page's origin, or the
 * `?gateway=` query parameter (a ws(s):// or http(s):// URL, or host[:port]) for development.
 */
export function gatewayURL(loc = window.location) {
  const wsProto = loc.protocol === "https:" ? "wss:" : "ws:";
  const override = new URLSearchParams(loc.search).get("gateway");
  if (override) {
    if (/^wss?:\/\//i.test(override)) return override;
    if (/^https?:\/\//i.test(override)) {
      const u = new URL(override);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      if (u.pathname === "/" || u.pathname === "") u.pathname = "/ws";
      return u.toString();
    }
    return `${wsProto}//${override.replace(/\/+$/, "")}/ws`;
  }
  return `${wsProto}//${loc.host}/ws`;
}

export class Gateway {
  /**
   * @param {object} o
   * @param {string} o.url
   * @param {(msg: object) => void} o.onMessage  every frame from the gateway
   * @param {(status: {state: "connecting"|"open"|"waiting", retryAt?: number,
   *   failures: number, closeCode?: number}) => void} o.onStatus
   */
  constructor({ url, onMessage, onStatus }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.ws = null;
    this.failures = 0; // consecutive failed attempts since the last open socket
    this.seq = 0;
    this.retryTimer = 0;
    this.openTimer = 0;
    this.pingTimer = 0;
    this.pongTimer = 0;
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** connect opens the socket now (also used by "Retry now"). */
  connect() {
    clearTimeout(this.retryTimer);
    if (this.ws) this.drop();
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      console.error("hubline: bad gateway URL", this.url, e);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.onStatus({ state: "connecting", failures: this.failures });
    this.openTimer = setTimeout(() => {
      if (ws.readyState !== WebSocket.OPEN) this.lost(ws, 0);
    }, OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(this.openTimer);
      this.failures = 0;
      this.keepAlive();
      this.onStatus({ state: "open", failures: 0 });
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        console.warn("hubline: gateway sent a frame that is not JSON");
        return;
      }
      if (!msg || typeof msg !== "object" || Array.isArray(msg)) return;
      if (msg.type === "pong") {
        clearTimeout(this.pongTimer);
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => this.lost(ws, ev.code);
    ws.onerror = () => {}; // onclose follows with the details we need
  }

  /**
   * send writes one message; returns its id, or "" when the socket is not open (the
   * caller decides whether to queue or report).
   */
  send(type, fields = {}) {
    if (!this.isOpen) return "";
    const id = `m${++this.seq}`;
    this.ws.send(JSON.stringify({ v: 1, type, id, ...fields }));
    return id;
  }

  keepAlive() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.isOpen) return;
      this.ws.send(JSON.stringify({ v: 1, type: "ping" }));
      clearTimeout(this.pongTimer);
      const ws = this.ws;
      this.pongTimer = setTimeout(() => this.lost(ws, 0), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  lost(ws, code) {
    if (ws !== this.ws) return; // an older socket we already gave up on
    this.drop();
    this.failures++;
    this.scheduleRetry(code);
  }

  drop() {
    clearTimeout(this.openTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        /* already closed */
      }
    }
  }

  scheduleRetry(closeCode) {
    const base = BACKOFF_S[Math.min(Math.max(this.failures - 1, 0), BACKOFF_S.length - 1)];
    const delay = base * 1000 * (1 + Math.random() * 0.2);
    const retryAt = Date.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.onStatus({ state: "waiting", retryAt, failures: this.failures, closeCode });
  }
}
