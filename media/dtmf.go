package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DTMF on the trunk leg, RFC 4733 telephone-event.
//
// Towards the trunk, SendDTMF queues digits for the session's generator:
// a goroutine that ticks every 20 ms and runs each tick on the session's
// media loop (exec), where the browser's packets are relayed too, so that
// the generator and the relay share one stream state (toTrunk) without a
// lock. While an event is sent the browser's packets are suppressed; the
// event packets take the next sequence numbers of the relayed stream, with
// its SSRC, and a timestamp that follows the last audio sent; the browser's
// packets after the event are renumbered to follow on. Each digit is one
// event: a packet every 20 ms with the event's timestamp and a growing
// duration, the marker on the first, then three end packets (E bit) with
// the final duration, then a gap before the next digit.
//
// From the trunk, end packets of telephone-event are decoded (one digit per
// event timestamp, however many end packets arrive) into EventDTMF. The
// loop does not call the event callback (it may take its time): it queues
// the digit for the session's DTMF deliverer, a goroutine started at the
// first digit, which reports them in order until Close.

// MaxDTMFDigits bounds the digits one SendDTMF queues, and the queue.
const MaxDTMFDigits = 64

// Default tone and gap of a generated digit.
const (
	DefaultDTMFTone = 100 * time.Millisecond
	DefaultDTMFGap  = 60 * time.Millisecond
)

// ErrNoTelephoneEvent: the trunk's SDP has no telephone-event, so RFC 4733
// digits cannot be sent (SIP INFO is the way then).
var ErrNoTelephoneEvent = errors.New("media: the trunk did not negotiate telephone-event")

// ErrBadDTMF: digits outside 0-9 * # A-D, none, or too many.
var ErrBadDTMF = errors.New("media: DTMF digits must be 1 to 64 of 0-9 * # A-D")

// DTMFEvent maps a digit to its RFC 4733 event code; ok is false for
// anything but 0-9 * # A-D (lower-case a-d are taken as A-D).
func DTMFEvent(d byte) (code uint8, ok bool) {
	switch {
	case d >= '0' && d <= '9':
		return d - '0', true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return 12 + d - 'A', true
	case d >= 'a' && d <= 'd':
		return 12 + d - 'a', true
	}
	return 0, false
}

// DTMFDigit maps an RFC 4733 event code 0-15 to its digit; 0 for others.
func DTMFDigit(code uint8) byte {
	const digits = "0123456789*#ABCD"
	if int(code) < len(digits) {
		return digits[code]
	}
	return 0
}

// ValidDTMF checks digits for SendDTMF.
func ValidDTMF(digits string) error {
	if len(digits) == 0 || len(digits) > MaxDTMFDigits {
		return ErrBadDTMF
	}
	for i := 0; i < len(digits); i++ {
		if _, ok := DTMFEvent(digits[i]); !ok {
			return fmt.Errorf("%w: %q", ErrBadDTMF, digits[i])
		}
	}
	return nil
}

// telephoneEvent is the payload of an RFC 4733 packet.
type telephoneEvent struct {
	code     uint8
	end      bool
	volume   uint8
	duration uint16
}

// parseTelephoneEvent reads the 4-octet payload of a telephone-event packet
// (more octets are redundant events, ignored).
func parseTelephoneEvent(p []byte) (telephoneEvent, bool) {
	if len(p) < 4 {
		return telephoneEvent{}, false
	}
	return telephoneEvent{code: p[0], end: p[1]&0x80 != 0, volume: p[1] & 0x3f,
		duration: binary.BigEndian.Uint16(p[2:4])}, true
}

// dtmfDecoder turns the trunk's telephone-event packets into digits. It
// belongs to the trunk reader (the loop).
type dtmfDecoder struct {
	reported bool
	lastTS   uint32 // timestamp of the last event reported
}

// packet takes one valid RTP packet of the telephone-event payload type;
// it returns the digit of an event that just ended, once per event.
func (d *dtmfDecoder) packet(pkt []byte) (digit byte, ok bool) {
	start, end, valid := rtpPayload(pkt)
	if !valid {
		return 0, false
	}
	ev, valid := parseTelephoneEvent(pkt[start:end])
	if !valid || !ev.end {
		return 0, false
	}
	ts := binary.BigEndian.Uint32(pkt[4:8])
	if d.reported && ts == d.lastTS {
		return 0, false // a retransmitted end packet
	}
	digit = DTMFDigit(ev.code)
	if digit == 0 {
		return 0, false // not a DTMF event (flash, tones)
	}
	d.reported, d.lastTS = true, ts
	return digit, true
}

// toTrunk is the state of the stream we send the trunk while a browser
// relays to it: the loop's (handleBrowser and the generator's ticks).
type toTrunk struct {
	started  bool
	ssrc     uint32
	seqDelta uint16 // added to the browser's sequence numbers
	resync   bool   // the generator sent last: the next browser packet sets seqDelta
	lastSeq  uint16 // last sequence number sent
	lastTS   uint32 // highest timestamp sent
	suppress bool   // an event is on: the browser's packets are dropped
}

