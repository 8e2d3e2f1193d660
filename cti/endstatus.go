package cti

import "fmt"

// EndStatus is the callEndStatus HubSpot records for a call.
type EndStatus string

// The values HubSpot's SDK accepts in callEnded.callEndStatus.
const (
	EndCompleted EndStatus = "COMPLETED"
	EndFailed    EndStatus = "FAILED"
	EndCanceled  EndStatus = "CANCELED"
	EndBusy      EndStatus = "BUSY"
	EndNoAnswer  EndStatus = "NO_ANSWER"
	// EndMissed is an inbound call the caller gave up on while it rang.
	// It is in the SDK's EndStatus type (not in Constants.callEndStatus);
	// the engagement's hs_call_status, which has no MISSED, says
	// NO_ANSWER (callStatusOf).
	EndMissed EndStatus = "MISSED"
)

// callStatusOf is the engagement's hs_call_status for an end status:
// the same word, except MISSED, which hs_call_status does not have.
func callStatusOf(s EndStatus) string {
	if s == EndMissed {
		return string(EndNoAnswer)
	}
	return string(s)
}

// Ending is how a call's trunk leg ended, as far as the end status cares.
type Ending struct {
	// Answered: a 2xx was received for the INVITE.
	Answered bool
	// Code is the final SIP status of an unanswered INVITE (0 if none arrived).
	Code int
	// CanceledByRep: the rep hung up (or HubSpot sent onEndCall) before answer.
	CanceledByRep bool
	// RingTimeout: the gateway's ring timeout cancelled the INVITE.
	RingTimeout bool
	// TransportError: the trunk could not be reached or never answered the INVITE.
	TransportError bool
	// MediaFailure: an answered call ended because audio stopped (RTP
	// inactivity, or the browser's media connection failed).
	MediaFailure bool
	// SessionExpired: an answered call ended because the SIP session
	// timer ran out (the trunk stopped refreshing, RFC 4028).
	SessionExpired bool
}

// EndStatusFor maps an ending to HubSpot's callEndStatus. This is the one
// place that mapping lives; the README's table is generated from the same
// rules:
//
//	answered, then BYE from either side          COMPLETED
//	answered, then audio stopped (RTP timeout)   FAILED
//	answered, then the session timer expired     FAILED
//	rep hung up before answer (CANCEL → 487)     CANCELED
//	487 Request Terminated (not ours)            CANCELED
//	ring timeout (we CANCEL)                     NO_ANSWER
//	408 Request Timeout, 480 Temporarily Unav.   NO_ANSWER
//	486 Busy Here, 600 Busy Everywhere           BUSY
//	trunk unreachable / no response (Timer B)    FAILED
//	any other 4xx, 5xx, 6xx (e.g. 404, 503, 603) FAILED
func EndStatusFor(o Ending) EndStatus {
	switch {
	case o.Answered && (o.MediaFailure || o.SessionExpired):
		return EndFailed
	case o.Answered:
		return EndCompleted
	case o.CanceledByRep:
		return EndCanceled
	case o.RingTimeout:
		return EndNoAnswer
	case o.TransportError:
		return EndFailed
	}
	switch o.Code {
	case 486, 600:
		return EndBusy
	case 408, 480:
		return EndNoAnswer
	case 487:
		return EndCanceled
	}
	return EndFailed
}

// failureMessage is what the rep reads in the widget when a call did not
// connect. It names the SIP code so support can act on it.
func failureMessage(st EndStatus, code int, reason string) string {
	switch {
	case st == EndBusy:
		return "The line is busy."
	case st == EndNoAnswer && code == 0:
		return "No answer."
	case st == EndNoAnswer:
		return fmt.Sprintf("No answer (SIP %d %s).", code, reason)
	case st == EndCanceled:
		return "Call cancelled."
	case code == 404 || code == 484 || code == 604:
		return fmt.Sprintf("That number does not exist (SIP %d %s).", code, reason)
	case code == 403:
		return fmt.Sprintf("The trunk refused the call (SIP %d %s). Check the trunk's credentials and caller ID.", code, reason)
	case code == 603:
		return fmt.Sprintf("The callee declined the call (SIP %d %s).", code, reason)
	case code >= 500:
		return fmt.Sprintf("The carrier could not complete the call (SIP %d %s).", code, reason)
	case code > 0:
		return fmt.Sprintf("Call failed (SIP %d %s).", code, reason)
	}
	return "Call failed."
}
