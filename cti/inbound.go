package cti

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// Inbound calls: a trunk's INVITE to a DID, routed to reps (route.go).
//
// One goroutine (inCall.run) owns the call: its SIP leg (the trunk's
// INVITE, hubline as UAS), its media, the route's progress and timers, and
// every offer. An offer is the call as one rep's session sees it, with an
// externalCallId of its own: their instances get incomingCall, then either
// callAnswered … callEnded(COMPLETED) … callCompleted (the rep answered),
// or an early end that completes at once:
//
//	declined by the rep                 callEnded(CANCELED), callCompleted
//	answered by someone else, or the    callTransferred, callEnded(NO_ANSWER), callCompleted
//	  step rang out (routed away)
//	the caller hung up while it rang    callEnded(MISSED), callCompleted (hs_call_status NO_ANSWER)
//
// A rep offered the call twice (a later step, after owner-first) gets a
// new offer: HubSpot sees two calls, each logged once.

// InboundLeg is the trunk side of an inbound call, as *sip.InboundInvite
// implements it; tests use fakes.
type InboundLeg interface {
	Progress(sdp []byte) error
	Answer(sdp []byte) error
	RejectAfter(code int, reason string, retryAfter time.Duration) error
	Hangup(ctx context.Context) error
	OnEvent(f func(sip.Event))
}

// InboundMedia is what an inbound call needs of its MediaSession besides
// the outbound contract (media/inbound.go implements it).
type InboundMedia interface {
	// AnswerTrunkOffer answers the INVITE's SDP offer: the trunk leg's
	// remote is set, and the returned SDP is the answer (early media and
	// 200 OK).
	AnswerTrunkOffer(offer []byte) ([]byte, error)
	// Play sends audio (G.711 µ-law, 8 kHz) to the trunk in the trunk's
	// law, looped when loop is set, until StopPlay; done (if not nil) is
	// called when a play that does not loop ends. It must not block.
	Play(ulaw []byte, loop bool, done func())
	StopPlay()
	// Record keeps up to max of the trunk's audio; Recording returns it
	// (G.711 µ-law, 8 kHz).
	Record(max time.Duration)
	Recording() []byte
}

// InboundMediaEngine is a MediaEngine that makes sessions for inbound
// calls (MediaOf's adapter of *media.Engine is one); their sessions
// implement InboundMedia. Without it, NewSession's sessions must.
type InboundMediaEngine interface {
	NewInboundSession(log *zap.Logger, onEvent func(media.Event)) (MediaSession, error)
}

// InboundCall describes an inbound INVITE.
type InboundCall struct {
	SIPCallID string
	Trunk     string
	// DID is the trunk's DID the call is for; "" when the INVITE named
	// none of them (To is then read as a number).
	DID, To        string
	From, FromName string
	SDP            []byte
	Received       time.Time
}

// InviteHandler adapts h to sip.Options.OnInvite.
func InviteHandler(h *Hub) func(*sip.InboundInvite) {
	return func(in *sip.InboundInvite) {
		h.Inbound(InboundCall{
			SIPCallID: in.CallID, Trunk: in.Trunk, DID: in.DID, To: in.To, From: in.From, FromName: in.FromName,
			SDP: in.SDP, Received: in.Received,
		}, in)
	}
}

// Inbound routes an inbound call: 404 for a number no route has, 503
// while shutting down; else the call's goroutine takes it over. It does
// not block. An INVITE without SDP (delayed offer) gets our offer in the
// 200 OK and the trunk's answer comes in the ACK (the leg's
// SessionHandler applies it; a missing or bad answer ends the call).
func (h *Hub) Inbound(info InboundCall, leg InboundLeg) {
	if info.Received.IsZero() {
		info.Received = time.Now()
	}
	log := h.log.With(zap.String("sipCallId", info.SIPCallID), zap.String("trunk", info.Trunk))
	h.mu.Lock()
	closing := h.closing
	h.mu.Unlock()
	if closing {
		_ = leg.RejectAfter(503, "Service Unavailable", 0)
		return
	}
	route := h.routeFor(info)
	if route == nil {
		log.Info("inbound call to a number no route has; 404", zap.String("to", info.To), zap.String("did", info.DID))
		_ = leg.RejectAfter(404, "Not Found", 0)
		return
	}
	from := info.From
	if n, err := sip.NormalizeNumber(info.From, h.opts.DefaultRegion); err == nil {
		from = n
	}
	c := &inCall{
		hub: h, info: info, route: route, did: route.DID, from: from, leg: leg,
		startedAt: time.Now(),
		events:    make(chan callEvent, 64),
		done:      make(chan struct{}),
		exclude:   map[string]bool{},
	}
	c.log = log.With(zap.String("did", route.DID), zap.String("from", from))
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		_ = leg.RejectAfter(503, "Service Unavailable", 0)
		return
	}
	h.incoming[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	leg.OnEvent(func(ev sip.Event) { c.post(callEvent{kind: evSIP, sip: ev}) })
	go func() { defer h.wg.Done(); c.run() }()
}

