package cti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// fakeTrunk records INVITEs and lets the test play the trunk's side.
type fakeTrunk struct {
	mu      sync.Mutex
	invites []sip.Invite
	calls   chan *fakeTrunkCall
	failErr error
}

type fakeTrunkCall struct {
	inv     sip.Invite
	emit    func(sip.Event)
	hangups chan struct{}
	reinv   fakeReinviter // hold_test.go
}

func (c *fakeTrunkCall) Hangup(ctx context.Context) error {
	select {
	case c.hangups <- struct{}{}:
	default:
	}
	return nil
}

func (t *fakeTrunk) Dial(ctx context.Context, inv sip.Invite, onEvent func(sip.Event)) (TrunkCall, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failErr != nil {
		return nil, t.failErr
	}
	t.invites = append(t.invites, inv)
	c := &fakeTrunkCall{inv: inv, emit: onEvent, hangups: make(chan struct{}, 4), reinv: newFakeReinviter()}
	t.calls <- c
	return c, nil
}

func (t *fakeTrunk) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.invites)
}

// fakeMedia hands each new session to the test on sessions.
type fakeMedia struct{ sessions chan *fakeSession }

func (m fakeMedia) NewSession(_ *zap.Logger, onEvent func(media.Event)) (MediaSession, error) {
	s := &fakeSession{emit: onEvent}
	select {
	case m.sessions <- s:
	default:
	}
	return s, nil
}
func (fakeMedia) ICEServers() []media.ICEServer {
	return []media.ICEServer{{URLs: []string{"stun:stun.example.net:3478"}}}
}

type fakeSession struct {
	emit     func(media.Event)
	mu       sync.Mutex
	answers  [][]byte
	answered bool
	closed   bool
	// inbound calls (inbound_test.go)
	plays     []string
	recording bool
	// hold (hold_test.go)
	localHold, trunkHolds bool
}

func (s *fakeSession) TrunkOffer() []byte { return []byte("v=0\r\n") }
func (s *fakeSession) SetTrunkAnswer(sdp []byte) error {
	s.mu.Lock()
	s.answers = append(s.answers, sdp)
	s.mu.Unlock()
	return nil
}
func (s *fakeSession) MarkAnswered() { s.mu.Lock(); s.answered = true; s.mu.Unlock() }
func (s *fakeSession) AcceptBrowserOffer(o string) (string, error) {
	return "answer-to:" + o, nil
}
func (s *fakeSession) AddBrowserCandidate(media.Candidate) error { return nil }
func (s *fakeSession) Close() error                              { s.mu.Lock(); s.closed = true; s.mu.Unlock(); return nil }

type harness struct {
	t     *testing.T
	hub   *Hub
	srv   *httptest.Server
	trunk *fakeTrunk
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tr := &fakeTrunk{calls: make(chan *fakeTrunkCall, 8)}
	opts := Options{
		Users:          []User{{Username: "ana", DisplayName: "Ana Rep", PasswordHash: string(hash), FromNumber: "+14155550100"}},
		Trunk:          tr,
		Media:          fakeMedia{sessions: make(chan *fakeSession, 8)},
		DefaultRegion:  "US",
		EngagementWait: 200 * time.Millisecond,
		// The fake trunk never reports the end of a leg it was told to hang up.
		ShutdownTrunkWait: 300 * time.Millisecond,
		Logger:            zaptest.NewLogger(t),
	}
	if mod != nil {
		mod(&opts)
	}
	hub, err := NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	h := &harness{t: t, hub: hub, srv: srv, trunk: tr}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return h
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (h *harness) connect(origin string) *client {
	h.t.Helper()
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http"), hdr)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		h.t.Fatalf("dial websocket: %v (HTTP %d)", err, code)
	}
	h.t.Cleanup(func() { ws.Close() })
	return &client{t: h.t, ws: ws}
}

func (h *harness) login() *client {
	c := h.connect(h.srv.URL)
	c.send(`{"v":1,"type":"login","username":"ana","password":"s3cret"}`)
	c.expect("session")
	c.expectSDK("userLoggedIn")
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

type msg map[string]any

func (c *client) next() msg {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("gateway sent non-JSON %q", b)
	}
	if m["v"] != float64(1) {
		c.t.Fatalf("message without v=1: %s", b)
	}
	return m
}

func (c *client) expect(typ string) msg {
	c.t.Helper()
	m := c.next()
	if m["type"] != typ {
		c.t.Fatalf("got %v, want a %q message", m, typ)
	}
	return m
}

