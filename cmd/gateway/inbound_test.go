package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
)

// Inbound calls end to end: SIPp as the trunk calls a DID on the gateway
// binary; headless softphones signed in as reps take (or miss) the call.

const (
	repDID    = "+14155550100" // rings ana, with a ringback as early media
	groupDID  = "+14155550111" // rings the group ana, ana1 at once; then 480 with Retry-After
	callerNum = "+14155550123"
)

const inboundRouting = `routing:
  ringTimeout: 15s
  groups:
    sales: {members: [ana, ana1]}
  dids:
    "` + repDID + `":
      earlyMedia: ringback
      steps: [{rep: ana}]
    "` + groupDID + `":
      steps: [{group: sales}]
      fallback: {reject: 480, retryAfter: 2m}
`

// inboundGateway is a gateway with reps ana and ana1 and inboundRouting;
// its trunk is any peer on 127.0.0.1.
func inboundGateway(t *testing.T) *gateway {
	return startGateway(t, gwConfig{trunk: "127.0.0.1:5999", users: 2, dids: []string{repDID, groupDID}, extra: inboundRouting})
}

// availableRep signs user in (HubSpot simulated, matching the caller to
// Maria Gonzalez) and makes them available.
func availableRep(t *testing.T, g *gateway, user string) *softphone.Phone {
	t.Helper()
	p := newPhoneUser(t, g, user, func(o *softphone.Options) {
		o.HubSpot.CallerID = func(n string) []softphone.CallerIDMatch {
			if n == callerNum {
				return []softphone.CallerIDMatch{softphone.ContactMatch(20000001, 1051, "Maria", "Gonzalez")}
			}
			return nil
		}
	})
	if err := p.SetAvailable(ctxFor(t, 5*time.Second), true); err != nil {
		t.Fatalf("%s available: %v", user, err)
	}
	return p
}

// callGateway runs a SIPp scenario calling did on the gateway.
func callGateway(t *testing.T, g *gateway, name string, vars map[string]string, o sipptest.Options) *sipptest.Peer {
	t.Helper()
	o.Scenario, o.Remote, o.Vars = scenario(name), g.sipAddr(), vars
	return sipptest.Start(t, o)
}

func waitIncoming(t *testing.T, p *softphone.Phone) softphone.Call {
	t.Helper()
	c, err := p.WaitIncoming(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Inbound() || c.FromNumber != callerNum || c.Owner != "" {
		t.Fatalf("incoming call %+v", c)
	}
	return c
}

// inboundEvents checks the SDK events HubSpot saw for one offer: names in
// order, externalCallId, the engagement echoed, the end status; it
// returns them.
func inboundEvents(t *testing.T, p *softphone.Phone, id string, want []string, status string) []sdkCall {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var evs []sdkCall
	for {
		evs = nil
		for _, e := range callEvents(t, p) {
			if e.Data["externalCallId"] == id {
				evs = append(evs, e)
			}
		}
		if len(evs) >= len(want) || time.Now().After(deadline) {
			break
		}
		select {
		case <-p.Events():
		case <-time.After(50 * time.Millisecond):
		}
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("HubSpot saw %v for %s, want %v", names, id, want)
	}
	in := evs[0].Data
	if in["fromNumber"] != callerNum || in["toNumber"] == "" || in["createEngagement"] != true || in["callStartTime"] == nil {
		t.Errorf("incomingCall = %v", in)
	}
	for _, e := range evs {
		if e.Name == "callEnded" {
			if e.Data["callEndStatus"] != status {
				t.Errorf("callEnded.callEndStatus = %v, want %s", e.Data["callEndStatus"], status)
			}
			if e.Data["engagementId"] == nil {
				t.Errorf("callEnded without the engagement id: %v", e.Data)
			}
		}
		if e.Name == "callCompleted" {
			props, _ := e.Data["engagementProperties"].(map[string]any)
			if props["hs_call_direction"] != "INBOUND" || props["hs_call_from_number"] != callerNum {
				t.Errorf("callCompleted = %v", e.Data)
			}
		}
	}
	return evs
}

// TestInboundCallAnswered: SIPp calls the DID; the rep's softphone rings
// (incomingCall, the caller's name from HubSpot's match), the rep answers,
// the rep's 1 kHz tone goes to the trunk and comes back (SIPp echoes it),
// SIPp hangs up: COMPLETED, wrapped up as an inbound engagement.
func TestInboundCallAnswered(t *testing.T) {
	g := inboundGateway(t)
	p := availableRep(t, g, testUser)
	trunk := callGateway(t, g, "inbound_echo.xml", map[string]string{"did": repDID, "talk": "5000"}, sipptest.Options{RTPEcho: true})
	c := waitIncoming(t, p)
	if c.ToNumber != repDID {
		t.Errorf("incoming call to %s, want %s", c.ToNumber, repDID)
	}
	logInviteToIncoming(t, g, p, c.CallID)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Owner == "" || c.Owner != p.Session().Instance {
		t.Errorf("answered call's owner %q, want this phone %q", c.Owner, p.Session().Instance)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, repTone, "the rep's tone echoed by the caller's side")
	ended := waitState(t, p, c.CallID, softphone.StateEnded)
	if ended.EndStatus != "COMPLETED" || ended.EndReason != "answered" || ended.AnsweredAt == 0 {
		t.Errorf("ended %+v", ended)
	}
	// HubSpot's caller-ID match (it came after incomingCall) names the caller.
	if ended.Caller == nil || ended.Caller.Name != "Maria Gonzalez" || ended.Caller.Type != "CONTACT" {
		t.Errorf("caller %+v, want HubSpot's match", ended.Caller)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), c.CallID, "connected", "Called in about pricing."); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	evs := inboundEvents(t, p, c.CallID, []string{"incomingCall", "callAnswered", "callEnded", "callCompleted"}, "COMPLETED")
	props, _ := evs[3].Data["engagementProperties"].(map[string]any)
	if props["hs_call_status"] != "COMPLETED" || props["hs_call_body"] != "Called in about pricing." || props["hs_call_to_number"] != repDID {
		t.Errorf("callCompleted = %v", evs[3].Data)
	}
	msgs := trunk.Messages()
	if n := okToInvite(msgs); n != 1 {
		t.Errorf("SIPp got %d answers (200 OK to its INVITE, by To tag), want 1", n)
	}
	if !strings.Contains(msgs, "SIP/2.0 183 Session Progress") || strings.Contains(msgs, "SIP/2.0 180 Ringing") {
		t.Errorf("want the route's early media in a 183 (not a 180):\n%s", msgs)
	}
}

