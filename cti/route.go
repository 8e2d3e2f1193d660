package cti

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Inbound routing: what a call to one of the trunks' DIDs rings, in order.
// cmd maps the YAML (routing:) into these values; the Hub checks them.

// Route says who an inbound call to DID rings. The zero value of each
// field is documented.
type Route struct {
	// DID is the E.164 number the route answers. Required, unique.
	DID string
	// Steps ring one after the other (while Schedule is open). A step
	// whose reps are all unavailable is skipped. Empty: Fallback at once.
	Steps []Step
	// Schedule limits Steps to its open hours; outside them the call takes
	// Closed. Nil: always open.
	Schedule *Schedule
	// Closed are the steps outside Schedule's hours. Empty: Fallback at once.
	Closed []Step
	// Fallback is what happens once every step went unanswered (or none
	// could ring): a ring step (another group), voicemail, or a rejection.
	// Zero: reject 480 Temporarily Unavailable.
	Fallback Step
	// OwnerFirst makes the route owner-aware: when HubSpot's caller-ID
	// match names the caller's record and its owner is an available rep,
	// the owner rings alone first (OwnerRingTimeout), then the route goes
	// on where it was (without the owner).
	OwnerFirst bool
	// OwnerRingTimeout is how long the owner rings alone. Zero:
	// Options.RingTimeout.
	OwnerRingTimeout time.Duration
	// EarlyMedia is played to the caller while the call rings, looped,
	// in a 183 Session Progress (a ringback tone or a greeting): G.711
	// µ-law at 8 kHz. Nil: 180 Ringing, the carrier plays its own ringback.
	EarlyMedia []byte
}

// Step is one step of a route: reps to ring, a voicemail, or a rejection.
// Exactly one of Reps, Voicemail and Reject is set.
type Step struct {
	// Name says what the step is in logs ("group sales", "rep ana").
	Name string
	// Reps are usernames: all of them ring at once, or with Hunt one after
	// the other in this order, each for RingTimeout. Reps that are not
	// available (signed out, unavailable, on a call) are skipped.
	Reps []string
	Hunt bool
	// RingTimeout is how long the step rings (each rep, with Hunt). Zero:
	// Options.RingTimeout.
	RingTimeout time.Duration
	// Voicemail answers the call, plays a greeting and records a message.
	Voicemail *Voicemail
	// Reject refuses the call with this SIP code (4xx–6xx), RejectReason
	// as its phrase (empty: the standard one) and a Retry-After header
	// when RetryAfter is set.
	Reject       int
	RejectReason string
	RetryAfter   time.Duration
}

// Voicemail is a mailbox: a greeting played to the caller, then their
// message recorded and handed to Options.OnVoicemail.
type Voicemail struct {
	// Name identifies the mailbox in logs and in VoicemailMessage.
	Name string
	// Greeting is played first (G.711 µ-law at 8 kHz; end it with a
	// beep). Nil: recording starts at once.
	Greeting []byte
	// MaxLength ends a message with BYE. Zero: 2 minutes.
	MaxLength time.Duration
}

// VoicemailMessage is one message left in a mailbox.
type VoicemailMessage struct {
	Mailbox    string
	DID        string
	From       string // the caller's number as the trunk sent it
	SIPCallID  string
	ReceivedAt time.Time
	// Audio is the caller's message, G.711 µ-law at 8 kHz.
	Audio []byte
}

func (s Step) kind() string {
	switch {
	case s.Voicemail != nil:
		return "voicemail"
	case s.Reject != 0:
		return "reject"
	case len(s.Reps) > 0:
		return "ring"
	}
	return ""
}

func (s Step) String() string {
	if s.Name != "" {
		return s.Name
	}
	switch s.kind() {
	case "voicemail":
		return "voicemail " + s.Voicemail.Name
	case "reject":
		return fmt.Sprintf("reject %d", s.Reject)
	}
	if s.Hunt {
		return "hunt " + strings.Join(s.Reps, ",")
	}
	return "ring " + strings.Join(s.Reps, ",")
}

// Schedule is a route's open hours, in one time zone.
type Schedule struct {
	// Location is the time zone of Open. Nil: UTC.
	Location *time.Location
	// Open lists the windows the route is open in. A window whose To is
	// before its From runs over midnight (into the next day).
	Open []Window
}

// Window is a weekly opening window.
type Window struct {
	// Days it opens on (time.Sunday … time.Saturday).
	Days []time.Weekday
	// From and To are times of day as offsets from midnight.
	From, To time.Duration
}

// IsOpen reports whether t falls in one of the windows.
func (s *Schedule) IsOpen(t time.Time) bool {
	if s == nil {
		return true
	}
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	for _, w := range s.Open {
		for _, d := range w.Days {
			switch {
			case w.From <= w.To:
				if t.Weekday() == d && tod >= w.From && tod < w.To {
					return true
				}
			default: // over midnight: from From on day d to To on the next day
				if (t.Weekday() == d && tod >= w.From) || (t.Weekday() == (d+1)%7 && tod < w.To) {
					return true
				}
			}
		}
	}
	return false
}

// stepsAt is the steps a call arriving at t takes, then its fallback.
func (r *Route) stepsAt(t time.Time) []Step {
	var steps []Step
	if r.Schedule.IsOpen(t) {
		steps = append(steps, r.Steps...)
	} else {
		steps = append(steps, r.Closed...)
	}
	fb := r.Fallback
	if fb.kind() == "" {
		fb = Step{Name: "fallback", Reject: 480}
	}
	if fb.Name == "" {
		fb.Name = "fallback " + fb.String()
	}
	return append(steps, fb)
}

// checkRoutes validates routes against the known reps and returns them by
// DID.
func checkRoutes(routes []Route, users map[string]*User) (map[string]*Route, error) {
	out := make(map[string]*Route, len(routes))
	var errs []error
	for i := range routes {
		r := &routes[i]
		if r.DID == "" {
			errs = append(errs, fmt.Errorf("cti: route %d has no DID", i+1))
			continue
		}
		if _, dup := out[r.DID]; dup {
			errs = append(errs, fmt.Errorf("cti: route for %s listed twice", r.DID))
		}
		out[r.DID] = r
		check := func(where string, s Step) {
			n := 0
			for _, set := range []bool{len(s.Reps) > 0, s.Voicemail != nil, s.Reject != 0} {
				if set {
					n++
				}
			}
			if n != 1 {
				errs = append(errs, fmt.Errorf("cti: route %s: %s: a step rings reps, takes a voicemail or rejects: exactly one", r.DID, where))
			}
			for _, u := range s.Reps {
				if users[u] == nil {
					errs = append(errs, fmt.Errorf("cti: route %s: %s: no rep %q", r.DID, where, u))
				}
			}
			if s.Reject != 0 && (s.Reject < 400 || s.Reject > 699) {
				errs = append(errs, fmt.Errorf("cti: route %s: %s: reject %d is not a 4xx–6xx code", r.DID, where, s.Reject))
			}
		}
		for j, s := range r.Steps {
			check(fmt.Sprintf("step %d", j+1), s)
		}
		for j, s := range r.Closed {
			check(fmt.Sprintf("closed step %d", j+1), s)
		}
		if r.Fallback.kind() != "" {
			check("fallback", r.Fallback)
		}
	}
	return out, errors.Join(errs...)
}