// routeFor is the route of the call's DID, or of its To read as a number.
func (h *Hub) routeFor(info InboundCall) *Route {
	if r := h.routes[info.DID]; r != nil && info.DID != "" {
		return r
	}
	if n, err := sip.NormalizeNumber(info.To, h.opts.DefaultRegion); err == nil {
		return h.routes[n]
	}
	return nil
}

func (h *Hub) inboundGone(c *inCall) {
	h.mu.Lock()
	delete(h.incoming, c)
	h.mu.Unlock()
}

// inPhase is where an inbound call's trunk leg is.
type inPhase int

const (
	inRinging   inPhase = iota // offered to reps (or about to be)
	inAnswered                 // a rep answered: 200 OK sent
	inVoicemail                // answered by a mailbox
	inOver                     // rejected, hung up, or the caller left
)

// inCall is one inbound call. Everything after the fields set by Inbound
// belongs to run.
type inCall struct {
	hub       *Hub
	log       *zap.Logger
	info      InboundCall
	route     *Route
	did, from string
	leg       InboundLeg
	startedAt time.Time

	events  chan callEvent
	done    chan struct{}
	lookups sync.WaitGroup // owner lookups (crm), waited for by run
	dtmf    dtmfSender     // INFO digits (dtmf.go)

	phase      inPhase
	media      MediaSession
	im         InboundMedia
	answerSDP  []byte
	progressed bool
	steps      []Step
	stepIdx    int
	huntIdx    int
	stepSeq    int  // names the armed step timer; bumped to disarm it
	ownerStep  bool // the owner rings alone; the route resumes at stepIdx after
	ownerTried bool
	exclude    map[string]bool // reps not to ring again in this call (the owner, after its turn)
	offers     []*offer
	answered   *offer
	caller     *callerInfo
	sipDone    bool
	mediaDown  int
	outages    int
	vm         *Voicemail
	recording  bool
	vmDone     bool
	timers     []*time.Timer
	hold       holdState
	xfer       *transferState // the rep's transfer in progress (transfer_inbound.go)
	xferSeq    int
}

func (c *inCall) post(ev callEvent) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.done:
		return false
	}
}

func (c *inCall) after(d time.Duration, ev callEvent) {
	c.timers = append(c.timers, time.AfterFunc(d, func() { c.post(ev) }))
}

func (c *inCall) run() {
	defer c.hub.inboundGone(c)
	defer c.hold.reinvites.Wait() // after close(done): their post then returns at once
	defer close(c.done)
	defer c.lookups.Wait()
	defer c.dtmf.stop()
	defer func() {
		for _, t := range c.timers {
			t.Stop()
		}
	}()
	c.log.Info("inbound call", zap.String("to", c.info.To), zap.String("fromName", c.info.FromName))
	c.start()
	for !c.over() {
		c.handle(<-c.events)
	}
	c.closeMedia()
	c.log.Debug("inbound call goroutine done")
}

// over: the trunk leg has ended and every offer is completed.
func (c *inCall) over() bool {
	if !c.sipDone {
		return false
	}
	for _, o := range c.offers {
		if o.state != StateCompleted {
			return false
		}
	}
	return true
}

func (c *inCall) start() {
	c.steps = c.route.stepsAt(c.startedAt)
	c.runStep()
}

// ensureMedia makes the call's media session and answers the trunk's SDP
// offer with it, once: when the call first rings someone or goes to a
// mailbox (a call that is only refused allocates nothing). It rejects the
// call and reports false when it cannot.
func (c *inCall) ensureMedia() bool {
	if c.im != nil {
		return true
	}
	onEvent := func(ev media.Event) { c.post(callEvent{kind: evMedia, media: ev}) }
	var ms MediaSession
	var err error
	if ie, ok := c.hub.opts.Media.(InboundMediaEngine); ok {
		ms, err = ie.NewInboundSession(c.log, onEvent)
	} else {
		ms, err = c.hub.opts.Media.NewSession(c.log, onEvent)
	}
	if err != nil {
		c.log.Error("no media session for an inbound call", zap.Error(err))
		c.reject(503, "Service Unavailable", 0)
		return false
	}
	c.media = ms
	im, ok := ms.(InboundMedia)
	if !ok {
		c.log.Error("the media engine cannot take inbound calls")
		c.reject(500, "Server Internal Error", 0)
		return false
	}
	if l, ok := c.leg.(interface{ SetSession(sip.SessionHandler) }); ok {
		l.SetSession(&sessionHandler{media: ms, hold: &c.hold, notify: notifier(c.events, callEvent{kind: evRemoteHold})})
	}
	if len(c.info.SDP) == 0 {
		// Delayed offer: we offer in the 200 OK, the ACK answers.
		c.log.Info("inbound INVITE without SDP: we offer in the 200 OK")
		c.im, c.answerSDP = im, ms.TrunkOffer()
		return true
	}
	answer, err := im.AnswerTrunkOffer(c.info.SDP)
	if err != nil {
		c.log.Info("trunk's SDP offer refused", zap.Error(err))
		c.reject(488, "Not Acceptable Here", 0)
		return false
	}
	c.im, c.answerSDP = im, answer
	return true
}

