package sip

import (
	"path/filepath"

	"context"
	"github.com/hubline/hubline/internal/sipptest"
	"testing"
	"time"
)

// Session timers (RFC 4028) against sipp playing the trunk
// (testdata/sipp/timer_*.xml). The intervals are 4 s, below RFC 4028's
// 90 s floor, through Options.SessionTimerFloor.

// timerUA is a test UA allowing session intervals down to one second.
func timerUA(t *testing.T) *UA {
	t.Helper()
	return newTestUAWith(t, Options{SessionTimerFloor: time.Second})
}

func TestSippSessionTimerPeerRefreshesThenStops(t *testing.T) {
	s := startSipp(t, "timer_peer_refreshes.xml")
	u := timerUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.SessionExpires, tr.MinSE = 4*time.Second, 2*time.Second
	dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventAnswered)
	// The two refreshes (at 1.5 s and 3 s) keep the call up; then BYE must
	// follow 4 s - 4/3 s after the last one, not earlier.
	start := time.Now()
	var ev Event
	select {
	case ev = <-rec.ch:
	case <-time.After(15 * time.Second):
		t.Fatal("the call did not end after the refreshes stopped")
	}
	if ev.Kind != EventEnded || !ev.SessionExpired {
		t.Errorf("ended %+v, want SessionExpired", ev)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Errorf("ended %v after the answer: before the refreshed session could expire", took)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestSippSessionTimerWeRefreshWithUpdate(t *testing.T) {
	s := startSipp(t, "timer_we_refresh.xml")
	u := timerUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.SessionExpires, tr.MinSE = 4*time.Second, 2*time.Second
	dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventAnswered)
	if ev := rec.want(t, EventHangup); ev.SessionExpired {
		t.Errorf("hangup %+v", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestSippSessionTimerWeRefreshWithReInvite(t *testing.T) {
	s := startSipp(t, "timer_we_refresh_reinvite.xml")
	u := timerUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.SessionExpires, tr.MinSE = 4*time.Second, 2*time.Second
	dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventAnswered)
	rec.want(t, EventHangup)
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestSippSessionTimer422Retry(t *testing.T) {
	s := startSipp(t, "timer_422.xml")
	u := timerUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.SessionExpires, tr.MinSE = 4*time.Second, 2*time.Second
	c := dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventAnswered)
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, s)
	u.Close()
	rec.none(t)
}

// timerInboundUA is inboundUA with a 4 s session and Min-SE 2 s.
func timerInboundUA(t *testing.T) (*UA, chan *InboundInvite) {
	t.Helper()
	ch := make(chan *InboundInvite, 4)
	u := newTestUAWith(t, Options{
		Trunks: []Trunk{{Name: "sipp", Address: "127.0.0.1:5999", DIDs: []string{testDID},
			SessionExpires: 4 * time.Second, MinSE: 2 * time.Second}},
		OnInvite:          func(in *InboundInvite) { ch <- in },
		SessionTimerFloor: time.Second,
	})
	return u, ch
}

func TestInboundSessionTimer422(t *testing.T) {
	u, ch := timerInboundUA(t)
	s := sipptest.Start(t, sipptest.Options{
		Scenario: filepath.Join("testdata", "sipp", "inbound_timer_422.xml"), Remote: u.Addr(), Timeout: 15 * time.Second,
	})
	passed(t, s)
	select {
	case in := <-ch:
		t.Errorf("INVITE with a too small interval reached OnInvite: %+v", in)
	default:
	}
}

func TestInboundSessionTimerRefreshes(t *testing.T) {
	u, ch := timerInboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_timer.xml")
	if err := in.Answer(ourSDP); err != nil {
		t.Fatal(err)
	}
	if ev := rec.want(t, EventHangup); ev.SessionExpired {
		t.Errorf("hangup %+v", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestInboundSessionTimerExpires(t *testing.T) {
	u, ch := timerInboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_timer_expires.xml")
	if err := in.Answer(ourSDP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ev := rec.want(t, EventEnded)
	if !ev.SessionExpired {
		t.Errorf("ended %+v, want SessionExpired", ev)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("BYE %v after the answer: before the session could expire", took)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}
