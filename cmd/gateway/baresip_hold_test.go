package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/baresiptest"
	"github.com/hubline/hubline/internal/softphone"
)

// TestBaresipDTMFAfterHold: after the rep held (music on hold playing) and
// resumed a call to baresip, the rep's keypad still reaches baresip as the
// exact digits (RFC 4733): the generator's event packets follow on from the
// stream the splicer re-based at the resume, with its SSRC, so baresip sees
// one stream and takes every event.
func TestBaresipDTMFAfterHold(t *testing.T) {
	moh := t.TempDir() + "/moh.wav"
	writeUlawWAV(t, moh, 600, 2*time.Second)
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callee})
	g := startGateway(t, gwConfig{trunk: bs.Addr, musicOnHold: moh})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, baresipTone, "before hold: baresip's sine")
	if err := p.Hold(ctxFor(t, 20*time.Second), id); err != nil {
		t.Fatalf("hold: %v", err)
	}
	// Music on hold plays for 2 s (a length of audio, not a
	// synchronisation): the stream's numbers move on meanwhile.
	time.Sleep(2 * time.Second)
	if err := p.Unhold(ctxFor(t, 20*time.Second), id); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	heardTone(t, p, 300*time.Millisecond)
	expectTone(t, p, baresipTone, "after unhold: baresip's sine")
	const digits = "159#"
	sent, err := p.SendDTMF(ctxFor(t, 10*time.Second), id, digits)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Via != "rfc4733" {
		t.Errorf("dtmfSent via %q, want rfc4733", sent.Via)
	}
	if got, err := bs.WaitDTMF(digits, 10*time.Second); err != nil || got != digits {
		t.Errorf("baresip received DTMF %q (%v), want %q", got, err, digits)
	}
	for _, bad := range []string{"SSRC changed", "wraps backwards"} {
		if strings.Contains(bs.Log(), bad) {
			t.Errorf("baresip logged %q", bad)
		}
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, id, softphone.StateEnded)
}
