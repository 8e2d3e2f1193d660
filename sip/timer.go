package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Session timers (RFC 4028), for outbound calls (call.go) and inbound
// dialogs (uas.go) alike. Our INVITEs and 2xx say "Supported: timer" and
// carry Session-Expires and Min-SE; the 2xx (or the refresh's 2xx) says who
// refreshes. When we do, we refresh at half the interval with UPDATE if the
// peer allows it, else with a re-INVITE carrying our current SDP unchanged
// (same o= version: no media change). When the peer does and no refresh
// arrives before the interval minus min(32 s, interval/3), we send BYE and
// the call ends with Event.SessionExpired. The peer's refreshes (UPDATE
// without SDP, or UPDATE/re-INVITE whose SDP has the o= version we already
// have) are answered 200 with our current SDP, if any; a real offer (a new
// o= version) keeps getting 488.
//
// The sessionTimer belongs to the dialog's run goroutine: the loops of
// callRun and uasRun select on its channels and call its methods.

const (
	defaultSessionExpires = 1800 * time.Second
	defaultMinSE          = 90 * time.Second // RFC 4028 4: the lowest Min-SE allowed
	// maxExpiryMargin caps how long before the expiry we give up on the
	// peer's refresh (RFC 4028 10: min(32 s, interval/3)).
	maxExpiryMargin = 32 * time.Second
	// refreshRetryWait: after a refresh failed with an error that leaves the
	// session standing (500, 491, …), try again after this share of the
	// interval.
	refreshRetryDiv = 4
)

// supportedOptions is our Supported header.
const supportedOptions = "timer, 100rel"

// ErrBadSessionTimer: a malformed Session-Expires or Min-SE header.
var ErrBadSessionTimer = errors.New("sip: malformed session timer header")

// sessionExpires is a Session-Expires header (RFC 4028 4): the interval
// and who refreshes, "uac", "uas" or "" (unsaid).
type sessionExpires struct {
	interval  time.Duration
	refresher string
}

func (s sessionExpires) String() string {
	v := strconv.Itoa(int(s.interval / time.Second))
	if s.refresher != "" {
		v += ";refresher=" + s.refresher
	}
	return v
}

// parseSessionExpires reads "delta-seconds *(;se-params)". The interval
// must be at least one second (RFC 4028 says 90, which callers check
// against their own Min-SE) and fit in 32 bits; refresher, when present,
// is "uac" or "uas".
func parseSessionExpires(v string) (sessionExpires, error) {
	parts := strings.Split(v, ";")
	secs, err := parseDeltaSeconds(parts[0])
	if err != nil {
		return sessionExpires{}, fmt.Errorf("%w: Session-Expires %q: %v", ErrBadSessionTimer, v, err)
	}
	se := sessionExpires{interval: time.Duration(secs) * time.Second}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "refresher") {
			continue // generic params are allowed and ignored
		}
		switch r := strings.ToLower(strings.TrimSpace(val)); r {
		case "uac", "uas":
			se.refresher = r
		default:
			return sessionExpires{}, fmt.Errorf("%w: Session-Expires %q: refresher %q", ErrBadSessionTimer, v, val)
		}
	}
	return se, nil
}

// parseMinSE reads a Min-SE header: "delta-seconds *(;generic-param)".
func parseMinSE(v string) (time.Duration, error) {
	head, _, _ := strings.Cut(v, ";")
	secs, err := parseDeltaSeconds(head)
	if err != nil {
		return 0, fmt.Errorf("%w: Min-SE %q: %v", ErrBadSessionTimer, v, err)
	}
	return time.Duration(secs) * time.Second, nil
}

func parseDeltaSeconds(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || s[0] == '+' {
		return 0, errors.New("not a number of seconds")
	}
	if n == 0 {
		return 0, errors.New("zero seconds")
	}
	return uint32(n), nil
}

// headerSE is msg's Session-Expires (or its compact form "x"); ok false
// when it has none.
func headerSE(msg gosip.Message) (se sessionExpires, ok bool, err error) {
	hs := msg.GetHeaders("Session-Expires")
	if len(hs) == 0 {
		hs = msg.GetHeaders("x")
	}
	if len(hs) == 0 {
		return sessionExpires{}, false, nil
	}
	se, err = parseSessionExpires(hs[0].Value())
	return se, err == nil, err
}

