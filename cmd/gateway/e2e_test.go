package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
)

// End-to-end: the gateway binary between the headless softphone (the
// browser's part, and HubSpot's around it) and SIPp (the trunk), all on
// loopback. Audio is checked by tone frequency, events by name, order and
// payload.

const (
	repTone   = 1000.0 // what the rep "says"
	trunkTone = 440.0  // what the far end plays
	callee    = "+14155550199"
)

var toneCandidates = []float64{trunkTone, repTone, 425, 600, 1400, 2000}

func scenario(name string) string { return filepath.Join("testdata", "sipp", name) }

// newPhone connects a headless softphone, simulating HubSpot around it,
// and signs it in as the test rep. It sends a 1 kHz tone and records what
// it hears.
func newPhone(t *testing.T, g *gateway, mod func(*softphone.Options)) *softphone.Phone {
	t.Helper()
	return newPhoneUser(t, g, testUser, mod)
}

func newPhoneUser(t *testing.T, g *gateway, user string, mod func(*softphone.Options)) *softphone.Phone {
	t.Helper()
	o := softphone.Options{
		URL:             g.wsURL(),
		Logger:          zaptest.NewLogger(t).Named("phone"),
		Source:          audio.NewTone(repTone, 0.3),
		Record:          true,
		ICENetworks:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		SimulateHubSpot: true,
	}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := softphone.Dial(ctx, o)
	if err != nil {
		t.Fatalf("softphone: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if _, err := p.Login(ctx, user, testPassword); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return p
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dialContact clicks Call on a contact in HubSpot.
func dialContact(t *testing.T, p *softphone.Phone, number string) string {
	t.Helper()
	id, err := p.DialFromHubSpot(ctxFor(t, 10*time.Second), softphone.ContactDial(number, "US", 501))
	if err != nil {
		t.Fatalf("dial %s: %v", number, err)
	}
	return id
}

func waitState(t *testing.T, p *softphone.Phone, id string, s softphone.CallState) softphone.Call {
	t.Helper()
	c, err := p.WaitState(ctxFor(t, 20*time.Second), id, s)
	if err != nil {
		t.Fatalf("waiting for %s: %v", s, err)
	}
	return c
}

// heardTone waits for d more of audio and returns the dominant tone of
// that stretch.
func heardTone(t *testing.T, p *softphone.Phone, d time.Duration) (float64, float64) {
	t.Helper()
	before := len(p.Heard())
	if err := p.WaitHeard(ctxFor(t, d+10*time.Second), time.Duration(before)*time.Second/audio.SampleRate+d); err != nil {
		t.Fatalf("waiting for %s of audio: %v (stats %+v)", d, err, p.Stats())
	}
	pcm := p.Heard()[before:]
	return audio.DominantTone(pcm, toneCandidates)
}

func expectTone(t *testing.T, p *softphone.Phone, want float64, what string) {
	t.Helper()
	f, level := heardTone(t, p, time.Second)
	if f != want || level < 0.5 {
		t.Fatalf("%s: heard %.0f Hz at %.2f of the energy, want %.0f Hz (stats %+v)", what, f, level, want, p.Stats())
	}
	t.Logf("%s: %.0f Hz holds %.2f of the energy", what, f, level)
}

// sdkCall is an SDK event of one call, decoded.
type sdkCall struct {
	Name string
	Data map[string]any
}

// callEvents returns the SDK events HubSpot received, without the session
// ones (initialized, userLoggedIn).
func callEvents(t *testing.T, p *softphone.Phone) []sdkCall {
	t.Helper()
	var out []sdkCall
	for _, e := range p.SDKEvents() {
		switch e.Name {
		case "initialized", "userLoggedIn", "userLoggedOut", "userAvailable", "userUnavailable":
			continue
		}
		m := map[string]any{}
		if err := e.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, sdkCall{e.Name, m})
	}
	return out
}

// checkCallEvents asserts HubSpot saw exactly outgoingCall, [callAnswered],
// callEnded(status), callCompleted for one call, with one externalCallId
// and the engagement id HubSpot created echoed.
func checkCallEvents(t *testing.T, p *softphone.Phone, callID string, answered bool, status string) []sdkCall {
	t.Helper()
	want := []string{"outgoingCall", "callEnded", "callCompleted"}
	if answered {
		want = []string{"outgoingCall", "callAnswered", "callEnded", "callCompleted"}
	}
	// callCompleted may still be in flight when the wrap-up returns.
	deadline := time.Now().Add(5 * time.Second)
	evs := callEvents(t, p)
	for len(evs) < len(want) && time.Now().Before(deadline) {
		select {
		case <-p.Events():
		case <-time.After(50 * time.Millisecond):
		}
		evs = callEvents(t, p)
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("HubSpot saw %v, want %v", names, want)
	}
	all := p.SDKEvents()
	if len(all) == 0 || all[0].Name != "initialized" {
		t.Errorf("the first SDK event was not initialized: %v", all)
	}
	engagement := float64(p.EngagementID())
	for _, e := range evs {
		if e.Data["externalCallId"] != callID {
			t.Errorf("%s.externalCallId = %v, want %s", e.Name, e.Data["externalCallId"], callID)
		}
		if e.Name == "callEnded" || e.Name == "callCompleted" {
			if e.Data["engagementId"] != engagement {
				t.Errorf("%s.engagementId = %v, want HubSpot's %v", e.Name, e.Data["engagementId"], engagement)
			}
		}
	}
	if got := evs[len(evs)-2].Data["callEndStatus"]; got != status {
		t.Errorf("callEnded.callEndStatus = %v, want %s", got, status)
	}
	return evs
}

// TestAnsweredCallAudioBothWays: the rep's 1 kHz tone crosses the gateway,
// SIPp echoes it, and it comes back; HubSpot sees the whole call in order
// with exact payloads; the wrap-up lands in callCompleted.
func TestAnsweredCallAudioBothWays(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_echo.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)

	dial := softphone.ContactDial("(415) 555-0199", "US", 501)
	id, err := p.DialFromHubSpot(ctxFor(t, 10*time.Second), dial)
	if err != nil {
		t.Fatal(err)
	}
	c := waitState(t, p, id, softphone.StateAnswered)
	if c.ToNumber != callee || c.FromNumber != testFrom {
		t.Errorf("call %s → %s, want %s → %s", c.FromNumber, c.ToNumber, testFrom, callee)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, repTone, "echo of the rep's tone through SIPp")

	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "connected", "Asked for a demo next week."); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (the trunk) did not see a proper call: %v", err)
	}
	evs := checkCallEvents(t, p, id, true, "COMPLETED")

	out := evs[0].Data
	if out["toNumber"] != callee || out["fromNumber"] != testFrom || out["createEngagement"] != true {
		t.Errorf("outgoingCall = %v", out)
	}
	if st, ok := out["callStartTime"].(float64); !ok || time.Since(time.UnixMilli(int64(st))) > time.Minute {
		t.Errorf("outgoingCall.callStartTime = %v", out["callStartTime"])
	}
	ctxJSON, _ := json.Marshal(out["dialingContext"])
	var got softphone.DialNumber
	if err := json.Unmarshal(ctxJSON, &got); err != nil || got.PhoneNumber != dial.PhoneNumber || got.CalleeInfo.CalleeID != 501 {
		t.Errorf("outgoingCall.dialingContext = %s, want the onDialNumber payload", ctxJSON)
	}
	props, _ := evs[3].Data["engagementProperties"].(map[string]any)
	for k, v := range map[string]string{
		"hs_call_status": "COMPLETED", "hs_call_direction": "OUTBOUND", "hs_call_body": "Asked for a demo next week.",
		"hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7", "hs_call_to_number": callee, "hs_call_from_number": testFrom,
	} {
		if props[k] != v {
			t.Errorf("engagementProperties.%s = %v, want %q", k, props[k], v)
		}
	}
	if d, _ := props["hs_call_duration"].(string); d == "" || d == "0" {
		t.Errorf("engagementProperties.hs_call_duration = %v, want the talk time in ms", props["hs_call_duration"])
	}
	if !strings.Contains(trunk.Messages(), "INVITE sip:+14155550199@") {
		t.Errorf("the INVITE's Request-URI does not carry the E.164 number:\n%s", trunk.Messages())
	}
}

// TestTrunkToneReachesSoftphone: what the far end plays is what the rep hears.
func TestTrunkToneReachesSoftphone(t *testing.T) {
	dir := t.TempDir()
	writeUlawWAV(t, filepath.Join(dir, "tone.wav"), trunkTone, 3*time.Second)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_tone.xml"), Dir: dir})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, trunkTone, "the trunk's tone at the softphone")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestEarlyMediaReachesSoftphoneBeforeAnswer: a 183 with SDP carries the
// carrier's audio to the rep while the call is still ringing.
func TestEarlyMediaReachesSoftphoneBeforeAnswer(t *testing.T) {
	p, id := earlyMediaCall(t, "early_media.xml")
	c, _ := p.Call(id)
	if strings.Join(statesOf(c), ",") != "dialling,early_media,answered,ended" {
		t.Errorf("states %v", c.States)
	}
}

func statesOf(c softphone.Call) []string {
	var s []string
	for _, x := range c.States {
		s = append(s, string(x))
	}
	return s
}

// TestCallOutcomes: how the trunk or the rep ends an unanswered call
// becomes HubSpot's callEndStatus, and the rep reads why.
func TestCallOutcomes(t *testing.T) {
	cases := []struct {
		name, scenario string
		ringTimeout    time.Duration
		repHangsUp     bool
		status         string
		sipCode        int
		message        string
	}{
		{name: "486 busy", scenario: "busy.xml", status: "BUSY", sipCode: 486, message: "busy"},
		{name: "ring timeout", scenario: "ring_cancel.xml", ringTimeout: 2 * time.Second, status: "NO_ANSWER", message: "No answer"},
		{name: "rep hangs up while ringing", scenario: "ring_cancel.xml", repHangsUp: true, status: "CANCELED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario(tc.scenario)})
			g := startGateway(t, gwConfig{trunk: trunk.Addr, ringTimeout: tc.ringTimeout})
			p := newPhone(t, g, nil)
			id := dialContact(t, p, callee)
			if tc.repHangsUp {
				waitState(t, p, id, softphone.StateRinging)
				if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
					t.Fatal(err)
				}
			}
			_, err := p.WaitState(ctxFor(t, 20*time.Second), id, softphone.StateAnswered)
			var ended *softphone.CallEndedError
			if !errors.As(err, &ended) {
				t.Fatalf("call was not ended: %v", err)
			}
			c := ended.Call
			if c.EndStatus != tc.status || (tc.sipCode != 0 && c.SIPCode != tc.sipCode) || !strings.Contains(c.Message, tc.message) {
				t.Errorf("ended %s / SIP %d / %q; want %s / %d / containing %q", c.EndStatus, c.SIPCode, c.Message, tc.status, tc.sipCode, tc.message)
			}
			if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "", ""); err != nil {
				t.Fatal(err)
			}
			checkCallEvents(t, p, id, false, tc.status)
			if err := trunk.Wait(10 * time.Second); err != nil {
				t.Fatalf("SIPp: %v", err)
			}
		})
	}
}

// TestTrunkHangsUpMidCall: the callee's BYE ends the call as COMPLETED and
// its Reason is logged.
func TestTrunkHangsUpMidCall(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("trunk_bye.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	c := waitState(t, p, id, softphone.StateEnded)
	if c.EndStatus != "COMPLETED" {
		t.Errorf("endStatus %s, want COMPLETED", c.EndStatus)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "", ""); err != nil {
		t.Fatal(err)
	}
	checkCallEvents(t, p, id, true, "COMPLETED")
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	logged := false
	for _, l := range g.logsWith("trunk hung up") {
		if r, _ := l["reasonHeader"].(string); strings.Contains(r, "cause=16") && l["externalCallId"] == id {
			logged = true
		}
	}
	if !logged {
		t.Errorf("the BYE's Reason header was not logged with the call's id")
	}
}

// TestDigestAuthentication: the trunk challenges the INVITE and accepts the
// retry only with the right credentials (SIPp verifies the digest); with a
// wrong password the call fails with the trunk's 403 and the rep is told.
func TestDigestAuthentication(t *testing.T) {
	t.Run("right password", func(t *testing.T) {
		trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("auth.xml"), RTPEcho: true,
			Vars: map[string]string{"password": trunkPass}})
		g := startGateway(t, gwConfig{trunk: trunk.Addr, trunkPass: trunkPass})
		p := newPhone(t, g, nil)
		id := dialContact(t, p, callee)
		waitState(t, p, id, softphone.StateAnswered)
		if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
			t.Fatal(err)
		}
		if err := trunk.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(trunk.Messages(), "Authorization: Digest") {
			t.Error("no Authorization header in the retried INVITE")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("auth.xml"),
			Vars: map[string]string{"password": trunkPass}})
		g := startGateway(t, gwConfig{trunk: trunk.Addr, trunkPass: "not-" + trunkPass})
		p := newPhone(t, g, nil)
		id := dialContact(t, p, callee)
		c := waitState(t, p, id, softphone.StateEnded)
		if c.EndStatus != "FAILED" || c.SIPCode != 403 || !strings.Contains(c.Message, "refused") {
			t.Errorf("ended %s / SIP %d / %q, want FAILED / 403 / a message about the refusal", c.EndStatus, c.SIPCode, c.Message)
		}
		if err := trunk.Wait(10 * time.Second); err == nil {
			t.Error("SIPp accepted the wrong credentials")
		}
	})
}

// TestBadInputPlacesNoCall: each mistake gets a clear error and no INVITE
// reaches the trunk; a valid dial afterwards does, so the check can fail.
func TestBadInputPlacesNoCall(t *testing.T) {
	sink := newUDPSink(t)
	g := startGateway(t, gwConfig{trunk: sink.addr()})
	ctx := ctxFor(t, 30*time.Second)

	// A foreign origin cannot even open the socket.
	_, err := softphone.Dial(ctx, softphone.Options{URL: g.wsURL(), Origin: "https://evil.example"})
	var de *softphone.DialError
	if !errors.As(err, &de) || de.Status != 403 {
		t.Errorf("foreign origin: %v, want HTTP 403", err)
	}

	// An unauthenticated socket cannot dial.
	anon, err := softphone.Dial(ctx, softphone.Options{URL: g.wsURL(), NoMedia: true})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Dial(ctx, callee); !softphone.IsCode(err, softphone.CodeUnauthenticated) {
		t.Errorf("dial without login: %v, want %s", err, softphone.CodeUnauthenticated)
	}
	if err := anon.SendSDK(ctx, "onDialNumber", softphone.ContactDial(callee, "US", 1)); err != nil {
		t.Fatal(err)
	}
	expectError(t, anon, softphone.CodeUnauthenticated, "Sign in")

	// Wrong password.
	if _, err := anon.Login(ctx, testUser, "wrong"); !softphone.IsCode(err, softphone.CodeAuthFailed) {
		t.Errorf("wrong password: %v", err)
	}

	p := newPhone(t, g, func(o *softphone.Options) { o.NoMedia = true })
	// Invalid numbers.
	for _, n := range []string{"12", "+1 415 555 01", "call me", "+999123456789"} {
		_, err := p.Dial(ctx, n)
		var pe *softphone.Error
		if !errors.As(err, &pe) || pe.Code != softphone.CodeInvalidNumber || !strings.Contains(pe.Message, "not a phone number we can call") {
			t.Errorf("dial %q: %v, want a clear invalid_number error", n, err)
		}
	}
	// Malformed messages on a signed-in socket.
	raw := rawSocket(t, g)
	raw.send(`{"v":1,"type":"login","username":"` + testUser + `","password":"` + testPassword + `"}`)
	raw.expect("session")
	for frame, want := range map[string]string{
		`{"v":1,"type":"dial","toNumber":`:                   "bad_json",
		`{"v":1,"type":"dial","toNumber":14155550199}`:       "bad_message",
		`{"v":1,"type":"dial","toNumber":"+1","extra":true}`: "bad_message",
		`{"v":2,"type":"dial","toNumber":"+14155550199"}`:    "unsupported_version",
		`{"v":1,"type":"teleport"}`:                          "unknown_type",
		`{"v":1,"type":"sdk","name":"onSelfDestruct"}`:       "unknown_sdk_event",
	} {
		raw.send(frame)
		if m := raw.expect("error"); m["code"] != want || m["message"] == "" {
			t.Errorf("%s → %v, want error %s with a message", frame, m, want)
		}
	}
	raw.send(`{"v":1,"type":"ping","id":"still-there"}`)
	if m := raw.expect("pong"); m["re"] != "still-there" {
		t.Errorf("after bad frames the socket answered %v", m)
	}
	if n := sink.invites(); n != 0 {
		t.Fatalf("%d INVITEs reached the trunk from bad input", n)
	}

	// Positive control: a good dial does reach the sink.
	if _, err := p.Dial(ctx, callee); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.firstInvite:
	case <-time.After(5 * time.Second):
		t.Fatal("a valid dial did not reach the trunk either: the check above proves nothing")
	}
}

