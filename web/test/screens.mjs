// Visual walk-through of the softphone in headless Chromium, against a scripted fake
// gateway. Saves PNGs in web/test/artifacts/ (gitignored) and fails on a broken flow.
//
//   npm --prefix web run build && node web/test/screens.mjs
//
// Needs Debian's chromium (/usr/bin/chromium, or $CHROMIUM). Serves web/dist with a tiny
// node http server on 127.0.0.1 and answers /ws with the fake gateway below; a second
// page embeds the softphone in an iframe under a minimal HubSpot host to check the SDK
// handshake and forwarding both ways.
import { createServer } from "node:http";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { WebSocketServer } from "ws";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
const out = join(here, "artifacts");
await mkdir(out, { recursive: true });

// ---------------------------------------------------------------------------------------
// Fake gateway: answers login/resume/logout/ping/sdk onReady/dial/wrapUp like the real
// one; call progress is pushed by the script with push().

const OUTCOMES = [
  { key: "connected", label: "Connected" },
  { key: "left_voicemail", label: "Left voicemail" },
  { key: "no_answer", label: "No answer" },
  { key: "busy", label: "Busy" },
  { key: "wrong_number", label: "Wrong number" },
];
const USER = { username: "dana", displayName: "Dana Whitfield", fromNumber: "+16175550100" };

class FakeGateway {
  constructor() {
    this.sockets = [];
    this.received = [];
    this.loggedIn = false;
    this.calls = 0;
    this.call = null;
    this.onDial = null; // optional hook(callId) after a dial is accepted
  }
  get ws() {
    return this.sockets[this.sockets.length - 1];
  }
  attach(ws) {
    this.sockets.push(ws);
    ws.on("message", (raw) => {
      const m = JSON.parse(String(raw));
      this.received.push(m);
      this.handle(ws, m);
    });
  }
  send(ws, m) {
    ws.send(JSON.stringify({ v: 1, ...m }));
  }
  push(m) {
    this.send(this.ws, m);
  }
  session(ws) {
    this.loggedIn = true;
    this.send(ws, {
      type: "session",
      token: "tok-123",
      user: USER,
      iceServers: [],
      outcomes: OUTCOMES,
      expiresAt: Date.now() + 8 * 3600e3,
    });
  }
  handle(ws, m) {
    switch (m.type) {
      case "ping":
        return this.send(ws, { type: "pong", re: m.id });
      case "login":
        if (m.password !== "secret") {
          return this.send(ws, { type: "error", code: "auth_failed", message: "Wrong username or password.", re: m.id });
        }
        this.session(ws);
        return this.send(ws, { type: "sdk", name: "userLoggedIn" });
      case "resume":
        if (m.token !== "tok-123") {
          return this.send(ws, { type: "error", code: "session_expired", message: "Session expired.", re: m.id });
        }
        return this.session(ws);
      case "logout":
        this.loggedIn = false;
        this.send(ws, { type: "sdk", name: "userLoggedOut" });
        return this.send(ws, { type: "loggedOut" });
      case "sdk":
        if (m.name === "onReady") {
          return this.send(ws, { type: "sdk", name: "initialized", data: { isLoggedIn: this.loggedIn } });
        }
        if (m.name === "onDialNumber") return this.dial(ws, m.data.phoneNumber, m.data);
        return;
      case "dial":
        if (!/^\+\d{8,15}$/.test(m.toNumber)) {
          return this.send(ws, {
            type: "error",
            code: "invalid_number",
            message: `“${m.toNumber}” is not a phone number we can call. Use the international format, e.g. +1 617 555 0123.`,
            re: m.id,
          });
        }
        return this.dial(ws, m.toNumber);
      case "wrapUp":
        if (!this.call || m.callId !== this.call.callId) {
          return this.send(ws, { type: "error", code: "no_such_call", message: "No such call.", re: m.id });
        }
        this.send(ws, { type: "sdk", name: "callCompleted", data: { externalCallId: this.call.callId, engagementId: 901, hideWidget: false, engagementProperties: {} } });
        this.send(ws, { type: "call", ...this.call, state: "completed" });
        this.call = null;
        return;
      case "hangup":
        return this.end({ endStatus: "CANCELED", sipCode: 487, sipReason: "Request Terminated" });
      default:
    }
  }
  dial(ws, toNumber, dialingContext) {
    const callId = `00000000-0000-4000-8000-00000000000${++this.calls}`;
    this.call = { callId, direction: "OUTBOUND", toNumber, fromNumber: USER.fromNumber, startedAt: Date.now() };
    this.send(ws, { type: "call", ...this.call, state: "dialling" });
    this.send(ws, {
      type: "sdk",
      name: "outgoingCall",
      data: { externalCallId: callId, toNumber, fromNumber: USER.fromNumber, callStartTime: Date.now(), createEngagement: true, dialingContext },
    });
  }
  state(state, extra = {}) {
    Object.assign(this.call, extra);
    this.push({ type: "call", ...this.call, state });
  }
  end(extra) {
    if (!this.call) return;
    this.state("ended", { endedAt: Date.now(), ...extra });
  }
}