// logInviteToIncoming logs the time from the INVITE reaching the gateway
// (its log) to incomingCall reaching the softphone.
func logInviteToIncoming(t *testing.T, g *gateway, p *softphone.Phone, id string) {
	t.Helper()
	var at time.Time
	for _, e := range p.SDKEvents() {
		if e.Name == "incomingCall" {
			at = e.At
		}
	}
	for _, m := range g.logsWith("inbound INVITE") {
		if ts, ok := m["ts"].(string); ok {
			if inv, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts); err == nil && !at.IsZero() {
				t.Logf("INVITE received → incomingCall at the softphone: %v (gateway log clock, ms resolution)", at.Sub(inv).Round(time.Millisecond))
			}
		}
	}
}

// okToInvite counts the distinct answers (200 OK to an INVITE, by To tag)
// in a SIPp message log.
func okToInvite(messages string) int {
	tags := map[string]bool{}
	toTag := regexp.MustCompile(`(?mi)^To:.*;tag=([^;\s]+)`)
	for _, block := range strings.Split(messages, "message received") {
		lines := strings.SplitN(strings.TrimLeft(block, " [0123456789]bytes:\r\n"), "\n", 2)
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "SIP/2.0 200") || !regexp.MustCompile(`(?mi)^CSeq:\s*\d+ INVITE`).MatchString(block) {
			continue
		}
		if m := toTag.FindStringSubmatch(block); m != nil {
			tags[m[1]] = true
		}
	}
	return len(tags)
}

