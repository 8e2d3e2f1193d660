package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Registration (RFC 3261 10.2): one goroutine per trunk with
// Register.Enabled, owned by the UA (Close waits for it). It registers at
// once, refreshes at three quarters of the lifetime the registrar granted,
// retries a failed REGISTER with exponential back-off (Register.RetryMin
// doubling up to RetryMax), and unregisters (Expires: 0) when the UA closes.
// Every REGISTER of a trunk has the same Call-ID and From tag and the next
// CSeq; credentials from the last challenge go with each refresh (a stale
// nonce gets challenged again and answered once).

// errAborted: the UA closed while a request waited for its response.
var errAborted = errors.New("sip: aborted: user agent closing")

// refreshAfter is when to refresh a registration the registrar granted for
// granted: at 3/4 of it (within the 50–80% registrars expect), and never
// later than a minute before it runs out for long registrations.
func refreshAfter(granted time.Duration) time.Duration {
	d := granted * 3 / 4
	if granted-d > time.Minute {
		d = granted - time.Minute
	}
	return max(d, 100*time.Millisecond)
}

// backoff is the delay before retry number failures (1 for the first
// failure): lo, 2·lo, 4·lo … at most hi.
func backoff(failures int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// registration is a trunk's registration client; registerLoop owns it.
type registration struct {
	u        *UA
	ts       *trunkState
	tc       *trunkConf
	log      *zap.Logger
	callID   string
	fromTag  string
	cseq     uint32
	chal     *challenge // the last challenge, answered again on refreshes
	nc       int        // its nonce count
	contact  gosip.Uri
	expires  time.Duration // what we ask for; a 423 raises it
	failures int
}

func (u *UA) registerLoop(ts *trunkState) {
	defer u.bgWG.Done()
	tc := &ts.conf
	r := &registration{
		u: u, ts: ts, tc: tc, log: ts.log,
		callID:  "reg-" + u.instance + "-" + gosip.GenerateTagN(8) + "@" + u.publicHost,
		fromTag: gosip.GenerateTagN(16),
		expires: tc.register.Expires,
	}
	_, transport := r.hop()
	r.contact = gosip.Uri{Scheme: "sip", User: tc.user, Host: u.publicHost, Port: u.port,
		UriParams: gosip.HeaderParams{{K: "transport", V: strings.ToLower(transport)}}}
	for {
		granted, err := r.register(r.expires, u.closing)
		if errors.Is(err, errAborted) {
			break
		}
		wait := r.record(granted, err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			continue
		case <-u.closing:
			t.Stop()
		}
		break
	}
	r.unregister()
}

// record updates the trunk's registration status after a REGISTER and
// returns how long to wait before the next.
func (r *registration) record(granted time.Duration, err error) time.Duration {
	now := time.Now()
	r.ts.mu.Lock()
	defer r.ts.mu.Unlock()
	st := &r.ts.reg
	if err == nil {
		wait := refreshAfter(granted)
		if st.State != RegRegistered {
			r.log.Info("registered", zap.Duration("expires", granted), zap.Duration("refreshIn", wait))
		} else {
			r.log.Debug("registration refreshed", zap.Duration("expires", granted))
		}
		r.failures = 0
		r.ts.registered = true
		*st = RegistrationStatus{State: RegRegistered, Expires: now.Add(granted), NextAttempt: now.Add(wait)}
		return wait
	}
	r.failures++
	wait := backoff(r.failures, r.tc.register.RetryMin, r.tc.register.RetryMax)
	if !st.Expires.IsZero() && st.Expires.After(now) {
		// The binding still holds: try again well before it runs out.
		wait = min(wait, max(st.Expires.Sub(now)/2, r.tc.register.RetryMin))
	}
	r.log.Warn("registration failed", zap.Error(err), zap.Int("failures", r.failures), zap.Duration("retryIn", wait))
	st.State, st.Error, st.Failures, st.NextAttempt = RegFailed, err.Error(), r.failures, now.Add(wait)
	return wait
}

// unregister removes the binding (Expires: 0) if one is in place, bounded
// by the unregister timer.
func (r *registration) unregister() {
	r.ts.mu.Lock()
	registered := r.ts.registered
	r.ts.mu.Unlock()
	if !registered {
		return
	}
	abort := make(chan struct{})
	t := time.AfterFunc(r.u.timers.unregister, func() { close(abort) })
	defer t.Stop()
	_, err := r.register(0, abort)
	r.ts.mu.Lock()
	r.ts.registered = false
	r.ts.reg = RegistrationStatus{State: RegUnregistered}
	if err != nil {
		r.ts.reg.Error = err.Error()
	}
	r.ts.mu.Unlock()
	if err != nil {
		r.log.Warn("unregister failed", zap.Error(err))
		return
	}
	r.log.Info("unregistered")
}

// hop is where REGISTER goes: the first route, else the registrar.
func (r *registration) hop() (dest, transport string) {
	if len(r.tc.routes) > 0 {
		return r.tc.nextHop()
	}
	reg := r.tc.registrar
	return hostPort(gosip.Uri{Host: reg.host, Port: reg.port}, r.tc.transport), r.tc.transport
}

// register sends a REGISTER asking for expires (0: unregister), answers up
// to two challenges (a stale cached one, then a fresh one) and a 423, and
// returns the lifetime granted. abort ends the wait for a response.
func (r *registration) register(expires time.Duration, abort <-chan struct{}) (time.Duration, error) {
	fresh := false // the credentials answer a challenge of this round
	for range 4 {
		req := r.build(expires)
		if r.chal != nil {
			r.nc++
			cred, err := r.chal.credentials(req, r.tc.user, r.tc.pass, r.nc)
			if err != nil {
				return 0, err
			}
			req.AppendHeader(cred)
		}
		res, err := r.u.await(r.tc, req, r.u.timers.register, abort)
		if err != nil {
			return 0, err
		}
		switch code := res.StatusCode; {
		case res.IsSuccess():
			if expires == 0 {
				return 0, nil
			}
			granted := r.granted(res, expires)
			if granted <= 0 {
				return 0, fmt.Errorf("sip: registrar granted no lifetime (%d %s)", code, res.Reason)
			}
			return granted, nil
		case code == 401 || code == 407:
			if r.tc.user == "" || r.tc.pass == "" {
				return 0, fmt.Errorf("sip: REGISTER challenged (%d) but the trunk has no credentials", code)
			}
			if fresh {
				return 0, fmt.Errorf("sip: REGISTER: credentials refused (%d %s)", code, res.Reason)
			}
			ch, err := parseChallenge(res)
			if err != nil {
				return 0, err
			}
			r.chal, r.nc, fresh = ch, 0, true
		case code == 423 && expires > 0:
			least, err := strconv.Atoi(strings.TrimSpace(header1(res, "Min-Expires")))
			if err != nil || least <= 0 || time.Duration(least)*time.Second <= expires {
				return 0, fmt.Errorf("sip: REGISTER: 423 with unusable Min-Expires %q", header1(res, "Min-Expires"))
			}
			expires = time.Duration(least) * time.Second
			r.expires = expires
			r.log.Info("registrar wants a longer registration", zap.Duration("expires", expires))
		default:
			return 0, fmt.Errorf("sip: REGISTER refused: %d %s", code, res.Reason)
		}
	}
	return 0, errors.New("sip: REGISTER: too many challenges")
}

// build is the next REGISTER of the trunk (RFC 3261 10.2).
func (r *registration) build(expires time.Duration) *gosip.Request {
	u, tc := r.u, r.tc
	dest, transport := r.hop()
	ruri := gosip.Uri{Scheme: "sip", Host: tc.fromDomain}
	if tc.fromDomain == tc.registrar.host {
		ruri.Port = tc.registrar.port
	}
	aor := gosip.Uri{Scheme: "sip", User: tc.user, Host: tc.fromDomain}
	r.cseq++
	req := gosip.NewRequest(gosip.REGISTER, ruri)
	req.AppendHeader(u.newVia(transport))
	mf := gosip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(&mf)
	for _, rt := range tc.routes {
		req.AppendHeader(&gosip.RouteHeader{Address: *rt.Clone()})
	}
	req.AppendHeader(&gosip.FromHeader{Address: aor, Params: gosip.HeaderParams{{K: "tag", V: r.fromTag}}})
	req.AppendHeader(&gosip.ToHeader{Address: *aor.Clone()})
	callID := gosip.CallIDHeader(r.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: r.cseq, MethodName: gosip.REGISTER})
	req.AppendHeader(&gosip.ContactHeader{Address: *r.contact.Clone()})
	exp := gosip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	req.AppendHeader(gosip.NewHeader("User-Agent", u.userAgent))
	req.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	req.SetBody(nil)
	u.route(req, transport, dest)
	return req
}