// anyAvailable reports whether one of reps (not excluded) could ring now.
func (c *inCall) anyAvailable(reps []string) bool {
	for _, rep := range reps {
		if c.exclude[rep] {
			continue
		}
		for _, s := range c.hub.sessionsOf(rep) {
			if s.available() {
				return true
			}
		}
	}
	return false
}

func (c *inCall) closeMedia() {
	if c.media == nil {
		return
	}
	if c.im != nil {
		c.im.StopPlay() // waits for the player: nothing writes to a closed session
	}
	if err := c.media.Close(); err != nil {
		c.log.Warn("close media", zap.Error(err))
	}
	c.media, c.im = nil, nil
}

// reject refuses the INVITE; its final event ends the leg.
func (c *inCall) reject(code int, reason string, retryAfter time.Duration) {
	c.phase = inOver
	c.closeMedia()
	c.log.Info("inbound call rejected", zap.Int("code", code), zap.String("reason", reason), zap.Duration("retryAfter", retryAfter))
	if err := c.leg.RejectAfter(code, reason, retryAfter); err != nil {
		c.log.Info("rejection not sent", zap.Error(err))
	}
}

func (c *inCall) hangupTrunk() {
	if err := c.leg.Hangup(context.WithoutCancel(context.Background())); err != nil {
		c.log.Warn("hang up on trunk", zap.Error(err))
	}
	c.after(c.hub.opts.ShutdownTrunkWait+40*time.Second, callEvent{kind: evSIPTimeout})
}

// runStep takes the route from the current step: it rings the first step
// someone can answer, or takes a voicemail, or rejects.
func (c *inCall) runStep() {
	for c.stepIdx < len(c.steps) && c.phase == inRinging {
		st := c.steps[c.stepIdx]
		switch st.kind() {
		case "reject":
			reason := st.RejectReason
			if reason == "" {
				reason = reasonPhrase(st.Reject)
			}
			c.log.Info("route step", zap.Stringer("step", st))
			c.reject(st.Reject, reason, st.RetryAfter)
			return
		case "voicemail":
			c.log.Info("route step", zap.Stringer("step", st))
			c.startVoicemail(st.Voicemail)
			return
		case "ring":
			if c.ring(st) {
				return
			}
			c.log.Info("route step skipped: nobody available", zap.Stringer("step", st))
		}
		c.stepIdx++
		c.huntIdx = 0
	}
	if c.phase == inRinging {
		c.reject(480, "Temporarily Unavailable", 0)
	}
}

// ring offers the call to the step's available reps (the next one, with
// Hunt) and arms the step's timer. It reports false when nobody could ring.
func (c *inCall) ring(st Step) bool {
	timeout := st.RingTimeout
	if timeout == 0 {
		timeout = c.hub.opts.RingTimeout
	}
	if !c.anyAvailable(st.Reps) || !c.ensureMedia() {
		return false
	}
	n := 0
	if st.Hunt {
		for ; c.huntIdx < len(st.Reps) && n == 0; c.huntIdx++ {
			if rep := st.Reps[c.huntIdx]; !c.exclude[rep] {
				n = c.offerTo(rep)
			}
		}
		c.huntIdx-- // the rep ringing now
	} else {
		for _, rep := range st.Reps {
			if !c.exclude[rep] {
				n += c.offerTo(rep)
			}
		}
	}
	if n == 0 {
		return false
	}
	c.log.Info("ringing", zap.Stringer("step", st), zap.Int("offers", n), zap.Duration("ringTimeout", timeout))
	c.armStep(timeout)
	return true
}

func (c *inCall) armStep(d time.Duration) {
	c.stepSeq++
	c.after(d, callEvent{kind: evStepTimeout, seq: c.stepSeq})
}

// offerTo rings every available session of rep; it returns how many.
func (c *inCall) offerTo(rep string) int {
	n := 0
	for _, s := range c.hub.sessionsOf(rep) {
		o := c.newOffer(s)
		if !s.reserve(o) {
			continue
		}
		c.progress()
		c.offers = append(c.offers, o)
		o.sess.deliverState(o.stateMsg())
		o.told = o.sess.deliverSpeakers(nil, encode("sdk", &sdkOutMsg{Name: "incomingCall", Data: incomingCallData{
			ExternalCallID: o.id, FromNumber: c.from, ToNumber: c.did, CallStartTime: c.startedAt.UnixMilli(),
			CreateEngagement: true,
		}}))
		o.log.Info("incomingCall sent", zap.Int("instances", len(o.told)),
			zap.Duration("inviteToIncomingCall", time.Since(c.info.Received)))
		n++
	}
	return n
}

