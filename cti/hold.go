package cti

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// Hold, both ways, and the trunk's other in-dialog offers.
//
// The trunk's re-INVITE or UPDATE is answered synchronously by the SIP
// dialog's goroutine through sessionHandler, from the call's media (which
// is safe for concurrent use): the answer must be in the 200 OK. What the
// call needs to know — the trunk holds it, or no longer does — reaches the
// call's goroutine as evRemoteHold; the flag it reads is set first, so a
// notification that cannot be queued is only late, never wrong.
//
// The rep's hold and resume (protocol messages hold and unhold; "resume" names the session resume) are a
// re-INVITE of ours, a=sendonly then a=sendrecv, sent from a goroutine of
// the call's (the re-INVITE may wait seconds for a 491 retry) whose result
// comes back as evHoldResult. While the rep holds, the browser's audio does
// not reach the trunk and music on hold (Options.MusicOnHold) plays to it.

// ReofferMedia is what a call's media needs for in-dialog offers and hold
// (media/reoffer.go implements it).
type ReofferMedia interface {
	AnswerTrunkReoffer(offer []byte) ([]byte, error)
	TrunkReoffer() ([]byte, error)
	LocalHoldOffer(hold bool) ([]byte, error)
	ApplyLocalHold(hold bool, answer []byte) error
	TrunkHolds() bool
}

// Reinviter is a trunk leg that can send a re-INVITE (*sip.Outbound,
// *sip.InboundInvite).
type Reinviter interface {
	Reinvite(ctx context.Context, offer []byte) ([]byte, error)
}

// errNoReoffer: the call's media cannot take in-dialog offers.
var errNoReoffer = errors.New("cti: the call's media cannot renegotiate")

// holdState is a call's hold, owned by its goroutine but for remote.
type holdState struct {
	remote    atomic.Bool // the trunk holds the call: set by the SIP goroutine
	shown     bool        // remote as last told to the rep
	local     bool        // the rep holds the call
	pending   bool        // our hold or resume re-INVITE is under way
	reinvites sync.WaitGroup
}

// sessionHandler adapts a call's media to sip.SessionHandler.
type sessionHandler struct {
	media  MediaSession
	hold   *holdState
	notify func() // posts evRemoteHold; must not block
}

func (h *sessionHandler) rm() (ReofferMedia, error) {
	rm, ok := h.media.(ReofferMedia)
	if !ok {
		return nil, errNoReoffer
	}
	return rm, nil
}

func (h *sessionHandler) AnswerOffer(offer []byte) ([]byte, error) {
	rm, err := h.rm()
	if err != nil {
		return nil, err
	}
	ans, err := rm.AnswerTrunkReoffer(offer)
	if err == nil {
		h.changed(rm)
	}
	return ans, err
}

func (h *sessionHandler) Offer() ([]byte, error) {
	rm, err := h.rm()
	if err != nil {
		return nil, err
	}
	return rm.TrunkReoffer()
}

func (h *sessionHandler) ApplyAnswer(answer []byte) error {
	if err := h.media.SetTrunkAnswer(answer); err != nil {
		return err
	}
	if rm, err := h.rm(); err == nil {
		h.changed(rm)
	}
	return nil
}

func (h *sessionHandler) changed(rm ReofferMedia) {
	if held := rm.TrunkHolds(); h.hold.remote.Swap(held) != held {
		h.notify()
	}
}

// notifier returns a notify for sessionHandler that queues ev on events
// without blocking.
func notifier(events chan callEvent, ev callEvent) func() {
	return func() {
		select {
		case events <- ev:
		default: // the queue is full: the next event shows the flag
		}
	}
}

// holdTimeout bounds a hold or resume re-INVITE, 491 retries included.
const holdTimeout = 45 * time.Second

// startHold sends the re-INVITE that holds (or resumes) the call, from a
// goroutine of the call's; post takes its result. It returns a protocol
// error when the call cannot do it now.
func (hs *holdState) startHold(log *zap.Logger, leg any, ms MediaSession, hold bool, post func(callEvent) bool, ev callEvent) *ProtoError {
	what := map[bool]string{true: "hold", false: "resume"}[hold]
	rv, ok := leg.(Reinviter)
	rm, ok2 := ms.(ReofferMedia)
	switch {
	case !ok || !ok2:
		return protoErr("bad_state", "This call cannot be put on hold.")
	case hs.pending:
		return protoErr("bad_state", "A hold or resume is already under way.")
	}
	offer, err := rm.LocalHoldOffer(hold)
	if err != nil {
		log.Error("no hold offer", zap.Error(err))
		return protoErr("internal", "The %s could not be prepared.", what)
	}
	hs.pending = true
	hs.reinvites.Add(1)
	go func() {
		defer hs.reinvites.Done()
		ctx, cancel := context.WithTimeout(context.Background(), holdTimeout)
		ans, err := rv.Reinvite(ctx, offer)
		cancel()
		ev.kind, ev.hold, ev.sdp, ev.err = evHoldResult, hold, string(ans), err
		post(ev)
	}()
	log.Info("re-INVITE for " + what + " sent to the trunk")
	return nil
}

