// Package sip is hubline's trunk side: a sipgo user agent that places calls on
// SIP trunks (with failover between them), takes the trunks' inbound calls as
// their UAS (uas.go), registers with the trunks that need it, probes them
// with OPTIONS, answers the dialog requests that belong to its calls (BYE,
// ACK, re-INVITE and UPDATE through each dialog's SessionHandler in
// reoffer.go, REFER and NOTIFY in refer.go, INFO with DTMF in info.go),
// sends re-INVITEs (hold), REFERs (transfer) and INFO (DTMF) of its own,
// refuses out-of-dialog requests from addresses that are no trunk's, and
// normalises phone numbers to E.164.
//
// Imported by cti and cmd only. It imports neither media nor cti: SDP crosses
// the package boundary as bytes.
package sip

import (
	"crypto/tls"
	"net/netip"
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

	// Trunks are the configured trunks, in order of preference: DialTrunks
	// tries them in this order; the UA registers those with
	// Register.Enabled, probes those with Keepalive.Interval, and takes
	// out-of-dialog requests only from their addresses. NewUA checks them.
	Trunks []Trunk
	// UnknownSources is what happens to an out-of-dialog request (INVITE,
	// MESSAGE, a BYE or CANCEL for nothing we know …) from an address no
	// trunk has: Reject (403) or Drop (no response). Empty: Reject.
	UnknownSources SourcePolicy
	// UnknownSourceOptions is the same for OPTIONS, which may also be
	// answered (Answer: 200). Empty: UnknownSources.
	UnknownSourceOptions SourcePolicy
	// OnInvite takes inbound INVITEs from trunks' addresses (InboundInvite);
	// it must answer them, at once or later. Nil: every inbound INVITE gets
	// 480.
	OnInvite func(*InboundInvite)
	// SessionTimerFloor is the lowest Trunk.MinSE the UA accepts. For
	// tests only, which need short session intervals; production leaves it
	// zero. Zero: 90s (RFC 4028).
	SessionTimerFloor time.Duration
	// OnRefer takes the REFERs of trunks with AcceptRefer, already answered
	// 202 (refer_in.go); it must report the outcome with
	// IncomingRefer.Notify. Nil: REFER gets 403.
	OnRefer func(*IncomingRefer)
}

// SourcePolicy says how the UA treats a request from an address that is no
// configured trunk's.
type SourcePolicy string

const (
	// Reject answers 403 Forbidden.
	Reject SourcePolicy = "reject"
	// Drop sends nothing back: a scanner cannot tell the UA is there.
	Drop SourcePolicy = "drop"
	// Answer treats the request as if a trunk had sent it (OPTIONS only).
	Answer SourcePolicy = "answer"
)

