package cti

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// evKind says what a callEvent carries.
type evKind int

const (
	evSIP               evKind = iota + 1 // a trunk-leg event
	evMedia                               // a media-session event
	evOffer                               // the browser's WebRTC offer
	evCandidate                           // a trickled browser candidate
	evHangup                              // the rep (or HubSpot's onEndCall) hangs up
	evWrapUp                              // the rep saved outcome and notes
	evEngagement                          // HubSpot created the engagement (or failed to)
	evEngagementTimeout                   // gave up waiting for the engagement id
	evGrace                               // the rep's sockets stayed away too long
	evShutdown                            // the gateway is stopping
	evSIPTimeout                          // the trunk leg never reported its end
	evResync                              // a socket re-attached: send it the call's state
	evMediaGrace                          // the browser's audio stayed down too long
	// Inbound calls (inbound.go).
	evAccept       // the rep answers
	evDecline      // the rep declines
	evOpenRecord   // the rep asks HubSpot to open the caller's record
	evCallerID     // HubSpot's caller-ID match (or its failure)
	evOwner        // the matched record's owner is known
	evStepTimeout  // a route step rang out
	evPlayDone     // the voicemail greeting ended
	evVoicemailMax // a voicemail message reached its maximum length
	evDetach       // a socket of the rep went away
	evMaxDuration  // the answered call reached Options.MaxDuration (maxduration.go)
	// Hold (hold.go).
	evHold       // the rep holds the call
	evResume     // the rep resumes it
	evHoldResult // our hold or resume re-INVITE is over
	evRemoteHold // the trunk held or resumed the call
	evDTMF       // the rep's keypad (dtmf.go)
)

// callEvent is the one kind of value a call's goroutine receives.
type callEvent struct {
	kind  evKind
	sip   sip.Event
	media media.Event
	conn  *conn  // who asked, for replies (nil for internal events)
	re    string // the request's id, echoed in replies
	sdp   string
	cand  media.Candidate
	// wrap-up
	outcome, notes string
	auto           bool          // completed by the gateway, not the rep
	done           chan struct{} // closed once a wrap-up is handled
	// engagement
	engagementID json.RawMessage
	// evMediaGrace: the outage it was armed for
	outage int
	// Inbound calls: the offer (a rep's view) the event is for, the
	// caller-ID match, the owner found, a step's sequence number.
	offer   *offer
	matches []callerIDMatch
	rep     string
	seq     int
	// evHoldResult: what was asked, and the re-INVITE's outcome (sdp the answer).
	hold bool
	err  error
	// Transfers (transfer.go, refer_in.go).
	transfer *transferEvent
	refer    *sip.IncomingRefer
	digits   string // evDTMF
}

// callSnapshot is what other goroutines may read of a call.
type callSnapshot struct {
	state        State
	engagementID json.RawMessage
}

// Call is one outbound call: its trunk leg, its media and its state. All of
// its mutable state belongs to the goroutine running run.
type Call struct {
	ID             string // externalCallId and SIP Call-ID
	hub            *Hub
	sess           *Session
	owner          *conn // the socket that placed the call; SDK events go there first
	log            *zap.Logger
	to, from       string
	startedAt      time.Time
	dialingContext json.RawMessage

	events    chan callEvent
	done      chan struct{} // closed when run returns
	snapshots               // what other goroutines may read

	// Owned by run.
	state          State
	trunk          TrunkCall
	media          MediaSession
	answeredAt     time.Time
	endedAt        time.Time
	endStatus      EndStatus
	sipCode        int
	sipReason      string
	reasonHeader   string
	message        string
	engagementID   json.RawMessage
	engagementDone bool // HubSpot answered createEngagement (either way) or we stopped waiting
	endedPending   bool // callEnded waits for the engagement id
	sipDone        bool // the trunk leg reported its last event
	mediaDown      int  // > 0 while the browser's audio is down: which outage (evMediaGrace names one)
	mediaOutages   int
	timers         []*time.Timer
	hold           holdState
	xfer           *transferState // the transfer in progress (transfer.go)
	xferSeq        int
	leg, legSeq    int       // the current trunk leg's number, the last one given (refer_in.go)
	referLeg       *referLeg // the new call of a trunk's REFER, until it answers or fails
	dtmf           dtmfSender
}