// finishHold applies the result of startHold's re-INVITE. It reports
// whether the hold changed; on failure the rep gets an error and the call
// stays as it was.
func (hs *holdState) finishHold(log *zap.Logger, ms MediaSession, moh []byte, ev callEvent, id string) bool {
	hs.pending = false
	what := map[bool]string{true: "hold", false: "resume"}[ev.hold]
	fail := func(format string, args ...any) {
		if ev.conn != nil {
			ev.conn.sendError(ev.re, id, protoErr("hold_failed", format, args...))
		}
	}
	if ev.err != nil {
		log.Warn(what+" refused by the trunk; the call stays as it was", zap.Error(ev.err))
		var se *sip.StatusError
		if errors.As(ev.err, &se) {
			fail("The carrier refused the %s (%d %s).", what, se.Code, se.Reason)
		} else {
			fail("The %s did not go through: %v", what, ev.err)
		}
		return false
	}
	rm := ms.(ReofferMedia)
	if err := rm.ApplyLocalHold(ev.hold, []byte(ev.sdp)); err != nil {
		log.Warn("the trunk's answer to our "+what+" is unusable", zap.Error(err))
		fail("The carrier's answer to the %s is unusable: %v", what, err)
		return false
	}
	hs.local = ev.hold
	if p, ok := ms.(InboundMedia); ok {
		if ev.hold && len(moh) > 0 {
			p.Play(moh, true, nil)
		} else {
			p.StopPlay()
		}
	}
	log.Info("call " + map[bool]string{true: "held", false: "resumed"}[ev.hold] + " by the rep")
	return true
}

// remoteChanged reports whether the trunk's hold changed since the rep was
// last told.
func (hs *holdState) remoteChanged() bool {
	r := hs.remote.Load()
	if r == hs.shown {
		return false
	}
	hs.shown = r
	return true
}

// onHold handles the hold events of an outbound call.
func (c *Call) onHold(ev callEvent) {
	switch ev.kind {
	case evHold, evResume:
		hold := ev.kind == evHold
		switch {
		case c.state != StateAnswered:
			ev.conn.sendError(ev.re, c.ID, protoErr("bad_state", "Only an answered call can be put on hold or resumed."))
		case c.hold.local == hold && !c.hold.pending:
			ev.conn.enqueue(c.stateMsg()) // already so
		default:
			if pe := c.hold.startHold(c.log, c.trunk, c.media, hold, c.post, ev); pe != nil {
				ev.conn.sendError(ev.re, c.ID, pe)
			}
		}
	case evHoldResult:
		if c.state != StateAnswered {
			c.hold.pending = false
			return
		}
		if c.hold.finishHold(c.log, c.media, c.hub.opts.MusicOnHold, ev, c.ID) {
			c.sess.deliverState(c.stateMsg())
		}
	case evRemoteHold:
		if c.state == StateAnswered && c.hold.remoteChanged() {
			c.log.Info("the trunk changed the call's hold", zap.Bool("heldByRemote", c.hold.shown))
			c.sess.deliverState(c.stateMsg())
		}
	}
}

// onHold handles the hold events of an inbound call (its answering offer).
func (c *inCall) onHold(ev callEvent) {
	o := c.answered
	switch ev.kind {
	case evHold, evResume:
		hold := ev.kind == evHold
		switch {
		case ev.offer == nil || ev.offer != o || c.phase != inAnswered:
			id := ""
			if ev.offer != nil {
				id = ev.offer.id
			}
			ev.conn.sendError(ev.re, id, protoErr("bad_state", "Only an answered call can be put on hold or resumed."))
		case c.hold.local == hold && !c.hold.pending:
			ev.conn.enqueue(o.stateMsg())
		default:
			if pe := c.hold.startHold(c.log, c.leg, c.media, hold, c.post, ev); pe != nil {
				ev.conn.sendError(ev.re, o.id, pe)
			}
		}
	case evHoldResult:
		if c.phase != inAnswered || o == nil {
			c.hold.pending = false
			return
		}
		if c.hold.finishHold(c.log, c.media, c.hub.opts.MusicOnHold, ev, o.id) {
			o.sess.deliverState(o.stateMsg())
		}
	case evRemoteHold:
		if c.phase == inAnswered && o != nil && c.hold.remoteChanged() {
			c.log.Info("the trunk changed the call's hold", zap.Bool("heldByRemote", c.hold.shown))
			o.sess.deliverState(o.stateMsg())
		}
	}
}

var (
	_ ReofferMedia       = (*media.Session)(nil)
	_ Reinviter          = (*sip.Outbound)(nil)
	_ Reinviter          = (*sip.InboundInvite)(nil)
	_ sip.SessionHandler = (*sessionHandler)(nil)
)
