package sip

import "errors"

// Sentinels for branching on Dial errors and Event.Err. Errors returned by
// this package wrap them with %w.
var (
	// ErrClosed: the UA is closed (Dial after Close, or calls cut short by
	// Close).
	ErrClosed = errors.New("sip: user agent closed")
	// ErrTimeout: a transaction got no final response in time (Timer B for
	// an INVITE with no response at all, no 487 after CANCEL, no answer to
	// BYE). Event.Code is 408 where it stands for a failure.
	ErrTimeout = errors.New("sip: transaction timed out")
	// ErrTransport: a request could not be sent, or its connection failed.
	// Event.Code is 503.
	ErrTransport = errors.New("sip: transport error")
	// ErrTLSCertificate: a TLS trunk's certificate failed verification
	// (unknown CA, wrong name, expired); it wraps ErrTransport too.
	ErrTLSCertificate = errors.New("sip: TLS certificate not trusted")
)
