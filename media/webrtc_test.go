package media

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// The browser leg: ICE-lite, DTLS and SRTP against pion's PeerConnection
// (session_test.go) and against liteBrowser, on a shared WebRTC port and
// on ports of its own, with one media thread or several.

func TestWebRTCAnswer(t *testing.T) {
	o, err := parseWebRTCOffer(chromeOffer)
	if err != nil {
		t.Fatal(err)
	}
	answer := buildWebRTCAnswer(&o, answerParams{
		sessionID: 7, addr: netip.MustParseAddrPort("203.0.113.10:3478"),
		ufrag: "UFRAG", pwd: "PASSWORD", fingerprint: "AA:BB", ssrc: 1234,
	})
	for _, want := range []string{
		"a=ice-lite\r\n",
		"a=group:BUNDLE 0\r\n",
		// The offer's G.711 and 8 kHz telephone-event, in its order; not
		// opus, G.722, CN or the 48 kHz telephone-event.
		"m=audio 3478 UDP/TLS/RTP/SAVPF 0 8 126\r\n",
		"c=IN IP4 203.0.113.10\r\n",
		"a=candidate:1 1 udp 2130706431 203.0.113.10 3478 typ host\r\n",
		"a=ice-ufrag:UFRAG\r\na=ice-pwd:PASSWORD\r\na=fingerprint:sha-256 AA:BB\r\na=setup:passive\r\n",
		"a=mid:0\r\na=sendrecv\r\n",
		"a=rtcp-mux\r\n",
		"a=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-16\r\n",
		"a=ssrc:1234 cname:hubline\r\n",
	} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %q:\n%s", want, answer)
		}
	}
	// Our own parser reads the answer back.
	bl, err := parseBrowserAnswer(answer, codecPCMU)
	if err != nil || bl.lawPT != 0 || len(bl.formats) != 3 {
		t.Fatalf("answer reads back as %+v, %v", bl, err)
	}

	// A data channel and a video section are rejected, and left out of
	// the BUNDLE group.
	multi := strings.Replace(chromeOffer, "a=group:BUNDLE 0", "a=group:BUNDLE 0 1 2", 1) +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n" +
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n"
	o, err = parseWebRTCOffer(multi)
	if err != nil {
		t.Fatal(err)
	}
	answer = buildWebRTCAnswer(&o, answerParams{addr: netip.MustParseAddrPort("127.0.0.1:9")})
	for _, want := range []string{"a=group:BUNDLE 0\r\n", "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n", "a=mid:1\r\n", "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n", "a=mid:2\r\n"} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %q:\n%s", want, answer)
		}
	}
}

func TestParseWebRTCOfferErrors(t *testing.T) {
	tests := map[string]struct{ from, to string }{
		"no ICE credentials": {"a=ice-ufrag:", "a=x-ufrag:"},
		"no fingerprint":     {"a=fingerprint:", "a=x-fingerprint:"},
		"passive browser":    {"a=setup:actpass", "a=setup:passive"},
		"plain RTP":          {"UDP/TLS/RTP/SAVPF", "RTP/AVP"},
		"opus only":          {"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n", "a=rtpmap:0 X/8000\r\na=rtpmap:8 Y/8000\r\n"},
	}
	for name, tt := range tests {
		if !strings.Contains(chromeOffer, tt.from) {
			t.Fatalf("%s: the offer has no %q", name, tt.from)
		}
		if _, err := parseWebRTCOffer(strings.Replace(chromeOffer, tt.from, tt.to, 1)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseWebRTCOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add(newLiteBrowser(f).offer())
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:a\r\na=ice-pwd:b\r\na=fingerprint:x\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		o, err := parseWebRTCOffer(offer)
		if err != nil {
			return
		}
		if o.law != codecPCMU && o.law != codecPCMA || o.ufrag == "" || len(o.fingerprints) == 0 {
			t.Fatalf("accepted %+v", o)
		}
		buildWebRTCAnswer(&o, answerParams{addr: netip.MustParseAddrPort("127.0.0.1:9")}) // must not panic
	})
}

