package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/udpio"
)

// Session is one call's media: both legs and the relay between them.
//
// Goroutines: none of its own for media. The session's media loop
// (loop.go) reads its trunk socket and its browser leg's datagrams and
// relays each packet to the other leg before reading the next: no
// hand-off, no allocation. A DTLS handshake has a goroutine until the
// browser's first SRTP packet. What the relay needs from signalling
// (addresses, payload types, laws) is an immutable rules value swapped
// atomically when either leg negotiates.
//
// Trunk source policy: RTP is accepted only from the IP address in the
// trunk's SDP. The source port is latched on the first packet (NAT'd trunks
// and some SBCs send from another port than the SDP's); packets from other
// ports of that IP are dropped while the latched one is active (sent within
// relatchAfter). The latch moves to another port when the latched one has
// been silent that long (a media server swapped behind the same address), or
// at once when the other port is the SDP's. A new trunk SDP with another
// address or port resets the latch. RTP to the trunk always goes to the
// address and port of its SDP (no symmetric-RTP send latching).
type Session struct {
	e       *Engine
	log     *zap.Logger
	onEvent func(Event)
	loop    *mediaLoop // owns the session's sockets and does its packet work
	port    uint16
	rtp     *udpio.Socket // trunk leg RTP, the even port
	rtcp    *udpio.Socket // the odd port: held, never read
	rtpTok  uint64        // the loop's token for rtp
	offer   []byte        // TrunkOffer, immutable

	// Read and written by the relay goroutines without locks.
	rules    atomic.Pointer[rules]      // nil until the trunk or browser negotiates
	out      atomic.Pointer[browserOut] // the connected browser leg, nil if none
	lastRTP  atomic.Int64               // monoNow of the last RTP packet from the trunk, to lastRTPGrain
	answered atomic.Bool                // MarkAnswered was called
	timedOut atomic.Bool                // EventRTPTimeout was delivered
	closing  atomic.Bool                // Close has begun: no more events
	rec      recordTap                  // Record's recorder, nil if none
	sdes     sdesState                  // SDES-SRTP on the trunk leg (sdes.go)
	stats    counters

	// The loop's: the trunk reader's state, and the limit on warnings of
	// writes to the trunk.
	tr         trunkReader
	toTrunkErr warnLimit
	tt         toTrunk // the stream to the trunk (dtmf.go)
	toTrunk    splicer // the loop's: one continuous stream to the trunk (trunkstream.go)

	dtmf dtmfRunner // SendDTMF's generator (dtmf.go)

	closeOnce sync.Once
	closeErr  error

	mu          sync.Mutex // guards the fields below; never held for I/O or callbacks
	closed      bool
	negotiating bool         // AcceptBrowserOffer is running
	leg         *webrtcLeg   // the browser leg, once an offer arrived
	trunkAns    *trunkAnswer // the trunk's latest SDP
	browserNeg  *browserLeg  // what the browser leg negotiated
	player      *player      // Play's, nil if none
	local       localSDP     // our o= line and local hold (reoffer.go)
}

// relatchAfter is how long the latched trunk source must be silent before
// another port of the same IP is accepted instead.
const relatchAfter = 500 * time.Millisecond

// counters are the Session's statistics.
type counters struct {
	toBrowser, toTrunk atomic.Uint64
	wrongSource        atomic.Uint64
	malformed          atomic.Uint64
	// notReady counts packets dropped because the other leg could not take
	// them yet: no trunk SDP, browser not connected, trunk on hold.
	notReady atomic.Uint64
	// writeErrors counts packets a socket or pion refused.
	writeErrors atomic.Uint64
}

// rules is what the relay goroutines need from signalling. A value is never
// modified once published; each renegotiation publishes a new one.
type rules struct {
	toBrowser relay // payload types the trunk sends → the browser's
	toTrunk   relay // payload types the browser sends → the trunk's

	// trunk is the address of the trunk's SDP (unmapped): RTP goes there,
	// and only its IP may send to us. Invalid before the trunk's SDP.
	trunk netip.AddrPort
	// sendTrunk: the trunk takes our RTP (not c=0.0.0.0, sendrecv/recvonly).
	sendTrunk bool
	// holdBrowser: the rep holds the call; the browser's audio is not
	// relayed (Play's is: music on hold).
	holdBrowser bool
	// trunkSends: the trunk sends RTP (not c=0.0.0.0, sendrecv/sendonly),
	// so the inactivity timeout applies.
	trunkSends bool
	// trunkLaw and trunkPT are what we send the trunk audio with;
	// browserLaw is the law of the audio relayed towards the browser.
	trunkLaw, browserLaw codec
	trunkPT              uint8
	// trunkEvent: the trunk negotiated telephone-event, trunkEventPT.
	trunkEvent   bool
	trunkEventPT uint8
}