// progress sends the INVITE's first provisional response: 183 with our
// SDP and the route's early media, else 180.
func (c *inCall) progress() {
	if c.progressed {
		return
	}
	c.progressed = true
	var sdp []byte
	if len(c.route.EarlyMedia) > 0 && len(c.info.SDP) > 0 {
		// (A delayed offer gets no early media: an offer in an
		// unreliable 183 is not allowed.)
		sdp = c.answerSDP
		c.im.Play(c.route.EarlyMedia, true, nil)
	}
	if err := c.leg.Progress(sdp); err != nil {
		c.log.Info("provisional response not sent", zap.Error(err))
	}
}

// ringing lists the offers that ring now.
func (c *inCall) ringing() []*offer {
	var out []*offer
	for _, o := range c.offers {
		if o.state == StateRinging {
			out = append(out, o)
		}
	}
	return out
}

// advance leaves the current step (or hunt member, or owner turn) and
// takes the route on.
func (c *inCall) advance() {
	c.stepSeq++ // disarms the step timer
	switch {
	case c.ownerStep:
		c.ownerStep = false
		c.huntIdx = 0 // the interrupted step again, from its start, without the owner
	case c.stepIdx < len(c.steps) && c.steps[c.stepIdx].Hunt:
		c.huntIdx++
		if c.huntIdx >= len(c.steps[c.stepIdx].Reps) {
			c.stepIdx++
			c.huntIdx = 0
		}
	default:
		c.stepIdx++
		c.huntIdx = 0
	}
	c.runStep()
}

func (c *inCall) handle(ev callEvent) {
	if c.onTransferEvent(ev) {
		return
	}
	o := ev.offer
	switch ev.kind {
	case evSIP:
		c.onSIP(ev.sip)
	case evMedia:
		c.onMedia(ev.media)
	case evHold, evResume, evHoldResult, evRemoteHold:
		c.onHold(ev)
	case evAccept:
		c.onAccept(o, ev)
	case evDecline:
		c.onDecline(o, ev)
	case evDTMF:
		c.onDTMF(o, ev)
	case evHangup:
		switch {
		case o != nil && o.state == StateRinging:
			c.onDecline(o, ev)
		case o != nil && o == c.answered && c.phase == inAnswered:
			c.log.Info("rep hung up")
			c.phase = inOver
			c.hangupTrunk()
			c.closeMedia()
			o.end(EndCompleted, "answered", "")
		case ev.conn != nil && o != nil:
			ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "the call has already ended"))
		}
	case evOffer:
		if conn := c.mediaConn(o, ev); conn != nil {
			answer, err := c.media.AcceptBrowserOffer(ev.sdp)
			if err != nil {
				o.log.Warn("browser offer refused", zap.Error(err))
				conn.sendError(ev.re, o.id, protoErr("media_failed", "The browser's audio could not be connected: %v", err))
				return
			}
			conn.enqueue(encode("answer", &answerMsg{header: header{Re: ev.re}, CallID: o.id, SDP: answer}))
		}
	case evCandidate:
		if conn := c.mediaConn(o, ev); conn != nil {
			if err := c.media.AddBrowserCandidate(ev.cand); err != nil {
				o.log.Info("browser candidate refused", zap.Error(err))
			}
		}
	case evWrapUp:
		if o == nil {
			break
		}
		if c.hub.wrapUpValid(ev, o.id, o.state) {
			o.complete(ev.outcome, ev.notes, ev.auto)
		}
	case evEngagement:
		if o == nil {
			break
		}
		if len(ev.engagementID) > 0 && len(o.engagementID) == 0 {
			o.engagementID = ev.engagementID
			o.log.Info("engagement created", zap.ByteString("engagementId", ev.engagementID))
			o.publish()
		}
		o.engagementDone = true
		o.flushEnded()
	case evEngagementTimeout:
		if o != nil && !o.engagementDone {
			o.log.Warn("no engagement id from HubSpot; sending callEnded without it")
			o.engagementDone = true
			o.flushEnded()
		}
	case evCallerID:
		c.onCallerID(ev.matches)
	case evOwner:
		c.onOwner(ev.rep)
	case evStepTimeout:
		if ev.seq != c.stepSeq || c.phase != inRinging {
			break
		}
		c.log.Info("step rang out")
		for _, x := range c.ringing() {
			x.withdraw("routed", "")
		}
		c.advance()
	case evGrace:
		switch {
		case o == nil:
		case o.state == StateRinging:
			o.log.Info("rep's softphone went away while the call rang")
			c.onDecline(o, callEvent{})
		case o == c.answered && c.phase == inAnswered:
			o.log.Warn("rep's softphone did not come back; hanging up")
			c.phase = inOver
			c.hangupTrunk()
			c.closeMedia()
			o.end(EndCompleted, "answered", "Your softphone lost its connection to the gateway, so the call was ended.")
		}
	case evMediaGrace:
		if c.phase == inAnswered && c.mediaDown == ev.outage && c.answered != nil {
			c.log.Warn("browser media did not come back; hanging up")
			c.phase = inOver
			c.hangupTrunk()
			c.closeMedia()
			c.answered.end(EndFailed, "answered", "The audio connection to your browser failed, so the call was ended.")
		}
	case evResync:
		if o == nil {
			break
		}
		if o.state == StateAnswered && (o.owner == nil || !o.sess.attached(o.owner)) && !o.sess.mirrorOnly(ev.conn) {
			o.owner = ev.conn // a reloaded instance takes the media over
			o.log.Info("call's media moves to a reconnected instance", zap.String("instance", ev.conn.instance))
			o.sess.deliverState(o.stateMsg())
			break
		}
		ev.conn.enqueue(o.stateMsg())
	case evDetach:
		if o != nil && o == c.answered && ev.conn == o.owner && c.phase == inAnswered {
			if n := o.sess.ownerCandidate(); n != nil {
				o.owner = n
				o.sess.deliverState(o.stateMsg())
			}
		}
	case evOpenRecord:
		if o == nil || ev.conn == nil {
			break
		}
		if c.caller == nil {
			ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "HubSpot matched no record to this caller."))
			break
		}
		to := []*conn{ev.conn}
		if o.sess.mirrorOnly(ev.conn) {
			to = nil // the calling window opens it
		}
		o.sess.deliverSpeakers(to, encode("sdk", &sdkOutMsg{Name: "navigateToRecord", Data: navigateToRecordData{
			ObjectCoordinates: c.caller.ObjectCoordinates, EngagementID: o.engagementID,
		}}))
	case evPlayDone:
		if c.phase == inVoicemail && !c.recording {
			c.startRecording()
		}
	case evVoicemailMax:
		if c.phase == inVoicemail {
			c.log.Info("voicemail message reached its maximum length; hanging up")
			c.hangupTrunk()
			c.finishVoicemail()
		}
	case evShutdown:
		c.onShutdown()
	case evSIPTimeout:
		if !c.sipDone {
			c.log.Warn("trunk leg did not report its end in time; releasing the call")
			c.sipDone = true
			c.finishVoicemail()
		}
	case evMaxDuration:
		c.onMaxDuration()
	}
	if ev.done != nil {
		close(ev.done)
	}
}

