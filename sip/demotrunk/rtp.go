package demotrunk

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/audio"
)

// The media side of a demo call: one UDP socket, one goroutine. While the
// call rings it sends a ringback tone to the caller (early media); once the
// call is answered it sends every RTP packet the caller sends back to it.
// Both go out as one RTP stream: the demo trunk's SSRC, and a sequence
// number and timestamp that continue from the ringback into the echo.

const (
	rtpHeaderLen = 12
	// rtpBufSize holds any UDP datagram a sane peer sends us.
	rtpBufSize = 1500

	// Ringback: 425 Hz (ETSI/CEPT), 1 s on, 4 s off, at about -12 dBFS.
	ringbackFreq      = 425
	ringbackAmplitude = 0.25
	ringbackOnFrames  = int(time.Second / audio.FrameDuration)
	ringbackPeriod    = int(5 * time.Second / audio.FrameDuration)

	// maxLag is how far behind its schedule the ringback may fall (a
	// descheduled goroutine) before it skips frames instead of bursting.
	maxLag = 5 * audio.FrameDuration
)

// Media modes, set by the call goroutine, read by the media goroutine.
const (
	modeRinging int32 = iota // send ringback, ignore the caller's RTP
	modeEcho                 // echo the caller's RTP
)

// outStream is the state of the RTP stream the demo trunk sends. Owned by
// the media goroutine.
type outStream struct {
	ssrc   uint32
	seq    uint16 // of the last packet sent
	ts     uint32 // of the last packet sent
	sentAt time.Time
	sent   bool // anything sent yet

	// Echo: the caller's stream (SSRC inSSRC) maps onto ours by adding
	// seqOff and tsOff, fixed when the echo starts or the caller changes
	// SSRC, so that our stream carries on from its last packet.
	mapped bool
	inSSRC uint32
	seqOff uint16
	tsOff  uint32
}

