package softphone

import (
	"context"
	"fmt"
	"strings"
)

// The keypad: the rep's digits sent by the gateway (the dtmf message), and
// the trunk's digits the gateway reports (dtmfReceived).

// DTMFSent is the gateway's reply to SendDTMF: the digits are on their way
// to the trunk, Via "rfc4733" (RTP events) or "info" (SIP INFO).
type DTMFSent struct {
	CallID string `json:"callId"`
	Digits string `json:"digits"`
	Via    string `json:"via"`
}

// DTMFReceived is a digit the trunk sent on a call, Via "rfc4733" or "info".
type DTMFReceived struct {
	CallID string `json:"callId"`
	Digit  string `json:"digit"`
	Via    string `json:"via"`
}

func (*DTMFSent) Type() string     { return "dtmfSent" }
func (*DTMFReceived) Type() string { return "dtmfReceived" }

type outDTMF struct {
	V      int    `json:"v"`
	Type   string `json:"type"`
	ID     string `json:"id"`
	CallID string `json:"callId"`
	Digits string `json:"digits"`
}

// SendDTMF asks the gateway to send digits (0-9 * # A-D) on the answered
// call callID, as the web softphone's keypad does, and returns the
// gateway's reply once they are queued; the gateway's error (bad_state
// before the answer, dtmf_failed) otherwise.
func (p *Phone) SendDTMF(ctx context.Context, callID, digits string) (DTMFSent, error) {
	r := p.register("dtmfSent", callID)
	defer p.unregister(r)
	if err := p.send(ctx, outDTMF{V: ProtocolVersion, Type: "dtmf", ID: r.id, CallID: callID, Digits: digits}); err != nil {
		return DTMFSent{}, err
	}
	m, err := p.await(ctx, r, nil)
	if err != nil {
		return DTMFSent{}, err
	}
	return *m.(*DTMFSent), nil
}

// ReceivedDTMF returns the digits the trunk sent on callID so far, in order.
func (p *Phone) ReceivedDTMF(callID string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.receivedLocked(callID)
}

func (p *Phone) receivedLocked(callID string) string {
	var b strings.Builder
	for _, d := range p.dtmfIn {
		if d.CallID == callID {
			b.WriteString(d.Digit)
		}
	}
	return b.String()
}

// WaitDTMF waits until the trunk sent at least len(digits) digits on
// callID, and fails unless they are digits.
func (p *Phone) WaitDTMF(ctx context.Context, callID, digits string) error {
	r := p.register("", "")
	defer p.unregister(r)
	_, err := p.await(ctx, r, func() (bool, error) {
		got := p.receivedLocked(callID)
		if len(got) < len(digits) {
			return false, nil
		}
		if got != digits {
			return true, fmt.Errorf("softphone: the trunk sent %q, want %q", got, digits)
		}
		return true, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("softphone: waiting for DTMF %q (got %q): %w", digits, p.ReceivedDTMF(callID), err)
	}
	return err
}
