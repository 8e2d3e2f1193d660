package softphone

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// Sentinel errors.
var (
	// ErrClosed: the phone was closed, or its connection to the gateway
	// was lost (Phone.Err says why).
	ErrClosed = errors.New("softphone: closed")
	// ErrNoCall: the phone has no live call to act on.
	ErrNoCall = errors.New("softphone: no call")
	// ErrNoMedia: the call has no connected media (yet).
	ErrNoMedia = errors.New("softphone: no media")
	// ErrNoDTMF: the gateway did not negotiate telephone-event.
	ErrNoDTMF = errors.New("softphone: telephone-event not negotiated")
	// ErrBadDigit: a DTMF digit outside 0-9 * # A-D.
	ErrBadDigit = errors.New("softphone: bad DTMF digit")
	// ErrCallEnded: the call ended before reaching the awaited state. The
	// error is a *CallEndedError.
	ErrCallEnded = errors.New("softphone: call ended")
	// ErrNotInitialized: with SimulateHubSpot, HubSpot dials only after the
	// app sent initialized; the gateway has not.
	ErrNotInitialized = errors.New("softphone: gateway has not sent sdk initialized")
)

// Error codes the gateway sends (docs/protocol.md, "Error codes").
const (
	CodeBadJSON            = "bad_json"
	CodeBadMessage         = "bad_message"
	CodeUnknownType        = "unknown_type"
	CodeUnsupportedVersion = "unsupported_version"
	CodeUnauthenticated    = "unauthenticated"
	CodeAuthFailed         = "auth_failed"
	CodeSessionExpired     = "session_expired"
	CodeInvalidNumber      = "invalid_number"
	CodeCallInProgress     = "call_in_progress"
	CodeNoSuchCall         = "no_such_call"
	CodeBadState           = "bad_state"
	CodeUnknownSDKEvent    = "unknown_sdk_event"
	CodeMediaFailed        = "media_failed"
	CodeTrunkUnavailable   = "trunk_unavailable"
	CodeInternal           = "internal"
	CodeHoldFailed         = "hold_failed"
)

// Error is an "error" message from the gateway. It is delivered on
// Phone.Events and returned by the method whose request it answers.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"` // human readable, meant for the rep
	Re      string `json:"re,omitempty"`
	CallID  string `json:"callId,omitempty"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "softphone: gateway error " + e.Code
	}
	return fmt.Sprintf("softphone: gateway error %s: %s", e.Code, e.Message)
}

// IsCode reports whether err is, or wraps, a gateway *Error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// DialError: the gateway's WebSocket could not be reached or refused the
// upgrade.
type DialError struct {
	URL    string
	Status int   // HTTP status of a refused upgrade; 0 if no HTTP answer
	Err    error // the cause
}

func (e *DialError) Error() string {
	switch e.Status {
	case 0:
		return fmt.Sprintf("softphone: cannot reach gateway at %s: %s", e.URL, shortCause(e.Err))
	case 403:
		return fmt.Sprintf("softphone: gateway at %s refused the connection (HTTP 403): origin not allowed", e.URL)
	}
	return fmt.Sprintf("softphone: gateway at %s refused the connection (HTTP %d)", e.URL, e.Status)
}

func (e *DialError) Unwrap() error { return e.Err }

// shortCause strips "dial tcp 127.0.0.1:9: connect: " from network errors
// so messages read "connection refused".
func shortCause(err error) string {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// CallEndedError: the call ended without reaching the state a method waited
// for. It matches ErrCallEnded with errors.Is.
type CallEndedError struct {
	Call Call   // the call as it ended
	Want string // what was awaited, e.g. "answered"
}

func (e *CallEndedError) Error() string {
	return "softphone: call ended " + e.Call.Outcome()
}

func (e *CallEndedError) Is(target error) bool { return target == ErrCallEnded }
