package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// Chromium end-to-end tests: the real gateway binary and a real trunk peer
// (the demo trunk or SIPp) on loopback, Debian's Chromium driven by
// playwright-core (web/test/e2e/run.mjs), the softphone inside the HubSpot
// host simulator (/hubspot/, web/hostsim). The test owns every process; the
// node script acts like a rep and reports what it saw as JSON, which the test
// judges. Screenshots land in web/test/artifacts/ (gitignored).
//
// Chromium, node and web/node_modules are needed (scripts/setup.sh installs
// them). Without them the tests skip, unless HUBLINE_REQUIRE_BROWSER is set:
// then they fail, so that CI never passes by skipping.

var (
	browserRunner    = filepath.Join("..", "..", "web", "test", "e2e", "run.mjs")
	browserArtifacts = filepath.Join("..", "..", "web", "test", "artifacts")
	uuidRE           = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

const browserScenarioTimeout = 90 * time.Second

func chromiumPath() string {
	if p := os.Getenv("HUBLINE_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// requireBrowser skips t (or fails it, with HUBLINE_REQUIRE_BROWSER set)
// when Chromium, node or the web packages are missing.
func requireBrowser(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		missing = append(missing, chromiumPath())
	}
	if _, err := os.Stat(filepath.Join("..", "..", "web", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "web/node_modules/playwright-core (npm ci in web/)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("HUBLINE_REQUIRE_BROWSER") != "" {
		t.Fatalf("missing %s and HUBLINE_REQUIRE_BROWSER is set: run scripts/setup.sh", strings.Join(missing, ", "))
	}
	t.Skipf("missing %s (scripts/setup.sh installs them)", strings.Join(missing, ", "))
}

// browserResult is what run.mjs reports.
type browserResult struct {
	Scenario      string
	Error         string
	Steps         []struct{ Name string }
	Shots         []string
	Audio         map[string]audioCheck
	Extra         map[string]json.RawMessage
	Log           []hostMsg
	Problems      []struct{ Text, Type string }
	Calls         []hostCall
	Alerts        []hostAlert
	Host          hostState
	Softphone     phoneFacts
	PageErrors    []string
	ConsoleErrors []string
}

type audioCheck struct {
	Hz, Hits, Need int
	Min, Max       float64
	Samples        []float64
}

// hostMsg is one entry of the host simulator's log.
type hostMsg struct {
	Seq       int
	At        int64
	Dir       string // out: HubSpot → app; in: app → HubSpot; host
	Type      string
	MessageID string `json:"messageId"`
	Data      map[string]any
	Status    string // ok, ignored, dropped, warn
	Note      string
	Instance  string // the instance's iframeLocation: widget, remote, window
}

type hostCall struct {
	ExternalCallID  string `json:"externalCallId"`
	RecordID        int    `json:"recordId"`
	EngagementID    *int64 `json:"engagementId"`
	Status          string
	EndStatus       string
	Ended           int
	Completed       int
	Updated         bool
	UpdateError     string
	EngagementError string
	Properties      map[string]string
}

type hostAlert struct{ Kind, Message, From string }

type hostState struct {
	Sync                  string
	Initialized, LoggedIn bool
	Visibility            struct{ IsMinimized, IsHidden bool }
	Size                  struct{ Width, Height float64 }
	AppOrigin, HostOrigin string
	SDKVersion            string `json:"sdkVersion"`
}

type phoneFacts struct {
	State, Banner, WrapStatus, WrapDetail, View string
	Storage                                     bool // the frame has (partitioned) storage
	LastError                                   *struct{ Code, Message string }
	Events                                      []string
}

type timelineEntry struct {
	ExternalCallID                         string `json:"externalCallId"`
	Text, Status, Outcome, Duration, Notes string
}

// extra decodes a scenario fact.
func (r *browserResult) extra(t *testing.T, key string, v any) {
	t.Helper()
	raw, ok := r.Extra[key]
	if !ok {
		t.Fatalf("the scenario reported no %q", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("extra %s: %v", key, err)
	}
}

// msgs returns the log entries of direction dir ("" any) and type (""
// any) whose status is ok.
func (r *browserResult) msgs(dir, typ string) []hostMsg {
	var out []hostMsg
	for _, m := range r.Log {
		if (dir == "" || m.Dir == dir) && (typ == "" || m.Type == typ) && m.Status == "ok" {
			out = append(out, m)
		}
	}
	return out
}

func (r *browserResult) first(t *testing.T, dir, typ string) hostMsg {
	t.Helper()
	ms := r.msgs(dir, typ)
	if len(ms) == 0 {
		t.Fatalf("the host never logged %s %s", dir, typ)
	}
	return ms[0]
}

// types lists the types of accepted messages in direction dir, without SYNC
// and SYNC_ACK.
func (r *browserResult) types(dir string) []string {
	var out []string
	for _, m := range r.msgs(dir, "") {
		if m.Type != "SYNC" && m.Type != "SYNC_ACK" {
			out = append(out, m.Type)
		}
	}
	return out
}

// loads splits the log by widget load (the host's "iframe loaded" note).
func (r *browserResult) loads() [][]hostMsg {
	var out [][]hostMsg
	for _, m := range r.Log {
		if m.Dir == "host" && strings.HasPrefix(m.Note, "iframe loaded") {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], m)
		}
	}
	return out
}

// browserRun describes one run of run.mjs.
type browserRun struct {
	scenario string
	g        *gateway
	cfg      map[string]any    // more config for the scenario
	needs    map[string]func() // answers to the script's {"need": …}
}

// runBrowser runs one scenario and returns its report; it fails t if the
// script could not report at all, and when the scenario itself failed.
func runBrowser(t *testing.T, run browserRun) *browserResult {
	t.Helper()
	requireBrowser(t)
	runner, _ := filepath.Abs(browserRunner)
	artifacts, _ := filepath.Abs(browserArtifacts)
	tone := filepath.Join(t.TempDir(), "tone-1khz.wav")
	writePCMWAV(t, tone, repTone, 48000, 2*time.Second)
	port := run.g.HTTP[strings.LastIndexByte(run.g.HTTP, ':')+1:]
	cfg := map[string]any{
		"scenario":  run.scenario,
		"host":      "http://localhost:" + port + hostSimPath,
		"softphone": "http://127.0.0.1:" + port + "/softphone/",
		"user":      testUser,
		"password":  testPassword,
		"tone":      tone,
		"artifacts": artifacts,
		"chromium":  chromiumPath(),
	}
	for k, v := range run.cfg {
		cfg[k] = v
	}
	cfgJSON, _ := json.Marshal(cfg)

	cmd := exec.Command("node", runner, string(cfgJSON))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // node and its Chromium, killed together
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	exited := make(chan error, 1)
	lines := make(chan []byte)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	deadline := time.After(browserScenarioTimeout)
	var res *browserResult
	for res == nil {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("%s: run.mjs ended without a result\n%s", run.scenario, stderr.String())
			}
			var m struct {
				Step   string
				Need   string
				Result *browserResult
			}
			if err := json.Unmarshal(line, &m); err != nil {
				t.Logf("run.mjs: %s", line)
				continue
			}
			switch {
			case m.Step != "":
				t.Logf("browser: %s", m.Step)
			case m.Need != "":
				fn, ok := run.needs[m.Need]
				if !ok {
					t.Fatalf("run.mjs needs %q, which this test cannot do", m.Need)
				}
				fn()
				if _, err := io.WriteString(stdin, `{"done":true}`+"\n"); err != nil {
					t.Fatal(err)
				}
			case m.Result != nil:
				res = m.Result
			}
		case <-deadline:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("%s: no result after %s\n%s", run.scenario, browserScenarioTimeout, stderr.String())
		}
	}
	for _, s := range res.Shots {
		t.Logf("screenshot %s", s)
	}
	if res.Error != "" {
		t.Errorf("%s: %s", run.scenario, res.Error)
		for _, m := range res.Log {
			t.Logf("host log: %s %s %s %v %s", m.Dir, m.Type, m.Status, m.Data, m.Note)
		}
		t.FailNow()
	}
	for _, e := range res.PageErrors {
		t.Errorf("uncaught error in the page: %s", e)
	}
	return res
}

