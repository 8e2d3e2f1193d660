package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// The inbound dialog: hubline as the UAS of a trunk's INVITE (RFC 3261 13.3
// and 12.1.1, RFC 6026 for the 2xx). One goroutine (run) owns its SIP state
// from the INVITE to the end of the dialog, fed by the methods of
// InboundInvite, the caller's CANCEL, the ACK and BYE the UA routes to it,
// its timers and Close; another (deliver) hands its events to OnEvent in
// order, like an outbound Call's.
//
// Events, the last one last and exactly once:
//
//	the caller CANCELs before the answer      EventFailed, Canceled, Code 487 (sipgo answers it)
//	Reject, or Hangup before the answer       EventFailed, Code (the response sent)
//	the INVITE's transaction fails            EventFailed, Err wrapping ErrTransport
//	BYE from the trunk after the answer       EventHangup, ReasonHeader
//	Hangup after the answer: our BYE is over  EventEnded (Err if it got no response)
//	no ACK for our 2xx within 64*T1           EventEnded, Err wrapping ErrTimeout (we sent BYE)
//	Close                                     EventFailed (503 sent) or EventEnded (BYE sent), Err wrapping ErrClosed

// ErrDialogState: a method of InboundInvite came too late for the dialog
// (Answer after a final response, Progress after the answer, …).
var ErrDialogState = errors.New("sip: not possible in the dialog's state")

type cmdKind int

const (
	cmdProgress cmdKind = iota + 1
	cmdAnswer
	cmdReject
	cmdHangup
)

func (k cmdKind) String() string {
	switch k {
	case cmdProgress:
		return "Progress"
	case cmdAnswer:
		return "Answer"
	case cmdReject:
		return "Reject"
	case cmdHangup:
		return "Hangup"
	}
	return "command"
}

// uasCmd is a method call handed to run; run always replies on res.
type uasCmd struct {
	kind       cmdKind
	code       int
	reason     string
	sdp        []byte
	retryAfter time.Duration
	res        chan error
}

// do hands c to run and waits for its result.
func (in *InboundInvite) do(c uasCmd) error {
	c.res = make(chan error, 1)
	select {
	case in.cmds <- c:
	case <-in.done:
		return fmt.Errorf("sip: %s: %w: the dialog is over", c.kind, ErrDialogState)
	}
	return <-c.res
}

// Progress sends a provisional response: 180 Ringing without sdp, 183
// Session Progress with it (early media: ringback or a greeting played by
// hubline). It may be called more than once before the final response.
func (in *InboundInvite) Progress(sdp []byte) error {
	return in.do(uasCmd{kind: cmdProgress, sdp: sdp})
}

// Answer sends 200 OK with sdp, the answer to the INVITE's offer: the call
// is up. The 2xx is retransmitted over UDP until the trunk ACKs it; without
// an ACK within 64*T1 the dialog is ended with BYE (EventEnded, ErrTimeout).
func (in *InboundInvite) Answer(sdp []byte) error {
	if len(sdp) == 0 {
		return errors.New("sip: Answer: an SDP answer is required")
	}
	return in.do(uasCmd{kind: cmdAnswer, sdp: sdp})
}

// Hangup ends the call: before the answer it rejects the INVITE with 480
// Temporarily Unavailable, after it sends BYE. It does not wait for the
// BYE's response: the end arrives as the last event. Hanging up an ended
// dialog does nothing. ctx is not used.
func (in *InboundInvite) Hangup(ctx context.Context) error {
	err := in.do(uasCmd{kind: cmdHangup})
	if errors.Is(err, ErrDialogState) {
		return nil
	}
	return err
}

// OnEvent sets the function the dialog's events go to, in order, from one
// goroutine; events that happened before are delivered at once. f must not
// block for long; it may call the InboundInvite's methods. Without OnEvent
// the events are dropped once the dialog is over.
func (in *InboundInvite) OnEvent(f func(Event)) {
	in.evMu.Lock()
	in.onEvent = f
	in.evMu.Unlock()
	in.wake()
}

// Done is closed when the dialog is over (its last event is queued).
func (in *InboundInvite) Done() <-chan struct{} { return in.done }

