package sip

import (
	"strconv"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Registration against a loopback registrar (the sipp scenario in
// sipp_trunks_test.go checks the same against SIPp).

const regRealm, regNonce = "reg.example", "n0nce"

// validDigest reports whether req's Authorization answers the challenge
// regRealm/regNonce for user and pass.
func validDigest(req *gosip.Request, user, pass string) bool {
	cred, err := digest.ParseCredentials(header(req, "Authorization"))
	if err != nil {
		return false
	}
	want, err := digest.Digest(&digest.Challenge{Realm: regRealm, Nonce: regNonce, QOP: []string{"auth"}, Algorithm: "MD5"},
		digest.Options{Method: "REGISTER", URI: req.Recipient.String(), Username: user, Password: pass, Cnonce: cred.Cnonce, Count: cred.Nc})
	return err == nil && cred.Username == user && cred.Response == want.Response
}

// registrar is a peer that challenges REGISTERs without valid credentials
// and grants the others expires[i] seconds (the last one for the rest).
func registrar(t *testing.T, expires ...int) (*peer, *sync.Mutex, *[]time.Time) {
	var (
		mu      sync.Mutex
		arrived []time.Time
		granted int
	)
	p := newPeer(t, "udp", silent, func(p *peer) {
		p.onRegister = func(req *gosip.Request, tx gosip.ServerTransaction) {
			mu.Lock()
			arrived = append(arrived, time.Now())
			mu.Unlock()
			if !validDigest(req, "alice", "s3cret") {
				p.respond(req, tx, 401, "Unauthorized", nil,
					gosip.NewHeader("WWW-Authenticate", `Digest realm="`+regRealm+`", nonce="`+regNonce+`", qop="auth", algorithm=MD5`))
				return
			}
			ct := req.Contact()
			if header(req, "Expires") == "0" {
				p.respond(req, tx, 200, "OK", nil)
				return
			}
			mu.Lock()
			e := expires[min(granted, len(expires)-1)]
			granted++
			mu.Unlock()
			c := &gosip.ContactHeader{Address: ct.Address, Params: gosip.HeaderParams{{K: "expires", V: strconv.Itoa(e)}}}
			p.respond(req, tx, 200, "OK", nil, c)
		}
	})
	return p, &mu, &arrived
}

func regTrunk(p *peer) Trunk {
	return Trunk{Name: "reg", Address: p.addr, Username: "alice", Password: "s3cret", FromDomain: "reg.example",
		Register: Registration{Enabled: true, Expires: 10 * time.Minute, RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond}}
}

// Challenge, registration for 1s, a refresh with credentials before it runs
// out, then unregistering on Close.
func TestRegisterRefreshUnregister(t *testing.T) {
	p, _, _ := registrar(t, 1, 600)
	u := newTestUAWith(t, Options{Trunks: []Trunk{regTrunk(p)}})
	first, second := p.expect(gosip.REGISTER), p.expect(gosip.REGISTER)
	refresh := p.expect(gosip.REGISTER)
	checks := []struct{ name, got, want string }{
		{"Request-URI", first.Recipient.String(), "sip:reg.example"},
		{"From", header(first, "From"), "<sip:alice@reg.example>;tag="},
		{"To", header(first, "To"), "<sip:alice@reg.example>"},
		{"Contact", header(first, "Contact"), "<sip:alice@127.0.0.1:" + strconv.Itoa(u.port) + ";transport=udp>"},
		{"Expires", header(first, "Expires"), "600"},
		{"CSeq", header(first, "CSeq") + "," + header(second, "CSeq") + "," + header(refresh, "CSeq"), "1 REGISTER,2 REGISTER,3 REGISTER"},
		{"Call-ID", header(second, "Call-ID") + header(refresh, "Call-ID"), header(first, "Call-ID") + header(first, "Call-ID")},
	}
	for _, c := range checks {
		if len(c.got) < len(c.want) || c.got[:len(c.want)] != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if !validDigest(refresh, "alice", "s3cret") {
		t.Errorf("refresh without valid credentials:\n%s", refresh)
	}
	eventually(t, "registered for 600s", func() bool {
		r := status(u, "reg").Registration
		return r != nil && r.State == RegRegistered && time.Until(r.Expires) > 500*time.Second
	})
	if r := status(u, "reg").Registration; time.Until(r.NextAttempt) < 400*time.Second {
		t.Errorf("next REGISTER at %v, want at 3/4 of 600s", r.NextAttempt)
	}
	u.Close()
	unreg := p.expect(gosip.REGISTER)
	if header(unreg, "Expires") != "0" || header(unreg, "Call-ID") != header(first, "Call-ID") || !validDigest(unreg, "alice", "s3cret") {
		t.Errorf("unregister:\n%s", unreg)
	}
	if r := status(u, "reg").Registration; r.State != RegUnregistered {
		t.Errorf("after Close: %+v", r)
	}
}

// Failures are retried with exponential back-off; the status says why and
// when the next attempt goes.
func TestRegisterBackoff(t *testing.T) {
	var (
		mu      sync.Mutex
		arrived []time.Time
	)
	p := newPeer(t, "udp", silent, func(p *peer) {
		p.onRegister = func(req *gosip.Request, tx gosip.ServerTransaction) {
			mu.Lock()
			arrived = append(arrived, time.Now())
			n := len(arrived)
			mu.Unlock()
			if n <= 3 {
				p.respond(req, tx, 503, "Service Unavailable", nil)
				return
			}
			p.respond(req, tx, 200, "OK", nil, gosip.NewHeader("Expires", "600"))
		}
	})
	tr := regTrunk(p)
	tr.Password = ""
	u := newTestUAWith(t, Options{Trunks: []Trunk{tr}})
	p.expect(gosip.REGISTER)
	eventually(t, "failed status", func() bool {
		r := status(u, "reg").Registration
		return r.State == RegFailed && r.Failures >= 1 && r.Error != "" && !r.NextAttempt.IsZero()
	})
	eventually(t, "registered after three failures", func() bool {
		return status(u, "reg").Registration.State == RegRegistered
	})
	mu.Lock()
	gaps := []time.Duration{arrived[1].Sub(arrived[0]), arrived[2].Sub(arrived[1]), arrived[3].Sub(arrived[2])}
	mu.Unlock()
	for i, want := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond} {
		if gaps[i] < want*9/10 {
			t.Errorf("retry %d came after %v, want ≥ %v (back-off)", i+1, gaps[i], want)
		}
	}
	u.Close()
}

// A 423 raises the lifetime asked for; refused credentials are a failure.
func TestRegisterIntervalTooBriefAndRefusedCredentials(t *testing.T) {
	p := newPeer(t, "udp", silent, func(p *peer) {
		p.onRegister = func(req *gosip.Request, tx gosip.ServerTransaction) {
			if header(req, "Expires") == "600" {
				p.respond(req, tx, 423, "Interval Too Brief", nil, gosip.NewHeader("Min-Expires", "3600"))
				return
			}
			p.respond(req, tx, 200, "OK", nil, gosip.NewHeader("Expires", header(req, "Expires")))
		}
	})
	tr := regTrunk(p)
	tr.Password = ""
	u := newTestUAWith(t, Options{Trunks: []Trunk{tr}})
	p.expect(gosip.REGISTER)
	if r := p.expect(gosip.REGISTER); header(r, "Expires") != "3600" {
		t.Errorf("after 423: Expires %q, want 3600", header(r, "Expires"))
	}
	eventually(t, "registered for an hour", func() bool {
		r := status(u, "reg").Registration
		return r.State == RegRegistered && time.Until(r.Expires) > 3000*time.Second
	})
	u.Close()

	wrong := newPeer(t, "udp", silent, func(p *peer) {
		p.onRegister = func(req *gosip.Request, tx gosip.ServerTransaction) {
			p.respond(req, tx, 401, "Unauthorized", nil,
				gosip.NewHeader("WWW-Authenticate", `Digest realm="`+regRealm+`", nonce="`+regNonce+`"`))
		}
	})
	tr = regTrunk(wrong)
	tr.Register.RetryMin, tr.Register.RetryMax = time.Hour, time.Hour
	u = newTestUAWith(t, Options{Trunks: []Trunk{tr}})
	eventually(t, "credentials refused", func() bool {
		r := status(u, "reg").Registration
		return r.State == RegFailed && r.Error == "sip: REGISTER: credentials refused (401 Unauthorized)"
	})
	u.Close()
	wrong.expect(gosip.REGISTER)
	wrong.expect(gosip.REGISTER)
	wrong.noMore(gosip.REGISTER) // nothing to unregister
}