// mediaConn is the socket that may negotiate the call's media: the
// answering offer's owner. Others get an error.
func (c *inCall) mediaConn(o *offer, ev callEvent) *conn {
	if o == nil || ev.conn == nil {
		return nil
	}
	switch {
	case o != c.answered || c.phase != inAnswered || c.media == nil:
		if ev.kind == evOffer {
			ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "the call is not answered here"))
		}
		return nil
	case o.owner != ev.conn:
		if o.owner != nil && o.sess.attached(o.owner) || o.sess.mirrorOnly(ev.conn) {
			if ev.kind == evOffer {
				ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "another instance holds this call's audio"))
			}
			return nil
		}
		o.owner = ev.conn
		o.sess.deliverState(o.stateMsg())
	}
	return ev.conn
}

func (c *inCall) onAccept(o *offer, ev callEvent) {
	if o == nil {
		return
	}
	if o.state != StateRinging || c.phase != inRinging {
		msg := "The call has ended."
		if c.answered != nil && c.answered != o {
			msg = "The call was answered by " + c.answered.sess.user.DisplayName + "."
		} else if o.state == StateAnswered {
			msg = "The call is answered already."
		}
		ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "%s", msg))
		return
	}
	if err := c.leg.Answer(c.answerSDP); err != nil {
		// The caller's CANCEL crossed the answer: its event follows.
		o.log.Info("answer not sent", zap.Error(err))
		ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "The caller hung up."))
		return
	}
	c.im.StopPlay()
	c.media.MarkAnswered()
	c.phase = inAnswered
	c.answered = o
	c.stepSeq++ // disarms the step timer
	o.owner = o.sess.mediaOwnerFor(ev.conn)
	o.answeredAt = time.Now()
	o.reason = "answered"
	o.transition(TrigAnswered)
	o.sdk("callAnswered", callAnsweredData{ExternalCallID: o.id})
	c.armMaxDuration()
	o.log.Info("inbound call answered", zap.String("answeredOn", ev.conn.instance), zap.String("media", o.owner.instance),
		zap.Duration("ringTime", o.answeredAt.Sub(c.startedAt)))
	for _, x := range c.ringing() {
		x.withdraw("answered_elsewhere", o.sess.user.DisplayName)
	}
}

func (c *inCall) onDecline(o *offer, ev callEvent) {
	if o == nil {
		return
	}
	if o.state != StateRinging {
		if ev.conn != nil {
			ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "The call is not ringing."))
		}
		return
	}
	o.log.Info("rep declined the call")
	o.end(EndCanceled, "declined", "")
	if c.phase == inRinging && len(c.ringing()) == 0 {
		c.advance()
	}
}