func (c *Call) publish() { c.store(c.state, c.engagementID) }

// snapshots holds a call's (or an offer's) latest callSnapshot for other
// goroutines; its owner stores, anyone loads.
type snapshots struct{ p atomic.Pointer[callSnapshot] }

func (s *snapshots) snapshot() callSnapshot {
	if v := s.p.Load(); v != nil {
		return *v
	}
	return callSnapshot{}
}

func (s *snapshots) store(state State, engagementID json.RawMessage) {
	s.p.Store(&callSnapshot{state: state, engagementID: engagementID})
}

// post hands ev to the call's goroutine. It reports false once the call is gone.
func (c *Call) post(ev callEvent) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.done:
		return false
	}
}

// callRef is the call a Session shows: an outbound Call, or the session's
// offer of an inbound call (inbound.go). Its methods are safe to call from
// any goroutine.
type callRef interface {
	callID() string
	snapshot() callSnapshot
	// post hands an event to the call's goroutine; false once it is gone.
	post(ev callEvent) bool
	// finished is closed when the call's goroutine is gone.
	finished() <-chan struct{}
}

func (c *Call) callID() string            { return c.ID }
func (c *Call) finished() <-chan struct{} { return c.done }

// autoComplete completes an ended call without outcome or notes and waits
// until callCompleted is queued for HubSpot.
func autoComplete(c callRef) {
	done := make(chan struct{})
	if !c.post(callEvent{kind: evWrapUp, auto: true, done: done}) {
		return
	}
	select {
	case <-done:
	case <-c.finished():
	case <-time.After(2 * time.Second):
	}
}

// after posts ev after d, unless the call is gone by then.
func (c *Call) after(d time.Duration, ev callEvent) {
	c.timers = append(c.timers, time.AfterFunc(d, func() { c.post(ev) }))
}

// run is the call's goroutine. It returns once the call is completed and its
// trunk leg is over.
func (c *Call) run() {
	defer c.hub.callGone(c)
	defer c.hold.reinvites.Wait() // after close(done): their post then returns at once
	defer close(c.done)
	defer func() {
		for _, t := range c.timers {
			t.Stop()
		}
	}()
	defer c.dtmf.stop()
	for !(c.state == StateCompleted && c.sipDone) {
		ev := <-c.events
		c.handle(ev)
		c.publish()
	}
	c.log.Debug("call goroutine done")
}

