package cti

import (
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/sip"
)

// Blind transfer of an answered call (docs/protocol.md "transfer"); this
// file has the outbound side, transfer_inbound.go the inbound one.
// The rep sends {"type":"transfer","callId":…,"to":…}; the number is read
// like a dialled one (invalid: error invalid_number, nothing sent). The
// trunk leg sends REFER (sip.Outbound.Transfer) and every step comes back
// to the rep as a "transfer" message: requested, accepted, trying, ringing,
// then succeeded or failed.
//
// Success (NOTIFY 200, or the trunk's BYE after its 202): the call ends
// for the rep (media closed) and HubSpot gets callEnded with COMPLETED (talk
// time up to the transfer), then callCompleted after wrap-up, whose
// hs_call_body says "Transferred to <number>." after the rep's notes. No
// callTransferred: in the SDK (calling-extensions.md, 0.9.6) it means an
// inbound call routed away before it was answered, and HubSpot's host
// rejects it for outbound or answered calls. The gateway sends BYE unless
// the trunk does within transferByeWait.
//
// Failure (REFER refused — 603 included, livekit/sip #234 —, a final
// non-2xx NOTIFY, no final NOTIFY in time): the call stays up with the rep,
// who is told "Transfer failed: <reason>".

// Event kinds of transfers; the enum in call.go stays untouched.
const (
	evTransfer         evKind = iota + 100 // the rep asks for a transfer
	evTransferProgress                     // a sip.TransferEvent
	evTransferBye                          // transferByeWait after success
)

// transferByeWait is how long a transferred call waits for the trunk's BYE
// before sending its own (RFC 5589: the transferor ends the old dialog).
const transferByeWait = 2 * time.Second

func init() {
	newClientMsg["transfer"] = func() clientMsg { return new(transferMsg) }
}

// transferMsg is the softphone's request.
type transferMsg struct {
	envelope
	CallID string `json:"callId"`
	To     string `json:"to"`
}

func (m *transferMsg) validate() error {
	if err := required("transfer", "callId", m.CallID, "to", m.To); err != nil {
		return err
	}
	if err := maxLen("transfer", "callId", m.CallID, 64); err != nil {
		return err
	}
	return maxLen("transfer", "to", m.To, 64)
}

// transferStatusMsg is a transfer's progress for the widget.
type transferStatusMsg struct {
	header
	CallID string `json:"callId"`
	To     string `json:"to"`
	// State: requested, accepted, trying, ringing, succeeded, failed.
	State     string `json:"state"`
	SIPCode   int    `json:"sipCode,omitempty"`
	SIPReason string `json:"sipReason,omitempty"`
	Message   string `json:"message,omitempty"`
	// Initiator is "rep" (the softphone's transfer) or "carrier" (the
	// trunk's REFER moved the call to a new party, refer_in.go).
	Initiator string `json:"initiator"`
}

// transferEvent is a callEvent's transfer payload.
type transferEvent struct {
	to  string            // evTransfer: the number as the rep typed it
	ev  sip.TransferEvent // evTransferProgress
	seq int               // which transfer of the call it belongs to
}

// transferState is the call's transfer in progress (owned by run).
type transferState struct {
	seq         int
	to          string // E.164
	accepted    bool   // the trunk answered 202
	transferred bool   // the call ended as transferred
	hungup      bool   // the trunk hung up before the 202 was in: the transfer's last event decides
}

// transferrer is a trunk leg that can transfer (sip.Outbound does).
type transferrer interface {
	Transfer(t sip.Transfer, onProgress func(sip.TransferEvent)) error
}

// handleTransfer routes a transfer request from the socket.
func (c *conn) handleTransfer(re string, m *transferMsg) {
	call := c.callFor(re, m.CallID)
	if call == nil {
		return
	}
	call.post(callEvent{kind: evTransfer, conn: c, re: re, transfer: &transferEvent{to: m.To}})
}

// onTransferEvent handles the transfer kinds of callEvent; it reports
// false for other kinds.
func (c *Call) onTransferEvent(ev callEvent) bool {
	switch ev.kind {
	case evSIP:
		return c.onLegSIP(ev)
	case evReferIn:
		c.onReferIn(ev.refer)
	case evTransfer:
		c.onTransfer(ev)
	case evTransferProgress:
		c.onTransferProgress(ev.transfer)
	case evTransferBye:
		if !c.sipDone {
			c.log.Info("trunk did not end the transferred call; sending BYE")
			c.hangupTrunk()
		}
	default:
		return false
	}
	return true
}

