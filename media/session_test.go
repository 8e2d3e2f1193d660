package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// End-to-end tests on loopback: a real Engine, a pion PeerConnection playing
// the browser and a UDP socket playing the trunk.

const testWait = 10 * time.Second // bound of every wait; nothing waits this long when all is well

func newTestEngine(t testing.TB, mut func(*Options)) *Engine {
	t.Helper()
	o := Options{
		BindIP:      netip.MustParseAddr("127.0.0.1"),
		RTPPortMin:  42000,
		RTPPortMax:  42999, // shared with WebRTC by default
		ICENetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ICEServers:  []ICEServer{{URLs: []string{"stun:stun.example.net:3478"}}},
		RTPTimeout:  300 * time.Millisecond,
		Logger:      zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	}
	if mut != nil {
		mut(&o)
	}
	e, err := NewEngine(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		if n := e.ports.inUse(); n != 0 {
			t.Errorf("%d RTP ports still in use after Engine.Close", n)
		}
	})
	return e
}

// eventLog collects a session's events.
type eventLog chan Event

func (l eventLog) on(ev Event) {
	select {
	case l <- ev:
	default:
		panic("event log full")
	}
}

func (l eventLog) wait(t testing.TB, kind EventKind) Event {
	t.Helper()
	timer := time.NewTimer(testWait)
	defer timer.Stop()
	for {
		select {
		case ev := <-l:
			if ev.Kind == kind {
				return ev
			}
			t.Fatalf("event %d (%v) while waiting for %d", ev.Kind, ev.Err, kind)
		case <-timer.C:
			t.Fatalf("no event %d within %v", kind, testWait)
		}
	}
}

func (l eventLog) none(t testing.TB) {
	t.Helper()
	select {
	case ev := <-l:
		t.Fatalf("unexpected event %d (%v)", ev.Kind, ev.Err)
	default:
	}
}

func newTestSession(t testing.TB, e *Engine) (*Session, eventLog) {
	t.Helper()
	events := make(eventLog, 16)
	s, err := e.NewSession(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), events.on)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, events
}

// rtpAddr is where the session takes RTP from the trunk, read from its offer.
func rtpAddr(t testing.TB, s *Session) netip.AddrPort {
	t.Helper()
	ans, err := parseTrunkAnswer(s.TrunkOffer())
	if err != nil {
		t.Fatal(err)
	}
	return ans.remote
}

// Codecs of the test browser.
var (
	capPCMU = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}

	mimeTypeTelephoneEvent = "audio/telephone-event"
)

// testTrack is the test browser's track: unlike pion's static tracks it
// writes packets of any payload type.
type testTrack struct {
	codec        webrtc.RTPCodecCapability
	id, streamID string
	bound        atomic.Pointer[trackBinding] // nil until pion binds the track
}

// trackBinding is what pion's Bind gives the track.
type trackBinding struct {
	id   string
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

func (t *testTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.codec.MimeType) && c.ClockRate == t.codec.ClockRate {
			t.bound.Store(&trackBinding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()})
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (t *testTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	b := t.bound.Load()
	if b == nil || b.id != ctx.ID() || !t.bound.CompareAndSwap(b, nil) {
		return webrtc.ErrUnbindFailed
	}
	return nil
}

func (t *testTrack) ID() string                { return t.id }
func (t *testTrack) RID() string               { return "" }
func (t *testTrack) StreamID() string          { return t.streamID }
func (t *testTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// testBrowser is a pion PeerConnection that offers like the softphone. It
// sends with a testTrack, so it can send any payload type.
type testBrowser struct {
	t         testing.TB
	pc        *webrtc.PeerConnection
	track     *testTrack
	got       chan []byte   // RTP packets received, copied
	count     atomic.Int64  // RTP packets received
	tick      chan struct{} // a token per packet, in count mode
	countOnly atomic.Bool   // count packets, do not copy them
	connected chan struct{}
	once      sync.Once
	gate      gate
	hdr       rtp.Header // send's, reused
}

var testBrowserCodecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: capPCMU, PayloadType: 0},
	// Chrome's telephone-event: PT 126, fmtp 0-15 (ours says 0-16).
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTypeTelephoneEvent, ClockRate: 8000, SDPFmtpLine: "0-15"}, PayloadType: 126},
}