func (c *client) expectSDK(name string) map[string]any {
	c.t.Helper()
	m := c.expect("sdk")
	if m["name"] != name {
		c.t.Fatalf("got sdk %v, want %q", m, name)
	}
	d, _ := m["data"].(map[string]any)
	return d
}

func (c *client) expectState(state string) msg {
	c.t.Helper()
	m := c.expect("call")
	if m["state"] != state {
		c.t.Fatalf("got call state %v, want %q", m, state)
	}
	return m
}

func (c *client) expectError(code string) msg {
	c.t.Helper()
	m := c.expect("error")
	if m["code"] != code {
		c.t.Fatalf("got error %v, want code %q", m, code)
	}
	if msg, _ := m["message"].(string); len(msg) < 8 {
		c.t.Fatalf("error %q has no readable message: %v", code, m)
	}
	return m
}

func (h *harness) nextCall() *fakeTrunkCall {
	h.t.Helper()
	select {
	case c := <-h.trunk.calls:
		return c
	case <-time.After(5 * time.Second):
		h.t.Fatal("no INVITE reached the trunk")
		return nil
	}
}

const dialPayload = `{"phoneNumber":"(415) 555-0199","phone_number":"(415) 555-0199","countryCode":"US",
"calleeInfo":{"calleeId":101,"calleeObjectTypeId":"0-1"},"ownerId":7,"portalId":99,"subjectId":101,
"objectId":101,"objectType":"CONTACT","startTimestamp":1700000000000,"toPhoneNumberSrc":"phone"}`

func TestOutboundCallEventsInOrder(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login()
	c.send(`{"v":1,"type":"sdk","name":"onReady","data":{"portalId":99}}`)
	if d := c.expectSDK("initialized"); d["isLoggedIn"] != true {
		t.Fatalf("initialized = %v, want isLoggedIn true", d)
	}
	c.send(`{"v":1,"type":"sdk","name":"onDialNumber","data":` + dialPayload + `}`)
	tc := h.nextCall()
	if tc.inv.To != "+14155550199" || tc.inv.From != "+14155550100" || tc.inv.FromName != "Ana Rep" {
		t.Fatalf("INVITE to %q from %q %q", tc.inv.To, tc.inv.FromName, tc.inv.From)
	}
	st := c.expectState("dialling")
	id := st["callId"].(string)
	if id != tc.inv.CallID {
		t.Fatalf("callId %q is not the SIP Call-ID %q", id, tc.inv.CallID)
	}
	oc := c.expectSDK("outgoingCall")
	if oc["externalCallId"] != id || oc["toNumber"] != "+14155550199" || oc["fromNumber"] != "+14155550100" ||
		oc["createEngagement"] != true {
		t.Fatalf("outgoingCall = %v", oc)
	}
	if start, _ := oc["callStartTime"].(float64); time.Since(time.UnixMilli(int64(start))) > time.Minute {
		t.Fatalf("callStartTime %v is not now", oc["callStartTime"])
	}
	if dc, _ := oc["dialingContext"].(map[string]any); dc["objectId"] != float64(101) || dc["toPhoneNumberSrc"] != "phone" {
		t.Fatalf("dialingContext = %v, want the onDialNumber payload", oc["dialingContext"])
	}
	c.send(`{"v":1,"type":"sdk","name":"onCreateEngagementSucceeded","data":{"engagementId":4242}}`)
	c.send(`{"v":1,"type":"offer","id":"o1","callId":"` + id + `","sdp":"browser-offer"}`)
	if a := c.expect("answer"); a["sdp"] != "answer-to:browser-offer" || a["re"] != "o1" {
		t.Fatalf("answer = %v", a)
	}

	tc.emit(sip.Event{Kind: sip.EventProvisional, Code: 180, Reason: "Ringing"})
	c.expectState("ringing")
	tc.emit(sip.Event{Kind: sip.EventProvisional, Code: 183, Reason: "Session Progress", SDP: []byte("early")})
	c.expectState("early_media")
	tc.emit(sip.Event{Kind: sip.EventAnswered, Code: 200, SDP: []byte("final")})
	c.expectState("answered")
	if d := c.expectSDK("callAnswered"); d["externalCallId"] != id || len(d) != 1 {
		t.Fatalf("callAnswered = %v", d)
	}
	tc.emit(sip.Event{Kind: sip.EventHangup, ReasonHeader: `Q.850;cause=16`})
	if st := c.expectState("ended"); st["endStatus"] != "COMPLETED" {
		t.Fatalf("ended state = %v", st)
	}
	ended := c.expectSDK("callEnded")
	if ended["externalCallId"] != id || ended["engagementId"] != float64(4242) || ended["callEndStatus"] != "COMPLETED" {
		t.Fatalf("callEnded = %v", ended)
	}
	c.send(`{"v":1,"type":"wrapUp","callId":"` + id + `","outcome":"connected","notes":"Wants a demo on Tuesday"}`)
	c.expectState("completed")
	done := c.expectSDK("callCompleted")
	props, _ := done["engagementProperties"].(map[string]any)
	if done["externalCallId"] != id || done["engagementId"] != float64(4242) || done["hideWidget"] != false ||
		props["hs_call_body"] != "Wants a demo on Tuesday" || props["hs_call_status"] != "COMPLETED" ||
		props["hs_call_disposition"] != "f240bbac-87c9-4f6e-bf70-924b57d47db7" || props["hs_call_direction"] != "OUTBOUND" ||
		props["hs_call_to_number"] != "+14155550199" {
		t.Fatalf("callCompleted = %v", done)
	}
}

