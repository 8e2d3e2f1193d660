package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ErrNoTrunk: DialTrunks found no configured trunk that is up and has a free
// call slot.
var ErrNoTrunk = errors.New("sip: no trunk is up with a free call slot")

// trunkState is a configured trunk at run time: its settings, health, calls
// and registration.
type trunkState struct {
	conf trunkConf // read-only
	log  *zap.Logger

	mu         sync.Mutex // guards the fields below
	up         bool
	failures   int // consecutive failed probes
	probeErr   string
	lastProbe  time.Time
	calls      int
	reg        RegistrationStatus
	registered bool // a registration is in place (for unregistering)
}

func newTrunkState(tc trunkConf, log *zap.Logger) *trunkState {
	ts := &trunkState{conf: tc, log: log.With(zap.String("trunk", tc.name)), up: true}
	if tc.register.Enabled {
		ts.reg.State = RegRegistering
	}
	return ts
}

// probing reports whether the trunk's health is tracked (OPTIONS keepalive).
func (ts *trunkState) probing() bool { return ts.conf.keepalive.Interval > 0 }

// acquire takes a call slot if the trunk is up and not full.
func (ts *trunkState) acquire() (ok bool, why string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch {
	case !ts.up:
		return false, "down"
	case ts.conf.maxCalls > 0 && ts.calls >= ts.conf.maxCalls:
		return false, "full"
	}
	ts.calls++
	return true, ""
}

func (ts *trunkState) release() {
	ts.mu.Lock()
	ts.calls--
	ts.mu.Unlock()
}

// probed records the outcome of a health check (an OPTIONS probe, or a call
// attempt that found the trunk silent or unreachable: then down at once).
// err nil: the trunk answered.
func (ts *trunkState) probed(err error, downNow bool) {
	if !ts.probing() {
		return
	}
	ts.mu.Lock()
	wasUp := ts.up
	ts.lastProbe = time.Now()
	if err == nil {
		ts.failures, ts.probeErr, ts.up = 0, "", true
	} else {
		ts.failures++
		ts.probeErr = err.Error()
		if downNow || ts.failures >= ts.conf.keepalive.DownAfter {
			ts.up = false
		}
	}
	up, failures := ts.up, ts.failures
	ts.mu.Unlock()
	switch {
	case up && !wasUp:
		ts.log.Info("trunk is up")
	case !up && wasUp:
		ts.log.Warn("trunk is down", zap.Int("failedProbes", failures), zap.Error(err))
	case err != nil:
		ts.log.Debug("trunk probe failed", zap.Int("failedProbes", failures), zap.Error(err))
	}
}

// startTrunks starts the background work of the configured trunks:
// registration, keepalive, and resolving their host names for the
// inbound source check.
func (u *UA) startTrunks() {
	u.resolveTrust(context.Background())
	if u.trust.Load().hasNames {
		u.bgWG.Add(1)
		go u.resolveLoop()
	}
	for _, ts := range u.trunks {
		if ts.conf.register.Enabled {
			u.bgWG.Add(1)
			go u.registerLoop(ts)
		}
		if ts.probing() {
			u.bgWG.Add(1)
			go u.keepaliveLoop(ts)
		}
	}
}

// TrunkStatus is a configured trunk's state, for logs and /healthz.
type TrunkStatus struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Transport string `json:"transport"`
	// Up: the trunk answers its probes (always true without keepalive).
	Up bool `json:"up"`
	// Probing: OPTIONS keepalive is on.
	Probing    bool      `json:"probing"`
	ProbeError string    `json:"probeError,omitempty"`
	LastProbe  time.Time `json:"lastProbe,omitzero"`
	// Calls is the number of outbound INVITE dialogs on the trunk; MaxCalls
	// its cap (0: none).
	Calls        int                 `json:"calls"`
	MaxCalls     int                 `json:"maxCalls,omitempty"`
	Registration *RegistrationStatus `json:"registration,omitempty"`
}