// Trunk is one SIP trunk calls are placed on: where it is, how to reach it,
// and what it expects. The zero value of each field is documented; only
// Address is required. Options.Trunks configures the UA's trunks; Dial takes
// one directly.
type Trunk struct {
	// Name identifies the trunk in logs, events and status. Options.Trunks
	// needs unique, non-empty names.
	Name string
	// Address is the trunk's "host:port"; the port defaults to 5060 (5061
	// for TLS). A host name is resolved when a request is sent (A/AAAA, then
	// SRV).
	Address string
	// Transport is "udp" (default), "tcp" or "tls".
	Transport string
	// TLS configures TLS trunks: RootCAs (nil: the system's), ServerName (the
	// name the certificate must carry and the SNI; empty: the host of
	// Address), client Certificates for mutual TLS. Nil: those defaults.
	// Connections are opened by the UA, one per trunk address, and reused;
	// the trunk must send its in-dialog requests over them (the UA does not
	// accept TLS connections).
	TLS *tls.Config
	// Route is the pre-loaded route set (RFC 3261 8.1.2): SIP URIs of
	// outbound proxies, first hop first, each a loose router (";lr" is
	// added when missing). Out-of-dialog requests (INVITE, REGISTER,
	// OPTIONS) go to the first with Route headers; in-dialog requests follow
	// the dialog's Record-Route. Empty: requests go to Address.
	Route []string
	// Username and Password answer 401/407 digest challenges (INVITE and
	// REGISTER). Empty: none.
	Username, Password string
	// FromDomain is the host of the From (and P-Asserted-Identity and
	// registration AOR) URIs. Empty: the trunk host.
	FromDomain string
	// CallerID is how the caller's number is presented. Zero: in From only.
	CallerID CallerID
	// Numbers is the form of numbers in URIs. Zero: E.164 with '+'.
	Numbers NumberFormat
	// Codecs is the order of preference of the offer's audio codecs ("PCMU",
	// "PCMA"): listed codecs come first in that order, unlisted ones are
	// removed from the offer (telephone-event and CN stay). Empty: the offer
	// as the media side made it.
	Codecs []string
	// DIDs are the E.164 numbers the trunk delivers to us (inbound routing
	// uses them; InboundInvite.DID). Empty: none.
	DIDs []string
	// MaxCalls caps the trunk's concurrent outbound calls; DialTrunks moves
	// on to the next trunk when it is full. Zero: no cap.
	MaxCalls int
	// RingTimeout cancels an unanswered INVITE after this long; across
	// failover it bounds the whole call. Zero: 60s.
	RingTimeout time.Duration
	// InviteTimeout gives up an INVITE that got no response at all (not even
	// 100 Trying) after this long, which DialTrunks treats as a trunk
	// failure. Zero: 64*T1 (32s).
	InviteTimeout time.Duration
	// Register makes the UA register with the trunk. Zero: no registration.
	Register Registration
	// Keepalive makes the UA probe the trunk with OPTIONS. Zero: no probing;
	// the trunk always counts as up.
	Keepalive Keepalive
	// AcceptRefer lets the trunk transfer our calls with REFER (RFC 5589,
	// hubline as the transferee): 202, a new call to the Refer-To number
	// on this trunk, NOTIFY progress, the old dialog ended on success.
	// Needs Options.OnRefer. False: REFER gets 403 Forbidden.
	AcceptRefer bool
	// InboundAllow are networks besides the trunk's resolved addresses (its
	// host, its Route hosts, its registrar) that may send it out-of-dialog
	// requests. Empty: none.
	InboundAllow []netip.Prefix
	// SessionExpires is the session interval (RFC 4028) our INVITEs ask
	// for and our 2xx grant when the caller names none; the refresher
	// refreshes at half of it, and a call whose peer should refresh but
	// does not is ended with BYE before it runs out. Whole seconds. Zero:
	// 1800s; negative: session timers off (no Session-Expires; the peer's
	// refreshes are still answered).
	SessionExpires time.Duration
	// MinSE is the shortest session interval we accept (Min-SE): a peer
	// asking for less gets 422. Whole seconds, at least 90s (RFC 4028;
	// Options.SessionTimerFloor lowers that for tests). Zero: 90s.
	MinSE time.Duration
	// PRACK sends our provisional responses to the trunk's INVITEs
	// reliably (RFC 3262) when the INVITE supports 100rel; an INVITE that
	// requires it gets them reliably regardless. False: only then.
	PRACK bool
	// SRTP is SDES-SRTP on the trunk's media (RFC 4568): "off" (default),
	// "optional" (our offer is RTP/AVP with a=crypto; a plain answer is
	// accepted) or "mandatory" (RTP/SAVP; an answer without a=crypto ends
	// the call with 488; an inbound INVITE without a=crypto gets 488).
	// Mandatory needs Transport "tls". Invite.Crypto carries the key.
	SRTP string
	// DTMFMode is how the rep's digits reach the trunk: "rfc4733"
	// (telephone-event RTP), "info" (SIP INFO application/dtmf-relay) or
	// "auto": RFC 4733 when the trunk's SDP has telephone-event, else INFO.
	// Empty: auto.
	DTMFMode DTMFMode
}