// TestInboundRingGroupFirstAnswerWins: the group's two reps ring at once
// and both answer at once: one wins, the other is told who took it (and
// HubSpot, callTransferred); SIPp sees exactly one 200 OK.
func TestInboundRingGroupFirstAnswerWins(t *testing.T) {
	g := inboundGateway(t)
	phones := []*softphone.Phone{availableRep(t, g, testUser), availableRep(t, g, testUser+"1")}
	trunk := callGateway(t, g, "inbound_echo.xml", map[string]string{"did": groupDID, "talk": "4000"}, sipptest.Options{RTPEcho: true})
	calls := make([]softphone.Call, 2)
	for i, p := range phones {
		calls[i] = waitIncoming(t, p)
	}
	if calls[0].CallID == calls[1].CallID {
		t.Fatal("both reps got the same externalCallId")
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, p := range phones {
		wg.Go(func() { _, errs[i] = p.Accept(ctxFor(t, 10*time.Second), calls[i].CallID) })
	}
	wg.Wait()
	won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	if won < 0 || errs[1-won] == nil {
		t.Fatalf("accept results %v: want exactly one answer", errs)
	}
	var pe *softphone.Error
	if !errors.As(errs[1-won], &pe) && !errors.Is(errs[1-won], softphone.ErrCallEnded) {
		t.Errorf("the second answer failed with %v, want a refusal or the call ended for them", errs[1-won])
	}
	winner, loser := phones[won], phones[1-won]
	lost := waitState(t, loser, calls[1-won].CallID, softphone.StateEnded)
	if lost.EndReason != "answered_elsewhere" || lost.AnsweredBy != fmt.Sprintf("Rep %d", won) {
		t.Errorf("the other rep's call ended %+v", lost)
	}
	if err := winner.WaitMedia(ctxFor(t, 10*time.Second), calls[won].CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, winner, repTone, "echo at the rep who answered")
	waitState(t, winner, calls[won].CallID, softphone.StateEnded)
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := okToInvite(trunk.Messages()); n != 1 {
		t.Errorf("SIPp got %d answers (200 OK to its INVITE, by To tag), want exactly 1", n)
	}
	inboundEvents(t, loser, calls[1-won].CallID, []string{"incomingCall", "callTransferred", "callEnded", "callCompleted"}, "NO_ANSWER")
	inboundEvents(t, winner, calls[won].CallID, []string{"incomingCall", "callAnswered", "callEnded"}, "COMPLETED")
}

// TestInboundCallerHangsUpWhileRinging: the caller gives up: the rep's call
// ends as missed, and HubSpot logs it (callEnded MISSED, callCompleted).
func TestInboundCallerHangsUpWhileRinging(t *testing.T) {
	g := inboundGateway(t)
	p := availableRep(t, g, testUser)
	trunk := callGateway(t, g, "inbound_cancel.xml", map[string]string{"did": repDID, "ring": "1500"}, sipptest.Options{})
	c := waitIncoming(t, p)
	ended := waitState(t, p, c.CallID, softphone.StateCompleted)
	if ended.EndStatus != "MISSED" || ended.EndReason != "missed" {
		t.Errorf("call %+v, want a missed call", ended)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	evs := inboundEvents(t, p, c.CallID, []string{"incomingCall", "callEnded", "callCompleted"}, "MISSED")
	if props, _ := evs[2].Data["engagementProperties"].(map[string]any); props["hs_call_status"] != "NO_ANSWER" {
		t.Errorf("callCompleted = %v", evs[2].Data)
	}
}

// TestInboundRefused: an unknown DID gets 404; nobody available, the
// route's fallback (480 with Retry-After); an INVITE from an address that
// is no trunk's, 403.
func TestInboundRefused(t *testing.T) {
	g := inboundGateway(t)
	for _, tc := range []struct {
		name, did, ip, want, header string
	}{
		{"unknown DID", "+14155550999", "", "SIP/2.0 404 Not Found", ""},
		{"nobody available", groupDID, "", "SIP/2.0 480 Temporarily Unavailable", "Retry-After: 120"},
		{"not a trunk", repDID, "127.0.0.2", "SIP/2.0 403 Forbidden", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trunk := callGateway(t, g, "inbound_rejected.xml", map[string]string{"did": tc.did}, sipptest.Options{IP: tc.ip})
			if err := trunk.Wait(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			msgs := trunk.Messages()
			if !strings.Contains(msgs, tc.want) || !strings.Contains(msgs, tc.header) {
				t.Errorf("want %q %q in:\n%s", tc.want, tc.header, msgs)
			}
		})
	}
}

// rawTrunk sends INVITEs from a plain UDP socket on 127.0.0.1 and ACKs
// their final responses: it timestamps the INVITE to the microsecond.
type rawTrunk struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	n    int
}

func newRawTrunk(t *testing.T, gatewaySIP string) *rawTrunk {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	to, err := net.ResolveUDPAddr("udp4", gatewaySIP)
	if err != nil {
		t.Fatal(err)
	}
	return &rawTrunk{t: t, conn: conn, to: to}
}

// invite sends an INVITE to did and returns when it was sent.
func (r *rawTrunk) invite(did string) time.Time {
	r.t.Helper()
	r.n++
	local := r.conn.LocalAddr().(*net.UDPAddr)
	sdp := fmt.Sprintf("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", 40000+2*r.n)
	msg := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-raw%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@127.0.0.1>;tag=raw%d\r\n"+
		"To: <sip:%s@%s>\r\n"+
		"Call-ID: raw-%d-%d@127.0.0.1\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:raw@%s>\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		did, r.to, local, r.n, callerNum, r.n, did, r.to, r.n, time.Now().UnixNano(), local, len(sdp), sdp)
	at := time.Now()
	if _, err := r.conn.WriteToUDP([]byte(msg), r.to); err != nil {
		r.t.Fatal(err)
	}
	return at
}

// final reads responses until a final one, ACKs it, and returns its status line.
func (r *rawTrunk) final() string {
	r.t.Helper()
	buf := make([]byte, 65536)
	for {
		_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			r.t.Fatalf("no final response: %v", err)
		}
		res := string(buf[:n])
		line, _, _ := strings.Cut(res, "\r\n")
		if strings.HasPrefix(line, "SIP/2.0 1") {
			continue
		}
		hdr := func(name string) string {
			m := regexp.MustCompile(`(?mi)^` + name + `:[^\r\n]*`).FindString(res)
			return m
		}
		ack := "ACK sip:x@" + r.to.String() + " SIP/2.0\r\n" + hdr("Via") + "\r\nMax-Forwards: 70\r\n" + hdr("From") + "\r\n" + hdr("To") +
			"\r\n" + hdr("Call-ID") + "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
		if _, err := r.conn.WriteToUDP([]byte(ack), r.to); err != nil {
			r.t.Fatal(err)
		}
		return line
	}
}