func newTestBrowser(t testing.TB, countOnly bool) *testBrowser {
	t.Helper()
	me := &webrtc.MediaEngine{}
	for _, c := range testBrowserCodecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLoggerFactory{zap.NewNop()}}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &testBrowser{
		t: t, pc: pc, track: &testTrack{codec: capPCMU, id: "mic", streamID: "browser"},
		got: make(chan []byte, 4096), tick: make(chan struct{}, 4096), connected: make(chan struct{}),
	}
	b.countOnly.Store(countOnly)
	if _, err := pc.AddTransceiverFromTrack(b.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		t.Fatal(err)
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			b.once.Do(func() { close(b.connected) })
		}
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !b.gate.enter() {
			return
		}
		defer b.gate.exit()
		buf := make([]byte, 1500)
		for {
			n, _, err := track.Read(buf)
			if err != nil {
				return
			}
			b.count.Add(1)
			if b.countOnly.Load() {
				select {
				case b.tick <- struct{}{}:
				default:
				}
				continue
			}
			select {
			case b.got <- bytes.Clone(buf[:n]):
			default:
			}
		}
	})
	t.Cleanup(b.close)
	return b
}

func (b *testBrowser) close() {
	b.gate.shut()
	b.pc.GracefulClose()
	b.gate.wait()
}

// offer returns the browser's offer with all its candidates.
func (b *testBrowser) offer() string {
	b.t.Helper()
	offer, err := b.pc.CreateOffer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(offer); err != nil {
		b.t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(testWait):
		b.t.Fatal("browser gathering did not complete")
	}
	return b.pc.LocalDescription().SDP
}

func (b *testBrowser) answer(sdp string) {
	b.t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		b.t.Fatal(err)
	}
}

// waitConnected waits for the browser's side of the connection.
func (b *testBrowser) waitConnected() {
	b.t.Helper()
	select {
	case <-b.connected:
	case <-time.After(testWait):
		b.t.Fatal("browser did not connect")
	}
}

// send writes one RTP packet to the gateway. Only the test's goroutine
// calls it.
func (b *testBrowser) send(pt byte, seq uint16, ts uint32, payload []byte) {
	bound := b.track.bound.Load()
	if bound == nil {
		b.t.Fatal("browser track not bound")
	}
	b.hdr = rtp.Header{Version: 2, Marker: pt&0x80 != 0, PayloadType: pt & 0x7f, SequenceNumber: seq, Timestamp: ts, SSRC: bound.ssrc}
	if _, err := bound.w.WriteRTP(&b.hdr, payload); err != nil {
		b.t.Fatal(err)
	}
}

// connect runs the offer/answer between b and s and waits until both ends
// are connected.
func connect(t testing.TB, s *Session, events eventLog, b *testBrowser) string {
	t.Helper()
	answer, err := s.AcceptBrowserOffer(b.offer())
	if err != nil {
		t.Fatal(err)
	}
	b.answer(answer)
	events.wait(t, EventBrowserConnected)
	b.waitConnected()
	return answer
}

// testTrunk is a UDP socket playing the trunk.
type testTrunk struct {
	t    testing.TB
	conn *net.UDPConn
	addr netip.AddrPort
	buf  []byte
}

func newTestTrunk(t testing.TB, ip string) *testTrunk {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testTrunk{t: t, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), buf: make([]byte, 1500)}
}

// sdp is the trunk's answer pointing at its socket.
func (tt *testTrunk) sdp(fmts, extra string) []byte {
	return []byte(trunkSDP(tt.addr.Addr().String(), int(tt.addr.Port()), fmts, extra))
}

func (tt *testTrunk) send(to netip.AddrPort, pkt []byte) {
	tt.t.Helper()
	if _, err := tt.conn.WriteToUDPAddrPort(pkt, to); err != nil {
		tt.t.Fatal(err)
	}
}

