package softphone

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// Dial asks the gateway to call number (the protocol's "dial", as from the
// softphone's keypad) and returns the new call's id once the gateway
// reports it dialling. A number the gateway cannot call gives an *Error
// with code CodeInvalidNumber.
func (p *Phone) Dial(ctx context.Context, number string) (string, error) {
	r := p.register("call", "")
	defer p.unregister(r)
	if err := p.send(ctx, outDial{V: ProtocolVersion, Type: "dial", ID: r.id, ToNumber: number}); err != nil {
		return "", err
	}
	m, err := p.await(ctx, r, nil)
	if err != nil {
		return "", err
	}
	return m.(*Call).CallID, nil
}

// Call returns the phone's view of a call: its last "call" message and the
// states it has been seen in. ok is false for a call the phone never saw.
func (p *Phone) Call(callID string) (c Call, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.callLocked(callID)
}

// LastCall returns the most recent call the gateway told the phone about.
func (p *Phone) LastCall() (c Call, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.callLocked(p.lastCall)
}

func (p *Phone) callLocked(callID string) (Call, bool) {
	c, ok := p.calls[callID]
	if !ok {
		return Call{}, false
	}
	cp := *c
	cp.States = append([]CallState(nil), c.States...)
	return cp, true
}

// reached reports whether c has reached want, or cannot any more (err is
// then a *CallEndedError). Ringing and early media count as each other.
func reached(c *Call, want CallState) (bool, error) {
	switch want {
	case StateEnded:
		return c.State.Terminal(), nil
	case StateCompleted:
		return c.State == StateCompleted, nil
	}
	for _, s := range c.States {
		if !s.Terminal() && s.rank() >= want.rank() {
			return true, nil
		}
	}
	if c.State.Terminal() {
		cp := *c
		cp.States = append([]CallState(nil), c.States...)
		return true, &CallEndedError{Call: cp, Want: string(want)}
	}
	return false, nil
}

// WaitState waits until the call has reached state (or a later one; a call
// that went straight to answered has passed ringing) and returns the call
// as it is then. If the call ends first, it returns a *CallEndedError,
// which matches ErrCallEnded.
func (p *Phone) WaitState(ctx context.Context, callID string, state CallState) (Call, error) {
	if state.rank() < 0 {
		return Call{}, fmt.Errorf("softphone: no call state %q", state)
	}
	for {
		p.mu.Lock()
		if c, ok := p.calls[callID]; ok {
			if ok, err := reached(c, state); ok {
				cp, _ := p.callLocked(callID)
				p.mu.Unlock()
				return cp, err
			}
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
			return Call{}, fmt.Errorf("softphone: waiting for call %s to be %s: %w", callID, state, ctx.Err())
		}
	}
}

// Hangup hangs up the call (CANCEL before answer, BYE after) and waits
// until the gateway reports it ended. Hanging up an ended call is a no-op.
func (p *Phone) Hangup(ctx context.Context, callID string) error {
	if c, ok := p.Call(callID); ok && c.State.Terminal() {
		return nil
	}
	r := p.register("", "")
	defer p.unregister(r)
	if err := p.send(ctx, outHangup{V: ProtocolVersion, Type: "hangup", ID: r.id, CallID: callID}); err != nil {
		return err
	}
	_, err := p.await(ctx, r, func() (bool, error) {
		c, ok := p.calls[callID]
		return ok && c.State.Terminal(), nil
	})
	return err
}

// WrapUp sends the rep's wrap-up for an ended call — outcome is a key of
// Session.Outcomes or empty, notes free text — and waits until the gateway
// reports the call completed (it sends HubSpot callCompleted).
func (p *Phone) WrapUp(ctx context.Context, callID, outcome, notes string) error {
	r := p.register("", "")
	defer p.unregister(r)
	if err := p.send(ctx, outWrapUp{V: ProtocolVersion, Type: "wrapUp", ID: r.id, CallID: callID, Outcome: outcome, Notes: notes}); err != nil {
		return err
	}
	_, err := p.await(ctx, r, func() (bool, error) {
		c, ok := p.calls[callID]
		return ok && c.State == StateCompleted, nil
	})
	return err
}

// updateCallLocked records a call message and returns what to do about its
// media once mu is released. Called on readLoop with mu held.
func (p *Phone) updateCallLocked(m *Call) []func() {
	c, seen := p.calls[m.CallID]
	if !seen {
		c = &Call{}
		p.calls[m.CallID] = c
	}
	states := c.States
	if len(states) == 0 || states[len(states)-1] != m.State {
		states = append(states, m.State)
	}
	*c = *m
	c.States = states
	p.lastCall = m.CallID

	var after []func()
	cm := p.media[m.CallID]
	// The phone negotiates the media of its own calls: those it placed,
	// and the inbound ones the gateway gave it (Owner); an inbound call
	// rings with no owner.
	mine := m.Owner == "" && !m.Inbound()
	if p.session != nil && m.Owner != "" {
		mine = m.Owner == p.session.Instance
	}
	switch {
	case cm == nil && mine && !m.State.Terminal() && !p.opts.NoMedia && p.err == nil:
		cm = newCallMedia(p, m.CallID)
		p.media[m.CallID] = cm
		p.lastMedia = cm
		p.mediaWG.Add(1)
		go cm.run()
	case cm != nil && (m.State.Terminal() || !mine):
		after = append(after, cm.end)
	}
	_ = seen
	if ce := p.log.Check(zap.DebugLevel, "call"); ce != nil {
		ce.Write(zap.String("callId", m.CallID), zap.String("state", string(m.State)))
	}
	return after
}

// mediaOf returns the media of callID, or of the last call when callID is
// empty.
func (p *Phone) mediaOf(callID string) (*callMedia, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.lastMedia
	if callID != "" {
		m = p.media[callID]
	}
	if m == nil {
		if callID != "" && p.calls[callID] == nil {
			return nil, ErrNoCall
		}
		return nil, ErrNoMedia
	}
	return m, nil
}