// hasOption reports whether msg's headers named name (Supported, Require,
// Allow; and their compact forms) list tag.
func hasOption(msg gosip.Message, tag string, names ...string) bool {
	for _, name := range names {
		for _, h := range msg.GetHeaders(name) {
			for _, t := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(t), tag) {
					return true
				}
			}
		}
	}
	return false
}

func supports(msg gosip.Message, tag string) bool {
	return hasOption(msg, tag, "Supported", "k", "Require")
}

// sdpOrigin is the session id and version of an SDP's o= line ("" when it
// has none): an offer with the origin we already have changes nothing (RFC
// 3264 8).
func sdpOrigin(sdp []byte) string {
	for line := range bytes.Lines(sdp) {
		if !bytes.HasPrefix(line, []byte("o=")) {
			continue
		}
		f := strings.Fields(string(line[2:]))
		if len(f) < 3 {
			return ""
		}
		return f[1] + " " + f[2]
	}
	return ""
}

// sessionConf is a trunk's session timer configuration.
type sessionConf struct {
	expires time.Duration // what we ask for; 0: session timers off
	minSE   time.Duration // the shortest interval we accept
}

// sessionConfOf checks a Trunk's SessionExpires and MinSE and fills in the
// defaults. floor is the lowest interval allowed (RFC 4028: 90 s).
func sessionConfOf(t Trunk, floor time.Duration) (sessionConf, error) {
	sc := sessionConf{expires: t.SessionExpires, minSE: t.MinSE}
	if sc.minSE < 0 || sc.minSE%time.Second != 0 || sc.expires%time.Second != 0 {
		return sc, errors.New("SessionExpires and MinSE are whole seconds, not negative (SessionExpires < 0 turns session timers off)")
	}
	if sc.minSE == 0 {
		sc.minSE = max(defaultMinSE, floor)
	}
	if sc.minSE < floor {
		return sc, fmt.Errorf("MinSE %v is below %v (RFC 4028)", sc.minSE, floor)
	}
	switch {
	case sc.expires < 0:
		sc.expires = 0
	case sc.expires == 0:
		sc.expires = max(defaultSessionExpires, sc.minSE)
	case sc.expires < sc.minSE:
		return sc, fmt.Errorf("SessionExpires %v is below MinSE %v", sc.expires, sc.minSE)
	}
	return sc, nil
}

// addSessionHeaders puts our session timer offer on an INVITE: Supported,
// and Session-Expires and Min-SE unless timers are off.
func addSessionHeaders(req *gosip.Request, sc sessionConf, interval time.Duration) {
	req.AppendHeader(gosip.NewHeader("Supported", supportedOptions))
	if sc.expires == 0 {
		return
	}
	req.AppendHeader(gosip.NewHeader("Session-Expires", sessionExpires{interval: interval}.String()))
	req.AppendHeader(gosip.NewHeader("Min-SE", strconv.Itoa(int(sc.minSE/time.Second))))
}

// retry422 is prev again (new branch, next CSeq) asking for the larger
// interval a 422 demands (RFC 4028 7.4); ok false when the 422 names no
// usable Min-SE or the interval would not grow.
func (u *UA) retry422(prev *gosip.Request, res *gosip.Response, cseq uint32) (req *gosip.Request, interval time.Duration, ok bool) {
	h := res.GetHeader("Min-SE")
	if h == nil {
		return nil, 0, false
	}
	min, err := parseMinSE(h.Value())
	if err != nil {
		return nil, 0, false
	}
	if se, has, _ := headerSE(prev); has && se.interval >= min {
		return nil, 0, false
	}
	req = prev.Clone()
	req.RemoveHeader("Via")
	req.PrependHeader(u.newVia(prev.Transport()))
	req.CSeq().SeqNo = cseq
	req.RemoveHeader("Session-Expires")
	req.RemoveHeader("Min-SE")
	req.AppendHeader(gosip.NewHeader("Session-Expires", sessionExpires{interval: min}.String()))
	req.AppendHeader(gosip.NewHeader("Min-SE", strconv.Itoa(int(min/time.Second))))
	return req, min, true
}

