package sip

import (
	"context"
	"errors"
	"testing"
	"time"
)

// transferRec collects a transfer's events.
type transferRec struct{ ch chan TransferEvent }

func newTransferRec() *transferRec { return &transferRec{ch: make(chan TransferEvent, 16)} }

func (r *transferRec) on(ev TransferEvent) { r.ch <- ev }

func (r *transferRec) want(t *testing.T, k TransferKind, code int) TransferEvent {
	t.Helper()
	select {
	case ev := <-r.ch:
		if ev.Kind != k || ev.Code != code {
			t.Fatalf("transfer event %v %d %q (err %v), want %v %d", ev.Kind, ev.Code, ev.Reason, ev.Err, k, code)
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no transfer event within %v, want %v %d", wait, k, code)
	}
	return TransferEvent{}
}

var testTransfer = Transfer{To: "+15550100123", ReferredBy: "+15550100199"}

// The trunk takes the REFER (sipp checks Refer-To and Referred-By), reports
// 100 then 200 in NOTIFYs and hangs up the old dialog.
func TestSippTransferSucceeds(t *testing.T) {
	s := startSipp(t, "transfer_ok.xml")
	u := newTestUA(t)
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.answered(t)
	tr := newTransferRec()
	if err := c.Transfer(testTransfer, tr.on); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	tr.want(t, TransferAccepted, 202)
	tr.want(t, TransferProgress, 100)
	tr.want(t, TransferSucceeded, 200)
	rec.want(t, EventHangup)
	passed(t, s)
	u.Close()
	rec.none(t)
}

// livekit/sip #234: a REFER refused with 603 must not lose the call.
func TestSippTransferRefused603KeepsCall(t *testing.T) {
	s := startSipp(t, "transfer_refused.xml")
	u := newTestUA(t)
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.answered(t)
	tr := newTransferRec()
	if err := c.Transfer(testTransfer, tr.on); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	if ev := tr.want(t, TransferFailed, 603); ev.Accepted || ev.Reason != "Decline" {
		t.Errorf("failed %+v, want 603 Decline, not accepted", ev)
	}
	select {
	case ev := <-rec.ch:
		t.Fatalf("call event %v after the refused REFER; the call must stay up", ev.Kind)
	case <-time.After(300 * time.Millisecond):
	}
	// The dialog still works: BYE ends it.
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, s)
	u.Close()
}

// The target is busy: NOTIFY 486 after 202; the call stays up.
func TestSippTransferTargetBusyKeepsCall(t *testing.T) {
	s := startSipp(t, "transfer_busy.xml")
	u := newTestUA(t)
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.answered(t)
	tr := newTransferRec()
	if err := c.Transfer(testTransfer, tr.on); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	tr.want(t, TransferAccepted, 202)
	tr.want(t, TransferProgress, 100)
	if ev := tr.want(t, TransferFailed, 486); !ev.Accepted || ev.Reason != "Busy Here" {
		t.Errorf("failed %+v, want 486 Busy Here after 202", ev)
	}
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, s)
	u.Close()
}

func TestTransferNeedsAnswer(t *testing.T) {
	u := newTestUA(t)
	s := startSipp(t, "ring_forever.xml")
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	if err := c.Transfer(Transfer{To: "12"}, nil); err == nil {
		t.Error("Transfer to an invalid number: no error")
	}
	if err := c.Transfer(testTransfer, nil); err == nil {
		t.Error("Transfer of an unanswered call: no error")
	}
	c.Hangup(context.Background())
	if ev := rec.next(t); ev.Kind == EventProvisional {
		rec.want(t, EventFailed)
	}
	u.Close()
}

// A NOTIFY for no transfer of ours gets 481 (sipp checks it).
func TestSippNotifyUnknownSubscription(t *testing.T) {
	s := startSipp(t, "notify_unknown.xml")
	u := newTestUA(t)
	rec := newRecorder()
	dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.answered(t)
	rec.want(t, EventHangup)
	passed(t, s)
	u.Close()
}

// REFER from a trunk without AcceptRefer gets 403 with a Reason (sipp
// checks it); the call goes on until the trunk hangs up.
func TestSippReferForbidden(t *testing.T) {
	s := startSipp(t, "refer_forbidden.xml")
	u := newTestUA(t)
	rec := newRecorder()
	dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.answered(t)
	rec.want(t, EventHangup)
	passed(t, s)
	u.Close()
}

