package cti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// Inbound calls, with fakes for the trunk leg and the media: routing,
// presence, instances, owner-aware routing, voicemail.

// The fake media session takes inbound calls too.
func (s *fakeSession) AnswerTrunkOffer(offer []byte) ([]byte, error) {
	if string(offer) == "bad" {
		return nil, errors.New("no G.711")
	}
	return []byte("our-answer"), nil
}

func (s *fakeSession) Play(ulaw []byte, loop bool, done func()) {
	s.mu.Lock()
	s.plays = append(s.plays, fmt.Sprintf("%d loop=%v", len(ulaw), loop))
	s.mu.Unlock()
	if !loop && done != nil {
		go done() // as media does: from its own goroutine
	}
}

func (s *fakeSession) StopPlay() {}

func (s *fakeSession) Record(max time.Duration) {
	s.mu.Lock()
	s.recording = true
	s.mu.Unlock()
}

func (s *fakeSession) Recording() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recording {
		return nil
	}
	return []byte{1, 2, 3, 4}
}

// fakeLeg is the trunk's INVITE.
type fakeLeg struct {
	mu      sync.Mutex
	emit    func(sip.Event)
	acts    chan string // "progress", "progress+sdp", "answer", "reject 480 300s", "hangup"
	answers int
}

func newFakeLeg() *fakeLeg { return &fakeLeg{acts: make(chan string, 16)} }

func (l *fakeLeg) Progress(sdp []byte) error {
	if sdp != nil {
		l.acts <- "progress+sdp"
	} else {
		l.acts <- "progress"
	}
	return nil
}
func (l *fakeLeg) Answer(sdp []byte) error {
	l.mu.Lock()
	l.answers++
	l.mu.Unlock()
	l.acts <- "answer " + string(sdp)
	return nil
}
func (l *fakeLeg) RejectAfter(code int, reason string, retryAfter time.Duration) error {
	l.acts <- fmt.Sprintf("reject %d %v", code, retryAfter)
	return nil
}
func (l *fakeLeg) Hangup(context.Context) error { l.acts <- "hangup"; return nil }
func (l *fakeLeg) OnEvent(f func(sip.Event)) {
	l.mu.Lock()
	l.emit = f
	l.mu.Unlock()
}
func (l *fakeLeg) send(ev sip.Event) {
	l.mu.Lock()
	f := l.emit
	l.mu.Unlock()
	f(ev)
}

func (l *fakeLeg) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case a := <-l.acts:
		if !strings.HasPrefix(a, want) {
			t.Fatalf("trunk leg: %q, want %q", a, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("trunk leg: no %q", want)
	}
}

const did = "+14155550100"

// inboundHarness has reps ana, ben and cho (ben's HubSpot owner id is
// 222) and the routes routes (their DID defaults to did).
func inboundHarness(t *testing.T, mod func(*Options), routes ...Route) *harness {
	return newHarness(t, func(o *Options) {
		hash := o.Users[0].PasswordHash
		o.Users = append(o.Users,
			User{Username: "ben", DisplayName: "Ben Rep", PasswordHash: hash, FromNumber: "+14155550101", HubSpotOwnerID: "222"},
			User{Username: "cho", DisplayName: "Cho Rep", PasswordHash: hash, FromNumber: "+14155550102"})
		for i := range routes {
			if routes[i].DID == "" {
				routes[i].DID = did
			}
		}
		o.Routes = routes
		o.RingTimeout = 5 * time.Second
		if mod != nil {
			mod(o)
		}
	})
}