// refuseSmallInterval answers 422 Session Interval Too Small to an inbound
// INVITE asking for less than the trunk's Min-SE (RFC 4028 8.1), and 400 to
// one with a malformed Session-Expires. It reports whether it answered.
func (u *UA) refuseSmallInterval(tc *trunkConf, req *gosip.Request, tx gosip.ServerTransaction) bool {
	se, ok, err := headerSE(req)
	switch {
	case err != nil:
		u.log.Info("inbound INVITE refused: bad Session-Expires", zap.String("sipCallId", callIDOf(req)), zap.Error(err))
		u.respond(req, tx, gosip.StatusBadRequest, "Bad Request (malformed Session-Expires)")
		return true
	case !ok || tc.session.expires == 0 || se.interval >= tc.session.minSE:
		return false
	}
	u.log.Info("inbound INVITE refused: session interval too small", zap.String("sipCallId", callIDOf(req)),
		zap.Duration("asked", se.interval), zap.Duration("minSE", tc.session.minSE))
	u.respond(req, tx, 422, "Session Interval Too Small",
		gosip.NewHeader("Min-SE", strconv.Itoa(int(tc.session.minSE/time.Second))))
	return true
}

// postInDialog hands req to a dialog's run through ch and waits until it
// is answered. It reports false when run did not take it in time (the
// dialog is ending): the caller answers it.
func postInDialog(ch chan<- inDialogReq, over <-chan struct{}, req *gosip.Request, tx gosip.ServerTransaction) bool {
	q := inDialogReq{req: req, tx: tx, done: make(chan struct{})}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case ch <- q:
	case <-over:
		return false
	case <-t.C:
		return false
	}
	<-q.done
	return true
}

// sessionTimer is the session timer of one confirmed dialog, owned by the
// dialog's run goroutine. A nil *sessionTimer has no channels (the dialog
// is not confirmed yet).
type sessionTimer struct {
	ua    *UA
	log   *zap.Logger
	tc    *trunkConf // for TLS connections; nil: an existing one
	conf  sessionConf
	dlg   *dialog
	cseq  *uint32 // the dialog's local CSeq, shared with BYE
	local []byte  // our current SDP, sent unchanged in re-INVITE refreshes
	// remote is the origin (id and version) of the peer's current SDP.
	remote    string
	useUpdate bool // the peer allows UPDATE

	interval  time.Duration // 0: no session timer
	refresher bool          // we refresh
	timer     *time.Timer
	tx        gosip.ClientTransaction // our refresh in flight
	txReq     *gosip.Request
	tried422  bool
}

// arm (re)starts the timer for interval, with us or the peer refreshing;
// interval 0 stops it.
func (s *sessionTimer) arm(interval time.Duration, weRefresh bool) {
	stop(&s.timer)
	s.interval, s.refresher = interval, weRefresh
	if interval <= 0 {
		s.interval = 0
		return
	}
	d := interval / 2
	if !weRefresh {
		d = interval - min(maxExpiryMargin, interval/3)
	}
	s.timer = time.NewTimer(d)
	s.log.Debug("session timer armed", zap.Duration("interval", interval), zap.Bool("weRefresh", weRefresh),
		zap.Duration("fireIn", d))
}

// fromResponse arms the timer from a 2xx to our INVITE or refresh: its
// Session-Expires, where refresher uac (or none: RFC 4028 7.2) is us.
func (s *sessionTimer) fromResponse(res *gosip.Response) {
	se, ok, err := headerSE(res)
	if err != nil {
		s.log.Warn("malformed Session-Expires in 2xx; no session timer", zap.Error(err))
	}
	if !ok {
		s.arm(0, false)
		return
	}
	s.arm(se.interval, se.refresher != "uas")
}

func (s *sessionTimer) timerC() <-chan time.Time {
	if s == nil {
		return nil
	}
	return timerC(s.timer)
}

func (s *sessionTimer) responses() <-chan *gosip.Response {
	if s == nil || s.tx == nil {
		return nil
	}
	return s.tx.Responses()
}

func (s *sessionTimer) txDone() <-chan struct{} {
	if s == nil || s.tx == nil {
		return nil
	}
	return s.tx.Done()
}

// close stops the timer and any refresh in flight.
func (s *sessionTimer) close() {
	if s == nil {
		return
	}
	stop(&s.timer)
	if s.tx != nil {
		s.tx.Terminate()
		s.tx = nil
	}
}

// errSessionExpired says why a session timer ended a call.
type errSessionExpired struct{ why string }

func (e errSessionExpired) Error() string { return "sip: session timer: " + e.why }

// onTimer: time to refresh, or the peer's refresh is overdue. A non-nil
// error means the session is over: the caller sends BYE.
func (s *sessionTimer) onTimer() error {
	s.timer = nil
	if !s.refresher {
		s.log.Warn("no session refresh from the peer before expiry; ending the call",
			zap.Duration("interval", s.interval))
		return errSessionExpired{"no session refresh from the peer within " + s.interval.String()}
	}
	if s.tx != nil {
		return nil // one is in flight
	}
	return s.sendRefresh()
}

