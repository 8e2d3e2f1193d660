package cti

import (
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/hubline/hubline/sip"
)

// Blind transfer of an answered inbound call: as transfer.go for outbound
// calls, with the trunk's inbound dialog (sip.InboundInvite) sending the
// REFER and the answering rep's offer ending as COMPLETED on success.

// onTransferEvent handles the transfer kinds of callEvent, and the
// caller's BYE during a transfer; it reports whether it handled ev.
func (c *inCall) onTransferEvent(ev callEvent) bool {
	switch ev.kind {
	case evTransfer:
		c.onTransfer(ev)
	case evTransferProgress:
		c.onTransferProgress(ev.transfer)
	case evTransferBye:
		if !c.sipDone {
			c.log.Info("trunk did not end the transferred call; sending BYE")
			c.hangupTrunk()
		}
	case evSIP:
		x := c.xfer
		if ev.sip.Kind != sip.EventHangup || x == nil || x.transferred || c.phase != inAnswered {
			return false
		}
		c.sipDone = true
		if x.accepted {
			c.transferred()
		} else {
			x.hungup = true // the transfer's last event decides
		}
	default:
		return false
	}
	return true
}

func (c *inCall) onTransfer(ev callEvent) {
	o := ev.offer
	fail := func(code, format string, args ...any) {
		if ev.conn != nil && o != nil {
			ev.conn.sendError(ev.re, o.id, protoErr(code, format, args...))
		}
	}
	if o == nil || o != c.answered || c.phase != inAnswered {
		fail("bad_state", "Only an answered call can be transferred.")
		return
	}
	if c.xfer != nil {
		fail("bad_state", "A transfer of this call is already in progress.")
		return
	}
	to, err := sip.NormalizeNumber(ev.transfer.to, strings.ToUpper(c.hub.opts.DefaultRegion))
	if err != nil {
		fail("invalid_number", "%q is not a phone number we can transfer to: %s", truncate(ev.transfer.to, 64), strings.TrimPrefix(err.Error(), "sip: "))
		return
	}
	tr, ok := c.leg.(transferrer)
	if !ok {
		fail("transfer_unsupported", "This trunk cannot transfer calls.")
		return
	}
	var referredBy string
	if n, err := sip.NormalizeNumber(o.sess.user.FromNumber, ""); err == nil {
		referredBy = n
	}
	c.xferSeq++
	x := &transferState{seq: c.xferSeq, to: to}
	err = tr.Transfer(sip.Transfer{To: to, ReferredBy: referredBy}, func(tev sip.TransferEvent) {
		c.post(callEvent{kind: evTransferProgress, transfer: &transferEvent{ev: tev, seq: x.seq}})
	})
	if err != nil {
		o.log.Warn("transfer not started", zap.String("target", to), zap.Error(err))
		fail("transfer_failed", "Transfer failed: %s", strings.TrimPrefix(err.Error(), "sip: "))
		return
	}
	c.xfer = x
	o.log.Info("transfer requested", zap.String("target", to))
	ev.conn.enqueue(encode("transfer", &transferStatusMsg{header: header{Re: ev.re}, CallID: o.id, To: to, State: "requested", Initiator: "rep"}))
}

func (c *inCall) onTransferProgress(te *transferEvent) {
	x, o := c.xfer, c.answered
	if x == nil || o == nil || te.seq != x.seq || x.transferred || c.phase != inAnswered {
		return
	}
	step, msg := x.progress(te.ev)
	switch step {
	case stepIgnore:
		return
	case stepTransferred:
		c.transferred()
		return
	case stepHungUp:
		c.xfer = nil
		c.phase = inOver
		c.closeMedia()
		o.end(EndCompleted, "answered", "The caller hung up.")
		return
	case stepFailed:
		c.xfer = nil
		o.log.Info("transfer failed; the call goes on", zap.Int("sipCode", te.ev.Code), zap.Error(te.ev.Err))
	}
	msg.CallID = o.id
	o.sess.deliverState(encode("transfer", msg))
}

// transferred ends the answered offer as transferred (COMPLETED); BYE
// follows unless the trunk sends it.
func (c *inCall) transferred() {
	x, o := c.xfer, c.answered
	x.transferred = true
	o.log.Info("call transferred", zap.String("target", x.to))
	o.sess.deliverState(encode("transfer", &transferStatusMsg{CallID: o.id, To: x.to, State: "succeeded", SIPCode: 200, Initiator: "rep"}))
	c.phase = inOver
	c.closeMedia()
	o.end(EndCompleted, "answered", "The call was transferred to "+x.to+".")
	if !c.sipDone {
		c.after(transferByeWait, callEvent{kind: evTransferBye})
	}
}

// transferFailure is what the rep reads when a transfer failed.
func transferFailure(ev sip.TransferEvent, accepted bool) string {
	switch {
	case ev.Code > 0:
		return fmt.Sprintf("Transfer failed: %d %s. The call is still connected.", ev.Code, ev.Reason)
	case ev.Err != nil && accepted:
		return "Transfer failed: the carrier did not report the outcome in time. The call is still connected."
	}
	return "Transfer failed: the carrier did not answer. The call is still connected."
}

// transferNote adds the transfer to the answering rep's notes for
// hs_call_body.
func (c *inCall) transferNote(o *offer, notes string) string {
	if c.xfer == nil || !c.xfer.transferred || o != c.answered {
		return notes
	}
	note := "Transferred to " + c.xfer.to + "."
	if notes == "" {
		return note
	}
	return notes + "\n\n" + note
}