// connectLite offers from a liteBrowser, answers, does ICE and DTLS, and
// waits for the session's EventBrowserConnected.
func connectLite(t testing.TB, s *Session, events eventLog, b *liteBrowser) string {
	t.Helper()
	answer, err := s.AcceptBrowserOffer(b.offer())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.answer(answer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := b.connect(ctx); err != nil {
		t.Fatal(err)
	}
	events.wait(t, EventBrowserConnected)
	return answer
}

// liteCall is a connected session with a liteBrowser and a trunk socket.
type liteCall struct {
	s       *Session
	events  eventLog
	browser *liteBrowser
	trunk   *testTrunk
	heard   chan []byte // packets the browser received
	answer  string
}

func newLiteCall(t testing.TB, e *Engine) *liteCall {
	t.Helper()
	c := &liteCall{browser: newLiteBrowser(t), trunk: newTestTrunk(t, "127.0.0.1"), heard: make(chan []byte, 64)}
	c.s, c.events = newTestSession(t, e)
	if err := c.s.SetTrunkAnswer(c.trunk.sdp("0", "")); err != nil {
		t.Fatal(err)
	}
	c.browser.onRTP = func(p []byte) {
		select {
		case c.heard <- bytes.Clone(p):
		default:
		}
	}
	c.answer = connectLite(t, c.s, c.events, c.browser)
	return c
}

// exchange proves media flows both ways, with payloads that name the call.
func (c *liteCall) exchange(t testing.TB, tag byte) {
	t.Helper()
	gw := rtpAddr(t, c.s)
	p := c.trunk.recvWhile(func(i int) {
		c.browser.send(rtpPacket(0, uint16(i), uint32(i)*160, 0x42, []byte{tag, 1}))
	}, func(p []byte) bool { return true })
	if got := payloadOf(t, p); !bytes.Equal(got, []byte{tag, 1}) {
		t.Fatalf("trunk got % x, want % x", got, []byte{tag, 1})
	}
	timer := time.NewTimer(testWait)
	defer timer.Stop()
	for i := 0; ; i++ {
		c.trunk.send(gw, rtpPacket(0, uint16(i), uint32(i)*160, 0x99, []byte{tag, 2}))
		select {
		case p := <-c.heard:
			if got := payloadOf(t, p); !bytes.Equal(got, []byte{tag, 2}) {
				t.Fatalf("browser got % x, want % x", got, []byte{tag, 2})
			}
			return
		case <-time.After(20 * time.Millisecond):
		case <-timer.C:
			t.Fatal("nothing reached the browser")
		}
	}
}

// TestSharedWebRTCPort: four calls on two media threads share two WebRTC
// ports (one per thread); each call's media stays its own, and closing
// one leaves the others relaying.
func TestSharedWebRTCPort(t *testing.T) {
	port := freeUDPPort(t)
	for freeUDPPortAt(t, port+1) != nil {
		port = freeUDPPort(t)
	}
	e := newTestEngine(t, func(o *Options) { o.WebRTCPort, o.Threads = port, 2 })
	calls := make([]*liteCall, 4)
	ports := map[uint16]int{}
	for i := range calls {
		calls[i] = newLiteCall(t, e)
		m := candidateRE.FindStringSubmatch(calls[i].answer)
		if m == nil {
			t.Fatalf("no candidate in the answer:\n%s", calls[i].answer)
		}
		ports[calls[i].browser.gw.Port()]++
	}
	if len(ports) != 2 || ports[port] != 2 || ports[port+1] != 2 {
		t.Fatalf("candidate ports %v, want two calls on each of %d and %d", ports, port, port+1)
	}
	for i, c := range calls {
		c.exchange(t, byte(i))
	}
	if err := calls[0].s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range calls[1:] {
		c.exchange(t, byte(10+i))
	}
	for _, c := range calls[1:] {
		c.events.none(t)
	}
}

// freeUDPPortAt returns an error if port is taken.
func freeUDPPortAt(t *testing.T, port uint16) error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err == nil {
		c.Close()
	}
	return err
}

// TestBrowserClosesLeg: the browser closes its PeerConnection (DTLS
// close_notify): EventBrowserFailed, once.
func TestBrowserClosesLeg(t *testing.T) {
	e := newTestEngine(t, func(o *Options) { o.WebRTCPort = freeUDPPort(t) })
	s, events := newTestSession(t, e)
	trunk := newTestTrunk(t, "127.0.0.1")
	if err := s.SetTrunkAnswer(trunk.sdp("0", "")); err != nil {
		t.Fatal(err)
	}
	b := newTestBrowser(t, false)
	connect(t, s, events, b)
	// Media first: the leg drops DTLS after the browser's first packet.
	trunk.recvWhile(func(i int) { b.send(0, uint16(i), uint32(i)*160, []byte{1}) }, func([]byte) bool { return true })
	b.close()
	ev := events.wait(t, EventBrowserFailed)
	if !errors.Is(ev.Err, errBrowserFailed) {
		t.Fatalf("event error %v", ev.Err)
	}
	if s.out.Load() != nil {
		t.Fatal("still relaying to a closed leg")
	}
	events.none(t)
}