// buildRules derives the relay rules from what each leg negotiated; either
// may still be missing.
func buildRules(ta *trunkAnswer, bl *browserLeg) *rules {
	r := new(rules)
	// The browser law before the browser negotiated is a placeholder; packets
	// are not relayed to the browser until it is connected.
	bLaw, bPT := codecPCMU, uint8(0)
	if bl != nil {
		bLaw, bPT = bl.law, bl.lawPT
	}
	r.browserLaw = bLaw
	if ta != nil {
		r.trunkLaw, r.trunkPT = ta.law, ta.lawPT
		r.trunkEvent, r.trunkEventPT = ta.hasEvent, ta.eventPT
		r.trunk = netip.AddrPortFrom(ta.remote.Addr().Unmap(), ta.remote.Port())
		r.sendTrunk = ta.sends()
		r.trunkSends = !ta.hold() && (ta.dir == dirSendRecv || ta.dir == dirSendOnly)
		// The trunk should send with our offer's payload types (RFC 3264);
		// those of its answer are accepted as well, where they do not clash.
		// When the trunk made the offer, it sends with its own.
		trunkSent := append(append([]format(nil), trunkOfferFormats...), ta.formats...)
		if ta.offerer {
			trunkSent = ta.formats
		}
		for i, f := range trunkSent {
			if containsPT(trunkSent[:i], f.pt) {
				continue
			}
			switch f.codec {
			case codecPCMU, codecPCMA:
				r.toBrowser.set(f.pt, route{action: actForward, pt: bPT, conv: conversionFor(f.codec, bLaw)})
			case codecEvent:
				r.toBrowser.set(f.pt, route{action: actDiscard})
			}
		}
	}
	if bl != nil {
		for _, f := range bl.formats {
			switch {
			case f.codec == codecEvent && ta != nil && ta.hasEvent:
				r.toTrunk.set(f.pt, route{action: actForward, pt: ta.eventPT})
			case f.codec == codecEvent:
				r.toTrunk.set(f.pt, route{action: actDiscard})
			case ta != nil:
				r.toTrunk.set(f.pt, route{action: actForward, pt: ta.lawPT, conv: conversionFor(f.codec, ta.law)})
			default:
				// No trunk SDP yet: valid, but nowhere to go.
				r.toTrunk.set(f.pt, route{action: actDiscard})
			}
		}
	}
	return r
}

// publishRules rebuilds the rules from the negotiated state; s.mu is held.
func (s *Session) publishRules() {
	r := buildRules(s.trunkAns, s.browserNeg)
	r.holdBrowser = s.local.hold
	s.rules.Store(r)
}

// TrunkOffer returns the SDP offer for the INVITE: PCMU/8000 (0), PCMA/8000 (8),
// telephone-event/8000 (101, 0-16), ptime 20, sendrecv, the session's RTP port
// and the public address.
func (s *Session) TrunkOffer() []byte { return append([]byte(nil), s.offer...) }

// SetTrunkAnswer applies the trunk's SDP (from a 183 or the 200 OK; a later
// call replaces an earlier one): remote address and port, codec, and
// telephone-event payload type. An invalid SDP leaves the earlier one in
// force. With c=0.0.0.0, a=inactive or a=sendonly nothing is sent to the
// trunk; with c=0.0.0.0, a=inactive or a=recvonly the inactivity timeout is
// suspended.
func (s *Session) SetTrunkAnswer(sdp []byte) error {
	ans, err := parseTrunkAnswer(sdp)
	if err != nil {
		return err
	}
	if err := s.applyAnswerSDES(&ans); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.trunkAns = &ans
	s.publishRules()
	s.mu.Unlock()
	// A new SDP restarts the inactivity clock.
	s.lastRTP.Store(monoNow())
	s.log.Debug("trunk SDP applied", zap.Stringer("remote", ans.remote), zap.Stringer("law", ans.law),
		zap.Uint8("pt", ans.lawPT), zap.Bool("dtmf", ans.hasEvent), zap.Stringer("direction", ans.dir))
	return nil
}

// MarkAnswered starts RTP inactivity monitoring on the trunk leg: from now
// on, RTPTimeout without RTP from the trunk delivers EventRTPTimeout, once.
func (s *Session) MarkAnswered() {
	s.lastRTP.Store(monoNow())
	s.answered.Store(true)
}

