package media

import "encoding/binary"

// The per-packet step of the relay, kept free of I/O, locks and allocation
// so that it can be tested and benchmarked on its own (relay_test.go).

// codec is an audio format this package relays.
type codec uint8

const (
	codecNone  codec = iota
	codecPCMU        // G.711 µ-law, 8 kHz
	codecPCMA        // G.711 A-law, 8 kHz
	codecEvent       // RFC 4733 telephone-event, 8 kHz
)

func (c codec) String() string {
	switch c {
	case codecPCMU:
		return "PCMU"
	case codecPCMA:
		return "PCMA"
	case codecEvent:
		return "telephone-event"
	default:
		return "none"
	}
}

// format is one payload type negotiated on a leg.
type format struct {
	pt    uint8
	codec codec
}

// verdict is what the relay step decided for a packet.
type verdict uint8

const (
	verdictForward   verdict = iota // rewritten in place; send it on
	verdictMalformed                // not RTP version 2, or the header overruns the packet
	verdictUnknownPT                // payload type not negotiated on the source leg
	verdictDiscard                  // negotiated, but not relayed (telephone-event towards the browser)
	verdictRTCP                     // RTCP multiplexed on the RTP port; ignored
)

// routeAction says what to do with packets of one source payload type.
type routeAction uint8

const (
	actDrop    routeAction = iota // not negotiated: drop and count
	actForward                    // rewrite and relay
	actDiscard                    // negotiated but not relayed: drop quietly
)

// conversion selects a law table; the zero value converts nothing.
type conversion uint8

const (
	convNone conversion = iota
	convUlawToAlaw
	convAlawToUlaw
)

var conversionTables = [...]*[256]byte{
	convNone:       nil,
	convUlawToAlaw: &ulawToAlaw,
	convAlawToUlaw: &alawToUlaw,
}

func conversionFor(from, to codec) conversion {
	switch {
	case from == codecPCMU && to == codecPCMA:
		return convUlawToAlaw
	case from == codecPCMA && to == codecPCMU:
		return convAlawToUlaw
	default:
		return convNone
	}
}

// route is the rule for one source payload type.
type route struct {
	action routeAction
	pt     uint8      // destination payload type, for actForward
	conv   conversion // payload conversion, for actForward
}

// relay is one direction's rule set: which payload types the source leg may
// send and what each becomes on the destination leg. It is immutable once
// built, so any number of goroutines may use it.
type relay struct {
	routes [128]route
}

// set installs the rule for source payload type pt.
func (r *relay) set(pt uint8, rt route) { r.routes[pt&0x7f] = rt }

// process validates pkt as RTP and, for a packet to forward, rewrites its
// payload type and converts its payload between G.711 laws, in place. The
// packet length never changes. It does not allocate.
func (r *relay) process(pkt []byte) verdict {
	if len(pkt) < 2 || pkt[0]>>6 != 2 {
		return verdictMalformed
	}
	// RFC 5761: with the marker bit, payload types 64–95 are RTCP's 192–223.
	if b := pkt[1]; b >= 192 && b <= 223 {
		return verdictRTCP
	}
	start, end, ok := rtpPayload(pkt)
	if !ok {
		return verdictMalformed
	}
	rt := &r.routes[pkt[1]&0x7f]
	switch rt.action {
	case actForward:
	case actDiscard:
		return verdictDiscard
	default:
		return verdictUnknownPT
	}
	pkt[1] = pkt[1]&0x80 | rt.pt
	if t := conversionTables[rt.conv]; t != nil {
		convertInPlace(pkt[start:end], t)
	}
	return verdictForward
}

// rtpPayload returns the bounds of an RTP packet's payload: after the fixed
// header, CSRC list and header extension, before any padding. ok is false
// when the packet is not RTP version 2 or those overrun it.
func rtpPayload(pkt []byte) (start, end int, ok bool) {
	const fixedHeader = 12
	if len(pkt) < fixedHeader || pkt[0]>>6 != 2 {
		return 0, 0, false
	}
	start = fixedHeader + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // extension: 16-bit profile, 16-bit length in words
		if len(pkt) < start+4 {
			return 0, 0, false
		}
		start += 4 + 4*int(binary.BigEndian.Uint16(pkt[start+2:]))
	}
	if start > len(pkt) {
		return 0, 0, false
	}
	end = len(pkt)
	if pkt[0]&0x20 != 0 { // padding: the last octet counts the padding octets
		pad := int(pkt[len(pkt)-1])
		if pad == 0 || start+pad > len(pkt) {
			return 0, 0, false
		}
		end -= pad
	}
	return start, end, true
}

// splicer keeps the RTP stream towards the browser continuous across a
// change of source SSRC on the trunk (a 183's early media from one media
// server, then the 200's from another). pion sends every packet with the
// browser leg's one SSRC, so without splicing the browser would see the
// sequence number and timestamp jump within one stream. Packets of the first
// stream pass unchanged; each later stream is shifted to follow on from the
// last packet sent, with the timestamp advanced by the wall-clock gap, and
// its first packet marked as the start of a talkspurt.
//
// A splicer belongs to the one goroutine reading the trunk socket.
//
// Towards the trunk (rebaseAfter set) a pause longer than rebaseAfter — the
// rep held the call and the browser's packets were dropped — also starts a
// new stretch: the trunk sees the sequence go on by one and the timestamp
// by the pause. Without it a hold of more than 2^15 packets (10.9 minutes
// at 20 ms) would make the first packets after it look older than the last
// ones before it, and receivers drop them as replays (Janus PR #3640).
type splicer struct {
	rebaseAfter int64 // nanoseconds; zero: only a new SSRC starts a new stretch
	pinSSRC     bool  // every packet leaves with the first packet's SSRC (outSSRC)
	outSSRC     uint32
	started     bool
	ssrc        uint32
	seqDelta    uint16
	tsDelta     uint32
	lastSeq     uint16 // last sequence number sent
	lastTS      uint32 // last timestamp sent
	lastAt      int64  // when it was sent, monotonic nanoseconds
}

// splice rewrites the sequence number, timestamp and marker of a valid RTP
// packet (at least 12 bytes) in place. now is monotonic nanoseconds.
func (s *splicer) splice(pkt []byte, now int64) {
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	switch {
	case !s.started:
		s.started, s.ssrc, s.outSSRC = true, ssrc, ssrc
	case ssrc != s.ssrc || (s.rebaseAfter > 0 && now-s.lastAt > s.rebaseAfter):
		const clockRate = 8000 // every codec relayed runs at 8 kHz
		gap := max(uint32((now-s.lastAt)*clockRate/1e9), 1)
		s.ssrc = ssrc
		s.seqDelta = s.lastSeq + 1 - seq
		s.tsDelta = s.lastTS + gap - ts
		pkt[1] |= 0x80
	}
	seq += s.seqDelta
	ts += s.tsDelta
	binary.BigEndian.PutUint16(pkt[2:4], seq)
	binary.BigEndian.PutUint32(pkt[4:8], ts)
	if s.pinSSRC {
		binary.BigEndian.PutUint32(pkt[8:12], s.outSSRC)
	}
	s.lastSeq, s.lastTS, s.lastAt = seq, ts, now
}