const gateway = new FakeGateway();

// ---------------------------------------------------------------------------------------
// HTTP: /softphone/* from dist, /host.html a minimal HubSpot host, /ws the fake gateway.

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".map": "application/json" };
const HOST = `<!doctype html><meta charset="utf-8"><title>HubSpot (fake host)</title>
<style>body{margin:0;background:#eaf0f6;font:13px sans-serif}iframe{border:0;position:absolute;right:24px;bottom:0;box-shadow:0 0 24px rgba(0,0,0,.2)}</style>
<iframe id="w" src="/softphone/" width="400" height="600" allow="microphone; autoplay"></iframe>
<script>
  const f = document.getElementById("w"); let n = 0, acked = false;
  window.received = [];
  const post = (m) => f.contentWindow.postMessage({ messageId: "host_" + (++n), ...m }, location.origin);
  window.hostSend = (type, data) => post({ type, data });
  addEventListener("message", (e) => {
    if (e.source !== f.contentWindow) return;
    window.received.push(e.data);
    if (e.data.type === "SYNC_ACK") acked = true;
  });
  f.addEventListener("load", () => {
    acked = false;
    const t = setInterval(() => acked ? clearInterval(t)
      : post({ type: "SYNC", hostUrl: location.origin, portalId: 123, userId: 7, ownerId: 8, iframeLocation: "widget", usesCallingWindow: false }), 100);
  });
</script>`;

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/host.html") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    return res.end(HOST);
  }
  if (!url.pathname.startsWith("/softphone/")) {
    res.writeHead(404);
    return res.end();
  }
  const name = url.pathname.slice("/softphone/".length) || "index.html";
  try {
    if (name.includes("/") || name.includes("..")) throw new Error("nope");
    const body = await readFile(join(dist, name));
    res.writeHead(200, { "content-type": TYPES[extname(name)] || "application/octet-stream", "cache-control": "no-cache" });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
const wss = new WebSocketServer({ noServer: true });
server.on("upgrade", (req, socket, head) => {
  if (new URL(req.url, "http://x").pathname !== "/ws") return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => gateway.attach(ws));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

// A port nothing listens on, for "gateway unreachable".
const dead = createServer();
await new Promise((r) => dead.listen(0, "127.0.0.1", r));
const deadPort = dead.address().port;
await new Promise((r) => dead.close(r));

// ---------------------------------------------------------------------------------------
// Browser

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
  ],
});

let failures = 0;
const shots = [];
function check(ok, what) {
  if (!ok) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}
async function shot(page, name) {
  await page.waitForTimeout(120); // let transitions settle
  const path = join(out, `${name}.png`);
  await page.screenshot({ path });
  shots.push(path);
}
const waitState = (page, s, timeout = 5000) =>
  page.waitForFunction((want) => window.hubline && window.hubline.state() === want, s, { timeout });

