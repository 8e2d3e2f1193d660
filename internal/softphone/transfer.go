package softphone

import (
	"context"
	"fmt"
)

// TransferStatus is the gateway's "transfer" message: one step of a blind
// transfer of a call (docs/protocol.md).
type TransferStatus struct {
	CallID string `json:"callId"`
	To     string `json:"to"`
	// State is requested, accepted, trying, ringing, succeeded or failed.
	State     string `json:"state"`
	SIPCode   int    `json:"sipCode,omitempty"`
	SIPReason string `json:"sipReason,omitempty"`
	Message   string `json:"message,omitempty"`
}

func (*TransferStatus) Type() string { return "transfer" }

type outTransfer struct {
	V      int    `json:"v"`
	Type   string `json:"type"`
	ID     string `json:"id"`
	CallID string `json:"callId"`
	To     string `json:"to"`
}

// Transfer asks the gateway to transfer the answered call to number (blind
// transfer: the carrier connects the other party to number and the rep
// leaves the call). It returns the "requested" step, or the gateway's
// error (invalid_number, bad_state, …) when nothing was sent.
func (p *Phone) Transfer(ctx context.Context, callID, number string) (TransferStatus, error) {
	r := p.register("transfer", callID)
	defer p.unregister(r)
	if err := p.send(ctx, outTransfer{V: ProtocolVersion, Type: "transfer", ID: r.id, CallID: callID, To: number}); err != nil {
		return TransferStatus{}, err
	}
	m, err := p.await(ctx, r, nil)
	if err != nil {
		return TransferStatus{}, err
	}
	return *m.(*TransferStatus), nil
}

// Transfers lists the transfer steps the gateway reported for callID, in
// order.
func (p *Phone) Transfers(callID string) []TransferStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []TransferStatus
	for _, t := range p.transfers {
		if t.CallID == callID {
			out = append(out, t)
		}
	}
	return out
}

// WaitTransfer waits until the call's transfer reports state and returns
// that step. Waiting for succeeded fails as soon as the transfer failed,
// and the other way round.
func (p *Phone) WaitTransfer(ctx context.Context, callID, state string) (TransferStatus, error) {
	for {
		p.mu.Lock()
		for _, t := range p.transfers {
			if t.CallID != callID {
				continue
			}
			if t.State == state {
				p.mu.Unlock()
				return t, nil
			}
			if (t.State == "failed" || t.State == "succeeded") && (state == "failed" || state == "succeeded") {
				p.mu.Unlock()
				return t, fmt.Errorf("softphone: transfer of %s %s (%s), not %s", callID, t.State, t.Message, state)
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return TransferStatus{}, fmt.Errorf("softphone: waiting for transfer %s of %s: %w", state, callID, ctx.Err())
		}
	}
}