func (c *inCall) onSIP(ev sip.Event) {
	c.log.Debug("sip event", zap.Stringer("kind", ev.Kind), zap.Int("code", ev.Code), zap.Bool("canceled", ev.Canceled))
	switch ev.Kind {
	case sip.EventDTMF:
		c.onTrunkDTMF(ev.Digit, "info")
	case sip.EventFailed:
		c.sipDone = true
		if c.phase == inRinging {
			c.phase = inOver
			c.closeMedia()
			if ev.Canceled {
				c.log.Info("the caller hung up while the call rang", zap.Duration("rang", time.Since(c.startedAt)))
			} else {
				c.log.Warn("inbound INVITE failed", zap.Int("code", ev.Code), zap.Error(ev.Err))
			}
			for _, o := range c.ringing() {
				o.end(EndMissed, "missed", "The caller hung up.")
			}
		}
	case sip.EventHangup:
		c.sipDone = true
		switch c.phase {
		case inAnswered:
			c.log.Info("caller hung up", zap.String("reasonHeader", ev.ReasonHeader))
			c.phase = inOver
			c.closeMedia()
			c.answered.end(EndCompleted, "answered", "The caller hung up.")
		case inVoicemail:
			c.finishVoicemail()
		}
	case sip.EventEnded:
		c.sipDone = true
		switch c.phase {
		case inAnswered: // the dialog died under us (no ACK, session timer)
			c.log.Warn("inbound call ended by the SIP layer", zap.Error(ev.Err), zap.Bool("sessionExpired", ev.SessionExpired))
			c.phase = inOver
			c.closeMedia()
			msg := "The carrier did not confirm the call."
			if ev.SessionExpired {
				msg = sessionExpiredMessage
			}
			c.answered.end(EndFailed, "answered", msg)
		case inVoicemail:
			c.finishVoicemail()
		}
	}
}

func (c *inCall) onMedia(ev media.Event) {
	o := c.answered
	switch ev.Kind {
	case media.EventDTMF:
		c.onTrunkDTMF(ev.Digit, "rfc4733")
	case media.EventBrowserConnected:
		if c.mediaDown > 0 {
			c.log.Info("browser media connected again")
			c.mediaDown = 0
			return
		}
		c.log.Info("browser media connected")
	case media.EventBrowserFailed:
		if c.phase == inAnswered && c.mediaDown == 0 {
			c.outages++
			c.mediaDown = c.outages
			c.log.Warn("browser media down; waiting for the softphone to reconnect", zap.Error(ev.Err))
			c.after(c.hub.opts.ReconnectGrace, callEvent{kind: evMediaGrace, outage: c.mediaDown})
		}
	case media.EventRTPTimeout:
		switch c.phase {
		case inAnswered:
			c.log.Warn("no RTP from the trunk; hanging up")
			c.phase = inOver
			c.hangupTrunk()
			c.closeMedia()
			o.end(EndFailed, "answered", "No audio from the caller, so the call was ended.")
		case inVoicemail:
			c.log.Info("no RTP from the caller during voicemail; hanging up")
			c.hangupTrunk()
			c.finishVoicemail()
		}
	}
}

// onCallerID takes HubSpot's caller-ID match (the first one that names a
// record): every offer shows the caller's name, and an owner-aware route
// looks for the record's owner.
func (c *inCall) onCallerID(matches []callerIDMatch) {
	if c.caller != nil || len(matches) == 0 {
		return
	}
	m := matches[0]
	name := strings.TrimSpace(m.Name)
	if name == "" {
		name = strings.TrimSpace(m.FirstName + " " + m.LastName)
	}
	c.caller = &callerInfo{Name: truncate(name, 200), Type: m.CallerIDType, ObjectCoordinates: m.ObjectCoordinates}
	c.log.Info("caller identified by HubSpot", zap.String("type", m.CallerIDType), zap.ByteString("record", m.ObjectCoordinates))
	for _, o := range c.offers {
		if o.state != StateCompleted {
			o.sess.deliverState(o.stateMsg())
		}
	}
	if !c.route.OwnerFirst || c.ownerTried || c.phase != inRinging {
		return
	}
	c.ownerTried = true
	if id := strings.Trim(string(m.OwnerID), `" `); id != "" && id != "null" {
		c.onOwner(c.hub.repOfOwner(id))
		return
	}
	owners := c.hub.opts.Owners
	var coords objectCoordinates
	if owners == nil || json.Unmarshal(m.ObjectCoordinates, &coords) != nil || coords.ObjectID == "" {
		c.log.Info("owner-aware routing: the record's owner cannot be looked up")
		return
	}
	c.lookups.Add(1)
	go func() {
		defer c.lookups.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		id, err := owners.OwnerOf(ctx, coords.ObjectTypeID, coords.ObjectID.String())
		if err != nil {
			c.log.Warn("owner-aware routing: owner lookup failed", zap.Error(err))
			return
		}
		rep := c.hub.repOfOwner(id)
		c.log.Info("record owner", zap.String("ownerId", id), zap.String("rep", rep), zap.Duration("lookup", time.Since(start)))
		c.post(callEvent{kind: evOwner, rep: rep})
	}()
}

