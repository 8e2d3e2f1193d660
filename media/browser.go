package media

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// The browser leg: one pion PeerConnection per offer. The browser offers and
// the gateway answers with all its candidates. A later offer (the softphone
// restoring audio after a page reload) replaces the leg; the relay carries on
// with the new one.

var errBrowserFailed = errors.New("media: browser connection failed (ICE or DTLS)")

// webrtcLeg is one PeerConnection with the browser.
type webrtcLeg struct {
	pc    *webrtc.PeerConnection
	track *browserTrack
	done  chan struct{} // closed when close begins
	gate  gate          // pion callbacks and the leg's goroutines

	mu        sync.Mutex // guards connected and ended
	connected bool
	ended     bool // failed, or closed by us

	closeOnce sync.Once
	closeErr  error
}

// AcceptBrowserOffer answers the browser's WebRTC offer. The answer carries
// every gateway candidate (gathering is complete when it returns). A later
// offer replaces the browser leg made by an earlier one, without an event
// for the old one; offers may not overlap. It may be called before or after
// the trunk's SDP arrives.
func (s *Session) AcceptBrowserOffer(offer string) (answer string, err error) {
	bo, err := parseBrowserOffer(offer)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return "", errClosed
	case s.negotiating:
		s.mu.Unlock()
		return "", errors.New("media: a browser offer is already being answered")
	}
	s.negotiating = true
	old := s.leg
	s.leg, s.browserNeg = nil, nil
	s.publishRules()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.negotiating = false
		s.mu.Unlock()
	}()
	if old != nil {
		s.log.Info("new browser offer: replacing the browser leg")
		s.dropLeg(old)
	}

	leg, err := s.newLeg(bo.law)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		leg.close()
		return "", errClosed
	}
	s.leg = leg // from here Close closes it, which also ends negotiate
	s.mu.Unlock()

	answer, neg, err := leg.negotiate(offer, bo.law)
	if err != nil {
		s.mu.Lock()
		current := s.leg == leg
		if current {
			s.leg = nil
		}
		s.mu.Unlock()
		if current {
			s.dropLeg(leg)
		}
		return "", err
	}
	s.mu.Lock()
	if s.leg != leg {
		s.mu.Unlock()
		return "", errClosed
	}
	s.browserNeg = &neg
	s.publishRules()
	s.mu.Unlock()
	s.log.Debug("browser offer answered", zap.Stringer("law", neg.law), zap.Uint8("pt", neg.lawPT))
	return answer, nil
}

// dropLeg closes a leg that is no longer the session's.
func (s *Session) dropLeg(leg *webrtcLeg) {
	s.out.CompareAndSwap(leg.track, nil)
	if err := leg.close(); err != nil {
		s.log.Debug("close browser leg", zap.Error(err))
	}
	s.out.CompareAndSwap(leg.track, nil) // a Connected callback may have raced
}

// newLeg makes a PeerConnection with its callbacks.
func (s *Session) newLeg(law codec) (*webrtcLeg, error) {
	pc, err := s.e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("media: new PeerConnection: %w", err)
	}
	leg := &webrtcLeg{
		pc:    pc,
		track: &browserTrack{codec: capabilityOf(law), id: "audio", streamID: "hubline"},
		done:  make(chan struct{}),
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if !leg.gate.enter() {
			return
		}
		ev, ok := s.onLegState(leg, st)
		leg.gate.exit()
		if ok {
			s.emit(ev) // outside the gate: Close does not wait for callbacks
		}
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		if !leg.gate.enter() {
			return
		}
		defer leg.gate.exit()
		if track.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		leg.drainRTCP(receiver.Read)
		s.readBrowser(track)
	})
	return leg, nil
}

// negotiate applies the offer and returns the answer with every candidate.
func (l *webrtcLeg) negotiate(offer string, law codec) (string, browserLeg, error) {
	fail := func(step string, err error) (string, browserLeg, error) {
		return "", browserLeg{}, fmt.Errorf("media: browser offer: %s: %w", step, err)
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail("set remote description", err)
	}
	sender, err := l.pc.AddTrack(l.track)
	if err != nil {
		return fail("add track", err)
	}
	answer, err := l.pc.CreateAnswer(nil)
	if err != nil {
		return fail("create answer", err)
	}
	gathered := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(answer); err != nil {
		return fail("set local description", err)
	}
	timer := time.NewTimer(gatherTimeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-l.done:
		return fail("gather candidates", errClosed)
	case <-timer.C:
		return fail("gather candidates", errors.New("timed out"))
	}
	local := l.pc.LocalDescription()
	if local == nil {
		return fail("local description", errClosed)
	}
	neg, err := parseBrowserAnswer(local.SDP, law)
	if err != nil {
		return "", browserLeg{}, err
	}
	l.drainRTCP(sender.Read)
	return local.SDP, neg, nil
}