// rep signs user in on a socket that runs at location (widget, remote,
// window) and makes them available.
func (h *harness) rep(user, location string, usesWindow bool) (*client, string) {
	h.t.Helper()
	c := h.connect(h.srv.URL)
	c.send(`{"v":1,"type":"login","username":"` + user + `","password":"s3cret"}`)
	s := c.expect("session")
	if s["available"] != false {
		h.t.Fatalf("a new session is available: %v", s)
	}
	c.expectSDK("userLoggedIn")
	c.send(fmt.Sprintf(`{"v":1,"type":"sdk","name":"onReady","data":{"iframeLocation":%q,"usesCallingWindow":%v,"ownerId":7%d}}`,
		location, usesWindow, len(user)))
	if d := c.expectSDK("initialized"); d["isLoggedIn"] != true || d["isAvailable"] != false {
		h.t.Fatalf("initialized = %v", d)
	}
	c.send(`{"v":1,"type":"setAvailable","id":"a1","available":true}`)
	if p := c.expect("presence"); p["available"] != true || p["re"] != "a1" {
		h.t.Fatalf("presence = %v", p)
	}
	c.expectSDK("userAvailable")
	return c, s["instance"].(string)
}

// ring sends an inbound call to number and returns its trunk leg.
func (h *harness) ring(number string) *fakeLeg {
	l := newFakeLeg()
	h.hub.Inbound(InboundCall{SIPCallID: "trunk-call-1", Trunk: "t", DID: number, To: number,
		From: "+15550100199", SDP: []byte("trunk-offer"), Received: time.Now()}, l)
	return l
}

// incoming expects the ringing state and incomingCall; it returns the
// offer's externalCallId.
func (c *client) incoming() string {
	c.t.Helper()
	st := c.expectState("ringing")
	id := st["callId"].(string)
	if st["direction"] != "INBOUND" || st["fromNumber"] != "+15550100199" || st["toNumber"] != did || st["owner"] != nil {
		c.t.Fatalf("ringing state = %v", st)
	}
	d := c.expectSDK("incomingCall")
	if d["externalCallId"] != id || d["fromNumber"] != "+15550100199" || d["toNumber"] != did ||
		d["createEngagement"] != true || d["callStartTime"] == nil || len(d) != 5 {
		c.t.Fatalf("incomingCall = %v", d)
	}
	return id
}

// lostCall expects an offer's early end: state ended (endReason), the SDK
// events (callTransferred first when routed away), completed.
func (c *client) lostCall(id, reason, status string) {
	c.t.Helper()
	if status == "NO_ANSWER" {
		if d := c.expectSDK("callTransferred"); d["externalCallId"] != id {
			c.t.Fatalf("callTransferred = %v", d)
		}
	}
	st := c.expectState("ended")
	if st["callId"] != id || st["endReason"] != reason || st["endStatus"] != status {
		c.t.Fatalf("ended = %v, want reason %s, status %s", st, reason, status)
	}
	if d := c.expectSDK("callEnded"); d["externalCallId"] != id || d["callEndStatus"] != status {
		c.t.Fatalf("callEnded = %v", d)
	}
	c.expectState("completed")
	d := c.expectSDK("callCompleted")
	props, _ := d["engagementProperties"].(map[string]any)
	want := status
	if status == "MISSED" {
		want = "NO_ANSWER"
	}
	if d["externalCallId"] != id || props["hs_call_direction"] != "INBOUND" || props["hs_call_status"] != want ||
		props["hs_call_from_number"] != "+15550100199" || props["hs_call_to_number"] != did {
		c.t.Fatalf("callCompleted = %v", d)
	}
}