async function walkthrough(size, prefix) {
  gateway.loggedIn = false;
  const ctx = await browser.newContext({ viewport: size, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => check(false, `page error: ${e.message}`));
  await page.goto(`${base}/softphone/`);
  await waitState(page, "login");
  await shot(page, `${prefix}01-login`);

  await page.fill("#login-user", "dana");
  await page.fill("#login-pass", "nope");
  await page.click("#login-submit");
  await page.waitForSelector("#login-error:not([hidden])");
  await shot(page, `${prefix}01b-login-error`);

  await page.fill("#login-pass", "secret");
  await page.click("#login-submit");
  await waitState(page, "idle");
  for (const k of ["+", "1", "6", "1", "7", "5", "5", "5"]) {
    if (k === "+") await page.fill("#dial-number", "+");
    else await page.click(`#dial-keypad [data-key="${k}"]`);
  }
  await page.focus("#dial-number");
  await page.keyboard.press("End");
  await page.keyboard.type("0123");
  await shot(page, `${prefix}02-idle`);

  await page.click("#dial-call");
  await waitState(page, "dialling");
  await shot(page, `${prefix}03-dialling`);
  const offer = await waitFor(() => gateway.received.find((m) => m.type === "offer"));
  check(offer && offer.sdp.startsWith("v=0"), "offer sent with SDP");

  gateway.state("ringing");
  await waitState(page, "ringing");
  await shot(page, `${prefix}04-ringing`);

  gateway.state("answered", { answeredAt: Date.now() - 134000 });
  await waitState(page, "answered");
  await shot(page, `${prefix}05-in-call`);
  await page.click("#btn-mute");
  await page.click("#btn-keypad");
  await shot(page, `${prefix}05b-in-call-muted-keypad`);
  await page.click("#btn-keypad");

  gateway.end({ endStatus: "COMPLETED", answeredAt: Date.now() - 134000, endedAt: Date.now() });
  await waitState(page, "ended");
  await page.selectOption("#wrap-outcome", "connected");
  await page.fill("#wrap-notes", "Interested in the Pro plan for 40 seats. Send pricing and book a demo with their IT lead next Tuesday.");
  await shot(page, `${prefix}06-wrapup`);
  await page.click("#wrap-save");
  await waitState(page, "idle");
  const wrap = gateway.received.find((m) => m.type === "wrapUp");
  check(wrap && wrap.outcome === "connected" && wrap.notes.startsWith("Interested"), "wrapUp carries outcome and notes");

  // Busy (486) → wrap-up says "Busy".
  await page.fill("#dial-number", "+16175550199");
  await page.click("#dial-call");
  await waitState(page, "dialling");
  gateway.end({ endStatus: "BUSY", sipCode: 486, sipReason: "Busy Here" });
  await waitState(page, "ended");
  check((await page.textContent("#wrap-status")) === "Busy", "486 shows Busy");
  await shot(page, `${prefix}07-busy-486`);
  await page.click("#wrap-save");
  await waitState(page, "idle");

  // Failed (503) → error banner + wrap-up.
  await page.fill("#dial-number", "+442071838750");
  await page.click("#dial-call");
  await waitState(page, "dialling");
  gateway.end({ endStatus: "FAILED", sipCode: 503, sipReason: "Service Unavailable" });
  await waitState(page, "ended");
  check((await page.textContent("#wrap-status")) === "Call failed: 503 Service Unavailable", "503 shows Call failed");
  await shot(page, `${prefix}08-call-failed`);
  await page.click("#wrap-save");
  await waitState(page, "idle");

  // Invalid number → gateway error in the widget.
  await page.fill("#dial-number", "12");
  await page.click("#dial-call");
  await page.waitForFunction(() => window.hubline.lastError() && window.hubline.lastError().code === "invalid_number");
  await waitState(page, "idle");
  await shot(page, `${prefix}09-invalid-number`);

  // Reload → resume from sessionStorage, no login form.
  await page.reload();
  await waitState(page, "idle");
  check(gateway.received.some((m) => m.type === "resume" && m.token === "tok-123"), "resume after reload");

  // Gateway goes away while logged in → reconnect strip.
  const before = gateway.sockets.length;
  gateway.ws.close(1001);
  await page.waitForSelector("#strip:not([hidden])");
  await shot(page, `${prefix}10-reconnecting`);
  await waitFor(() => gateway.sockets.length > before, 8000);
  await waitState(page, "idle");
  await ctx.close();
}

async function waitFor(fn, timeout = 5000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function unreachable(size, prefix) {
  const ctx = await browser.newContext({ viewport: size });
  const page = await ctx.newPage();
  await page.goto(`${base}/softphone/?gateway=127.0.0.1:${deadPort}`);
  await waitState(page, "unreachable");
  await page.waitForTimeout(300);
  await shot(page, `${prefix}11-unreachable`);
  check((await page.evaluate(() => window.hubline.lastError().code)) === "gateway_unreachable", "lastError gateway_unreachable");
  await ctx.close();
}

async function micDenied() {
  const ctx = await browser.newContext({ viewport: { width: 400, height: 600 } });
  await ctx.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
  });
  const page = await ctx.newPage();
  await page.goto(`${base}/softphone/`);
  await waitState(page, "login");
  await page.fill("#login-user", "dana");
  await page.fill("#login-pass", "secret");
  await page.click("#login-submit");
  await waitState(page, "idle");
  await page.waitForFunction(() => window.hubline.lastError() && window.hubline.lastError().code === "mic_denied");
  await shot(page, "12-mic-denied");
  await ctx.close();
}

