package sip

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func trunkFor(p *peer) Trunk {
	return Trunk{Name: "test", Address: p.addr, RingTimeout: 10 * time.Second}
}

// answer is the INVITE script of a trunk that rings, then answers with SDP
// and a route set of two proxies (both the peer itself).
func answer(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
	p.respond(req, tx, 180, "Ringing", nil)
	if p.proceed != nil {
		select {
		case <-p.proceed:
		case <-tx.Done():
			return
		}
	}
	rr := func(param string) gosip.Header {
		return &gosip.RecordRouteHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: portOf(p.addr),
			UriParams: gosip.HeaderParams{{K: "lr", V: ""}, {K: "hop", V: param}}}}
	}
	p.respond(req, tx, 200, "OK", answerSDP, rr("a"), rr("b"))
}

func TestInviteIsComplete(t *testing.T) {
	u := newTestUA(t)
	p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
		p.respond(req, tx, 603, "Decline", nil, gosip.NewHeader("Reason", `Q.850;cause=21;text="Call rejected"`))
	})
	rec := newRecorder()
	inv := testInvite()
	tr := trunkFor(p)
	tr.FromDomain = "sales.example.com"
	dial(t, u, tr, inv, rec)

	req := p.expect(gosip.INVITE)
	port := strconv.Itoa(u.port)
	checks := []struct{ name, got, want string }{
		{"Request-URI", req.Recipient.String(), "sip:+15550100100@" + p.addr + ";user=phone"},
		{"From", header(req, "From"), `"Ann \"Sales\" Lee" <sip:+15550100199@sales.example.com;user=phone>;tag=`},
		{"To", header(req, "To"), "<sip:+15550100100@127.0.0.1;user=phone>"},
		{"Call-ID", header(req, "Call-ID"), inv.CallID},
		{"CSeq", header(req, "CSeq"), "1 INVITE"},
		{"Via", header(req, "Via"), "SIP/2.0/UDP 127.0.0.1:" + port + ";branch=z9hG4bK"},
		{"Contact", header(req, "Contact"), "<sip:hubline@127.0.0.1:" + port + ";transport=udp>"},
		{"Max-Forwards", header(req, "Max-Forwards"), "70"},
		{"User-Agent", header(req, "User-Agent"), "hubline-test"},
		{"Allow", header(req, "Allow"), allowMethods},
		{"Content-Type", header(req, "Content-Type"), "application/sdp"},
		{"Content-Length", header(req, "Content-Length"), strconv.Itoa(len(testSDP))},
	}
	for _, c := range checks {
		if !strings.HasPrefix(c.got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if tag := tagOf(req.From().Params); len(tag) < 8 {
		t.Errorf("From tag %q is too short", tag)
	}
	if via := req.Via(); !via.Params.Has("rport") {
		t.Errorf("Via %q has no rport", via.Value())
	}
	if src := req.Source(); src != u.Addr() {
		t.Errorf("INVITE came from %s, want the listener %s", src, u.Addr())
	}
	if !bytes.Equal(req.Body(), testSDP) {
		t.Errorf("body %q, want the offer", req.Body())
	}

	ev := rec.want(t, EventFailed)
	if ev.Code != 603 || ev.Reason != "Decline" || ev.ReasonHeader != `Q.850;cause=21;text="Call rejected"` ||
		ev.Canceled || ev.RingTimeout || ev.Err != nil {
		t.Errorf("event %+v, want 603 Decline with its Reason header", ev)
	}
	u.Close()
	rec.none(t)
}

func TestAnsweredThenHangup(t *testing.T) {
	u := newTestUA(t)
	proceed := make(chan struct{})
	p := newPeer(t, "udp", answer, func(p *peer) { p.proceed = proceed })
	rec := newRecorder()
	inv := testInvite()
	c := dial(t, u, trunkFor(p), inv, rec)

	if ev := rec.want(t, EventProvisional); ev.Code != 180 || ev.Reason != "Ringing" || ev.SDP != nil {
		t.Errorf("provisional %+v, want 180 without SDP", ev)
	}
	close(proceed)
	ev := rec.want(t, EventAnswered)
	if ev.Code != 200 || !bytes.Equal(ev.SDP, answerSDP) {
		t.Errorf("answered %+v, want 200 with the answer", ev)
	}
	invite := p.expect(gosip.INVITE)
	ack := p.expect(gosip.ACK)
	contact := "sip:peer@" + p.addr
	routes := "<sip:" + p.addr + ";lr;hop=b>, <sip:" + p.addr + ";lr;hop=a>"
	if ack.Recipient.String() != contact || header(ack, "Route") != routes || header(ack, "CSeq") != "1 ACK" ||
		tagOf(ack.To().Params) != p.tag || header(ack, "From") != header(invite, "From") {
		t.Errorf("ACK is wrong:\n%s", ack)
	}
	if ack.Via().Params.GetOr("branch", "") == invite.Via().Params.GetOr("branch", "") {
		t.Errorf("ACK for 2xx reuses the INVITE's branch")
	}

	if err := c.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	bye := p.expect(gosip.BYE)
	if bye.Recipient.String() != contact || header(bye, "Route") != routes || header(bye, "CSeq") != "2 BYE" ||
		tagOf(bye.To().Params) != p.tag || header(bye, "Call-ID") != inv.CallID {
		t.Errorf("BYE is wrong:\n%s", bye)
	}
	if ev := rec.want(t, EventEnded); ev.Err != nil {
		t.Errorf("ended with error %v", ev.Err)
	}
	c.Hangup(context.Background()) // after the end: nothing
	u.Close()
	rec.none(t)
	p.noMore(gosip.BYE)
}

func TestTrunkHangsUp(t *testing.T) {
	p := newPeer(t, "udp", answer)
	u := newTestUAWith(t, trusting(p))
	rec := newRecorder()
	dial(t, u, trunkFor(p), testInvite(), rec)
	rec.answered(t)
	invite := p.expect(gosip.INVITE)
	p.expect(gosip.ACK)

	// A re-INVITE with a new offer (hold, codec change: a new o= version)
	// is refused and leaves the call up. (One with the same SDP is a
	// session refresh: timer_test.go.)
	newOffer := bytes.Replace(answerSDP, []byte("o=peer 2 2 IN"), []byte("o=peer 2 3 IN"), 1)
	if bytes.Equal(newOffer, answerSDP) {
		t.Fatalf("answerSDP has no version to bump: %q", answerSDP)
	}
	if res := p.inDialogSDP(gosip.INVITE, invite, 1, newOffer); res.StatusCode != 488 {
		t.Errorf("re-INVITE: %s, want 488", res.StartLine())
	}
	const reason = `Q.850;cause=16;text="Normal call clearing"`
	if res := p.bye(invite, gosip.NewHeader("Reason", reason)); res.StatusCode != 200 {
		t.Errorf("BYE: %s, want 200", res.StartLine())
	}
	if ev := rec.want(t, EventHangup); ev.ReasonHeader != reason {
		t.Errorf("hangup Reason header %q, want %q", ev.ReasonHeader, reason)
	}
	// The dialog is gone now.
	if res := p.inDialog(gosip.BYE, invite, 2); res.StatusCode != 481 {
		t.Errorf("second BYE: %s, want 481", res.StartLine())
	}
	u.Close()
	rec.none(t)
	p.noMore(gosip.BYE)
}

func TestRequestsOutsideCalls(t *testing.T) {
	p := newPeer(t, "udp", answer)
	u := newTestUAWith(t, trusting(p))
	ua := gosip.Uri{Scheme: "sip", User: "hubline", Host: "127.0.0.1", Port: u.port}
	req := func(m gosip.RequestMethod, toTag string) *gosip.Request {
		r := gosip.NewRequest(m, ua)
		to := &gosip.ToHeader{Address: ua}
		if toTag != "" {
			to.Params = gosip.HeaderParams{{K: "tag", V: toTag}}
		}
		r.AppendHeader(to)
		if m == gosip.INVITE {
			r.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: portOf(p.addr)}})
			r.SetBody(testSDP)
		}
		return r
	}
	tests := []struct {
		req   *gosip.Request
		code  int
		allow bool
	}{
		{req(gosip.INVITE, ""), 480, false},
		{req(gosip.INVITE, "nosuchdialog"), 481, false},
		{req(gosip.BYE, "nosuchdialog"), 481, false},
		{req(gosip.OPTIONS, ""), 200, true},
		{req(gosip.CANCEL, ""), 481, false},
		{req(gosip.MESSAGE, ""), 405, true},
		{req(gosip.INFO, "nosuchdialog"), 481, false}, // INFO is for calls (info.go)
	}
	for _, tt := range tests {
		name := string(tt.req.Method)
		res := p.do(tt.req)
		if res.StatusCode != tt.code {
			t.Errorf("%s: %s, want %d", name, res.StartLine(), tt.code)
		}
		if tt.allow && header(res, "Allow") != allowMethods {
			t.Errorf("%s: Allow %q, want %q", name, header(res, "Allow"), allowMethods)
		}
	}
}

