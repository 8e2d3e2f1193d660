package media

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/zap"
)

// rtpPacket builds an RTP packet: the 12-byte header with pt (marker in
// bit 7), seq, ts and ssrc, then payload.
func rtpPacket(pt byte, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	p := make([]byte, 12, 12+len(payload))
	p[0] = 0x80
	p[1] = pt
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	return append(p, payload...)
}

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// testRelay maps PCMU 0 → PCMU 0, PCMA 8 → PCMU 0 (converted), 101 → 96
// (event), and discards 13.
func testRelay() *relay {
	var r relay
	r.set(0, route{action: actForward, pt: 0})
	r.set(8, route{action: actForward, pt: 0, conv: convAlawToUlaw})
	r.set(101, route{action: actForward, pt: 96})
	r.set(13, route{action: actDiscard})
	return &r
}

func TestRelayProcess(t *testing.T) {
	withExt := func() []byte {
		// V=2, X=1, CC=1; one CSRC; extension profile 0xBEDE, 1 word.
		p := []byte{0x91, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xc0, 0xc0, 0xc0, 0xc0, 0xbe, 0xde, 0, 1, 0xd5, 0xd5, 0xd5, 0xd5}
		return append(p, 0xd5, 0xaa)
	}
	withPadding := func() []byte {
		p := rtpPacket(8, 1, 1, 9, []byte{0xd5, 0xaa, 0xd5, 0, 0, 3})
		p[0] |= 0x20
		return p
	}
	tests := []struct {
		name string
		in   []byte
		want verdict
		out  []byte // the packet afterwards, when it changes
	}{
		{"PCMU passes", rtpPacket(0, 1, 160, 9, []byte{0xff, 0x80}), verdictForward,
			rtpPacket(0, 1, 160, 9, []byte{0xff, 0x80})},
		// G.711 Table 4: A-law +0 (0xd5) is µ-law magnitude 1 (0xfe).
		{"PCMA becomes PCMU", rtpPacket(8, 1, 160, 9, []byte{0xd5, 0xaa}), verdictForward,
			rtpPacket(0, 1, 160, 9, []byte{0xfe, 0x80})},
		{"marker kept", rtpPacket(0x80|8, 1, 160, 9, []byte{0xd5}), verdictForward,
			rtpPacket(0x80, 1, 160, 9, []byte{0xfe})},
		{"event PT rewritten, payload untouched", rtpPacket(101, 1, 160, 9, []byte{1, 0x8a, 0, 160}), verdictForward,
			rtpPacket(96, 1, 160, 9, []byte{1, 0x8a, 0, 160})},
		{"CSRC and extension skipped", withExt(), verdictForward,
			append([]byte{0x91, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xc0, 0xc0, 0xc0, 0xc0, 0xbe, 0xde, 0, 1, 0xd5, 0xd5, 0xd5, 0xd5}, 0xfe, 0x80)},
		{"padding not converted", withPadding(), verdictForward,
			func() []byte { p := rtpPacket(0, 1, 1, 9, []byte{0xfe, 0x80, 0xfe, 0, 0, 3}); p[0] |= 0x20; return p }()},
		{"empty payload", rtpPacket(8, 1, 1, 9, nil), verdictForward, rtpPacket(0, 1, 1, 9, nil)},
		{"discarded PT", rtpPacket(13, 1, 1, 9, []byte{1}), verdictDiscard, nil},
		{"unknown PT", rtpPacket(18, 1, 1, 9, []byte{1}), verdictUnknownPT, nil},
		{"RTCP sender report", []byte{0x80, 200, 0, 6, 0, 0, 0, 9}, verdictRTCP, nil},
		{"RTCP receiver report", []byte{0x81, 201, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1}, verdictRTCP, nil},
		{"empty", nil, verdictMalformed, nil},
		{"one byte", []byte{0x80}, verdictMalformed, nil},
		{"short header", []byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, verdictMalformed, nil},
		{"version 1", func() []byte { p := rtpPacket(0, 1, 1, 9, []byte{1}); p[0] = 0x40; return p }(), verdictMalformed, nil},
		{"CSRC overrun", func() []byte { p := rtpPacket(0, 1, 1, 9, []byte{1}); p[0] |= 2; return p }(), verdictMalformed, nil},
		{"extension header overrun", func() []byte { p := rtpPacket(0, 1, 1, 9, []byte{0xbe}); p[0] |= 0x10; return p }(), verdictMalformed, nil},
		{"extension body overrun", func() []byte { p := rtpPacket(0, 1, 1, 9, []byte{0xbe, 0xde, 0, 9}); p[0] |= 0x10; return p }(), verdictMalformed, nil},
		{"padding zero", func() []byte { p := rtpPacket(0, 1, 1, 9, []byte{1, 0}); p[0] |= 0x20; return p }(), verdictMalformed, nil},
		{"padding overrun", func() []byte { p := rtpPacket(0, 1, 1, 9, []byte{1, 9}); p[0] |= 0x20; return p }(), verdictMalformed, nil},
	}
	r := testRelay()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := bytes.Clone(tt.in)
			if got := r.process(pkt); got != tt.want {
				t.Fatalf("verdict %d, want %d", got, tt.want)
			}
			want := tt.out
			if want == nil {
				want = tt.in
			}
			if tt.want == verdictForward || tt.out != nil {
				if !bytes.Equal(pkt, want) {
					t.Fatalf("packet\n got % x\nwant % x", pkt, want)
				}
			}
		})
	}
}

