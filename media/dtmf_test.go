package media

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// evPkt is one telephone-event packet as the trunk would read it.
type evPkt struct {
	marker, end bool
	pt          uint8
	seq         uint16
	ts, ssrc    uint32
	code        uint8
	dur         uint16
}

func readEvPkt(t testing.TB, p []byte) evPkt {
	t.Helper()
	if len(p) != 16 || p[0] != 0x80 {
		t.Fatalf("not a 16-byte RTP event packet: % x", p)
	}
	return evPkt{marker: p[1]&0x80 != 0, pt: p[1] & 0x7f, seq: seqOf(p), ts: binary.BigEndian.Uint32(p[4:]),
		ssrc: binary.BigEndian.Uint32(p[8:]), code: p[12], end: p[13]&0x80 != 0, dur: binary.BigEndian.Uint16(p[14:])}
}

// TestDTMFGeneratorSequence checks the packets of two digits on a stream
// that was relaying audio: the wire format of RFC 4733 2.5 and the
// continuity with the audio around them.
func TestDTMFGeneratorSequence(t *testing.T) {
	o := &toTrunk{}
	audio := rtpPacket(0, 1000, 5000, 0x1234, fill(0xff, 160))
	if !o.pass(audio) {
		t.Fatal("audio suppressed with no event")
	}
	g := newDTMFGen(DefaultDTMFTone, DefaultDTMFGap)
	g.queue = append(g.queue, 1, 11) // "1#"
	var pkts []evPkt
	var ticksWithPacket []int
	suppressed := 0
	for i := 0; i < 40 && g.busy(); i++ {
		if p := g.tick(o, 101); p != nil {
			pkts = append(pkts, readEvPkt(t, p))
			ticksWithPacket = append(ticksWithPacket, i)
		}
		if o.suppress {
			suppressed++
		}
	}
	if g.busy() {
		t.Fatal("generator still busy after 40 ticks")
	}
	if len(pkts) != 14 {
		t.Fatalf("%d packets, want 7 per digit: %+v", len(pkts), pkts)
	}
	wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}
	for d, code := range []uint8{1, 11} {
		ev := pkts[d*7 : d*7+7]
		for i, p := range ev {
			if p.pt != 101 || p.ssrc != 0x1234 || p.code != code || p.dur != wantDur[i] || p.ts != ev[0].ts {
				t.Errorf("digit %d packet %d: %+v", d, i, p)
			}
			if p.marker != (i == 0) {
				t.Errorf("digit %d packet %d: marker %v", d, i, p.marker)
			}
			if p.end != (i >= 4) {
				t.Errorf("digit %d packet %d: end %v", d, i, p.end)
			}
		}
	}
	for i, p := range pkts {
		if p.seq != 1001+uint16(i) {
			t.Errorf("packet %d: seq %d, want %d (continuous with the audio)", i, p.seq, 1001+i)
		}
	}
	// The first event starts where the audio ended; the second 160 ms
	// (100 ms tone + 60 ms gap) after the first.
	if pkts[0].ts != 5160 || pkts[7].ts != 5160+1280 {
		t.Errorf("event timestamps %d, %d; want 5160, 6440", pkts[0].ts, pkts[7].ts)
	}
	// 20 ms a packet: tone packets on consecutive ticks, the second digit's
	// first packet 8 ticks after the first's.
	if ticksWithPacket[7]-ticksWithPacket[0] != 8 || ticksWithPacket[6]-ticksWithPacket[0] != 6 {
		t.Errorf("packet ticks %v", ticksWithPacket)
	}
	if o.suppress {
		t.Error("audio still suppressed after the last digit")
	}
	// The browser's audio resumes with the next sequence number; its own
	// timestamps go on.
	audio = rtpPacket(0, 1017, 5000+17*160, 0x1234, fill(0xff, 160))
	if !o.pass(audio) || seqOf(audio) != 1015 {
		t.Errorf("audio after the events: seq %d, want 1015", seqOf(audio))
	}
	audio = rtpPacket(0, 1018, 5000+18*160, 0x1234, fill(0xff, 160))
	if !o.pass(audio) || seqOf(audio) != 1016 {
		t.Errorf("audio after the events: seq %d, want 1016", seqOf(audio))
	}
	if suppressed == 0 {
		t.Error("audio never suppressed")
	}
}