func TestInboundAnsweredCall(t *testing.T) {
	h := inboundHarness(t, func(o *Options) { o.EngagementWait = 2 * time.Second }, Route{Steps: []Step{{Reps: []string{"ana"}}}})
	ana, me := h.rep("ana", "widget", false)
	leg := h.ring(did)
	leg.expect(t, "progress")
	id := ana.incoming()
	ana.send(`{"v":1,"type":"sdk","name":"onCreateEngagementSucceeded","data":{"engagementId":777}}`)
	ana.send(`{"v":1,"type":"sdk","name":"onCallerIdMatchSucceeded","data":{"callerIdMatches":[{"callerIdType":"CONTACT",` +
		`"objectCoordinates":{"portalId":99,"objectId":501,"objectTypeId":"0-1"},"firstName":"Maria","lastName":"Gonzalez"}]}}`)
	st := ana.expectState("ringing")
	if caller, _ := st["caller"].(map[string]any); caller["name"] != "Maria Gonzalez" || caller["type"] != "CONTACT" {
		t.Fatalf("ringing with the match = %v", st)
	}
	ana.send(`{"v":1,"type":"openRecord","callId":"` + id + `"}`)
	if d := ana.expectSDK("navigateToRecord"); d["engagementId"] != float64(777) ||
		d["objectCoordinates"].(map[string]any)["objectId"] != float64(501) {
		t.Fatalf("navigateToRecord = %v", d)
	}
	ana.send(`{"v":1,"type":"accept","id":"x","callId":"` + id + `"}`)
	leg.expect(t, "answer our-answer")
	if st := ana.expectState("answered"); st["owner"] != me || st["answeredAt"] == nil {
		t.Fatalf("answered = %v, want owner %s", st, me)
	}
	if d := ana.expectSDK("callAnswered"); d["externalCallId"] != id || len(d) != 1 {
		t.Fatalf("callAnswered = %v", d)
	}
	ana.send(`{"v":1,"type":"offer","id":"o","callId":"` + id + `","sdp":"browser"}`)
	if a := ana.expect("answer"); a["sdp"] != "answer-to:browser" {
		t.Fatalf("answer = %v", a)
	}
	leg.send(sip.Event{Kind: sip.EventHangup})
	if st := ana.expectState("ended"); st["endStatus"] != "COMPLETED" || st["endReason"] != "answered" {
		t.Fatalf("ended = %v", st)
	}
	if d := ana.expectSDK("callEnded"); d["callEndStatus"] != "COMPLETED" || d["engagementId"] != float64(777) {
		t.Fatalf("callEnded = %v", d)
	}
	ana.send(`{"v":1,"type":"wrapUp","callId":"` + id + `","outcome":"connected","notes":"Called back about pricing"}`)
	ana.expectState("completed")
	d := ana.expectSDK("callCompleted")
	props, _ := d["engagementProperties"].(map[string]any)
	if props["hs_call_direction"] != "INBOUND" || props["hs_call_status"] != "COMPLETED" || props["hs_call_body"] != "Called back about pricing" {
		t.Fatalf("callCompleted = %v", d)
	}
	eventually(t, func() bool { return h.hub.Stats().Calls == 0 })
}

// A ring group rings everyone available at once; the first answer wins and
// the others see the call answered elsewhere (and HubSpot, callTransferred).
func TestInboundRingGroupFirstAnswerWins(t *testing.T) {
	h := inboundHarness(t, nil, Route{Steps: []Step{{Name: "group sales", Reps: []string{"ana", "ben", "cho"}}}})
	ana, _ := h.rep("ana", "widget", false)
	ben, _ := h.rep("ben", "widget", false)
	cho := h.login2("cho") // signed in, not available: not rung
	leg := h.ring(did)
	leg.expect(t, "progress")
	aid, bid := ana.incoming(), ben.incoming()
	if aid == bid {
		t.Fatal("two reps got the same externalCallId")
	}
	ben.send(`{"v":1,"type":"accept","callId":"` + bid + `"}`)
	leg.expect(t, "answer")
	ben.expectState("answered")
	ben.expectSDK("callAnswered")
	ana.expectSDK("callTransferred")
	if st := ana.expectState("ended"); st["endReason"] != "answered_elsewhere" || st["answeredBy"] != "Ben Rep" {
		t.Fatalf("ended = %v", st)
	}
	ana.send(`{"v":1,"type":"accept","id":"late","callId":"` + aid + `"}`)
	if e := ana.expectError("bad_state"); e["re"] != "late" || !strings.Contains(e["message"].(string), "Ben Rep") {
		t.Fatalf("late accept: %v", e)
	}
	ana.expectSDK("callEnded")
	ana.expectState("completed")
	ana.expectSDK("callCompleted")
	cho.send(`{"v":1,"type":"ping","id":"p"}`)
	cho.expect("pong") // nothing rang there
	leg.mu.Lock()
	n := leg.answers
	leg.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d answers sent to the trunk", n)
	}
}

