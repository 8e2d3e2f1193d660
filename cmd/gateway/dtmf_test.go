package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
)

// TestDTMFInfoFromTrunk: digits the trunk sends as SIP INFO
// (application/dtmf-relay and application/dtmf) reach the rep's softphone
// as dtmfReceived; a malformed body gets 400 with the reason, an unknown
// content type 415 with Accept (SIPp checks both), and neither is a digit.
// (livekit/sip takes no INFO DTMF, and rtpengine leaves INFO↔RFC 2833 to
// others, R #747: anchors.md (b).)
func TestDTMFInfoFromTrunk(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("info_from_trunk.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitDTMF(ctxFor(t, 15*time.Second), id, "5#9"); err != nil {
		t.Fatal(err)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp: %v", err)
	}
	if got := p.ReceivedDTMF(id); got != "5#9" {
		t.Errorf("digits %q after the call, want 5#9", got)
	}
}

// TestDTMFInfoToTrunk: with dtmfMode: info the rep's keypad goes to the
// trunk as one INFO application/dtmf-relay per digit, in order, though
// the trunk's SDP has telephone-event (SIPp checks each body, and that
// the CSeq numbers of the INFOs and of the BYE after them go up). It is the
// regression test of jambonz fs #128 / sbc-inbound PR #44 (anchors.md (b)):
// a WebRTC client's digits must reach a carrier that takes INFO only.
func TestDTMFInfoToTrunk(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("info_to_trunk.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr, dtmfMode: "info"})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	sent, err := p.SendDTMF(ctxFor(t, 10*time.Second), id, "1#")
	if err != nil {
		t.Fatal(err)
	}
	if sent.Via != "info" || sent.Digits != "1#" {
		t.Errorf("dtmfSent %+v, want via info", sent)
	}
	if _, err := p.SendDTMF(ctxFor(t, 10*time.Second), id, "7"); err != nil {
		t.Fatal(err)
	}
	// The third INFO is answered before the call ends: wait for its log.
	deadline := time.Now().Add(10 * time.Second)
	for len(g.logsWith("INFO DTMF sent")) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (the trunk) did not get the INFOs it expected: %v", err)
	}
}

// TestDTMFBadInput: digits outside the keypad, and digits before the
// answer, are refused with a clear error and send nothing.
func TestDTMFBadInput(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("ring_cancel.xml")})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateRinging)
	if _, err := p.SendDTMF(ctxFor(t, 5*time.Second), id, "12"); !softphone.IsCode(err, "bad_state") {
		t.Errorf("DTMF while ringing: %v, want bad_state", err)
	}
	for _, frame := range []string{
		`{"v":1,"type":"dtmf","callId":"` + id + `","digits":"1E"}`,
		`{"v":1,"type":"dtmf","callId":"` + id + `","digits":""}`,
		`{"v":1,"type":"dtmf","callId":"` + id + `","digits":"` + strings.Repeat("1", 65) + `"}`,
	} {
		raw := rawSocket(t, g)
		raw.send(frame)
		if m := raw.expect("error"); m["code"] != "bad_message" || !strings.Contains(m["message"].(string), "digits") {
			t.Errorf("%s: %v", frame, m)
		}
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestDTMFInboundInfo: on an inbound call from a trunk whose offer has no
// telephone-event, the caller's INFO digit reaches the rep who answered,
// and the rep's keypad goes back as INFO in the same dialog (SIPp checks
// the body).
func TestDTMFInboundInfo(t *testing.T) {
	g := inboundGateway(t)
	p := availableRep(t, g, testUser)
	trunk := callGateway(t, g, "inbound_dtmf.xml", map[string]string{"did": repDID}, sipptest.Options{RTPEcho: true})
	c := waitIncoming(t, p)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitDTMF(ctxFor(t, 10*time.Second), c.CallID, "4"); err != nil {
		t.Fatal(err)
	}
	sent, err := p.SendDTMF(ctxFor(t, 10*time.Second), c.CallID, "8")
	if err != nil {
		t.Fatal(err)
	}
	if sent.Via != "info" {
		t.Errorf("dtmfSent via %q, want info (the trunk offered no telephone-event)", sent.Via)
	}
	if err := trunk.Wait(15 * time.Second); err != nil {
		t.Fatalf("SIPp (the caller) did not get the rep's INFO: %v", err)
	}
	waitState(t, p, c.CallID, softphone.StateEnded)
}