// TestInviteToIncomingCallLatency: from the INVITE leaving the trunk's
// socket to incomingCall arriving on the rep's socket, over many calls (the
// rep declines each; the route's fallback refuses it). No timing is
// asserted; the figure goes to the issue notes.
func TestInviteToIncomingCallLatency(t *testing.T) {
	g := inboundGateway(t)
	c := rawSocket(t, g)
	c.send(`{"v":1,"type":"login","username":"` + testUser + `","password":"` + testPassword + `"}`)
	c.expect("session")
	c.send(`{"v":1,"type":"setAvailable","id":"a","available":true}`)
	c.expect("presence")
	trunk := newRawTrunk(t, g.sipAddr())
	const n = 40
	lat := make([]time.Duration, 0, n)
	for range n {
		sent := trunk.invite(repDID)
		var id string
		for {
			m := c.expect("sdk")
			if m["name"] == "incomingCall" {
				lat = append(lat, time.Since(sent))
				id = m["data"].(map[string]any)["externalCallId"].(string)
				// As HubSpot: callEnded waits for the engagement id.
				c.send(`{"v":1,"type":"sdk","name":"onCreateEngagementSucceeded","data":{"engagementId":4711}}`)
				break
			}
		}
		c.send(`{"v":1,"type":"decline","callId":"` + id + `"}`)
		if line := trunk.final(); line != "SIP/2.0 480 Temporarily Unavailable" {
			t.Fatalf("after the decline: %s", line)
		}
		for {
			m := c.expect("call")
			if m["callId"] == id && m["state"] == "completed" {
				break
			}
		}
	}
	slices.Sort(lat)
	t.Logf("INVITE on the wire → incomingCall at the softphone's socket, %d calls (race detector %v): p50 %v, p90 %v, max %v",
		n, raceEnabled, lat[n/2], lat[n*9/10], lat[n-1])
	var gw []float64
	for _, m := range g.logsWith("incomingCall sent") {
		if d, ok := m["inviteToIncomingCall"].(float64); ok {
			gw = append(gw, d*1000)
		}
	}
	if len(gw) > 0 {
		slices.Sort(gw)
		t.Logf("inside the gateway (INVITE parsed → incomingCall queued): p50 %.2f ms, max %.2f ms", gw[len(gw)/2], gw[len(gw)-1])
	}
	_ = context.Background
}

// TestInboundOwnerFirst: owner-aware routing with HubSpot's CRM API (a
// fake on loopback): HubSpot matches the caller to Maria Gonzalez, whose
// owner (222) is ana1; ana1 rings alone first (ana's call is routed away),
// then the group again without ana1.
func TestInboundOwnerFirst(t *testing.T) {
	var asked atomic.Value
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.Method + " " + r.URL.RequestURI() + " " + r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"1051","properties":{"hubspot_owner_id":"222","hs_object_id":"1051"}}`)
	}))
	t.Cleanup(crm.Close)
	t.Setenv("HUBLINE_TEST_HUBSPOT_TOKEN", "pat-test-token")
	routing := `hubspot: {apiURL: "` + crm.URL + `", accessTokenEnv: HUBLINE_TEST_HUBSPOT_TOKEN}
