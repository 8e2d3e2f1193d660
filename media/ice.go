package media

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/udpio"
)

// The browser leg's transport: a UDP socket on which the gateway is an
// ICE-lite agent (RFC 8445 2.5). It answers the browser's connectivity
// and consent checks (STUN binding requests signed with the leg's ICE
// password), learns from them which source addresses belong to which leg,
// and hands each datagram to its leg by the first byte (RFC 7983): STUN,
// DTLS (the handshake, then alerts) or SRTP/SRTCP.
//
// With Options.WebRTCPort one socket per loop carries the legs of all its
// sessions: a binding request names its leg by the USERNAME attribute
// (our ufrag), and a validated source address maps to the leg from then
// on. Without it each leg has a socket of its own from the WebRTC port
// range.
//
// The socket's loop reads it, in batches, and does all the per-packet work
// of the packets it reads: decryption, the relay step, the write to the
// trunk. The address map belongs to the loop: no lock on the packet path.

// webrtcSocket is a UDP socket carrying browser legs, read by one loop.
type webrtcSocket struct {
	loop   *mediaLoop
	sock   *udpio.Socket
	tok    uint64         // the loop's token for it
	local  netip.AddrPort // the announced address and the bound port
	shared bool           // Options.WebRTCPort: the socket outlives its legs

	mu      sync.Mutex            // guards byUfrag and removals
	byUfrag map[string]*webrtcLeg // by our ufrag
	// removals are closed legs whose addresses the loop must forget.
	removals []*webrtcLeg
	pending  atomic.Bool // removals is not empty

	// byAddr belongs to the loop: validated source addresses.
	byAddr map[netip.AddrPort]*webrtcLeg
	stats  socketStats
}

type socketStats struct {
	unknownSource atomic.Uint64 // DTLS or SRTP from an address no check validated
	badSTUN       atomic.Uint64 // binding requests that failed validation
}

const (
	maxDatagram = 1500
	// socketBuffer is a shared socket's receive and send buffer: every
	// browser's packets queue in it. The kernel caps it at
	// net.core.rmem_max / wmem_max.
	socketBuffer = 4 << 20
)

// listenWebRTC binds a WebRTC socket on ip:port and has l read it.
func (l *mediaLoop) listenWebRTC(ip netip.Addr, port uint16, shared bool) (*webrtcSocket, error) {
	buf := 0
	if shared {
		buf = socketBuffer
	}
	sock, err := udpio.Listen(netip.AddrPortFrom(ip, port), buf)
	if err != nil {
		return nil, err
	}
	s := &webrtcSocket{
		loop:    l,
		sock:    sock,
		local:   netip.AddrPortFrom(l.e.announce, sock.Addr.Port()),
		shared:  shared,
		byUfrag: make(map[string]*webrtcLeg),
		byAddr:  make(map[netip.AddrPort]*webrtcLeg),
	}
	if s.tok, err = l.watch(sock, s); err != nil {
		sock.Close()
		return nil, err
	}
	return s, nil
}

// bindWebRTC binds a leg's own socket on a free port of the WebRTC range,
// starting at a random port.
func (l *mediaLoop) bindWebRTC() (*webrtcSocket, error) {
	o := &l.e.opts
	lo, hi := int(o.WebRTCPortMin), int(o.WebRTCPortMax)
	n := hi - lo + 1
	start := int(randUint32() % uint32(n))
	var last error
	for i := range n {
		port := uint16(lo + (start+i)%n)
		s, err := l.listenWebRTC(o.BindIP, port, false)
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, fmt.Errorf("media: no free WebRTC port in %d–%d (last: %w)", lo, hi, last)
}

// close stops the loop reading the socket and closes it.
func (s *webrtcSocket) close() {
	s.loop.exec(func() { s.loop.unwatch(s.sock, s.tok) })
}

// register makes leg reachable by its ufrag.
func (s *webrtcSocket) register(leg *webrtcLeg) {
	s.mu.Lock()
	s.byUfrag[leg.ufrag] = leg
	s.mu.Unlock()
}

// unregister forgets leg; the loop drops its addresses before its next
// batch.
func (s *webrtcSocket) unregister(leg *webrtcLeg) {
	s.mu.Lock()
	if s.byUfrag[leg.ufrag] == leg {
		delete(s.byUfrag, leg.ufrag)
	}
	s.removals = append(s.removals, leg)
	s.pending.Store(true)
	s.mu.Unlock()
}

func (s *webrtcSocket) legOf(ufrag string) *webrtcLeg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byUfrag[ufrag]
}

