package sip

import "context"

// UA is hubline's SIP user agent: one sipgo UA, client and server.
type UA struct{}

// NewUA starts listening on opts.ListenAddr.
func NewUA(opts Options) (*UA, error) { panic("unimplemented") }

// Close stops listening. Calls should be hung up first.
func (u *UA) Close() error { panic("unimplemented") }

// Dial sends the INVITE on trunk and returns once it is on the wire. Events
// follow on onEvent, in order, from one goroutine; onEvent must not block
// for long. The last event is EventFailed, EventHangup or EventEnded.
func (u *UA) Dial(ctx context.Context, trunk Trunk, inv Invite, onEvent func(Event)) (*Call, error) {
	panic("unimplemented")
}

// Call is one outbound INVITE dialog.
type Call struct{}

// Hangup ends the call: CANCEL before a final response, BYE after answer.
// Idempotent. It returns once the request is sent; the outcome arrives as an
// event.
func (c *Call) Hangup(ctx context.Context) error { panic("unimplemented") }
