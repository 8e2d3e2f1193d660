package sip

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// Trunks, failover and keepalive, against loopback sipgo peers.

// eventually waits until cond holds, at most wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		<-tick.C
	}
}

// rejecting is a peer script that answers every INVITE with code.
func rejecting(code int) func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
	return func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
		p.respond(req, tx, code, "Rejected "+strconv.Itoa(code), nil)
	}
}

// silent never answers an INVITE.
func silent(*peer, *gosip.Request, gosip.ServerTransaction) {}

func trunkOf(name string, p *peer) Trunk {
	return Trunk{Name: name, Address: p.addr, RingTimeout: 10 * time.Second}
}

func dialTrunks(t *testing.T, u *UA, inv Invite, rec *recorder) *Outbound {
	t.Helper()
	o, err := u.DialTrunks(context.Background(), inv, rec.onEvent)
	if err != nil {
		t.Fatalf("DialTrunks: %v", err)
	}
	return o
}

func status(u *UA, name string) TrunkStatus {
	for _, s := range u.TrunkStatus() {
		if s.Name == name {
			return s
		}
	}
	return TrunkStatus{}
}

// A 503 and then no response at all move the call on, with the same
// Call-ID each time; the caller sees only the events of the trunk that took
// it.
func TestFailoverKeepsOneCallID(t *testing.T) {
	a := newPeer(t, "udp", rejecting(503))
	b := newPeer(t, "udp", silent)
	c := newPeer(t, "udp", answer)
	tb := trunkOf("b", b)
	tb.InviteTimeout = 300 * time.Millisecond
	u := newTestUAWith(t, Options{Trunks: []Trunk{trunkOf("a", a), tb, trunkOf("c", c)}})
	rec := newRecorder()
	inv := testInvite()
	o := dialTrunks(t, u, inv, rec)
	if o.CallID() != inv.CallID {
		t.Errorf("CallID %q, want %q", o.CallID(), inv.CallID)
	}
	if ev := rec.answered(t); ev.Trunk != "c" {
		t.Errorf("answered by %q, want c", ev.Trunk)
	}
	tags := map[string]bool{}
	for _, p := range []*peer{a, b, c} {
		req := p.expect(gosip.INVITE)
		if got := callIDOf(req); got != inv.CallID {
			t.Errorf("INVITE to %s has Call-ID %q, want %q", p.addr, got, inv.CallID)
		}
		tags[fromTag(req)] = true
	}
	if len(tags) != 3 {
		t.Errorf("From tags %v: want a new one (a new dialog) per trunk", tags)
	}
	a.expect(gosip.ACK) // the 503 is ACKed
	if got := status(u, "c").Calls; got != 1 {
		t.Errorf("trunk c has %d calls, want 1", got)
	}
	o.Hangup(context.Background())
	c.expect(gosip.BYE)
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
	for _, s := range u.TrunkStatus() {
		if s.Calls != 0 {
			t.Errorf("trunk %s still counts %d calls", s.Name, s.Calls)
		}
	}
}

// A trunk that cannot be reached (TCP connection refused) is skipped at once.
func TestFailoverOnTransportError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	b := newPeer(t, "udp", answer)
	u := newTestUAWith(t, Options{Trunks: []Trunk{
		{Name: "a", Address: closed, Transport: "tcp", Keepalive: Keepalive{Interval: time.Hour}}, trunkOf("b", b),
	}})
	eventually(t, "the first probe of a fails", func() bool { return status(u, "a").ProbeError != "" })
	u.trunks[0].probed(nil, false) // a counts as up again: the dial must find out
	rec := newRecorder()
	o := dialTrunks(t, u, testInvite(), rec)
	if ev := rec.answered(t); ev.Trunk != "b" {
		t.Errorf("answered by %q, want b", ev.Trunk)
	}
	if st := status(u, "a"); st.Up {
		t.Errorf("a still up after a refused connection: %+v", st)
	}
	o.Hangup(context.Background())
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
}