func (in *InboundInvite) wake() {
	select {
	case in.evReady <- struct{}{}:
	default:
	}
}

func (in *InboundInvite) emit(ev Event) {
	ev.Trunk = in.Trunk
	in.log.Debug("inbound call event", zap.Stringer("kind", ev.Kind), zap.Int("code", ev.Code),
		zap.Bool("canceled", ev.Canceled), zap.Error(ev.Err))
	in.evMu.Lock()
	in.evQueue = append(in.evQueue, ev)
	in.evMu.Unlock()
	in.wake()
}

// deliver hands the queued events to onEvent until the last one; without
// onEvent it waits, and drops them once the last one is queued.
func (in *InboundInvite) deliver() {
	defer in.ua.callWG.Done()
	for {
		<-in.evReady
		in.evMu.Lock()
		f, q := in.onEvent, in.evQueue
		last := len(q) > 0 && q[len(q)-1].Kind.final()
		if f == nil && !last {
			in.evMu.Unlock()
			continue
		}
		in.evQueue = nil
		in.evMu.Unlock()
		for _, ev := range q {
			if f != nil {
				f(ev)
			}
			if ev.Kind.final() {
				return
			}
		}
	}
}

// registerInbound reserves the INVITE's Call-ID and counts its goroutines
// (run, deliver) under the lock Close takes. It returns the response code
// to refuse the INVITE with when it cannot be taken.
func (u *UA) registerInbound(in *InboundInvite) (code int, reason string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return gosip.StatusServiceUnavailable, "Service Unavailable"
	}
	if _, ok := u.inbound[in.CallID]; ok {
		// The same call by another path (RFC 3261 8.2.2.2).
		return gosip.StatusLoopDetected, "Loop Detected"
	}
	if _, ok := u.calls[in.CallID]; ok {
		return gosip.StatusLoopDetected, "Loop Detected"
	}
	u.inbound[in.CallID] = in
	u.callWG.Add(2)
	return 0, ""
}

func (u *UA) unregisterInbound(in *InboundInvite) {
	u.mu.Lock()
	if u.inbound[in.CallID] == in {
		delete(u.inbound, in.CallID)
	}
	u.mu.Unlock()
}

// lookupInbound finds the inbound dialog an in-dialog request (ACK, BYE,
// re-INVITE) belongs to: its Call-ID, our tag as its To tag, and the
// caller's From tag.
func (u *UA) lookupInbound(req *gosip.Request) *InboundInvite {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	u.mu.Lock()
	in := u.inbound[string(*cid)]
	u.mu.Unlock()
	if in == nil || toTag(req) != in.localTag || fromTag(req) != fromTag(in.req) {
		return nil
	}
	return in
}

// uasPhase is where an inbound dialog is.
type uasPhase int

const (
	uasOffered   uasPhase = iota // INVITE received, no final response yet
	uasAccepted                  // 2xx sent, waiting for the ACK
	uasConfirmed                 // ACK received
	uasBye                       // our BYE sent: waiting for its response
)

// uasRun is the state run owns.
type uasRun struct {
	in       *InboundInvite
	phase    uasPhase
	reliable bool // TCP or TLS: no retransmissions of our 2xx

	ok200       *gosip.Response
	retrans     *time.Timer // the 2xx's next retransmission (UDP)
	retransWait time.Duration
	ackTimer    *time.Timer // gives up waiting for the ACK
	dlg         *dialog
	cseq        uint32
	byeTx       gosip.ClientTransaction
	byeTimer    *time.Timer
	outcome     Event    // the last event, once BYE is sent
	byeOnAck    bool     // Hangup came before the ACK: BYE once it is in
	ro          offerRun // in-dialog offers (reoffer.go)

	st  *sessionTimer // once answered (timer.go)
	rel relState      // reliable provisional responses (rel100.go)

	result *Event
}

