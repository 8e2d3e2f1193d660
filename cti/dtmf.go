package cti

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// DTMF: the rep's keypad (the dtmf message) goes to the trunk as RFC 4733
// events from the media session, or as SIP INFO from the trunk leg, as the
// trunk's dtmfMode says; digits from the trunk (either way) go to every
// instance of the rep as dtmfReceived.

// dtmfMsg is the rep's keypad: digits to send on the call.
type dtmfMsg struct {
	envelope
	CallID string `json:"callId"`
	Digits string `json:"digits"`
}

func (m *dtmfMsg) validate() error {
	if err := required("dtmf", "callId", m.CallID, "digits", m.Digits); err != nil {
		return err
	}
	if err := maxLen("dtmf", "callId", m.CallID, 64); err != nil {
		return err
	}
	if media.ValidDTMF(m.Digits) != nil {
		return protoErr("bad_message", "%q field \"digits\" must be 1 to %d of 0-9 * # A-D", "dtmf", media.MaxDTMFDigits)
	}
	return nil
}

// dtmfSentMsg answers dtmf: the digits are on their way (queued for the
// trunk).
type dtmfSentMsg struct {
	header
	CallID string `json:"callId"`
	Digits string `json:"digits"`
	Via    string `json:"via"` // "rfc4733" or "info"
}

// dtmfReceivedMsg tells the softphone the trunk sent a digit.
type dtmfReceivedMsg struct {
	header
	CallID string `json:"callId"`
	Digit  string `json:"digit"`
	// Via is how it came: "rfc4733" (RTP) or "info" (SIP INFO).
	Via string `json:"via"`
}

// DTMFTrunk is what a trunk leg (*sip.Outbound, *sip.InboundInvite) offers
// for DTMF; legs without it take RFC 4733 only.
type DTMFTrunk interface {
	DTMFMode() sip.DTMFMode
	SendDTMF(ctx context.Context, digit byte, dur time.Duration) error
}

// DTMFMedia is what a MediaSession (*media.Session) offers for DTMF.
type DTMFMedia interface {
	SendDTMF(digits string) error
}

// infoDigitWait bounds one INFO transaction of the sender.
const infoDigitWait = 10 * time.Second

// dtmfSender sends a call's INFO digits one after the other from its own
// goroutine, so that the call's goroutine never waits for the trunk. The
// call's goroutine owns it: send, and stop when the call is over.
type dtmfSender struct {
	q      chan byte
	cancel context.CancelFunc
	done   chan struct{}
}

// sendDTMF sends digits on the call whose trunk leg is trunk and media ms.
// It returns how they go: "rfc4733" or "info".
func (d *dtmfSender) sendDTMF(log *zap.Logger, trunk any, ms MediaSession, digits string) (string, *ProtoError) {
	mode := sip.DTMFRFC4733
	t, hasInfo := trunk.(DTMFTrunk)
	if hasInfo {
		mode = t.DTMFMode()
	}
	if mode != sip.DTMFInfo {
		m, ok := ms.(DTMFMedia)
		if !ok || ms == nil {
			return "", protoErr("dtmf_failed", "This call cannot send digits.")
		}
		if err := m.SendDTMF(digits); err != nil {
			log.Info("DTMF not sent", zap.Error(err))
			if errors.Is(err, media.ErrNoTelephoneEvent) {
				return "", protoErr("dtmf_failed", "The carrier did not agree to RFC 4733 digits on this call.")
			}
			return "", protoErr("dtmf_failed", "The digits could not be sent: %v", err)
		}
		log.Info("DTMF sent", zap.String("mode", "rfc4733"), zap.Int("digits", len(digits)))
		return "rfc4733", nil
	}
	if d.q == nil {
		ctx, cancel := context.WithCancel(context.Background())
		d.q, d.cancel, d.done = make(chan byte, media.MaxDTMFDigits), cancel, make(chan struct{})
		go d.run(ctx, log, t)
	}
	if len(d.q)+len(digits) > cap(d.q) {
		return "", protoErr("dtmf_failed", "Too many digits are waiting to be sent.")
	}
	for i := 0; i < len(digits); i++ {
		d.q <- digits[i]
	}
	log.Info("DTMF queued", zap.String("mode", "info"), zap.Int("digits", len(digits)))
	return "info", nil
}

func (d *dtmfSender) run(ctx context.Context, log *zap.Logger, t DTMFTrunk) {
	defer close(d.done)
	for digit := range d.q {
		if ctx.Err() != nil {
			continue // drain: the call is over
		}
		tctx, cancel := context.WithTimeout(ctx, infoDigitWait)
		err := t.SendDTMF(tctx, digit, media.DefaultDTMFTone)
		cancel()
		if err != nil {
			log.Info("INFO DTMF failed", zap.Error(err))
		}
	}
}

// stop ends the sender and waits for its goroutine.
func (d *dtmfSender) stop() {
	if d.q == nil {
		return
	}
	d.cancel()
	close(d.q)
	<-d.done
	d.q = nil
}

// dtmfReceived is the message for a digit from the trunk.
func dtmfReceived(callID string, digit byte, via string) []byte {
	return encode("dtmfReceived", &dtmfReceivedMsg{CallID: callID, Digit: string(rune(digit)), Via: via})
}

// onDTMF is the rep's dtmf on an outbound call.
func (c *Call) onDTMF(ev callEvent) {
	if c.state != StateAnswered {
		ev.conn.sendError(ev.re, c.ID, protoErr("bad_state", "Digits can be sent once the call is answered."))
		return
	}
	via, pe := c.dtmf.sendDTMF(c.log, c.trunk, c.media, ev.digits)
	if pe != nil {
		ev.conn.sendError(ev.re, c.ID, pe)
		return
	}
	ev.conn.enqueue(encode("dtmfSent", &dtmfSentMsg{header: header{Re: ev.re}, CallID: c.ID, Digits: ev.digits, Via: via}))
}

// onTrunkDTMF tells every instance of the rep about a digit from the trunk.
func (c *Call) onTrunkDTMF(digit byte, via string) {
	if c.state != StateAnswered {
		return
	}
	c.log.Info("DTMF from the trunk", zap.String("digit", string(rune(digit))), zap.String("via", via))
	c.sess.deliverState(dtmfReceived(c.ID, digit, via))
}

// onDTMF is the rep's dtmf on an inbound call they answered.
func (c *inCall) onDTMF(o *offer, ev callEvent) {
	if o == nil || o != c.answered || c.phase != inAnswered {
		if ev.conn != nil && o != nil {
			ev.conn.sendError(ev.re, o.id, protoErr("bad_state", "Digits can be sent once the call is answered."))
		}
		return
	}
	via, pe := c.dtmf.sendDTMF(o.log, c.leg, c.media, ev.digits)
	if pe != nil {
		ev.conn.sendError(ev.re, o.id, pe)
		return
	}
	ev.conn.enqueue(encode("dtmfSent", &dtmfSentMsg{header: header{Re: ev.re}, CallID: o.id, Digits: ev.digits, Via: via}))
}

// onTrunkDTMF tells the rep who answered about a digit from the trunk.
func (c *inCall) onTrunkDTMF(digit byte, via string) {
	o := c.answered
	if o == nil || c.phase != inAnswered {
		return
	}
	o.log.Info("DTMF from the trunk", zap.String("digit", string(rune(digit))), zap.String("via", via))
	o.sess.deliverState(dtmfReceived(o.id, digit, via))
}
