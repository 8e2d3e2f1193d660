package cti

import "fmt"

// State is where a call is in its life. The zero value is not a state.
type State int

// The states of a call, in the order a successful call passes them.
const (
	StateDialling   State = iota + 1 // INVITE sent, nothing heard back yet
	StateRinging                     // 180 (or 183 without SDP)
	StateEarlyMedia                  // 183 with SDP: the carrier's audio reaches the rep
	StateAnswered                    // 200 OK, ACKed
	StateEnded                       // final: hung up or failed; waiting for wrap-up
	StateCompleted                   // wrap-up sent to HubSpot (callCompleted)
)

var stateNames = [...]string{
	StateDialling:   "dialling",
	StateRinging:    "ringing",
	StateEarlyMedia: "early_media",
	StateAnswered:   "answered",
	StateEnded:      "ended",
	StateCompleted:  "completed",
}

// String is the state's name on the wire (docs/protocol.md).
func (s State) String() string {
	if s >= StateDialling && s <= StateCompleted {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Live reports whether the call still has a SIP leg (not ended or completed).
func (s State) Live() bool { return s >= StateDialling && s < StateEnded }

// Trigger is what moves a call from one state to another.
type Trigger int

// Triggers, from SIP responses and the rep's actions.
const (
	TrigRinging    Trigger = iota + 1 // 180, or 183 without SDP
	TrigEarlyMedia                    // 183 with SDP
	TrigAnswered                      // 200 OK
	TrigEnded                         // any end: BYE, CANCEL, failure, timeout
	TrigWrapUp                        // rep saved the outcome and notes
)

var triggerNames = [...]string{
	TrigRinging:    "ringing",
	TrigEarlyMedia: "early media",
	TrigAnswered:   "answered",
	TrigEnded:      "ended",
	TrigWrapUp:     "wrap-up",
}

func (t Trigger) String() string {
	if t >= TrigRinging && t <= TrigWrapUp {
		return triggerNames[t]
	}
	return fmt.Sprintf("Trigger(%d)", int(t))
}

// ErrTransition is returned for a trigger the state does not accept.
type ErrTransition struct {
	From State
	Trig Trigger
}

func (e *ErrTransition) Error() string {
	return fmt.Sprintf("cti: %s not allowed in state %s", e.Trig, e.From)
}

// transitions is the whole state machine: for each state, the triggers it
// accepts and where they lead. Anything missing is an illegal transition.
var transitions = map[State]map[Trigger]State{
	StateDialling: {
		TrigRinging:    StateRinging,
		TrigEarlyMedia: StateEarlyMedia,
		TrigAnswered:   StateAnswered,
		TrigEnded:      StateEnded,
	},
	StateRinging: {
		TrigRinging:    StateRinging,
		TrigEarlyMedia: StateEarlyMedia,
		TrigAnswered:   StateAnswered,
		TrigEnded:      StateEnded,
	},
	StateEarlyMedia: {
		// A 180 after a 183 does not stop the early media already flowing.
		TrigRinging:    StateEarlyMedia,
		TrigEarlyMedia: StateEarlyMedia,
		TrigAnswered:   StateAnswered,
		TrigEnded:      StateEnded,
	},
	StateAnswered: {
		TrigEnded: StateEnded,
	},
	StateEnded: {
		TrigWrapUp: StateCompleted,
	},
	StateCompleted: {},
}

// Next returns the state trig leads to from s.
func (s State) Next(trig Trigger) (State, error) {
	to, ok := transitions[s][trig]
	if !ok {
		return s, &ErrTransition{From: s, Trig: trig}
	}
	return to, nil
}
