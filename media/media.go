// Package media owns the two media legs of a call and the relay between them:
// the WebRTC leg with the browser (ICE-lite, DTLS-SRTP, G.711 only) and the
// RTP leg with the SIP trunk (plain UDP from a configured port range).
//
// G.711 is relayed without decoding. When the trunk picks the other G.711 law
// than the browser, samples are converted with a 256-byte table, in place.
// RFC 4733 telephone-event packets from the browser are relayed to the trunk
// with the trunk's payload type; SendDTMF generates them towards the trunk in
// the stream of the relayed audio, and the trunk's are decoded into EventDTMF
// (dtmf.go).
//
// The packet path is the media threads' (loop.go): each waits on all the
// sockets of its sessions at once and relays every packet on the spot, with
// the browser leg's SRTP done here (pion/srtp contexts from a pion/dtls
// handshake, no PeerConnection). docs/performance.md has the numbers.
//
// Imported by cti and cmd only. It imports neither sip nor cti: SDP crosses
// the package boundary as bytes. Of hubline it imports internal/udpio only.
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
	// WebRTCPort, when not zero, is the one UDP port of every browser leg
	// (with Threads > 1, the first of Threads ports, one per media
	// thread): the gateway's ICE candidate for all browsers, which it
	// tells apart by their ICE credentials and then by address. One port
	// to open in a firewall or a Kubernetes Service, one socket for all
	// legs, and the cheapest packet path (docs/performance.md). Zero: each
	// leg binds a port of its own from WebRTCPortMin–WebRTCPortMax.
	WebRTCPort uint16
	// WebRTCPortMin and WebRTCPortMax bound the browser legs' own UDP ports
	// when WebRTCPort is zero. The range may overlap the RTP range: ports
	// are claimed by binding them, and each side skips ports the other
	// holds. Zero: the same range as RTP.
	WebRTCPortMin, WebRTCPortMax uint16
	// ICENetworks are the networks the gateway's ICE candidate may be in
	// (tests use 127.0.0.0/8): BindIP, when it is not the wildcard, must be
	// in one. The gateway has one candidate, the announced address
	// (PublicIP, else BindIP), on WebRTCPort or the leg's own port. Empty:
	// no restriction.
	ICENetworks []netip.Prefix
	// ICEServers are handed to the browser; the gateway itself gathers host
	// candidates only.
	ICEServers []ICEServer
	// Threads is the number of media threads: each relays the packets of
	// the sessions given to it (round robin), on one goroutine that waits
	// on all their sockets at once. A thread relays a few thousand calls
	// per core. Zero: 1.
	Threads int
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
	// EventDTMF: the trunk sent a digit as RFC 4733 telephone-event (Digit).
	EventDTMF
)

// Event is reported by a Session to the callback given to NewSession. The
// callback must not block.
type Event struct {
	Kind EventKind
	Err  error
	// Digit is EventDTMF's: 0-9 * # A-D.
	Digit byte
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