func TestEndStatusFromSIP(t *testing.T) {
	cases := []struct {
		name   string
		ev     sip.Event
		answer bool
		want   string
	}{
		{"486 busy", sip.Event{Kind: sip.EventFailed, Code: 486, Reason: "Busy Here"}, false, "BUSY"},
		{"600 busy everywhere", sip.Event{Kind: sip.EventFailed, Code: 600, Reason: "Busy Everywhere"}, false, "BUSY"},
		{"480 unavailable", sip.Event{Kind: sip.EventFailed, Code: 480}, false, "NO_ANSWER"},
		{"408 timeout", sip.Event{Kind: sip.EventFailed, Code: 408}, false, "NO_ANSWER"},
		{"ring timeout", sip.Event{Kind: sip.EventFailed, Code: 487, RingTimeout: true}, false, "NO_ANSWER"},
		{"487 not ours", sip.Event{Kind: sip.EventFailed, Code: 487}, false, "CANCELED"},
		{"404", sip.Event{Kind: sip.EventFailed, Code: 404, Reason: "Not Found"}, false, "FAILED"},
		{"503", sip.Event{Kind: sip.EventFailed, Code: 503, Reason: "Service Unavailable"}, false, "FAILED"},
		{"603", sip.Event{Kind: sip.EventFailed, Code: 603, Reason: "Decline"}, false, "FAILED"},
		{"unreachable", sip.Event{Kind: sip.EventFailed, Code: 408, Err: context.DeadlineExceeded}, false, "FAILED"},
		{"bye after answer", sip.Event{Kind: sip.EventHangup}, true, "COMPLETED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			c := h.login()
			c.send(`{"v":1,"type":"dial","toNumber":"+442079460958"}`)
			call := h.nextCall()
			c.expectState("dialling")
			c.expectSDK("outgoingCall")
			c.send(`{"v":1,"type":"sdk","name":"onCreateEngagementSucceeded","data":{"engagementId":7}}`)
			if tc.answer {
				call.emit(sip.Event{Kind: sip.EventAnswered, Code: 200})
				c.expectState("answered")
				c.expectSDK("callAnswered")
			}
			call.emit(tc.ev)
			st := c.expectState("ended")
			if st["endStatus"] != tc.want {
				t.Fatalf("endStatus %v, want %s", st["endStatus"], tc.want)
			}
			if tc.ev.Code >= 400 && !tc.ev.RingTimeout && tc.ev.Err == nil && st["sipCode"] != float64(tc.ev.Code) {
				t.Fatalf("sipCode %v, want %d", st["sipCode"], tc.ev.Code)
			}
			if d := c.expectSDK("callEnded"); d["callEndStatus"] != tc.want || d["engagementId"] != float64(7) {
				t.Fatalf("callEnded = %v", d)
			}
		})
	}
}

func TestRepHangsUpWhileRinging(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login()
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	call := h.nextCall()
	id := c.expectState("dialling")["callId"].(string)
	c.expectSDK("outgoingCall")
	call.emit(sip.Event{Kind: sip.EventProvisional, Code: 180})
	c.expectState("ringing")
	c.send(`{"v":1,"type":"hangup","callId":"` + id + `"}`)
	select {
	case <-call.hangups:
	case <-time.After(5 * time.Second):
		t.Fatal("the trunk leg was not hung up (no CANCEL)")
	}
	if st := c.expectState("ended"); st["endStatus"] != "CANCELED" {
		t.Fatalf("ended = %v", st)
	}
	// No engagement id arrived: callEnded still goes out after EngagementWait.
	if d := c.expectSDK("callEnded"); d["callEndStatus"] != "CANCELED" || d["engagementId"] != nil {
		t.Fatalf("callEnded = %v", d)
	}
	// The trunk confirms with 487; nothing more reaches HubSpot.
	call.emit(sip.Event{Kind: sip.EventFailed, Code: 487, Canceled: true})
	c.send(`{"v":1,"type":"ping","id":"p"}`)
	c.expect("pong")
}