func (c *Call) handle(ev callEvent) {
	if c.onTransferEvent(ev) {
		return
	}
	switch ev.kind {
	case evSIP:
		c.onSIP(ev.sip)
	case evMedia:
		c.onMedia(ev.media)
	case evOffer:
		c.onOffer(ev)
	case evCandidate:
		if c.media == nil || !c.state.Live() {
			return
		}
		if err := c.media.AddBrowserCandidate(ev.cand); err != nil {
			c.log.Info("browser candidate refused", zap.Error(err))
		}
	case evHangup:
		c.onHangup(ev)
	case evDTMF:
		c.onDTMF(ev)
	case evWrapUp:
		c.onWrapUp(ev)
	case evEngagement:
		if len(ev.engagementID) > 0 {
			c.engagementID = ev.engagementID
			c.log.Info("engagement created", zap.ByteString("engagementId", ev.engagementID))
		}
		c.engagementDone = true
		c.flushEnded()
	case evEngagementTimeout:
		if !c.engagementDone {
			c.log.Warn("no engagement id from HubSpot; sending callEnded without it")
		}
		c.engagementDone = true
		c.flushEnded()
	case evGrace:
		if c.state.Live() {
			c.log.Warn("rep's softphone did not come back; hanging up")
			c.hangupTrunk()
			c.end(Ending{Answered: c.state == StateAnswered, CanceledByRep: c.state != StateAnswered},
				"Your softphone lost its connection to the gateway, so the call was ended.")
		}
	case evShutdown:
		if c.state.Live() {
			c.hangupTrunk()
			c.end(Ending{Answered: c.state == StateAnswered, CanceledByRep: c.state != StateAnswered},
				"The gateway is restarting; the call was ended.")
		}
		c.engagementDone = true
		c.flushEnded()
		if c.state == StateEnded {
			c.complete("", "", true)
		}
		// Do not wait long for the trunk: a BYE without an answer still ends here.
		c.after(c.hub.opts.ShutdownTrunkWait, callEvent{kind: evSIPTimeout})
	case evMediaGrace:
		if c.state.Live() && c.mediaDown == ev.outage {
			c.log.Warn("browser media did not come back; hanging up")
			c.hangupTrunk()
			c.end(Ending{Answered: c.state == StateAnswered, MediaFailure: true, TransportError: c.state != StateAnswered},
				"The audio connection to your browser failed, so the call was ended.")
		}
	case evResync:
		if c.state.Live() && !c.sess.attached(c.owner) && !c.sess.mirrorOnly(ev.conn) {
			// A reloaded instance takes the call (and its media) over.
			c.owner = ev.conn
			c.sess.deliverState(c.stateMsg())
			break
		}
		ev.conn.enqueue(c.stateMsg())
	case evDetach:
		if ev.conn == c.owner && c.state.Live() {
			if n := c.sess.ownerCandidate(); n != nil {
				c.owner = n
				c.sess.deliverState(c.stateMsg())
			}
		}
	case evAccept, evDecline, evOpenRecord:
		if ev.conn != nil {
			ev.conn.sendError(ev.re, c.ID, protoErr("bad_state", "%s is for incoming calls", map[evKind]string{
				evAccept: "accept", evDecline: "decline", evOpenRecord: "openRecord"}[ev.kind]))
		}
	case evHold, evResume, evHoldResult, evRemoteHold:
		c.onHold(ev)
	case evSIPTimeout:
		if !c.sipDone {
			c.log.Warn("trunk leg did not report its end in time; releasing the call")
			c.sipDone = true
		}
	case evMaxDuration:
		c.onMaxDuration()
	}
	if ev.done != nil {
		close(ev.done)
	}
}

func (c *Call) onSIP(ev sip.Event) {
	c.log.Debug("sip event", zap.Stringer("kind", ev.Kind), zap.Int("code", ev.Code))
	switch ev.Kind {
	case sip.EventDTMF:
		c.onTrunkDTMF(ev.Digit, "info")
	case sip.EventProvisional:
		trig := TrigRinging
		if len(ev.SDP) > 0 {
			if err := c.media.SetTrunkAnswer(ev.SDP); err != nil {
				c.log.Warn("early media SDP refused", zap.Error(err))
			} else {
				trig = TrigEarlyMedia
			}
		}
		c.transition(trig)
	case sip.EventAnswered:
		if !c.state.Live() {
			// The rep already hung up; the trunk leg cleans itself up.
			return
		}
		if len(ev.SDP) > 0 {
			if err := c.media.SetTrunkAnswer(ev.SDP); err != nil {
				c.log.Error("answer SDP refused; hanging up", zap.Error(err))
				c.hangupTrunk()
				c.sipCode, c.sipReason = 488, "Not Acceptable Here"
				c.end(Ending{Answered: true, MediaFailure: true}, "The carrier answered with audio the gateway cannot use ("+err.Error()+").")
				return
			}
		}
		c.media.MarkAnswered()
		c.answeredAt = time.Now()
		if c.transition(TrigAnswered) {
			c.sdk("callAnswered", callAnsweredData{ExternalCallID: c.ID})
			c.armMaxDuration()
		}
	case sip.EventFailed:
		c.sipDone = true
		c.sipCode, c.sipReason, c.reasonHeader = ev.Code, ev.Reason, ev.ReasonHeader
		if !c.state.Live() {
			return
		}
		e := Ending{Code: ev.Code, CanceledByRep: ev.Canceled, RingTimeout: ev.RingTimeout,
			TransportError: ev.Err != nil}
		st := EndStatusFor(e)
		msg := failureMessage(st, ev.Code, ev.Reason)
		if ev.Err != nil {
			msg = "The trunk did not respond. Check the trunk address and that it is up."
		}
		c.log.Info("call failed", zap.Int("sipCode", ev.Code), zap.String("sipReason", ev.Reason),
			zap.String("reasonHeader", ev.ReasonHeader), zap.Bool("ringTimeout", ev.RingTimeout), zap.Error(ev.Err))
		c.end(e, msg)
	case sip.EventHangup:
		if c.transferHangup(ev) {
			return
		}
		c.sipDone = true
		c.reasonHeader = ev.ReasonHeader
		if c.state.Live() {
			c.log.Info("trunk hung up", zap.String("reasonHeader", ev.ReasonHeader))
			c.end(Ending{Answered: true}, "The other party hung up.")
		}
	case sip.EventEnded:
		c.sipDone = true
		if ev.SessionExpired {
			c.onSessionExpired(ev)
		}
	}
}