// CallerID is a trunk's caller-ID policy.
type CallerID struct {
	// FromUser replaces the caller's number as the user part of From (an
	// account id some trunks want there). Empty: the caller's number.
	FromUser string
	// AssertIdentity adds P-Asserted-Identity with the caller's number
	// (RFC 3325), for trunks that take the caller ID from it.
	AssertIdentity bool
	// Privacy "id" asks the trunk to withhold the caller's number from the
	// callee (RFC 3325 "Privacy: id"): P-Asserted-Identity still carries it
	// and From becomes anonymous (RFC 3323). Empty or "none": no Privacy.
	Privacy string
}

// NumberFormat is the form of phone numbers a trunk expects in the user
// part of Request-URI, To, From and P-Asserted-Identity.
type NumberFormat struct {
	// Style is "e164" (default: "+14155550199"), "e164-noplus"
	// ("14155550199") or "national": as dialled in Region ("4155550199"
	// for a US number from US, "02079460000" for a GB number from GB, and
	// other countries with Region's international prefix, "0014155550199"
	// from GB).
	Style string
	// Region is an ISO 3166 alpha-2 code; required for "national".
	Region string
	// DialPrefix goes in front of the called number only (a dial prefix
	// such as "9", or a carrier's tech prefix "1234#"): digits, '*', '#'.
	DialPrefix string
}

// Registration configures REGISTER for a trunk.
type Registration struct {
	// Enabled registers the UA with the trunk (digest credentials from
	// Username and Password), refreshes before the granted expiry,
	// re-registers with exponential back-off after failures, and
	// unregisters on Close.
	Enabled bool
	// Expires is the registration lifetime asked for. Zero: 3600s.
	Expires time.Duration
	// Registrar is the registrar's "host:port" when it is not Address. The
	// AOR is Username@FromDomain (or the trunk host).
	Registrar string
	// RetryMin and RetryMax bound the back-off after a failed REGISTER: the
	// delay doubles from RetryMin up to RetryMax. Zero: 2s and 5m.
	RetryMin, RetryMax time.Duration
}

// Keepalive configures OPTIONS probing of a trunk.
type Keepalive struct {
	// Interval between probes. Zero: no probing.
	Interval time.Duration
	// Timeout is how long a probe waits for a response. Zero: the shorter of
	// Interval and 5s.
	Timeout time.Duration
	// DownAfter consecutive failed probes mark the trunk down (one answered
	// probe marks it up again). A failed probe is no response, a transport
	// error, 408, a 5xx or 6xx; any other response means the trunk is
	// there.
	// Zero: 2.
	DownAfter int
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
	// Crypto are a=crypto values (RFC 4568, without "a=crypto:") added to
	// the offer for trunks with SRTP. Empty: such trunks cannot be used.
	Crypto []string
	// Session answers the trunk's offers within the dialog (re-INVITE,
	// UPDATE: hold, new media address, codec change). Nil: they get 488.
	Session SessionHandler
	// ReferredBy is the Referred-By of a call placed because a trunk
	// transferred one of ours (RFC 3892), sent as is. Empty: none.
	ReferredBy string
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
	// Of an inbound call (uas.go): our rejection (Code), or the caller's
	// CANCEL (Canceled, Code 487).
	EventFailed
	// EventHangup: the trunk sent BYE after answer. ReasonHeader holds its Reason.
	EventHangup
	// EventEnded: we sent BYE after answer and the dialog is over.
	EventEnded
	// EventDTMF: the trunk sent a digit (Digit) in SIP INFO (info.go).
	EventDTMF
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
	case EventDTMF:
		return "dtmf"
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
	// SessionExpired (EventEnded): the session timer ended the answered
	// call (RFC 4028): the peer did not refresh the session in time, or
	// our refresh failed (408, 481, no response); we sent BYE.
	SessionExpired bool
	Err            error
	// Trunk is the Name of the trunk the event comes from (with DialTrunks,
	// the one the current attempt is on).
	Trunk string
	// Digit is EventDTMF's: 0-9 * # A-D.
	Digit byte
}