func TestParseSipfrag(t *testing.T) {
	for _, tt := range []struct {
		in     string
		code   int
		reason string
		ok     bool
	}{
		{"SIP/2.0 100 Trying\r\n", 100, "Trying", true},
		{"SIP/2.0 180 Ringing", 180, "Ringing", true},
		{"SIP/2.0 200 OK\r\nContact: <sip:x@y>\r\n\r\n", 200, "OK", true},
		{"sip/2.0 603 Declined\n", 603, "Declined", true},
		{"SIP/2.0 486  Busy Here \r\n", 486, "Busy Here", true},
		{"SIP/2.0 503\r\n", 503, "", true},
		{"  SIP/2.0 200 OK", 200, "OK", true},
		{"", 0, "", false},
		{"SIP/2.0", 0, "", false},
		{"HTTP/1.1 200 OK", 0, "", false},
		{"SIP/2.0 2000 OK", 0, "", false},
		{"SIP/2.0 099 Low", 0, "", false},
		{"SIP/2.0 700 High", 0, "", false},
		{"SIP/2.0 20x OK", 0, "", false},
		{"SIP/2.0 200 O\x00K", 0, "", false},
		{"INVITE sip:a@b SIP/2.0", 0, "", false},
	} {
		code, reason, err := ParseSipfrag([]byte(tt.in))
		if (err == nil) != tt.ok || code != tt.code || reason != tt.reason {
			t.Errorf("ParseSipfrag(%q) = %d %q %v, want %d %q ok=%v", tt.in, code, reason, err, tt.code, tt.reason, tt.ok)
		}
	}
}

func FuzzParseSipfrag(f *testing.F) {
	for _, s := range []string{"SIP/2.0 100 Trying\r\n", "SIP/2.0 200 OK\r\nContact: <sip:x@y>\r\n", "SIP/2.0 603 Declined", "SIP/2.0", "", "SIP/2.0 20x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, reason, err := ParseSipfrag(b)
		if err != nil {
			if code != 0 || reason != "" {
				t.Fatalf("error with a result: %d %q", code, reason)
			}
			return
		}
		if code < 100 || code > 699 {
			t.Fatalf("code %d out of range", code)
		}
		for _, r := range reason {
			if r < 0x20 && r != '\t' || r == 0x7f {
				t.Fatalf("control character in reason %q", reason)
			}
		}
	})
}

func TestReferTarget(t *testing.T) {
	tc, err := parseTrunk(Trunk{Name: "t", Address: "127.0.0.1:5070", Numbers: NumberFormat{Region: "US"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in, want string
	}{
		{"<sip:+15550100123@127.0.0.1;user=phone>", "+15550100123"},
		{"<sip:4155550123@127.0.0.1>", "+14155550123"},
		{"sip:+15550100123@127.0.0.1", "+15550100123"},
		{`"Bob" <sip:+15550100123@127.0.0.1:5070>;x=y`, "+15550100123"},
		{"<sip:+15550100123@evil.example>", ""},
		{"<sip:bob@127.0.0.1>", ""},
		{"<tel:+15550100123>", ""},
		{"<sip:+15550100123@127.0.0.1?Replaces=abc%3Bto-tag%3D1>", ""},
		{"<sip:+15550100123@127.0.0.1", ""},
		{"", ""},
	} {
		got, err := referTarget(tt.in, &tc)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("referTarget(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// A trunk with AcceptRefer that refers to a target on another host gets
// 202, then NOTIFY 603 (sipp checks the sipfrag); OnRefer never sees it.
func TestSippReferBadTargetDeclined(t *testing.T) {
	s := startSipp(t, "refer_in_bad_target.xml")
	called := make(chan *IncomingRefer, 1)
	u := newTestUAWith(t, Options{OnRefer: func(r *IncomingRefer) { called <- r }})
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.AcceptRefer = true
	dial(t, u, tr, testInvite(), rec)
	rec.answered(t)
	rec.want(t, EventHangup)
	passed(t, s)
	u.Close()
	select {
	case r := <-called:
		t.Errorf("OnRefer called for a target on another host: %+v", r)
	default:
	}
}

// The trunk takes the REFER but never NOTIFYs: after NotifyWait the
// transfer fails (accepted, ErrTimeout) and the call is still up.
func TestSippTransferNoNotifyTimesOut(t *testing.T) {
	s := startSipp(t, "transfer_silent.xml")
	u := newTestUA(t)
	u.refer.notifyWait = 500 * time.Millisecond
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.answered(t)
	tr := newTransferRec()
	if err := c.Transfer(testTransfer, tr.on); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	tr.want(t, TransferAccepted, 202)
	if ev := tr.want(t, TransferFailed, 0); !ev.Accepted || !errors.Is(ev.Err, ErrTimeout) {
		t.Errorf("failed %+v, want accepted and a timeout", ev)
	}
	select {
	case ev := <-rec.ch:
		t.Fatalf("call event %v after the transfer timed out; the call must stay up", ev.Kind)
	case <-time.After(200 * time.Millisecond):
	}
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, s)
	u.Close()
}