func TestAuthChallenge(t *testing.T) {
	for _, code := range []int{401, 407} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			challenge, credentials := "WWW-Authenticate", "Authorization"
			if code == 407 {
				challenge, credentials = "Proxy-Authenticate", "Proxy-Authorization"
			}
			u := newTestUA(t)
			p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
				if req.GetHeaders(credentials) == nil {
					p.respond(req, tx, code, "Unauthorized", nil,
						gosip.NewHeader(challenge, `Digest realm="trunk.example", nonce="abc123", qop="auth", algorithm=MD5`))
					return
				}
				answer(p, req, tx)
			})
			rec := newRecorder()
			tr := trunkFor(p)
			tr.Username, tr.Password = "alice", "s3cret"
			inv := testInvite()
			c := dial(t, u, tr, inv, rec)
			rec.answered(t)

			first, second := p.expect(gosip.INVITE), p.expect(gosip.INVITE)
			if header(second, "Call-ID") != inv.CallID || header(second, "From") != header(first, "From") ||
				header(second, "CSeq") != "2 INVITE" || header(second, "To") != header(first, "To") {
				t.Errorf("retried INVITE is not the same request with the next CSeq:\n%s", second)
			}
			if second.Via().Params.GetOr("branch", "") == first.Via().Params.GetOr("branch", "") {
				t.Errorf("retried INVITE reuses the branch")
			}
			cred, err := digest.ParseCredentials(header(second, credentials))
			if err != nil {
				t.Fatalf("%s %q: %v", credentials, header(second, credentials), err)
			}
			want, err := digest.Digest(&digest.Challenge{Realm: "trunk.example", Nonce: "abc123", QOP: []string{"auth"}, Algorithm: "MD5"},
				digest.Options{Method: "INVITE", URI: second.Recipient.String(), Username: "alice", Password: "s3cret",
					Cnonce: cred.Cnonce, Count: cred.Nc})
			if err != nil {
				t.Fatal(err)
			}
			if cred.Username != "alice" || cred.URI != second.Recipient.String() || cred.Response != want.Response {
				t.Errorf("%s %q does not answer the challenge (want response %s)", credentials, header(second, credentials), want.Response)
			}

			c.Hangup(context.Background())
			if bye := p.expect(gosip.BYE); header(bye, "CSeq") != "3 BYE" {
				t.Errorf("BYE CSeq %q, want 3 BYE", header(bye, "CSeq"))
			}
			rec.want(t, EventEnded)
			u.Close()
			rec.none(t)
		})
	}
}