// TestDTMFGeneratorNoAudio: digits before the browser sent anything start
// a stream of their own.
func TestDTMFGeneratorNoAudio(t *testing.T) {
	o := &toTrunk{}
	g := newDTMFGen(40*time.Millisecond, 0)
	g.randomSeed = func() uint32 { return 0xfffffff0 } // sequence and timestamp wrap
	g.queue = append(g.queue, 5)
	var pkts []evPkt
	for i := 0; i < 20 && g.busy(); i++ {
		if p := g.tick(o, 96); p != nil {
			pkts = append(pkts, readEvPkt(t, p))
		}
	}
	if len(pkts) != 4 || pkts[0].code != 5 || !pkts[0].marker || pkts[0].end || !pkts[1].end || !pkts[3].end || pkts[3].dur != 320 {
		t.Fatalf("packets %+v", pkts)
	}
	if pkts[0].seq != 0xfff1 || pkts[3].seq != 0xfff4 || pkts[0].ts != 0x90 {
		t.Errorf("packets %+v", pkts)
	}
}

func TestValidDTMF(t *testing.T) {
	for _, ok := range []string{"0123456789*#ABCD", "1", "abcd"} {
		if err := ValidDTMF(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "12E", "1 2", "é", string(make([]byte, MaxDTMFDigits+1))} {
		if err := ValidDTMF(bad); !errors.Is(err, ErrBadDTMF) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for c := 0; c < 16; c++ {
		if code, ok := DTMFEvent(DTMFDigit(uint8(c))); !ok || code != uint8(c) {
			t.Errorf("event %d round trip: %d %v", c, code, ok)
		}
	}
}

func eventPacket(seq uint16, ts uint32, code uint8, end bool, dur uint16) []byte {
	flags := byte(10)
	if end {
		flags |= 0x80
	}
	return rtpPacket(101, seq, ts, 0x55, []byte{code, flags, byte(dur >> 8), byte(dur)})
}

func TestDTMFDecoder(t *testing.T) {
	var d dtmfDecoder
	var got []byte
	feed := func(p []byte) {
		if digit, ok := d.packet(p); ok {
			got = append(got, digit)
		}
	}
	seq := uint16(1)
	event := func(ts uint32, code uint8, ends int) {
		for dur := uint16(160); dur <= 800; dur += 160 {
			feed(eventPacket(seq, ts, code, false, dur))
			seq++
		}
		for range ends {
			feed(eventPacket(seq, ts, code, true, 960))
			seq++
		}
	}
	event(1000, 1, 3)
	event(3000, 2, 1)
	event(5000, 2, 3) // the same digit again is a new event
	event(7000, 11, 3)
	event(9000, 16, 3) // flash: not a digit
	event(11000, 10, 0)
	feed([]byte{0x80, 101, 0, 1})                  // truncated
	feed(rtpPacket(101, 1, 1, 1, []byte{1, 0x80})) // short payload
	if string(got) != "122#" {
		t.Errorf("decoded %q, want 122#", got)
	}
}

// TestDTMFDecoderRepeatedDigits is the regression test of two bugs of
// diago's RFC 4733 reader (anchors.md (b)): #21, one key press reported
// three times (its three end packets), and #31, the fix of #21 dropping a
// digit pressed again right after itself ("111", "000").
func TestDTMFDecoderRepeatedDigits(t *testing.T) {
	var d dtmfDecoder
	var got []byte
	seq := uint16(100)
	for i, code := range []uint8{1, 1, 1, 0, 0, 0} {
		ts := uint32(8000 + 1280*i) // 100 ms tones 60 ms apart, as MicroSIP sends them
		for dur := uint16(160); dur < 800; dur += 160 {
			if _, ok := d.packet(eventPacket(seq, ts, code, false, dur)); ok {
				t.Fatalf("digit reported before its end")
			}
			seq++
		}
		for range 3 {
			if digit, ok := d.packet(eventPacket(seq, ts, code, true, 800)); ok {
				got = append(got, digit)
			}
			seq++
		}
	}
	if string(got) != "111000" {
		t.Errorf("decoded %q, want 111000", got)
	}
}

func FuzzDTMFDecoder(f *testing.F) {
	f.Add(eventPacket(1, 2, 3, true, 800))
	f.Add(eventPacket(1, 2, 11, false, 160))
	f.Add([]byte{0x90, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0xa0, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0, 0, 2})
	f.Fuzz(func(t *testing.T, p []byte) {
		var d dtmfDecoder
		digit, ok := d.packet(p)
		if ok {
			if _, valid := DTMFEvent(digit); !valid {
				t.Fatalf("decoded %q", digit)
			}
			if again, twice := d.packet(p); twice {
				t.Fatalf("the same end packet decoded twice: %q", again)
			}
		}
	})
}

func TestSendDTMFAllocs(t *testing.T) {
	o := &toTrunk{}
	g := newDTMFGen(DefaultDTMFTone, DefaultDTMFGap)
	g.queue = make([]uint8, 0, 4)
	if n := testing.AllocsPerRun(100, func() {
		g.queue = append(g.queue[:0], 1)
		for g.busy() {
			g.tick(o, 101)
		}
	}); n != 0 {
		t.Errorf("generator: %v allocs per digit", n)
	}
}
