package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/baresiptest"
	"github.com/hubline/hubline/internal/softphone"
)

// baresipTone is what baresip "says" (ausine); the rep says repTone.
const baresipTone = 440.0

// TestBaresipInterop: baresip is the trunk's callee (a real SIP phone we
// did not write). The rep's softphone calls it through the gateway:
// audio both ways by frequency (the softphone hears baresip's sine;
// baresip's recording of the call holds the rep's tone), the rep's keypad
// reaches baresip as the exact digits (RFC 4733), and baresip's digits
// reach the softphone as dtmfReceived.
func TestBaresipInterop(t *testing.T) {
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callee})
	g := startGateway(t, gwConfig{trunk: bs.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, baresipTone, "baresip's sine at the softphone")

	// The rep's keypad → baresip, as RFC 4733 events (its SDP has
	// telephone-event, dtmfMode is auto). A digit twice in a row must
	// arrive twice (diago #21 and #31, anchors.md (b)).
	const digits = "1234#*00"
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

	// baresip's keypad → the softphone.
	for _, d := range "9#" {
		if _, err := bs.Command("sndcode", string(d)); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitDTMF(ctxFor(t, 10*time.Second), id, strings.SplitAfter("9#", string(d))[0]); err != nil {
			t.Fatal(err)
		}
	}

	// Two more seconds of talk, for baresip's recording.
	if f, _ := heardTone(t, p, 2*time.Second); f != baresipTone {
		t.Errorf("after the digits the softphone hears %.0f Hz", f)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	// What baresip heard: its decoder's recording of the call.
	if err := bs.WaitLog("terminated", 10*time.Second); err != nil {
		t.Log(err)
	}
	pcm := baresipRecording(t, bs)
	// Judge the last two seconds (after the digits). baresip records only
	// the frames it decodes: none while the rep's digits replace the audio
	// (RFC 4733 events), so a busy machine may leave little more than that.
	if len(pcm) < 2*audio.SampleRate {
		t.Fatalf("baresip recorded %v of audio", time.Duration(len(pcm))*time.Second/audio.SampleRate)
	}
	f, level := audio.DominantTone(pcm[len(pcm)-2*audio.SampleRate:], toneCandidates)
	if f != repTone || level < 0.5 {
		t.Errorf("baresip heard %.0f Hz at %.2f of the energy, want the rep's %.0f Hz", f, level, repTone)
	}
	t.Logf("baresip heard %.0f Hz at %.2f of the energy", f, level)
}

// TestBaresipCallsRep: baresip calls a DID (the trunk's caller this time):
// the rep answers, hears its sine, and DTMF goes both ways as RFC 4733 (its
// offer has telephone-event) on the inbound dialog.
func TestBaresipCallsRep(t *testing.T) {
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callerNum})
	g := startGateway(t, gwConfig{trunk: bs.Addr, users: 2, dids: []string{repDID, groupDID}, extra: inboundRouting})
	p := availableRep(t, g, testUser)
	if _, err := bs.Command("dial", "sip:"+repDID+"@"+g.sipAddr()); err != nil {
		t.Fatal(err)
	}
	c := waitIncoming(t, p)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, baresipTone, "the caller's (baresip's) sine at the rep")
	sent, err := p.SendDTMF(ctxFor(t, 10*time.Second), c.CallID, "5#")
	if err != nil {
		t.Fatal(err)
	}
	if sent.Via != "rfc4733" {
		t.Errorf("dtmfSent via %q, want rfc4733", sent.Via)
	}
	if got, err := bs.WaitDTMF("5#", 10*time.Second); err != nil || got != "5#" {
		t.Errorf("baresip received DTMF %q (%v), want 5#", got, err)
	}
	if _, err := bs.Command("sndcode", "7"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitDTMF(ctxFor(t, 10*time.Second), c.CallID, "7"); err != nil {
		t.Fatal(err)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, c.CallID, softphone.StateEnded)
}