// Registration states.
const (
	RegRegistering  = "registering"  // the first REGISTER is under way
	RegRegistered   = "registered"   // the registrar accepted the last REGISTER
	RegFailed       = "failed"       // the last REGISTER failed; NextAttempt retries
	RegUnregistered = "unregistered" // unregistered on Close
)

// RegistrationStatus is where a trunk's registration stands.
type RegistrationStatus struct {
	State string `json:"state"`
	// Error is why the last REGISTER failed.
	Error string `json:"error,omitempty"`
	// Expires is when the registrar's binding runs out.
	Expires time.Time `json:"expires,omitzero"`
	// NextAttempt is when the next REGISTER goes: the refresh, or the retry.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	// Failures counts the REGISTERs that failed in a row.
	Failures int `json:"failures,omitempty"`
}

// TrunkStatus returns the configured trunks' state, in configured order.
func (u *UA) TrunkStatus() []TrunkStatus {
	out := make([]TrunkStatus, 0, len(u.trunks))
	for _, ts := range u.trunks {
		ts.mu.Lock()
		st := TrunkStatus{
			Name: ts.conf.name, Address: ts.conf.addr(), Transport: ts.conf.transport,
			Up: ts.up, Probing: ts.probing(), ProbeError: ts.probeErr, LastProbe: ts.lastProbe,
			Calls: ts.calls, MaxCalls: ts.conf.maxCalls,
		}
		if ts.conf.register.Enabled {
			reg := ts.reg
			st.Registration = &reg
		}
		ts.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Outbound is a call placed by DialTrunks: one INVITE at a time, on one
// configured trunk after another until one takes it. To its caller it is
// one call with one Call-ID: the events of every attempt reach onEvent as
// if there had been one INVITE, and only the last attempt's final event
// ends it.
type Outbound struct {
	ua      *UA
	inv     Invite
	onEvent func(Event)
	log     *zap.Logger
	start   time.Time

	mu        sync.Mutex // guards the fields below
	cur       *Call      // the current attempt
	tried     map[*trunkState]bool
	hungup    bool // Hangup was called
	forwarded bool // an event of an attempt reached onEvent: no more failover
}

// DialTrunks places inv on the configured trunks: the first, in configured
// order, that is up (Keepalive) and has a free call slot (MaxCalls). When
// the INVITE fails on the trunk's side before any provisional response
// reached onEvent — no response at all, a transport error, or a 5xx — it
// goes to the next such trunk, with the same Call-ID (and a new From tag,
// CSeq and branch: a new dialog) and what is left of the first trunk's ring
// timeout. It never fails over on an answer from the callee's side: 486,
// 603 and every other 4xx and 6xx end the call, as do a CANCEL (Hangup) and
// the ring timeout.
//
// Events, their order and the error cases are Dial's. The error wraps
// ErrNoTrunk when no trunk was usable, and ErrTransport when the INVITE
// could not be sent to any.
func (u *UA) DialTrunks(ctx context.Context, inv Invite, onEvent func(Event)) (*Outbound, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sip: dial: %w", err)
	}
	if err := validateInvite(inv); err != nil {
		return nil, err
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	o := &Outbound{
		ua: u, inv: inv, onEvent: onEvent, start: time.Now(),
		log:   u.log.With(zap.String("sipCallId", inv.CallID)),
		tried: make(map[*trunkState]bool),
	}
	if err := o.next(ctx); err != nil {
		return nil, err
	}
	return o, nil
}

// next places the INVITE on the next usable trunk. It returns an error when
// none took it.
func (o *Outbound) next(ctx context.Context) error {
	var errs []error
	for _, ts := range o.ua.trunks {
		o.mu.Lock()
		tried := o.tried[ts]
		o.tried[ts] = true
		o.mu.Unlock()
		if tried {
			continue
		}
		if ok, why := ts.acquire(); !ok {
			o.log.Debug("trunk skipped", zap.String("trunk", ts.conf.name), zap.String("why", why))
			errs = append(errs, fmt.Errorf("trunk %q is %s", ts.conf.name, why))
			continue
		}
		ring := ts.conf.ring - time.Since(o.start)
		if ring <= 0 {
			ts.release()
			return fmt.Errorf("sip: dial: the ring timeout ran out before trunk %q: %w", ts.conf.name, ErrNoTrunk)
		}
		c, err := o.ua.dial(ctx, &ts.conf, o.inv, func(ev Event) { o.onAttempt(ts, ev) }, ring)
		if err != nil {
			ts.release()
			if !errors.Is(err, ErrTransport) {
				return err // invalid input, closed UA: no other trunk changes that
			}
			ts.probed(err, true)
			o.log.Warn("INVITE not sent; trying the next trunk", zap.String("trunk", ts.conf.name), zap.Error(err))
			errs = append(errs, err)
			continue
		}
		o.mu.Lock()
		o.cur = c
		hungup := o.hungup
		o.mu.Unlock()
		if hungup {
			c.Hangup(context.Background())
		}
		return nil
	}
	err := errors.Join(errs...)
	if err == nil {
		err = errors.New("no trunk is configured")
	}
	if !errors.Is(err, ErrTransport) {
		err = fmt.Errorf("%w: %w", ErrNoTrunk, err)
	}
	return fmt.Errorf("sip: dial: %w", err)
}

// onAttempt takes an event of the attempt on ts (from that attempt's
// delivering goroutine, in order).
func (o *Outbound) onAttempt(ts *trunkState, ev Event) {
	if !ev.Kind.final() {
		o.mu.Lock()
		o.forwarded = true
		o.mu.Unlock()
		o.onEvent(ev)
		return
	}
	ts.release()
	if ev.Kind == EventFailed && ev.Err != nil && !errors.Is(ev.Err, ErrClosed) && !ev.Canceled && !ev.RingTimeout &&
		(errors.Is(ev.Err, ErrTimeout) || errors.Is(ev.Err, ErrTransport)) {
		ts.probed(ev.Err, true) // the trunk is silent or unreachable
	}
	o.mu.Lock()
	failover := ev.Kind == EventFailed && !o.forwarded && !o.hungup && failoverWorthy(ev)
	hungup := o.hungup
	o.mu.Unlock()
	if failover {
		o.log.Warn("trunk failed the call; trying the next trunk", zap.String("trunk", ts.conf.name),
			zap.Int("code", ev.Code), zap.String("reason", ev.Reason), zap.Error(ev.Err))
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		err := o.next(ctx)
		cancel()
		if err == nil {
			return
		}
		o.log.Warn("no other trunk took the call", zap.Error(err))
	} else if hungup && ev.Kind == EventFailed {
		ev.Canceled = true // the caller hung up while the trunks were being tried
	}
	o.onEvent(ev)
}

// failoverWorthy reports whether a failed INVITE is the trunk's failure
// rather than an answer from the callee's side: no response at all (our
// timeout), a transport error, or a 5xx. A 408 response, 486, 603 and every
// other 4xx and 6xx are answers.
func failoverWorthy(ev Event) bool {
	if ev.Canceled || ev.RingTimeout || errors.Is(ev.Err, ErrClosed) {
		return false
	}
	if ev.Err != nil {
		return errors.Is(ev.Err, ErrTimeout) || errors.Is(ev.Err, ErrTransport)
	}
	return ev.Code >= 500 && ev.Code <= 599
}

// Hangup ends the call: the current attempt's Hangup, and no more failover.
// Like Call.Hangup it does not wait, may be called from onEvent, and does
// nothing the second time.
func (o *Outbound) Hangup(ctx context.Context) error {
	o.mu.Lock()
	o.hungup = true
	c := o.cur
	o.mu.Unlock()
	if c != nil {
		return c.Hangup(ctx)
	}
	return nil
}

// Reinvite is Call.Reinvite on the current attempt.
func (o *Outbound) Reinvite(ctx context.Context, offer []byte) ([]byte, error) {
	o.mu.Lock()
	c := o.cur
	o.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("sip: Reinvite: %w: no call yet", ErrDialogState)
	}
	return c.Reinvite(ctx, offer)
}

// CallID is the call's Call-ID, the same on every trunk it was tried on.
func (o *Outbound) CallID() string { return o.inv.CallID }
