// The Chromium end-to-end driver: one scenario per run, in Debian's Chromium (headless,
// fake microphone playing a WAV), against a gateway and trunk that the caller started.
// cmd/gateway/browser_test.go owns those processes, runs this script, and judges what it
// reports; this script only acts like a rep in HubSpot and observes.
//
//   node web/test/e2e/run.mjs '<json config>'
//
// config: {scenario, host, softphone, user, password, tone, artifacts, chromium?,
//          denyMic?, deadGateway?}
//
// stdout is JSON lines: {"step": …} as it goes, {"need": "…"} when the test must act (it
// answers with one JSON line on stdin), and last {"result": {…}}: the host simulator's
// message log, calls, alerts and protocol problems, the softphone's state, audio
// measurements, screenshots, and scenario facts. A failed wait ends the scenario with
// result.error naming the step; the result is still complete up to there.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2] || "{}");
const OVERRIDE_KEY = "LocalSettings:Calling:CallingExtensions";
const R = { scenario: cfg.scenario, steps: [], shots: [], audio: {}, extra: {}, pageErrors: [], consoleErrors: [] };

const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

// The test answers {"need": …} lines on stdin.
const answers = [];
let waiter = null;
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line);
  if (waiter) {
    const w = waiter;
    waiter = null;
    w(m);
  } else answers.push(m);
});
function ask(need) {
  emit({ need });
  return new Promise((resolve) => (answers.length ? resolve(answers.shift()) : (waiter = resolve)));
}

async function step(name, fn) {
  const t0 = Date.now();
  emit({ step: name });
  try {
    const v = await fn();
    R.steps.push({ name, ms: Date.now() - t0 });
    return v;
  } catch (e) {
    e.step = e.step || name;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------
// Browser

// playwright-core 1.65.1 passes --disable-features with these and ThirdPartyStoragePartitioning
// (playwright#32230). Without partitioning Chromium *denies* storage to a cross-site iframe,
// where Chrome partitions it; HubSpot embeds the softphone cross-site. So the list is
// repeated here without it (the last --disable-features wins), unless the scenario wants
// storage blocked (blockThirdPartyStorage), as some browsers' settings do. The call
// scenario checks that the softphone has storage, so an upgrade that changes this shows.
const PLAYWRIGHT_DISABLED_FEATURES = [
  "AvoidUnnecessaryBeforeUnloadCheckSync",
  "DestroyProfileOnBrowserClose",
  "HttpsUpgrades",
  "HttpsFirstBalancedModeAutoEnable",
  "LensOverlay",
  "MediaRouter",
  "PaintHolding",
  "AvoidCorsURLLoaderRestartOnRedirect",
  "TcpPortRandomizationWin",
  "OptimizationHints",
  "NetworkTimeServiceQuerying",
  "AimEnabled",
  "PreconnectToSearch",
];

const profile = await mkdtemp(join(tmpdir(), "hubline-chromium-"));
await mkdir(cfg.artifacts, { recursive: true });
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: cfg.chromium || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1440, height: 900 },
  deviceScaleFactor: 1,
  args: [
    "--no-sandbox",
    cfg.denyMic ? "--use-fake-ui-for-media-stream=deny" : "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${cfg.tone}`,
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    `--disable-features=${[...PLAYWRIGHT_DISABLED_FEATURES, ...(cfg.blockThirdPartyStorage ? ["ThirdPartyStoragePartitioning"] : [])]}`,
  ],
});
const page = ctx.pages()[0] || (await ctx.newPage());
page.on("pageerror", (e) => R.pageErrors.push(e.message));
page.on("console", (m) => {
  if (m.type() === "error") R.consoleErrors.push(m.text());
});

// ---------------------------------------------------------------------------------------
// Helpers: the host page, the widget, waiting

/** openHost loads the simulator; override is the localStorage settings override. */
async function openHost(query = "", override = undefined) {
  await page.goto(cfg.host);
  await page.evaluate(
    ([k, v]) => (v === null ? localStorage.removeItem(k) : localStorage.setItem(k, v)),
    [OVERRIDE_KEY, override === undefined ? null : JSON.stringify(override)],
  );
  await page.goto(cfg.host + query);
  await page.waitForFunction(() => window.hostsim && window.hostsim.ready, null, { timeout: 10000 });
}