// checkRTPTimeout is the sweep's check of one session.
func (s *Session) checkRTPTimeout(now int64, timeout time.Duration) {
	if !s.answered.Load() || s.timedOut.Load() {
		return
	}
	r := s.rules.Load()
	if r == nil || !r.trunkSends {
		return
	}
	silent := time.Duration(now - s.lastRTP.Load())
	if silent < timeout || !s.timedOut.CompareAndSwap(false, true) {
		return
	}
	s.log.Warn("no RTP from the trunk", zap.Duration("silentFor", silent), zap.Stringer("trunk", r.trunk))
	s.emit(Event{Kind: EventRTPTimeout, Err: fmt.Errorf("media: no RTP from the trunk for %v", silent.Round(time.Millisecond))})
}

// checkBrowser is the sweep's check of the session's browser leg.
func (s *Session) checkBrowser(now int64) {
	s.mu.Lock()
	leg := s.leg
	s.mu.Unlock()
	if leg != nil {
		leg.checkTimeout(now)
	}
}

// emit delivers ev unless Close has begun. It holds no lock and is not
// waited for by Close, so a callback that blocks cannot deadlock a Close
// made by the goroutine it is waiting for.
func (s *Session) emit(ev Event) {
	if s.closing.Load() {
		return
	}
	s.onEvent(ev)
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	return Stats{
		TrunkToBrowserPackets: s.stats.toBrowser.Load(),
		BrowserToTrunkPackets: s.stats.toTrunk.Load(),
		DroppedWrongSource:    s.stats.wrongSource.Load(),
		DroppedMalformed:      s.stats.malformed.Load(),
	}
}

// Close releases both legs: it closes the browser's PeerConnection and the
// RTP sockets, waits for the session's goroutines and returns the port. It
// is idempotent and safe to call concurrently; every call returns once the
// session is closed.
func (s *Session) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Session) close() error {
	s.closing.Store(true) // no more events
	s.StopPlay()          // before the sockets close
	s.stopDTMF()
	s.mu.Lock()
	s.closed = true
	leg := s.leg
	s.leg = nil
	s.mu.Unlock()

	s.out.Store(nil)
	var errs []error
	if leg != nil {
		leg.close()
	}
	// On the loop, between two batches: after this no datagram is handled
	// for the session.
	l := s.loop
	l.exec(func() {
		if l.shared != nil {
			l.shared.forget()
		}
		l.unwatch(s.rtp, s.rtpTok)
	})
	if err := s.rtcp.Close(); err != nil {
		errs = append(errs, err)
	}
	s.e.ports.release(s.port)
	s.e.forget(s)
	s.log.Debug("media session closed", zap.Uint16("rtpPort", s.port),
		zap.Uint64("trunkToBrowser", s.stats.toBrowser.Load()),
		zap.Uint64("browserToTrunk", s.stats.toTrunk.Load()),
		zap.Uint64("droppedWrongSource", s.stats.wrongSource.Load()),
		zap.Uint64("droppedMalformed", s.stats.malformed.Load()),
		zap.Uint64("droppedNotReady", s.stats.notReady.Load()),
		zap.Uint64("writeErrors", s.stats.writeErrors.Load()))
	return errors.Join(errs...)
}

// trunkReader is the state of the trunk leg's reader, the session's loop.
type trunkReader struct {
	peer    netip.AddrPort // the SDP address the latch belongs to
	last    int64          // monoNow of the trunk's last packet
	stored  int64          // when heard last stored Session.lastRTP
	port    uint16         // latched source port, 0 before the first packet
	splice  splicer
	dtmf    dtmfDecoder
	readErr warnLimit
	wrErr   warnLimit
}

// readable implements readable: the loop reads a batch from the trunk
// socket and relays each packet to the browser.
func (s *Session) readable(l *mediaLoop, now int64) {
	tr := &s.tr
	b := l.batch
	for {
		n, err := s.rtp.Recv(b)
		if err != nil {
			if tr.readErr.allow(now) {
				s.log.Warn("trunk RTP read failed", zap.Error(err))
			}
			return
		}
		for i := range n {
			if err := s.handleTrunk(tr, b.Bufs[i][:b.Lens[i]], b.Addrs[i], now, l.enc[:]); err != nil && tr.wrErr.allow(now) {
				s.log.Warn("sending RTP to the browser failed", zap.Error(err))
			}
		}
		if n < len(b.Bufs) {
			return // drained (the loop waits for the next datagram)
		}
	}
}