func (c *Call) onMedia(ev media.Event) {
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
		// The page may be reloading (its new offer will replace the leg) or
		// the network may be coming back: the call waits ReconnectGrace for
		// the browser's audio before it gives up.
		if c.state.Live() && c.mediaDown == 0 {
			c.mediaOutages++
			c.mediaDown = c.mediaOutages
			c.log.Warn("browser media down; waiting for the softphone to reconnect",
				zap.Error(ev.Err), zap.Duration("grace", c.hub.opts.ReconnectGrace))
			c.after(c.hub.opts.ReconnectGrace, callEvent{kind: evMediaGrace, outage: c.mediaDown})
		}
	case media.EventRTPTimeout:
		if c.state == StateAnswered {
			c.log.Warn("no RTP from the trunk; hanging up")
			c.hangupTrunk()
			c.end(Ending{Answered: true, MediaFailure: true}, "No audio from the carrier, so the call was ended.")
		}
	}
}

func (c *Call) onOffer(ev callEvent) {
	if !c.state.Live() {
		ev.conn.sendError(ev.re, c.ID, protoErr("bad_state", "the call has ended"))
		return
	}
	answer, err := c.media.AcceptBrowserOffer(ev.sdp)
	if err != nil {
		c.log.Warn("browser offer refused", zap.Error(err))
		ev.conn.sendError(ev.re, c.ID, protoErr("media_failed", "The browser's audio could not be connected: %v", err))
		return
	}
	ev.conn.enqueue(encode("answer", &answerMsg{header: header{Re: ev.re}, CallID: c.ID, SDP: answer}))
}

func (c *Call) onHangup(ev callEvent) {
	if !c.state.Live() {
		if ev.conn != nil {
			ev.conn.sendError(ev.re, c.ID, protoErr("bad_state", "the call has already ended"))
		}
		return
	}
	answered := c.state == StateAnswered
	c.hangupTrunk()
	c.end(Ending{Answered: answered, CanceledByRep: !answered}, "")
}

func (c *Call) onWrapUp(ev callEvent) {
	if c.hub.wrapUpValid(ev, c.ID, c.state) {
		c.complete(ev.outcome, ev.notes, ev.auto)
	}
}

// wrapUpValid checks a wrap-up (ev) of the call id in state: only once it
// has ended, and only with a configured outcome; else the socket that sent
// it gets the error.
func (h *Hub) wrapUpValid(ev callEvent, id string, state State) bool {
	if state != StateEnded {
		if ev.conn != nil {
			ev.conn.sendError(ev.re, id, protoErr("bad_state", "wrap-up is possible once the call has ended"))
		}
		return false
	}
	if !ev.auto && ev.outcome != "" {
		if _, ok := h.outcome(ev.outcome); !ok {
			ev.conn.sendError(ev.re, id, protoErr("bad_message", "unknown outcome %q", truncate(ev.outcome, 64)))
			return false
		}
	}
	return true
}

// hangupTrunk asks the trunk leg to end; the result arrives as a sip.Event.
func (c *Call) hangupTrunk() {
	if err := c.trunk.Hangup(context.WithoutCancel(context.Background())); err != nil {
		c.log.Warn("hang up on trunk", zap.Error(err))
	}
	c.after(c.hub.opts.ShutdownTrunkWait+40*time.Second, callEvent{kind: evSIPTimeout})
}