// onOwner rings the record's owner alone, first, if they are an available
// rep; then the route goes on where it was, without them.
func (c *inCall) onOwner(rep string) {
	if rep == "" || c.phase != inRinging {
		return
	}
	ringing := c.ringing()
	ownerRinging, othersRinging := false, false
	for _, o := range ringing {
		if o.sess.user.Username == rep {
			ownerRinging = true
		} else {
			othersRinging = true
		}
	}
	if !othersRinging && ownerRinging {
		c.log.Info("owner-aware routing: the owner is ringing already", zap.String("rep", rep))
		return
	}
	available := ownerRinging
	for _, s := range c.hub.sessionsOf(rep) {
		available = available || s.available()
	}
	if !available {
		c.log.Info("owner-aware routing: the owner is not available", zap.String("rep", rep))
		return
	}
	c.log.Info("owner-aware routing: ringing the record's owner first", zap.String("rep", rep))
	for _, o := range ringing {
		if o.sess.user.Username != rep {
			o.withdraw("routed", "")
		}
	}
	if !ownerRinging && (!c.ensureMedia() || c.offerTo(rep) == 0) {
		c.runStep()
		return
	}
	c.exclude[rep] = true
	c.ownerStep = true
	d := c.route.OwnerRingTimeout
	if d == 0 {
		d = c.hub.opts.RingTimeout
	}
	c.armStep(d)
}

// Voicemail.

func (c *inCall) startVoicemail(vm *Voicemail) {
	if !c.ensureMedia() {
		return
	}
	if err := c.leg.Answer(c.answerSDP); err != nil {
		c.log.Info("voicemail: answer not sent", zap.Error(err))
		c.phase = inOver
		c.closeMedia()
		return
	}
	c.phase = inVoicemail
	c.vm = vm
	c.media.MarkAnswered()
	c.im.StopPlay()
	if len(vm.Greeting) > 0 {
		c.im.Play(vm.Greeting, false, func() { c.post(callEvent{kind: evPlayDone}) })
		return
	}
	c.startRecording()
}

func (c *inCall) startRecording() {
	max := c.vm.MaxLength
	if max == 0 {
		max = 2 * time.Minute
	}
	c.recording = true
	c.im.Record(max)
	c.after(max, callEvent{kind: evVoicemailMax})
	c.log.Info("voicemail: recording", zap.String("mailbox", c.vm.Name), zap.Duration("max", max))
}

// finishVoicemail hands the message over, once.
func (c *inCall) finishVoicemail() {
	if c.vm == nil || c.vmDone {
		return
	}
	c.vmDone = true
	c.phase = inOver
	var audio []byte
	if c.recording && c.im != nil {
		audio = c.im.Recording()
	}
	c.closeMedia()
	msg := VoicemailMessage{Mailbox: c.vm.Name, DID: c.did, From: c.from, SIPCallID: c.info.SIPCallID,
		ReceivedAt: c.startedAt, Audio: audio}
	c.log.Info("voicemail message", zap.String("mailbox", c.vm.Name),
		zap.Duration("length", time.Duration(len(audio))*time.Second/8000))
	if cb := c.hub.opts.OnVoicemail; cb != nil && len(audio) > 0 {
		c.hub.wg.Add(1)
		go func() { defer c.hub.wg.Done(); cb(msg) }()
	}
}

func (c *inCall) onShutdown() {
	const bye = "The gateway is restarting; the call was ended."
	switch c.phase {
	case inRinging:
		c.reject(503, "Service Unavailable", 0)
		for _, o := range c.ringing() {
			o.end(EndMissed, "missed", bye)
		}
	case inAnswered:
		c.phase = inOver
		c.hangupTrunk()
		c.closeMedia()
		c.answered.end(EndCompleted, "answered", bye)
	case inVoicemail:
		c.hangupTrunk()
		c.finishVoicemail()
	}
	for _, o := range c.offers {
		o.engagementDone = true
		o.flushEnded()
		if o.state == StateEnded {
			o.complete("", "", true)
		}
	}
	c.after(c.hub.opts.ShutdownTrunkWait, callEvent{kind: evSIPTimeout})
}

// offer is an inbound call as one rep's session sees it: it rings their
// instances, and has its own externalCallId and HubSpot lifecycle. Its
// state belongs to the call's goroutine; snap is what others may read.
type offer struct {
	id   string
	c    *inCall
	sess *Session
	log  *zap.Logger
	snapshots

	state          State
	owner          *conn   // the instance with the media, once answered
	told           []*conn // the instances that raised incomingCall
	reason         string  // call.endReason
	answeredBy     string
	message        string
	endStatus      EndStatus
	answeredAt     time.Time
	endedAt        time.Time
	engagementID   json.RawMessage
	engagementDone bool
	endedPending   bool // callEnded waits for the engagement id
	autoPending    bool // callCompleted follows callEnded at once
}

func (c *inCall) newOffer(s *Session) *offer {
	o := &offer{id: uuid.NewString(), c: c, sess: s, state: StateRinging}
	o.log = c.log.With(zap.String("externalCallId", o.id), zap.String("user", s.user.Username))
	o.publish()
	return o
}

func (o *offer) callID() string            { return o.id }
func (o *offer) finished() <-chan struct{} { return o.c.done }

func (o *offer) publish() { o.store(o.state, o.engagementID) }