const hostLog = () => page.evaluate(() => window.hostsim.log());

async function widget() {
  const h = await page.waitForSelector("#hubspot-calling-extension-iframe", { state: "attached", timeout: 10000 });
  const f = await h.contentFrame();
  if (!f) throw new Error("the widget iframe has no frame");
  return f;
}

/** remoteFrame is the nav-bar calling remote's frame (settings.usesRemote). */
async function remoteFrame() {
  const h = await page.waitForSelector("#hubspot-calling-extension-remote", { state: "attached", timeout: 10000 });
  const f = await h.contentFrame();
  if (!f) throw new Error("the remote iframe has no frame");
  return f;
}

async function waitIn(f, states, timeout = 10000) {
  const want = [].concat(states);
  await f.waitForFunction((w) => window.hubline && w.includes(window.hubline.state()), want, { timeout, polling: 50 });
  return f.evaluate(() => window.hubline.state());
}

async function waitPhone(states, timeout = 10000) {
  const want = [].concat(states);
  const f = await widget();
  await f.waitForFunction((w) => window.hubline && w.includes(window.hubline.state()), want, { timeout, polling: 50 });
  return f.evaluate(() => window.hubline.state());
}

/** waitMsg waits for the n-th logged message of type in direction dir ("in": app → HubSpot). */
async function waitMsg(type, { dir = "in", n = 1, timeout = 10000, status = "ok", instance = "" } = {}) {
  const h = await page.waitForFunction(
    ([t, d, k, s, i]) => {
      const hits = window.hostsim
        .log()
        .filter((e) => e.type === t && e.dir === d && (!s || e.status === s) && (!i || e.instance === i));
      return hits.length >= k ? hits[k - 1] : null;
    },
    [type, dir, n, status, instance],
    { timeout, polling: 50 },
  );
  return h.jsonValue();
}

async function waitHost(fn, arg, timeout = 10000) {
  const h = await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  return h.jsonValue();
}

async function login() {
  const f = await widget();
  await waitPhone("login");
  await f.fill("#login-user", cfg.user);
  await f.fill("#login-pass", cfg.password);
  await f.click("#login-submit");
  await waitMsg("LOGGED_IN");
  await waitPhone("idle");
}

/** clickCall opens a record and clicks Call on one of its numbers, as a rep would. */
async function clickCall(recordId, phone = 0) {
  await page.click(`#records [data-record="${recordId}"]`);
  await page.click(`#record .link-call[data-dial="${recordId}:${phone}"]`);
}

async function shotWidget(name) {
  const path = join(cfg.artifacts, `softphone-${name}.png`);
  await page.locator("#hubspot-calling-extension-iframe").screenshot({ path, animations: "disabled" });
  R.shots.push(path);
}

async function shotPage(name) {
  const path = join(cfg.artifacts, `hostsim-${name}.png`);
  await page.screenshot({ path, animations: "disabled" });
  R.shots.push(path);
}

/**
 * listen polls the softphone's analyser for hz until `need` samples hold more than `min`
 * of the remote audio's energy. It reports every sample, so the test can judge.
 */
async function listen(hz, { timeout = 8000, need = 5, min = 0.5, whileState = "" } = {}) {
  const f = await widget();
  const end = Date.now() + timeout;
  const samples = [];
  let hits = 0;
  while (Date.now() < end && hits < need) {
    const [v, st] = await f.evaluate((x) => [window.hubline.analyser(x), window.hubline.state()], hz);
    if (whileState && st !== whileState) break;
    samples.push(Math.round(v * 1000) / 1000);
    if (v > min) hits++;
    await f.waitForTimeout(100);
  }
  return { hz, hits, need, min, max: Math.max(0, ...samples), samples: samples.slice(-20) };
}

async function saveWrapUp(outcome, notes) {
  const f = await widget();
  await waitPhone("ended");
  if (outcome !== undefined) await f.selectOption("#wrap-outcome", outcome);
  if (notes !== undefined) await f.fill("#wrap-notes", notes);
  return f;
}

