package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Call is one outbound INVITE dialog, placed by Dial. Its SIP state belongs
// to one goroutine (run), fed by its transactions, its timers, Hangup, the
// BYEs the UA receives for it, and Close. Its events reach onEvent in order
// from another goroutine (deliver), so that run never waits for onEvent and
// onEvent may call Hangup.
type Call struct {
	// Set by newCall and Dial before the goroutines start; read-only afterwards.
	ua       *UA
	id       string // Call-ID
	log      *zap.Logger
	trunk    trunkConf
	ring     time.Duration // the ring timeout of this INVITE
	inv      Invite
	localTag string // our From tag
	onEvent  func(Event)
	invite   *gosip.Request          // the first INVITE
	inviteTx gosip.ClientTransaction // its transaction
	offers   *dialogOffers           // in-dialog offers both ways (reoffer.go)

	// Channels into run.
	hangupOnce sync.Once
	hangup     chan struct{}        // closed by Hangup
	byes       chan *gosip.Request  // BYEs from the trunk, already answered with 200
	late2xx    chan *gosip.Response // 2xx that came before run took the first one in
	dlgReqs    chan dlgReq          // in-dialog requests to send (refer.go)
	done       chan struct{}        // closed when run returns

	evMu    sync.Mutex // guards evQueue
	evQueue []Event
	evReady chan struct{} // capacity 1: evQueue has events for deliver

	// Written by run once the call is answered; read by sipgo's goroutines
	// (retransmitted 2xx, stray responses, BYE matching).
	ackMu     sync.Mutex // guards ack and remoteTag
	ack       *gosip.Request
	remoteTag string

	info infoDialog // INFO in the dialog (info.go)
}

// newCall prepares a call; Dial registers it and sends its INVITE.
func (u *UA) newCall(tr trunkConf, inv Invite, onEvent func(Event), ring time.Duration) *Call {
	return &Call{
		ua:       u,
		id:       inv.CallID,
		log:      u.log.With(zap.String("sipCallId", inv.CallID), zap.String("trunk", tr.name)),
		trunk:    tr,
		ring:     ring,
		inv:      inv,
		localTag: gosip.GenerateTagN(16),
		onEvent:  onEvent,
		hangup:   make(chan struct{}),
		byes:     make(chan *gosip.Request, 1),
		late2xx:  make(chan *gosip.Response, 4),
		dlgReqs:  make(chan dlgReq),
		done:     make(chan struct{}),
		evReady:  make(chan struct{}, 1),
		offers:   newDialogOffers(inv.Session),
	}
}

// Hangup ends the call: CANCEL before a final response (sent once a
// provisional response has arrived, RFC 3261 9.1), BYE after answer. It
// does not wait: the outcome arrives as the call's last event (EventFailed
// with Canceled, or EventEnded). Calling it again, or after the call ended,
// does nothing. It may be called from onEvent. ctx is not used: nothing
// waits.
func (c *Call) Hangup(ctx context.Context) error {
	c.hangupOnce.Do(func() { close(c.hangup) })
	return nil
}

// inviteTimeout is how long the INVITE may go without any response.
func (c *Call) inviteTimeout() time.Duration {
	if c.trunk.inviteTimeout > 0 {
		return c.trunk.inviteTimeout
	}
	return c.ua.timers.invite
}

// goroutinesDone releases the count register took for the call's
// goroutines, when they never start (Dial could not send the INVITE).
func (c *Call) goroutinesDone() {
	c.ua.callWG.Done()
	if c.onEvent != nil {
		c.ua.callWG.Done()
	}
}

// emit queues ev for deliver; it never blocks.
func (c *Call) emit(ev Event) {
	ev.Trunk = c.trunk.name
	c.log.Debug("call event", zap.Stringer("kind", ev.Kind), zap.Int("code", ev.Code),
		zap.Bool("canceled", ev.Canceled), zap.Bool("ringTimeout", ev.RingTimeout), zap.Error(ev.Err))
	if c.onEvent == nil {
		return
	}
	c.evMu.Lock()
	c.evQueue = append(c.evQueue, ev)
	c.evMu.Unlock()
	select {
	case c.evReady <- struct{}{}:
	default:
	}
}

