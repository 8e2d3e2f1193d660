package cti

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hubline/hubline/sip"
)

// A trunk transfers one of our answered outbound calls (REFER accepted by
// the sip package for trunks with acceptRefer; RFC 5589, hubline as the
// transferee). The rep's call stays, with the same externalCallId and
// browser leg: the gateway places a new INVITE to the target on the
// configured trunks (same media session and offer, Referred-By passed on);
// the trunk (referrer) hears NOTIFY 100 (sent by sip) then the new call's
// final status. When the new call answers, the media session's trunk side
// is re-pointed at its SDP, the old dialog gets BYE, and the rep's widget
// shows the new party (a "call" message with the new toNumber, and
// "transfer" messages with initiator "carrier"). When it fails, the old call
// goes on as it was.
//
// The legs of a Call are numbered: the first is 0; events of other legs
// arrive as evSIP with seq set and are routed here (onTransferEvent).

// evReferIn is a REFER from the trunk (callEvent.refer).
const evReferIn evKind = 110

// ReferHandler adapts h to sip.Options.OnRefer.
func ReferHandler(h *Hub) func(*sip.IncomingRefer) {
	return func(r *sip.IncomingRefer) {
		h.mu.Lock()
		c := h.calls[r.CallID]
		h.mu.Unlock()
		if c == nil || !c.post(callEvent{kind: evReferIn, refer: r}) {
			// On sip's goroutine for this REFER: it may wait.
			notifyRefer(r, 603, "Declined")
		}
	}
}

// notifyRefer sends r's final NOTIFY (it waits for the response).
func notifyRefer(r *sip.IncomingRefer, code int, reason string) {
	_ = r.Notify(code, reason)
}

// notifyLater sends r's final NOTIFY, then runs then (if any), off the
// call's goroutine: the NOTIFY waits for its response (at most seconds).
// The Hub waits for it on shutdown.
func (c *Call) notifyLater(r *sip.IncomingRefer, code int, reason string, then func()) {
	c.hub.wg.Add(1)
	go func() {
		defer c.hub.wg.Done()
		notifyRefer(r, code, reason)
		if then != nil {
			then()
		}
	}()
}

// referLeg is a new call placed for a trunk's REFER (owned by run).
type referLeg struct {
	seq     int
	refer   *sip.IncomingRefer
	trunk   TrunkCall
	target  string
	oldGone bool // the referrer hung up the old leg already
}

// onLegSIP routes the trunk events of legs other than the current one,
// and the referrer's BYE of the current leg while the new call is being
// placed. It reports whether it handled ev.
func (c *Call) onLegSIP(ev callEvent) bool {
	if ev.seq != c.leg {
		c.onLegEvent(ev.seq, ev.sip)
		return true
	}
	if leg := c.referLeg; leg != nil && ev.sip.Kind == sip.EventHangup && c.state.Live() {
		c.log.Info("the referrer hung up the old leg; waiting for the transfer target")
		leg.oldGone = true
		c.reasonHeader = ev.sip.ReasonHeader
		return true
	}
	return false
}

func (c *Call) onReferIn(r *sip.IncomingRefer) {
	if c.state != StateAnswered || c.xfer != nil || c.referLeg != nil {
		c.log.Info("trunk's REFER declined: the call is not answered or a transfer is in progress",
			zap.Stringer("state", c.state))
		c.notifyLater(r, 603, "Declined", nil)
		return
	}
	c.legSeq++
	leg := &referLeg{seq: c.legSeq, refer: r, target: r.Target}
	seq := leg.seq
	inv := c.invite(uuid.NewString(), r.Target)
	inv.ReferredBy = r.ReferredBy
	tc, err := c.hub.opts.Trunk.Dial(context.Background(), inv, func(ev sip.Event) { c.post(callEvent{kind: evSIP, sip: ev, seq: seq}) })
	if err != nil {
		c.log.Warn("INVITE for the trunk's REFER not sent", zap.String("target", r.Target), zap.Error(err))
		c.notifyLater(r, 503, "Service Unavailable", nil)
		return
	}
	leg.trunk = tc
	c.referLeg = leg
	c.log.Info("trunk transfers the call; new INVITE sent", zap.String("target", r.Target), zap.String("referredBy", r.ReferredBy))
	c.sess.deliverState(encode("transfer", &transferStatusMsg{CallID: c.ID, To: r.Target, State: "requested", Initiator: "carrier"}))
}

