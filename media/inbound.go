package media

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"go.uber.org/zap"
)

// Inbound calls: the trunk offers, the session answers; until a browser
// takes the call the session may play audio to the trunk (ringback, a
// greeting) and record what the trunk sends (a voicemail message).

// AnswerTrunkOffer answers the trunk's SDP offer (an inbound INVITE's): it
// chooses the first of PCMU/PCMA in the offer's order, keeps the offer's
// payload types (and its telephone-event, if any), answers the offer's
// direction (sendonly → recvonly, recvonly → sendonly, inactive →
// inactive), and applies the offer as the trunk leg's remote the way
// SetTrunkAnswer applies an answer. The returned SDP is the answer, for
// the 183 and the 200 OK.
func (s *Session) AnswerTrunkOffer(offer []byte) ([]byte, error) {
	o, err := parseTrunkAnswer(offer)
	if err != nil {
		return nil, err
	}
	o.offerer = true
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	answer, err := buildTrunkAnswer(s.e.announce, s.port, &o, s.local.id, 1, answerDir(o.dir, o.hold(), false))
	if err == nil {
		answer, err = s.answerOfferSDES(&o, answer)
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.local.ver = 1
	s.trunkAns = &o
	s.publishRules()
	s.mu.Unlock()
	s.lastRTP.Store(monoNow())
	s.log.Debug("trunk SDP offer answered", zap.Stringer("remote", o.remote), zap.Stringer("law", o.law),
		zap.Uint8("pt", o.lawPT), zap.Bool("dtmf", o.hasEvent), zap.Stringer("direction", o.dir))
	return answer, nil
}

// buildTrunkAnswer returns our SDP answer to the trunk's offer o.
func buildTrunkAnswer(addr netip.Addr, port uint16, o *trunkAnswer, sessionID, version uint64, dir direction) ([]byte, error) {
	addrType := "IP4"
	if addr.Is6() {
		addrType = "IP6"
	}
	host := addr.WithZone("").String()
	law := strconv.Itoa(int(o.lawPT))
	formats := []string{law}
	attrs := []sdp.Attribute{sdp.NewAttribute("rtpmap", law+" "+o.law.String()+"/8000")}
	if o.hasEvent {
		ev := strconv.Itoa(int(o.eventPT))
		formats = append(formats, ev)
		attrs = append(attrs, sdp.NewAttribute("rtpmap", ev+" telephone-event/8000"),
			sdp.NewAttribute("fmtp", ev+" 0-16"))
	}
	attrs = append(attrs, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(dir.String()))
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "hubline", SessionID: sessionID, SessionVersion: version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: host,
		},
		SessionName: "hubline",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: host},
		},
		TimeDescriptions: []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{
				Media: "audio", Port: sdp.RangedPort{Value: int(port)},
				Protos: []string{"RTP", "AVP"}, Formats: formats,
			},
			Attributes: attrs,
		}},
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("media: build trunk answer: %w", err)
	}
	return b, nil
}

// player sends audio to the trunk from its own goroutine, 20 ms a packet,
// each packet sent on the session's loop through the stream's splicer
// (trunkstream.go).
// It runs only while no browser leg relays to the trunk (ringing, a
// mailbox greeting, music on hold while the rep holds the call and the
// browser's audio is held back), so the two never interleave.
type player struct {
	stop chan struct{}
	done chan struct{}
}

// Play sends ulaw (G.711 µ-law, 8 kHz) to the trunk in the trunk's law and
// payload type, looped when loop is set, until StopPlay; done (if not nil)
// is called from the player's goroutine when a play that does not loop
// has sent everything. A play replaces the one before it. Nothing is sent
// while the trunk's SDP does not take our audio (hold, recvonly).
func (s *Session) Play(ulaw []byte, loop bool, done func()) {
	s.StopPlay()
	if len(ulaw) == 0 {
		if done != nil && !loop {
			done()
		}
		return
	}
	p := &player{stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.player = p
	s.mu.Unlock()
	go s.play(p, ulaw, loop, done)
}

// StopPlay stops the current play and waits for its goroutine: once it
// returns, the player sends nothing more.
func (s *Session) StopPlay() {
	s.mu.Lock()
	p := s.player
	s.player = nil
	s.mu.Unlock()
	if p != nil {
		close(p.stop)
		<-p.done
	}
}

func (s *Session) play(p *player, audio []byte, loop bool, done func()) {
	defer close(p.done)
	const frame = 160 // 20 ms at 8 kHz
	// Room for the SRTP tag: sendTrunk encrypts in place.
	pkt := make([]byte, 12+frame, 12+frame+srtpOverhead)
	pkt[0] = 0x80
	ssrc := rand.Uint32()
	seq := uint16(rand.Uint32())
	ts := rand.Uint32()
	binary.BigEndian.PutUint32(pkt[8:12], ssrc)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	first := true
	for off := 0; ; {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		if off >= len(audio) {
			if !loop {
				if done != nil {
					done()
				}
				return
			}
			off = 0
		}
		n := copy(pkt[12:], audio[off:])
		off += n
		for i := 12 + n; i < len(pkt); i++ {
			pkt[i] = 0xff // µ-law silence pads the last frame
		}
		r := s.rules.Load()
		if r == nil || !r.sendTrunk {
			continue
		}
		ta := r.trunkLaw
		if ta == codecPCMA {
			convertInPlace(pkt[12:], &ulawToAlaw)
		}
		pkt[1] = r.trunkPT & 0x7f
		if first {
			pkt[1] |= 0x80 // marker: the start of a talkspurt
			first = false
		}
		binary.BigEndian.PutUint16(pkt[2:4], seq)
		binary.BigEndian.PutUint32(pkt[4:8], ts)
		binary.BigEndian.PutUint32(pkt[8:12], ssrc) // the splicer pinned the last one's
		seq++
		ts += frame
		s.loop.exec(func() {
			s.toTrunk.splice(pkt, monoNow())
			s.sendTrunk(pkt, r.trunk)
		})
	}
}

// recorder keeps the trunk's audio, G.711 µ-law, up to its capacity.
type recorder struct {
	mu  sync.Mutex
	buf []byte
}

// Record starts keeping up to max of the trunk's audio (it replaces an
// earlier recording); Recording returns what was kept.
func (s *Session) Record(max time.Duration) {
	n := int(max / time.Second * 8000)
	s.rec.Store(&recorder{buf: make([]byte, 0, n)})
}

// Recording returns a copy of the audio kept since Record, G.711 µ-law,
// 8 kHz; nil without Record.
func (s *Session) Recording() []byte {
	r := s.rec.Load()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf...)
}

// add keeps payload (in law) as µ-law. It runs on the media loop and does
// not allocate.
func (r *recorder) add(payload []byte, law codec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	free := cap(r.buf) - len(r.buf)
	if free <= 0 {
		return
	}
	if len(payload) > free {
		payload = payload[:free]
	}
	start := len(r.buf)
	r.buf = append(r.buf, payload...)
	if law == codecPCMA {
		convertInPlace(r.buf[start:], &alawToUlaw)
	}
}

// recordTap is the session's recorder, or nil; read by the trunk reader.
type recordTap = atomic.Pointer[recorder]