// writePCMWAV writes a 16-bit mono PCM WAV of a sine tone: Chromium's fake
// microphone (--use-file-for-fake-audio-capture) loops it.
func writePCMWAV(t *testing.T, path string, freq float64, rate int, d time.Duration) {
	t.Helper()
	n := int(d.Seconds() * float64(rate))
	data := make([]byte, 2*n)
	for i := range n {
		v := int16(0.3 * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	if err := os.WriteFile(path, append(h[:], data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deadAddr is a loopback TCP address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// ---------------------------------------------------------------------------
// The tests

// TestBrowserClickToCall: the rep clicks Call on a contact in the host
// simulator; the demo trunk rings (425 Hz early media), answers and echoes
// the browser's 1 kHz microphone; HubSpot sees the whole call with exact
// payloads, and the timeline shows it logged.
func TestBrowserClickToCall(t *testing.T) {
	requireBrowser(t)
	// The demo trunk's ringback is 1 s on, 4 s off: 6 s of ringing give the
	// browser two bursts to hear, however long its media takes to connect
	// on a busy machine.
	g := startGateway(t, gwConfig{demoTrunk: true, demoRing: 6 * time.Second})
	r := runBrowser(t, browserRun{scenario: "call", g: g})
	port := g.HTTP[strings.LastIndexByte(g.HTTP, ':')+1:]
	hostOrigin, appOrigin := "http://localhost:"+port, "http://127.0.0.1:"+port

	for _, p := range r.Problems {
		t.Errorf("host simulator flagged: %s (%s)", p.Text, p.Type)
	}
	if got, want := strings.Join(r.types("in"), ","), "INITIALIZED,LOGGED_IN,OUTGOING_CALL_STARTED,CALL_ANSWERED,CALL_ENDED,CALL_COMPLETED"; got != want {
		t.Errorf("app → HubSpot: %s\nwant %s", got, want)
	}
	if got, want := strings.Join(r.types("out"), ","), "DIAL_NUMBER,CREATE_ENGAGEMENT_SUCCEEDED,UPDATE_ENGAGEMENT_SUCCEEDED"; got != want {
		t.Errorf("HubSpot → app: %s\nwant %s", got, want)
	}

	// Handshake and origins.
	sync := r.first(t, "out", "SYNC")
	if !strings.HasPrefix(sync.MessageID, "host_") {
		t.Errorf("SYNC messageId %q: want the host_ prefix", sync.MessageID)
	}
	for k, want := range map[string]any{"hostUrl": hostOrigin, "iframeLocation": "widget", "usesCallingWindow": false} {
		if sync.Data[k] != want {
			t.Errorf("SYNC.%s = %v, want %v", k, sync.Data[k], want)
		}
	}
	for _, k := range []string{"portalId", "userId", "ownerId"} {
		if num(sync.Data[k]) == 0 {
			t.Errorf("SYNC.%s = %v", k, sync.Data[k])
		}
	}
	if _, ok := sync.Data["engagementId"]; ok {
		t.Errorf("SYNC on a fresh load carries engagementId: %v", sync.Data)
	}
	ack := r.first(t, "in", "SYNC_ACK")
	if ack.Data["iFrameUrl"] != appOrigin || ack.Data["version"] == "" || ack.MessageID == "" {
		t.Errorf("SYNC_ACK = %v", ack.Data)
	}
	if r.Host.AppOrigin != appOrigin || r.Host.HostOrigin != hostOrigin {
		t.Errorf("origins: host %s, app %s; want %s and %s", r.Host.HostOrigin, r.Host.AppOrigin, hostOrigin, appOrigin)
	}
	if init := r.first(t, "in", "INITIALIZED"); init.Data["isLoggedIn"] != false {
		t.Errorf("INITIALIZED before login = %v", init.Data)
	}

	// Click-to-call: the payload HubSpot sends, and the call it starts.
	dial := r.first(t, "out", "DIAL_NUMBER").Data
	ci, _ := dial["calleeInfo"].(map[string]any)
	if dial["phoneNumber"] != "+1 (415) 555-0123" || dial["phone_number"] != dial["phoneNumber"] || dial["countryCode"] != "US" ||
		num(dial["objectId"]) != 1051 || dial["objectType"] != "CONTACT" || num(ci["calleeId"]) != 1051 || ci["calleeObjectTypeId"] != "0-1" ||
		num(dial["portalId"]) != num(sync.Data["portalId"]) || num(dial["ownerId"]) != num(sync.Data["ownerId"]) ||
		num(dial["subjectId"]) != 1051 || num(dial["startTimestamp"]) == 0 || dial["toPhoneNumberSrc"] != "Phone number" {
		t.Errorf("DIAL_NUMBER = %v", dial)
	}
	out := r.first(t, "in", "OUTGOING_CALL_STARTED").Data
	id, _ := out["externalCallId"].(string)
	if !uuidRE.MatchString(id) || out["toNumber"] != "+14155550123" || out["fromNumber"] != testFrom || out["createEngagement"] != true {
		t.Errorf("OUTGOING_CALL_STARTED = %v", out)
	}
	if st := num(out["callStartTime"]); time.Since(time.UnixMilli(st)) > time.Minute || time.Until(time.UnixMilli(st)) > time.Second {
		t.Errorf("OUTGOING_CALL_STARTED.callStartTime = %d", st)
	}
	if ctx, _ := json.Marshal(out["dialingContext"]); !bytes.Equal(ctx, mustJSON(dial)) {
		t.Errorf("dialingContext %s\nwant the DIAL_NUMBER payload %s", ctx, mustJSON(dial))
	}
	engagement := num(r.first(t, "out", "CREATE_ENGAGEMENT_SUCCEEDED").Data["engagementId"])
	for _, typ := range []string{"CALL_ANSWERED", "CALL_ENDED", "CALL_COMPLETED"} {
		m := r.first(t, "in", typ)
		if m.Data["externalCallId"] != id {
			t.Errorf("%s.externalCallId = %v, want %s", typ, m.Data["externalCallId"], id)
		}
		if typ != "CALL_ANSWERED" && num(m.Data["engagementId"]) != engagement {
			t.Errorf("%s.engagementId = %v, want %d", typ, m.Data["engagementId"], engagement)
		}
	}
	if s := r.first(t, "in", "CALL_ENDED").Data["callEndStatus"]; s != "COMPLETED" {
		t.Errorf("callEndStatus %v", s)
	}
	done := r.first(t, "in", "CALL_COMPLETED").Data
	props, _ := done["engagementProperties"].(map[string]any)
	if done["hideWidget"] != false || props["hs_call_status"] != "COMPLETED" || props["hs_call_disposition"] != "f240bbac-87c9-4f6e-bf70-924b57d47db7" ||
		!strings.HasPrefix(fmt.Sprint(props["hs_call_body"]), "Interested in the Pro plan") {
		t.Errorf("CALL_COMPLETED = %v", done)
	}
	if u := num(r.first(t, "out", "UPDATE_ENGAGEMENT_SUCCEEDED").Data["engagementId"]); u != engagement {
		t.Errorf("UPDATE_ENGAGEMENT_SUCCEEDED for %d, want %d", u, engagement)
	}

	// The CRM: the call is logged on the contact.
	if len(r.Calls) != 1 || r.Calls[0].RecordID != 1051 || !r.Calls[0].Updated {
		t.Errorf("host calls = %+v", r.Calls)
	}
	var tl []timelineEntry
	r.extra(t, "timeline", &tl)
	if len(tl) != 1 || tl[0].ExternalCallID != id || tl[0].Status != "Completed" || tl[0].Outcome != "Connected" ||
		!strings.Contains(tl[0].Text, fmt.Sprint(engagement)) || !strings.HasPrefix(tl[0].Notes, "Interested") {
		t.Errorf("timeline = %+v", tl)
	}

	// Audio: the trunk's ringback during early media, then the echo of the
	// browser's own 1 kHz tone: the trunk received it and sent it back.
	for name, min := range map[string]int{"ringback": 3, "echo": 5} {
		a := r.Audio[name]
		if a.Hits < min {
			t.Errorf("%s at %d Hz: %d of %d samples above %.1f (max %.2f): %v", name, a.Hz, a.Hits, min, a.Min, a.Max, a.Samples)
		}
	}
	if len(r.Alerts) != 0 {
		t.Errorf("alerts during a good call: %+v", r.Alerts)
	}
	// As in Chrome, the cross-site softphone frame has partitioned storage
	// (see PLAYWRIGHT_DISABLED_FEATURES in run.mjs).
	if !r.Softphone.Storage {
		t.Error("the softphone frame has no storage: Chromium is not set up like Chrome")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestBrowserTrunkTone: SIPp answers and plays 440 Hz; the softphone hears it.
func TestBrowserTrunkTone(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	writeUlawWAV(t, filepath.Join(dir, "tone.wav"), trunkTone, 3*time.Second)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_tone.xml"), Dir: dir, Timeout: 60 * time.Second})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	r := runBrowser(t, browserRun{scenario: "tone", g: g})
	if a := r.Audio["tone"]; a.Hits < a.Need {
		t.Errorf("440 Hz from SIPp: %d of %d samples above %.1f (max %.2f): %v", a.Hits, a.Need, a.Min, a.Max, a.Samples)
	}
	if a := r.Audio["notEcho"]; a.Max > 0.2 {
		t.Errorf("the rep's own 1 kHz came back from a trunk that does not echo: %v", a.Samples)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Errorf("SIPp did not see a proper call: %v", err)
	}
	if s := r.first(t, "in", "CALL_ENDED").Data["callEndStatus"]; s != "COMPLETED" {
		t.Errorf("callEndStatus %v", s)
	}
}

// TestBrowserLoginRequired: a logged-out softphone says so, HubSpot refuses
// to dial, logging in sends LOGGED_IN; with hideWidget the widget closes
// after the call and reopens on the next click; End call in the CRM hangs up.
func TestBrowserLoginRequired(t *testing.T) {
	requireBrowser(t)
	yaml := strings.Replace(gwConfig{demoTrunk: true}.yaml(), "calls:\n", "calls:\n  hideWidget: true\n", 1)
	g := startGatewayWith(t, yaml)
	r := runBrowser(t, browserRun{scenario: "login", g: g})
	for _, p := range r.Problems {
		t.Errorf("host simulator flagged: %s (%s)", p.Text, p.Type)
	}
	var init map[string]any
	r.extra(t, "initialized", &init)
	if init["isLoggedIn"] != false {
		t.Errorf("INITIALIZED = %v, want isLoggedIn false", init)
	}
	var dials int
	r.extra(t, "dialsBeforeLogin", &dials)
	if dials != 0 {
		t.Errorf("HubSpot sent %d DIAL_NUMBER before the rep logged in", dials)
	}
	if len(r.Alerts) == 0 || !strings.Contains(r.Alerts[0].Message, "Log in to hubline") {
		t.Errorf("alerts %+v, want HubSpot's log-in alert first", r.Alerts)
	}
	want := "INITIALIZED,LOGGED_IN,OUTGOING_CALL_STARTED,CALL_ENDED,CALL_COMPLETED,OUTGOING_CALL_STARTED,CALL_ENDED"
	if got := strings.Join(r.types("in"), ","); got != want {
		t.Errorf("app → HubSpot: %s\nwant %s", got, want)
	}
	if got, want := strings.Join(r.types("out"), ","),
		"DIAL_NUMBER,CREATE_ENGAGEMENT_SUCCEEDED,UPDATE_ENGAGEMENT_SUCCEEDED,VISIBILITY_CHANGED,VISIBILITY_CHANGED,DIAL_NUMBER,CREATE_ENGAGEMENT_SUCCEEDED,END_CALL"; got != want {
		t.Errorf("HubSpot → app: %s\nwant %s", got, want)
	}
	vis := r.msgs("out", "VISIBILITY_CHANGED")
	if len(vis) == 2 && (vis[0].Data["isHidden"] != true || vis[1].Data["isHidden"] != false) {
		t.Errorf("VISIBILITY_CHANGED %v then %v, want hidden then shown", vis[0].Data, vis[1].Data)
	}
	if done := r.first(t, "in", "CALL_COMPLETED").Data; done["hideWidget"] != true {
		t.Errorf("CALL_COMPLETED.hideWidget = %v with calls.hideWidget: true", done["hideWidget"])
	}
	var hidden bool
	r.extra(t, "hiddenWidget", &hidden)
	if !hidden {
		t.Error("the widget stayed visible after callCompleted with hideWidget")
	}
	for _, m := range r.msgs("in", "CALL_ENDED") {
		if m.Data["callEndStatus"] != "CANCELED" {
			t.Errorf("CALL_ENDED %v, want CANCELED (hung up while ringing)", m.Data)
		}
	}
}

// TestBrowserCallFailures: a busy callee (486) and a number that does not
// exist (404) each end in a clear message; the failure also raises
// HubSpot's alert (busy is an outcome, not an error: no alert).
func TestBrowserCallFailures(t *testing.T) {
	requireBrowser(t)
	g := startGateway(t, gwConfig{demoTrunk: true})
	r := runBrowser(t, browserRun{scenario: "failures", g: g})
	for _, p := range r.Problems {
		t.Errorf("host simulator flagged: %s (%s)", p.Text, p.Type)
	}
	var busy, failed phoneFacts
	var alertsAfterBusy int
	r.extra(t, "busy", &busy)
	r.extra(t, "failed", &failed)
	r.extra(t, "alertsAfterBusy", &alertsAfterBusy)
	if busy.WrapStatus != "Busy" || !strings.Contains(busy.WrapDetail, "486") {
		t.Errorf("busy call shows %q / %q, want Busy / 486", busy.WrapStatus, busy.WrapDetail)
	}
	if alertsAfterBusy != 0 {
		t.Errorf("a busy callee raised %d HubSpot alerts", alertsAfterBusy)
	}
	if !strings.Contains(failed.WrapStatus, "404") || !strings.Contains(failed.Banner, "404") || failed.LastError == nil || failed.LastError.Code != "call_failed" {
		t.Errorf("failed call shows %q, banner %q, last error %+v", failed.WrapStatus, failed.Banner, failed.LastError)
	}
	if len(r.Alerts) != 1 || r.Alerts[0].From != "app" || !strings.Contains(r.Alerts[0].Message, "404") {
		t.Errorf("HubSpot alerts %+v, want one from the app about the 404", r.Alerts)
	}
	ended := r.msgs("in", "CALL_ENDED")
	if len(ended) != 2 || ended[0].Data["callEndStatus"] != "BUSY" || ended[1].Data["callEndStatus"] != "FAILED" {
		t.Errorf("CALL_ENDED: %+v", ended)
	}
	var tl []timelineEntry
	r.extra(t, "timeline", &tl)
	if len(tl) != 2 || tl[0].Status != "Failed" || tl[1].Status != "Busy" {
		t.Errorf("timeline (newest first) = %+v", tl)
	}
}

// TestBrowserGatewayUnreachable: the softphone cannot reach its gateway, at
// load and after the gateway stops; the widget says so and HubSpot alerts.
func TestBrowserGatewayUnreachable(t *testing.T) {
	requireBrowser(t)
	g := startGateway(t, gwConfig{demoTrunk: true})
	r := runBrowser(t, browserRun{
		scenario: "unreachable", g: g,
		cfg:   map[string]any{"deadGateway": deadAddr(t)},
		needs: map[string]func(){"stopGateway": g.stop},
	})
	var dead, down phoneFacts
	var deadAlerts []hostAlert
	r.extra(t, "dead", &dead)
	r.extra(t, "down", &down)
	r.extra(t, "deadAlerts", &deadAlerts)
	if dead.State != "unreachable" || dead.LastError == nil || dead.LastError.Code != "gateway_unreachable" {
		t.Errorf("wrong gateway address: state %s, last error %+v", dead.State, dead.LastError)
	}
	if len(deadAlerts) == 0 || !strings.Contains(deadAlerts[0].Message, "Can't reach the hubline gateway") {
		t.Errorf("alerts %+v, want the app's unreachable alert", deadAlerts)
	}
	if down.State != "idle" || down.LastError == nil || down.LastError.Code != "gateway_unreachable" {
		t.Errorf("after the gateway stopped: state %s, last error %+v", down.State, down.LastError)
	}
	found := false
	for _, a := range r.Alerts {
		found = found || (a.From == "app" && strings.Contains(a.Message, "hubline keeps retrying"))
	}
	if !found {
		t.Errorf("alerts %+v, want the app's alert about the lost gateway", r.Alerts)
	}
}

// TestBrowserMicrophoneDenied: Chromium denies the microphone; the rep is
// told at once, HubSpot alerts, and a call attempt ends cleanly.
func TestBrowserMicrophoneDenied(t *testing.T) {
	requireBrowser(t)
	g := startGateway(t, gwConfig{demoTrunk: true})
	r := runBrowser(t, browserRun{scenario: "mic", g: g, cfg: map[string]any{"denyMic": true}})
	var after, call phoneFacts
	r.extra(t, "afterLogin", &after)
	r.extra(t, "afterCall", &call)
	if after.LastError == nil || after.LastError.Code != "mic_denied" || !strings.Contains(after.Banner, "Microphone access is blocked") {
		t.Errorf("after login: banner %q, last error %+v", after.Banner, after.LastError)
	}
	if len(r.Alerts) == 0 || !strings.Contains(r.Alerts[0].Message, "Microphone access is blocked") {
		t.Errorf("alerts %+v", r.Alerts)
	}
	if s := r.first(t, "in", "CALL_ENDED").Data["callEndStatus"]; s != "CANCELED" {
		t.Errorf("the call without a microphone ended %v, want CANCELED", s)
	}
	if call.LastError == nil || call.LastError.Code != "mic_denied" {
		t.Errorf("after the call: %+v", call.LastError)
	}
}

// TestBrowserReloadMidCall: HubSpot reloads the widget during a call; SYNC
// carries the engagement, the softphone resumes the call and its audio, and
// the call still logs once. Click-to-call sends objectId 0 (a HubSpot
// quirk): the call is filed by calleeInfo.
func TestBrowserReloadMidCall(t *testing.T) {
	requireBrowser(t)
	g := startGateway(t, gwConfig{demoTrunk: true})
	r := runBrowser(t, browserRun{scenario: "reload", g: g})
	for _, p := range r.Problems {
		t.Errorf("host simulator flagged: %s (%s)", p.Text, p.Type)
	}
	if d := r.first(t, "out", "DIAL_NUMBER").Data; num(d["objectId"]) != 0 {
		t.Errorf("DIAL_NUMBER.objectId = %v with the objectIdZero fault", d["objectId"])
	}
	var rec string
	r.extra(t, "selectedRecord", &rec)
	if len(r.Calls) != 1 || r.Calls[0].RecordID != 1053 || rec != "Amelia Hart" {
		t.Errorf("call filed on %+v, page shows %q; want Amelia Hart (from calleeInfo)", r.Calls, rec)
	}
	engagement := num(r.first(t, "out", "CREATE_ENGAGEMENT_SUCCEEDED").Data["engagementId"])
	var resync hostMsg
	for _, m := range r.msgs("out", "SYNC") {
		if _, ok := m.Data["engagementId"]; ok {
			resync = m
			break
		}
	}
	if num(resync.Data["engagementId"]) != engagement {
		t.Errorf("SYNC after the reload = %v, want engagementId %d", resync.Data, engagement)
	}
	if _, relogin := r.Extra["loginAfterReload"]; relogin {
		t.Fatalf("the reloaded softphone asked the rep to sign in again; it should resume its session: %+v", r.Softphone)
	}
	var reinit map[string]any
	r.extra(t, "reinitialized", &reinit)
	if reinit["isLoggedIn"] != true {
		t.Errorf("INITIALIZED after the reload = %v, want the session resumed (isLoggedIn true)", reinit)
	}
	if _, dropped := r.Extra["droppedOnReload"]; dropped {
		t.Fatalf("the call ended when the widget reloaded: %+v", r.Softphone)
	}
	if num(reinit["engagementId"]) != engagement {
		t.Errorf("INITIALIZED after the reload = %v, want logged in with engagement %d", reinit, engagement)
	}
	if n := len(r.msgs("in", "SYNC_ACK")); n != 2 {
		t.Errorf("%d SYNC_ACKs, want one per load", n)
	}
	if got, want := strings.Join(r.types("in"), ","), "INITIALIZED,LOGGED_IN,OUTGOING_CALL_STARTED,CALL_ANSWERED,INITIALIZED,CALL_ENDED,CALL_COMPLETED"; got != want {
		t.Errorf("app → HubSpot: %s\nwant %s", got, want)
	}
	for name, a := range r.Audio {
		if a.Hits < a.Need {
			t.Errorf("echo %s the reload: %d of %d samples (max %.2f): %v", name, a.Hits, a.Need, a.Max, a.Samples)
		}
	}
	var tl []timelineEntry
	r.extra(t, "timeline", &tl)
	if len(tl) != 1 || tl[0].Outcome != "Left voicemail" || !r.Calls[0].Updated {
		t.Errorf("timeline %+v, call %+v; want the call logged once with its outcome", tl, r.Calls)
	}
}

// TestBrowserHostFaults: the host simulator's fault switches and message
// discipline, with the softphone inside.
func TestBrowserHostFaults(t *testing.T) {
	requireBrowser(t)
	g := startGateway(t, gwConfig{demoTrunk: true})
	r := runBrowser(t, browserRun{scenario: "faults", g: g, cfg: map[string]any{"syncTimeoutMs": 1500, "blockThirdPartyStorage": true}})

	// The softphone refuses to be framed by a page frame-ancestors does not list.
	var foreign struct {
		URL    string
		Loaded bool
	}
	r.extra(t, "foreignFrame", &foreign)
	if foreign.Loaded {
		t.Errorf("a foreign page framed the softphone (%s): frame-ancestors is not enforced", foreign.URL)
	}

	// No SYNC_ACK: the loop gives up and HubSpot says it cannot connect;
	// what the app sent meanwhile was not listened to.
	var noAck struct {
		State    hostState
		Overlay  string
		Log      []hostMsg
		Problems []struct{ Text string }
	}
	r.extra(t, "noAck", &noAck)
	syncs, dropped := 0, 0
	for _, m := range noAck.Log {
		switch {
		case m.Type == "SYNC" && m.Dir == "out":
			syncs++
		case m.Type == "SYNC_ACK" && m.Status == "dropped":
			dropped++
		case m.Dir == "in" && m.Status == "ok":
			t.Errorf("without a SYNC_ACK the host accepted %s", m.Type)
		}
	}
	if noAck.State.Sync != "failed" || !strings.Contains(noAck.Overlay, "issue connecting") || syncs < 10 || dropped != 1 || len(noAck.Problems) != 0 {
		t.Errorf("no SYNC_ACK: state %s, %d SYNCs, %d dropped acks, overlay %q, problems %v", noAck.State.Sync, syncs, dropped, noAck.Overlay, noAck.Problems)
	}

	// Duplicate SYNCs: the app acks and initialises once per load.
	loads := r.loads()
	if len(loads) != 2 {
		t.Fatalf("%d widget loads, want 2 (first load, reload)", len(loads))
	}
	count := func(msgs []hostMsg, dir, typ string) int {
		n := 0
		for _, m := range msgs {
			if m.Dir == dir && m.Type == typ && m.Status == "ok" {
				n++
			}
		}
		return n
	}
	for i, l := range loads {
		// The first load's duplicates were all sent (the scenario waited for them).
		if n, a, in := count(l, "out", "SYNC"), count(l, "in", "SYNC_ACK"), count(l, "in", "INITIALIZED"); (i == 0 && n < 4) || a != 1 || in != 1 {
			t.Errorf("load %d with duplicate SYNCs: %d SYNCs, %d SYNC_ACKs, %d INITIALIZED", i+1, n, a, in)
		}
	}
	for _, p := range r.Problems {
		t.Errorf("host simulator flagged: %s (%s)", p.Text, p.Type)
	}

	// HubSpot fails to create, then to update, the engagement.
	var created, updated phoneFacts
	r.extra(t, "createFailed", &created)
	r.extra(t, "updateFailed", &updated)
	if !strings.Contains(created.Banner, "won't be logged") {
		t.Errorf("after CREATE_ENGAGEMENT_FAILED the widget shows %q", created.Banner)
	}
	if !strings.Contains(updated.Banner, "outcome and notes") || !strings.Contains(updated.Banner, "There is no engagement to update") {
		t.Errorf("after UPDATE_ENGAGEMENT_FAILED the widget shows %q", updated.Banner)
	}
	if ended := r.first(t, "in", "CALL_ENDED").Data; ended["engagementId"] != nil {
		t.Errorf("CALL_ENDED carries engagementId %v though HubSpot created none", ended["engagementId"])
	}
	if len(r.Calls) != 1 || r.Calls[0].Updated || r.Calls[0].UpdateError == "" || r.Calls[0].EngagementID != nil {
		t.Errorf("host call = %+v", r.Calls)
	}
	if len(r.msgs("out", "END_CALL")) != 1 {
		t.Error("End call in the CRM sent no END_CALL")
	}
	if n := len(r.msgs("in", "OUTGOING_CALL_STARTED")); n != 1 {
		t.Errorf("%d calls started: the app acted on a DIAL_NUMBER that did not come from HubSpot's origin", n)
	}

	// Unknown types both ways; resize; messages from the wrong window.
	var appErr hostMsg
	for _, m := range r.msgs("in", "ERROR") {
		if m.Data["type"] == "UNKNOWN_MESSAGE_TYPE" {
			appErr = m
		}
	}
	if orig, _ := appErr.Data["data"].(map[string]any); orig == nil {
		t.Errorf("the app did not answer the unknown host message with ERROR UNKNOWN_MESSAGE_TYPE: %+v", r.msgs("in", "ERROR"))
	}
	answered := false
	for _, m := range r.msgs("out", "ERROR") {
		d, _ := m.Data["data"].(map[string]any)
		orig, _ := d["originalMessage"].(map[string]any)
		answered = answered || (m.Data["type"] == "UNKNOWN_MESSAGE_TYPE" && orig["type"] == "HUBLINE_TEST_BOGUS")
	}
	if !answered {
		t.Error("the host did not answer an unknown app message with ERROR UNKNOWN_MESSAGE_TYPE")
	}
	var box struct{ Width, Height float64 }
	r.extra(t, "frameBox", &box)
	if r.Host.Size.Width != 360 || box.Width != 360 || box.Height != 560 {
		t.Errorf("after RESIZE_WIDGET 360×560 the iframe is %v×%v", box.Width, box.Height)
	}
	var note string
	r.extra(t, "storageNote", &note)
	if !strings.Contains(note, "blocks storage") {
		t.Errorf("after a reload without third-party storage the login form says %q, want why the rep signs in again", note)
	}
	ignored := map[string]string{}
	for _, m := range r.Log {
		if m.Status == "ignored" {
			ignored[m.Type] = m.Note
		}
	}
	if !strings.Contains(ignored["DIAL_NUMBER"], "not from the widget") || !strings.Contains(ignored["CALL_ENDED"], "no type or messageId") {
		t.Errorf("ignored messages: %v", ignored)
	}
}

// TestHostSimulatorDevelopmentOnly: development mode serves the simulator
// and lets it frame the softphone from the other loopback name; production
// mode answers 404 and keeps frame-ancestors to HubSpot.
func TestHostSimulatorDevelopmentOnly(t *testing.T) {
	dev := startGateway(t, gwConfig{demoTrunk: true})
	sink := newUDPSink(t)
	prodYAML := strings.Replace(gwConfig{trunk: sink.addr()}.yaml(), "mode: development", "mode: production", 1)
	prod := startGatewayWith(t, prodYAML)

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(url string) (int, string, string) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.Join(resp.Header.Values("Content-Security-Policy"), " | "), string(body)
	}
	port := dev.HTTP[strings.LastIndexByte(dev.HTTP, ':')+1:]
	if code, csp, body := get("http://" + dev.HTTP + hostSimPath); code != 200 || !strings.Contains(csp, "frame-src") || !strings.Contains(body, "hostsim.js") {
		t.Errorf("development /hubspot/: %d, CSP %q", code, csp)
	}
	var s hostSimSettings
	code, _, body := get("http://localhost:" + port + hostSimPath + "settings.json")
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil || s.URL != "http://127.0.0.1:"+port+"/softphone/" || s.Width != 400 || s.Height != 600 {
		t.Errorf("settings.json from localhost: %d %s", code, body)
	}
	if _, csp, _ := get("http://" + dev.HTTP + "/softphone/"); !strings.Contains(csp, "frame-ancestors 'self' https://app.hubspot.com") || !strings.Contains(csp, "http://localhost:*") {
		t.Errorf("development softphone CSP: %s", csp)
	}

	for _, p := range []string{hostSimPath, hostSimPath + "settings.json", hostSimPath + "hostsim.js"} {
		if code, _, _ := get("http://" + prod.HTTP + p); code != 404 {
			t.Errorf("production %s: %d, want 404", p, code)
		}
	}
	_, csp, _ := get("http://" + prod.HTTP + "/softphone/")
	if !strings.Contains(csp, "frame-ancestors 'self' https://app.hubspot.com") || strings.Contains(csp, "localhost") {
		t.Errorf("production softphone CSP: %s", csp)
	}
	if strings.Contains(prod.rawLogsText(), "host simulator") {
		t.Error("the production gateway announced a host simulator")
	}
}
