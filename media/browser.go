package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
	"go.uber.org/zap"
)

// The browser leg: ICE-lite, DTLS-SRTP and G.711, one per browser offer
// (ice.go, dtls.go). The browser offers and the gateway answers at once,
// with its one host candidate. A later offer (the softphone restoring
// audio after a page reload) replaces the leg; the relay carries on with
// the new one.

var errBrowserFailed = errors.New("media: browser connection failed (ICE or DTLS)")

// webrtcLeg is one browser's transport: its ICE credentials, its
// addresses, its DTLS handshake and its SRTP contexts.
type webrtcLeg struct {
	s    *Session
	sock *webrtcSocket
	own  bool // sock is the leg's own (no Options.WebRTCPort)

	// Set before the leg is registered; read-only afterwards.
	ufrag, pwd   string // ours
	integrity    stun.MessageIntegrity
	remoteUfrag  string
	fingerprints []fingerprint
	ssrc         uint32 // of the stream we send
	answeredAt   int64

	done chan struct{} // closed when close begins
	gate gate          // the handshake goroutine
	dtls *dtlsConn     // the handshake's datagrams

	// The socket reader's: the validated addresses of the leg.
	addrs []netip.AddrPort

	remote    atomic.Pointer[netip.AddrPort] // where we send: the nominated pair's address
	lastRx    atomic.Int64                   // monoNow of the last datagram from the browser, coarse
	started   atomic.Bool                    // the handshake goroutine was started
	detached  atomic.Bool                    // DTLS dropped after the browser's first SRTP
	connected atomic.Bool                    // keys installed

	profile srtp.ProtectionProfile // set with the keys
	in      srtpIn                 // decrypts the browser's packets: the loop's
	out     srtpOut                // encrypts ours: the loop's

	mu    sync.Mutex // guards ended
	ended bool       // failed, or closed by us

	closeOnce sync.Once
}

// srtpIn and srtpOut are the leg's SRTP contexts. They belong to the
// session's loop, which alone relays its packets; the handshake goroutine
// sets them before it publishes the leg as connected.
type srtpIn struct {
	ctx *srtp.Context
	hdr rtp.Header
}

type srtpOut struct {
	ctx *srtp.Context
	hdr rtp.Header
}

// browserSink takes the relay's packets for the browser: plain RTP with the
// leg's SSRC, which it protects into scratch and sends.
type browserSink interface {
	sendRTP(pkt, scratch []byte) error
}

// browserOut is what the trunk reader needs of the connected leg.
type browserOut struct {
	sink browserSink
	ssrc uint32
}

// AcceptBrowserOffer answers the browser's WebRTC offer. The answer carries
// the gateway's one candidate. A later offer replaces the browser leg made
// by an earlier one, without an event for the old one; offers may not
// overlap. It may be called before or after the trunk's SDP arrives.
func (s *Session) AcceptBrowserOffer(offer string) (answer string, err error) {
	wo, err := parseWebRTCOffer(offer)
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

	leg, err := s.newLeg(&wo)
	if err != nil {
		return "", err
	}
	neg := browserLeg{law: wo.law, formats: wo.formats}
	for _, f := range wo.formats {
		if f.codec == wo.law {
			neg.lawPT = f.pt
			break
		}
	}
	answer = buildWebRTCAnswer(&wo, answerParams{
		sessionID:   uint64(randUint32())<<16 | uint64(s.port),
		addr:        leg.sock.local,
		ufrag:       leg.ufrag,
		pwd:         leg.pwd,
		fingerprint: s.e.id.fingerprint,
		ssrc:        leg.ssrc,
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		leg.close()
		return "", errClosed
	}
	s.leg = leg
	s.browserNeg = &neg
	s.publishRules()
	s.mu.Unlock()
	// Reachable only now: checks may come as soon as the answer leaves.
	leg.sock.register(leg)
	s.log.Debug("browser offer answered", zap.Stringer("law", neg.law), zap.Uint8("pt", neg.lawPT),
		zap.Stringer("candidate", leg.sock.local))
	return answer, nil
}

// newLeg makes a leg for the offer, on the shared socket or its own.
func (s *Session) newLeg(o *webrtcOffer) (*webrtcLeg, error) {
	leg := &webrtcLeg{
		s:            s,
		ufrag:        randomICE(16),
		pwd:          randomICE(32),
		remoteUfrag:  o.ufrag,
		fingerprints: o.fingerprints,
		ssrc:         randUint32(),
		answeredAt:   monoNow(),
		done:         make(chan struct{}),
	}
	leg.integrity = stun.NewShortTermIntegrity(leg.pwd)
	leg.dtls = newDTLSConn(leg)
	if sock := s.loop.shared; sock != nil {
		leg.sock = sock
	} else {
		sock, err := s.loop.bindWebRTC()
		if err != nil {
			return nil, err
		}
		leg.sock, leg.own = sock, true
	}
	leg.lastRx.Store(leg.answeredAt)
	return leg, nil
}

// dropLeg closes a leg that is no longer the session's.
func (s *Session) dropLeg(leg *webrtcLeg) {
	s.clearOut(leg)
	leg.close()
	s.clearOut(leg) // a connection may have raced
}

// clearOut stops relaying to leg.
func (s *Session) clearOut(leg *webrtcLeg) {
	if o := s.out.Load(); o != nil && o.sink == browserSink(leg) {
		s.out.CompareAndSwap(o, nil)
	}
}

// isCurrent reports whether leg is the session's browser leg.
func (s *Session) isCurrent(leg *webrtcLeg) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leg == leg
}