func TestAuthFails(t *testing.T) {
	challenge := gosip.NewHeader("WWW-Authenticate", `Digest realm="trunk.example", nonce="abc123"`)
	for _, tt := range []struct {
		name     string
		user     string
		invites  int
		wantCode int
	}{
		{"no credentials", "", 1, 401},
		{"refused twice", "alice", 2, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newTestUA(t)
			p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
				p.respond(req, tx, 401, "Unauthorized", nil, challenge)
			})
			rec := newRecorder()
			tr := trunkFor(p)
			if tt.user != "" {
				tr.Username, tr.Password = tt.user, "wrong"
			}
			dial(t, u, tr, testInvite(), rec)
			if ev := rec.want(t, EventFailed); ev.Code != tt.wantCode || ev.Err != nil {
				t.Errorf("event %+v, want %d", ev, tt.wantCode)
			}
			for range tt.invites {
				p.expect(gosip.INVITE)
			}
			u.Close()
			p.noMore(gosip.INVITE)
			rec.none(t)
		})
	}
}

// ringing is the INVITE script of a trunk that rings until cancelled; it
// reports the CANCEL it gets (sipgo answers it, then the INVITE with 487).
func ringing(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
	tx.OnCancel(func(r *gosip.Request) { p.record(r) })
	p.respond(req, tx, 180, "Ringing", nil)
	<-tx.Done()
}

