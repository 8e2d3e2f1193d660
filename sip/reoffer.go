package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Offers within a dialog, outbound (Call) or inbound (InboundInvite):
//
//   - a re-INVITE or UPDATE from the trunk with SDP (RFC 3261 14.2, RFC
//     3311): the dialog's SessionHandler answers it (AnswerOffer) and the
//     answer goes in our 200 OK, with Contact; the 2xx to a re-INVITE is
//     retransmitted until its ACK (64*T1, then BYE). An offer the handler
//     refuses gets 488 and leaves the session as it was;
//   - a re-INVITE without SDP: we offer in the 200 (Offer), the trunk
//     answers in the ACK (ApplyAnswer); an ACK without a usable answer
//     ends the call with BYE;
//   - our own re-INVITE (Reinvite: hold and resume from the rep): 2xx is
//     ACKed and its SDP returned; 491 is retried after RFC 3261 14.1's
//     random delay; any other failure leaves the call as it was.
//
// Glare: a re-INVITE from the trunk while ours is pending gets 491; a
// second one before the ACK of the first, 500 with Retry-After (14.2).
// Without a SessionHandler, in-dialog offers get 488 as before.

// SessionHandler is what a dialog needs from the call's media to answer the
// trunk's in-dialog offers. Its methods are called from the dialog's
// goroutine and must not block for long.
type SessionHandler interface {
	// AnswerOffer applies the trunk's offer and returns our answer. An
	// error leaves the session as it was (the request gets 488).
	AnswerOffer(offer []byte) (answer []byte, err error)
	// Offer returns a new offer of ours, for a re-INVITE without SDP.
	Offer() ([]byte, error)
	// ApplyAnswer applies the trunk's answer (in an ACK) to an Offer, or
	// to the offer of an inbound call's 200 when its INVITE had no SDP.
	ApplyAnswer(answer []byte) error
}

// ErrGlare: our re-INVITE met the trunk's (491) too often.
var ErrGlare = errors.New("sip: re-INVITE glare (491) persisted")

// inDialogReq is a re-INVITE or UPDATE from the trunk, handed to run; done
// is closed once it has its final response.
type inDialogReq struct {
	req  *gosip.Request
	tx   gosip.ServerTransaction
	done chan struct{}
}

// reinviteCmd is a Reinvite call handed to run.
type reinviteCmd struct {
	sdp []byte
	res chan reinviteResult
}

type reinviteResult struct {
	answer []byte
	err    error
}

// dialogOffers are the channels into run for in-dialog offers, and the
// handler; shared by Call and InboundInvite.
type dialogOffers struct {
	reqs      chan inDialogReq
	acks      chan *gosip.Request // ACKs of our 2xx to re-INVITEs (outbound calls)
	reinvites chan reinviteCmd
	gone      chan struct{} // closed when run is over
	goneOnce  sync.Once

	mu sync.Mutex // guards h
	h  SessionHandler
}

func newDialogOffers(h SessionHandler) *dialogOffers {
	return &dialogOffers{
		reqs:      make(chan inDialogReq),
		acks:      make(chan *gosip.Request, 1),
		reinvites: make(chan reinviteCmd),
		gone:      make(chan struct{}),
		h:         h,
	}
}

func (o *dialogOffers) handler() SessionHandler {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.h
}

func (o *dialogOffers) over() { o.goneOnce.Do(func() { close(o.gone) }) }

