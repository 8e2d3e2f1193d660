package media

import (
	"errors"

	"go.uber.org/zap"
)

// ErrNoCommonCodec: the trunk's SDP has no G.711 codec we offered.
var ErrNoCommonCodec = errors.New("media: no common codec")

// Engine creates media sessions and owns what they share: the port
// allocator, the pion API, and the RTP inactivity sweep.
type Engine struct{}

// NewEngine validates opts and prepares the shared parts.
func NewEngine(opts Options) (*Engine, error) { panic("unimplemented") }

// ICEServers returns the STUN/TURN servers to hand to browsers.
func (e *Engine) ICEServers() []ICEServer { panic("unimplemented") }

// NewSession allocates the trunk leg's RTP socket and prepares the browser leg.
// onEvent receives the session's events; it must not block. log carries the
// call's ids.
func (e *Engine) NewSession(log *zap.Logger, onEvent func(Event)) (*Session, error) {
	panic("unimplemented")
}

// Close closes every session and stops the engine's goroutines.
func (e *Engine) Close() error { panic("unimplemented") }

// Session is one call's media: both legs and the relay between them.
type Session struct{}

// TrunkOffer returns the SDP offer for the INVITE: PCMU/8000 (0), PCMA/8000 (8),
// telephone-event/8000 (101, 0-16), ptime 20, sendrecv, the session's RTP port
// and the public address.
func (s *Session) TrunkOffer() []byte { panic("unimplemented") }

// SetTrunkAnswer applies the trunk's SDP (from a 183 or the 200 OK; a later
// call replaces an earlier one): remote address and port, codec, and
// telephone-event payload type.
func (s *Session) SetTrunkAnswer(sdp []byte) error { panic("unimplemented") }

// MarkAnswered starts RTP inactivity monitoring on the trunk leg.
func (s *Session) MarkAnswered() { panic("unimplemented") }

// AcceptBrowserOffer answers the browser's WebRTC offer. The answer carries
// every gateway candidate (gathering is complete when it returns).
func (s *Session) AcceptBrowserOffer(offer string) (answer string, err error) {
	panic("unimplemented")
}

// AddBrowserCandidate adds a trickled candidate from the browser. An empty
// Candidate marks the end of candidates.
func (s *Session) AddBrowserCandidate(c Candidate) error { panic("unimplemented") }

// Stats returns the session's counters.
func (s *Session) Stats() Stats { panic("unimplemented") }

// Close releases both legs. It is idempotent and safe to call concurrently.
func (s *Session) Close() error { panic("unimplemented") }