async function softphoneFacts() {
  const f = await widget();
  return f.evaluate(() => ({
    state: window.hubline.state(),
    lastError: window.hubline.lastError(),
    banner: document.getElementById("banner").hidden ? "" : document.getElementById("banner-text").textContent,
    wrapStatus: document.getElementById("wrap-status").textContent,
    wrapDetail: document.getElementById("wrap-detail").hidden ? "" : document.getElementById("wrap-detail").textContent,
    view: document.getElementById("app").dataset.view,
    events: window.hubline.events.map((e) => e.name),
    storage: (() => {
      try {
        return !!window.sessionStorage;
      } catch {
        return false;
      }
    })(),
  }));
}

async function phoneFacts(f) {
  return f.evaluate(() => ({
    state: window.hubline.state(),
    instance: window.hubline.instance(),
    available: window.hubline.available(),
    call: window.hubline.call(),
    where: document.getElementById("call-where").hidden ? "" : document.getElementById("call-where").textContent,
    name: document.getElementById("in-name").textContent,
    events: window.hubline.events.map((e) => e.name),
    remoteAudio: !!document.getElementById("remote-audio").srcObject,
  }));
}

async function shotFrame(selector, name) {
  const path = join(cfg.artifacts, `softphone-${name}.png`);
  await page.locator(selector).screenshot({ path, animations: "disabled" });
  R.shots.push(path);
}

async function timeline() {
  return page.$$eval("#timeline .call", (cards) =>
    cards.map((c) => ({
      externalCallId: c.dataset.call,
      text: c.innerText,
      status: (c.querySelector('[data-field="status"]') || {}).textContent,
      outcome: (c.querySelector('[data-field="outcome"]') || {}).textContent,
      duration: (c.querySelector('[data-field="duration"]') || {}).textContent,
      notes: (c.querySelector('[data-field="notes"]') || {}).textContent || "",
    })),
  );
}

// ---------------------------------------------------------------------------------------
// Scenarios

const scenarios = {
  /** Click-to-call on a contact against the demo trunk: ringback, echo, wrap-up, timeline. */
  async call() {
    await openHost();
    await step("handshake", () => waitMsg("INITIALIZED"));
    await step("login form", () => waitPhone("login"));
    await shotWidget("login");
    await step("log in", login);
    await shotWidget("idle");
    await step("click Call on Maria Gonzalez", () => clickCall(1051));
    await step("dialling", () => waitPhone(["placing", "dialling", "ringing", "early_media"]));
    await shotWidget("dialling");
    await step("early media", () => waitPhone("early_media", 10000));
    R.audio.ringback = await step("hear the ringback", () =>
      listen(425, { timeout: 9000, need: 3, whileState: "early_media" }),
    );
    await step("answered", () => waitPhone("answered", 15000));
    R.audio.echo = await step("hear the echo", () => listen(1000));
    await shotWidget("in-call");
    await shotPage("in-call");
    const f = await widget();
    await step("hang up", () => f.click("#btn-hangup"));
    await step("wrap-up", () =>
      saveWrapUp("connected", "Interested in the Pro plan for 40 seats. Send pricing; demo with IT on Tuesday."),
    );
    await shotWidget("wrap-up");
    await step("save", () => f.click("#wrap-save"));
    await step("engagement updated", () => waitMsg("UPDATE_ENGAGEMENT_SUCCEEDED", { dir: "out" }));
    await step("idle again", () => waitPhone("idle"));
    await step("timeline shows the call", () => page.waitForSelector("#timeline .call [data-field=notes]"));
    R.extra.timeline = await timeline();
    await shotPage("call-logged");
  },

  /**
   * The in-call keypad against SIPp as a trunk with dtmfMode: info: a click on 1 and the
   * keyboard's # reach SIPp as INFO (it checks them), and the digit SIPp sends back (5, as
   * INFO) shows in the widget.
   */
  async keypad() {
    await openHost();
    await step("handshake", () => waitMsg("INITIALIZED"));
    await step("log in", login);
    await step("click Call on Maria Gonzalez", () => clickCall(1051));
    await step("answered", () => waitPhone("answered", 15000));
    const f = await widget();
    await step("open the keypad", () => f.click("#btn-keypad"));
    await step("press 1", () => f.click('#dtmf-keypad [data-key="1"]'));
    await step("type #", () => page.keyboard.press("#"));
    await step("digits shown", () =>
      f.waitForFunction(() => document.getElementById("dtmf-digits").textContent === "1#", null, { polling: 50 }),
    );
    await step("the far end's digit shown", () =>
      f.waitForFunction(
        () => !document.getElementById("dtmf-heard").hidden && document.getElementById("dtmf-heard-digits").textContent === "5",
        null,
        { timeout: 10000, polling: 50 },
      ),
    );
    R.extra.keypad = await f.evaluate(() => ({
      sent: document.getElementById("dtmf-digits").textContent,
      heard: document.getElementById("dtmf-heard").textContent.replace(/\s+/g, " ").trim(),
    }));
    await shotWidget("keypad");
    await step("hang up", () => f.click("#btn-hangup"));
    await step("wrap-up", () => waitPhone("ended"));
  },

  /**
   * Inbound with HubSpot's calling remote and calling window (usesCallingWindow): the rep
   * signs in in the window, the remote follows; availability set in the remote reaches
   * HubSpot through the window; SIPp calls; both instances ring, the window raises
   * INCOMING_CALL; the remote opens the caller's record; answering in the window brings
   * the audio there (SIPp echoes the browser's 1 kHz tone); the remote mirrors the call.
   */
  async inbound() {
    await openHost("", { usesCallingWindow: true, usesRemote: true });
    await step("both instances synced", () =>
      waitHost(() => Object.values(window.hostsim.instances()).filter((i) => i.initialized).length === 2),
    );
    R.extra.syncs = (await hostLog())
      .filter((e) => e.type === "SYNC" && e.dir === "out")
      .map((e) => ({ instance: e.instance, iframeLocation: e.data.iframeLocation, usesCallingWindow: e.data.usesCallingWindow }));
    await step("log in in the calling window", login);
    const rf = await remoteFrame();
    await step("the remote signs in with it", () => waitIn(rf, "idle"));
    await step("available, from the remote", () => rf.click("#presence"));
    const win = await widget();
    await step("the window shows it", () => win.waitForFunction(() => window.hubline.available()));
    await step("HubSpot hears it from the window", () => waitMsg("USER_AVAILABLE", { instance: "window" }));
    await shotFrame("#hubspot-calling-extension-remote", "remote-available");
    await step("a call comes in", () => ask("ring"));
    await step("the window rings", () => waitIn(win, "incoming", 15000));
    await step("the remote rings", () => waitIn(rf, "incoming"));
    R.extra.incoming = await step("INCOMING_CALL from the window", () => waitMsg("INCOMING_CALL", { instance: "window" }));
    await step("caller identified", () => waitMsg("CALLER_ID_MATCH_SUCCEEDED", { dir: "out" }));
    await step("the remote shows the caller", () =>
      rf.waitForFunction(() => document.getElementById("in-name").textContent === "Maria Gonzalez"),
    );
    await shotFrame("#hubspot-calling-extension-remote", "remote-incoming");
    await shotWidget("window-incoming");
    await shotPage("inbound-ringing");
    R.extra.ringing = { window: await phoneFacts(win), remote: await phoneFacts(rf) };
    await step("open the record from the remote", () => rf.click("#in-record"));
    await step("NAVIGATE_TO_RECORD from the window", () => waitMsg("NAVIGATE_TO_RECORD", { instance: "window" }));
    await step("the record opens", () => page.waitForFunction(() => document.querySelector("#record h1").textContent === "Maria Gonzalez"));
    await step("answer in the window", () => win.click("#btn-answer"));
    await step("answered in the window", () => waitIn(win, "answered"));
    await step("the remote mirrors it", () => waitIn(rf, "answered"));
    await step("CALL_ANSWERED from the window", () => waitMsg("CALL_ANSWERED", { instance: "window" }));
    R.audio.echo = await step("hear the echo in the window", () => listen(1000));
    R.extra.answered = { window: await phoneFacts(win), remote: await phoneFacts(rf) };
    await shotFrame("#hubspot-calling-extension-remote", "remote-in-call");
    await shotPage("inbound-in-call");
    await step("the caller hangs up", () => waitIn(win, "ended", 20000));
    await step("the remote shows it ended", () => waitIn(rf, "ended"));
    await step("wrap-up in the window", () => saveWrapUp("connected", "Inbound from Maria: pricing for 40 seats."));
    await step("save", () => win.click("#wrap-save"));
    await step("engagement updated", () => waitMsg("UPDATE_ENGAGEMENT_SUCCEEDED", { dir: "out" }));
    await step("both idle", () => Promise.all([waitIn(win, "idle"), waitIn(rf, "idle")]));
    R.extra.timeline = await timeline();
    R.extra.instances = await page.evaluate(() => window.hostsim.instances());
    await shotPage("inbound-logged");
  },

  /** SIPp answers and plays 440 Hz: the rep hears it. */
  async tone() {
    await openHost();
    await step("log in", login);
    await step("click Call", () => clickCall(1052));
    await step("answered", () => waitPhone("answered", 15000));
    R.audio.tone = await step("hear the trunk's tone", () => listen(440));
    R.audio.notEcho = await listen(1000, { timeout: 600, need: 100 });
    const f = await widget();
    await step("hang up", () => f.click("#btn-hangup"));
    await step("call ended", () => waitMsg("CALL_ENDED"));
  },

  /**
   * Hold both ways: the rep clicks Hold (SIPp echoes the gateway's music on hold, 440 Hz,
   * instead of the rep's 1 kHz), then Resume (the echo is back); then the trunk holds the
   * call and the softphone says so.
   */
  async hold() {
    await openHost();
    await step("log in", login);
    await step("click Call", () => clickCall(1052));
    await step("answered", () => waitPhone("answered", 15000));
    R.audio.echo = await step("hear the echo", () => listen(1000));
    const f = await widget();
    const status = (text, timeout = 10000) =>
      f.waitForFunction((t) => document.getElementById("call-status-text").textContent === t, text, {
        timeout,
        polling: 50,
      });
    await step("click Hold", () => f.click("#btn-hold"));
    await step("on hold", () => status("On hold"));
    R.extra.heldLabel = await f.textContent("#hold-label");
    R.extra.heldPressed = await f.getAttribute("#btn-hold", "aria-pressed");
    await shotWidget("on-hold");
    R.audio.moh = await step("hear music on hold", () => listen(440));
    await step("click Resume", () => f.click("#btn-hold"));
    await step("resumed", () => status("Connected"));
    R.extra.resumedLabel = await f.textContent("#hold-label");
    R.audio.echoAgain = await step("hear the echo again", () => listen(1000));
    await step("held by the other side", () => status("On hold by the other side", 15000));
    await shotWidget("held-by-remote");
    await step("hang up", () => f.click("#btn-hangup"));
    await step("call ended", () => waitMsg("CALL_ENDED"));
  },

  /** Logged out: HubSpot refuses to dial; logging in sends LOGGED_IN; hideWidget hides. */
  async login() {
    await openHost();
    const init = await step("initialized, logged out", () => waitMsg("INITIALIZED"));
    R.extra.initialized = init.data;
    await step("click Call while logged out", () => clickCall(1051));
    await step("HubSpot alert", () => waitHost(() => window.hostsim.alerts().length > 0));
    await shotPage("not-logged-in");
    R.extra.dialsBeforeLogin = (await hostLog()).filter((e) => e.type === "DIAL_NUMBER").length;
    await step("log in", login);
    await step("click Call", () => clickCall(1051));
    await step("outgoing call", () => waitMsg("OUTGOING_CALL_STARTED"));
    await step("dialling", () => waitPhone(["dialling", "ringing", "early_media"]));
    const f = await widget();
    await step("cancel", () => f.click("#btn-hangup"));
    await step("wrap-up", () => saveWrapUp());
    await step("save", () => f.click("#wrap-save"));
    await step("widget hidden after callCompleted", () => waitHost(() => window.hostsim.state().visibility.isHidden));
    R.extra.hiddenWidget = await page.isHidden("#widget");
    await shotPage("widget-hidden");
    await step("call again from the CRM", () => clickCall(1052));
    await step("widget shown again", () => waitHost(() => !window.hostsim.state().visibility.isHidden));
    await step("second outgoing call", () => waitMsg("OUTGOING_CALL_STARTED", { n: 2 }));
    await step("dialling again", () => waitPhone(["dialling", "ringing", "early_media"]));
    await step("end call from the CRM", () => page.click("#end-call"));
    await step("second call ended", () => waitMsg("CALL_ENDED", { n: 2 }));
  },

  /** 486 busy and 404 not found from the demo trunk. */
  async failures() {
    await openHost();
    await step("log in", login);
    await step("call the busy number", () => clickCall(1054));
    await step("busy", () => saveWrapUp());
    R.extra.busy = await softphoneFacts();
    R.extra.alertsAfterBusy = (await page.evaluate(() => window.hostsim.alerts())).length;
    await shotWidget("busy");
    let f = await widget();
    await step("save busy", () => f.click("#wrap-save"));
    await step("idle", () => waitPhone("idle"));
    await step("call the dead number", () => clickCall(1055));
    await step("failed", () => saveWrapUp());
    await step("HubSpot alert", () => waitHost(() => window.hostsim.alerts().length > 0));
    R.extra.failed = await softphoneFacts();
    await shotWidget("error-call-failed");
    await shotPage("call-failed");
    f = await widget();
    await step("save failed", () => f.click("#wrap-save"));
    await step("second call completed", () => waitMsg("CALL_COMPLETED", { n: 2 }));
    await page.click("#tl-all");
    R.extra.timeline = await timeline();
  },

  /** The gateway cannot be reached: at load (wrong address), and after it stops. */
  async unreachable() {
    const dead = `${cfg.softphone}?gateway=${encodeURIComponent(cfg.deadGateway)}`;
    await openHost("", { url: dead });
    await step("unreachable view", () => waitPhone("unreachable", 15000));
    await step("HubSpot alert", () => waitHost(() => window.hostsim.alerts().length > 0, null, 15000));
    R.extra.dead = await softphoneFacts();
    R.extra.deadAlerts = await page.evaluate(() => window.hostsim.alerts());
    await shotWidget("error-unreachable");
    await openHost();
    await step("log in", login);
    await step("stop the gateway", () => ask("stopGateway"));
    const f = await widget();
    await step("reconnect strip", () => f.waitForSelector("#strip:not([hidden])", { timeout: 10000 }));
    await step("HubSpot alert after the drop", () =>
      waitHost(() => window.hostsim.alerts().some((a) => /gateway/i.test(a.message)), null, 20000),
    );
    R.extra.down = await softphoneFacts();
    await shotWidget("error-gateway-down");
  },

  /** The browser denies the microphone. */
  async mic() {
    await openHost();
    await step("log in", login);
    await step("HubSpot alert", () => waitHost(() => window.hostsim.alerts().length > 0));
    R.extra.afterLogin = await softphoneFacts();
    await shotWidget("error-mic-denied");
    await step("click Call", () => clickCall(1051));
    await step("call ended", () => waitMsg("CALL_ENDED", { timeout: 15000 }));
    R.extra.afterCall = await softphoneFacts();
  },

  /** Reload the widget mid-call: SYNC carries the engagement; call and audio resume. */
  async reload() {
    await openHost("?fault=objectIdZero");
    await step("log in", login);
    await step("click Call on Amelia Hart", () => clickCall(1053));
    await step("answered", () => waitPhone("answered", 15000));
    R.extra.selectedRecord = await page.textContent("#record h1");
    R.audio.before = await step("hear the echo", () => listen(1000));
    await step("reload the widget", () => page.click("#act-reload"));
    await step("SYNC with engagementId", () =>
      waitHost(() => window.hostsim.log().some((e) => e.type === "SYNC" && e.data && e.data.engagementId != null)),
    );
    const init = await step("initialized again", () => waitMsg("INITIALIZED", { n: 2 }));
    R.extra.reinitialized = init.data;
    const back = await step("call view restored", () => waitPhone(["answered", "ended", "login"], 15000));
    if (back === "login") {
      R.extra.loginAfterReload = await softphoneFacts();
      return;
    }
    if (back === "ended") {
      // The gateway hung up when the old page's media went away: report it, stop here.
      R.extra.droppedOnReload = await softphoneFacts();
      return;
    }
    R.audio.after = await step("hear the echo after the reload", () => listen(1000, { timeout: 10000 }));
    await step("end call from the CRM", () => page.click("#end-call"));
    await step("wrap-up", () => saveWrapUp("left_voicemail", "Reloaded mid-call."));
    const f = await widget();
    await step("save", () => f.click("#wrap-save"));
    await step("engagement updated", () => waitMsg("UPDATE_ENGAGEMENT_SUCCEEDED", { dir: "out" }));
    R.extra.timeline = await timeline();
  },

  /** The host's side under faults, and its message discipline. */
  async faults() {
    // The softphone may not be framed by just anyone (frame-ancestors).
    await page.goto("about:blank");
    // setContent resolves on the page's load event, which waits for the iframe's load
    // (the softphone, or Chromium's error page when framing is refused).
    await page.setContent(`<iframe id="x" src="${cfg.softphone}" width="400" height="600"></iframe>`);
    const child = page.frames().find((fr) => fr !== page.mainFrame());
    R.extra.foreignFrame = {
      url: child ? child.url() : "",
      loaded: child ? await child.evaluate(() => !!window.hubline).catch(() => false) : false,
    };

    // No SYNC_ACK: "issue connecting" when the SYNC loop gives up.
    await openHost(`?fault=noSyncAck&syncTimeoutMs=${cfg.syncTimeoutMs || 1500}`);
    await step("SYNC loop gives up", () => waitHost(() => window.hostsim.state().sync === "failed", null, 15000));
    await step("issue connecting shown", () => page.waitForSelector("#widget-overlay:not([hidden]) #overlay-retry"));
    R.extra.noAck = await page.evaluate(() => ({
      state: window.hostsim.state(),
      overlay: document.getElementById("widget-overlay").innerText,
      log: window.hostsim.log(),
      problems: window.hostsim.problems(),
    }));
    await shotPage("issue-connecting");
    await page.uncheck('[data-fault="noSyncAck"]');
    await step("try again", () => page.click("#overlay-retry"));
    await step("synced on retry", () => waitMsg("INITIALIZED"));

    // Duplicate SYNCs, and HubSpot failing to create and to update the engagement.
    await openHost("?fault=duplicateSyncs&fail=CREATE_ENGAGEMENT,UPDATE_ENGAGEMENT");
    await step("handshake", () => waitMsg("INITIALIZED"));
    await step("duplicate SYNCs sent", () =>
      waitHost(() => window.hostsim.log().filter((e) => e.type === "SYNC" && e.dir === "out").length >= 4),
    );
    await step("log in", login);
    await step("click Call", () => clickCall(1051));
    await step("engagement creation fails", () => waitMsg("CREATE_ENGAGEMENT_FAILED", { dir: "out" }));
    await step("answered", () => waitPhone("answered", 15000));
    R.extra.createFailed = await softphoneFacts();
    await step("end call from the CRM", () => page.click("#end-call"));
    await step("wrap-up", () => saveWrapUp("connected", "Engagement faults."));
    const f = await widget();
    await step("save", () => f.click("#wrap-save"));
    await step("update fails", () => waitMsg("UPDATE_ENGAGEMENT_FAILED", { dir: "out" }));
    await step("softphone says so", () =>
      f.waitForFunction(() => /outcome and notes/.test(document.getElementById("banner-text").textContent)),
    );
    R.extra.updateFailed = await softphoneFacts();
    R.extra.timeline = await timeline();
    await shotWidget("error-hubspot-failed");

    // Unknown types both ways, resize, and messages from the wrong window.
    await step("probe", () => page.click("#act-probe"));
    await step("app answers ERROR", () => waitMsg("ERROR"));
    const hostOrigin = new URL(cfg.host).origin;
    await f.evaluate((o) => {
      window.parent.postMessage({ type: "RESIZE_WIDGET", data: { width: 360, height: 560 }, messageId: "t_resize" }, o);
      window.parent.postMessage({ type: "HUBLINE_TEST_BOGUS", data: {}, messageId: "t_bogus" }, o);
      window.parent.postMessage({ type: "CALL_ENDED", data: { externalCallId: "x" } }, o);
    }, hostOrigin);
    await page.evaluate(() => window.postMessage({ type: "DIAL_NUMBER", data: { phoneNumber: "+1" }, messageId: "t_self" }, "*"));
    await step("resized", () => waitHost(() => window.hostsim.state().size.width === 360));
    await step("unknown answered", () => waitMsg("ERROR", { dir: "out" }));
    await step("wrong window ignored", () => waitMsg("DIAL_NUMBER", { status: "ignored" }));
    R.extra.frameBox = await page.locator("#hubspot-calling-extension-iframe").boundingBox();

    // The other way: the app's SDK ignores a DIAL_NUMBER that is not from HubSpot's origin
    // (here, posted by the widget's own window). A probe sent after it proves it was handled.
    const errorsIn = (await hostLog()).filter((e) => e.type === "ERROR" && e.dir === "in").length;
    await f.evaluate(() =>
      window.postMessage({ type: "DIAL_NUMBER", data: { phoneNumber: "+14155550123", countryCode: "US" }, messageId: "spoof_1" }, "*"),
    );
    await step("probe again", () => page.click("#act-probe"));
    await step("app answers the second probe", () => waitMsg("ERROR", { n: errorsIn + 1 }));

    // The widget reloads in a browser that blocks third-party storage (this scenario runs
    // with blockThirdPartyStorage): the rep signs in again, and is told why.
    await step("reload without storage", () => page.click("#act-reload"));
    await step("login form again", () => waitPhone("login"));
    const w = await widget();
    R.extra.storageNote = await w.evaluate(() => {
      const n = document.getElementById("login-storage");
      return n.hidden ? "" : n.textContent;
    });
    await shotWidget("login-storage-blocked");
  },

  /**
   * Blind transfer: SIPp answers with 440 Hz, takes the REFER, then reports the target busy
   * (NOTIFY 486). The rep opens Transfer, types a number, sees the failure; the call and its
   * audio go on.
   */
  async transfer() {
    await openHost();
    await step("log in", login);
    await step("click Call", () => clickCall(1052));
    await step("answered", () => waitPhone("answered", 15000));
    R.audio.before = await step("hear the trunk's tone", () => listen(440));
    const f = await widget();
    await step("open Transfer", () => f.click("#btn-transfer"));
    await step("type the number", () => f.fill("#xfer-number", cfg.transferTo));
    await shotWidget("transfer-panel");
    await step("click Transfer", () => f.click("#xfer-go"));
    R.extra.xferStatus = await step("transfer fails", async () => {
      await f.waitForFunction(
        () => document.getElementById("xfer-status").dataset.tone === "bad",
        null,
        { timeout: 15000, polling: 50 },
      );
      return f.evaluate(() => document.getElementById("xfer-status").textContent);
    });
    await shotWidget("transfer-failed");
    R.extra.stateAfter = await f.evaluate(() => window.hubline.state());
    R.audio.after = await step("still hear the trunk", () => listen(440));
    await step("hang up", () => f.click("#btn-hangup"));
    await step("call ended", () => waitMsg("CALL_ENDED"));
  },
};

// ---------------------------------------------------------------------------------------

let code = 0;
try {
  const run = scenarios[cfg.scenario];
  if (!run) throw new Error(`unknown scenario ${cfg.scenario}`);
  await run();
} catch (e) {
  R.error = `${e.step || "setup"}: ${(e.message || String(e)).split("\n")[0]}`;
  try {
    await shotPage(`FAILED-${cfg.scenario}`);
  } catch {
    /* the page is gone */
  }
}
try {
  if (page.url().includes("/hubspot/")) {
    Object.assign(
      R,
      await page.evaluate(() => ({
        log: window.hostsim.log(),
        problems: window.hostsim.problems(),
        calls: window.hostsim.calls(),
        alerts: window.hostsim.alerts(),
        host: window.hostsim.state(),
      })),
    );
    R.softphone = await softphoneFacts().catch((e) => ({ error: e.message }));
  }
} catch (e) {
  R.collectError = e.message;
}
await ctx.close().catch(() => {});
await rm(profile, { recursive: true, force: true });
emit({ result: R });
process.exitCode = code;