func TestOnEndCallFromHubSpotHangsUp(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login()
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	call := h.nextCall()
	c.expectState("dialling")
	c.expectSDK("outgoingCall")
	call.emit(sip.Event{Kind: sip.EventAnswered, Code: 200})
	c.expectState("answered")
	c.expectSDK("callAnswered")
	c.send(`{"v":1,"type":"sdk","name":"onEndCall"}`)
	<-call.hangups
	if st := c.expectState("ended"); st["endStatus"] != "COMPLETED" {
		t.Fatalf("ended = %v", st)
	}
}

func TestNewDialCompletesCallAwaitingWrapUp(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login()
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	first := h.nextCall()
	c.expectState("dialling")
	c.expectSDK("outgoingCall")
	first.emit(sip.Event{Kind: sip.EventFailed, Code: 486, Reason: "Busy Here"})
	c.expectState("ended")
	c.expectSDK("callEnded")
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550198"}`)
	c.expectState("completed")
	if d := c.expectSDK("callCompleted"); d["externalCallId"] != first.inv.CallID {
		t.Fatalf("callCompleted for %v, want the first call", d["externalCallId"])
	}
	h.nextCall()
	c.expectState("dialling")
	c.expectSDK("outgoingCall")
}

func TestBadInputPlacesNoCall(t *testing.T) {
	h := newHarness(t, nil)

	t.Run("unauthenticated", func(t *testing.T) {
		c := h.connect(h.srv.URL)
		c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
		c.expectError("unauthenticated")
		c.send(`{"v":1,"type":"sdk","name":"onDialNumber","data":` + dialPayload + `}`)
		c.expectError("unauthenticated")
		c.send(`{"v":1,"type":"sdk","name":"onReady"}`)
		if d := c.expectSDK("initialized"); d["isLoggedIn"] != false {
			t.Fatalf("initialized = %v", d)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		c := h.login()
		for _, tc := range []struct{ frame, code string }{
			{`not json`, "bad_json"},
			{`[1,2]`, "bad_json"},
			{`{"type":"dial","toNumber":"+1"}`, "bad_message"},
			{`{"v":2,"type":"dial","toNumber":"+1"}`, "unsupported_version"},
			{`{"v":1,"type":"teleport"}`, "unknown_type"},
			{`{"v":1,"type":"dial"}`, "bad_message"},
			{`{"v":1,"type":"dial","toNumber":5551234}`, "bad_message"},
			{`{"v":1,"type":"dial","toNumber":"+14155550199","extra":1}`, "bad_message"},
			{`{"v":1,"type":"sdk","name":"onTeleport"}`, "unknown_sdk_event"},
			{`{"v":1,"type":"hangup","callId":"nope"}`, "no_such_call"},
		} {
			c.send(tc.frame)
			c.expectError(tc.code)
		}
	})
	t.Run("invalid numbers", func(t *testing.T) {
		c := h.login()
		for _, n := range []string{"hello", "+1", "123", "+999999999999999999", "+1 415 555 01999999"} {
			c.send(`{"v":1,"type":"dial","toNumber":"` + n + `"}`)
			c.expectError("invalid_number")
		}
	})
	t.Run("wrong origin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", ""} {
			hdr := http.Header{}
			if origin != "" {
				hdr.Set("Origin", origin)
			}
			_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http"), hdr)
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("origin %q: err %v, want HTTP 403", origin, err)
			}
		}
	})
	t.Run("hubspot origin", func(t *testing.T) {
		c := h.connect("https://app.hubspot.com")
		c.send(`{"v":1,"type":"ping"}`)
		c.expect("pong")
	})
	t.Run("password guessing", func(t *testing.T) {
		c := h.connect(h.srv.URL)
		for i := 0; i < maxAuthErrors; i++ {
			c.send(`{"v":1,"type":"login","username":"ana","password":"guess"}`)
			c.expectError("auth_failed")
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ws.ReadMessage()
		if !websocket.IsCloseError(err, closeAuthFailures) {
			t.Fatalf("after %d failed logins: %v, want close %d", maxAuthErrors, err, closeAuthFailures)
		}
	})
	if n := h.trunk.count(); n != 0 {
		t.Fatalf("%d INVITEs left for bad input", n)
	}
}