// login2 signs user in without making them available.
func (h *harness) login2(user string) *client {
	c := h.connect(h.srv.URL)
	c.send(`{"v":1,"type":"login","username":"` + user + `","password":"s3cret"}`)
	c.expect("session")
	c.expectSDK("userLoggedIn")
	return c
}

// The caller gives up while it rings (hearing the route's early media): a
// missed call, logged.
func TestInboundCallerHangsUpWhileRinging(t *testing.T) {
	h := inboundHarness(t, nil, Route{Steps: []Step{{Reps: []string{"ana"}}}, EarlyMedia: make([]byte, 160)})
	sessions := h.hub.opts.Media.(fakeMedia).sessions
	ana, _ := h.rep("ana", "widget", false)
	leg := h.ring(did)
	leg.expect(t, "progress+sdp")
	id := ana.incoming()
	ms := <-sessions
	ms.mu.Lock()
	if strings.Join(ms.plays, ",") != "160 loop=true" {
		t.Errorf("early media plays %v", ms.plays)
	}
	ms.mu.Unlock()
	ana.send(`{"v":1,"type":"sdk","name":"onCreateEngagementSucceeded","data":{"engagementId":9}}`)
	leg.send(sip.Event{Kind: sip.EventFailed, Canceled: true, Code: 487})
	ana.lostCall(id, "missed", "MISSED")
	eventually(t, func() bool { return h.hub.Stats().Calls == 0 })
	// Available again for the next call.
	h.ring(did)
	ana.incoming()
}

// Hunt: one rep at a time; a decline moves on at once, a rep who lets it
// ring out is passed by; then the fallback rejects with Retry-After.
func TestInboundHuntDeclineAndFallback(t *testing.T) {
	h := inboundHarness(t, nil, Route{
		Steps:    []Step{{Reps: []string{"ana", "ben"}, Hunt: true, RingTimeout: 300 * time.Millisecond}},
		Fallback: Step{Reject: 480, RetryAfter: 300 * time.Second},
	})
	ana, _ := h.rep("ana", "widget", false)
	ben, _ := h.rep("ben", "widget", false)
	leg := h.ring(did)
	leg.expect(t, "progress")
	aid := ana.incoming()
	ana.send(`{"v":1,"type":"decline","callId":"` + aid + `"}`)
	ana.lostCall(aid, "declined", "CANCELED")
	bid := ben.incoming()
	ben.lostCall(bid, "routed", "NO_ANSWER") // rang out
	leg.expect(t, "reject 480 5m0s")
	leg.send(sip.Event{Kind: sip.EventFailed, Code: 480})
	eventually(t, func() bool { return h.hub.Stats().Calls == 0 })
}

