package cti

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/sip"
)

// Maximum call duration (Options.MaxDuration) and the session timer's end
// of a call (sip.Event.SessionExpired).
//
// An answered call, outbound or inbound, is hung up with BYE once it has
// lasted MaxDuration: callEnded COMPLETED, logged with reason "max
// duration". The rep is not interrupted by a separate message: the call
// state carries endsAt (ms), and the widget shows a notice from a minute
// before.

// maxDurationMessage is what the rep reads when the gateway ended the call.
func maxDurationMessage(d time.Duration) string {
	return fmt.Sprintf("The call reached the maximum call duration (%s) and was ended.", d)
}

// sessionExpiredMessage is what the rep reads when the session timer ended
// the call: the carrier stopped refreshing the session (RFC 4028).
const sessionExpiredMessage = "The carrier stopped confirming the call (SIP session timer expired), so the call was ended."

// endsAt is when an answered call will be ended for its maximum duration;
// zero without one.
func (h *Hub) endsAt(answeredAt time.Time) time.Time {
	if h.opts.MaxDuration <= 0 || answeredAt.IsZero() {
		return time.Time{}
	}
	return answeredAt.Add(h.opts.MaxDuration)
}

// armMaxDuration starts the maximum duration timer of an answered call.
func (c *Call) armMaxDuration() {
	if d := c.hub.opts.MaxDuration; d > 0 {
		c.after(d, callEvent{kind: evMaxDuration})
	}
}

func (c *Call) onMaxDuration() {
	if c.state != StateAnswered {
		return
	}
	d := c.hub.opts.MaxDuration
	c.log.Info("hanging up", zap.String("reason", "max duration"), zap.Duration("maxDuration", d))
	c.hangupTrunk()
	c.end(Ending{Answered: true}, maxDurationMessage(d))
}

// onSessionExpired ends an answered call the SIP layer ended with BYE
// because its session timer ran out.
func (c *Call) onSessionExpired(ev sip.Event) {
	if !c.state.Live() {
		return
	}
	c.log.Warn("session timer expired; the trunk leg ended the call", zap.Error(ev.Err))
	c.end(Ending{Answered: true, SessionExpired: true}, sessionExpiredMessage)
}

func (c *inCall) armMaxDuration() {
	if d := c.hub.opts.MaxDuration; d > 0 {
		c.after(d, callEvent{kind: evMaxDuration})
	}
}

func (c *inCall) onMaxDuration() {
	if c.phase != inAnswered || c.answered == nil {
		return
	}
	d := c.hub.opts.MaxDuration
	c.log.Info("hanging up", zap.String("reason", "max duration"), zap.Duration("maxDuration", d))
	c.phase = inOver
	c.hangupTrunk()
	c.closeMedia()
	c.answered.end(EndCompleted, "answered", maxDurationMessage(d))
}

// unixMilli is t in ms since the epoch; 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
