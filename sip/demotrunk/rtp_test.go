package demotrunk

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/audio"
)

func rtpBytes(t testing.TB, h rtp.Header, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidRTP(t *testing.T) {
	good := rtpBytes(t, rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, make([]byte, 160))
	ext := rtp.Header{Version: 2, CSRC: []uint32{1, 2}}
	if err := ext.SetExtension(1, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	withExt := rtpBytes(t, ext, make([]byte, 10))
	padded := append(rtpBytes(t, rtp.Header{Version: 2}, make([]byte, 10)), 0, 0, 3)
	padded[0] |= 0x20
	for _, c := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"PCMU", good, true},
		{"CSRC and extension", withExt, true},
		{"padding", padded, true},
		{"short", good[:11], false},
		{"version 1", append([]byte{0x40}, good[1:]...), false},
		{"RTCP SR", append([]byte{0x80, 200}, good[2:]...), false},
		{"CSRC beyond the end", append([]byte{0x8F}, good[1:40]...), false},
		{"extension beyond the end", withExt[:len(withExt)-12], false},
		{"padding beyond the end", append([]byte{0xA0}, append(good[1:12], 200)...), false},
		{"zero padding", append(append([]byte{0xA0}, good[1:12]...), 0), false},
	} {
		if got := validRTP(c.p); got != c.want {
			t.Errorf("%s: validRTP = %v", c.name, got)
		}
	}
}

func allPT(uint8) bool { return true }

// The echo continues the ringback's stream: same SSRC, next sequence
// number, timestamp advanced by the time since; a new caller SSRC starts a
// new mapping that again continues the stream.
func TestOutStreamContinuity(t *testing.T) {
	s := newOutStream()
	pcm := make([]int16, audio.FrameSamples)
	buf := make([]byte, rtpBufSize)
	t0 := time.Unix(1000, 0)
	var last rtp.Header
	for i := range 5 {
		var p rtp.Packet
		if err := p.Unmarshal(s.ringFrame(buf, 8, audio.PCMA, pcm, t0.Add(time.Duration(i)*audio.FrameDuration))); err != nil {
			t.Fatal(err)
		}
		if p.PayloadType != 8 || len(p.Payload) != audio.FrameSamples || p.Marker != (i == 0) {
			t.Fatalf("ringback frame %d: %v", i, p.Header)
		}
		if i > 0 && (p.SequenceNumber != last.SequenceNumber+1 || p.Timestamp != last.Timestamp+160 || p.SSRC != last.SSRC) {
			t.Fatalf("ringback frame %d: %v after %v", i, p.Header, last)
		}
		last = p.Header
	}

	// The caller's packets, 1 s after the last ringback frame.
	echoAt := t0.Add(4*audio.FrameDuration + time.Second)
	in := rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 65535, Timestamp: 4294967200, SSRC: 99}
	check := func(in rtp.Header, at time.Time, wantSeq uint16, wantTS uint32, marker bool) {
		t.Helper()
		p := rtpBytes(t, in, []byte{1, 2, 3})
		if !s.echo(p, at, allPT) {
			t.Fatal("echo refused a valid packet")
		}
		var out rtp.Packet
		if err := out.Unmarshal(p); err != nil {
			t.Fatal(err)
		}
		if out.SSRC != last.SSRC || out.SequenceNumber != wantSeq || out.Timestamp != wantTS || out.Marker != marker || out.PayloadType != 8 {
			t.Fatalf("echo of %v = %v, want seq %d ts %d marker %v", in, out.Header, wantSeq, wantTS, marker)
		}
	}
	first := last.Timestamp + 8000
	check(in, echoAt, last.SequenceNumber+1, first, true)
	in.SequenceNumber, in.Timestamp = 0, in.Timestamp+160 // wraps
	check(in, echoAt.Add(20*time.Millisecond), last.SequenceNumber+2, first+160, false)
	in.SequenceNumber, in.Timestamp = 2, in.Timestamp+320 // one lost
	check(in, echoAt.Add(60*time.Millisecond), last.SequenceNumber+4, first+480, false)

	// A new SSRC from the caller, straight away: one frame on.
	in2 := rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 500, Timestamp: 7, SSRC: 100}
	check(in2, echoAt.Add(60*time.Millisecond), last.SequenceNumber+5, first+640, true)

	// Payload types the caller did not negotiate are not echoed.
	p := rtpBytes(t, rtp.Header{Version: 2, PayloadType: 18, SSRC: 100}, []byte{1})
	if s.echo(p, echoAt, func(pt uint8) bool { return pt == 8 }) {
		t.Error("PT 18 echoed")
	}
}