// close ends the leg: no event is reported for it once close has begun.
// It waits for the handshake goroutine.
func (l *webrtcLeg) close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.ended = true
		l.mu.Unlock()
		l.gate.shut()
		close(l.done)
		l.dtls.silence()
		l.dtls.Close()
		l.sock.unregister(l)
		l.gate.wait()
		if l.own {
			l.sock.close()
		}
	})
}

// remoteAddr is the browser's address for DTLS, as a net.Addr.
func (l *webrtcLeg) remoteAddr() net.Addr {
	a, _ := l.sendAddr()
	return net.UDPAddrFromAddrPort(a)
}

// sendAddr is where packets to the browser go: the nominated address, or
// before a nomination the latest validated one.
func (l *webrtcLeg) sendAddr() (netip.AddrPort, bool) {
	if p := l.remote.Load(); p != nil {
		return *p, true
	}
	return netip.AddrPort{}, false
}

// touch records traffic from the browser, at most once a second.
func (l *webrtcLeg) touch(now int64) {
	if now-l.lastRx.Load() > int64(1e9) {
		l.lastRx.Store(now)
	}
}

// onCheck: a valid connectivity or consent check from src (socket reader).
func (l *webrtcLeg) onCheck(src netip.AddrPort, nominated bool, now int64) {
	l.lastRx.Store(now)
	if cur := l.remote.Load(); nominated && (cur == nil || *cur != src) || cur == nil {
		l.remote.Store(&src)
	}
}

// dropAddr forgets an address another leg took over (socket reader).
func (l *webrtcLeg) dropAddr(a netip.AddrPort) {
	for i, x := range l.addrs {
		if x == a {
			l.addrs = append(l.addrs[:i], l.addrs[i+1:]...)
			return
		}
	}
}

// onDTLS takes a DTLS datagram from the browser (socket reader).
func (l *webrtcLeg) onDTLS(pkt []byte, src netip.AddrPort, now int64) {
	l.touch(now)
	if l.detached.Load() {
		// Only an alert can follow a finished handshake: the browser
		// closed the connection (close_notify) or failed it.
		if pkt[0] == 21 && l.gate.enter() {
			go func() { // off the loop: the event callback may take its time
				defer l.gate.exit()
				l.failed(errBrowserFailed)
			}()
		}
		return
	}
	if l.remote.Load() == nil {
		l.remote.Store(&src)
	}
	if l.started.CompareAndSwap(false, true) {
		if !l.gate.enter() {
			return
		}
		go l.handshake()
	}
	l.dtls.push(pkt)
}