// drainRTCP reads and discards the RTCP of a sender or receiver until the
// leg closes. Nothing here uses it; unread, pion would buffer up to 100 kB
// of it per stream.
func (l *webrtcLeg) drainRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	if !l.gate.enter() {
		return
	}
	go func() {
		defer l.gate.exit()
		buf := make([]byte, 1500)
		for {
			if _, _, err := read(buf); err != nil {
				return
			}
		}
	}()
}

// close closes the PeerConnection and waits for the leg's goroutines and
// callbacks. No event is reported for a leg once close has begun.
func (l *webrtcLeg) close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.ended = true
		l.mu.Unlock()
		l.gate.shut()
		close(l.done)
		l.closeErr = l.pc.GracefulClose()
		l.gate.wait()
	})
	return l.closeErr
}

// onLegState turns PeerConnection states into events to emit. pion calls it
// on a goroutine per change, so changes may arrive out of order: nothing is
// reported for a leg after it failed, or for a leg that is not the
// session's.
func (s *Session) onLegState(leg *webrtcLeg, st webrtc.PeerConnectionState) (Event, bool) {
	var ev Event
	leg.mu.Lock()
	switch st {
	case webrtc.PeerConnectionStateConnected:
		if !leg.ended && !leg.connected {
			leg.connected = true
			s.out.Store(leg.track)
			ev.Kind = EventBrowserConnected
		}
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		if !leg.ended {
			leg.ended = true
			s.out.CompareAndSwap(leg.track, nil)
			ev = Event{Kind: EventBrowserFailed, Err: errBrowserFailed}
		}
	}
	leg.mu.Unlock()
	if ev.Kind == 0 {
		return ev, false
	}
	s.mu.Lock()
	current := s.leg == leg
	s.mu.Unlock()
	if !current {
		return ev, false
	}
	s.log.Debug("browser leg", zap.Stringer("state", st))
	return ev, true
}

// readBrowser relays a browser track to the trunk until the leg closes.
func (s *Session) readBrowser(track *webrtc.TrackRemote) {
	br := new(browserReader)
	for {
		n, _, err := track.Read(br.buf[:])
		if err != nil {
			if n == 0 {
				return // closed
			}
			s.stats.malformed.Add(1) // a payload type pion does not know
			continue
		}
		pkt := br.buf[:n]
		if dst, ok := s.handleBrowser(pkt); ok {
			s.sendTrunk(br, pkt, dst)
		}
	}
}

// AddBrowserCandidate adds a trickled candidate from the browser. An empty
// Candidate marks the end of candidates. It applies to the leg of the latest
// offer.
func (s *Session) AddBrowserCandidate(c Candidate) error {
	s.mu.Lock()
	leg, closed := s.leg, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return errClosed
	case leg == nil:
		return errors.New("media: browser candidate before the offer")
	}
	err := leg.pc.AddICECandidate(webrtc.ICECandidateInit{
		Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex,
	})
	if err != nil {
		return fmt.Errorf("media: browser candidate: %w", err)
	}
	return nil
}

// browserTrack is the gateway's audio track towards the browser. pion's
// TrackLocalStaticRTP takes a marshalled packet and unmarshals it again
// (Write) or copies the header (WriteRTP); this one hands the trunk reader's
// reused header and the payload straight to the sender's TrackLocalWriter,
// which encrypts into a pooled buffer.
type browserTrack struct {
	codec        webrtc.RTPCodecCapability
	id, streamID string
	bound        atomic.Pointer[trackBinding] // nil until pion binds the track
}

// trackBinding is what pion's Bind gives the track.
type trackBinding struct {
	id   string
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

// Bind implements webrtc.TrackLocal.
func (t *browserTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.codec.MimeType) && c.ClockRate == t.codec.ClockRate {
			t.bound.Store(&trackBinding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()})
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (t *browserTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	b := t.bound.Load()
	if b == nil || b.id != ctx.ID() || !t.bound.CompareAndSwap(b, nil) {
		return webrtc.ErrUnbindFailed
	}
	return nil
}

func (t *browserTrack) ID() string                { return t.id }
func (t *browserTrack) RID() string               { return "" }
func (t *browserTrack) StreamID() string          { return t.streamID }
func (t *browserTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }
