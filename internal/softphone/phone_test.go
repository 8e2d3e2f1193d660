package softphone_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/zap/zaptest"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/softphone"
	"github.com/hubline/hubline/internal/softphone/softphonetest"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newGateway(t *testing.T, o softphonetest.Options) *softphonetest.Gateway {
	gw, err := softphonetest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	return gw
}

func dial(t *testing.T, gw *softphonetest.Gateway, o softphone.Options) *softphone.Phone {
	t.Helper()
	o.URL = gw.URL
	o.ICENetworks = loopback
	o.Logger = zaptest.NewLogger(t)
	p, err := softphone.Dial(testCtx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// collect gathers a phone's Events until the channel closes.
func collect(p *softphone.Phone) <-chan []softphone.Message {
	out := make(chan []softphone.Message, 1)
	go func() {
		var all []softphone.Message
		for m := range p.Events() {
			all = append(all, m)
		}
		out <- all
	}()
	return out
}

func TestCallFromHubSpot(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{})
	p := dial(t, gw, softphone.Options{
		Source:          audio.NewTone(1000, 0.5),
		Record:          true,
		SimulateHubSpot: true,
		HubSpot:         softphone.HubSpot{EngagementID: func() int64 { return 98765432101 }},
	})
	events := collect(p)

	sess, err := p.Login(ctx, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	if sess.User.FromNumber != "+14155550100" || len(sess.Outcomes) == 0 {
		t.Errorf("session %+v", sess)
	}
	id, err := p.DialFromHubSpot(ctx, softphone.ContactDial("(415) 555-0199", "US", 101))
	if err != nil {
		t.Fatal(err)
	}
	call, err := p.WaitState(ctx, id, softphone.StateAnswered)
	if err != nil {
		t.Fatal(err)
	}
	if call.ToNumber != "+14155550199" || call.States[0] != softphone.StateDialling {
		t.Errorf("call %+v", call)
	}
	if err := p.WaitMedia(ctx, id); err != nil {
		t.Fatal(err)
	}

	// The echo sends our tone back.
	if err := p.WaitHeard(ctx, 600*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	freq, level := audio.DominantTone(p.Heard(), []float64{440, 697, 1000, 1209, 2000})
	if freq != 1000 || level < 0.8 {
		t.Errorf("heard %v Hz at level %.2f, want 1000 Hz", freq, level)
	}

	// DTMF: checked where the gateway receives it.
	if err := p.SendDTMFRTP(ctx, "1#"); err != nil {
		t.Fatal(err)
	}
	pkts, err := gw.WaitEventPackets(ctx, 2*(4+3))
	if err != nil {
		t.Fatal(err)
	}
	checkDTMF(t, pkts, []byte{1, 11})
	if s := p.Stats(); s.DTMFSent != "1#" || !s.TelephoneEvent || s.Law != audio.PCMU || s.PacketsSent == 0 || s.AudioReceived == 0 {
		t.Errorf("stats %+v", s)
	}

	if err := p.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := p.WrapUp(ctx, id, "connected", "spoke to Dana"); err != nil {
		t.Fatal(err)
	}

	// HubSpot heard every event, in order, with the payloads of the protocol.
	var names []string
	for _, e := range p.SDKEvents() {
		names = append(names, e.Name)
		if e.At.IsZero() {
			t.Errorf("%s has no time", e.Name)
		}
	}
	want := "initialized userLoggedIn outgoingCall callAnswered callEnded callCompleted"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("sdk events %q,\nwant %q", got, want)
	}
	evs := p.SDKEvents()
	var out struct {
		ExternalCallID   string `json:"externalCallId"`
		CreateEngagement bool   `json:"createEngagement"`
		DialingContext   struct {
			PhoneNumber string `json:"phoneNumber"`
			Legacy      string `json:"phone_number"`
			CalleeInfo  struct {
				CalleeID int64 `json:"calleeId"`
			} `json:"calleeInfo"`
			PortalID int64 `json:"portalId"`
		} `json:"dialingContext"`
	}
	if err := evs[2].Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.ExternalCallID != id || !out.CreateEngagement || out.DialingContext.Legacy != "(415) 555-0199" ||
		out.DialingContext.CalleeInfo.CalleeID != 101 || out.DialingContext.PortalID == 0 {
		t.Errorf("outgoingCall %s", evs[2].Data)
	}
	var ended struct {
		EngagementID  json.Number `json:"engagementId"`
		CallEndStatus string      `json:"callEndStatus"`
	}
	if err := evs[4].Decode(&ended); err != nil || ended.EngagementID != "98765432101" || ended.CallEndStatus != "COMPLETED" {
		t.Errorf("callEnded %s (%v)", evs[4].Data, err)
	}

	// The simulated HubSpot sent onReady, created the engagement and
	// acknowledged the update.
	f, err := gw.WaitFrame(ctx, func(f softphonetest.Frame) bool { return f.Name == "onCreateEngagementSucceeded" })
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Data()["engagementId"]; got != float64(98765432101) {
		t.Errorf("engagementId %v", got)
	}
	if _, err := gw.WaitFrame(ctx, func(f softphonetest.Frame) bool { return f.Name == "onUpdateEngagementSucceeded" }); err != nil {
		t.Fatal(err)
	}
	ready := gw.Frames()[0]
	if ready.Name != "onReady" || ready.Data()["iframeLocation"] != "widget" || ready.Data()["usesCallingWindow"] != false {
		t.Errorf("first frame %s", ready.Raw)
	}

	if err := p.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if !errors.Is(p.Err(), softphone.ErrClosed) {
		t.Errorf("Err after Close = %v", p.Err())
	}
	var media []softphone.MediaState
	var states []softphone.CallState
	for _, m := range <-events {
		switch m := m.(type) {
		case *softphone.MediaEvent:
			media = append(media, m.State)
		case *softphone.Call:
			states = append(states, m.State)
		}
	}
	if got := fmt.Sprint(media); got != "[offered answered connected closed]" {
		t.Errorf("media events %s", got)
	}
	if got, want := fmt.Sprint(states), "[dialling ringing answered ended completed]"; got != want {
		t.Errorf("call states %s, want %s", got, want)
	}
}

// checkDTMF checks RFC 4733 packets as sent for events: per event the same
// timestamp, the first marked, growing durations, three end packets.
func checkDTMF(t *testing.T, pkts []rtp.Packet, events []byte) {
	t.Helper()
	var groups [][]rtp.Packet
	for i, p := range pkts {
		if p.PayloadType != 101 || len(p.Payload) != 4 {
			t.Fatalf("packet %d: PT %d, %d bytes", i, p.PayloadType, len(p.Payload))
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 && p.Timestamp == pkts[i-1].Timestamp {
			t.Errorf("packet %d: sequence %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if len(groups) == 0 || groups[len(groups)-1][0].Timestamp != p.Timestamp {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], p)
	}
	if len(groups) != len(events) {
		t.Fatalf("%d events, want %d", len(groups), len(events))
	}
	for g, ps := range groups {
		ends, last := 0, uint16(0)
		for i, p := range ps {
			dur := uint16(p.Payload[2])<<8 | uint16(p.Payload[3])
			end := p.Payload[1]&0x80 != 0
			if p.Payload[0] != events[g] {
				t.Errorf("event %d packet %d: event %d", g, i, p.Payload[0])
			}
			if p.Marker != (i == 0) {
				t.Errorf("event %d packet %d: marker %v", g, i, p.Marker)
			}
			if end {
				ends++
				if ends > 1 && dur != last {
					t.Errorf("event %d: end packets with durations %d and %d", g, last, dur)
				}
			} else if dur <= last || ends > 0 {
				t.Errorf("event %d packet %d: duration %d after %d", g, i, dur, last)
			}
			last = dur
		}
		if ends != 3 {
			t.Errorf("event %d: %d end packets, want 3", g, ends)
		}
	}
}

func TestALawAnd440(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{PCMA: true, NoTelephoneEvent: true})
	p := dial(t, gw, softphone.Options{Source: audio.NewTone(440, 0.5), Record: true})
	if _, err := p.Login(ctx, "demo", "demo"); err != nil {
		t.Fatal(err)
	}
	id, err := p.Dial(ctx, "+442079460123")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHeard(ctx, 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if f, l := audio.DominantTone(p.Heard(), []float64{440, 1000}); f != 440 || l < 0.8 {
		t.Errorf("heard %v Hz at %.2f", f, l)
	}
	if s := p.Stats(); s.Law != audio.PCMA || s.TelephoneEvent {
		t.Errorf("stats %+v", s)
	}
	if err := p.SendDTMFRTP(ctx, "1"); !errors.Is(err, softphone.ErrNoDTMF) {
		t.Errorf("SendDTMFRTP without telephone-event: %v", err)
	}
	if err := p.SendDTMFRTP(ctx, "1x"); !errors.Is(err, softphone.ErrBadDigit) {
		t.Errorf("SendDTMFRTP(1x): %v", err)
	}
}

func TestErrorsAnswerTheirRequest(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{})
	p := dial(t, gw, softphone.Options{NoMedia: true})
	events := collect(p)

	_, err := p.Dial(ctx, "+14155550199")
	if !softphone.IsCode(err, softphone.CodeUnauthenticated) {
		t.Errorf("dial before login: %v", err)
	}
	_, err = p.Login(ctx, "demo", "wrong")
	var e *softphone.Error
	if !errors.As(err, &e) || e.Code != softphone.CodeAuthFailed || e.Re == "" || e.Message != "Wrong username or password." {
		t.Fatalf("login: %#v", err)
	}
	if _, err := p.Login(ctx, "demo", "demo"); err != nil {
		t.Fatal(err)
	}
	_, err = p.Dial(ctx, "12")
	if !errors.As(err, &e) || e.Code != softphone.CodeInvalidNumber || e.Re == "" {
		t.Errorf("dial 12: %#v", err)
	}
	if err := p.Hangup(ctx, "nope"); !softphone.IsCode(err, softphone.CodeNoSuchCall) {
		t.Errorf("hangup: %v", err)
	}
	id, err := p.Dial(ctx, "+14155550199")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WrapUp(ctx, id, "", ""); !softphone.IsCode(err, softphone.CodeBadState) {
		t.Errorf("wrap-up of a live call: %v", err)
	}
	if _, err := p.Dial(ctx, "+14155550198"); !softphone.IsCode(err, softphone.CodeCallInProgress) {
		t.Errorf("second dial: %v", err)
	}
	if err := p.SendDTMFRTP(ctx, "1"); !errors.Is(err, softphone.ErrNoMedia) {
		t.Errorf("SendDTMFRTP without media: %v", err)
	}
	if err := p.Ping(ctx); err != nil {
		t.Error(err)
	}
	if err := p.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Call(id); c.EndStatus != "CANCELED" {
		t.Errorf("call %+v", c)
	}
	p.Close()

	codes := map[string]bool{}
	for _, m := range <-events {
		if e, ok := m.(*softphone.Error); ok {
			codes[e.Code] = true
		}
	}
	for _, c := range []string{"unauthenticated", "auth_failed", "invalid_number", "no_such_call", "bad_state", "call_in_progress"} {
		if !codes[c] {
			t.Errorf("error %s not delivered on Events", c)
		}
	}
}

func TestBusy(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{})
	p := dial(t, gw, softphone.Options{})
	if _, err := p.Login(ctx, "demo", "demo"); err != nil {
		t.Fatal(err)
	}
	id, err := p.Dial(ctx, "+14155550486")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.WaitState(ctx, id, softphone.StateAnswered)
	var ce *softphone.CallEndedError
	if !errors.As(err, &ce) || !errors.Is(err, softphone.ErrCallEnded) {
		t.Fatalf("WaitState: %v", err)
	}
	if got := ce.Call.Outcome(); got != "BUSY (SIP 486 Busy Here)" {
		t.Errorf("outcome %q", got)
	}
	if err := p.WaitMedia(ctx, id); err == nil {
		t.Error("WaitMedia of an ended call succeeded")
	}
}

func TestRemoteHangup(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{})
	p := dial(t, gw, softphone.Options{})
	if _, err := p.Login(ctx, "demo", "demo"); err != nil {
		t.Fatal(err)
	}
	id, err := p.Dial(ctx, "+14155550199")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctx, id); err != nil {
		t.Fatal(err)
	}
	gw.Hangup()
	c, err := p.WaitState(ctx, id, softphone.StateEnded)
	if err != nil || c.EndStatus != "COMPLETED" || c.AnsweredAt == 0 {
		t.Fatalf("%+v %v", c, err)
	}
	if err := p.Hangup(ctx, id); err != nil {
		t.Errorf("hangup of an ended call: %v", err)
	}
}

func TestEngagementFailed(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{})
	p := dial(t, gw, softphone.Options{NoMedia: true, SimulateHubSpot: true, HubSpot: softphone.HubSpot{FailEngagement: true}})
	if _, err := p.Login(ctx, "demo", "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DialFromHubSpot(ctx, softphone.DialNumber{PhoneNumber: "+14155550199"}); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.WaitFrame(ctx, func(f softphonetest.Frame) bool { return f.Name == "onCreateEngagementFailed" }); err != nil {
		t.Fatal(err)
	}
	for _, f := range gw.Frames() {
		if f.Name == "onCreateEngagementSucceeded" {
			t.Error("engagement reported created")
		}
	}
}

func TestDialErrors(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{})
	_, err := softphone.Dial(ctx, softphone.Options{URL: gw.URL, Origin: "https://evil.example"})
	var de *softphone.DialError
	if !errors.As(err, &de) || de.Status != 403 {
		t.Fatalf("foreign origin: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	url := "ws://" + addr + "/ws"
	_, err = softphone.Dial(ctx, softphone.Options{URL: url})
	if !errors.As(err, &de) || de.Status != 0 {
		t.Fatalf("closed port: %v", err)
	}
	if got, want := err.Error(), "softphone: cannot reach gateway at "+url+": connection refused"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if _, err := softphone.Dial(ctx, softphone.Options{URL: "http://x/ws"}); !errors.As(err, &de) {
		t.Errorf("http URL: %v", err)
	}
}

func TestConnectionLost(t *testing.T) {
	ctx := testCtx(t)
	gw := newGateway(t, softphonetest.Options{})
	p := dial(t, gw, softphone.Options{})
	events := collect(p)
	if _, err := p.Login(ctx, "demo", "demo"); err != nil {
		t.Fatal(err)
	}
	id, err := p.Dial(ctx, "+14155550408") // rings forever
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitState(ctx, id, softphone.StateRinging); err != nil {
		t.Fatal(err)
	}
	gw.Close()
	<-p.Done()
	all := <-events // closed without Close
	if len(all) == 0 {
		t.Error("no events")
	}
	if err := p.Err(); err == nil || errors.Is(err, softphone.ErrClosed) {
		t.Errorf("Err = %v, want the loss", err)
	}
	if _, err := p.WaitState(ctx, id, softphone.StateAnswered); !errors.Is(err, softphone.ErrClosed) {
		t.Errorf("WaitState after loss: %v", err)
	}
	if err := p.Ping(ctx); !errors.Is(err, softphone.ErrClosed) {
		t.Errorf("Ping after loss: %v", err)
	}
}