// No failover on answers from the callee's side (4xx, 6xx, a 408
// response) nor once the call rang: the second trunk sees nothing.
func TestNoFailoverOnCalleeAnswers(t *testing.T) {
	// The 503 waits until the 180 has reached the caller (sipgo may
	// reorder responses sent back to back).
	rang := make(chan struct{}, 1)
	ringThen503 := func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
		p.respond(req, tx, 180, "Ringing", nil)
		select {
		case <-rang:
		case <-p.closed:
			return
		}
		p.respond(req, tx, 503, "Service Unavailable", nil)
	}
	for _, tt := range []struct {
		name   string
		script func(*peer, *gosip.Request, gosip.ServerTransaction)
		code   int
	}{
		{"404", rejecting(404), 404},
		{"408", rejecting(408), 408},
		{"480", rejecting(480), 480},
		{"486", rejecting(486), 486},
		{"600", rejecting(600), 600},
		{"603", rejecting(603), 603},
		{"503 after 180", ringThen503, 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newPeer(t, "udp", tt.script)
			b := newPeer(t, "udp", answer)
			u := newTestUAWith(t, Options{Trunks: []Trunk{trunkOf("a", a), trunkOf("b", b)}})
			rec := newRecorder()
			dialTrunks(t, u, testInvite(), rec)
			ev := rec.next(t)
			if ev.Kind == EventProvisional {
				rang <- struct{}{}
				ev = rec.next(t)
			}
			if ev.Kind != EventFailed || ev.Code != tt.code || ev.Trunk != "a" {
				t.Errorf("event %+v, want %d from a", ev, tt.code)
			}
			u.Close()
			if b.has(gosip.INVITE) {
				t.Errorf("trunk b got an INVITE")
			}
			rec.none(t)
		})
	}
}

// Hanging up before any response stops the failover.
func TestHangupStopsFailover(t *testing.T) {
	a := newPeer(t, "udp", silent)
	b := newPeer(t, "udp", answer)
	ta := trunkOf("a", a)
	ta.InviteTimeout = 300 * time.Millisecond
	u := newTestUAWith(t, Options{Trunks: []Trunk{ta, trunkOf("b", b)}})
	rec := newRecorder()
	o := dialTrunks(t, u, testInvite(), rec)
	o.Hangup(context.Background())
	if ev := rec.want(t, EventFailed); !ev.Canceled {
		t.Errorf("event %+v, want cancelled", ev)
	}
	u.Close()
	if b.has(gosip.INVITE) {
		t.Errorf("trunk b got an INVITE")
	}
	rec.none(t)
}

// MaxCalls sends the calls beyond it to the next trunk; a slot frees when a
// call ends; with every trunk full, DialTrunks fails with ErrNoTrunk.
func TestMaxCalls(t *testing.T) {
	a := newPeer(t, "udp", ringing)
	b := newPeer(t, "udp", ringing)
	ta, tb := trunkOf("a", a), trunkOf("b", b)
	ta.MaxCalls, tb.MaxCalls = 1, 1
	u := newTestUAWith(t, Options{Trunks: []Trunk{ta, tb}})
	recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	o1 := dialTrunks(t, u, testInvite(), recs[0])
	o2 := dialTrunks(t, u, testInvite(), recs[1])
	if ev := recs[0].want(t, EventProvisional); ev.Trunk != "a" {
		t.Errorf("call 1 on %q, want a", ev.Trunk)
	}
	if ev := recs[1].want(t, EventProvisional); ev.Trunk != "b" {
		t.Errorf("call 2 on %q, want b", ev.Trunk)
	}
	if _, err := u.DialTrunks(context.Background(), testInvite(), recs[2].onEvent); !errors.Is(err, ErrNoTrunk) {
		t.Errorf("call 3 with both trunks full: %v, want ErrNoTrunk", err)
	}
	o1.Hangup(context.Background())
	recs[0].want(t, EventFailed)
	o3 := dialTrunks(t, u, testInvite(), recs[2])
	if ev := recs[2].want(t, EventProvisional); ev.Trunk != "a" {
		t.Errorf("call 3 on %q, want a (free again)", ev.Trunk)
	}
	o2.Hangup(context.Background())
	o3.Hangup(context.Background())
	recs[1].want(t, EventFailed)
	recs[2].want(t, EventFailed)
	u.Close()
	for _, r := range recs {
		r.none(t)
	}
}