func TestSplicer(t *testing.T) {
	const ms = int64(time.Millisecond)
	type step struct {
		ssrc    uint32
		seq     uint16
		ts      uint32
		at      int64
		wantSeq uint16
		wantTS  uint32
		marker  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first stream unchanged", []step{
			{1, 100, 1000, 0, 100, 1000, false},
			{1, 101, 1160, 20 * ms, 101, 1160, false},
			{1, 105, 1800, 100 * ms, 105, 1800, false}, // loss is kept visible
		}},
		{"new SSRC follows on, timestamp by wall clock", []step{
			{1, 100, 1000, 0, 100, 1000, false},
			{1, 101, 1160, 20 * ms, 101, 1160, false},
			{2, 5000, 90000, 120 * ms, 102, 1160 + 800, true},
			{2, 5001, 90160, 140 * ms, 103, 1960 + 160, false},
		}},
		{"back to the first SSRC is a new stream again", []step{
			{1, 10, 10, 0, 10, 10, false},
			{2, 500, 500, 20 * ms, 11, 10 + 160, true},
			{1, 11, 170, 40 * ms, 12, 170 + 160, true},
		}},
		{"sequence and timestamp wrap", []step{
			{1, 65535, 0xffffff00, 0, 65535, 0xffffff00, false},
			{2, 7, 7, 20 * ms, 0, 0xffffff00 + 160, true},
			{2, 8, 167, 40 * ms, 1, 64, false}, // 0xffffff00 + 320 wrapped
		}},
		{"no wall-clock gap still advances the timestamp", []step{
			{1, 1, 1, 5, 1, 1, false},
			{2, 9, 9, 5, 2, 2, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s splicer
			for i, st := range tt.steps {
				p := rtpPacket(0, st.seq, st.ts, st.ssrc, []byte{0xff})
				s.splice(p, st.at)
				seq, ts := binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[4:])
				if seq != st.wantSeq || ts != st.wantTS || (p[1]&0x80 != 0) != st.marker {
					t.Fatalf("step %d: seq %d ts %d marker %v, want %d %d %v", i, seq, ts, p[1]&0x80 != 0, st.wantSeq, st.wantTS, st.marker)
				}
				if got := binary.BigEndian.Uint32(p[8:]); got != st.ssrc {
					t.Fatalf("step %d: SSRC changed to %d", i, got)
				}
			}
		})
	}
}

// captureSink stands in for the browser leg: it records the plain RTP
// packet the relay hands it.
type captureSink struct {
	hdr     rtp.Header
	payload []byte
	n       int
}

