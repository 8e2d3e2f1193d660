package cti

import (
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/sip"
)

// The session timer ended an answered call (the trunk leg sent BYE):
// callEnded FAILED, with the reason for the rep.
func TestSessionExpiredEndsFailed(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login()
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	call := h.nextCall()
	c.expectState("dialling")
	c.expectSDK("outgoingCall")
	call.emit(sip.Event{Kind: sip.EventAnswered, Code: 200})
	c.expectState("answered")
	c.expectSDK("callAnswered")
	call.emit(sip.Event{Kind: sip.EventEnded, SessionExpired: true})
	st := c.expectState("ended")
	if st["endStatus"] != "FAILED" || !strings.Contains(st["message"].(string), "session timer") {
		t.Fatalf("ended %v, want FAILED with the session timer reason", st)
	}
	if d := c.expectSDK("callEnded"); d["callEndStatus"] != "FAILED" {
		t.Fatalf("callEnded = %v", d)
	}
}

// Options.MaxDuration hangs up an answered call: the trunk leg is told to
// hang up, the call ends COMPLETED with the reason, and the answered state
// announced the end time.
func TestMaxDurationHangsUp(t *testing.T) {
	const maxDur = 300 * time.Millisecond
	h := newHarness(t, func(o *Options) { o.MaxDuration = maxDur })
	c := h.login()
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	call := h.nextCall()
	c.expectState("dialling")
	c.expectSDK("outgoingCall")
	call.emit(sip.Event{Kind: sip.EventAnswered, Code: 200})
	ans := c.expectState("answered")
	endsAt, _ := ans["endsAt"].(float64)
	answeredAt, _ := ans["answeredAt"].(float64)
	if endsAt != answeredAt+float64(maxDur.Milliseconds()) {
		t.Errorf("endsAt %v, want answeredAt %v + %v", endsAt, answeredAt, maxDur)
	}
	c.expectSDK("callAnswered")
	st := c.expectState("ended")
	if st["endStatus"] != "COMPLETED" || !strings.Contains(st["message"].(string), "maximum call duration") {
		t.Fatalf("ended %v, want COMPLETED with the maximum duration reason", st)
	}
	select {
	case <-call.hangups:
	case <-time.After(time.Second):
		t.Fatal("the trunk leg was not hung up")
	}
	if got := time.Duration(st["endedAt"].(float64)-answeredAt) * time.Millisecond; got < maxDur {
		t.Errorf("ended %v after the answer, want at least %v", got, maxDur)
	}
	if d := c.expectSDK("callEnded"); d["callEndStatus"] != "COMPLETED" {
		t.Fatalf("callEnded = %v", d)
	}
	call.emit(sip.Event{Kind: sip.EventEnded})
}
