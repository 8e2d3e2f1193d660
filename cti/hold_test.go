package cti

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/sip"
)

// fakeReinviter is a trunk call's re-INVITE: the test sees each offer and
// says what the trunk answers.
type fakeReinviter struct {
	offers  chan []byte
	results chan fakeReinviteResult
}

type fakeReinviteResult struct {
	answer []byte
	err    error
}

func newFakeReinviter() fakeReinviter {
	return fakeReinviter{offers: make(chan []byte, 4), results: make(chan fakeReinviteResult, 4)}
}

func (c *fakeTrunkCall) Reinvite(ctx context.Context, offer []byte) ([]byte, error) {
	c.reinv.offers <- offer
	select {
	case r := <-c.reinv.results:
		return r.answer, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *fakeTrunkCall) wantReinvite(t *testing.T, want string) {
	t.Helper()
	select {
	case o := <-c.reinv.offers:
		if string(o) != want {
			t.Fatalf("re-INVITE offer %q, want %q", o, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no re-INVITE")
	}
}

func (s *fakeSession) AnswerTrunkReoffer(offer []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trunkHolds = strings.Contains(string(offer), "sendonly")
	return []byte("answer-to:" + string(offer)), nil
}
func (s *fakeSession) TrunkReoffer() ([]byte, error) { return []byte("reoffer"), nil }
func (s *fakeSession) LocalHoldOffer(hold bool) ([]byte, error) {
	if hold {
		return []byte("hold-offer"), nil
	}
	return []byte("resume-offer"), nil
}
func (s *fakeSession) ApplyLocalHold(hold bool, answer []byte) error {
	s.mu.Lock()
	s.localHold = hold
	s.mu.Unlock()
	return nil
}
func (s *fakeSession) TrunkHolds() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.trunkHolds }

// TestHoldBothWays: hold needs an answered call; the rep's hold is a
// re-INVITE whose answer holds the media and shows held; a refused resume
// leaves the call held with hold_failed naming the carrier's answer; the
// trunk's own hold shows heldByRemote.
func TestHoldBothWays(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login()
	c.send(`{"v":1,"type":"dial","toNumber":"+14155550199"}`)
	tc := h.nextCall()
	id := c.expectState("dialling")["callId"].(string)
	c.expectSDK("outgoingCall")
	c.send(`{"v":1,"type":"hold","id":"h0","callId":"` + id + `"}`)
	if e := c.expectError("bad_state"); e["re"] != "h0" {
		t.Errorf("hold before the answer: %v", e)
	}
	tc.emit(sip.Event{Kind: sip.EventAnswered, Code: 200, SDP: []byte("final")})
	c.expectState("answered")
	c.expectSDK("callAnswered")

	c.send(`{"v":1,"type":"hold","id":"h1","callId":"` + id + `"}`)
	tc.wantReinvite(t, "hold-offer")
	c.send(`{"v":1,"type":"hold","id":"h2","callId":"` + id + `"}`) // while the first is under way
	if e := c.expectError("bad_state"); e["re"] != "h2" {
		t.Errorf("second hold: %v", e)
	}
	tc.reinv.results <- fakeReinviteResult{answer: []byte("recvonly")}
	if st := c.expectState("answered"); st["held"] != true || st["heldByRemote"] != nil {
		t.Errorf("after hold: %v", st)
	}

	c.send(`{"v":1,"type":"unhold","id":"u1","callId":"` + id + `"}`)
	tc.wantReinvite(t, "resume-offer")
	tc.reinv.results <- fakeReinviteResult{err: &sip.StatusError{Code: 488, Reason: "Not Acceptable Here"}}
	if e := c.expectError("hold_failed"); e["re"] != "u1" || !strings.Contains(e["message"].(string), "488") {
		t.Errorf("refused resume: %v", e)
	}

	// The trunk holds us too: its re-offer goes through the dialog's handler.
	if _, err := tc.inv.Session.AnswerOffer([]byte("a=sendonly")); err != nil {
		t.Fatal(err)
	}
	if st := c.expectState("answered"); st["held"] != true || st["heldByRemote"] != true {
		t.Errorf("held by both: %v", st)
	}
	if _, err := tc.inv.Session.AnswerOffer([]byte("a=sendrecv")); err != nil {
		t.Fatal(err)
	}
	if st := c.expectState("answered"); st["heldByRemote"] != nil {
		t.Errorf("the trunk resumed: %v", st)
	}
	c.send(`{"v":1,"type":"unhold","id":"u2","callId":"` + id + `"}`)
	tc.wantReinvite(t, "resume-offer")
	tc.reinv.results <- fakeReinviteResult{answer: []byte("sendrecv")}
	if st := c.expectState("answered"); st["held"] != nil {
		t.Errorf("after resume: %v", st)
	}
}
