//go:build linux

package loadgen

import (
	"encoding/binary"
	"math"
	"sync/atomic"
	"time"
)

// Every packet the generator sends carries, in its G.711 payload, when it
// was sent (the generator's monotonic clock), the call it belongs to and a
// magic word; the rest is µ-law silence. Both legs negotiate PCMU, so the
// relay forwards payloads unchanged and the receiver reads them back.

const (
	payloadLen = 160 // 20 ms of G.711
	rtpHdrLen  = 12
	magic      = 0x484c4431 // "HLD1"
	ptPCMU     = 0
)

// epoch anchors the generator's clock.
var epoch = time.Now()

// now is nanoseconds on the generator's monotonic clock.
func now() int64 { return int64(time.Since(epoch)) }

// stamp fills a payload.
func stamp(p []byte, call uint32, at int64) {
	binary.BigEndian.PutUint64(p[0:], uint64(at))
	binary.BigEndian.PutUint32(p[8:], call)
	binary.BigEndian.PutUint32(p[12:], magic)
}

// silence fills p with µ-law silence.
func silence(p []byte) {
	for i := range p {
		p[i] = 0xff
	}
}

// readStamp reads the stamp of an RTP packet. ok is false for anything
// that is not one of ours.
func readStamp(pkt []byte) (call uint32, at int64, ok bool) {
	if len(pkt) < rtpHdrLen || pkt[0]>>6 != 2 {
		return 0, 0, false
	}
	off := rtpHdrLen + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < off+4 {
			return 0, 0, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	if len(pkt) < off+16 || binary.BigEndian.Uint32(pkt[off+12:]) != magic {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(pkt[off+8:]), int64(binary.BigEndian.Uint64(pkt[off:])), true
}

// Direction of a relayed packet.
type Direction int

const (
	BrowserToTrunk Direction = iota
	TrunkToBrowser
	numDirections
)

func (d Direction) String() string {
	if d == BrowserToTrunk {
		return "browser→trunk"
	}
	return "trunk→browser"
}

// histogram of one-way delays: 1 µs buckets up to histMax, then one
// overflow bucket. Safe for concurrent use.
type histogram struct {
	b    [histBuckets + 1]atomic.Uint32
	max  atomic.Int64
	sum  atomic.Int64
	n    atomic.Int64
	late atomic.Int64 // above histMax
}

const (
	histMax     = 200 * time.Millisecond
	histBuckets = int(histMax / time.Microsecond)
)

func (h *histogram) add(d time.Duration) {
	us := int(d / time.Microsecond)
	switch {
	case us < 0:
		us = 0
	case us >= histBuckets:
		us = histBuckets
		h.late.Add(1)
	}
	h.b[us].Add(1)
	h.n.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// quantile returns the q-quantile (0 < q ≤ 1), at 1 µs resolution.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.b {
		seen += int64(h.b[i].Load())
		if seen >= rank {
			if i == histBuckets {
				return time.Duration(h.max.Load())
			}
			return time.Duration(i)*time.Microsecond + time.Microsecond/2
		}
	}
	return time.Duration(h.max.Load())
}

// window counts what was sent and received in the measurement window: a
// packet belongs to it by its send time, whenever it arrives.
type window struct {
	from, to atomic.Int64 // generator clock; to == 0 while open-ended
	sent     [numDirections]atomic.Int64
	recv     [numDirections]atomic.Int64
	bad      atomic.Int64 // received, but not one of ours
	delay    [numDirections]histogram
}

func (w *window) in(at int64) bool {
	from := w.from.Load()
	if from == 0 || at < from {
		return false
	}
	to := w.to.Load()
	return to == 0 || at < to
}

func (w *window) onSend(d Direction, at int64) {
	if w.in(at) {
		w.sent[d].Add(1)
	}
}

// onRecv records a packet received at rcvAt.
func (w *window) onRecv(d Direction, pkt []byte, rcvAt int64) {
	_, at, ok := readStamp(pkt)
	if !ok {
		w.bad.Add(1)
		return
	}
	if !w.in(at) {
		return
	}
	w.recv[d].Add(1)
	w.delay[d].add(time.Duration(rcvAt - at))
}
