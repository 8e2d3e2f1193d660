package sip

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// Interop tests against sipp (Debian package sip-tester) playing the trunk:
// the scenarios in testdata/sipp check what hubline sends (an unexpected or
// malformed message fails the scenario, and sipp exits non-zero); the tests
// check the events hubline reports.
//
// Without sipp they are skipped, unless HUBLINE_REQUIRE_SIPP is set (as in
// CI): then they fail.

// startSipp runs sipp with scenario (a file in testdata/sipp) on a free
// 127.0.0.1 port for one call.
func startSipp(t *testing.T, scenario string) *sipptest.Peer {
	t.Helper()
	return sipptest.Start(t, sipptest.Options{Scenario: filepath.Join("testdata", "sipp", scenario), Timeout: 15 * time.Second})
}

// passed waits for sipp to exit and fails the test unless the scenario
// completed.
func passed(t *testing.T, s *sipptest.Peer) {
	t.Helper()
	if err := s.Wait(wait); err != nil {
		t.Fatal(err)
	}
}

func sippTrunk(s *sipptest.Peer) Trunk {
	return Trunk{Name: "sipp", Address: s.Addr, RingTimeout: 10 * time.Second}
}

// sippSDP is the SDP of the scenarios, with o= version and m=audio port:
// sipp sends their lines with CRLF.
func sippSDP(version, port int) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=sipp 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", version, port))
}

func TestSippAnsweredThenWeHangUp(t *testing.T) {
	s := startSipp(t, "answer_then_caller_bye.xml")
	u := newTestUA(t)
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	if ev := rec.want(t, EventProvisional); ev.Code != 180 {
		t.Errorf("provisional %+v, want 180", ev)
	}
	if ev := rec.want(t, EventAnswered); ev.Code != 200 || !bytes.Equal(ev.SDP, sippSDP(1, 6000)) {
		t.Errorf("answered %+v, want 200 with sipp's SDP %q", ev, sippSDP(1, 6000))
	}
	c.Hangup(context.Background())
	if ev := rec.want(t, EventEnded); ev.Err != nil {
		t.Errorf("ended with %v", ev.Err)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestSippTrunkHangsUp(t *testing.T) {
	s := startSipp(t, "answer_then_trunk_bye.xml")
	u := newTestUA(t)
	rec := newRecorder()
	dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.want(t, EventAnswered)
	const reason = `Q.850;cause=16;text="Normal call clearing"`
	if ev := rec.want(t, EventHangup); ev.ReasonHeader != reason {
		t.Errorf("hangup Reason header %q, want %q", ev.ReasonHeader, reason)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestSippRejected(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		code     int
		reason   string
		cause    int
	}{
		{"busy.xml", 486, "Busy Here", 17},
		{"decline.xml", 603, "Decline", 21},
	} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			s := startSipp(t, tt.scenario)
			u := newTestUA(t)
			rec := newRecorder()
			dial(t, u, sippTrunk(s), testInvite(), rec)
			ev := rec.want(t, EventFailed)
			if ev.Code != tt.code || ev.Reason != tt.reason || ev.ReasonHeader != "Q.850;cause="+strconv.Itoa(tt.cause) ||
				ev.Canceled || ev.RingTimeout || ev.Err != nil {
				t.Errorf("event %+v, want %d %s with its Reason header", ev, tt.code, tt.reason)
			}
			passed(t, s)
			u.Close()
			rec.none(t)
		})
	}
}

func TestSippDigestAuth(t *testing.T) {
	s := startSipp(t, "digest_auth.xml")
	u := newTestUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.Username, tr.Password = "alice", "s3cret"
	c := dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventAnswered)
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestSippEarlyMedia(t *testing.T) {
	s := startSipp(t, "early_media.xml")
	u := newTestUA(t)
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	if ev := rec.want(t, EventProvisional); ev.Code != 183 || !bytes.Equal(ev.SDP, sippSDP(1, 6002)) {
		t.Errorf("provisional %+v, want 183 with SDP %q", ev, sippSDP(1, 6002))
	}
	if ev := rec.want(t, EventAnswered); !bytes.Equal(ev.SDP, sippSDP(2, 6004)) {
		t.Errorf("answered %+v, want SDP %q", ev, sippSDP(2, 6004))
	}
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestSippRingTimeout(t *testing.T) {
	s := startSipp(t, "ring_forever.xml")
	u := newTestUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.RingTimeout = 300 * time.Millisecond
	dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventProvisional)
	ev := rec.want(t, EventFailed)
	if !ev.RingTimeout || ev.Canceled || ev.Code != 487 || ev.Err != nil {
		t.Errorf("event %+v, want ring timeout with 487", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

// The sipp helper reports a scenario that fails (here: hubline answers the
// challenge with wrong credentials) instead of passing it silently.
func TestSippDetectsWrongCredentials(t *testing.T) {
	s := startSipp(t, "digest_auth.xml")
	u := newTestUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.Username, tr.Password = "alice", "wrong"
	dial(t, u, tr, testInvite(), rec)
	if ev := rec.want(t, EventFailed); ev.Code != 403 {
		t.Errorf("event %+v, want 403", ev)
	}
	if err := s.Wait(wait); err == nil || s.ExitCode() != 1 {
		t.Errorf("sipp exit %d (%v), want status 1 (a failed call)", s.ExitCode(), err)
	}
	u.Close()
	rec.none(t)
}