func (w *captureSink) sendRTP(pkt, _ []byte) error {
	n, err := w.hdr.Unmarshal(pkt)
	if err != nil {
		return err
	}
	w.payload = append(w.payload[:0], pkt[n:]...)
	w.n++
	return nil
}

// bareSession is a Session without sockets or engine, for the per-packet
// handlers: the trunk at 192.0.2.1:4000 answered PCMA 8 and event 96, the
// browser PCMU 0 and event 126, and the browser is connected to w.
func bareSession(t testing.TB) (*Session, *captureSink) {
	t.Helper()
	ta, err := parseTrunkAnswer([]byte(trunkSDP("192.0.2.1", 4000, "8 96", "a=rtpmap:96 telephone-event/8000\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	bl := browserLeg{law: codecPCMU, lawPT: 0, formats: []format{{0, codecPCMU}, {8, codecPCMA}, {126, codecEvent}}}
	s := &Session{log: zap.NewNop(), onEvent: func(Event) {}}
	s.rules.Store(buildRules(&ta, &bl))
	w := &captureSink{payload: make([]byte, 0, 1500)}
	s.out.Store(&browserOut{sink: w, ssrc: 0xabcdef})
	return s, w
}

// trunkSDP is an answer from the trunk at addr:port with the m= formats
// fmts and extra media attributes.
func trunkSDP(addr string, port int, fmts, extra string) string {
	ipv := "IP4"
	if netip.MustParseAddr(addr).Is6() {
		ipv = "IP6"
	}
	return "v=0\r\no=- 1 1 IN " + ipv + " " + addr + "\r\ns=-\r\nc=IN " + ipv + " " + addr + "\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP " + fmts + "\r\n" + extra
}

func TestHandleTrunk(t *testing.T) {
	s, w := bareSession(t)
	trunk := netip.MustParseAddrPort("192.0.2.1:4000")
	var tr trunkReader
	now := int64(time.Hour)

	// A PCMA packet from the SDP address reaches the browser as PCMU with the
	// browser's SSRC and without CSRC, extension or padding.
	p := rtpPacket(0x80|8, 7, 800, 42, []byte{0xd5, 0xaa})
	p[0] |= 0x20
	p = append(p, 0, 2)
	if err := s.handleTrunk(&tr, p, trunk, now, nil); err != nil {
		t.Fatal(err)
	}
	h := w.hdr
	if w.n != 1 || h.PayloadType != 0 || !h.Marker || h.SequenceNumber != 7 || h.Timestamp != 800 || h.SSRC != 0xabcdef ||
		h.Padding || h.Extension || len(h.CSRC) != 0 || !bytes.Equal(w.payload, []byte{0xfe, 0x80}) {
		t.Fatalf("wrote %+v % x", h, w.payload)
	}
	if got := s.lastRTP.Load(); got != now {
		t.Fatalf("lastRTP %d, want %d", got, now)
	}

	steps := []struct {
		name  string
		src   string
		pkt   []byte
		at    int64
		sent  bool
		stats Stats
	}{
		{"wrong IP", "192.0.2.2:4000", rtpPacket(8, 8, 960, 42, []byte{1}), now, false, Stats{1, 0, 1, 0}},
		{"other port while latched port active", "192.0.2.1:4002", rtpPacket(8, 8, 960, 42, []byte{1}), now + 1, false, Stats{1, 0, 2, 0}},
		{"unknown payload type", "192.0.2.1:4000", rtpPacket(18, 8, 960, 42, []byte{1}), now + 2, false, Stats{1, 0, 2, 1}},
		{"telephone-event is not sent to the browser", "192.0.2.1:4000", rtpPacket(96, 8, 960, 42, []byte{1, 2, 3, 4}), now + 3, false, Stats{1, 0, 2, 1}},
		{"our offer's event PT likewise", "192.0.2.1:4000", rtpPacket(101, 8, 960, 42, []byte{1, 2, 3, 4}), now + 4, false, Stats{1, 0, 2, 1}},
		{"RTCP ignored", "192.0.2.1:4000", []byte{0x80, 200, 0, 6, 0, 0, 0, 9}, now + 5, false, Stats{1, 0, 2, 1}},
		{"PCMU from the trunk too", "192.0.2.1:4000", rtpPacket(0, 8, 960, 42, []byte{0x80}), now + 6, true, Stats{2, 0, 2, 1}},
		{"silent latched port: another port takes over", "192.0.2.1:5000", rtpPacket(0, 9, 1120, 42, []byte{0x80}), now + 6 + int64(relatchAfter) + 1, true, Stats{3, 0, 2, 1}},
		{"the old port is now foreign", "192.0.2.1:4002", rtpPacket(0, 10, 1280, 42, []byte{0x80}), now + 7 + int64(relatchAfter), false, Stats{3, 0, 3, 1}},
		{"the SDP port takes over at once", "192.0.2.1:4000", rtpPacket(0, 10, 1280, 42, []byte{0x80}), now + 8 + int64(relatchAfter), true, Stats{4, 0, 3, 1}},
		{"IPv4-mapped source", "[::ffff:192.0.2.1]:4000", rtpPacket(0, 11, 1440, 42, []byte{0x80}), now + 9 + int64(relatchAfter), true, Stats{5, 0, 3, 1}},
	}
	for _, st := range steps {
		before := w.n
		if err := s.handleTrunk(&tr, bytes.Clone(st.pkt), netip.MustParseAddrPort(st.src), st.at, nil); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if sent := w.n > before; sent != st.sent {
			t.Fatalf("%s: sent %v, want %v", st.name, sent, st.sent)
		}
		if got := s.Stats(); got != st.stats {
			t.Fatalf("%s: stats %+v, want %+v", st.name, got, st.stats)
		}
	}

	// Not connected: dropped, but the inactivity clock is refreshed.
	s.out.Store(nil)
	at := now + int64(time.Second)
	if err := s.handleTrunk(&tr, rtpPacket(8, 12, 1600, 42, []byte{1}), trunk, at, nil); err != nil {
		t.Fatal(err)
	}
	if s.stats.notReady.Load() != 1 || s.lastRTP.Load() != at {
		t.Fatalf("early media: notReady %d lastRTP %d", s.stats.notReady.Load(), s.lastRTP.Load())
	}
}

func TestHandleBrowser(t *testing.T) {
	s, _ := bareSession(t)
	tests := []struct {
		name   string
		in     []byte
		ok     bool
		out    []byte
		counts [2]uint64 // malformed, notReady
	}{
		{"PCMU becomes PCMA", rtpPacket(0, 1, 160, 7, []byte{0xff, 0x80}), true, rtpPacket(8, 1, 160, 7, []byte{0xd5, 0xaa}), [2]uint64{}},
		{"PCMA stays PCMA", rtpPacket(8, 1, 160, 7, []byte{0xd5}), true, rtpPacket(8, 1, 160, 7, []byte{0xd5}), [2]uint64{}},
		{"event to the trunk's PT", rtpPacket(0x80|126, 2, 320, 7, []byte{5, 0x0a, 0, 160}), true, rtpPacket(0x80|96, 2, 320, 7, []byte{5, 0x0a, 0, 160}), [2]uint64{}},
		{"unknown PT", rtpPacket(111, 1, 160, 7, []byte{1}), false, nil, [2]uint64{1, 0}},
		{"garbage", []byte{1, 2, 3}, false, nil, [2]uint64{2, 0}},
	}
	for _, tt := range tests {
		pkt := bytes.Clone(tt.in)
		dst, ok := s.handleBrowser(pkt)
		if ok != tt.ok || (ok && (dst != netip.MustParseAddrPort("192.0.2.1:4000") || !bytes.Equal(pkt, tt.out))) {
			t.Fatalf("%s: ok %v dst %v pkt % x", tt.name, ok, dst, pkt)
		}
		if got := [2]uint64{s.stats.malformed.Load(), s.stats.notReady.Load()}; got != tt.counts {
			t.Fatalf("%s: counts %v, want %v", tt.name, got, tt.counts)
		}
	}

	// Trunk on hold (c=0.0.0.0) or sendonly: nothing is sent to it.
	for _, sdp := range []string{
		trunkSDP("0.0.0.0", 4000, "8", ""),
		trunkSDP("192.0.2.1", 4000, "8", "a=sendonly\r\n"),
		trunkSDP("192.0.2.1", 4000, "8", "a=inactive\r\n"),
	} {
		ta, err := parseTrunkAnswer([]byte(sdp))
		if err != nil {
			t.Fatal(err)
		}
		s.rules.Store(buildRules(&ta, &browserLeg{law: codecPCMU, formats: []format{{0, codecPCMU}}}))
		if _, ok := s.handleBrowser(rtpPacket(0, 1, 1, 7, []byte{1})); ok {
			t.Fatalf("sent to a trunk that does not receive:\n%s", sdp)
		}
	}
	// No trunk SDP yet.
	s.rules.Store(buildRules(nil, &browserLeg{law: codecPCMU, formats: []format{{0, codecPCMU}}}))
	before := s.stats.notReady.Load()
	if _, ok := s.handleBrowser(rtpPacket(0, 1, 1, 7, []byte{1})); ok || s.stats.notReady.Load() != before+1 {
		t.Fatal("sent before the trunk's SDP, or not counted")
	}
}

func TestBuildRulesTrunkSDPPayloadTypes(t *testing.T) {
	// The trunk answers with its own event PT 96 and lists PCMU; it may send
	// with ours (0, 8, 101) or its own.
	ta, err := parseTrunkAnswer([]byte(trunkSDP("192.0.2.1", 4000, "0 8 96", "a=rtpmap:96 telephone-event/8000\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	r := buildRules(&ta, &browserLeg{law: codecPCMA, lawPT: 8, formats: []format{{8, codecPCMA}, {101, codecEvent}}})
	want := map[uint8]route{
		0:   {action: actForward, pt: 8, conv: convUlawToAlaw},
		8:   {action: actForward, pt: 8},
		101: {action: actDiscard},
		96:  {action: actDiscard},
	}
	for pt := range uint8(128) {
		if got := r.toBrowser.routes[pt]; got != want[pt] {
			t.Errorf("to browser PT %d: %+v, want %+v", pt, got, want[pt])
		}
	}
	if got := r.toTrunk.routes[8]; got != (route{action: actForward, pt: 0, conv: convAlawToUlaw}) {
		t.Errorf("to trunk PT 8: %+v", got)
	}
	if got := r.toTrunk.routes[101]; got != (route{action: actForward, pt: 96}) {
		t.Errorf("to trunk PT 101: %+v", got)
	}
	if !r.sendTrunk || !r.trunkSends || r.trunk != netip.MustParseAddrPort("192.0.2.1:4000") {
		t.Errorf("rules %+v", r)
	}
}

func TestRelayDoesNotAllocate(t *testing.T) {
	r := testRelay()
	pcma := rtpPacket(8, 1, 160, 9, fill(0xd5, 160))
	pcmu := rtpPacket(0, 1, 160, 9, fill(0xff, 160))
	if n := testing.AllocsPerRun(1000, func() {
		pcma[1] = 8
		r.process(pcma)
		r.process(pcmu)
	}); n != 0 {
		t.Errorf("relay.process: %v allocs per packet", n)
	}

	s, _ := bareSession(t)
	var tr trunkReader
	src := netip.MustParseAddrPort("192.0.2.1:4000")
	now := int64(time.Hour)
	if n := testing.AllocsPerRun(1000, func() {
		pcma[1] = 8
		now += int64(20 * time.Millisecond)
		s.handleTrunk(&tr, pcma, src, now, nil)
	}); n != 0 {
		t.Errorf("trunk → browser step: %v allocs per packet", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		pcmu[1] = 0
		s.handleBrowser(pcmu)
	}); n != 0 {
		t.Errorf("browser → trunk step: %v allocs per packet", n)
	}
}

// BenchmarkRelayTrunkToBrowser is the trunk reader's per-packet step for a
// 20 ms PCMA packet to a PCMU browser: source check, relay (PT rewrite, law
// conversion), splice, header for pion, write to the track's writer.
func BenchmarkRelayTrunkToBrowser(b *testing.B) {
	s, _ := bareSession(b)
	var tr trunkReader
	pkt := rtpPacket(8, 1, 160, 9, fill(0xd5, 160))
	src := netip.MustParseAddrPort("192.0.2.1:4000")
	now := int64(time.Hour)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		pkt[1] = 8
		now += int64(20 * time.Millisecond)
		if err := s.handleTrunk(&tr, pkt, src, now, nil); err != nil {
			b.Fatal(err)
		}
	}
	if s.stats.toBrowser.Load() == 0 {
		b.Fatal("nothing relayed")
	}
}

// BenchmarkRelayBrowserToTrunk is a browser reader's per-packet step for a
// 20 ms PCMU packet to a PCMA trunk: relay (PT rewrite, law conversion) and
// the destination.
func BenchmarkRelayBrowserToTrunk(b *testing.B) {
	s, _ := bareSession(b)
	pkt := rtpPacket(0, 1, 160, 9, fill(0xff, 160))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		pkt[1] = 0
		if _, ok := s.handleBrowser(pkt); !ok {
			b.Fatal("dropped")
		}
	}
}

// TestSplicerLongHold: the rep holds the call for 11 minutes while the
// browser keeps sending (the packets are dropped), then resumes. Towards
// the trunk the sequence must go on by one — the browser's own jumped by
// 33,000, more than 2^15, which a receiver takes for old packets (Janus
// PR #3640, replay_old after 11 min) — and the timestamp by the pause.
func TestSplicerLongHold(t *testing.T) {
	const ms = int64(time.Millisecond)
	s := splicer{rebaseAfter: int64(trunkRebaseAfter)}
	seq, ts, at := uint16(60000), uint32(0xfff00000), int64(0)
	var lastSeq uint16
	var lastTS uint32
	send := func() (uint16, uint32, bool) {
		p := rtpPacket(0, seq, ts, 0x1234, []byte{0xff})
		s.splice(p, at)
		return binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[4:]), p[1]&0x80 != 0
	}
	for range 50 { // a second of talk
		lastSeq, lastTS, _ = send()
		seq, ts, at = seq+1, ts+160, at+20*ms
	}
	// 11 minutes on hold: 33,000 packets the trunk never saw.
	const hold = 11 * 60 * 1000 * ms
	packets := hold / (20 * ms)
	seq, ts, at = seq+uint16(packets), ts+uint32(packets*160), at+hold
	if d := int16(seq - lastSeq); d > 0 {
		t.Fatalf("the test's jump is no regression (%d): it would prove nothing", d)
	}
	gotSeq, gotTS, marker := send()
	if gotSeq != lastSeq+1 {
		t.Errorf("after the hold: seq %d, want %d (last %d)", gotSeq, lastSeq+1, lastSeq)
	}
	if want := lastTS + uint32((hold+20*ms)*8000/1e9); gotTS != want {
		t.Errorf("after the hold: ts %d, want %d (the pause in samples)", gotTS, want)
	}
	if !marker {
		t.Error("the first packet after the hold has no marker")
	}
	lastSeq, lastTS = gotSeq, gotTS
	for i := range 100 { // talk goes on, continuous
		seq, ts, at = seq+1, ts+160, at+20*ms
		gotSeq, gotTS, _ = send()
		if gotSeq != lastSeq+1 || gotTS != lastTS+160 {
			t.Fatalf("packet %d after the hold: seq %d ts %d after %d %d", i, gotSeq, gotTS, lastSeq, lastTS)
		}
		lastSeq, lastTS = gotSeq, gotTS
	}
	// A short pause (jitter) changes nothing.
	seq, ts, at = seq+3, ts+480, at+80*ms
	if gotSeq, _, _ = send(); gotSeq != lastSeq+3 {
		t.Errorf("after 80 ms: seq %d, want %d (loss stays visible)", gotSeq, lastSeq+3)
	}
}