// transition moves the call and tells the rep. It reports whether the state changed.
func (c *Call) transition(trig Trigger) bool {
	next, err := c.state.Next(trig)
	if err != nil {
		c.log.Warn("ignored event", zap.Error(err))
		return false
	}
	if next == c.state {
		return false
	}
	c.log.Info("call state", zap.Stringer("from", c.state), zap.Stringer("to", next))
	c.state = next
	c.sess.deliverState(c.stateMsg())
	return true
}

// end moves a live call to ended, releases its media and tells HubSpot.
func (c *Call) end(e Ending, msg string) {
	c.dropReferLeg()
	c.endStatus = EndStatusFor(e)
	c.endedAt = time.Now()
	c.message = msg
	if c.media != nil {
		if err := c.media.Close(); err != nil {
			c.log.Warn("close media", zap.Error(err))
		}
	}
	c.log.Info("call ended", zap.String("callEndStatus", string(c.endStatus)),
		zap.Int("sipCode", c.sipCode), zap.String("sipReason", c.sipReason), zap.String("reasonHeader", c.reasonHeader),
		zap.Duration("talkTime", c.talkTime()))
	c.transition(TrigEnded)
	c.endedPending = true
	if !c.engagementDone {
		c.after(c.hub.opts.EngagementWait, callEvent{kind: evEngagementTimeout})
	}
	c.flushEnded()
}

// flushEnded sends callEnded once HubSpot's engagement id is known (or no
// longer awaited), so the event carries it.
func (c *Call) flushEnded() {
	if !c.endedPending || !c.engagementDone {
		return
	}
	c.endedPending = false
	c.sdk("callEnded", callEndedData{ExternalCallID: c.ID, EngagementID: c.engagementID, CallEndStatus: c.endStatus})
}

// complete sends callCompleted with the rep's wrap-up.
func (c *Call) complete(outcome, notes string, auto bool) {
	notes = c.transferNote(notes)
	c.engagementDone = true
	c.flushEnded()
	props := map[string]string{
		"hs_call_status":      string(c.endStatus),
		"hs_call_direction":   "OUTBOUND",
		"hs_call_duration":    strconv.FormatInt(c.talkTime().Milliseconds(), 10),
		"hs_call_from_number": c.from,
		"hs_call_to_number":   c.to,
	}
	if notes != "" {
		props["hs_call_body"] = notes
	}
	if o, ok := c.hub.outcome(outcome); ok && o.Disposition != "" {
		props["hs_call_disposition"] = o.Disposition
	}
	c.log.Info("call completed", zap.String("outcome", outcome), zap.Bool("auto", auto))
	c.transition(TrigWrapUp)
	c.sdk("callCompleted", callCompletedData{ExternalCallID: c.ID, EngagementID: c.engagementID,
		HideWidget: c.hub.opts.HideWidget, EngagementProperties: props})
}

func (c *Call) talkTime() time.Duration {
	if c.answeredAt.IsZero() {
		return 0
	}
	end := c.endedAt
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(c.answeredAt)
}

func (c *Call) sdk(name string, data any) {
	c.sess.deliverSDK(c.owner, encode("sdk", &sdkOutMsg{Name: name, Data: data}))
}

func (c *Call) stateMsg() []byte {
	m := &callMsg{
		CallID: c.ID, State: c.state.String(), Direction: "OUTBOUND",
		ToNumber: c.to, FromNumber: c.from, StartedAt: c.startedAt.UnixMilli(),
		EndStatus: c.endStatus, SIPCode: c.sipCode, SIPReason: c.sipReason, Message: c.message,
		EngagementID: c.engagementID, Held: c.hold.local, HeldByRemote: c.hold.shown,
	}
	if c.owner != nil {
		m.Owner = c.owner.instance
	}
	if !c.answeredAt.IsZero() {
		m.AnsweredAt = c.answeredAt.UnixMilli()
		m.EndsAt = unixMilli(c.hub.endsAt(c.answeredAt))
	}
	if !c.endedAt.IsZero() {
		m.EndedAt = c.endedAt.UnixMilli()
	}
	return encode("call", m)
}