// deliver hands the queued events to onEvent, in order, until the last one.
func (c *Call) deliver() {
	defer c.ua.callWG.Done()
	for {
		<-c.evReady
		c.evMu.Lock()
		q := c.evQueue
		c.evQueue = nil
		c.evMu.Unlock()
		for _, ev := range q {
			c.onEvent(ev)
			if ev.Kind.final() {
				return
			}
		}
	}
}

// final reports whether k ends a call: nothing follows it.
func (k EventKind) final() bool {
	return k == EventFailed || k == EventHangup || k == EventEnded
}

// remoteBye passes a BYE from the trunk (already answered) to run.
func (c *Call) remoteBye(req *gosip.Request) {
	select {
	case c.byes <- req:
	default: // one is pending already: that one ends the call
	}
}

// setAck records the dialog's ACK and remote tag, for retransmitted 2xx.
func (c *Call) setAck(ack *gosip.Request, remoteTag string) {
	c.ackMu.Lock()
	c.ack, c.remoteTag = ack, remoteTag
	c.ackMu.Unlock()
}

// reack re-sends our ACK for a retransmission of the 2xx we answered, and
// ACKs and BYEs a 2xx from another fork (RFC 3261 13.2.2.4). It reports
// false when the call has no ACK yet (run has not taken the 2xx in): the
// caller treats the response as unknown.
func (c *Call) reack(res *gosip.Response) bool {
	c.ackMu.Lock()
	ack, remote := c.ack, c.remoteTag
	c.ackMu.Unlock()
	if ack == nil {
		return false
	}
	if tag := toTag(res); tag != remote {
		c.log.Info("2xx from another fork; ACK and BYE it", zap.String("toTag", tag))
		c.ua.ackAndBye(res)
		return true
	}
	c.log.Debug("retransmitted 2xx; ACK again")
	if err := c.ua.write(&c.trunk, ack.Clone()); err != nil {
		c.log.Warn("ACK not re-sent", zap.Error(err))
	}
	return true
}

// onRetransmission is the INVITE transactions' hook for the 2xx after the
// first (sipgo passes them there, not on Responses, RFC 6026):
// retransmissions, and 2xx from other forks. It may run before run has
// taken the first 2xx in: then run gets the response after it.
func (c *Call) onRetransmission(res *gosip.Response) {
	if !res.IsSuccess() || c.reack(res) {
		return
	}
	select {
	case c.late2xx <- res:
	default: // more are queued already; the trunk retransmits
	}
}

// phase is where a call's INVITE dialog is.
type phase int

const (
	phaseCalling   phase = iota // INVITE sent, no response yet: CANCEL must wait
	phaseRinging                // a provisional response arrived
	phaseCanceling              // CANCEL sent: waiting for the INVITE's final response
	phaseAnswered               // 2xx ACKed: confirmed dialog
	phaseBye                    // BYE sent: waiting for its response
)

// cancelCause says why a call is being cancelled.
type cancelCause int

const (
	causeNone   cancelCause = iota
	causeHangup             // Hangup before a final response
	causeRing               // the ring timeout
)