func (c *Call) onTransfer(ev callEvent) {
	fail := func(code, format string, args ...any) {
		ev.conn.sendError(ev.re, c.ID, protoErr(code, format, args...))
	}
	if c.state != StateAnswered {
		fail("bad_state", "Only an answered call can be transferred.")
		return
	}
	if c.xfer != nil || c.referLeg != nil {
		fail("bad_state", "A transfer of this call is already in progress.")
		return
	}
	to, err := sip.NormalizeNumber(ev.transfer.to, strings.ToUpper(c.hub.opts.DefaultRegion))
	if err != nil {
		c.log.Info("transfer refused: invalid number", zap.String("number", truncate(ev.transfer.to, 64)), zap.Error(err))
		fail("invalid_number", "%q is not a phone number we can transfer to: %s", truncate(ev.transfer.to, 64), strings.TrimPrefix(err.Error(), "sip: "))
		return
	}
	tr, ok := c.trunk.(transferrer)
	if !ok {
		fail("transfer_unsupported", "This trunk cannot transfer calls.")
		return
	}
	c.xferSeq++
	x := &transferState{seq: c.xferSeq, to: to}
	err = tr.Transfer(sip.Transfer{To: to, ReferredBy: c.from}, func(tev sip.TransferEvent) {
		c.post(callEvent{kind: evTransferProgress, transfer: &transferEvent{ev: tev, seq: x.seq}})
	})
	if err != nil {
		c.log.Warn("transfer not started", zap.String("target", to), zap.Error(err))
		fail("transfer_failed", "Transfer failed: %s", strings.TrimPrefix(err.Error(), "sip: "))
		return
	}
	c.xfer = x
	c.log.Info("transfer requested", zap.String("target", to))
	ev.conn.enqueue(encode("transfer", &transferStatusMsg{header: header{Re: ev.re}, CallID: c.ID, To: to, State: "requested", Initiator: "rep"}))
}

func (c *Call) onTransferProgress(te *transferEvent) {
	x := c.xfer
	if x == nil || te.seq != x.seq || x.transferred || !c.state.Live() {
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
		c.log.Info("trunk hung up during the transfer", zap.String("reasonHeader", c.reasonHeader))
		c.end(Ending{Answered: true}, "The other party hung up.")
		return
	case stepFailed:
		c.xfer = nil
		c.log.Info("transfer failed; the call goes on", zap.Int("sipCode", te.ev.Code), zap.String("sipReason", te.ev.Reason),
			zap.Bool("accepted", te.ev.Accepted), zap.Error(te.ev.Err))
	}
	msg.CallID = c.ID
	c.sess.deliverState(encode("transfer", msg))
}

// transferStep is what a transfer's progress event means for its call.
type transferStep int

const (
	stepIgnore      transferStep = iota
	stepReport                   // the rep is told (accepted, trying, ringing)
	stepFailed                   // the rep is told; the call goes on without the transfer
	stepTransferred              // the call ends as transferred
	stepHungUp                   // the trunk hung up and the transfer did not go through: the call ends
)

// progress applies ev, an event of the transfer x, and says what it means
// for the call; for stepReport and stepFailed msg is the rep's message,
// its CallID left to the caller.
func (x *transferState) progress(ev sip.TransferEvent) (step transferStep, msg *transferStatusMsg) {
	msg = &transferStatusMsg{To: x.to, SIPCode: ev.Code, SIPReason: ev.Reason, Initiator: "rep"}
	switch ev.Kind {
	case sip.TransferAccepted:
		x.accepted = true
		msg.State = "accepted"
	case sip.TransferProgress:
		msg.State = "trying"
		if ev.Code > 100 {
			msg.State = "ringing"
		}
	case sip.TransferSucceeded:
		return stepTransferred, nil
	case sip.TransferFailed:
		switch {
		case !x.hungup && errors.Is(ev.Err, sip.ErrDialogState):
			// The dialog ended under the transfer; its end event, on its
			// way, decides (the trunk's BYE after a 202 is a success).
			x.accepted = x.accepted || ev.Accepted
			return stepIgnore, nil
		case x.hungup && ev.Accepted:
			return stepTransferred, nil
		case x.hungup:
			return stepHungUp, nil
		}
		msg.State = "failed"
		msg.Message = transferFailure(ev, x.accepted)
		return stepFailed, msg
	default:
		return stepIgnore, nil
	}
	return stepReport, msg
}

// transferred ends the call as transferred: callEnded COMPLETED; BYE
// follows unless the trunk sends it.
func (c *Call) transferred() {
	x := c.xfer
	if x == nil || x.transferred || !c.state.Live() {
		return
	}
	x.transferred = true
	c.log.Info("call transferred", zap.String("target", x.to))
	c.sess.deliverState(encode("transfer", &transferStatusMsg{CallID: c.ID, To: x.to, State: "succeeded", SIPCode: 200, Initiator: "rep"}))
	c.end(Ending{Answered: true}, "The call was transferred to "+x.to+".")
	if !c.sipDone {
		c.after(transferByeWait, callEvent{kind: evTransferBye})
	}
}

// transferHangup is onSIP's hook for the trunk's BYE during a transfer:
// after the 202 it means the transfer went through (the trunk may skip the
// final NOTIFY); before it, the transfer's last event, which follows at
// once, decides. It reports whether it handled ev.
func (c *Call) transferHangup(ev sip.Event) bool {
	x := c.xfer
	if ev.Kind != sip.EventHangup || x == nil || x.transferred || !c.state.Live() {
		return false
	}
	c.sipDone = true
	c.reasonHeader = ev.ReasonHeader
	if x.accepted {
		c.transferred()
	} else {
		x.hungup = true
	}
	return true
}

// transferNote adds the transfer to the rep's notes for hs_call_body.
func (c *Call) transferNote(notes string) string {
	if c.xfer == nil || !c.xfer.transferred {
		return notes
	}
	note := "Transferred to " + c.xfer.to + "."
	if notes == "" {
		return note
	}
	return notes + "\n\n" + note
}
