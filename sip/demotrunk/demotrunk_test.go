package demotrunk

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/hubline/hubline/internal/audio"
)

// The ring → answer → echo → BYE path over UDP, checked end to end: 183
// with SDP before 200, ringback tone as early media, a 1 kHz tone echoed
// back on the same stream, BYE frees the call.
func TestCallRingsAnswersAndEchoes(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, logs := startDemo(t, Options{RingDelay: 800 * time.Millisecond})
	peer := newRTPPeer(t)

	o := u.invite(s, "+14155550100", offerSDP(peer.port()))
	early := o.expect(sip.StatusSessionInProgress)
	if ct := early.ContentType(); ct == nil || ct.Value() != "application/sdp" || len(early.Body()) == 0 {
		t.Fatalf("183 without SDP:\n%s", early)
	}
	rtpAddr := answerAddr(t, early.Body(), "0 101")

	// Ringback: 10 frames (200 ms) of 425 Hz, from the answer's address,
	// before the 200 (RingDelay is 800 ms).
	var stream []rtp.Packet
	var ring []int16
	for range 10 {
		in := peer.read()
		if in.from != rtpAddr {
			t.Fatalf("ringback from %s, answer says %s", in.from, rtpAddr)
		}
		if in.pkt.PayloadType != 0 || len(in.pkt.Payload) != audio.FrameSamples {
			t.Fatalf("ringback packet PT %d, %d bytes", in.pkt.PayloadType, len(in.pkt.Payload))
		}
		stream = append(stream, in.pkt)
		ring = audio.PCMU.Decode(ring, in.pkt.Payload)
	}
	// (sipgo's UAC may pass a 100 up after the 183: it handles each
	// response in its own goroutine.)
	for pending := true; pending; {
		select {
		case res := <-o.tx.Responses():
			if res.StatusCode != sip.StatusTrying {
				t.Fatalf("%s before the ringback was heard", res.StartLine())
			}
		default:
			pending = false
		}
	}
	if f, level := audio.DominantTone(ring, []float64{350, 425, 440, 480, 1000}); f != 425 || level < 0.9 {
		t.Errorf("ringback: dominant %v Hz at level %.2f, want 425 Hz", f, level)
	}

	ok := o.expect(sip.StatusOK)
	if got := answerAddr(t, ok.Body(), "0 101"); got != rtpAddr {
		t.Errorf("200 SDP has RTP at %s, 183 at %s", got, rtpAddr)
	}
	if !bytes.Equal(ok.Body(), early.Body()) {
		t.Errorf("200 SDP differs from the 183's")
	}
	o.ackAndWait(s, ok)

	// Echo: 25 frames of a 1 kHz tone come back, on the same stream.
	tone := audio.NewTone(1000, 0.5)
	pcm := make([]int16, audio.FrameSamples)
	h := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 40000, Timestamp: 123456, SSRC: 0xCAFE}
	const frames = 25
	var sent [][]byte
	for range frames {
		tone.ReadFrame(pcm)
		payload := audio.PCMU.Encode(nil, pcm)
		sent = append(sent, payload)
		peer.send(rtpAddr, h, payload)
		h.SequenceNumber++
		h.Timestamp += audio.FrameSamples
	}
	var echo []int16
	for echoed := 0; echoed < frames; {
		in := peer.read()
		if in.from != rtpAddr {
			t.Fatalf("RTP from %s, answer says %s", in.from, rtpAddr)
		}
		stream = append(stream, in.pkt)
		if bytes.Equal(in.pkt.Payload, sent[echoed]) {
			echo = audio.PCMU.Decode(echo, in.pkt.Payload)
			echoed++
		} else if echoed > 0 {
			t.Fatalf("echo packet %d: payload is not what was sent", echoed)
		}
	}
	if f, level := audio.DominantTone(echo, []float64{425, 440, 1000}); f != 1000 || level < 0.9 {
		t.Errorf("echo: dominant %v Hz at level %.2f, want 1000 Hz", f, level)
	}
	checkOneStream(t, stream)

	c := callOf(t, s, o)
	if code := o.bye(); code != sip.StatusOK {
		t.Fatalf("BYE: %d", code)
	}
	select {
	case <-c.done:
	default:
		t.Error("BYE answered before the call was torn down")
	}
	if n := s.activeCalls(); n != 0 {
		t.Errorf("%d calls after BYE", n)
	}

	// Every line about the call carries its Call-ID.
	id := o.req.CallID().Value()
	n := 0
	for _, e := range logs.All() {
		if e.LoggerName != "" {
			continue // sipgo's own lines
		}
		if v, ok := e.ContextMap()["callID"]; ok {
			if v != id {
				t.Errorf("log %q has callID %v, want %s", e.Message, v, id)
			}
			n++
		} else if e.Message != "demo trunk started" && e.Message != "demo trunk closed" {
			t.Errorf("log %q has no callID", e.Message)
		}
	}
	if n < 3 {
		t.Errorf("only %d log lines about the call", n)
	}
}