// OPTIONS keepalive: an answering trunk is up, a silent one goes down after
// DownAfter probes (and calls skip it), and comes back with its first
// answer; a 503 is a failed probe. A trunk that leaves an INVITE
// unanswered is down at once.
func TestKeepalive(t *testing.T) {
	var mode atomic.Int32 // 0 answer, 1 silent, 2 503
	probes := make(chan struct{}, 100)
	a := newPeer(t, "udp", answer, func(p *peer) {
		p.onOptions = func(req *gosip.Request, tx gosip.ServerTransaction) {
			probes <- struct{}{}
			switch mode.Load() {
			case 0:
				p.respond(req, tx, 200, "OK", nil)
			case 2:
				p.respond(req, tx, 503, "Service Unavailable", nil)
			}
		}
	})
	b := newPeer(t, "udp", answer)
	ta := trunkOf("a", a)
	ta.Keepalive = Keepalive{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, DownAfter: 2}
	u := newTestUAWith(t, Options{Trunks: []Trunk{ta, trunkOf("b", b)}})
	eventually(t, "a probed and up", func() bool { s := status(u, "a"); return s.Up && !s.LastProbe.IsZero() })
	opt := a.expect(gosip.OPTIONS)
	if opt.Recipient.String() != "sip:"+a.addr || header(opt, "Max-Forwards") != "70" || callIDOf(opt) == "" {
		t.Errorf("probe:\n%s", opt)
	}

	mode.Store(1)
	eventually(t, "a down", func() bool { return !status(u, "a").Up })
	if s := status(u, "a"); s.ProbeError == "" {
		t.Errorf("down without a probe error: %+v", s)
	}
	rec := newRecorder()
	o := dialTrunks(t, u, testInvite(), rec)
	if ev := rec.answered(t); ev.Trunk != "b" {
		t.Errorf("answered by %q while a is down, want b", ev.Trunk)
	}
	o.Hangup(context.Background())
	rec.want(t, EventEnded)

	mode.Store(0)
	eventually(t, "a up again", func() bool { return status(u, "a").Up })
	mode.Store(2)
	eventually(t, "a down on 503", func() bool { return !status(u, "a").Up })
	if s := status(u, "a"); s.ProbeError != "sip: OPTIONS answered 503 Service Unavailable" {
		t.Errorf("probe error %q", s.ProbeError)
	}
	u.Close()
	rec.none(t)
}

func TestSilentInviteMarksTrunkDown(t *testing.T) {
	a := newPeer(t, "udp", silent)
	b := newPeer(t, "udp", answer)
	ta := trunkOf("a", a)
	ta.InviteTimeout = 200 * time.Millisecond
	ta.Keepalive = Keepalive{Interval: time.Hour} // one probe only
	u := newTestUAWith(t, Options{Trunks: []Trunk{ta, trunkOf("b", b)}})
	eventually(t, "a probed", func() bool { return !status(u, "a").LastProbe.IsZero() })
	rec := newRecorder()
	o := dialTrunks(t, u, testInvite(), rec)
	rec.answered(t)
	if s := status(u, "a"); s.Up || s.ProbeError == "" {
		t.Errorf("a after an unanswered INVITE: %+v, want down", s)
	}
	o.Hangup(context.Background())
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
}

func TestTrunksConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Trunks: []Trunk{{Address: "x"}}}, "has no name"},
		{Options{Trunks: []Trunk{{Name: "a", Address: "x"}, {Name: "a", Address: "y"}}}, "configured twice"},
		{Options{Trunks: []Trunk{{Name: "a", Address: "x", Codecs: []string{"opus"}}}}, "PCMU and PCMA only"},
		{Options{UnknownSources: "answer"}, "UnknownSources"},
		{Options{UnknownSourceOptions: "ignore"}, "UnknownSourceOptions"},
	} {
		tt.opts.ListenAddr = "127.0.0.1:0"
		u, err := NewUA(tt.opts)
		if err == nil {
			u.Close()
			t.Errorf("%+v: no error", tt.opts)
			continue
		}
		if got := err.Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%+v: %v, want %q", tt.opts, err, tt.want)
		}
	}
}