func TestRingTimeout(t *testing.T) {
	u := newTestUA(t)
	p := newPeer(t, "udp", ringing)
	rec := newRecorder()
	tr := trunkFor(p)
	tr.RingTimeout = 200 * time.Millisecond
	start := time.Now()
	dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventProvisional)
	ev := rec.want(t, EventFailed)
	if !ev.RingTimeout || ev.Canceled || ev.Code != 487 || ev.Err != nil {
		t.Errorf("event %+v, want ring timeout with 487", ev)
	}
	if d := time.Since(start); d < tr.RingTimeout {
		t.Errorf("failed after %v, before the ring timeout", d)
	}
	inv, cancel := p.expect(gosip.INVITE), p.expect(gosip.CANCEL)
	if cancel.Recipient.String() != inv.Recipient.String() || header(cancel, "Via") != header(inv, "Via") ||
		header(cancel, "CSeq") != "1 CANCEL" || header(cancel, "From") != header(inv, "From") ||
		header(cancel, "To") != header(inv, "To") || header(cancel, "Call-ID") != header(inv, "Call-ID") {
		t.Errorf("CANCEL does not match the INVITE:\n%s", cancel)
	}
	u.Close()
	rec.none(t)
}

func TestHangupWhileRinging(t *testing.T) {
	u := newTestUA(t)
	p := newPeer(t, "udp", ringing)
	rec := newRecorder()
	calls := make(chan *Call, 1)
	onEvent := func(ev Event) {
		if ev.Kind == EventProvisional {
			// From the callback: must not deadlock.
			c := <-calls
			c.Hangup(context.Background())
			c.Hangup(context.Background())
		}
		rec.onEvent(ev)
	}
	c, err := u.Dial(context.Background(), trunkFor(p), testInvite(), onEvent)
	if err != nil {
		t.Fatal(err)
	}
	calls <- c
	rec.want(t, EventProvisional)
	if ev := rec.want(t, EventFailed); !ev.Canceled || ev.RingTimeout || ev.Code != 487 || ev.Err != nil {
		t.Errorf("event %+v, want canceled with 487", ev)
	}
	p.expect(gosip.CANCEL)
	u.Close()
	rec.none(t)
}

func TestHangupBeforeProvisional(t *testing.T) {
	t.Run("provisional comes", func(t *testing.T) {
		u := newTestUA(t)
		release := make(chan struct{})
		p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
			tx.OnCancel(func(r *gosip.Request) { p.record(r) })
			select {
			case <-release:
			case <-tx.Done():
				return
			}
			// Nothing may have cancelled the INVITE before its first
			// provisional response.
			if p.has(gosip.CANCEL) {
				p.errorf("CANCEL before any provisional response")
			}
			p.respond(req, tx, 100, "Trying", nil)
			<-tx.Done()
		})
		rec := newRecorder()
		c := dial(t, u, trunkFor(p), testInvite(), rec)
		p.expect(gosip.INVITE)
		c.Hangup(context.Background())
		close(release)
		if ev := rec.want(t, EventFailed); !ev.Canceled || ev.Code != 487 {
			t.Errorf("event %+v, want canceled with 487", ev)
		}
		p.expect(gosip.CANCEL)
		u.Close()
		rec.none(t)
	})
	t.Run("no response at all", func(t *testing.T) {
		u := newTestUA(t)
		u.timers.invite = 300 * time.Millisecond
		p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
			tx.OnCancel(func(r *gosip.Request) { p.record(r) })
			<-tx.Done()
		})
		rec := newRecorder()
		c := dial(t, u, trunkFor(p), testInvite(), rec)
		c.Hangup(context.Background())
		ev := rec.want(t, EventFailed)
		if !ev.Canceled || ev.Code != 408 {
			t.Errorf("event %+v, want canceled with 408", ev)
		}
		wantErr(t, ev.Err, ErrTimeout)
		u.Close()
		p.noMore(gosip.CANCEL)
		rec.none(t)
	})
}

// An answer that crosses our CANCEL is ACKed, then hung up with BYE.
func TestAnswerCrossesCancel(t *testing.T) {
	u := newTestUA(t)
	invites := make(chan func(), 1)
	p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
		p.respond(req, tx, 180, "Ringing", nil)
		invites <- func() { p.respond(req, tx, 200, "OK", answerSDP) }
		<-tx.Done()
	}, func(p *peer) {
		p.beforeRead = func(data []byte) {
			if bytes.HasPrefix(data, []byte("CANCEL ")) {
				// The callee picked up just before the CANCEL arrived:
				// the CANCEL finds the INVITE answered (200, no 487).
				(<-invites)()
			}
		}
	})
	rec := newRecorder()
	c := dial(t, u, trunkFor(p), testInvite(), rec)
	rec.want(t, EventProvisional)
	c.Hangup(context.Background())
	ev := rec.want(t, EventFailed)
	if !ev.Canceled || ev.Err != nil {
		t.Errorf("event %+v, want canceled", ev)
	}
	ack, bye := p.expect(gosip.ACK), p.expect(gosip.BYE)
	if tagOf(ack.To().Params) != p.tag || tagOf(bye.To().Params) != p.tag || header(bye, "CSeq") != "2 BYE" {
		t.Errorf("ACK and BYE are not for the answered dialog:\n%s\n%s", ack, bye)
	}
	u.Close()
	rec.none(t)
}

// Retransmitted 2xx are ACKed again, while the INVITE transaction lives
// (sipgo's retransmission hook) and after it ended (stray responses).
func TestRetransmitted200(t *testing.T) {
	u := newTestUA(t)
	var final *gosip.Response
	p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
		final = p.response(req, 200, "OK", answerSDP)
		if err := tx.Respond(final); err != nil {
			p.errorf("200: %v", err)
		}
	})
	rec := newRecorder()
	c := dial(t, u, trunkFor(p), testInvite(), rec)
	rec.want(t, EventAnswered)
	first := p.expect(gosip.ACK)

	retransmit := func() *gosip.Request {
		t.Helper()
		if err := p.srv.WriteResponse(final.Clone()); err != nil {
			t.Fatalf("retransmit: %v", err)
		}
		ack := p.expect(gosip.ACK)
		if header(ack, "Via") != header(first, "Via") || header(ack, "CSeq") != "1 ACK" || tagOf(ack.To().Params) != p.tag {
			t.Errorf("re-sent ACK differs:\n%s\nfirst:\n%s", ack, first)
		}
		return ack
	}
	retransmit()
	c.inviteTx.Terminate() // as Timer M would: now the 2xx is a stray response
	retransmit()
	p.noMore(gosip.BYE)

	c.Hangup(context.Background())
	p.expect(gosip.BYE)
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
}

// A 2xx from a second fork is ACKed and hung up; the first dialog stays.
// Which 2xx is first is up to sipgo, which handles each response on a
// goroutine of its own.
func TestForked200(t *testing.T) {
	u := newTestUA(t)
	p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
		p.respond(req, tx, 200, "OK", answerSDP)
		fork := p.response(req, 200, "OK", answerSDP)
		fork.To().Params.Remove("tag")
		fork.To().Params.Add("tag", "fork2")
		// A fork retransmits its 2xx until its ACK arrives.
		for !acked(p, "fork2") {
			if err := p.srv.WriteResponse(fork.Clone()); err != nil {
				p.errorf("fork 200: %v", err)
			}
			select {
			case <-p.changed():
			case <-time.After(50 * time.Millisecond): // Timer G, shortened
			case <-p.closed:
				return
			}
		}
	})
	rec := newRecorder()
	c := dial(t, u, trunkFor(p), testInvite(), rec)
	rec.want(t, EventAnswered)
	unwanted := tagOf(p.expect(gosip.BYE).To().Params)
	c.Hangup(context.Background())
	ours := tagOf(p.expect(gosip.BYE).To().Params)
	if unwanted == ours || (unwanted != "fork2" && unwanted != p.tag) || (ours != "fork2" && ours != p.tag) {
		t.Errorf("BYEs for %q (the fork) and %q (the call), want one for each of %q and %q", unwanted, ours, p.tag, "fork2")
	}
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
	p.noMore(gosip.BYE) // the fork's retransmitted 2xx got ACKs, not BYEs
}

// acked reports whether p got an ACK for the dialog with To tag tag.
func acked(p *peer, tag string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.got {
		if r.IsAck() && tagOf(r.To().Params) == tag {
			return true
		}
	}
	return false
}

func TestNoResponse(t *testing.T) {
	u := newTestUA(t)
	u.timers.invite = 300 * time.Millisecond
	// A trunk that reads nothing.
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rec := newRecorder()
	dial(t, u, Trunk{Address: conn.LocalAddr().String()}, testInvite(), rec)
	ev := rec.want(t, EventFailed)
	if ev.Code != 408 || ev.Canceled || ev.RingTimeout {
		t.Errorf("event %+v, want 408", ev)
	}
	wantErr(t, ev.Err, ErrTimeout)
	u.Close()
	rec.none(t)
}

func TestTransportError(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		u := newTestUA(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = u.Dial(context.Background(), Trunk{Address: addr, Transport: "tcp"}, testInvite(), newRecorder().onEvent)
		wantErr(t, err, ErrTransport)
		if len(u.calls) != 0 {
			t.Errorf("failed call stays registered")
		}
	})
	t.Run("connection dropped", func(t *testing.T) {
		u := newTestUA(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan struct{})
		go func() {
			defer close(accepted)
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Read(make([]byte, 4096))
			conn.Close()
		}()
		rec := newRecorder()
		dial(t, u, Trunk{Address: ln.Addr().String(), Transport: "tcp"}, testInvite(), rec)
		ev := rec.want(t, EventFailed)
		if ev.Code != 503 {
			t.Errorf("event %+v, want 503", ev)
		}
		wantErr(t, ev.Err, ErrTransport)
		<-accepted
		u.Close()
		rec.none(t)
	})
}

func TestTCPTrunk(t *testing.T) {
	u := newTestUA(t)
	p := newPeer(t, "tcp", answer)
	rec := newRecorder()
	tr := trunkFor(p)
	tr.Transport = "tcp"
	inv := testInvite()
	c := dial(t, u, tr, inv, rec)
	rec.answered(t)
	invite := p.expect(gosip.INVITE)
	port := strconv.Itoa(u.port)
	if !strings.HasPrefix(header(invite, "Via"), "SIP/2.0/TCP 127.0.0.1:"+port+";") ||
		header(invite, "Contact") != "<sip:hubline@127.0.0.1:"+port+";transport=tcp>" {
		t.Errorf("INVITE over TCP:\n%s", invite)
	}
	p.expect(gosip.ACK)
	c.Hangup(context.Background())
	p.expect(gosip.BYE)
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
}

func TestByeTimeout(t *testing.T) {
	u := newTestUA(t)
	u.timers.bye = 300 * time.Millisecond
	p := newPeer(t, "udp", answer, func(p *peer) {
		p.onBye = func(*gosip.Request, gosip.ServerTransaction) {} // never answers
	})
	rec := newRecorder()
	c := dial(t, u, trunkFor(p), testInvite(), rec)
	rec.answered(t)
	c.Hangup(context.Background())
	ev := rec.want(t, EventEnded)
	wantErr(t, ev.Err, ErrTimeout)
	u.Close()
	rec.none(t)
}

func TestCloseEndsCalls(t *testing.T) {
	u := newTestUA(t)
	rp := newPeer(t, "udp", ringing)
	ap := newPeer(t, "udp", answer)
	ringRec, ansRec := newRecorder(), newRecorder()
	dial(t, u, trunkFor(rp), testInvite(), ringRec)
	dial(t, u, trunkFor(ap), testInvite(), ansRec)
	ringRec.want(t, EventProvisional)
	ansRec.answered(t)

	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waited for the calls: their last events are there.
	ev := ringRec.want(t, EventFailed)
	wantErr(t, ev.Err, ErrClosed)
	ev = ansRec.want(t, EventEnded)
	wantErr(t, ev.Err, ErrClosed)
	ringRec.none(t)
	ansRec.none(t)
	rp.expect(gosip.CANCEL)
	ap.expect(gosip.BYE)

	_, err := u.Dial(context.Background(), trunkFor(ap), testInvite(), nil)
	wantErr(t, err, ErrClosed)
	if err := u.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestDialRefuses(t *testing.T) {
	u := newTestUA(t)
	p := newPeer(t, "udp", ringing)
	good := testInvite()
	if _, err := u.Dial(context.Background(), trunkFor(p), good, nil); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*Invite)) Invite {
		inv := testInvite()
		f(&inv)
		return inv
	}
	tests := []struct {
		name  string
		trunk Trunk
		inv   Invite
		is    error
	}{
		{"Call-ID in use", trunkFor(p), good, nil},
		{"bad Call-ID", trunkFor(p), mod(func(i *Invite) { i.CallID = "a b" }), nil},
		{"To not E.164", trunkFor(p), mod(func(i *Invite) { i.To = "5550100" }), ErrInvalidNumber},
		{"From not E.164", trunkFor(p), mod(func(i *Invite) { i.From = "+1 555" }), ErrInvalidNumber},
		{"no SDP", trunkFor(p), mod(func(i *Invite) { i.SDP = nil }), nil},
		{"no trunk address", Trunk{}, testInvite(), nil},
		{"bad transport", Trunk{Address: p.addr, Transport: "sctp"}, testInvite(), nil},
	}
	for _, tt := range tests {
		c, err := u.Dial(context.Background(), tt.trunk, tt.inv, nil)
		if err == nil || c != nil {
			t.Errorf("%s: Dial succeeded", tt.name)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: %v, want one wrapping %v", tt.name, err, tt.is)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := u.Dial(ctx, trunkFor(p), testInvite(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context: %v", err)
	}
}