// sendRefresh sends UPDATE (or re-INVITE with our SDP) with our interval.
func (s *sessionTimer) sendRefresh() error {
	method := gosip.INVITE
	if s.useUpdate {
		method = gosip.UPDATE
	}
	*s.cseq++
	req := s.ua.dialogRequest(s.dlg, method, *s.cseq)
	req.AppendHeader(s.ua.contact(req.Transport()))
	req.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	req.AppendHeader(gosip.NewHeader("Supported", supportedOptions))
	req.AppendHeader(gosip.NewHeader("Session-Expires", sessionExpires{interval: s.interval, refresher: "uac"}.String()))
	req.AppendHeader(gosip.NewHeader("Min-SE", strconv.Itoa(int(s.conf.minSE/time.Second))))
	if method == gosip.INVITE && len(s.local) > 0 {
		ct := gosip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
		req.SetBody(bytes.Clone(s.local))
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := s.ua.send(ctx, s.tc, req)
	if err != nil {
		s.log.Warn("session refresh not sent", zap.Stringer("method", method), zap.Error(err))
		return errSessionExpired{"session refresh not sent: " + err.Error()}
	}
	if method == gosip.INVITE {
		tx.OnRetransmission(func(res *gosip.Response) {
			if res.IsSuccess() {
				s.ack(req) // the run goroutine's ACK was lost: the same again
			}
		})
	}
	s.log.Debug("session refresh sent", zap.Stringer("method", method), zap.Duration("interval", s.interval))
	s.tx, s.txReq = tx, req
	return nil
}

// ack ACKs a 2xx to our refresh re-INVITE.
func (s *sessionTimer) ack(inv *gosip.Request) {
	ack := s.ua.dialogRequest(s.dlg, gosip.ACK, inv.CSeq().SeqNo)
	if err := s.ua.write(s.tc, ack); err != nil {
		s.log.Warn("ACK for the refresh not sent", zap.Error(err))
	}
}

// onResponse takes a response to our refresh. A non-nil error ends the
// call (RFC 4028 10: 408, 481).
func (s *sessionTimer) onResponse(res *gosip.Response) error {
	if res.IsProvisional() {
		return nil
	}
	req := s.txReq
	s.tx, s.txReq = nil, nil
	switch {
	case res.IsSuccess():
		if req.Method == gosip.INVITE {
			s.ack(req)
		}
		s.tried422 = false
		s.log.Debug("session refreshed", zap.Int("code", res.StatusCode))
		s.fromResponse(res)
		return nil
	case res.StatusCode == 422 && !s.tried422:
		if h := res.GetHeader("Min-SE"); h != nil {
			if m, err := parseMinSE(h.Value()); err == nil && m > s.interval {
				s.tried422 = true
				s.log.Info("session refresh: interval too small; retrying", zap.Duration("minSE", m))
				s.interval = m
				return s.sendRefresh()
			}
		}
	case res.StatusCode == gosip.StatusRequestTimeout || res.StatusCode == gosip.StatusCallTransactionDoesNotExists:
		s.log.Warn("session refresh failed: the dialog is gone", zap.Int("code", res.StatusCode))
		return errSessionExpired{fmt.Sprintf("session refresh refused: %d %s", res.StatusCode, res.Reason)}
	}
	// The session still stands: try again before it expires.
	s.log.Info("session refresh refused; trying again", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
	stop(&s.timer)
	s.timer = time.NewTimer(s.interval / refreshRetryDiv)
	return nil
}

// onTxDone: our refresh got no final response (RFC 4028 10: end the call).
func (s *sessionTimer) onTxDone() error {
	err := s.tx.Err()
	s.tx, s.txReq = nil, nil
	s.log.Warn("session refresh got no response", zap.Error(err))
	return errSessionExpired{"no response to the session refresh"}
}

// onRequest answers the peer's UPDATE or re-INVITE: a refresh is answered
// 200 (with our current SDP when the request has SDP or is an INVITE), and
// its Session-Expires re-arms the timer; a new offer (another o= version)
// gets 488, which leaves the session as it was. nil s: the dialog is not
// confirmed yet (491).
func (s *sessionTimer) onRequest(q inDialogReq, u *UA) {
	defer close(q.done)
	req, tx := q.req, q.tx
	if s == nil {
		u.respond(req, tx, gosip.StatusRequestPending, "Request Pending")
		return
	}
	if !s.admit(req, tx, u) {
		return
	}
	offer := sdpOf(req)
	if len(offer) > 0 && sdpOrigin(offer) != s.remote {
		s.log.Info("re-offer with new SDP refused: not supported", zap.Stringer("method", req.Method))
		u.respond(req, tx, gosip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	res := gosip.NewResponseFromRequest(req, gosip.StatusOK, "OK", nil)
	res.AppendHeader(u.contact(req.Transport()))
	res.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	res.AppendHeader(gosip.NewHeader("Server", u.userAgent))
	s.decorate(req, res)
	if (len(offer) > 0 || req.Method == gosip.INVITE) && len(s.local) > 0 {
		ct := gosip.ContentTypeHeader("application/sdp")
		res.AppendHeader(&ct)
		res.SetBody(bytes.Clone(s.local))
	}
	if err := tx.Respond(res); err != nil {
		s.log.Warn("refresh not answered", zap.Error(err))
		return
	}
	s.refreshed(req)
	s.log.Debug("session refresh answered", zap.Stringer("method", req.Method), zap.Duration("interval", s.interval))
}

// isRefresh reports whether req (UPDATE or re-INVITE from the peer) only
// refreshes the session: an UPDATE without SDP, or the peer's current SDP
// again (the same o= version). Anything else is a new offer (reoffer.go).
func (s *sessionTimer) isRefresh(req *gosip.Request) bool {
	offer := sdpOf(req)
	if len(offer) == 0 {
		return req.Method == gosip.UPDATE
	}
	return s.remote != "" && sdpOrigin(offer) == s.remote
}

// admit checks req's Session-Expires (RFC 4028 9): a malformed one gets
// 400 and an interval below our Min-SE 422. false: req was answered.
func (s *sessionTimer) admit(req *gosip.Request, tx gosip.ServerTransaction, u *UA) bool {
	se, hasSE, err := headerSE(req)
	if err != nil {
		s.log.Info("in-dialog request refused: bad Session-Expires", zap.Error(err))
		u.respond(req, tx, gosip.StatusBadRequest, "Bad Request (malformed Session-Expires)")
		return false
	}
	if hasSE && se.interval < s.conf.minSE {
		u.respond(req, tx, 422, "Session Interval Too Small",
			gosip.NewHeader("Min-SE", strconv.Itoa(int(s.conf.minSE/time.Second))))
		return false
	}
	return true
}

// decorate adds to res, our 2xx to req, the session timer's headers.
func (s *sessionTimer) decorate(req *gosip.Request, res *gosip.Response) {
	if res.GetHeader("Supported") == nil {
		res.AppendHeader(gosip.NewHeader("Supported", supportedOptions))
	}
	se, hasSE, _ := headerSE(req)
	if !hasSE || s.conf.expires == 0 {
		return
	}
	if se.refresher == "" {
		se.refresher = "uac" // the peer asked; the peer refreshes
	}
	res.AppendHeader(gosip.NewHeader("Session-Expires", se.String()))
	if supports(req, "timer") {
		res.AppendHeader(gosip.NewHeader("Require", "timer"))
	}
}

// refreshed re-arms the timer after our 2xx to req: every successful
// re-INVITE or UPDATE refreshes the session (RFC 4028 10).
func (s *sessionTimer) refreshed(req *gosip.Request) {
	se, hasSE, _ := headerSE(req)
	if !hasSE || s.conf.expires == 0 {
		s.arm(0, false)
		return
	}
	if se.refresher == "" {
		se.refresher = "uac"
	}
	s.arm(se.interval, se.refresher == "uas")
}

// inDialogOffer answers a re-INVITE or UPDATE from the trunk in a dialog
// with session timer st (nil before the dialog is confirmed) and offer
// machinery ro: a pure refresh is the timer's to answer, a new offer ro's
// (which keeps st's view of both SDPs current and re-arms it).
func inDialogOffer(u *UA, ro *offerRun, st *sessionTimer, ir inDialogReq, confirmed bool, d *dialog) {
	if st != nil && confirmed && !ro.busy() && (ro.o.handler() == nil || st.isRefresh(ir.req)) {
		st.onRequest(ir, u)
		return
	}
	ro.onRequest(ir, confirmed, d)
}

// sessionAnswer puts the session timer on our 2xx to an inbound INVITE
// (RFC 4028 9) and returns the interval (0: none) and whether we refresh:
// the INVITE's interval (already checked against our Min-SE) or ours, and
// its refresher, or us when it names none.
func sessionAnswer(sc sessionConf, inv *gosip.Request, res *gosip.Response) (time.Duration, bool) {
	if sc.expires == 0 {
		return 0, false
	}
	res.AppendHeader(gosip.NewHeader("Supported", supportedOptions))
	se, ok, _ := headerSE(inv)
	if !ok {
		se = sessionExpires{interval: sc.expires}
	}
	if se.refresher == "" {
		se.refresher = "uas"
	}
	res.AppendHeader(gosip.NewHeader("Session-Expires", se.String()))
	if supports(inv, "timer") {
		res.AppendHeader(gosip.NewHeader("Require", "timer"))
	}
	return se.interval, se.refresher == "uas"
}

// sessionFloor is Options.SessionTimerFloor with its default.
func sessionFloor(f time.Duration) time.Duration {
	if f <= 0 {
		return defaultMinSE
	}
	return f
}

// checkSessionFloor checks the trunks' MinSE against the UA's floor.
func checkSessionFloor(trunks []Trunk, floor time.Duration) error {
	for _, t := range trunks {
		if _, err := sessionConfOf(t, floor); err != nil {
			return fmt.Errorf("sip: trunk %q: %w", t.Name, err)
		}
	}
	return nil
}

// retry422 sends the INVITE again asking for the interval a 422 demands,
// once (RFC 4028 7.4), and reports whether it did.
func (r *callRun) retry422(res *gosip.Response) bool {
	c := r.c
	if r.tried422 || r.cause != causeNone || c.trunk.session.expires == 0 {
		return false
	}
	req, interval, ok := c.ua.retry422(r.req, res, r.cseq+1)
	if !ok {
		c.log.Warn("422 without a usable larger Min-SE")
		return false
	}
	r.tried422 = true
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := c.ua.send(ctx, &c.trunk, req)
	if err != nil {
		c.log.Warn("INVITE with a larger session interval not sent", zap.Error(err))
		r.finish(r.failedErr(503, fmt.Errorf("sip: send INVITE: %w: %w", ErrTransport, err)))
		return true
	}
	c.log.Info("session interval too small for the trunk; INVITE sent again", zap.Duration("interval", interval))
	tx.OnRetransmission(c.onRetransmission)
	r.req, r.tx, r.cseq = req, tx, r.cseq+1
	r.phase = phaseCalling
	r.inviteTimer = time.NewTimer(c.inviteTimeout())
	return true
}

// startSessionTimer sets up the answered call's session timer from its 2xx.
func (r *callRun) startSessionTimer(res *gosip.Response) {
	c := r.c
	r.st = &sessionTimer{
		ua: c.ua, log: c.log, tc: &c.trunk, conf: c.trunk.session, dlg: r.dlg, cseq: &r.cseq,
		local: c.invite.Body(), remote: sdpOrigin(sdpOf(res)),
		useUpdate: hasOption(res, string(gosip.UPDATE), "Allow"),
	}
	r.st.fromResponse(res) // also when we asked for none: the trunk may impose one

}

// sessionEnd ends the call with BYE when the session timer says it is over.
func (r *callRun) sessionEnd(err error) {
	if err == nil || r.phase != phaseAnswered {
		return
	}
	r.st.close()
	r.c.log.Warn("session timer ends the call", zap.Error(err))
	r.sendBye(Event{Kind: EventEnded, SessionExpired: true, Err: err})
}

// startSessionTimer sets up the inbound dialog's session timer as our 2xx
// (answer) said.
func (r *uasRun) startSessionTimer(answer []byte, interval time.Duration, weRefresh bool) {
	in := r.in
	r.st = &sessionTimer{
		ua: in.ua, log: in.log, conf: in.session, dlg: r.dlg, cseq: &r.cseq,
		local: bytes.Clone(answer), remote: sdpOrigin(in.SDP),
		useUpdate: hasOption(in.req, string(gosip.UPDATE), "Allow"),
	}
	r.st.arm(interval, weRefresh)
}

// sessionEnd ends the dialog with BYE when the session timer says it is over.
func (r *uasRun) sessionEnd(err error) {
	if err == nil || r.phase != uasConfirmed {
		return
	}
	r.st.close()
	r.in.log.Warn("session timer ends the call", zap.Error(err))
	r.sendBye(Event{Kind: EventEnded, SessionExpired: true, Err: err})
}