func TestRingback(t *testing.T) {
	r := newRingback()
	pcm := make([]int16, audio.FrameSamples)
	var on []int16
	for range ringbackOnFrames {
		r.ReadFrame(pcm)
		on = append(on, pcm...)
	}
	if level := audio.ToneLevel(on, audio.SampleRate, ringbackFreq); level < 0.99 {
		t.Errorf("tone level %.3f", level)
	}
	for i := ringbackOnFrames; i < ringbackPeriod; i++ {
		r.ReadFrame(pcm)
		for _, v := range pcm {
			if v != 0 {
				t.Fatalf("frame %d: not silent", i)
			}
		}
	}
	r.ReadFrame(pcm) // the next period starts with the tone
	if audio.ToneLevel(pcm, audio.SampleRate, ringbackFreq) < 0.9 {
		t.Error("second period starts silent")
	}
}

// The per-packet paths allocate nothing.
func TestNoAllocPerPacket(t *testing.T) {
	s := newOutStream()
	pcm := make([]int16, audio.FrameSamples)
	buf := make([]byte, rtpBufSize)
	pkt := rtpBytes(t, rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, make([]byte, 160))
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() {
		s.ringFrame(buf, 0, audio.PCMU, pcm, now)
		s.echo(pkt, now, allPT)
	}); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

// The media goroutine's echo path allocates nothing either: each run is
// one packet sent to it and its echo read back.
func TestMediaEchoNoAlloc(t *testing.T) {
	caller, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	callerAddr := caller.LocalAddr().(*net.UDPAddr).AddrPort()
	o := offer{remote: callerAddr, law: audio.PCMU, lawName: "PCMU", dir: dirSendRecv}
	m, err := newMedia(netip.MustParseAddr("127.0.0.1"), o, time.Minute, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	m.mode.Store(modeEcho)
	go m.run()
	defer m.close(true)
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), m.port())
	pkt := rtpBytes(t, rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, make([]byte, 160))
	in := make([]byte, rtpBufSize)
	_ = caller.SetReadDeadline(time.Now().Add(wait))
	seq := uint16(0)
	roundTrip := func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if _, err := caller.WriteToUDPAddrPort(pkt, to); err != nil {
			t.Fatal(err)
		}
		if _, _, err := caller.ReadFromUDPAddrPort(in); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // warm up
	if n := testing.AllocsPerRun(200, roundTrip); n >= 1 {
		t.Errorf("%v allocations per echoed packet", n)
	}
}

// echo never panics, and rewrites only what it accepts, keeping the size.
func FuzzEcho(f *testing.F) {
	f.Add(rtpBytes(f, rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 2, SSRC: 3}, make([]byte, 160)))
	f.Add([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 1})
	f.Add([]byte{0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, p []byte) {
		s := newOutStream()
		orig := append([]byte(nil), p...)
		ok := s.echo(p, time.Now(), allPT)
		if !ok {
			if string(p) != string(orig) {
				t.Fatal("refused packet modified")
			}
			return
		}
		if binary.BigEndian.Uint32(p[8:]) != s.ssrc || p[0] != orig[0] || p[1]&0x7F != orig[1]&0x7F || string(p[12:]) != string(orig[12:]) {
			t.Fatal("echo changed more than the marker, sequence number, timestamp and SSRC")
		}
		// What pion parses still parses (pion also checks the contents
		// of header extensions, which validRTP leaves alone).
		var in, out rtp.Packet
		if in.Unmarshal(orig) == nil {
			if err := out.Unmarshal(p); err != nil {
				t.Fatalf("echo does not parse: %v", err)
			}
		}
	})
}

func BenchmarkEcho(b *testing.B) {
	s := newOutStream()
	pkt := rtpBytes(b, rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, make([]byte, 160))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.echo(pkt, now, allPT)
	}
}

func BenchmarkRingFrame(b *testing.B) {
	s := newOutStream()
	r := newRingback()
	pcm := make([]int16, audio.FrameSamples)
	buf := make([]byte, rtpBufSize)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r.ReadFrame(pcm)
		s.ringFrame(buf, 0, audio.PCMU, pcm, now)
	}
}