async function inHubSpot() {
  gateway.loggedIn = false;
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => check(false, `host page error: ${e.message}`));
  await page.goto(`${base}/host.html`);
  const frame = await (await page.waitForSelector("#w")).contentFrame();
  await frame.waitForFunction(() => window.hubline && window.hubline.events.some((e) => e.name === "initialized"));
  const init = await page.waitForFunction(() => window.received.find((m) => m.type === "INITIALIZED"));
  check((await init.jsonValue()).data.isLoggedIn === false, "INITIALIZED{isLoggedIn:false} reached the host");
  check(gateway.received.some((m) => m.type === "sdk" && m.name === "onReady"), "onReady forwarded to the gateway");
  await frame.fill("#login-user", "dana");
  await frame.fill("#login-pass", "secret");
  await frame.click("#login-submit");
  await page.waitForFunction(() => window.received.some((m) => m.type === "LOGGED_IN"));
  // HubSpot click-to-call.
  await page.evaluate(() =>
    window.hostSend("DIAL_NUMBER", {
      phoneNumber: "+16175550123",
      countryCode: "US",
      calleeInfo: { calleeId: 501, calleeObjectTypeId: "0-1" },
      objectType: "CONTACT",
      portalId: 123,
    }),
  );
  await page.waitForFunction(() => window.received.some((m) => m.type === "OUTGOING_CALL_STARTED"));
  await frame.waitForFunction(() => window.hubline.state() === "dialling");
  const dialSdk = gateway.received.find((m) => m.type === "sdk" && m.name === "onDialNumber");
  check(dialSdk && dialSdk.data.phoneNumber === "+16175550123", "onDialNumber forwarded with its payload");
  await page.evaluate(() => window.hostSend("CREATE_ENGAGEMENT_SUCCEEDED", { engagementId: 901 }));
  await waitFor(() => gateway.received.some((m) => m.type === "sdk" && m.name === "onCreateEngagementSucceeded"));
  check(
    gateway.received.some((m) => m.type === "sdk" && m.name === "onCreateEngagementSucceeded" && m.data.engagementId === 901),
    "onCreateEngagementSucceeded forwarded",
  );
  gateway.state("answered", { answeredAt: Date.now() - 5000 });
  await frame.waitForFunction(() => window.hubline.state() === "answered");
  await shot(page, "13-in-hubspot-host");
  gateway.end({ endStatus: "FAILED", sipCode: 503, sipReason: "Service Unavailable" });
  await page.waitForFunction(() => window.received.some((m) => m.type === "ERROR"));
  const err = await page.evaluate(() => window.received.find((m) => m.type === "ERROR").data.message);
  check(/503/.test(err), `call failure alerted to HubSpot (${err})`);
  await ctx.close();
}

try {
  await walkthrough({ width: 400, height: 600 }, "");
  await walkthrough({ width: 300, height: 450 }, "small-");
  await unreachable({ width: 400, height: 600 }, "");
  await unreachable({ width: 300, height: 450 }, "small-");
  await micDenied();
  await inHubSpot();
} catch (e) {
  failures++;
  console.error("FAIL:", e);
} finally {
  await browser.close();
  wss.close();
  server.close();
  server.closeAllConnections();
}
console.log(shots.map((s) => s.replace(here + "/", "web/test/")).join("\n"));
console.log(`screens: ${shots.length} passed, ${failures} failed`);
process.exitCode = failures ? 1 : 0;