func TestResumeAfterSocketDrop(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ReconnectGrace = 10 * time.Second })
	c := h.connect(h.srv.URL)
	c.send(`{"v":1,"type":"login","username":"ana","password":"s3cret"}`)
	token := c.expect("session")["token"].(string)
	c.expectSDK("userLoggedIn")
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	call := h.nextCall()
	id := c.expectState("dialling")["callId"].(string)
	c.expectSDK("outgoingCall")
	c.ws.Close()
	eventually(t, func() bool { return h.hub.Stats().Sockets == 0 })
	// While no socket is attached, the call answers: the events wait.
	call.emit(sip.Event{Kind: sip.EventAnswered, Code: 200})
	sess := h.hub.sessions[token]
	eventually(t, func() bool { sess.mu.Lock(); defer sess.mu.Unlock(); return len(sess.outbox) == 1 })
	r := h.connect(h.srv.URL)
	r.send(`{"v":1,"type":"resume","token":"` + token + `"}`)
	r.expect("session")
	// The missed SDK event and the current state both arrive, in any order.
	var sawState, sawAnswered bool
	for i := 0; i < 2; i++ {
		m := r.next()
		switch {
		case m["type"] == "call" && m["state"] == "answered" && m["callId"] == id:
			sawState = true
		case m["type"] == "sdk" && m["name"] == "callAnswered":
			sawAnswered = true
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	if !sawState || !sawAnswered {
		t.Fatalf("state %v, callAnswered %v", sawState, sawAnswered)
	}
	r.send(`{"v":1,"type":"resume","token":"nope"}`)
	r.expectError("bad_state")
	bad := h.connect(h.srv.URL)
	bad.send(`{"v":1,"type":"resume","token":"nope"}`)
	bad.expectError("session_expired")
}

func TestShutdownEndsCalls(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ShutdownTrunkWait = 100 * time.Millisecond })
	c := h.login()
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	call := h.nextCall()
	c.expectState("dialling")
	c.expectSDK("outgoingCall")
	call.emit(sip.Event{Kind: sip.EventAnswered, Code: 200})
	c.expectState("answered")
	c.expectSDK("callAnswered")
	go func() {
		<-call.hangups
		call.emit(sip.Event{Kind: sip.EventEnded})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expectState("ended")
	if d := c.expectSDK("callEnded"); d["callEndStatus"] != "COMPLETED" {
		t.Fatalf("callEnded = %v", d)
	}
	c.expectState("completed")
	c.expectSDK("callCompleted")
	_, _, err := c.ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("socket after shutdown: %v, want close 1001", err)
	}
}

// eventually waits for cond, polling; it fails the test after 5 s.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The browser's audio dropping (a page reload, a network blip) does not end
// the call at once: a new connection within ReconnectGrace keeps it; none
// ends it as FAILED.
func TestBrowserMediaOutage(t *testing.T) {
	for _, comesBack := range []bool{true, false} {
		t.Run(fmt.Sprintf("comes back %v", comesBack), func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.ReconnectGrace = 300 * time.Millisecond })
			sessions := h.hub.opts.Media.(fakeMedia).sessions
			c := h.login()
			c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
			call := h.nextCall()
			ms := <-sessions
			c.expectState("dialling")
			c.expectSDK("outgoingCall")
			call.emit(sip.Event{Kind: sip.EventAnswered, Code: 200})
			c.expectState("answered")
			c.expectSDK("callAnswered")
			ms.emit(media.Event{Kind: media.EventBrowserConnected})
			ms.emit(media.Event{Kind: media.EventBrowserFailed, Err: errors.New("page unloaded")})
			if comesBack {
				ms.emit(media.Event{Kind: media.EventBrowserConnected})
				// Well past the grace: still answered, nothing hung up.
				c.send(`{"v":1,"type":"ping","id":"p"}`)
				c.expect("pong")
				time.Sleep(600 * time.Millisecond) // not synchronisation: the grace must pass with no end
				select {
				case <-call.hangups:
					t.Fatal("the call was hung up although the browser's audio came back")
				default:
				}
				return
			}
			st := c.expectState("ended")
			if st["endStatus"] != "FAILED" || !strings.Contains(st["message"].(string), "audio connection to your browser") {
				t.Fatalf("ended = %v", st)
			}
			select {
			case <-call.hangups:
			case <-time.After(2 * time.Second):
				t.Fatal("the trunk leg was not hung up")
			}
		})
	}
}
