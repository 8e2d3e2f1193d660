package softphone

import (
	"context"
	"fmt"
)

// Inbound calls and presence: the rep makes themselves available, a call
// rings (a "call" message with Direction INBOUND, state ringing, and sdk
// incomingCall), and the rep accepts or declines it. The gateway answers
// the trunk when the rep accepts; the instance it names as the call's
// Owner negotiates the media, which this package does by itself.

// SetAvailable tells the gateway whether the rep takes inbound calls and
// waits for its presence reply.
func (p *Phone) SetAvailable(ctx context.Context, available bool) error {
	r := p.register("presence", "")
	defer p.unregister(r)
	if err := p.send(ctx, outSetAvailable{V: ProtocolVersion, Type: "setAvailable", ID: r.id, Available: available}); err != nil {
		return err
	}
	m, err := p.await(ctx, r, nil)
	if err != nil {
		return err
	}
	if got := m.(*Presence).Available; got != available {
		return fmt.Errorf("softphone: presence is %v, asked for %v", got, available)
	}
	return nil
}

// WaitIncoming waits until an inbound call rings on the phone and returns
// it (the most recent, if several ring).
func (p *Phone) WaitIncoming(ctx context.Context) (Call, error) {
	for {
		p.mu.Lock()
		id := ""
		if c, ok := p.calls[p.lastCall]; ok && c.Inbound() && c.State == StateRinging {
			id = p.lastCall
		}
		for cid, c := range p.calls {
			if id == "" && c.Inbound() && c.State == StateRinging {
				id = cid
			}
		}
		if id != "" {
			cp, _ := p.callLocked(id)
			p.mu.Unlock()
			return cp, nil
		}
		if p.err != nil {
			err := p.closedErrLocked()
			p.mu.Unlock()
			return Call{}, err
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Call{}, fmt.Errorf("softphone: waiting for an incoming call: %w", ctx.Err())
		}
	}
}

// Accept answers a ringing inbound call and waits until the gateway
// reports it answered. Another rep's or instance's answer first gives an
// *Error with code CodeBadState (or the call ends: *CallEndedError).
func (p *Phone) Accept(ctx context.Context, callID string) (Call, error) {
	r := p.register("", "")
	defer p.unregister(r)
	if err := p.send(ctx, outCallAction{V: ProtocolVersion, Type: "accept", ID: r.id, CallID: callID}); err != nil {
		return Call{}, err
	}
	var call Call
	_, err := p.await(ctx, r, func() (bool, error) {
		c, ok := p.calls[callID]
		if !ok {
			return false, nil
		}
		done, err := reached(c, StateAnswered)
		if done {
			call, _ = p.callLocked(callID)
		}
		return done, err
	})
	return call, err
}

// Decline turns a ringing inbound call down and waits until the gateway
// reports it ended for this rep (the call moves on to the next step of its
// route).
func (p *Phone) Decline(ctx context.Context, callID string) error {
	r := p.register("", "")
	defer p.unregister(r)
	if err := p.send(ctx, outCallAction{V: ProtocolVersion, Type: "decline", ID: r.id, CallID: callID}); err != nil {
		return err
	}
	_, err := p.await(ctx, r, func() (bool, error) {
		c, ok := p.calls[callID]
		return ok && c.State.Terminal(), nil
	})
	return err
}

// OpenRecord asks the gateway to have HubSpot open the caller's record
// (sdk navigateToRecord). It returns once the request is written.
func (p *Phone) OpenRecord(ctx context.Context, callID string) error {
	return p.send(ctx, outCallAction{V: ProtocolVersion, Type: "openRecord", ID: p.newID(), CallID: callID})
}