// callRun is the state run owns: nothing else touches it.
type callRun struct {
	c     *Call
	phase phase
	cause cancelCause

	req       *gosip.Request          // the current INVITE (the first, or its authenticated retry)
	tx        gosip.ClientTransaction // its transaction; nil once a final response arrived
	cseq      uint32                  // last CSeq number used
	authTried bool
	dlg       *dialog
	earlyBye  *gosip.Request // a BYE that overtook the 2xx
	st        *sessionTimer  // once answered
	tried422  bool

	prackTx   gosip.ClientTransaction // PRACK for a reliable 18x (prack.go)
	prackTag  string                  // the To tag and RSeq of the last 18x PRACKed
	prackRSeq uint32

	cancelTx gosip.ClientTransaction
	byeTx    gosip.ClientTransaction
	outcome  Event // the last event, once BYE is sent

	inviteTimer, ringTimer, cancelTimer, byeTimer *time.Timer

	ro offerRun // in-dialog offers (reoffer.go)

	result *Event // set when the call is over
}

// run is the call's goroutine: it drives the INVITE, CANCEL and BYE
// transactions and emits the events, the last one last.
func (c *Call) run() {
	defer c.ua.callWG.Done()
	r := &callRun{
		c:           c,
		req:         c.invite,
		tx:          c.inviteTx,
		cseq:        c.invite.CSeq().SeqNo,
		inviteTimer: time.NewTimer(c.inviteTimeout()),
		ringTimer:   time.NewTimer(c.ring),
	}
	r.ro = offerRun{ua: c.ua, log: c.log, o: c.offers, tc: &c.trunk, reliable: gosip.IsReliable(c.invite.Transport()), st: &r.st}
	c.inviteTx.OnRetransmission(c.onRetransmission)
	ev := r.loop()
	r.st.close()
	r.endPrack()
	c.offers.over()
	r.ro.stopTimers()
	for _, t := range []*time.Timer{r.inviteTimer, r.ringTimer, r.cancelTimer, r.byeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.ua.unregister(c)
	close(c.done)
	c.log.Info("call over", zap.Stringer("event", ev.Kind), zap.Int("code", ev.Code),
		zap.String("reasonHeader", ev.ReasonHeader), zap.Bool("canceled", ev.Canceled),
		zap.Bool("ringTimeout", ev.RingTimeout), zap.Error(ev.Err))
	c.emit(ev)
}

func (r *callRun) loop() Event {
	c := r.c
	hangup, closing := c.hangup, c.ua.closing
	for r.result == nil {
		var (
			txRes      <-chan *gosip.Response
			txDone     <-chan struct{}
			cancelRes  <-chan *gosip.Response
			cancelDone <-chan struct{}
			byeRes     <-chan *gosip.Response
			byeDone    <-chan struct{}
		)
		if r.tx != nil {
			txRes, txDone = r.tx.Responses(), r.tx.Done()
		}
		if r.cancelTx != nil {
			cancelRes, cancelDone = r.cancelTx.Responses(), r.cancelTx.Done()
		}
		if r.byeTx != nil {
			byeRes, byeDone = r.byeTx.Responses(), r.byeTx.Done()
		}
		select {
		case res := <-txRes:
			r.onInviteResponse(res)
		case <-txDone:
			r.onInviteDone()
		case <-hangup:
			hangup = nil
			r.onHangup()
		case req := <-c.byes:
			r.onBye(req)
		case res := <-c.late2xx:
			if !c.reack(res) {
				c.ua.ackAndBye(res)
			}
		case <-timerC(r.inviteTimer):
			r.onInviteTimeout()
		case <-timerC(r.ringTimer):
			r.ringTimer = nil
			r.onRingTimeout()
		case <-timerC(r.cancelTimer):
			r.onCancelTimeout()
		case res := <-cancelRes:
			if !res.IsProvisional() {
				c.log.Debug("CANCEL answered", zap.Int("code", res.StatusCode))
				r.cancelTx = nil
			}
		case <-cancelDone:
			c.log.Warn("CANCEL got no response", zap.Error(r.cancelTx.Err()))
			r.cancelTx = nil
		case res := <-byeRes:
			r.onByeResponse(res)
		case <-byeDone:
			r.onByeDone()
		case <-timerC(r.byeTimer):
			r.onByeTimeout()
		case <-r.st.timerC():
			r.sessionEnd(r.st.onTimer())
		case res := <-r.st.responses():
			r.sessionEnd(r.st.onResponse(res))
		case <-r.st.txDone():
			r.sessionEnd(r.st.onTxDone())
		case res := <-r.prackResponses():
			r.onPrackResponse(res)
		case <-r.prackDone():
			r.onPrackDone()
		case q := <-c.dlgReqs:
			r.onDlgReq(q)
		case <-closing:
			r.onClose()
		case ir := <-c.offers.reqs:
			inDialogOffer(c.ua, &r.ro, r.st, ir, r.phase == phaseAnswered, r.dlg)
		case ack := <-c.offers.acks:
			r.onReofferAck(ack)
		case ack := <-r.ro.curAcks():
			r.onReofferAck(ack)
		case <-timerC(r.ro.retrans):
			r.ro.retransmit()
		case <-timerC(r.ro.ackTimer):
			if err := r.ro.onAckTimeout(); r.phase == phaseAnswered {
				c.log.Warn("no ACK for our 2xx to a re-INVITE; ending the call with BYE")
				r.sendBye(Event{Kind: EventEnded, Err: err})
			}
		case cmd := <-c.offers.reinvites:
			r.ro.startReinvite(cmd, r.dlg, &r.cseq, r.phase == phaseAnswered)
		case res := <-r.ro.outResponses():
			r.ro.onOutResponse(res, r.dlg, &r.cseq)
			if r.ro.dead != nil && r.phase == phaseAnswered {
				r.sendBye(Event{Kind: EventEnded, Err: r.ro.dead})
			}
		case <-r.ro.outDone():
			r.ro.onOutDone(r.dlg, &r.cseq)
		case <-timerC(r.ro.retryTimer):
			r.ro.retryTimer = nil
			r.ro.retry(r.dlg, &r.cseq, r.phase == phaseAnswered)
		}
	}
	return *r.result
}

// onReofferAck takes an ACK for our 2xx to a re-INVITE; an unusable
// answer in it ends the call (RFC 3261 14.2 leaves nothing else).
func (r *callRun) onReofferAck(ack *gosip.Request) {
	mine, err := r.ro.onAck(ack)
	if mine && err != nil && r.phase == phaseAnswered {
		r.c.log.Error("ending the call with BYE", zap.Error(err))
		r.sendBye(Event{Kind: EventEnded, Err: err})
	}
}

// timerC is t's channel; nil (never ready) for no timer.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func (r *callRun) finish(ev Event) { r.result = &ev }

// failed is the EventFailed of a call in its cancel state.
func (r *callRun) failed() Event {
	return Event{Kind: EventFailed, Canceled: r.cause == causeHangup, RingTimeout: r.cause == causeRing}
}

// failedBy is failed with the final response that ended the INVITE.
func (r *callRun) failedBy(res *gosip.Response) Event {
	ev := r.failed()
	ev.Code, ev.Reason, ev.ReasonHeader = res.StatusCode, res.Reason, reasonHeader(res)
	return ev
}

// failedErr is failed for an INVITE that ended without a final response.
func (r *callRun) failedErr(code int, err error) Event {
	ev := r.failed()
	ev.Code, ev.Err = code, err
	return ev
}

func (r *callRun) onInviteResponse(res *gosip.Response) {
	c := r.c
	stop(&r.inviteTimer)
	if res.IsProvisional() {
		if r.phase == phaseCalling {
			r.phase = phaseRinging
			if r.cause != causeNone {
				r.sendCancel()
			}
		}
		if res.StatusCode > 100 {
			r.prack(res)
		}
		if res.StatusCode > 100 && r.cause == causeNone {
			c.emit(Event{Kind: EventProvisional, Code: res.StatusCode, Reason: res.Reason, SDP: sdpOf(res)})
		}
		return
	}
	// A final response: the INVITE transaction passes nothing more up
	// (retransmitted 2xx go to onRetransmission).
	r.tx = nil
	if res.IsSuccess() {
		r.onAnswer(res)
		return
	}
	if (res.StatusCode == gosip.StatusUnauthorized || res.StatusCode == gosip.StatusProxyAuthRequired) &&
		r.retryAuth(res) {
		return
	}
	if res.StatusCode == 422 && r.retry422(res) {
		return
	}
	stop(&r.cancelTimer)
	c.log.Info("INVITE failed", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
	r.finish(r.failedBy(res))
}

// retryAuth sends the INVITE again with credentials for res's challenge,
// once, and reports whether it did.
func (r *callRun) retryAuth(res *gosip.Response) bool {
	c := r.c
	switch {
	case r.authTried:
		c.log.Warn("INVITE challenged again: credentials refused", zap.Int("code", res.StatusCode))
		return false
	case c.trunk.user == "" && c.trunk.pass == "":
		c.log.Warn("INVITE challenged but the trunk has no credentials", zap.Int("code", res.StatusCode))
		return false
	case r.cause != causeNone:
		return false // being cancelled: the challenge ends it
	}
	r.authTried = true
	req, err := c.retryInvite(r.req, res, r.cseq+1)
	if err != nil {
		c.log.Warn("cannot answer the digest challenge", zap.Error(err))
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := c.ua.send(ctx, &c.trunk, req)
	if err != nil {
		c.log.Warn("authenticated INVITE not sent", zap.Error(err))
		r.finish(r.failedErr(503, fmt.Errorf("sip: send INVITE: %w: %w", ErrTransport, err)))
		return true
	}
	c.log.Debug("INVITE sent again with credentials", zap.Int("challenge", res.StatusCode))
	tx.OnRetransmission(c.onRetransmission)
	r.req, r.tx, r.cseq = req, tx, r.cseq+1
	r.phase = phaseCalling
	r.inviteTimer = time.NewTimer(c.inviteTimeout()) // the ring timer runs on from the first INVITE
	return true
}

// onAnswer ACKs a 2xx. The call is answered, unless it was being cancelled:
// then the 2xx crossed our CANCEL (or came before a provisional let us send
// one) and the call is hung up with BYE at once (RFC 3261 15: the call must
// not stay up), reported as EventFailed.
func (r *callRun) onAnswer(res *gosip.Response) {
	c := r.c
	stop(&r.cancelTimer)
	stop(&r.ringTimer)
	d, err := newDialog(res, c.invite.From(), r.req.Recipient, c.trunk.transport)
	if err != nil {
		c.log.Error("unusable 2xx; giving up the call", zap.Error(err))
		r.finish(r.failedErr(502, fmt.Errorf("sip: %w", err)))
		return
	}
	r.dlg = d
	c.info.confirm(sdpOf(res))
	ack := c.ua.dialogRequest(d, gosip.ACK, r.req.CSeq().SeqNo)
	c.setAck(ack, tagOf(d.to.Params))
	if err := c.ua.write(&c.trunk, ack.Clone()); err != nil {
		// The trunk retransmits its 2xx until an ACK gets through.
		c.log.Warn("ACK not sent", zap.Error(err))
	}
	if r.cause != causeNone {
		c.log.Info("answered after CANCEL; hanging up with BYE", zap.Int("code", res.StatusCode))
		r.sendBye(r.failed())
		return
	}
	if err := c.checkSRTPAnswer(res); err != nil {
		c.log.Warn("answer refused; hanging up with BYE", zap.Error(err))
		ev := r.failed()
		ev.Code, ev.Reason = gosip.StatusNotAcceptableHere, "Not Acceptable Here (no SRTP key in the answer)"
		r.sendBye(ev)
		return
	}
	r.phase = phaseAnswered
	r.startSessionTimer(res)
	c.log.Info("call answered", zap.Int("code", res.StatusCode))
	c.emit(Event{Kind: EventAnswered, Code: res.StatusCode, Reason: res.Reason, SDP: sdpOf(res)})
	if r.earlyBye != nil {
		r.finish(Event{Kind: EventHangup, ReasonHeader: reasonHeader(r.earlyBye)})
	}
}

// onInviteDone: the INVITE transaction ended without a final response
// (Timer B, a transport error).
func (r *callRun) onInviteDone() {
	err := r.tx.Err()
	r.tx = nil
	code, e := 503, fmt.Errorf("sip: INVITE: %w: %w", ErrTransport, err)
	if errors.Is(err, gosip.ErrTransactionTimeout) {
		code, e = 408, fmt.Errorf("sip: INVITE: %w: %w", ErrTimeout, err)
	}
	r.c.log.Warn("INVITE transaction ended without a final response", zap.Error(err))
	r.finish(r.failedErr(code, e))
}

// onInviteTimeout: no response at all to the INVITE (Timer B, ours).
func (r *callRun) onInviteTimeout() {
	r.inviteTimer = nil
	if r.phase != phaseCalling || r.tx == nil {
		return
	}
	r.c.log.Warn("no response to INVITE")
	r.tx.Terminate()
	r.tx = nil
	r.finish(r.failedErr(408, fmt.Errorf("sip: INVITE: %w: no response", ErrTimeout)))
}

func (r *callRun) onHangup() {
	switch r.phase {
	case phaseCalling:
		// RFC 3261 9.1: no CANCEL before a provisional response. It goes
		// when one arrives; the INVITE timer bounds the wait.
		if r.cause == causeNone {
			r.cause = causeHangup
		}
		r.c.log.Debug("hangup before any response; CANCEL waits for a provisional response")
	case phaseRinging:
		r.cause = causeHangup
		r.sendCancel()
	case phaseAnswered:
		r.sendBye(Event{Kind: EventEnded})
	}
}

func (r *callRun) onRingTimeout() {
	switch r.phase {
	case phaseCalling:
		if r.cause == causeNone {
			r.cause = causeRing
		}
		r.c.log.Info("ring timeout before any response; CANCEL waits for a provisional response")
	case phaseRinging:
		r.c.log.Info("ring timeout; cancelling", zap.Duration("ringTimeout", r.c.ring))
		r.cause = causeRing
		r.sendCancel()
	}
}

// sendCancel cancels the current INVITE and waits for its final response
// (487, or 2xx when the answer crossed the CANCEL), at most the cancel
// timer.
func (r *callRun) sendCancel() {
	c := r.c
	r.phase = phaseCanceling
	r.cancelTimer = time.NewTimer(c.ua.timers.cancel)
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := c.ua.send(ctx, &c.trunk, c.ua.buildCancel(r.req))
	if err != nil {
		// The INVITE still ends: by its final response or the cancel timer.
		c.log.Warn("CANCEL not sent", zap.Error(err))
		return
	}
	c.log.Debug("CANCEL sent")
	r.cancelTx = tx
}

// onCancelTimeout: no final response to the INVITE after CANCEL (RFC 3261
// 9.1: give up after 64*T1).
func (r *callRun) onCancelTimeout() {
	r.cancelTimer = nil
	r.c.log.Warn("no final response to the cancelled INVITE")
	if r.tx != nil {
		r.tx.Terminate()
		r.tx = nil
	}
	r.finish(r.failedErr(408, fmt.Errorf("sip: CANCEL: %w: no final response to the INVITE", ErrTimeout)))
}

// onBye: the trunk hung up (its BYE is already answered).
func (r *callRun) onBye(req *gosip.Request) {
	switch r.phase {
	case phaseAnswered:
		r.c.log.Info("trunk hung up", zap.String("reasonHeader", reasonHeader(req)))
		r.finish(Event{Kind: EventHangup, ReasonHeader: reasonHeader(req)})
	case phaseBye:
		r.c.log.Debug("BYE crossed ours")
	default:
		// The BYE overtook the 2xx (UDP reorders): it ends the call once
		// the 2xx is in. Without a 2xx it means nothing.
		r.earlyBye = req
	}
}

// sendBye ends a confirmed dialog; outcome is the last event, emitted when
// the BYE is answered or the bye timer fires.
func (r *callRun) sendBye(outcome Event) {
	c := r.c
	r.phase = phaseBye
	r.outcome = outcome
	r.cseq++
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := c.ua.send(ctx, &c.trunk, c.ua.dialogRequest(r.dlg, gosip.BYE, r.cseq))
	if err != nil {
		c.log.Warn("BYE not sent", zap.Error(err))
		outcome.Err = fmt.Errorf("sip: send BYE: %w: %w", ErrTransport, err)
		r.finish(outcome)
		return
	}
	c.log.Debug("BYE sent")
	r.byeTx = tx
	r.byeTimer = time.NewTimer(c.ua.timers.bye)
}

func (r *callRun) onByeResponse(res *gosip.Response) {
	if res.IsProvisional() {
		return
	}
	if !res.IsSuccess() {
		// 481 and the like: the dialog is gone either way.
		r.c.log.Info("BYE refused", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
	}
	r.byeTx = nil
	r.finish(r.outcome)
}

func (r *callRun) onByeDone() {
	err := r.byeTx.Err()
	r.byeTx = nil
	r.c.log.Warn("BYE got no response", zap.Error(err))
	ev := r.outcome
	if errors.Is(err, gosip.ErrTransactionTimeout) {
		ev.Err = fmt.Errorf("sip: BYE: %w: %w", ErrTimeout, err)
	} else {
		ev.Err = fmt.Errorf("sip: BYE: %w: %w", ErrTransport, err)
	}
	r.finish(ev)
}

func (r *callRun) onByeTimeout() {
	r.byeTimer = nil
	r.c.log.Warn("BYE got no response in time")
	r.byeTx.Terminate()
	r.byeTx = nil
	ev := r.outcome
	ev.Err = fmt.Errorf("sip: BYE: %w: no response", ErrTimeout)
	r.finish(ev)
}

// onClose cuts the call short: a best-effort CANCEL or BYE (sent once, not
// waited for), then the last event with Err wrapping ErrClosed.
func (r *callRun) onClose() {
	c := r.c
	c.log.Info("user agent closing; ending the call", zap.Int("phase", int(r.phase)))
	ev := r.failed()
	switch r.phase {
	case phaseRinging:
		r.bestEffort(c.ua.buildCancel(r.req))
	case phaseAnswered:
		r.cseq++
		r.bestEffort(c.ua.dialogRequest(r.dlg, gosip.BYE, r.cseq))
		ev = Event{Kind: EventEnded}
	case phaseBye:
		ev = r.outcome
	}
	for _, tx := range []gosip.ClientTransaction{r.tx, r.cancelTx, r.byeTx} {
		if tx != nil {
			tx.Terminate()
		}
	}
	r.tx, r.cancelTx, r.byeTx = nil, nil, nil
	ev.Err = fmt.Errorf("sip: call cut short: %w", ErrClosed)
	r.finish(ev)
}

// bestEffort sends req once: its transaction ends at once.
func (r *callRun) bestEffort(req *gosip.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), closeSendTimeout)
	defer cancel()
	tx, err := r.c.ua.send(ctx, &r.c.trunk, req)
	if err != nil {
		r.c.log.Warn("request not sent on close", zap.Stringer("method", req.Method), zap.Error(err))
		return
	}
	tx.Terminate()
}

// stop stops *t, if any, and forgets it.
func stop(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

const (
	// sendTimeout bounds sending one request (DNS, TCP connect).
	sendTimeout = 5 * time.Second
	// closeSendTimeout bounds the best-effort requests of Close.
	closeSendTimeout = time.Second
)
