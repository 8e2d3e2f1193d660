package sip

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// Inbound calls: hubline as the UAS of a trunk's INVITE. SIPp plays the
// trunk calling a DID (UAC scenarios in testdata/sipp/inbound_*.xml);
// the test plays the gateway's side through InboundInvite.

const testDID = "+14155550100"

// ourSDP is hubline's answer in these tests: the scenarios check its port.
var ourSDP = []byte("v=0\r\no=hubline 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

// inboundUA is a UA that trusts 127.0.0.1 as the trunk "sipp" with
// testDID, and hands the test every inbound INVITE.
func inboundUA(t *testing.T) (*UA, chan *InboundInvite) {
	t.Helper()
	ch := make(chan *InboundInvite, 4)
	u := newTestUAWith(t, Options{
		Trunks:   []Trunk{{Name: "sipp", Address: "127.0.0.1:5999", DIDs: []string{testDID}}},
		OnInvite: func(in *InboundInvite) { ch <- in },
	})
	return u, ch
}

// callIn runs scenario (testdata/sipp) as the trunk calling u, and returns
// its INVITE with a recorder on its events.
func callIn(t *testing.T, u *UA, ch chan *InboundInvite, scenario string) (*sipptest.Peer, *InboundInvite, *recorder) {
	t.Helper()
	s := sipptest.Start(t, sipptest.Options{
		Scenario: filepath.Join("testdata", "sipp", scenario), Remote: u.Addr(), Timeout: 15 * time.Second,
	})
	select {
	case in := <-ch:
		rec := newRecorder()
		in.OnEvent(rec.onEvent)
		return s, in, rec
	case <-time.After(wait):
		t.Fatalf("no inbound INVITE within %v\n%s", wait, s.Logs())
		return nil, nil, nil
	}
}

func TestInboundAnsweredCallerHangsUp(t *testing.T) {
	u, ch := inboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_caller_bye.xml")
	if in.DID != testDID || in.From != "+15550100199" || in.FromName != "Caller" || in.Trunk != "sipp" ||
		!strings.Contains(string(in.SDP), "RTP/AVP 0 8 101") || in.Received.IsZero() {
		t.Errorf("inbound INVITE %+v", in)
	}
	if err := in.Progress(nil); err != nil {
		t.Fatal(err)
	}
	if err := in.Answer(ourSDP); err != nil {
		t.Fatal(err)
	}
	if err := in.Progress(nil); !errors.Is(err, ErrDialogState) {
		t.Errorf("Progress after the answer: %v, want ErrDialogState", err)
	}
	if ev := rec.want(t, EventHangup); !strings.Contains(ev.ReasonHeader, "cause=16") || ev.Trunk != "sipp" {
		t.Errorf("hangup %+v", ev)
	}
	passed(t, s)
	<-in.Done()
	if err := in.Answer(ourSDP); !errors.Is(err, ErrDialogState) {
		t.Errorf("Answer after the end: %v, want ErrDialogState", err)
	}
	u.Close()
	rec.none(t)
}

func TestInboundEarlyMediaThenWeHangUp(t *testing.T) {
	u, ch := inboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_callee_bye.xml")
	if err := in.Progress(ourSDP); err != nil {
		t.Fatal(err)
	}
	if err := in.Answer(ourSDP); err != nil {
		t.Fatal(err)
	}
	// At once: the BYE waits for the ACK (RFC 3261 15).
	if err := in.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev := rec.want(t, EventEnded); ev.Err != nil {
		t.Errorf("ended with %v", ev.Err)
	}
	passed(t, s)
	if err := in.Hangup(context.Background()); err != nil {
		t.Errorf("Hangup after the end: %v", err)
	}
}

func TestInboundCallerCancels(t *testing.T) {
	u, ch := inboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_cancel.xml")
	if err := in.Progress(nil); err != nil {
		t.Fatal(err)
	}
	if ev := rec.want(t, EventFailed); !ev.Canceled || ev.Code != 487 {
		t.Errorf("failed %+v, want Canceled with 487", ev)
	}
	passed(t, s)
	if err := in.Answer(ourSDP); !errors.Is(err, ErrDialogState) {
		t.Errorf("Answer after CANCEL: %v, want ErrDialogState", err)
	}
}

func TestInboundNoAck(t *testing.T) {
	u, ch := inboundUA(t)
	u.timers.ack = time.Second
	s, in, rec := callIn(t, u, ch, "inbound_no_ack.xml")
	if err := in.Answer(ourSDP); err != nil {
		t.Fatal(err)
	}
	if ev := rec.want(t, EventEnded); !errors.Is(ev.Err, ErrTimeout) {
		t.Errorf("ended %+v, want ErrTimeout", ev)
	}
	passed(t, s)
}

// A rejection carries Retry-After; Close answers a ringing INVITE 503.
func TestInboundRejectAndClose(t *testing.T) {
	u, ch := inboundUA(t)
	trunk := newRawPeer(t, "127.0.0.1", u)
	trunk.send("INVITE", false)
	in := <-ch
	if err := in.RejectAfter(480, "Temporarily Unavailable", 300*time.Second); err != nil {
		t.Fatal(err)
	}
	res := trunk.response(wait)
	if statusLine(res) != "SIP/2.0 480 Temporarily Unavailable" || !strings.Contains(res, "\r\nRetry-After: 300\r\n") {
		t.Errorf("rejection:\n%s", res)
	}
	if err := in.Answer(ourSDP); !errors.Is(err, ErrDialogState) {
		t.Errorf("Answer after Reject: %v", err)
	}

	trunk.send("INVITE", false)
	in = <-ch
	rec := newRecorder()
	in.OnEvent(rec.onEvent)
	if err := in.Progress(nil); err != nil {
		t.Fatal(err)
	}
	if res := trunk.response(wait); statusLine(res) != "SIP/2.0 180 Ringing" {
		t.Errorf("progress: %q", statusLine(res))
	}
	u.Close()
	if res := trunk.response(wait); statusLine(res) != "SIP/2.0 503 Service Unavailable" {
		t.Errorf("on Close: %q", statusLine(res))
	}
	if ev := rec.want(t, EventFailed); !errors.Is(ev.Err, ErrClosed) {
		t.Errorf("on Close: %+v", ev)
	}
}