// pass renumbers a packet from the browser on its way to the trunk; false
// while an event suppresses the browser's packets. It does not allocate.
func (o *toTrunk) pass(pkt []byte) bool {
	if o.suppress {
		return false
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	if !o.started || ssrc != o.ssrc {
		// The first packet, or another source (a reloaded browser): a
		// new stream, passed through unchanged.
		o.started, o.ssrc, o.seqDelta, o.resync, o.lastTS = true, ssrc, 0, false, ts
	}
	if o.resync {
		o.seqDelta, o.resync = o.lastSeq+1-seq, false
	}
	seq += o.seqDelta
	binary.BigEndian.PutUint16(pkt[2:4], seq)
	o.lastSeq = seq
	if int32(ts-o.lastTS) > 0 {
		o.lastTS = ts
	}
	return true
}

// dtmfGen is the generator's state: the loop's.
type dtmfGen struct {
	queue      []uint8 // event codes waiting
	toneTicks  int     // ticks of 20 ms per tone (≥ 1)
	gapTicks   int     // ticks from the end of a tone to the start of the next (≥ 3)
	volume     uint8
	state      genState
	code       uint8
	k          int    // ticks into the current tone, or of the gap
	ts         uint32 // the generator's clock: advances 160 a tick while it runs
	eventTS    uint32
	ends       int
	buf        [16]byte
	randomSeed func() uint32
}

type genState uint8

const (
	genIdle   genState = iota
	genTone            // sending the event's packets
	genEnding          // sending its end packets again
	genGap             // between two digits
)

func newDTMFGen(tone, gap time.Duration) dtmfGen {
	g := dtmfGen{toneTicks: int((tone + 19*time.Millisecond) / (20 * time.Millisecond)),
		gapTicks: int((gap + 19*time.Millisecond) / (20 * time.Millisecond)), volume: 10}
	g.toneTicks = max(g.toneTicks, 1)
	// The two retransmitted end packets go out in the gap, 20 ms apart:
	// the next digit starts after them.
	g.gapTicks = max(g.gapTicks, 3)
	return g
}

// busy reports whether the generator has work: digits queued or an event
// or gap under way.
func (g *dtmfGen) busy() bool { return g.state != genIdle || len(g.queue) > 0 }

// tick advances the generator by 20 ms. It returns the packet to send this
// tick (nil for none), in g.buf, built on the stream o with payload type
// pt. It does not allocate.
func (g *dtmfGen) tick(o *toTrunk, pt uint8) []byte {
	const frame = 160 // 20 ms at 8 kHz
	g.ts += frame
	switch g.state {
	case genGap:
		g.k++
		if g.k < g.gapTicks {
			if g.k >= 3 {
				o.suppress = false // the end packets are out; audio until the next digit
			}
			return g.endPacket(o, pt)
		}
		g.state = genIdle
		if len(g.queue) == 0 {
			o.suppress = false
			return nil
		}
		return g.start(o)
	case genIdle:
		if len(g.queue) == 0 {
			o.suppress = false
			return nil
		}
		g.ts = o.lastTS // a new run: the clock starts where the stream is
		return g.start(o)
	case genTone:
		g.k++
		end := g.k >= g.toneTicks
		pkt := g.packet(o, pt, g.k == 1, end, uint16(g.k*frame))
		if end {
			g.state, g.k, g.ends = genGap, 0, 1
			o.lastTS = g.eventTS + uint32(g.toneTicks*frame)
		}
		return pkt
	}
	return nil
}

// start begins the next queued event. Its timestamp follows the audio
// sent last, and never comes before the end of the previous event.
func (g *dtmfGen) start(o *toTrunk) []byte {
	const frame = 160
	g.code = g.queue[0]
	g.queue = g.queue[1:]
	if !o.started {
		rnd := rand.Uint32
		if g.randomSeed != nil {
			rnd = g.randomSeed
		}
		o.started, o.ssrc, o.lastSeq, o.lastTS = true, rnd(), uint16(rnd()), rnd()
		g.ts = o.lastTS
	}
	if next := o.lastTS + frame; int32(next-g.ts) > 0 {
		g.ts = next
	}
	g.eventTS = g.ts
	o.suppress = true
	g.state, g.k, g.ends = genTone, 0, 0
	return nil // the first 20 ms of the tone elapse
}

// endPacket is one of the retransmitted end packets, while fewer than 3 went out.
func (g *dtmfGen) endPacket(o *toTrunk, pt uint8) []byte {
	if g.ends >= 3 {
		return nil
	}
	g.ends++
	return g.packet(o, pt, false, true, uint16(g.toneTicks*160))
}

// packet builds one telephone-event packet with the stream's next sequence
// number.
func (g *dtmfGen) packet(o *toTrunk, pt uint8, marker, end bool, dur uint16) []byte {
	b := g.buf[:16]
	b[0] = 0x80
	b[1] = pt & 0x7f
	if marker {
		b[1] |= 0x80
	}
	o.lastSeq++
	o.resync = true
	binary.BigEndian.PutUint16(b[2:4], o.lastSeq)
	binary.BigEndian.PutUint32(b[4:8], g.eventTS)
	binary.BigEndian.PutUint32(b[8:12], o.ssrc)
	b[12] = g.code
	b[13] = g.volume & 0x3f
	if end {
		b[13] |= 0x80
	}
	binary.BigEndian.PutUint16(b[14:16], dur)
	return b
}

// dtmfRunner is the generator's goroutine, while it runs.
type dtmfRunner struct {
	mu  sync.Mutex // guards run; held while SendDTMF queues
	run *dtmfRun
	gen dtmfGen // the loop's

	// The loop's: the deliverer's queue of digits from the trunk, nil
	// before the first, and the channel closed when it is done.
	in       chan byte
	inDone   chan struct{}
	inDrops  warnLimit
	inClosed bool // Close took the queue: no new deliverer
}

type dtmfRun struct {
	stop chan struct{}
	done chan struct{}
}

// SendDTMF sends digits (0-9 * # A-D, at most MaxDTMFDigits) to the trunk
// as RFC 4733 events with the trunk's telephone-event payload type, after
// any digits still queued: 100 ms tones 60 ms apart. It returns once they
// are queued. ErrNoTelephoneEvent when the trunk's SDP has none; ErrBadDTMF
// for bad digits or a full queue.
func (s *Session) SendDTMF(digits string) error {
	if err := ValidDTMF(digits); err != nil {
		return err
	}
	r := s.rules.Load()
	if r == nil || !r.trunkEvent {
		return ErrNoTelephoneEvent
	}
	d := &s.dtmf
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.closing.Load() {
		return errClosed
	}
	var err error
	s.loop.exec(func() {
		if d.gen.toneTicks == 0 {
			d.gen = newDTMFGen(DefaultDTMFTone, DefaultDTMFGap)
		}
		if len(d.gen.queue)+len(digits) > MaxDTMFDigits {
			err = fmt.Errorf("%w: %d digits are queued already", ErrBadDTMF, len(d.gen.queue))
			return
		}
		for i := 0; i < len(digits); i++ {
			c, _ := DTMFEvent(digits[i])
			d.gen.queue = append(d.gen.queue, c)
		}
	})
	if err != nil || d.run != nil {
		return err
	}
	run := &dtmfRun{stop: make(chan struct{}), done: make(chan struct{})}
	d.run = run
	go s.runDTMF(run)
	return nil
}

// runDTMF ticks the generator on the loop until it has nothing left.
func (s *Session) runDTMF(run *dtmfRun) {
	defer close(run.done)
	d := &s.dtmf
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-run.stop:
			return
		case <-t.C:
		}
		var busy bool
		s.loop.exec(func() { s.dtmfTick(); busy = d.gen.busy() })
		if busy {
			continue
		}
		// SendDTMF queues under mu: look again with it held.
		d.mu.Lock()
		s.loop.exec(func() { busy = d.gen.busy() })
		if !busy && d.run == run {
			d.run = nil
		}
		d.mu.Unlock()
		if !busy {
			return
		}
	}
}

