// Package sip is hubline's trunk side: a sipgo user agent that places calls on
// SIP trunks, answers the dialog requests that belong to them (BYE), and
// normalises phone numbers to E.164.
//
// Imported by cti and cmd only. It imports neither media nor cti: SDP crosses
// the package boundary as bytes.
package sip

import (
	"time"

	"go.uber.org/zap"
)

// Options configures a UA. Zero values are documented per field.
type Options struct {
	// ListenAddr is the local UDP (and TCP) address, "host:port". Empty:
	// "127.0.0.1:5060".
	ListenAddr string
	// PublicHost is the host announced in Via and Contact. Empty: the listen host.
	PublicHost string
	// UserAgent is the User-Agent header. Empty: "hubline".
	UserAgent string
	// Logger receives the package's logs. Nil: no logs.
	Logger *zap.Logger
}

// Trunk is one SIP trunk calls are placed on.
type Trunk struct {
	Name string
	// Address is the trunk's "host:port" (port defaults to 5060).
	Address string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Username and Password answer 401/407 digest challenges. Empty: none.
	Username, Password string
	// FromDomain is the host of the From URI. Empty: the trunk host.
	FromDomain string
	// RingTimeout cancels an unanswered INVITE after this long. Zero: 60s.
	RingTimeout time.Duration
}

// Invite is one outbound call.
type Invite struct {
	// CallID becomes the SIP Call-ID. Required.
	CallID string
	// To and From are E.164 numbers ("+15551234567").
	To, From string
	// FromName is the From display name. Empty: none.
	FromName string
	// SDP is the offer.
	SDP []byte
}

// EventKind says what happened to an outbound Call.
type EventKind int

const (
	// EventProvisional: a 1xx other than 100 arrived (SDP set for 183 with SDP).
	EventProvisional EventKind = iota + 1
	// EventAnswered: 200 OK arrived and was ACKed. SDP is the answer.
	EventAnswered
	// EventFailed: the INVITE ended without an answer: a final non-2xx (Code,
	// Reason, ReasonHeader), a CANCEL by us (Canceled), the ring timeout
	// (RingTimeout), or a transport error or timeout (Err, Code 408 or 503).
	EventFailed
	// EventHangup: the trunk sent BYE after answer. ReasonHeader holds its Reason.
	EventHangup
	// EventEnded: we sent BYE after answer and the dialog is over.
	EventEnded
)

func (k EventKind) String() string {
	switch k {
	case EventProvisional:
		return "provisional"
	case EventAnswered:
		return "answered"
	case EventFailed:
		return "failed"
	case EventHangup:
		return "hangup"
	case EventEnded:
		return "ended"
	}
	return "unknown"
}

// Event is reported by a Call, in order, from one goroutine per call.
type Event struct {
	Kind EventKind
	// Code and Reason are the SIP status code and phrase, where a response caused the event.
	Code   int
	Reason string
	// ReasonHeader is the Reason header of the final response or BYE (RFC 3326).
	ReasonHeader string
	// SDP is the response body when it carries SDP.
	SDP []byte
	// Canceled: we sent CANCEL (Hangup before answer). RingTimeout: the ring timeout fired.
	Canceled, RingTimeout bool
	Err                   error
}