routing:
  groups:
    sales: {members: [ana, ana1]}
  dids:
    "` + groupDID + `":
      ownerFirst: true
      ownerRingTimeout: 10s
      steps: [{group: sales, ringTimeout: 10s}]
`
	cfg := gwConfig{trunk: "127.0.0.1:5999", users: 2, dids: []string{groupDID}, extra: routing}
	cfg.usersExtra = map[string]string{testUser + "1": "222"}
	g := startGateway(t, cfg)
	ana, ana1 := availableRep(t, g, testUser), availableRep(t, g, testUser+"1")
	trunk := newRawTrunk(t, g.sipAddr())
	trunk.invite(groupDID)
	first := waitIncoming(t, ana)
	waitIncoming(t, ana1)
	lost := waitState(t, ana, first.CallID, softphone.StateCompleted)
	if lost.EndReason != "routed" {
		t.Errorf("ana's call ended %+v, want routed (the owner rings first)", lost)
	}
	if got, _ := asked.Load().(string); got != "GET /crm/v3/objects/contacts/1051?properties=hubspot_owner_id Bearer pat-test-token" {
		t.Errorf("CRM request %q", got)
	}
	owner, _ := ana1.LastCall()
	if owner.State != softphone.StateRinging || owner.Caller == nil || owner.Caller.Name != "Maria Gonzalez" {
		t.Fatalf("the owner's call %+v", owner)
	}
	// The owner declines: the group again, without them.
	if err := ana1.Decline(ctxFor(t, 5*time.Second), owner.CallID); err != nil {
		t.Fatal(err)
	}
	again := waitIncoming(t, ana)
	if again.CallID == first.CallID {
		t.Error("ana's second ring reused the first's externalCallId")
	}
	if err := ana.Decline(ctxFor(t, 5*time.Second), again.CallID); err != nil {
		t.Fatal(err)
	}
	if line := trunk.final(); line != "SIP/2.0 480 Temporarily Unavailable" {
		t.Errorf("after everyone declined: %s", line)
	}
	inboundEvents(t, ana, first.CallID, []string{"incomingCall", "callTransferred", "callEnded", "callCompleted"}, "NO_ANSWER")
}

// TestInboundVoicemail: a DID that goes straight to a mailbox: the caller
// hears the beep, leaves a message (SIPp plays 440 Hz), hangs up; the
// message is a WAV file in routing.voicemailDir.
func TestInboundVoicemail(t *testing.T) {
	dir := t.TempDir()
	vmDir := filepath.Join(dir, "vm")
	if err := os.Mkdir(vmDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeUlawWAV(t, filepath.Join(dir, "tone.wav"), trunkTone, 3*time.Second)
	routing := `routing:
  voicemailDir: ` + vmDir + `
  mailboxes:
    support: {maxLength: 20s}
  dids:
    "` + repDID + `":
      steps: [{voicemail: support}]
`
	g := startGateway(t, gwConfig{trunk: "127.0.0.1:5999", dids: []string{repDID}, extra: routing})
	trunk := callGateway(t, g, "inbound_voicemail.xml", map[string]string{"did": repDID}, sipptest.Options{Dir: dir})
	if err := trunk.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	var files []string
	deadline := time.Now().Add(5 * time.Second)
	for len(files) == 0 && time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(vmDir, "*-support-*.wav"))
		if len(files) == 0 {
			time.Sleep(20 * time.Millisecond) // polling for the file, not synchronisation
		}
	}
	if len(files) != 1 {
		t.Fatalf("voicemail files %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := audio.ReadWAV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(len(pcm)) * time.Second / audio.SampleRate; d < time.Second {
		t.Fatalf("the message is %v long", d)
	}
	if f, level := audio.DominantTone(pcm, toneCandidates); f != trunkTone || level < 0.5 {
		t.Errorf("the message holds %.0f Hz at %.2f, want the caller's %.0f Hz", f, level, trunkTone)
	}
	t.Logf("voicemail %s: %v", filepath.Base(files[0]), time.Duration(len(pcm))*time.Second/audio.SampleRate)
}