// dtmfTick is one tick of the generator, on the loop.
func (s *Session) dtmfTick() {
	r := s.rules.Load()
	g := &s.dtmf.gen
	if r == nil || !r.trunkEvent {
		g.queue, g.state = g.queue[:0], genIdle
		s.tt.suppress = false
		return
	}
	if pkt := g.tick(&s.tt, r.trunkEventPT); pkt != nil && r.sendTrunk {
		s.toTrunk.splice(pkt, monoNow())
		s.sendTrunk(pkt, r.trunk)
	}
}

// stopDTMF stops the generator and the deliverer and waits for their
// goroutines (Close, after closing is set: the deliverer reports nothing
// more).
func (s *Session) stopDTMF() {
	d := &s.dtmf
	d.mu.Lock()
	run := d.run
	d.run = nil
	d.mu.Unlock()
	if run != nil {
		close(run.stop)
		<-run.done
	}
	var in chan byte
	var done chan struct{}
	s.loop.exec(func() {
		in, done = d.in, d.inDone
		d.in, d.inClosed = nil, true
	})
	if in != nil {
		close(in)
		<-done
	}
}

// trunkDTMF takes a telephone-event packet from the trunk (the loop).
func (s *Session) trunkDTMF(tr *trunkReader, pkt []byte) {
	digit, ok := tr.dtmf.packet(pkt)
	if !ok {
		return
	}
	d := &s.dtmf
	if d.in == nil {
		if d.inClosed {
			return
		}
		d.in, d.inDone = make(chan byte, MaxDTMFDigits), make(chan struct{})
		go s.deliverDTMF(d.in, d.inDone)
	}
	select {
	case d.in <- digit:
	default:
		if now := monoNow(); d.inDrops.allow(now) {
			s.log.Warn("DTMF from the trunk dropped: the event callback is not keeping up")
		}
	}
}

// deliverDTMF reports the trunk's digits in order until in is closed.
func (s *Session) deliverDTMF(in <-chan byte, done chan<- struct{}) {
	defer close(done)
	for digit := range in {
		s.log.Debug("DTMF from the trunk", zap.String("digit", string(rune(digit))))
		s.emit(Event{Kind: EventDTMF, Digit: digit})
	}
}
