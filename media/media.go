// Package media owns the two media legs of a call and the relay between them:
// the WebRTC leg with the browser (pion, DTLS-SRTP, G.711 only) and the RTP leg
// with the SIP trunk (plain UDP from a configured port range).
//
// G.711 is relayed without decoding. When the trunk picks the other G.711 law
// than the browser, samples are converted with a 256-byte table, in place.
// RFC 4733 telephone-event packets from the browser are relayed to the trunk
// with the trunk's payload type.
//
// Imported by cti and cmd only. It imports neither sip nor cti: SDP crosses
// the package boundary as bytes.
package media

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// Options configures an Engine. Zero values are documented per field.
type Options struct {
	// PublicIP is announced in the trunk SDP (c=) and as the browser leg's ICE
	// host candidate (1:1 NAT). Zero: BindIP is announced, which then must
	// not be the wildcard.
	PublicIP netip.Addr
	// BindIP is the local address media sockets bind to; when it is not the
	// wildcard, the browser leg's ICE candidates use it only. Zero: 0.0.0.0.
	BindIP netip.Addr
	// RTPPortMin and RTPPortMax bound the trunk leg's RTP ports: each call
	// binds an even port for RTP and the odd port above it (RTCP is not
	// used; the port is held so that nothing else takes it). Zero:
	// 10000–20000.
	RTPPortMin, RTPPortMax uint16
	// WebRTCPortMin and WebRTCPortMax bound the browser leg's ICE UDP ports.
	// The range may overlap the RTP range: ports are claimed by binding them,
	// and each side skips ports the other holds. Zero: the same range as RTP.
	WebRTCPortMin, WebRTCPortMax uint16
	// ICENetworks restricts the gateway's own ICE candidates to addresses in
	// these prefixes (tests use 127.0.0.0/8). Empty: every non-link-local
	// address.
	ICENetworks []netip.Prefix
	// ICEServers are handed to the browser; the gateway itself gathers host
	// candidates only.
	ICEServers []ICEServer
	// RTPTimeout ends an answered call whose trunk leg has sent no RTP for this
	// long (EventRTPTimeout). It is checked every RTPTimeout/8, at most every
	// second. It does not apply while the trunk's SDP says it sends nothing
	// (a=recvonly, a=inactive, c=0.0.0.0). Zero: 30s.
	RTPTimeout time.Duration
	// Logger receives the package's logs. Nil: no logs.
	Logger *zap.Logger
}

// ICEServer is one STUN or TURN server for the browser, as in RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// EventKind says what happened to a Session.
type EventKind int

const (
	// EventBrowserConnected: ICE and DTLS with the browser are up.
	EventBrowserConnected EventKind = iota + 1
	// EventBrowserFailed: ICE or DTLS with the browser failed or closed.
	EventBrowserFailed
	// EventRTPTimeout: an answered call's trunk leg went silent for RTPTimeout.
	EventRTPTimeout
)

// Event is reported by a Session to the callback given to NewSession. The
// callback must not block.
type Event struct {
	Kind EventKind
	Err  error
}

// Candidate is a trickled ICE candidate, as in RTCIceCandidateInit.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}

// Stats are a Session's packet counters.
type Stats struct {
	TrunkToBrowserPackets uint64 // relayed from the trunk to the browser
	BrowserToTrunkPackets uint64 // relayed from the browser to the trunk
	DroppedWrongSource    uint64 // trunk-leg packets from an address other than the negotiated peer (or before its SDP)
	DroppedMalformed      uint64 // not RTP, or a payload type that was not negotiated
}