// checkOneStream checks that packets are one RTP stream: one SSRC,
// consecutive sequence numbers, timestamps that only go forward, and the
// marker where the echo takes over from the ringback.
func checkOneStream(t *testing.T, pkts []rtp.Packet) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		p, q := pkts[i-1].Header, pkts[i].Header
		if q.SSRC != p.SSRC {
			t.Fatalf("packet %d: SSRC %#x after %#x", i, q.SSRC, p.SSRC)
		}
		if q.SequenceNumber != p.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, q.SequenceNumber, p.SequenceNumber)
		}
		if d := int32(q.Timestamp - p.Timestamp); d < audio.FrameSamples {
			t.Fatalf("packet %d: timestamp %d after %d", i, q.Timestamp, p.Timestamp)
		}
	}
}

// The same call over TCP: responses, ACK and BYE on the caller's
// connection.
func TestCallOverTCP(t *testing.T) {
	t.Parallel()
	u := newUAC(t, true)
	s, _ := startDemo(t, Options{RingDelay: 50 * time.Millisecond})
	peer := newRTPPeer(t)

	o := u.invite(s, "5550100", offerSDP(peer.port()))
	o.expect(sip.StatusSessionInProgress)
	ok := o.expect(sip.StatusOK)
	if uri := ok.Contact().Address; uri.UriParams == nil || !uri.UriParams.Has("transport") {
		t.Errorf("Contact %s has no transport=tcp", uri.String())
	}
	o.ackAndWait(s, ok)
	rtpAddr := answerAddr(t, ok.Body(), "0 101")
	peer.send(rtpAddr, rtp.Header{Version: 2, SequenceNumber: 1, Timestamp: 1, SSRC: 1}, bytes.Repeat([]byte{0x55}, 160))
	for {
		if in := peer.read(); in.pkt.Payload[0] == 0x55 {
			break
		}
	}
	if code := o.bye(); code != sip.StatusOK {
		t.Fatalf("BYE: %d", code)
	}
}

// Numbers ending in 0486 and 0404 are refused at once, without ringing.
func TestRefusedNumbers(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, _ := startDemo(t, Options{})
	for _, c := range []struct {
		number string
		want   int
	}{
		{"+14155550486", sip.StatusBusyHere},
		{"0404", sip.StatusNotFound},
	} {
		o := u.invite(s, c.number, offerSDP(40000))
		if res := o.next(); res.StatusCode != c.want {
			t.Errorf("%s: got %s, want %d", c.number, res.StartLine(), c.want)
		}
	}
	if n := s.activeCalls(); n != 0 {
		t.Errorf("%d calls", n)
	}
}

// A number ending in 0408 rings (180, no SDP) until the caller CANCELs:
// 200 to the CANCEL, 487 to the INVITE, and the call is gone.
func TestNoAnswerThenCancel(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, _ := startDemo(t, Options{RingDelay: 50 * time.Millisecond})
	o := u.invite(s, "4155550408", offerSDP(40000))
	ringing := o.expect(sip.StatusRinging)
	if len(ringing.Body()) != 0 {
		t.Errorf("180 has a body")
	}
	c := callOf(t, s, o)
	if code := o.cancel(); code != sip.StatusOK {
		t.Fatalf("CANCEL: %d", code)
	}
	if res := o.next(); res.StatusCode != sip.StatusRequestTerminated {
		t.Fatalf("INVITE after CANCEL: %s", res.StartLine())
	}
	waitDone(t, c)
	if n := s.activeCalls(); n != 0 {
		t.Errorf("%d calls", n)
	}
}