// onSRTP takes an SRTP or SRTCP datagram from the browser (socket reader):
// SRTCP is dropped (nothing here uses reports), SRTP is decrypted in place
// and relayed to the trunk.
func (l *webrtcLeg) onSRTP(pkt []byte, now int64) {
	l.touch(now)
	plain, ok := l.unprotect(pkt)
	if !ok {
		return
	}
	s := l.s
	if dst, ok := s.handleBrowser(plain); ok {
		s.toTrunk.splice(plain, now)
		s.sendTrunk(plain, dst)
	}
}

// unprotect decrypts an SRTP packet from the browser in place. ok is
// false for SRTCP, before the keys, and for packets that fail to decrypt
// (counted as malformed).
func (l *webrtcLeg) unprotect(pkt []byte) (plain []byte, ok bool) {
	if b := pkt[1]; b >= 192 && b <= 223 || !l.connected.Load() {
		return nil, false
	}
	in := &l.in
	plain, err := in.ctx.DecryptRTP(pkt, pkt, &in.hdr)
	if err != nil {
		l.s.stats.malformed.Add(1)
		return nil, false
	}
	if !l.detached.Load() {
		l.detach()
	}
	return plain, true
}

// detach drops DTLS: the browser has the keys, so it has our last flight.
func (l *webrtcLeg) detach() {
	l.detached.Store(true)
	l.dtls.silence()
	l.dtls.Close() // the handshake goroutine's Read fails; it returns
}

// sendRTP implements browserSink: it encrypts pkt into scratch and sends it
// to the browser.
func (l *webrtcLeg) sendRTP(pkt, scratch []byte) error {
	dst, ok := l.sendAddr()
	if !ok {
		return nil
	}
	enc, err := l.protect(pkt, scratch)
	if err != nil {
		return err
	}
	return l.sock.sock.SendTo(enc, dst)
}

// protect encrypts an RTP packet for the browser into scratch.
func (l *webrtcLeg) protect(pkt, scratch []byte) ([]byte, error) {
	out := &l.out
	return out.ctx.EncryptRTP(scratch[:0], pkt, &out.hdr)
}

// connectedNow: the keys are in; the relay may send to the browser.
func (l *webrtcLeg) connectedNow() {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.connected.Store(true)
	l.mu.Unlock()
	s := l.s
	if !s.isCurrent(l) {
		return
	}
	s.out.Store(&browserOut{sink: l, ssrc: l.ssrc})
	s.log.Debug("browser leg connected", zap.Stringer("srtp", l.profile))
	s.emit(Event{Kind: EventBrowserConnected})
}

// failed ends the leg for err: the browser closed it, the handshake
// failed, or the browser went silent. It reports EventBrowserFailed once,
// if the leg is the session's and not closed by us.
func (l *webrtcLeg) failed(err error) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	l.mu.Unlock()
	s := l.s
	s.clearOut(l)
	if !s.isCurrent(l) {
		return
	}
	s.log.Debug("browser leg failed", zap.Error(err))
	s.emit(Event{Kind: EventBrowserFailed, Err: err})
}

// checkTimeout is the engine sweep's check of a leg.
func (l *webrtcLeg) checkTimeout(now int64) {
	timeout := l.s.e.legTimeout
	if now-l.lastRx.Load() < int64(timeout) {
		return
	}
	if l.connected.Load() {
		l.failed(fmt.Errorf("%w: no ICE consent or media from the browser for %v", errBrowserFailed, timeout))
	} else {
		l.failed(fmt.Errorf("%w: not connected %v after the answer", errBrowserFailed, timeout))
	}
}

// AddBrowserCandidate adds a trickled candidate from the browser. An empty
// Candidate marks the end of candidates. It applies to the leg of the
// latest offer. The gateway is an ICE-lite agent: the browser's checks
// find the way, so candidates are only validated.
func (s *Session) AddBrowserCandidate(c Candidate) error {
	s.mu.Lock()
	leg, closed := s.leg, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return errClosed
	case leg == nil:
		return errors.New("media: browser candidate before the offer")
	case c.Candidate == "":
		return nil
	}
	if _, err := ice.UnmarshalCandidate(strings.TrimPrefix(c.Candidate, "a=")); err != nil {
		return fmt.Errorf("media: browser candidate: %w", err)
	}
	return nil
}