// readable implements readable: a batch of datagrams, each to its leg.
func (s *webrtcSocket) readable(l *mediaLoop, now int64) {
	if s.pending.Load() {
		s.forget()
	}
	b := l.batch
	for {
		n, err := s.sock.Recv(b)
		if err != nil {
			l.e.log.Debug("WebRTC socket read failed", zap.Stringer("addr", s.local), zap.Error(err))
			return
		}
		for i := range n {
			s.handle(b.Bufs[i][:b.Lens[i]], b.Addrs[i], now, l)
		}
		if n < len(b.Bufs) {
			return // drained (the loop waits for the next datagram)
		}
	}
}

// forget drops the addresses of legs that were closed.
func (s *webrtcSocket) forget() {
	s.mu.Lock()
	legs := s.removals
	s.removals = nil
	s.pending.Store(false)
	s.mu.Unlock()
	for _, leg := range legs {
		for _, a := range leg.addrs {
			if s.byAddr[a] == leg {
				delete(s.byAddr, a)
			}
		}
		leg.addrs = nil
	}
}

// handle demultiplexes one datagram (RFC 7983 5).
func (s *webrtcSocket) handle(pkt []byte, src netip.AddrPort, now int64, l *mediaLoop) {
	if len(pkt) == 0 {
		return
	}
	switch b := pkt[0]; {
	case b >= 128 && b <= 191: // RTP or RTCP
		leg := s.byAddr[src]
		if leg == nil {
			s.stats.unknownSource.Add(1)
			return
		}
		leg.onSRTP(pkt, now)
	case b <= 3: // STUN
		s.onSTUN(pkt, src, now, l.stun[:0])
	case b >= 20 && b <= 63: // DTLS
		leg := s.byAddr[src]
		if leg == nil {
			s.stats.unknownSource.Add(1)
			return
		}
		leg.onDTLS(pkt, src, now)
	}
}

// onSTUN answers a binding request for one of the socket's legs: a
// success response with the source address, signed with the leg's
// password. A valid request maps its source address to the leg; one with
// USE-CANDIDATE (the browser, which controls, nominates the pair) also
// makes it the address the leg sends to.
func (s *webrtcSocket) onSTUN(pkt []byte, src netip.AddrPort, now int64, scratch []byte) {
	m := &stun.Message{Raw: pkt}
	if err := m.Decode(); err != nil {
		return
	}
	if m.Type == stun.NewType(stun.MethodBinding, stun.ClassIndication) {
		if leg := s.byAddr[src]; leg != nil {
			leg.touch(now)
		}
		return
	}
	if m.Type != stun.BindingRequest {
		return // we send no requests: responses are strays
	}
	var user stun.Username
	if err := user.GetFrom(m); err != nil {
		s.stats.badSTUN.Add(1)
		return
	}
	ours, theirs, _ := strings.Cut(user.String(), ":")
	leg := s.legOf(ours)
	if leg == nil || leg.remoteUfrag != theirs {
		s.stats.badSTUN.Add(1)
		return
	}
	if err := leg.integrity.Check(m); err != nil {
		s.stats.badSTUN.Add(1)
		return
	}
	resp := &stun.Message{Raw: scratch}
	err := resp.Build(
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.BindingSuccess,
		&stun.XORMappedAddress{IP: src.Addr().AsSlice(), Port: int(src.Port())},
		leg.integrity,
		stun.Fingerprint,
	)
	if err != nil {
		return
	}
	if err := s.sock.SendTo(resp.Raw, src); err != nil {
		return
	}
	if s.byAddr[src] != leg {
		if old := s.byAddr[src]; old != nil {
			old.dropAddr(src)
		}
		s.byAddr[src] = leg
		leg.addrs = append(leg.addrs, src)
	}
	leg.onCheck(src, m.Contains(stun.AttrUseCandidate), now)
}

// iceChars are the characters of ICE ufrags and passwords (RFC 8445 5.3).
const iceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// randomICE returns n random ICE characters.
func randomICE(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = iceChars[b[i]%byte(len(iceChars))]
	}
	return string(b)
}

func randUint32() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return binary.BigEndian.Uint32(b[:])
}

// errLegTimeout: the browser leg went silent (no consent checks or media).
// browserTimeout is how long a browser leg may be silent — connected, no
// consent check, media or keepalive from the browser; not connected, no
// DTLS handshake since the answer — before it counts as failed. Browsers
// check consent every 5 s and give up after 30 s (RFC 7675).
const browserTimeout = 30 * time.Second