// recvWhile calls send every 20 ms and returns the first packet the trunk
// receives that match accepts.
func (tt *testTrunk) recvWhile(send func(i int), match func([]byte) bool) []byte {
	tt.t.Helper()
	deadline := time.Now().Add(testWait)
	for i := 0; time.Now().Before(deadline); i++ {
		send(i)
		tt.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			n, _, err := tt.conn.ReadFromUDPAddrPort(tt.buf)
			if err != nil {
				break
			}
			if match(tt.buf[:n]) {
				return bytes.Clone(tt.buf[:n])
			}
		}
	}
	tt.t.Fatal("the trunk received nothing matching")
	return nil
}

// browserRecvWhile calls send every 20 ms and returns the first packet the
// browser receives that match accepts.
func (b *testBrowser) recvWhile(send func(i int), match func([]byte) bool) []byte {
	b.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(testWait)
	defer deadline.Stop()
	for i := 0; ; i++ {
		send(i)
	wait:
		for {
			select {
			case p := <-b.got:
				if match(p) {
					return p
				}
			case <-tick.C:
				break wait
			case <-deadline.C:
				b.t.Fatal("the browser received nothing matching")
			}
		}
	}
}

func payloadOf(t testing.TB, p []byte) []byte {
	t.Helper()
	start, end, ok := rtpPayload(p)
	if !ok {
		t.Fatalf("not RTP: % x", p)
	}
	return p[start:end]
}

func seqOf(p []byte) uint16 { return binary.BigEndian.Uint16(p[2:]) }

// ulawSamples are µ-law bytes with their A-law images by G.711 Table 3
// (µ-law magnitude 15 is A-law magnitude 7).
var ulawSamples, alawImages = []byte{0xff, 0x7f, 0x80, 0x00, 0xf0}, []byte{0xd5, 0x55, 0xaa, 0x2a, 0xd2}

