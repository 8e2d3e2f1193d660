package softphone

import (
	"context"
	"fmt"
)

// Hold puts an answered call on hold (the gateway sends the trunk a
// re-INVITE with a=sendonly) and waits until the gateway reports it held.
// A refusal (the carrier's, or a call that is not answered) is an *Error
// (CodeHoldFailed, CodeBadState); the call stays as it was.
func (p *Phone) Hold(ctx context.Context, callID string) error {
	return p.setHold(ctx, callID, true)
}

// Unhold resumes a held call (a=sendrecv) and waits until the gateway
// reports it no longer held.
func (p *Phone) Unhold(ctx context.Context, callID string) error {
	return p.setHold(ctx, callID, false)
}

func (p *Phone) setHold(ctx context.Context, callID string, hold bool) error {
	typ := map[bool]string{true: "hold", false: "unhold"}[hold]
	r := p.register("", "")
	defer p.unregister(r)
	if err := p.send(ctx, outCallAction{V: ProtocolVersion, Type: typ, ID: r.id, CallID: callID}); err != nil {
		return err
	}
	_, err := p.await(ctx, r, func() (bool, error) {
		c, ok := p.calls[callID]
		if !ok {
			return false, nil
		}
		if c.State.Terminal() {
			return true, fmt.Errorf("softphone: %s: the call ended", typ)
		}
		return c.Held == hold, nil
	})
	return err
}

// WaitHeldByRemote waits until the gateway reports that the other side
// holds the call (held) or no longer does (!held).
func (p *Phone) WaitHeldByRemote(ctx context.Context, callID string, held bool) (Call, error) {
	for {
		p.mu.Lock()
		if c, ok := p.calls[callID]; ok && c.HeldByRemote == held {
			cp, _ := p.callLocked(callID)
			p.mu.Unlock()
			return cp, nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Call{}, fmt.Errorf("softphone: waiting for heldByRemote=%v on %s: %w", held, callID, ctx.Err())
		}
	}
}