func TestInboundUnknownNumberAndNobodyAvailable(t *testing.T) {
	h := inboundHarness(t, nil, Route{Steps: []Step{{Reps: []string{"ana"}}}},
		Route{DID: "+14155550111", Steps: []Step{{Reps: []string{"ana"}}}, Fallback: Step{Reject: 486}})
	leg := h.ring("+14155550999")
	leg.expect(t, "reject 404")
	// Nobody signed in: the default fallback, 480.
	leg = h.ring(did)
	leg.expect(t, "reject 480")
	leg.send(sip.Event{Kind: sip.EventFailed, Code: 480})
	// Signed in but unavailable: the route's fallback.
	ana := h.login2("ana")
	leg = h.ring("+14155550111")
	leg.expect(t, "reject 486")
	leg.send(sip.Event{Kind: sip.EventFailed, Code: 486})
	// An offer without G.711 (found once someone could ring: a refused
	// call allocates no media). An INVITE without SDP is a delayed offer
	// (TestDelayedOffer…).
	ana.send(`{"v":1,"type":"setAvailable","available":true}`)
	ana.expect("presence")
	l := newFakeLeg()
	h.hub.Inbound(InboundCall{DID: "+14155550111", From: "+15550100199", SDP: []byte("bad")}, l)
	l.expect(t, "reject 488")
	l.send(sip.Event{Kind: sip.EventFailed, Code: 488})
	eventually(t, func() bool { return h.hub.Stats().Calls == 0 })
}

type fakeOwners struct{ asked chan string }

func (f fakeOwners) OwnerOf(_ context.Context, typ, id string) (string, error) {
	f.asked <- typ + "/" + id
	return "222", nil
}

// Owner-aware routing: HubSpot matches the caller to a record owned by ben
// (owner 222): ben rings alone, then the group again without him.
func TestInboundOwnerFirst(t *testing.T) {
	owners := fakeOwners{asked: make(chan string, 1)}
	h := inboundHarness(t, func(o *Options) { o.Owners = owners }, Route{
		OwnerFirst: true, OwnerRingTimeout: 300 * time.Millisecond,
		Steps: []Step{{Name: "group", Reps: []string{"ana", "ben"}, RingTimeout: 2 * time.Second}},
	})
	ana, _ := h.rep("ana", "widget", false)
	ben, _ := h.rep("ben", "widget", false)
	h.ring(did)
	aid, bid := ana.incoming(), ben.incoming()
	ana.send(`{"v":1,"type":"sdk","name":"onCallerIdMatchSucceeded","data":{"callerIdMatches":[{"callerIdType":"COMPANY",` +
		`"objectCoordinates":{"portalId":99,"objectId":2031,"objectTypeId":"0-2"},"name":"Northwind"}]}}`)
	if got := <-owners.asked; got != "0-2/2031" {
		t.Fatalf("owner lookup for %s", got)
	}
	ana.expectState("ringing") // the caller's name
	ana.lostCall(aid, "routed", "NO_ANSWER")
	ben.expectState("ringing")
	ben.lostCall(bid, "routed", "NO_ANSWER") // the owner's turn ran out
	// Then the group, without the owner: a new offer for ana.
	if id := ana.incoming(); id == aid {
		t.Fatal("the second offer reused the first's externalCallId")
	}
}