// RTP from anyone but the address in the offer is not echoed.
func TestStrangerRTPNotEchoed(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, _ := startDemo(t, Options{RingDelay: 50 * time.Millisecond})
	peer, stranger := newRTPPeer(t), newRTPPeer(t)
	o := u.invite(s, "5550100", offerSDP(peer.port()))
	o.expect(sip.StatusSessionInProgress)
	ok := o.expect(sip.StatusOK)
	o.ackAndWait(s, ok)
	rtpAddr := answerAddr(t, ok.Body(), "0 101")

	// The stranger's packet goes first; had it been echoed, its echo
	// would reach the peer before the peer's own.
	h := rtp.Header{Version: 2, SequenceNumber: 7, Timestamp: 7, SSRC: 7}
	stranger.send(rtpAddr, h, bytes.Repeat([]byte{0x11}, 160))
	peer.send(rtpAddr, h, bytes.Repeat([]byte{0x22}, 160))
	for {
		in := peer.read()
		if in.pkt.Payload[0] == 0x11 {
			t.Fatal("the stranger's RTP was echoed")
		}
		if in.pkt.Payload[0] == 0x22 {
			break
		}
	}
	select {
	case in := <-stranger.packets:
		t.Fatalf("the stranger got RTP: %v", in.pkt.Header)
	default:
	}
	if code := o.bye(); code != sip.StatusOK {
		t.Fatalf("BYE: %d", code)
	}
}

// BYE and CANCEL for dialogs the demo trunk does not know get 481;
// OPTIONS gets 200; other methods 405.
func TestOutOfDialogRequests(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, _ := startDemo(t, Options{})
	target := sip.Uri{Scheme: "sip", User: "demo", Host: "127.0.0.1", Port: int(s.addr.Port())}
	for _, c := range []struct {
		method sip.RequestMethod
		want   int
	}{
		{sip.BYE, sip.StatusCallTransactionDoesNotExists},
		{sip.CANCEL, sip.StatusCallTransactionDoesNotExists},
		{sip.OPTIONS, sip.StatusOK},
		{sip.MESSAGE, sip.StatusMethodNotAllowed},
	} {
		req := sip.NewRequest(c.method, target)
		if c.method == sip.BYE {
			to := &sip.ToHeader{Address: target, Params: sip.NewParams()}
			to.Params.Add("tag", "nosuchtag")
			req.AppendHeader(to)
		}
		if got := u.do(req); got != c.want {
			t.Errorf("%s: %d, want %d", c.method, got, c.want)
		}
	}
}

// Close hangs up: BYE to the answered call, 503 to the ringing one.
func TestCloseHangsUp(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, _ := startDemo(t, Options{RingDelay: 50 * time.Millisecond})
	peer := newRTPPeer(t)
	answered := u.invite(s, "5550100", offerSDP(peer.port()))
	answered.expect(sip.StatusSessionInProgress)
	answered.ackAndWait(s, answered.expect(sip.StatusOK))
	ringing := u.invite(s, "5550408", offerSDP(peer.port()))
	ringing.expect(sip.StatusRinging)

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	bye := u.expectBye()
	if bye.CallID().Value() != answered.req.CallID().Value() {
		t.Errorf("BYE for %s", bye.CallID().Value())
	}
	if tag, _ := bye.From().Params.Get("tag"); tag == "" {
		t.Error("BYE without From tag")
	}
	if res := ringing.next(); res.StatusCode != sip.StatusServiceUnavailable {
		t.Errorf("ringing call on Close: %s", res.StartLine())
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case err := <-closed:
		if err != nil {
			t.Error(err)
		}
	case <-timer.C:
		t.Fatal("Close did not return")
	}
	if n := s.activeCalls(); n != 0 {
		t.Errorf("%d calls after Close", n)
	}
}

