package cti

import (
	"errors"
	"testing"
)

func TestTransitions(t *testing.T) {
	cases := []struct {
		from State
		trig Trigger
		to   State
		ok   bool
	}{
		{StateDialling, TrigRinging, StateRinging, true},
		{StateDialling, TrigEarlyMedia, StateEarlyMedia, true},
		{StateDialling, TrigAnswered, StateAnswered, true},
		{StateDialling, TrigEnded, StateEnded, true},
		{StateDialling, TrigWrapUp, StateDialling, false},
		{StateRinging, TrigRinging, StateRinging, true},
		{StateRinging, TrigEarlyMedia, StateEarlyMedia, true},
		{StateRinging, TrigAnswered, StateAnswered, true},
		{StateRinging, TrigEnded, StateEnded, true},
		{StateEarlyMedia, TrigRinging, StateEarlyMedia, true},
		{StateEarlyMedia, TrigAnswered, StateAnswered, true},
		{StateEarlyMedia, TrigEnded, StateEnded, true},
		{StateAnswered, TrigEnded, StateEnded, true},
		{StateAnswered, TrigRinging, StateAnswered, false},
		{StateAnswered, TrigAnswered, StateAnswered, false},
		{StateAnswered, TrigWrapUp, StateAnswered, false},
		{StateEnded, TrigWrapUp, StateCompleted, true},
		{StateEnded, TrigEnded, StateEnded, false},
		{StateEnded, TrigAnswered, StateEnded, false},
		{StateCompleted, TrigWrapUp, StateCompleted, false},
		{StateCompleted, TrigEnded, StateCompleted, false},
	}
	for _, tc := range cases {
		got, err := tc.from.Next(tc.trig)
		if got != tc.to || (err == nil) != tc.ok {
			t.Errorf("%s + %s = %s, %v; want %s, ok=%v", tc.from, tc.trig, got, err, tc.to, tc.ok)
		}
		var te *ErrTransition
		if err != nil && !errors.As(err, &te) {
			t.Errorf("%s + %s: error %T is not *ErrTransition", tc.from, tc.trig, err)
		}
	}
}

func TestStateNamesAndLiveness(t *testing.T) {
	want := map[State]string{StateDialling: "dialling", StateRinging: "ringing", StateEarlyMedia: "early_media",
		StateAnswered: "answered", StateEnded: "ended", StateCompleted: "completed"}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("%d prints %q, want %q", int(s), s.String(), name)
		}
		if live := s < StateEnded; s.Live() != live {
			t.Errorf("%s.Live() = %v", s, s.Live())
		}
	}
	if State(0).Live() || State(0).String() != "State(0)" {
		t.Error("the zero State is not a state")
	}
}

func TestEndStatusTable(t *testing.T) {
	cases := []struct {
		e    Ending
		want EndStatus
	}{
		{Ending{Answered: true}, EndCompleted},
		{Ending{Answered: true, MediaFailure: true}, EndFailed},
		{Ending{Answered: true, SessionExpired: true}, EndFailed},
		{Ending{CanceledByRep: true, Code: 487}, EndCanceled},
		{Ending{Code: 487}, EndCanceled},
		{Ending{RingTimeout: true, Code: 487}, EndNoAnswer},
		{Ending{Code: 408}, EndNoAnswer},
		{Ending{Code: 480}, EndNoAnswer},
		{Ending{Code: 486}, EndBusy},
		{Ending{Code: 600}, EndBusy},
		{Ending{Code: 603}, EndFailed},
		{Ending{Code: 404}, EndFailed},
		{Ending{Code: 403}, EndFailed},
		{Ending{Code: 500}, EndFailed},
		{Ending{Code: 503}, EndFailed},
		{Ending{Code: 408, TransportError: true}, EndFailed},
		{Ending{}, EndFailed},
	}
	for _, tc := range cases {
		if got := EndStatusFor(tc.e); got != tc.want {
			t.Errorf("%+v → %s, want %s", tc.e, got, tc.want)
		}
	}
}