// onLegEvent takes an event of a leg other than the current one: the new
// call of a trunk's REFER, or the old leg once replaced.
func (c *Call) onLegEvent(seq int, ev sip.Event) {
	leg := c.referLeg
	if leg == nil || seq != leg.seq {
		c.log.Debug("event of a replaced trunk leg", zap.Int("leg", seq), zap.Stringer("kind", ev.Kind))
		return
	}
	msg := &transferStatusMsg{CallID: c.ID, To: leg.target, Initiator: "carrier", SIPCode: ev.Code, SIPReason: ev.Reason}
	switch ev.Kind {
	case sip.EventProvisional:
		msg.State = "ringing"
	case sip.EventAnswered:
		c.referLeg = nil
		if err := c.media.SetTrunkAnswer(ev.SDP); err != nil {
			c.log.Warn("the transfer target's SDP is unusable; staying on the old leg", zap.Error(err))
			_ = leg.trunk.Hangup(context.Background())
			c.notifyLater(leg.refer, 488, "Not Acceptable Here", nil)
			msg.State, msg.Message = "failed", "The carrier's transfer failed: the new party's audio is unusable."
			c.referFailed(leg)
			break
		}
		old := c.trunk
		c.trunk, c.leg, c.to = leg.trunk, leg.seq, leg.target
		c.media.MarkAnswered()
		// The referrer hears the outcome first, then our BYE of the old
		// dialog (RFC 5589).
		c.notifyLater(leg.refer, 200, "OK", func() {
			if err := old.Hangup(context.WithoutCancel(context.Background())); err != nil {
				c.log.Warn("hang up the old leg", zap.Error(err))
			}
		})
		c.log.Info("call moved to the transfer target", zap.String("target", leg.target))
		msg.State = "succeeded"
		c.sess.deliverState(encode("transfer", msg))
		c.sess.deliverState(c.stateMsg())
		return
	case sip.EventFailed, sip.EventHangup, sip.EventEnded:
		c.referLeg = nil
		code, reason := ev.Code, ev.Reason
		if code < 300 {
			code, reason = 487, "Request Terminated"
		}
		c.notifyLater(leg.refer, code, reason, nil)
		c.log.Info("the trunk's transfer failed; the call goes on", zap.Int("sipCode", ev.Code), zap.Error(ev.Err))
		msg.State = "failed"
		msg.Message = fmt.Sprintf("The carrier's transfer to %s failed (%d %s).", leg.target, code, reason)
		c.referFailed(leg)
	default:
		return
	}
	if c.state.Live() {
		c.sess.deliverState(encode("transfer", msg))
	}
}

// referFailed: the new call failed; when the referrer already hung up the
// old leg, the call is over.
func (c *Call) referFailed(leg *referLeg) {
	if !leg.oldGone || !c.state.Live() {
		return
	}
	c.sipDone = true
	c.end(Ending{Answered: true}, "The other party hung up.")
}

// dropReferLeg hangs up the new call of a carrier's transfer when the rep's
// call ends first (CANCEL or BYE; its later events are ignored), so that
// it cannot stay up on the trunk with nobody on it. end calls it.
func (c *Call) dropReferLeg() {
	leg := c.referLeg
	if leg == nil {
		return
	}
	c.referLeg = nil
	c.log.Info("the call ended during the carrier's transfer; hanging up the new call", zap.String("target", leg.target))
	if err := leg.trunk.Hangup(context.WithoutCancel(context.Background())); err != nil {
		c.log.Warn("hang up the transfer's new call", zap.Error(err))
	}
	// No NOTIFY: the old dialog is being ended with BYE, which ends its
	// subscription too (RFC 6665).
}