func expectError(t *testing.T, p *softphone.Phone, code, text string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-p.Events():
			if !ok {
				t.Fatalf("connection lost waiting for error %s: %v", code, p.Err())
			}
			if e, ok := m.(*softphone.Error); ok {
				if e.Code != code || !strings.Contains(e.Message, text) {
					t.Fatalf("error %s %q, want %s containing %q", e.Code, e.Message, code, text)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no error %s", code)
		}
	}
}

// TestSIGTERMEndsCallsWithBYE: stopping the gateway hangs up live calls on
// the trunk and tells HubSpot, then exits cleanly.
func TestSIGTERMEndsCallsWithBYE(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_echo.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := g.terminate(15 * time.Second); err != nil {
		t.Fatalf("gateway after SIGTERM: %v", err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("the trunk did not get its BYE: %v", err)
	}
	c, _ := p.Call(id)
	if c.State != softphone.StateCompleted || c.EndStatus != "COMPLETED" {
		t.Errorf("after shutdown the call is %s/%s, want completed/COMPLETED", c.State, c.EndStatus)
	}
	checkCallEvents(t, p, id, true, "COMPLETED")
}

// writeUlawWAV writes a µ-law WAV file of a tone, for SIPp's rtp_stream.
func writeUlawWAV(t *testing.T, path string, freq float64, d time.Duration) {
	t.Helper()
	n := int(d / audio.FrameDuration * audio.FrameSamples)
	pcm := make([]int16, n)
	audio.NewTone(freq, 0.3).ReadFrame(pcm)
	data := audio.PCMU.Encode(nil, pcm)
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 7) // µ-law
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], audio.SampleRate)
	binary.LittleEndian.PutUint32(h[28:], audio.SampleRate)
	binary.LittleEndian.PutUint16(h[32:], 1)
	binary.LittleEndian.PutUint16(h[34:], 8)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	if err := os.WriteFile(path, append(h[:], data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDemoTrunk: the local default's built-in trunk rings with early media,
// answers and echoes; its busy number is busy.
func TestDemoTrunk(t *testing.T) {
	g := startGateway(t, gwConfig{demoTrunk: true})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateEarlyMedia)
	expectTone(t, p, 425, "the demo trunk's ringback")
	waitState(t, p, id, softphone.StateAnswered)
	expectTone(t, p, repTone, "the demo trunk's echo")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "connected", ""); err != nil {
		t.Fatal(err)
	}

	id = dialContact(t, p, "+14155550486")
	c := waitState(t, p, id, softphone.StateEnded)
	if c.EndStatus != "BUSY" || c.SIPCode != 486 {
		t.Errorf("demo busy number: %s / %d", c.EndStatus, c.SIPCode)
	}
}

// TestTrunkSilenceEndsCallAsFailed: an answered call whose carrier sends no
// audio for media.rtpTimeout is hung up (SIPp gets the BYE) and logged as
// FAILED, with a reason the rep can read.
func TestTrunkSilenceEndsCallAsFailed(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_echo.xml")}) // no -rtp_echo: silence
	g := startGateway(t, gwConfig{trunk: trunk.Addr, rtpTimeout: time.Second})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	c := waitState(t, p, id, softphone.StateEnded)
	if c.EndStatus != "FAILED" || !strings.Contains(c.Message, "No audio from the carrier") {
		t.Errorf("ended %s %q, want FAILED with the reason", c.EndStatus, c.Message)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("the trunk did not get its BYE: %v", err)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "", ""); err != nil {
		t.Fatal(err)
	}
	checkCallEvents(t, p, id, true, "FAILED")
}

// earlyMediaCall dials SIPp playing scenario (a 183 with SDP and the
// carrier's tone, then 200), checks the rep hears the tone while the call is
// still in early media, waits for the answer, hangs up and waits for SIPp.
func earlyMediaCall(t *testing.T, scenarioFile string) (*softphone.Phone, string) {
	t.Helper()
	dir := t.TempDir()
	writeUlawWAV(t, filepath.Join(dir, "tone.wav"), trunkTone, 3*time.Second)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario(scenarioFile), Dir: dir})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateEarlyMedia)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	f, level := heardTone(t, p, 500*time.Millisecond)
	if c, _ := p.Call(id); c.State != softphone.StateEarlyMedia {
		t.Fatalf("the call left early media (%s) before the tone could be checked", c.State)
	}
	if f != trunkTone || level < 0.5 {
		t.Fatalf("during early media heard %.0f Hz at %.2f, want the carrier's %.0f Hz", f, level, trunkTone)
	}
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	return p, id
}