func (o *offer) post(ev callEvent) bool {
	ev.offer = o
	return o.c.post(ev)
}

// transition moves the offer and tells the rep's instances.
func (o *offer) transition(trig Trigger) {
	next, err := o.state.Next(trig)
	if err != nil {
		o.log.Warn("ignored event", zap.Error(err))
		return
	}
	o.state = next
	o.publish()
	o.sess.deliverState(o.stateMsg())
}

// sdk sends an SDK event to the instances that raised incomingCall (or,
// when they are gone, to the rep's speakers).
func (o *offer) sdk(name string, data any) {
	o.sess.deliverSpeakers(o.told, encode("sdk", &sdkOutMsg{Name: name, Data: data}))
}

// withdraw takes a ringing offer back: the call went elsewhere.
func (o *offer) withdraw(reason, answeredBy string) {
	o.answeredBy = answeredBy
	o.sdk("callTransferred", callTransferredData{ExternalCallID: o.id})
	msg := ""
	if answeredBy != "" {
		msg = "Answered by " + answeredBy + "."
	}
	o.end(EndNoAnswer, reason, msg)
}

// end ends the offer; an offer the rep did not answer completes as soon as
// callEnded is out.
func (o *offer) end(st EndStatus, reason, msg string) {
	if o.state != StateRinging && o.state != StateAnswered {
		return
	}
	o.endStatus, o.reason, o.message = st, reason, msg
	o.endedAt = time.Now()
	o.autoPending = o.answeredAt.IsZero()
	o.log.Info("call ended for the rep", zap.String("callEndStatus", string(st)), zap.String("endReason", reason),
		zap.Duration("talkTime", o.talkTime()))
	o.transition(TrigEnded)
	o.endedPending = true
	if !o.engagementDone {
		o.c.after(o.c.hub.opts.EngagementWait, callEvent{kind: evEngagementTimeout, offer: o})
	}
	o.flushEnded()
}

func (o *offer) flushEnded() {
	if !o.endedPending || !o.engagementDone {
		return
	}
	o.endedPending = false
	o.sdk("callEnded", callEndedData{ExternalCallID: o.id, EngagementID: o.engagementID, CallEndStatus: o.endStatus})
	if o.autoPending {
		o.complete("", "", true)
	}
}

// complete sends callCompleted and lets the session go.
func (o *offer) complete(outcome, notes string, auto bool) {
	if o.state != StateEnded {
		return
	}
	notes = o.c.transferNote(o, notes)
	o.autoPending = false
	o.engagementDone = true
	o.flushEnded()
	props := map[string]string{
		"hs_call_status":      callStatusOf(o.endStatus),
		"hs_call_direction":   "INBOUND",
		"hs_call_duration":    strconv.FormatInt(o.talkTime().Milliseconds(), 10),
		"hs_call_from_number": o.c.from,
		"hs_call_to_number":   o.c.did,
	}
	if notes != "" {
		props["hs_call_body"] = notes
	}
	if oc, ok := o.c.hub.outcome(outcome); ok && oc.Disposition != "" {
		props["hs_call_disposition"] = oc.Disposition
	}
	o.log.Info("call completed", zap.String("outcome", outcome), zap.Bool("auto", auto))
	o.transition(TrigWrapUp)
	o.sdk("callCompleted", callCompletedData{ExternalCallID: o.id, EngagementID: o.engagementID,
		HideWidget: o.c.hub.opts.HideWidget, EngagementProperties: props})
	o.sess.callGone(o)
}

func (o *offer) talkTime() time.Duration {
	if o.answeredAt.IsZero() {
		return 0
	}
	end := o.endedAt
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(o.answeredAt)
}

func (o *offer) stateMsg() []byte {
	c := o.c
	m := &callMsg{
		CallID: o.id, State: o.state.String(), Direction: "INBOUND",
		ToNumber: c.did, FromNumber: c.from, StartedAt: c.startedAt.UnixMilli(),
		EndStatus: o.endStatus, Message: o.message, EngagementID: o.engagementID,
		Caller: c.caller, AnsweredBy: o.answeredBy,
	}
	if o == c.answered && c.phase == inAnswered {
		m.Held, m.HeldByRemote = c.hold.local, c.hold.shown
	}
	if o.owner != nil {
		m.Owner = o.owner.instance
	}
	if o.state == StateEnded || o.state == StateCompleted {
		m.EndReason = o.reason
	}
	if !o.answeredAt.IsZero() {
		m.AnsweredAt = o.answeredAt.UnixMilli()
		m.EndsAt = unixMilli(c.hub.endsAt(o.answeredAt))
	}
	if !o.endedAt.IsZero() {
		m.EndedAt = o.endedAt.UnixMilli()
	}
	return encode("call", m)
}

// reasonPhrase is the standard phrase of a rejection code (RFC 3261 21).
func reasonPhrase(code int) string {
	if p, ok := sipPhrases[code]; ok {
		return p
	}
	return "Rejected"
}

var sipPhrases = map[int]string{
	403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 410: "Gone", 480: "Temporarily Unavailable",
	486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
}