func newOutStream() outStream {
	return outStream{ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

// ringFrame writes a ringback frame of payload type pt into buf (which has
// room for a header and audio.FrameSamples bytes) and returns the packet.
func (s *outStream) ringFrame(buf []byte, pt uint8, law audio.Law, pcm []int16, now time.Time) []byte {
	first := !s.sent
	s.seq++
	s.ts += audio.FrameSamples
	s.sentAt, s.sent = now, true
	b1 := pt & 0x7F
	if first {
		b1 |= 0x80 // marker: start of the stream
	}
	buf[0], buf[1] = 0x80, b1 // version 2, no padding, extension or CSRC
	binary.BigEndian.PutUint16(buf[2:], s.seq)
	binary.BigEndian.PutUint32(buf[4:], s.ts)
	binary.BigEndian.PutUint32(buf[8:], s.ssrc)
	return law.Encode(buf[:rtpHeaderLen], pcm)
}

// echo rewrites the caller's RTP packet p in place into the next packet of
// our stream: our SSRC, and the caller's sequence number and timestamp
// shifted onto ours. It reports false, leaving p alone, when p is not a
// well-formed RTP packet of a payload type ok accepts.
func (s *outStream) echo(p []byte, now time.Time, ok func(pt uint8) bool) bool {
	if !validRTP(p) || !ok(p[1]&0x7F) {
		return false
	}
	inSeq := binary.BigEndian.Uint16(p[2:])
	inTS := binary.BigEndian.Uint32(p[4:])
	inSSRC := binary.BigEndian.Uint32(p[8:])
	if !s.mapped || inSSRC != s.inSSRC {
		// Continue our stream from its last packet: the next sequence
		// number, and the timestamp advanced by the time since (at least
		// one frame). The marker tells the receiver a talkspurt starts.
		nextTS := s.ts + audio.FrameSamples
		if s.sent {
			if d := now.Sub(s.sentAt); d > audio.FrameDuration {
				nextTS = s.ts + uint32(d/(time.Second/audio.SampleRate))
			}
		}
		s.seqOff = s.seq + 1 - inSeq
		s.tsOff = nextTS - inTS
		s.inSSRC, s.mapped = inSSRC, true
		p[1] |= 0x80
	}
	s.seq = inSeq + s.seqOff
	s.ts = inTS + s.tsOff
	s.sentAt, s.sent = now, true
	binary.BigEndian.PutUint16(p[2:], s.seq)
	binary.BigEndian.PutUint32(p[4:], s.ts)
	binary.BigEndian.PutUint32(p[8:], s.ssrc)
	return true
}

// validRTP reports whether p is a well-formed RTP packet (RFC 3550 5.1):
// version 2, and its CSRC list, header extension and padding fit in it.
// It is also false for RTCP, whose packet types are 200–204: as RTP they
// would be payload types 72–76, which RFC 5761 4 reserves.
func validRTP(p []byte) bool {
	if len(p) < rtpHeaderLen || p[0]>>6 != 2 {
		return false
	}
	if pt := p[1] & 0x7F; pt >= 72 && pt <= 76 {
		return false
	}
	n := rtpHeaderLen + 4*int(p[0]&0x0F)
	if p[0]&0x10 != 0 { // extension
		if len(p) < n+4 {
			return false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(p[n+2:]))
	}
	if len(p) < n {
		return false
	}
	if p[0]&0x20 != 0 { // padding: its count is the last byte
		pad := int(p[len(p)-1])
		if pad == 0 || len(p)-n < pad {
			return false
		}
	}
	return true
}

// ringback is the ringback tone source: ringbackFreq on for
// ringbackOnFrames, then silence, every ringbackPeriod frames.
type ringback struct {
	tone  *audio.Tone
	frame int
}

func newRingback() *ringback { return &ringback{tone: audio.NewTone(ringbackFreq, ringbackAmplitude)} }

func (r *ringback) ReadFrame(pcm []int16) {
	if r.frame < ringbackOnFrames {
		r.tone.ReadFrame(pcm)
	} else {
		clear(pcm)
	}
	r.frame = (r.frame + 1) % ringbackPeriod
}

// media is one call's RTP socket and the goroutine that serves it.
type media struct {
	// Set before run starts, read-only afterwards.
	conn    *net.UDPConn
	log     *zap.Logger
	law     audio.Law
	lawPT   uint8
	eventPT uint8
	event   bool
	send    bool          // the caller receives (sendrecv or recvonly offer): send ringback and echo
	idleFor time.Duration // silence after which the call is hung up, whatever the offer's direction

	mode atomic.Int32  // modeRinging or modeEcho, set by the call goroutine
	idle chan struct{} // closed by run when, answered, the caller has been silent for idleFor (or the socket failed)
	done chan struct{} // closed when run returns

	// Owned by run.
	peer netip.AddrPort // invalid until latched when the offer's address is unspecified
	out  outStream
	ring *ringback
}

// newMedia binds a UDP socket on ip (any free port) for a call whose offer
// is o.
func newMedia(ip netip.Addr, o offer, idleFor time.Duration, log *zap.Logger) (*media, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, err
	}
	m := &media{
		conn:    conn,
		log:     log,
		law:     o.law,
		lawPT:   o.lawPT,
		eventPT: o.eventPT,
		event:   o.hasEvent,
		send:    o.dir.recvs(),
		idleFor: idleFor,
		idle:    make(chan struct{}),
		done:    make(chan struct{}),
		out:     newOutStream(),
		ring:    newRingback(),
	}
	if !o.remote.Addr().IsUnspecified() {
		m.peer = unmap(o.remote)
	}
	return m, nil
}

// port is the local RTP port.
func (m *media) port() uint16 { return m.conn.LocalAddr().(*net.UDPAddr).AddrPort().Port() }

// close closes the socket and waits for run to return (if it was started).
func (m *media) close(started bool) {
	m.conn.Close()
	if started {
		<-m.done
	}
}

// accepts reports whether pt is a negotiated payload type.
func (m *media) accepts(pt uint8) bool { return pt == m.lawPT || (m.event && pt == m.eventPT) }

// run serves the socket until it is closed, or the caller has sent
// nothing for idleFor after the answer, or the socket fails (then it
// closes idle first). It allocates nothing per packet.
func (m *media) run() {
	defer close(m.done)
	buf := make([]byte, rtpBufSize)
	pcm := make([]int16, audio.FrameSamples)
	accepts := m.accepts
	var (
		echoing bool
		lastRx  time.Time // last packet from the peer, once echoing
		next    = time.Now()
	)
	// startEcho switches from ringback to echo once the call goroutine
	// has set modeEcho; the idle timeout counts from then.
	startEcho := func() {
		if echoing || m.mode.Load() != modeEcho {
			return
		}
		echoing, lastRx = true, time.Now()
		_ = m.conn.SetReadDeadline(lastRx.Add(m.idleFor))
		if ce := m.log.Check(zap.DebugLevel, "echo starts"); ce != nil {
			ce.Write()
		}
	}
	for {
		startEcho()
		if !echoing {
			now := time.Now()
			for !now.Before(next) {
				m.sendRingback(buf, pcm, now)
				next = next.Add(audio.FrameDuration)
				if now.Sub(next) > maxLag {
					next = now.Add(audio.FrameDuration)
				}
			}
			_ = m.conn.SetReadDeadline(next)
		}

		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if echoing {
					if time.Since(lastRx) >= m.idleFor {
						close(m.idle)
						return
					}
					_ = m.conn.SetReadDeadline(lastRx.Add(m.idleFor))
				}
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				// Not Close: the socket broke. Hang up as for silence.
				m.log.Warn("RTP read failed", zap.Error(err))
				close(m.idle)
			}
			return
		}
		from = unmap(from)
		if !m.peer.IsValid() {
			m.peer = from
			m.log.Debug("RTP peer latched", zap.Stringer("peer", from))
		}
		if from != m.peer {
			if ce := m.log.Check(zap.DebugLevel, "RTP from a stranger dropped"); ce != nil {
				ce.Write(zap.Stringer("from", from), zap.Stringer("peer", m.peer))
			}
			continue
		}
		startEcho() // the 200 may have gone out while we waited
		if !echoing {
			continue // the caller's early media: nobody listens yet
		}
		now := time.Now()
		lastRx = now
		if m.send && m.out.echo(buf[:n], now, accepts) {
			if _, err := m.conn.WriteToUDPAddrPort(buf[:n], m.peer); err != nil {
				if ce := m.log.Check(zap.DebugLevel, "RTP echo send failed"); ce != nil {
					ce.Write(zap.Error(err))
				}
			}
		}
	}
}

// sendRingback sends the next ringback frame to the peer, if there is one
// and it listens.
func (m *media) sendRingback(buf []byte, pcm []int16, now time.Time) {
	m.ring.ReadFrame(pcm)
	if !m.send || !m.peer.IsValid() {
		return
	}
	p := m.out.ringFrame(buf, m.lawPT, m.law, pcm, now)
	if _, err := m.conn.WriteToUDPAddrPort(p, m.peer); err != nil {
		if ce := m.log.Check(zap.DebugLevel, "ringback send failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
}

// unmap turns an IPv4-mapped IPv6 address into IPv4, so that addresses
// from the socket compare equal to those from SDP.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