// submit hands a re-INVITE or UPDATE to run and waits for its final
// response; 481 when the dialog is over.
func (o *dialogOffers) submit(u *UA, req *gosip.Request, tx gosip.ServerTransaction) {
	ir := inDialogReq{req: req, tx: tx, done: make(chan struct{})}
	select {
	case o.reqs <- ir:
		<-ir.done
	case <-o.gone:
		u.respond(req, tx, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}
}

// reinvite hands our re-INVITE to run and waits for its outcome.
func (o *dialogOffers) reinvite(ctx context.Context, sdp []byte) ([]byte, error) {
	if len(sdp) == 0 {
		return nil, errors.New("sip: Reinvite: an SDP offer is required")
	}
	cmd := reinviteCmd{sdp: sdp, res: make(chan reinviteResult, 1)}
	select {
	case o.reinvites <- cmd:
	case <-o.gone:
		return nil, fmt.Errorf("sip: Reinvite: %w: the dialog is over", ErrDialogState)
	case <-ctx.Done():
		return nil, fmt.Errorf("sip: Reinvite: %w", ctx.Err())
	}
	r := <-cmd.res
	return r.answer, r.err
}

// SetSession sets the handler of the trunk's in-dialog offers (and of the
// answer in the ACK when the INVITE had no SDP). Nil: they get 488.
func (in *InboundInvite) SetSession(h SessionHandler) {
	in.offers.mu.Lock()
	in.offers.h = h
	in.offers.mu.Unlock()
}

// Reinvite sends a re-INVITE with offer (hold, resume) in the confirmed
// dialog and returns the trunk's answer once ACKed. It waits for the final
// response (and for 491 retries); any failure leaves the dialog as it was.
func (c *Call) Reinvite(ctx context.Context, offer []byte) ([]byte, error) {
	return c.offers.reinvite(ctx, offer)
}

// Reinvite is Call.Reinvite for an inbound call.
func (in *InboundInvite) Reinvite(ctx context.Context, offer []byte) ([]byte, error) {
	return in.offers.reinvite(ctx, offer)
}

// offerRun is the in-dialog offer state a dialog's run goroutine owns.
type offerRun struct {
	ua  *UA
	log *zap.Logger
	o   *dialogOffers
	tc  *trunkConf // for sending; nil for inbound dialogs
	// calleeBackoff: we did not make the Call-ID (inbound call): 491 is
	// retried after 0-2 s rather than 2.1-4 s (RFC 3261 14.1).
	calleeBackoff bool
	reliable      bool
	// st is the dialog's session timer (timer.go), nil until the dialog
	// is confirmed: offers answered here refresh it and keep its view of
	// both SDPs current.
	st **sessionTimer

	// The trunk's re-INVITE whose 2xx waits for its ACK.
	cur         *inDialogReq
	curRes      *gosip.Response
	curCSeq     uint32
	wantAnswer  bool // we offered in the 2xx: the ACK carries the answer
	retrans     *time.Timer
	retransWait time.Duration
	ackTimer    *time.Timer

	// Our re-INVITE.
	out        *reinviteCmd
	outReq     *gosip.Request
	outTx      gosip.ClientTransaction
	retryTimer *time.Timer
	glares     int
	authTried  bool // our re-INVITE was sent again with credentials
	// dead: our re-INVITE got 481 or 408, so the dialog is gone (RFC 3261
	// 14.1): run ends the call with BYE.
	dead error
}

// timer is the dialog's session timer, or nil.
func (r *offerRun) timer() *sessionTimer {
	if r.st == nil {
		return nil
	}
	return *r.st
}

// busy reports whether an offer exchange is under way.
func (r *offerRun) busy() bool { return r.cur != nil || r.out != nil }

func (r *offerRun) stopTimers() {
	stop(&r.retrans)
	stop(&r.ackTimer)
	stop(&r.retryTimer)
	if r.outTx != nil {
		r.outTx.Terminate()
		r.outTx = nil
	}
	if r.out != nil {
		r.out.res <- reinviteResult{err: fmt.Errorf("sip: Reinvite: %w: the dialog ended", ErrDialogState)}
		r.out = nil
	}
}

// response builds a response to an in-dialog request: Allow, Server, and
// for 2xx our Contact (RFC 3261 12.1.1, Janus #3286) and the SDP.
func (r *offerRun) response(req *gosip.Request, code int, reason string, sdp []byte) *gosip.Response {
	res := gosip.NewResponseFromRequest(req, code, reason, nil)
	if code >= 200 && code < 300 {
		res.AppendHeader(r.ua.contact(req.Transport()))
	}
	res.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	res.AppendHeader(gosip.NewHeader("Server", r.ua.userAgent))
	if len(sdp) > 0 {
		ct := gosip.ContentTypeHeader("application/sdp")
		res.AppendHeader(&ct)
		res.SetBody(sdp)
	}
	return res
}

func (r *offerRun) reply(ir inDialogReq, res *gosip.Response) {
	if err := ir.tx.Respond(res); err != nil {
		r.log.Warn("response to in-dialog request not sent", zap.Int("code", res.StatusCode), zap.Error(err))
	}
}

// refuse answers ir with code and a Warning (RFC 3261 20.43) naming why.
func (r *offerRun) refuse(ir inDialogReq, code int, reason, why string) {
	res := r.response(ir.req, code, reason, nil)
	if code == gosip.StatusInternalServerError {
		res.AppendHeader(gosip.NewHeader("Retry-After", "1"))
	}
	if why != "" {
		res.AppendHeader(gosip.NewHeader("Warning", `399 hubline "`+warnText(why)+`"`))
	}
	r.reply(ir, res)
	close(ir.done)
}

// warnText makes s safe as a Warning's quoted text: no control characters
// (header injection), no quotes or backslashes, at most 200 bytes.
func warnText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case b.Len() >= 200:
			return b.String()
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		case r == '"' || r == '\\':
			b.WriteByte('\'')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// onRequest handles a re-INVITE or UPDATE from the trunk in dialog d.
// confirmed says whether the dialog is (ACKed 2xx, no BYE sent). Both are
// target refresh requests: once accepted, their Contact is the dialog's
// remote target (RFC 3261 12.2.2).
func (r *offerRun) onRequest(ir inDialogReq, confirmed bool, d *dialog) {
	method := ir.req.Method
	log := r.log.With(zap.Stringer("method", method))
	switch {
	case !confirmed:
		log.Info("in-dialog offer before the dialog is confirmed: 500, retry later")
		r.refuse(ir, gosip.StatusInternalServerError, "Server Internal Error", "dialog not confirmed yet")
		return
	case r.out != nil:
		log.Info("glare: our re-INVITE is pending: 491")
		r.refuse(ir, gosip.StatusRequestPending, "Request Pending", "")
		return
	case r.cur != nil:
		log.Info("in-dialog offer before the ACK of the previous one: 500, retry later")
		r.refuse(ir, gosip.StatusInternalServerError, "Server Internal Error", "previous re-INVITE not acknowledged")
		return
	}
	st := r.timer()
	if st != nil && !st.admit(ir.req, ir.tx, r.ua) {
		close(ir.done)
		return
	}
	h := r.o.handler()
	if h == nil {
		log.Info("in-dialog offer refused: no session handler")
		r.refuse(ir, gosip.StatusNotAcceptableHere, "Not Acceptable Here", "session changes not supported")
		return
	}
	body := ir.req.Body()
	offer := sdpOf(ir.req)
	if len(body) > 0 && len(offer) == 0 {
		log.Info("in-dialog offer refused: body is not SDP")
		r.refuse(ir, gosip.StatusUnsupportedMediaType, "Unsupported Media Type", "only application/sdp")
		return
	}
	var sdp []byte
	var err error
	switch {
	case len(offer) > 0:
		sdp, err = h.AnswerOffer(offer)
		if err != nil {
			log.Info("in-dialog offer refused: 488; the session stays as it was", zap.Error(err))
			r.refuse(ir, gosip.StatusNotAcceptableHere, "Not Acceptable Here", err.Error())
			return
		}
	case method == gosip.UPDATE:
		// A session refresh without SDP: nothing changes.
	default:
		sdp, err = h.Offer()
		if err != nil {
			log.Warn("no offer for a re-INVITE without SDP", zap.Error(err))
			r.refuse(ir, gosip.StatusInternalServerError, "Server Internal Error", err.Error())
			return
		}
	}
	res := r.response(ir.req, gosip.StatusOK, "OK", sdp)
	if st != nil {
		st.decorate(ir.req, res)
	}
	r.reply(ir, res)
	if st != nil {
		st.refreshed(ir.req)
		if len(offer) > 0 {
			st.remote = sdpOrigin(offer)
		}
		if len(sdp) > 0 {
			st.local = sdp // what a refresh re-INVITE of ours sends again
		}
	}
	if ct := ir.req.Contact(); ct != nil && !ct.Address.Wildcard && d != nil {
		d.target = *ct.Address.Clone()
	}
	log.Info("in-dialog offer answered", zap.Bool("withOffer", len(offer) > 0))
	if method != gosip.INVITE {
		close(ir.done)
		return
	}
	r.cur, r.curRes, r.wantAnswer = &ir, res, len(offer) == 0
	r.curCSeq = ir.req.CSeq().SeqNo
	r.ackTimer = time.NewTimer(r.ua.timers.ack)
	if !r.reliable {
		r.retransWait = gosip.T1
		r.retrans = time.NewTimer(r.retransWait)
	}
	close(ir.done)
}

// curAcks is the pending re-INVITE's transaction's ACK channel, or nil.
func (r *offerRun) curAcks() <-chan *gosip.Request {
	if r.cur == nil {
		return nil
	}
	return r.cur.tx.Acks()
}

// onAck takes an ACK if it is for the pending re-INVITE's 2xx; it reports
// whether it was, and an error when the ACK's answer is missing or
// unusable (the caller ends the call).
func (r *offerRun) onAck(ack *gosip.Request) (mine bool, err error) {
	if r.cur == nil || ack.CSeq() == nil || ack.CSeq().SeqNo != r.curCSeq {
		return false, nil
	}
	stop(&r.retrans)
	stop(&r.ackTimer)
	r.cur, r.curRes = nil, nil
	if !r.wantAnswer {
		return true, nil
	}
	ans := sdpOf(ack)
	if len(ans) == 0 {
		return true, errors.New("sip: the ACK of a re-INVITE without SDP has no answer")
	}
	if h := r.o.handler(); h != nil {
		if err := h.ApplyAnswer(ans); err != nil {
			return true, fmt.Errorf("sip: the answer in the ACK is unusable: %w", err)
		}
	}
	if st := r.timer(); st != nil {
		st.remote = sdpOrigin(ans)
	}
	return true, nil
}

// retransmit re-sends the pending 2xx (T1 doubling to T2).
func (r *offerRun) retransmit() {
	r.retrans = nil
	if r.cur == nil {
		return
	}
	if err := r.cur.tx.Respond(r.curRes); err != nil {
		r.log.Debug("2xx to re-INVITE not retransmitted", zap.Error(err))
	}
	r.retransWait = min(2*r.retransWait, gosip.T2)
	r.retrans = time.NewTimer(r.retransWait)
}

// onAckTimeout: no ACK for our 2xx to a re-INVITE. The caller ends the call.
func (r *offerRun) onAckTimeout() error {
	r.ackTimer = nil
	stop(&r.retrans)
	r.cur, r.curRes = nil, nil
	return fmt.Errorf("sip: %w: no ACK for the 2xx to a re-INVITE", ErrTimeout)
}

// startReinvite sends our re-INVITE (cmd) in dialog d with CSeq cseq, or
// fails cmd at once when the dialog cannot take one.
func (r *offerRun) startReinvite(cmd reinviteCmd, d *dialog, cseq *uint32, confirmed bool) {
	switch {
	case !confirmed || d == nil:
		cmd.res <- reinviteResult{err: fmt.Errorf("sip: Reinvite: %w: the call is not answered", ErrDialogState)}
		return
	case r.busy():
		cmd.res <- reinviteResult{err: fmt.Errorf("sip: Reinvite: %w: an offer is under way", ErrDialogState)}
		return
	}
	r.out, r.glares, r.authTried = &cmd, 0, false
	r.sendReinvite(d, cseq)
}

func (r *offerRun) sendReinvite(d *dialog, cseq *uint32) {
	*cseq++
	req := r.ua.dialogRequest(d, gosip.INVITE, *cseq)
	req.AppendHeader(r.ua.contact(req.Transport()))
	req.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	ct := gosip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(r.out.sdp)
	r.sendOut(d, req)
}

// sendOut starts the transaction of our re-INVITE req.
func (r *offerRun) sendOut(d *dialog, req *gosip.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := r.ua.send(ctx, r.tc, req)
	if err != nil {
		r.finishOut(nil, fmt.Errorf("sip: send re-INVITE: %w: %w", ErrTransport, err))
		return
	}
	// Built now: the hook runs on sipgo's goroutines, and the dialog is
	// run's.
	ack := r.ua.dialogRequest(d, gosip.ACK, req.CSeq().SeqNo)
	tx.OnRetransmission(func(res *gosip.Response) { // a retransmitted 2xx: ACK again
		if res.IsSuccess() {
			_ = r.ua.write(r.tc, ack.Clone())
		}
	})
	r.outReq, r.outTx = req, tx
	r.log.Info("re-INVITE sent", zap.Uint32("cseq", req.CSeq().SeqNo))
}

func (r *offerRun) outResponses() <-chan *gosip.Response {
	if r.outTx == nil {
		return nil
	}
	return r.outTx.Responses()
}

func (r *offerRun) outDone() <-chan struct{} {
	if r.outTx == nil {
		return nil
	}
	return r.outTx.Done()
}

func (r *offerRun) finishOut(answer []byte, err error) {
	if r.out != nil {
		r.out.res <- reinviteResult{answer: answer, err: err}
	}
	r.out, r.outReq, r.outTx = nil, nil, nil
}

// onOutResponse handles a response to our re-INVITE in dialog d, whose
// last CSeq is *cseq.
func (r *offerRun) onOutResponse(res *gosip.Response, d *dialog, cseq *uint32) {
	if res.IsProvisional() {
		return
	}
	switch {
	case res.IsSuccess():
		ack := r.ua.dialogRequest(d, gosip.ACK, r.outReq.CSeq().SeqNo)
		if err := r.ua.write(r.tc, ack); err != nil {
			r.log.Warn("ACK of re-INVITE not sent", zap.Error(err))
		}
		ans := sdpOf(res)
		if len(ans) == 0 {
			r.finishOut(nil, errors.New("sip: re-INVITE answered without SDP"))
			return
		}
		r.log.Info("re-INVITE answered", zap.Int("code", res.StatusCode))
		if st := r.timer(); st != nil {
			st.local, st.remote = r.outReq.Body(), sdpOrigin(ans)
		}
		r.finishOut(ans, nil)
	case res.StatusCode == gosip.StatusRequestPending && r.glares < 3:
		r.glares++
		wait := time.Duration(2100+rand.IntN(1900)) * time.Millisecond
		if r.calleeBackoff {
			wait = time.Duration(rand.IntN(2000)) * time.Millisecond
		}
		r.log.Info("re-INVITE glare (491): retrying", zap.Duration("after", wait))
		r.outTx = nil
		r.retryTimer = time.NewTimer(wait)
	case res.StatusCode == gosip.StatusRequestPending:
		r.finishOut(nil, ErrGlare)
	case (res.StatusCode == gosip.StatusUnauthorized || res.StatusCode == gosip.StatusProxyAuthRequired) &&
		!r.authTried && r.tc != nil && (r.tc.user != "" || r.tc.pass != ""):
		// Some trunks challenge every INVITE, re-INVITEs too.
		r.authTried = true
		req, err := r.ua.withCredentials(r.outReq, res, r.tc.user, r.tc.pass, *cseq+1)
		if err != nil {
			r.log.Warn("cannot answer the re-INVITE's digest challenge", zap.Error(err))
			r.finishOut(nil, &StatusError{Code: res.StatusCode, Reason: res.Reason})
			return
		}
		*cseq++
		r.log.Debug("re-INVITE sent again with credentials", zap.Int("challenge", res.StatusCode))
		r.sendOut(d, req)
	case res.StatusCode == gosip.StatusCallTransactionDoesNotExists || res.StatusCode == gosip.StatusRequestTimeout:
		r.log.Warn("re-INVITE: the dialog is gone; ending the call", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
		err := &StatusError{Code: res.StatusCode, Reason: res.Reason}
		r.finishOut(nil, err)
		r.dead = fmt.Errorf("sip: re-INVITE: the dialog is gone: %w", err)
	default:
		r.log.Info("re-INVITE refused; the session stays as it was", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
		r.finishOut(nil, &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
}

// retry sends our re-INVITE again after a 491.
func (r *offerRun) retry(d *dialog, cseq *uint32, confirmed bool) {
	if r.out == nil {
		return
	}
	if !confirmed {
		r.finishOut(nil, fmt.Errorf("sip: Reinvite: %w: the call is over", ErrDialogState))
		return
	}
	r.sendReinvite(d, cseq)
}

// onOutDone: our re-INVITE's transaction ended; a final response may still
// be queued.
func (r *offerRun) onOutDone(d *dialog, cseq *uint32) {
	select {
	case res := <-r.outTx.Responses():
		r.onOutResponse(res, d, cseq)
		if r.outTx == nil || !res.IsProvisional() {
			return
		}
	default:
	}
	if r.outTx == nil {
		return
	}
	err := r.outTx.Err()
	r.finishOut(nil, fmt.Errorf("sip: re-INVITE: %w: %w", ErrTimeout, err))
}

// StatusError is a final non-2xx response to a request of ours.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return fmt.Sprintf("sip: %d %s", e.Code, e.Reason) }

// handleInDialogOffer takes a re-INVITE or UPDATE from the trunk to the
// dialog it belongs to; 481 when none.
func (u *UA) handleInDialogOffer(req *gosip.Request, tx gosip.ServerTransaction) {
	if toTag(req) != "" {
		if c := u.lookup(req); c != nil {
			c.offers.submit(u, req, tx)
			return
		}
		if in := u.lookupInbound(req); in != nil {
			in.offers.submit(u, req, tx)
			return
		}
	}
	u.noDialog(req, tx)
}