// run is the dialog's goroutine.
func (in *InboundInvite) run() {
	defer in.ua.callWG.Done()
	r := &uasRun{in: in, reliable: gosip.IsReliable(in.req.Transport())}
	r.rel.on = reliable(in.req, in.prack)
	r.ro = offerRun{ua: in.ua, log: in.log, o: in.offers, reliable: r.reliable, calleeBackoff: true, st: &r.st}
	if !in.tx.OnCancel(func(*gosip.Request) { in.cancelOnce.Do(func() { close(in.canceled) }) }) {
		in.cancelOnce.Do(func() { close(in.canceled) })
	}
	ev := r.loop()
	r.st.close()
	r.endReliable()
	in.offers.over()
	r.ro.stopTimers()
	for _, t := range []*time.Timer{r.retrans, r.ackTimer, r.byeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	in.finalOnce.Do(func() { close(in.final) })
	in.ua.unregisterInbound(in)
	in.log.Info("inbound call over", zap.Stringer("event", ev.Kind), zap.Int("code", ev.Code),
		zap.String("reasonHeader", ev.ReasonHeader), zap.Bool("canceled", ev.Canceled), zap.Error(ev.Err))
	in.emit(ev)
	close(in.done)
}

func (r *uasRun) loop() Event {
	in := r.in
	for r.result == nil {
		var txDone, canceled <-chan struct{}
		var txAcks <-chan *gosip.Request
		if r.phase == uasOffered {
			txDone, canceled = in.tx.Done(), in.canceled
		}
		if r.phase == uasAccepted {
			txAcks = in.tx.Acks() // an ACK that reused the INVITE's branch
		}
		var byeRes <-chan *gosip.Response
		var byeDone <-chan struct{}
		if r.byeTx != nil {
			byeRes, byeDone = r.byeTx.Responses(), r.byeTx.Done()
		}
		select {
		case c := <-in.cmds:
			if r.deferAnswer(c) {
				break
			}
			c.res <- r.onCmd(c)
		case <-canceled:
			in.log.Info("the caller cancelled the call")
			r.finish(Event{Kind: EventFailed, Canceled: true, Code: gosip.StatusRequestTerminated, Reason: "Request Terminated"})
		case <-txDone:
			select {
			case <-in.canceled:
				continue // the cancel case reports it
			default:
			}
			err := in.tx.Err()
			in.log.Warn("INVITE transaction ended before a final response", zap.Error(err))
			r.finish(Event{Kind: EventFailed, Code: 503, Err: fmt.Errorf("sip: inbound INVITE: %w: %w", ErrTransport, err)})
		case ack := <-txAcks:
			r.onAck(ack)
		case ack := <-in.acks:
			if mine, err := r.ro.onAck(ack); mine {
				if err != nil && r.phase == uasConfirmed {
					in.log.Error("ending the call with BYE", zap.Error(err))
					r.sendBye(Event{Kind: EventEnded, Err: err})
				}
				continue
			}
			r.onAck(ack)
		case ir := <-in.offers.reqs:
			inDialogOffer(in.ua, &r.ro, r.st, ir, r.takesOffers(), r.dlg)
		case ack := <-r.ro.curAcks():
			if _, err := r.ro.onAck(ack); err != nil && r.phase == uasConfirmed {
				in.log.Error("ending the call with BYE", zap.Error(err))
				r.sendBye(Event{Kind: EventEnded, Err: err})
			}
		case <-timerC(r.ro.retrans):
			r.ro.retransmit()
		case <-timerC(r.ro.ackTimer):
			if err := r.ro.onAckTimeout(); r.phase == uasConfirmed {
				in.log.Warn("no ACK for our 2xx to a re-INVITE; ending the call with BYE")
				r.sendBye(Event{Kind: EventEnded, Err: err})
			}
		case cmd := <-in.offers.reinvites:
			r.ro.startReinvite(cmd, r.dlg, &r.cseq, r.phase == uasConfirmed)
		case res := <-r.ro.outResponses():
			r.ro.onOutResponse(res, r.dlg, &r.cseq)
			if r.ro.dead != nil && r.phase == uasConfirmed {
				r.sendBye(Event{Kind: EventEnded, Err: r.ro.dead})
			}
		case <-r.ro.outDone():
			r.ro.onOutDone(r.dlg, &r.cseq)
		case <-timerC(r.ro.retryTimer):
			r.ro.retryTimer = nil
			r.ro.retry(r.dlg, &r.cseq, r.phase == uasConfirmed)
		case <-timerC(r.retrans):
			r.retransmit()
		case <-timerC(r.ackTimer):
			r.ackTimer = nil
			if r.phase == uasAccepted {
				in.log.Warn("no ACK for our 2xx; ending the call with BYE")
				r.sendBye(Event{Kind: EventEnded, Err: fmt.Errorf("sip: inbound call: %w: no ACK for the 2xx", ErrTimeout)})
			}
		case req := <-in.byes:
			r.onBye(req)
		case res := <-byeRes:
			if !res.IsProvisional() {
				if !res.IsSuccess() {
					in.log.Info("BYE refused", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
				}
				r.byeTx = nil
				r.finish(r.outcome)
			}
		case <-byeDone:
			err := r.byeTx.Err()
			r.byeTx = nil
			in.log.Warn("BYE got no response", zap.Error(err))
			ev := r.outcome
			if ev.Err == nil {
				ev.Err = fmt.Errorf("sip: BYE: %w: %w", ErrTransport, err)
			}
			r.finish(ev)
		case <-timerC(r.byeTimer):
			r.byeTimer = nil
			in.log.Warn("BYE got no response in time")
			r.byeTx.Terminate()
			r.byeTx = nil
			ev := r.outcome
			if ev.Err == nil {
				ev.Err = fmt.Errorf("sip: BYE: %w: no response", ErrTimeout)
			}
			r.finish(ev)
		case <-r.st.timerC():
			r.sessionEnd(r.st.onTimer())
		case res := <-r.st.responses():
			r.sessionEnd(r.st.onResponse(res))
		case <-r.st.txDone():
			r.sessionEnd(r.st.onTxDone())
		case <-r.relTimerC():
			r.retransmitReliable()
		case q := <-in.inDialog: // PRACKs (rel100.go)
			r.onPrack(q)
		case q := <-in.dlgReqs:
			r.onDlgReq(q)
		case <-in.ua.closing:
			r.onClose()
		}
	}
	return *r.result
}

func (r *uasRun) finish(ev Event) {
	r.result = &ev
	r.in.finalOnce.Do(func() { close(r.in.final) })
}

func (r *uasRun) onCmd(c uasCmd) error {
	late := func() error {
		return fmt.Errorf("sip: %s: %w", c.kind, ErrDialogState)
	}
	switch c.kind {
	case cmdProgress:
		if r.phase != uasOffered {
			return late()
		}
		code, reason := gosip.StatusRinging, "Ringing"
		if len(c.sdp) > 0 {
			code, reason = gosip.StatusSessionInProgress, "Session Progress"
		}
		return r.progress(r.response(code, reason, c.sdp))
	case cmdAnswer:
		if r.phase != uasOffered {
			return late()
		}
		return r.answer(c.sdp)
	case cmdReject:
		if r.phase != uasOffered {
			return late()
		}
		r.reject(c.code, c.reason, c.retryAfter)
		return nil
	case cmdHangup:
		switch r.phase {
		case uasOffered:
			r.reject(gosip.StatusTemporarilyUnavailable, "Temporarily Unavailable", 0)
		case uasAccepted:
			// RFC 3261 15: no BYE before the ACK (or its timeout).
			r.byeOnAck = true
		case uasConfirmed:
			r.sendBye(Event{Kind: EventEnded})
		default:
			return late()
		}
		return nil
	}
	return fmt.Errorf("sip: unknown command %d", c.kind)
}

// response is a response to the INVITE with our To tag; 101–299 carry our
// Contact (they may set up a dialog), 2xx the Allow we support.
func (r *uasRun) response(code int, reason string, sdp []byte) *gosip.Response {
	in := r.in
	res := gosip.NewResponseFromRequest(in.req, code, reason, nil)
	if to := res.To(); to != nil && code > 100 {
		to.Params.Remove("tag")
		to.Params.Add("tag", in.localTag)
	}
	if code > 100 && code < 300 {
		res.AppendHeader(in.ua.contact(in.req.Transport()))
	}
	res.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	res.AppendHeader(gosip.NewHeader("Server", in.ua.userAgent))
	if len(sdp) > 0 {
		ct := gosip.ContentTypeHeader("application/sdp")
		res.AppendHeader(&ct)
		res.SetBody(sdp)
	}
	return res
}

func (r *uasRun) respond(res *gosip.Response) error {
	if err := r.in.tx.Respond(res); err != nil {
		r.in.log.Warn("response not sent", zap.Int("code", res.StatusCode), zap.Error(err))
		return fmt.Errorf("sip: %d: %w: %w", res.StatusCode, ErrTransport, err)
	}
	r.in.log.Debug("response sent", zap.Int("code", res.StatusCode))
	return nil
}

func (r *uasRun) reject(code int, reason string, retryAfter time.Duration) {
	res := r.response(code, reason, nil)
	if retryAfter > 0 {
		res.AppendHeader(gosip.NewHeader("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second))))
	}
	err := r.respond(res)
	r.in.log.Info("inbound INVITE rejected", zap.Int("code", code), zap.String("reason", reason))
	r.finish(Event{Kind: EventFailed, Code: code, Reason: reason, Err: err})
}

// answer sends the 2xx and sets up the dialog (RFC 3261 12.1.1): remote
// target the INVITE's Contact, route set its Record-Route in order.
func (r *uasRun) answer(sdp []byte) error {
	in := r.in
	res := r.response(gosip.StatusOK, "OK", sdp)
	interval, weRefresh := sessionAnswer(in.session, in.req, res)
	if err := r.respond(res); err != nil {
		r.finish(Event{Kind: EventFailed, Code: 500, Err: err})
		return err
	}
	r.ok200 = res
	r.phase = uasAccepted
	in.finalOnce.Do(func() { close(in.final) })
	r.dlg = uasDialog(in.req, res)
	r.startSessionTimer(sdp, interval, weRefresh)
	in.info.confirm(in.SDP)
	r.ackTimer = time.NewTimer(in.ua.timers.ack)
	if !r.reliable {
		r.retransWait = gosip.T1
		r.retrans = time.NewTimer(r.retransWait)
	}
	in.log.Info("inbound call answered")
	return nil
}

// uasDialog is the dialog our 2xx to inv set up, seen from our side.
func uasDialog(inv *gosip.Request, ok *gosip.Response) *dialog {
	d := &dialog{callID: callIDOf(inv), transport: inv.Transport()}
	if to := ok.To(); to != nil {
		d.from = &gosip.FromHeader{DisplayName: to.DisplayName, Address: *to.Address.Clone(), Params: to.Params.Clone()}
	}
	if f := inv.From(); f != nil {
		t := f.AsTo()
		d.to = &t
	}
	if ct := inv.Contact(); ct != nil && !ct.Address.Wildcard {
		d.target = *ct.Address.Clone()
	} else {
		// A broken peer without Contact (RFC 3261 requires one): its address.
		src := sourceOf(inv)
		d.target = gosip.Uri{Scheme: "sip", Host: src.Addr().String(), Port: int(src.Port())}
	}
	for _, h := range inv.GetHeaders("Record-Route") {
		if rr, ok := h.(*gosip.RecordRouteHeader); ok {
			d.routes = append(d.routes, *rr.Address.Clone())
		}
	}
	return d
}

// retransmit re-sends the 2xx until the ACK (RFC 3261 13.3.1.4: T1,
// doubling up to T2).
func (r *uasRun) retransmit() {
	r.retrans = nil
	if r.phase != uasAccepted {
		return
	}
	if err := r.in.tx.Respond(r.ok200); err != nil {
		r.in.log.Debug("2xx not retransmitted", zap.Error(err))
	}
	r.retransWait = min(2*r.retransWait, gosip.T2)
	r.retrans = time.NewTimer(r.retransWait)
}

func (r *uasRun) onAck(ack *gosip.Request) {
	if r.phase != uasAccepted {
		return
	}
	stop(&r.retrans)
	stop(&r.ackTimer)
	r.phase = uasConfirmed
	r.in.log.Debug("ACK received: dialog confirmed")
	if len(r.in.SDP) == 0 {
		// Delayed offer: we offered in the 200, the answer is in the ACK.
		if err := r.applyAckAnswer(ack); err != nil {
			r.in.log.Error("delayed offer: no usable answer in the ACK; ending the call with BYE", zap.Error(err))
			r.sendBye(Event{Kind: EventEnded, Err: err})
			return
		}
	}
	if r.byeOnAck {
		r.sendBye(Event{Kind: EventEnded})
	}
}

// applyAckAnswer applies the answer in the ACK of our 2xx to an INVITE
// without SDP.
func (r *uasRun) applyAckAnswer(ack *gosip.Request) error {
	ans := sdpOf(ack)
	if len(ans) == 0 {
		return errors.New("sip: the ACK carries no SDP answer to our offer")
	}
	h := r.in.offers.handler()
	if h == nil {
		return errors.New("sip: no session handler for the answer in the ACK")
	}
	if err := h.ApplyAnswer(ans); err != nil {
		return fmt.Errorf("sip: the answer in the ACK is unusable: %w", err)
	}
	return nil
}

// onBye: the trunk hung up (its BYE is answered already).
func (r *uasRun) onBye(req *gosip.Request) {
	switch r.phase {
	case uasAccepted, uasConfirmed:
		r.in.log.Info("trunk hung up", zap.String("reasonHeader", reasonHeader(req)))
		r.finish(Event{Kind: EventHangup, ReasonHeader: reasonHeader(req)})
	case uasBye:
		r.in.log.Debug("BYE crossed ours")
	}
}

// sendBye ends the dialog; outcome is the last event, emitted when the BYE
// is answered or the bye timer fires.
func (r *uasRun) sendBye(outcome Event) {
	in := r.in
	stop(&r.retrans)
	stop(&r.ackTimer)
	r.phase = uasBye
	r.outcome = outcome
	r.cseq++
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := in.ua.send(ctx, nil, in.ua.dialogRequest(r.dlg, gosip.BYE, r.cseq))
	if err != nil {
		in.log.Warn("BYE not sent", zap.Error(err))
		if outcome.Err == nil {
			outcome.Err = fmt.Errorf("sip: send BYE: %w: %w", ErrTransport, err)
		}
		r.finish(outcome)
		return
	}
	in.log.Debug("BYE sent")
	r.byeTx = tx
	r.byeTimer = time.NewTimer(in.ua.timers.bye)
}

// onClose cuts the dialog short: 503 before the answer, a best-effort BYE
// after it.
func (r *uasRun) onClose() {
	in := r.in
	closed := fmt.Errorf("sip: inbound call cut short: %w", ErrClosed)
	switch r.phase {
	case uasOffered:
		_ = r.respond(r.response(gosip.StatusServiceUnavailable, "Service Unavailable", nil))
		r.finish(Event{Kind: EventFailed, Code: gosip.StatusServiceUnavailable, Err: closed})
		return
	case uasAccepted, uasConfirmed:
		r.cseq++
		ctx, cancel := context.WithTimeout(context.Background(), closeSendTimeout)
		if tx, err := in.ua.send(ctx, nil, in.ua.dialogRequest(r.dlg, gosip.BYE, r.cseq)); err == nil {
			tx.Terminate()
		} else {
			in.log.Warn("BYE not sent on close", zap.Error(err))
		}
		cancel()
		r.finish(Event{Kind: EventEnded, Err: closed})
	case uasBye:
		r.byeTx.Terminate()
		r.byeTx = nil
		ev := r.outcome
		ev.Err = closed
		r.finish(ev)
	}
}

// takesOffers reports whether the dialog takes the trunk's re-INVITEs and
// UPDATEs: once confirmed, and already once our 2xx went out when it
// answered the INVITE's offer (offer and answer are complete). The ACK and
// a request the trunk sends right after it reach run through different
// goroutines, in either order: waiting for the ACK would refuse a request
// the trunk was right to send.
func (r *uasRun) takesOffers() bool {
	return r.phase == uasConfirmed || (r.phase == uasAccepted && len(r.in.SDP) > 0)
}