// Two instances of one rep: the nav-bar remote and the calling window.
// Both ring; only the window talks to HubSpot; answering in the remote
// puts the media in the window; the remote mirrors the call.
func TestInboundRemoteAndWindow(t *testing.T) {
	h := inboundHarness(t, nil, Route{Steps: []Step{{Reps: []string{"ana"}}}})
	remote := h.connect(h.srv.URL)
	remote.send(`{"v":1,"type":"login","username":"ana","password":"s3cret"}`)
	token := remote.expect("session")["token"].(string)
	remote.expectSDK("userLoggedIn")
	remote.send(`{"v":1,"type":"sdk","name":"onReady","data":{"iframeLocation":"remote","usesCallingWindow":true}}`)
	remote.expectSDK("initialized")
	window := h.connect(h.srv.URL)
	window.send(`{"v":1,"type":"resume","token":"` + token + `"}`)
	win := window.expect("session")["instance"].(string)
	window.send(`{"v":1,"type":"sdk","name":"onReady","data":{"iframeLocation":"window","usesCallingWindow":true}}`)
	window.expectSDK("initialized")
	remote.send(`{"v":1,"type":"setAvailable","available":true}`)
	remote.expect("presence")
	if p := window.expect("presence"); p["available"] != true {
		t.Fatalf("window presence %v", p)
	}
	window.expectSDK("userAvailable") // the window tells HubSpot; the remote does not
	leg := h.ring(did)
	leg.expect(t, "progress")
	id := window.incoming()
	if st := remote.expectState("ringing"); st["callId"] != id {
		t.Fatalf("remote mirrors %v", st)
	}
	remote.send(`{"v":1,"type":"accept","callId":"` + id + `"}`)
	leg.expect(t, "answer")
	for _, c := range []*client{remote, window} {
		if st := c.expectState("answered"); st["owner"] != win {
			t.Fatalf("answered %v, want owner %s (the window)", st, win)
		}
	}
	window.expectSDK("callAnswered")
	remote.send(`{"v":1,"type":"offer","id":"ro","callId":"` + id + `","sdp":"x"}`)
	if e := remote.expectError("bad_state"); e["re"] != "ro" {
		t.Fatalf("offer from the remote: %v", e)
	}
	window.send(`{"v":1,"type":"offer","callId":"` + id + `","sdp":"w"}`)
	window.expect("answer")
	remote.send(`{"v":1,"type":"hangup","callId":"` + id + `"}`) // forwarded by the remote
	leg.expect(t, "hangup")
	remote.expectState("ended")
	window.expectState("ended")
	window.expectSDK("callEnded")
	remote.send(`{"v":1,"type":"ping","id":"p"}`)
	remote.expect("pong") // the remote got no SDK event for the call
}

// Presence: without an instance for ReconnectGrace the rep becomes
// unavailable, and HubSpot is told once one is back; signing out of one
// instance signs the others out.
func TestPresenceAndSignOut(t *testing.T) {
	h := inboundHarness(t, func(o *Options) { o.ReconnectGrace = 200 * time.Millisecond }, Route{Steps: []Step{{Reps: []string{"ana"}}}})
	ana := h.connect(h.srv.URL)
	ana.send(`{"v":1,"type":"login","username":"ana","password":"s3cret"}`)
	token := ana.expect("session")["token"].(string)
	ana.expectSDK("userLoggedIn")
	ana.send(`{"v":1,"type":"setAvailable","available":true}`)
	ana.expect("presence")
	ana.expectSDK("userAvailable")
	ana.ws.Close()
	sess := h.hub.sessions[token]
	eventually(t, func() bool { return !sess.presence() })
	back := h.connect(h.srv.URL)
	back.send(`{"v":1,"type":"resume","token":"` + token + `"}`)
	if s := back.expect("session"); s["available"] != false {
		t.Fatalf("session %v", s)
	}
	back.expectSDK("userUnavailable") // kept for the next instance
	h.ring(did).expect(t, "reject 480")

	other := h.connect(h.srv.URL)
	other.send(`{"v":1,"type":"resume","token":"` + token + `"}`)
	other.expect("session")
	back.send(`{"v":1,"type":"logout","id":"bye"}`)
	back.expectSDK("userLoggedOut")
	back.expect("loggedOut")
	other.expectSDK("userLoggedOut")
	other.expect("loggedOut")
	other.send(`{"v":1,"type":"setAvailable","available":true}`)
	other.expectError("unauthenticated")
}