// An answered call whose caller sends no RTP is hung up, over UDP and
// over the caller's TCP connection.
func TestIdleCallerHungUp(t *testing.T) {
	t.Parallel()
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "udp", true: "tcp"}[tcp], func(t *testing.T) {
			t.Parallel()
			u := newUAC(t, tcp)
			s, _ := startDemo(t, Options{RingDelay: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
			peer := newRTPPeer(t)
			o := u.invite(s, "5550100", offerSDP(peer.port()))
			o.expect(sip.StatusSessionInProgress)
			o.ackAndWait(s, o.expect(sip.StatusOK))
			c := callOf(t, s, o)
			start := time.Now()
			bye := u.expectBye()
			if bye.CallID().Value() != o.req.CallID().Value() {
				t.Errorf("BYE for %s", bye.CallID().Value())
			}
			waitDone(t, c)
			if d := time.Since(start); d < 250*time.Millisecond {
				t.Errorf("hung up after %v, IdleTimeout is 300ms", d)
			}
		})
	}
}

// MaxCalls: one call more gets 503.
func TestMaxCalls(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, _ := startDemo(t, Options{MaxCalls: 1})
	first := u.invite(s, "5550408", offerSDP(40000))
	first.expect(sip.StatusRinging)
	second := u.invite(s, "5550100", offerSDP(40002))
	if res := second.next(); res.StatusCode != sip.StatusServiceUnavailable {
		t.Errorf("second call: %s", res.StartLine())
	}
	if code := first.cancel(); code != sip.StatusOK {
		t.Fatalf("CANCEL: %d", code)
	}
	first.expect(sip.StatusRequestTerminated)
}

// INVITEs the demo trunk cannot answer.
func TestBadOffers(t *testing.T) {
	t.Parallel()
	u := newUAC(t, false)
	s, _ := startDemo(t, Options{})
	g729 := bytes.ReplaceAll(offerSDP(40000), []byte("RTP/AVP 0 8 101"), []byte("RTP/AVP 18"))
	for _, c := range []struct {
		name string
		body []byte
		want int
	}{
		{"no SDP", nil, sip.StatusNotAcceptableHere},
		{"no G.711", g729, sip.StatusNotAcceptableHere},
		{"not SDP", []byte("hello"), sip.StatusBadRequest},
	} {
		if res := u.invite(s, "5550100", c.body).next(); res.StatusCode != c.want {
			t.Errorf("%s: %s, want %d", c.name, res.StartLine(), c.want)
		}
	}
}

func TestStartOptions(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:5070", "example.com:5070", "[::]:0"} {
		if s, err := Start(Options{ListenAddr: addr}); !errors.Is(err, ErrNotLoopback) {
			s.Close()
			t.Errorf("Start(%q): %v, want ErrNotLoopback", addr, err)
		}
	}
	if _, err := Start(Options{ListenAddr: "127.0.0.1:0", RingDelay: -time.Second}); err == nil {
		t.Error("negative RingDelay accepted")
	}
	s, err := Start(Options{ListenAddr: "localhost:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := netip.MustParseAddrPort(s.Addr())
	if !a.Addr().IsLoopback() || a.Port() == 0 {
		t.Errorf("Addr() = %s", s.Addr())
	}
	if s.ringDelay != DefaultRingDelay || s.idleTimeout != DefaultIdleTimeout || s.maxCalls != DefaultMaxCalls {
		t.Errorf("defaults: %v %v %v", s.ringDelay, s.idleTimeout, s.maxCalls)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Error(err)
	}
	if s6, err := Start(Options{ListenAddr: "[::1]:0"}); err == nil {
		if a := netip.MustParseAddrPort(s6.Addr()); a.Addr() != netip.IPv6Loopback() {
			t.Errorf("Addr() = %s", s6.Addr())
		}
		s6.Close()
	} else if !errors.Is(err, ErrNotLoopback) {
		t.Logf("no IPv6 loopback here: %v", err)
	} else {
		t.Error(err)
	}
}
