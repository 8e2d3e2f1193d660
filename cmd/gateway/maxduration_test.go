package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
)

// TestMaxCallDuration: with calls.maxDuration 2s, the gateway hangs up an
// answered call with BYE (SIPp's scenario waits for it) after 2 s: the rep
// sees the call end COMPLETED with the reason, the call state announced
// the end time (endsAt), HubSpot gets callEnded COMPLETED, and the log
// says "max duration".
func TestMaxCallDuration(t *testing.T) {
	const maxDur = 2 * time.Second
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_echo.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr, maxDuration: maxDur})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	ans := waitState(t, p, id, softphone.StateAnswered)
	if ans.EndsAt != ans.AnsweredAt+maxDur.Milliseconds() {
		t.Errorf("endsAt %d, want answeredAt %d + %v", ans.EndsAt, ans.AnsweredAt, maxDur)
	}
	c := waitState(t, p, id, softphone.StateEnded)
	if c.EndStatus != "COMPLETED" || !strings.Contains(c.Message, "maximum call duration") {
		t.Errorf("ended %s %q, want COMPLETED with the maximum duration reason", c.EndStatus, c.Message)
	}
	if talk := time.Duration(c.EndedAt-c.AnsweredAt) * time.Millisecond; talk < maxDur || talk > maxDur+2*time.Second {
		t.Errorf("the call lasted %v after the answer, want about %v", talk, maxDur)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("the trunk did not get its BYE: %v", err)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "", ""); err != nil {
		t.Fatal(err)
	}
	checkCallEvents(t, p, id, true, "COMPLETED")
	logged := false
	for _, l := range g.logsWith("hanging up") {
		if l["reason"] == "max duration" && l["externalCallId"] == id {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no \"hanging up\" log with reason \"max duration\" for the call")
	}
}

// TestReliableEarlyMedia: the trunk sends its 183 with SDP reliably
// (Require: 100rel, RSeq); the gateway PRACKs it (SIPp checks RAck) and
// the carrier's tone still reaches the rep during early media; the 200
// that follows answers the call.
func TestReliableEarlyMedia(t *testing.T) {
	earlyMediaCall(t, "early_media_100rel.xml")
}