// TestBrowserLegTimeouts: a browser that never connects, and one that
// falls silent once connected, fail after the leg timeout.
func TestBrowserLegTimeouts(t *testing.T) {
	e := newTestEngine(t, func(o *Options) { o.RTPTimeout = 80 * time.Millisecond }) // sweep every 10 ms
	e.legTimeout = 150 * time.Millisecond

	s, events := newTestSession(t, e)
	if _, err := s.AcceptBrowserOffer(newLiteBrowser(t).offer()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ev := events.wait(t, EventBrowserFailed)
	if time.Since(start) < e.legTimeout || !strings.Contains(ev.Err.Error(), "not connected") {
		t.Fatalf("after %v: %v", time.Since(start), ev.Err)
	}

	c := newLiteCall(t, e)
	c.exchange(t, 1)
	start = time.Now()
	ev = c.events.wait(t, EventBrowserFailed)
	if time.Since(start) < e.legTimeout/2 || !strings.Contains(ev.Err.Error(), "no ICE consent") {
		t.Fatalf("after %v: %v", time.Since(start), ev.Err)
	}
}

// TestDTLSFingerprintMismatch: a browser whose certificate is not the one
// its offer names does not connect.
func TestDTLSFingerprintMismatch(t *testing.T) {
	e := newTestEngine(t, nil)
	s, events := newTestSession(t, e)
	b := newLiteBrowser(t)
	offer := b.offer()
	other, err := newIdentity()
	if err != nil {
		t.Fatal(err)
	}
	answer, err := s.AcceptBrowserOffer(strings.Replace(offer, b.id.fingerprint, other.fingerprint, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.answer(answer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := b.connect(ctx); err == nil {
		t.Fatal("DTLS succeeded with the wrong certificate")
	}
	ev := events.wait(t, EventBrowserFailed)
	if !strings.Contains(ev.Err.Error(), "fingerprint") {
		t.Fatalf("event error %v", ev.Err)
	}
}

// TestSTUNChecks: the gateway answers only checks signed for one of its
// legs, and maps only their sources.
func TestSTUNChecks(t *testing.T) {
	e := newTestEngine(t, func(o *Options) { o.WebRTCPort = freeUDPPort(t) })
	s, _ := newTestSession(t, e)
	b := newLiteBrowser(t)
	answer, err := s.AcceptBrowserOffer(b.offer())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.answer(answer); err != nil {
		t.Fatal(err)
	}
	check := func(user, pwd string) (*stun.Message, bool) {
		t.Helper()
		req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(user),
			stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.conn.WriteToUDPAddrPort(req.Raw, b.gw); err != nil {
			t.Fatal(err)
		}
		select {
		case raw := <-b.stunIn:
			m := &stun.Message{Raw: raw}
			if err := m.Decode(); err != nil {
				t.Fatal(err)
			}
			return m, true
		case <-time.After(100 * time.Millisecond):
			return nil, false
		}
	}
	sock := s.loop.shared
	for _, bad := range [][2]string{
		{"nosuchufrag:" + b.ufrag, b.gwPwd},     // not our leg
		{b.gwUfrag + ":someoneelse", b.gwPwd},   // not the offer's browser
		{b.gwUfrag + ":" + b.ufrag, "wrongpwd"}, // not signed with the leg's password
	} {
		before := sock.stats.badSTUN.Load()
		if _, ok := check(bad[0], bad[1]); ok {
			t.Fatalf("answered a check as %q with %q", bad[0], bad[1])
		}
		if sock.stats.badSTUN.Load() != before+1 {
			t.Fatalf("check as %q not counted", bad[0])
		}
	}
	resp, ok := check(b.gwUfrag+":"+b.ufrag, b.gwPwd)
	if !ok || resp.Type != stun.BindingSuccess {
		t.Fatalf("no success response: %v", resp)
	}
	var mapped stun.XORMappedAddress
	if err := mapped.GetFrom(resp); err != nil {
		t.Fatal(err)
	}
	if got := (netip.AddrPortFrom(netip.MustParseAddr(mapped.IP.String()), uint16(mapped.Port))); got != b.conn.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("mapped address %v, want %v", got, b.conn.LocalAddr())
	}
	if err := stun.NewShortTermIntegrity(b.gwPwd).Check(resp); err != nil {
		t.Fatalf("response integrity: %v", err)
	}
}

// TestSessionsOnThreads: sessions spread over several media threads set
// up, relay and close; Engine.Close stops the threads.
func TestSessionsOnThreads(t *testing.T) {
	e := newTestEngine(t, func(o *Options) { o.Threads = 3 })
	loops := map[int]bool{}
	for i := range 6 {
		c := newLiteCall(t, e)
		loops[c.s.loop.index] = true
		c.exchange(t, byte(i))
	}
	if len(loops) != 3 {
		t.Fatalf("sessions on loops %v, want all 3", loops)
	}
}