// Voicemail as the fallback: answered, greeting, message handed over.
func TestInboundVoicemail(t *testing.T) {
	got := make(chan VoicemailMessage, 1)
	h := inboundHarness(t, func(o *Options) { o.OnVoicemail = func(m VoicemailMessage) { got <- m } }, Route{
		Fallback: Step{Voicemail: &Voicemail{Name: "sales", Greeting: make([]byte, 800)}},
	})
	sessions := h.hub.opts.Media.(fakeMedia).sessions
	leg := h.ring(did)
	leg.expect(t, "answer our-answer")
	ms := <-sessions
	eventually(t, func() bool { ms.mu.Lock(); defer ms.mu.Unlock(); return ms.recording })
	leg.send(sip.Event{Kind: sip.EventHangup})
	select {
	case m := <-got:
		if m.Mailbox != "sales" || m.DID != did || m.From != "+15550100199" || len(m.Audio) != 4 {
			t.Fatalf("voicemail %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no voicemail")
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if strings.Join(ms.plays, ",") != "800 loop=false" {
		t.Fatalf("plays %v", ms.plays)
	}
}

func TestScheduleAndRouteChecks(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone data")
	}
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	s := &Schedule{Location: ny, Open: []Window{
		{Days: weekdays, From: 9 * time.Hour, To: 17*time.Hour + 30*time.Minute},
		{Days: []time.Weekday{time.Saturday}, From: 22 * time.Hour, To: 2 * time.Hour}, // over midnight
	}}
	at := func(v string) time.Time {
		t.Helper()
		tt, err := time.ParseInLocation("2006-01-02 15:04", v, ny)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for v, want := range map[string]bool{
		"2026-12-01 09:00": true,  // Tuesday
		"2026-12-01 08:59": false, //
		"2026-12-01 17:30": false, // To is exclusive
		"2026-12-05 23:00": true,  // Saturday night
		"2026-12-06 01:59": true,  // into Sunday
		"2026-12-06 02:00": false,
		"2026-12-06 12:00": false,
	} {
		if got := s.IsOpen(at(v)); got != want {
			t.Errorf("open at %s: %v, want %v", v, got, want)
		}
		if got := s.IsOpen(at(v).UTC()); got != want {
			t.Errorf("open at %s (UTC): %v, want %v", v, got, want)
		}
	}
	r := Route{DID: did, Steps: []Step{{Reps: []string{"ana"}}}, Schedule: s, Closed: []Step{{Reject: 486}}}
	if st := r.stepsAt(at("2026-12-06 12:00")); len(st) != 2 || st[0].Reject != 486 || st[1].Reject != 480 {
		t.Errorf("closed steps %+v", st)
	}
	users := map[string]*User{"ana": {Username: "ana"}}
	for _, bad := range [][]Route{
		{{DID: did, Steps: []Step{{Reps: []string{"nobody"}}}}},
		{{DID: did, Steps: []Step{{}}}},
		{{DID: did, Steps: []Step{{Reps: []string{"ana"}, Reject: 480}}}},
		{{DID: did, Fallback: Step{Reject: 200}}},
		{{DID: did}, {DID: did}},
		{{}},
	} {
		if _, err := checkRoutes(bad, users); err == nil {
			t.Errorf("routes %+v accepted", bad)
		}
	}
}

func TestParseOwner(t *testing.T) {
	for body, want := range map[string]string{
		`{"id":"501","properties":{"hubspot_owner_id":"222"}}`: "222",
		`{"id":"501","properties":{"hubspot_owner_id":null}}`:  "",
		`{"id":"501","properties":{}}`:                         "",
	} {
		if got, err := parseOwner([]byte(body)); err != nil || got != want {
			t.Errorf("parseOwner(%s) = %q, %v", body, got, err)
		}
	}
	if _, err := parseOwner([]byte(`[]`)); err == nil {
		t.Error("parseOwner accepted a list")
	}
	var c HubSpotCRM
	if _, err := c.OwnerOf(context.Background(), "0-1", "12/../../x"); err == nil {
		t.Error("OwnerOf took a path as an id")
	}
	_ = json.Valid
}

func FuzzParseOwner(f *testing.F) {
	f.Add([]byte(`{"properties":{"hubspot_owner_id":"222"}}`))
	f.Add([]byte(`{"properties":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, err := parseOwner(b); err == nil && strings.ContainsAny(id, "\r\n\t ") && strings.TrimSpace(id) != id {
			t.Fatalf("untrimmed owner id %q", id)
		}
	})
}

var _ = media.Event{}