// handleTrunk is the per-packet step of the trunk reader: source check,
// relay rules, splicing, the header for the browser, and the send through
// the browser leg (SRTP). It does not allocate. The returned error is the
// browser leg's, for a rate-limited log.
func (s *Session) handleTrunk(tr *trunkReader, pkt []byte, src netip.AddrPort, now int64, scratch []byte) error {
	r := s.rules.Load()
	if r == nil || !tr.accept(r, src, now, max(tr.last, s.lastRTP.Load())) {
		s.stats.wrongSource.Add(1)
		return nil
	}
	pkt, ok := s.unprotectTrunk(pkt)
	if !ok {
		return nil
	}
	switch r.toBrowser.process(pkt) {
	case verdictForward:
	case verdictDiscard: // telephone-event: media, but not for the browser
		tr.heard(s, now)
		s.trunkDTMF(tr, pkt)
		return nil
	case verdictRTCP:
		return nil
	default:
		s.stats.malformed.Add(1)
		return nil
	}
	tr.heard(s, now)
	if rec := s.rec.Load(); rec != nil {
		start, end, _ := rtpPayload(pkt) // process validated it
		rec.add(pkt[start:end], r.browserLaw)
	}
	out := s.out.Load()
	if out == nil {
		s.stats.notReady.Add(1) // early media before the browser is connected
		return nil
	}
	tr.splice.splice(pkt, now)
	start, end, _ := rtpPayload(pkt) // process validated it
	// The browser gets a plain 12-byte header (no CSRC, extension or
	// padding) with our SSRC, written in place just before the payload.
	h := pkt[start-12 : start]
	copy(h[1:8], pkt[1:8]) // marker and payload type, sequence, timestamp
	h[0] = 0x80
	binary.BigEndian.PutUint32(h[8:12], out.ssrc)
	if err := out.sink.sendRTP(pkt[start-12:end], scratch); err != nil {
		s.stats.writeErrors.Add(1)
		return err
	}
	s.stats.toBrowser.Add(1)
	return nil
}

// lastRTPGrain is how often the trunk reader publishes the time of the
// trunk's last packet: a store per packet would cost more than the rest of
// the relay step but SRTP, and the timeouts that read it count in seconds.
const lastRTPGrain = int64(100 * time.Millisecond)

// heard records a packet from the trunk at now.
func (tr *trunkReader) heard(s *Session, now int64) {
	tr.last = now
	if now-tr.stored >= lastRTPGrain {
		s.lastRTP.Store(now)
		tr.stored = now
	}
}

// accept applies the source policy (see Session) to a packet from src.
func (tr *trunkReader) accept(r *rules, src netip.AddrPort, now, last int64) bool {
	if !r.trunk.IsValid() || src.Addr().Unmap() != r.trunk.Addr() {
		return false
	}
	if tr.peer != r.trunk {
		tr.peer, tr.port = r.trunk, 0
	}
	switch {
	case src.Port() == tr.port:
	case src.Port() == r.trunk.Port() || tr.port == 0 || now-last > int64(relatchAfter):
		tr.port = src.Port()
	default:
		return false
	}
	return true
}

// handleBrowser is the per-packet step of a browser reader: relay rules and
// the destination. It does not allocate. ok is false when the packet is
// dropped.
func (s *Session) handleBrowser(pkt []byte) (dst netip.AddrPort, ok bool) {
	r := s.rules.Load()
	if r == nil || !r.trunk.IsValid() {
		s.stats.notReady.Add(1)
		return netip.AddrPort{}, false
	}
	switch r.toTrunk.process(pkt) {
	case verdictForward:
	case verdictDiscard, verdictRTCP:
		return netip.AddrPort{}, false
	default:
		s.stats.malformed.Add(1)
		return netip.AddrPort{}, false
	}
	if !r.sendTrunk || r.holdBrowser {
		s.stats.notReady.Add(1)
		return netip.AddrPort{}, false
	}
	if !s.tt.pass(pkt) {
		return netip.AddrPort{}, false // a generated DTMF event is on
	}
	return r.trunk, true
}

// sendTrunk writes a packet handleBrowser accepted. It runs on the
// session's loop.
func (s *Session) sendTrunk(pkt []byte, dst netip.AddrPort) {
	pkt, err := s.protectTrunk(pkt)
	if err == nil {
		err = s.rtp.SendTo(pkt, dst)
	}
	if err != nil {
		s.stats.writeErrors.Add(1)
		if now := monoNow(); s.toTrunkErr.allow(now) {
			s.log.Warn("sending RTP to the trunk failed", zap.Stringer("trunk", dst), zap.Error(err))
		}
		return
	}
	s.stats.toTrunk.Add(1)
}

// warnLimit lets one warning through per warnEvery. It belongs to one
// goroutine.
type warnLimit struct {
	last   int64
	warned bool
}

const warnEvery = 10 * time.Second

func (w *warnLimit) allow(now int64) bool {
	if w.warned && now-w.last < int64(warnEvery) {
		return false
	}
	w.warned, w.last = true, now
	return true
}