// granted is the lifetime a 2xx to our REGISTER gives our binding: the
// expires parameter of our Contact (or of the only Contact), else the
// Expires header, else what we asked for.
func (r *registration) granted(res *gosip.Response, asked time.Duration) time.Duration {
	contacts := res.GetHeaders("Contact")
	for _, h := range contacts {
		ct, ok := h.(*gosip.ContactHeader)
		if !ok {
			continue
		}
		a := ct.Address
		ours := a.User == r.contact.User && strings.EqualFold(a.Host, r.contact.Host) && a.Port == r.contact.Port
		if !ours && len(contacts) > 1 {
			continue
		}
		if v, ok := ct.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
		break
	}
	if v := header1(res, "Expires"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// header1 is the value of msg's first header name; "" when absent.
func header1(msg gosip.Message, name string) string {
	if hs := msg.GetHeaders(name); len(hs) > 0 {
		return hs[0].Value()
	}
	return ""
}

// await sends req (out of dialog) and waits for its final response, at most
// d, or until abort is closed.
func (u *UA) await(tc *trunkConf, req *gosip.Request, d time.Duration, abort <-chan struct{}) (*gosip.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	tx, err := u.send(ctx, tc, req)
	cancel()
	if err != nil {
		if errors.Is(err, ErrTransport) {
			return nil, fmt.Errorf("sip: %s: %w", req.Method, err)
		}
		return nil, fmt.Errorf("sip: %s: %w: %w", req.Method, ErrTransport, err)
	}
	defer tx.Terminate()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			err := tx.Err()
			if errors.Is(err, gosip.ErrTransactionTimeout) {
				return nil, fmt.Errorf("sip: %s: %w: %w", req.Method, ErrTimeout, err)
			}
			return nil, fmt.Errorf("sip: %s: %w: %w", req.Method, ErrTransport, err)
		case <-timer.C:
			return nil, fmt.Errorf("sip: %s: %w: no response within %v", req.Method, ErrTimeout, d)
		case <-abort:
			return nil, errAborted
		}
	}
}