// TestSessionEndToEnd: browser offer first, then a PCMA trunk answering
// telephone-event with PT 96.
func TestSessionEndToEnd(t *testing.T) {
	e := newTestEngine(t, nil)
	s, events := newTestSession(t, e)
	b := newTestBrowser(t, false)
	trunk := newTestTrunk(t, "127.0.0.1")
	gw := rtpAddr(t, s)
	if gw.Addr() != netip.MustParseAddr("127.0.0.1") || gw.Port()%2 != 0 || gw.Port() < 42000 || gw.Port() > 42998 {
		t.Fatalf("offer announces %v", gw)
	}
	answer := connect(t, s, events, b)
	bl, err := parseBrowserAnswer(answer, codecPCMU)
	if err != nil || bl.lawPT != 0 {
		t.Fatalf("answer to the browser: %+v %v", bl, err)
	}
	if s.out.Load() == nil {
		t.Fatal("connected, but the relay has no browser leg to send to")
	}

	// 183 with SDP: PCMA, telephone-event 96.
	if err := s.SetTrunkAnswer(trunk.sdp("8 96", "a=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n")); err != nil {
		t.Fatal(err)
	}

	// Browser → trunk: PCMU becomes PCMA with the trunk's PT.
	seq := uint16(100)
	p := trunk.recvWhile(func(int) {
		seq++
		b.send(0, seq, uint32(seq)*160, ulawSamples)
	}, func([]byte) bool { return true })
	if p[1]&0x7f != 8 || !bytes.Equal(payloadOf(t, p), alawImages) {
		t.Fatalf("trunk got PT %d payload % x, want PT 8 % x", p[1]&0x7f, payloadOf(t, p), alawImages)
	}

	// Trunk → browser: PCMA becomes PCMU with the browser's PT.
	var trunkSeq uint16
	sendTrunk := func(payload []byte) func(int) {
		return func(int) {
			trunkSeq++
			trunk.send(gw, rtpPacket(8, trunkSeq, uint32(trunkSeq)*160, 0x7777, payload))
		}
	}
	p = b.recvWhile(sendTrunk(alawImages), func([]byte) bool { return true })
	// A-law → µ-law is G.711 Table 4, not the inverse of Table 3.
	wantUlaw := []byte{alawToUlaw[0xd5], alawToUlaw[0x55], 0x80, 0x00, alawToUlaw[alawImages[4]]}
	if p[1]&0x7f != bl.lawPT || !bytes.Equal(payloadOf(t, p), wantUlaw) {
		t.Fatalf("browser got PT %d payload % x, want PT %d % x", p[1]&0x7f, payloadOf(t, p), bl.lawPT, wantUlaw)
	}

	// A packet from another address is dropped and counted. The trunk's next
	// packet, sent after it on the same path, proves it was handled.
	wrongIP := "127.0.0.2"
	if _, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(wrongIP)}); err != nil {
		t.Logf("no %s here (%v); using another port of 127.0.0.1", wrongIP, err)
		wrongIP = "127.0.0.1"
	}
	stranger := newTestTrunk(t, wrongIP)
	before := s.Stats().DroppedWrongSource
	stranger.send(gw, rtpPacket(8, 999, 999, 0x6666, fill(0x11, 4)))
	marker := fill(0x22, 4) // A-law; arrives as alawToUlaw[0x22]
	b.recvWhile(sendTrunk(marker), func(p []byte) bool {
		pl := payloadOf(t, p)
		if len(pl) == 4 && pl[0] == alawToUlaw[0x11] {
			t.Fatal("the stranger's packet reached the browser")
		}
		return len(pl) == 4 && pl[0] == alawToUlaw[0x22]
	})
	if got := s.Stats().DroppedWrongSource; got <= before {
		t.Fatalf("DroppedWrongSource %d, was %d", got, before)
	}

	// DTMF: telephone-event from the browser (PT 126) reaches the trunk with
	// the trunk's PT 96, payload untouched.
	event := []byte{5, 0x0a, 0x01, 0x40} // digit 5, volume 10, duration 320
	p = trunk.recvWhile(func(int) {
		seq++
		b.send(0x80|126, seq, 48000, event)
	}, func(p []byte) bool { return p[1]&0x7f != 8 })
	if p[1] != 0x80|96 || !bytes.Equal(payloadOf(t, p), event) {
		t.Fatalf("trunk got DTMF as %02x % x, want %02x % x", p[1], payloadOf(t, p), 0x80|96, event)
	}

	// The relay step through the real browser leg (SRTP, UDP). AllocsPerRun
	// counts the whole process, so the browser stops copying what it gets.
	var tr trunkReader
	scratch := make([]byte, maxDatagram+64)
	pkt := rtpPacket(8, 1, 160, 0x5555, fill(0xd5, 160))
	b.countOnly.Store(true)
	var allocs float64
	s.loop.exec(func() { // the leg's SRTP context is the loop's
		allocs = testing.AllocsPerRun(200, func() {
			pkt[1] = 8
			s.handleTrunk(&tr, pkt, trunk.addr, monoNow(), scratch)
		})
	})
	b.countOnly.Store(false)
	t.Logf("trunk → browser step through the SRTP leg: %.2f allocs per packet (race detector: %v)", allocs, raceEnabled)
	if allocs != 0 && !raceEnabled { // sync.Pool drops items under -race
		t.Errorf("trunk → browser step through the SRTP leg: %.2f allocs per packet", allocs)
	}

	// 200 OK, then trunk silence: EventRTPTimeout.
	if err := s.SetTrunkAnswer(trunk.sdp("8 96", "a=rtpmap:96 telephone-event/8000\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.MarkAnswered()
	ev := events.wait(t, EventRTPTimeout)
	if ev.Err == nil || time.Since(start) < e.opts.RTPTimeout {
		t.Fatalf("timeout event %v after %v", ev.Err, time.Since(start))
	}
	if st := s.Stats(); st.TrunkToBrowserPackets == 0 || st.BrowserToTrunkPackets == 0 {
		t.Errorf("stats %+v", st)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.ports.inUse(); n != 0 {
		t.Fatalf("%d ports in use after Close", n)
	}
	events.none(t) // no EventBrowserFailed for our own Close
}

// TestSessionTrunkFirstAndSwitch: the trunk's SDP (PCMU) before the browser's
// offer, then a 200 from another media server (port, SSRC, law) mid-stream.
func TestSessionTrunkFirstAndSwitch(t *testing.T) {
	e := newTestEngine(t, func(o *Options) { o.WebRTCPortMin, o.WebRTCPortMax = 43000, 43999 })
	s, events := newTestSession(t, e)
	gw := rtpAddr(t, s)
	early := newTestTrunk(t, "127.0.0.1")
	if err := s.SetTrunkAnswer(early.sdp("0 101", "a=rtpmap:101 telephone-event/8000\r\n")); err != nil {
		t.Fatal(err)
	}
	// Early media before the browser is connected: dropped, counted.
	early.send(gw, rtpPacket(0, 1, 160, 0xaaaa, []byte{1}))

	b := newTestBrowser(t, false)
	answer := connect(t, s, events, b)
	if m := regexp.MustCompile(`a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host`).FindStringSubmatch(answer); m == nil {
		t.Fatalf("no host candidate on 127.0.0.1 in the answer:\n%s", answer)
	} else if port, _ := strconv.Atoi(m[1]); port < 43000 || port > 43999 {
		t.Fatalf("ICE candidate port %d outside the WebRTC range", port)
	}

	// PCMU both ways, untouched.
	p := early.recvWhile(func(i int) { b.send(0, uint16(i), uint32(i)*160, ulawSamples) }, func([]byte) bool { return true })
	if p[1] != 0 || !bytes.Equal(payloadOf(t, p), ulawSamples) {
		t.Fatalf("trunk got % x", p)
	}
	var seqA uint16 = 1000
	b.recvWhile(func(int) {
		seqA++
		early.send(gw, rtpPacket(0, seqA, uint32(seqA)*160, 0xaaaa, ulawSamples))
	}, func(p []byte) bool { return bytes.Equal(payloadOf(t, p), ulawSamples) })
	// The last packet from the first server, then the switch.
	seqA++
	last := b.recvWhile(func(i int) {
		if i == 0 {
			early.send(gw, rtpPacket(0, seqA, uint32(seqA)*160, 0xaaaa, []byte{0x42}))
		}
	}, func(p []byte) bool { return payloadOf(t, p)[0] == 0x42 })

	answered := newTestTrunk(t, "127.0.0.1")
	if err := s.SetTrunkAnswer(answered.sdp("8", "")); err != nil {
		t.Fatal(err)
	}
	s.MarkAnswered()
	// The new server's first packet follows on from the old server's last.
	var seqB uint16 = 50000
	p = b.recvWhile(func(int) {
		seqB++
		answered.send(gw, rtpPacket(8, seqB, uint32(seqB)*160, 0xbbbb, []byte{0xd5}))
	}, func([]byte) bool { return true })
	if seqOf(p) != seqOf(last)+1 || p[1]&0x80 == 0 || payloadOf(t, p)[0] != alawToUlaw[0xd5] {
		t.Fatalf("after the switch: seq %d (last %d), marker %v, payload % x", seqOf(p), seqOf(last), p[1]&0x80 != 0, payloadOf(t, p))
	}
	// The old server is now a stranger; browser audio goes to the new one as PCMA.
	early.send(gw, rtpPacket(0, seqA+1, 0, 0xaaaa, []byte{0x43}))
	b.recvWhile(func(int) {
		seqB++
		answered.send(gw, rtpPacket(8, seqB, uint32(seqB)*160, 0xbbbb, []byte{0x2a}))
	}, func(p []byte) bool {
		if payloadOf(t, p)[0] == 0x43 {
			t.Fatal("the old media server's packet reached the browser")
		}
		return payloadOf(t, p)[0] == alawToUlaw[0x2a]
	})
	p = answered.recvWhile(func(i int) { b.send(0, uint16(i), uint32(i)*160, ulawSamples) }, func([]byte) bool { return true })
	if p[1] != 8 || !bytes.Equal(payloadOf(t, p), alawImages) {
		t.Fatalf("new trunk got % x", p)
	}
	st := s.Stats()
	if st.DroppedWrongSource == 0 || s.stats.notReady.Load() == 0 {
		t.Errorf("stats %+v, not ready %d", st, s.stats.notReady.Load())
	}
	events.none(t)
}

// TestSessionReoffer: the softphone reloads and offers again on a new
// PeerConnection; the new leg replaces the old one without a failure event.
func TestSessionReoffer(t *testing.T) {
	// The RTP timeout must not fire while the legs connect (slow under -race
	// on a busy machine): this test is about the browser leg.
	e := newTestEngine(t, func(o *Options) { o.RTPTimeout = time.Minute })
	s, events := newTestSession(t, e)
	gw := rtpAddr(t, s)
	trunk := newTestTrunk(t, "127.0.0.1")
	if err := s.SetTrunkAnswer(trunk.sdp("0", "")); err != nil {
		t.Fatal(err)
	}
	s.MarkAnswered()
	first := newTestBrowser(t, false)
	connect(t, s, events, first)
	send := func(i int) { trunk.send(gw, rtpPacket(0, uint16(i), uint32(i)*160, 1, []byte{0x10})) }
	first.recvWhile(send, func([]byte) bool { return true })

	second := newTestBrowser(t, false)
	connect(t, s, events, second)
	second.recvWhile(send, func([]byte) bool { return true })
	p := trunk.recvWhile(func(i int) { second.send(0, uint16(i), 0, []byte{0x20}) }, func([]byte) bool { return true })
	if payloadOf(t, p)[0] != 0x20 {
		t.Fatalf("trunk got % x", p)
	}
	first.close()
	events.none(t)
}

func TestSessionLifecycle(t *testing.T) {
	e := newTestEngine(t, nil)
	s, events := newTestSession(t, e)
	if e.ports.inUse() != 1 {
		t.Fatalf("ports in use %d", e.ports.inUse())
	}
	if err := s.AddBrowserCandidate(Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}); err == nil {
		t.Fatal("candidate before the offer accepted")
	}
	if _, err := s.AcceptBrowserOffer("v=0\r\n"); err == nil {
		t.Fatal("garbage offer accepted")
	}
	// A browser leg mid-negotiation, then concurrent Closes.
	b := newTestBrowser(t, false)
	offer := b.offer()
	if _, err := s.AcceptBrowserOffer(offer); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBrowserCandidate(Candidate{}); err != nil {
		t.Fatalf("end of candidates: %v", err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if e.ports.inUse() != 0 {
		t.Fatalf("ports in use %d after Close", e.ports.inUse())
	}
	if _, err := s.AcceptBrowserOffer(offer); !errors.Is(err, errClosed) {
		t.Fatalf("offer after Close: %v", err)
	}
	if err := s.SetTrunkAnswer([]byte(trunkSDP("127.0.0.1", 4000, "0", ""))); !errors.Is(err, errClosed) {
		t.Fatalf("trunk SDP after Close: %v", err)
	}
	events.none(t)

	// Engine.Close closes the sessions left.
	s2, _ := newTestSession(t, e)
	_ = s2
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e.ports.inUse() != 0 {
		t.Fatalf("ports in use %d after Engine.Close", e.ports.inUse())
	}
	if _, err := e.NewSession(nil, nil); !errors.Is(err, errClosed) {
		t.Fatalf("NewSession after Close: %v", err)
	}
}

// TestSharedPortRange: RTP and WebRTC share a small range; every port is
// used once.
func TestSharedPortRange(t *testing.T) {
	e := newTestEngine(t, func(o *Options) { o.RTPPortMin, o.RTPPortMax = 44000, 44011 })
	used := map[int]string{}
	claim := func(port int, what string) {
		if port < 44000 || port > 44011 {
			t.Fatalf("%s port %d outside the range", what, port)
		}
		if other, ok := used[port]; ok {
			t.Fatalf("port %d used by %s and %s", port, other, what)
		}
		used[port] = what
	}
	candidate := regexp.MustCompile(`a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host`)
	for i := range 3 {
		s, events := newTestSession(t, e)
		port := int(rtpAddr(t, s).Port())
		claim(port, "RTP")
		claim(port+1, "RTCP")
		answer := connect(t, s, events, newTestBrowser(t, false))
		m := candidate.FindStringSubmatch(answer)
		if m == nil {
			t.Fatalf("session %d: no candidate in the answer", i)
		}
		p, _ := strconv.Atoi(m[1])
		claim(p, "ICE")
	}
	// 9 of 12 ports used: the fourth session finds the last free pair, if
	// any; the allocator never hands out a port pion holds.
	t.Logf("ports: %v", used)
}

func TestRTPTimeoutSweep(t *testing.T) {
	var events []Event
	s, _ := bareSession(t)
	s.onEvent = func(ev Event) { events = append(events, ev) }
	const timeout = time.Second
	now := int64(time.Hour)
	s.lastRTP.Store(now)

	s.checkRTPTimeout(now+int64(2*timeout), timeout)
	if len(events) != 0 {
		t.Fatal("timeout before MarkAnswered")
	}
	s.answered.Store(true)
	s.checkRTPTimeout(now+int64(timeout)-1, timeout)
	if len(events) != 0 {
		t.Fatal("timeout too early")
	}
	// On hold from the trunk's side (a=recvonly): no timeout.
	held := s.rules.Load()
	ta, _ := parseTrunkAnswer([]byte(trunkSDP("192.0.2.1", 4000, "8", "a=recvonly\r\n")))
	s.rules.Store(buildRules(&ta, nil))
	s.checkRTPTimeout(now+int64(2*timeout), timeout)
	if len(events) != 0 {
		t.Fatal("timeout while the trunk sends nothing by SDP")
	}
	s.rules.Store(held)
	s.checkRTPTimeout(now+int64(timeout), timeout)
	s.checkRTPTimeout(now+int64(3*timeout), timeout)
	if len(events) != 1 || events[0].Kind != EventRTPTimeout || events[0].Err == nil {
		t.Fatalf("events %+v, want one EventRTPTimeout", events)
	}
	// Closed: no more events.
	s.timedOut.Store(false)
	s.closing.Store(true)
	s.checkRTPTimeout(now+int64(4*timeout), timeout)
	if len(events) != 1 {
		t.Fatal("event after Close")
	}
}

func TestNewEngineOptions(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	bad := map[string]Options{
		"nothing to announce":         {},
		"half an RTP range":           {BindIP: lo, RTPPortMin: 10000},
		"reversed RTP range":          {BindIP: lo, RTPPortMin: 20000, RTPPortMax: 10000},
		"one-port RTP range":          {BindIP: lo, RTPPortMin: 10001, RTPPortMax: 10002},
		"half a WebRTC range":         {BindIP: lo, WebRTCPortMax: 10000},
		"negative timeout":            {BindIP: lo, RTPTimeout: -time.Second},
		"IPv6 public, IPv4 bind":      {PublicIP: netip.MustParseAddr("2001:db8::1")},
		"multicast bind":              {BindIP: netip.MustParseAddr("224.0.0.1")},
		"unspecified public":          {PublicIP: netip.IPv4Unspecified()},
		"ICE server without URL":      {BindIP: lo, ICEServers: []ICEServer{{Username: "u"}}},
		"invalid ICE network":         {BindIP: lo, ICENetworks: []netip.Prefix{{}}},
		"BindIP outside ICE networks": {BindIP: lo, ICENetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	}
	for name, o := range bad {
		if e, err := NewEngine(o); err == nil {
			e.Close()
			t.Errorf("%s: accepted", name)
		}
	}

	servers := []ICEServer{{URLs: []string{"turn:turn.example.net"}, Username: "u", Credential: "c"}}
	e, err := NewEngine(Options{PublicIP: netip.MustParseAddr("203.0.113.10"), ICEServers: servers})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	o := e.opts
	if o.BindIP != netip.IPv4Unspecified() || o.RTPPortMin != 10000 || o.RTPPortMax != 20000 ||
		o.WebRTCPortMin != 10000 || o.WebRTCPortMax != 20000 || o.RTPTimeout != 30*time.Second ||
		e.announce != netip.MustParseAddr("203.0.113.10") || e.sweepEvery != time.Second {
		t.Fatalf("defaults: %+v announce %v sweep %v", o, e.announce, e.sweepEvery)
	}
	servers[0].URLs[0] = "changed"
	got := e.ICEServers()
	if got[0].URLs[0] != "turn:turn.example.net" || got[0].Credential != "c" {
		t.Fatalf("ICEServers %+v", got)
	}
	got[0].URLs[0] = "changed"
	if e.ICEServers()[0].URLs[0] != "turn:turn.example.net" {
		t.Fatal("ICEServers shares its slices")
	}
}
