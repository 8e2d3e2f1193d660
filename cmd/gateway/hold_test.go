package main

import (
	"encoding/binary"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
)

// movedMedia stands in for the trunk's media endpoint after a re-INVITE
// moved it: a UDP socket of the test that keeps what the gateway sends it
// (PCMA, decoded) and, once the gateway's RTP arrives, answers with a
// 440 Hz PCMA stream of its own SSRC from the same socket.
type movedMedia struct {
	pc   *net.UDPConn
	mu   sync.Mutex
	pcm  []int16
	pts  map[uint8]int
	done chan struct{}
	wg   sync.WaitGroup
}

func newMovedMedia(t *testing.T) *movedMedia {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := &movedMedia{pc: pc, pts: map[uint8]int{}, done: make(chan struct{})}
	peer := make(chan *net.UDPAddr, 1)
	m.wg.Add(2)
	go m.read(peer)
	go m.send(peer)
	t.Cleanup(func() {
		close(m.done)
		pc.Close()
		m.wg.Wait()
	})
	return m
}

func (m *movedMedia) port() int { return m.pc.LocalAddr().(*net.UDPAddr).Port }

func (m *movedMedia) read(peer chan<- *net.UDPAddr) {
	defer m.wg.Done()
	buf := make([]byte, 2048)
	first := true
	for {
		n, from, err := m.pc.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		if first {
			peer <- from
			first = false
		}
		pt := buf[1] & 0x7f
		m.mu.Lock()
		m.pts[pt]++
		if pt == 8 {
			m.pcm = audio.PCMA.Decode(m.pcm, buf[12:n])
		}
		m.mu.Unlock()
	}
}

func (m *movedMedia) send(peer <-chan *net.UDPAddr) {
	defer m.wg.Done()
	var to *net.UDPAddr
	select {
	case to = <-peer:
	case <-m.done:
		return
	}
	tone := audio.NewTone(trunkTone, 0.3)
	pcm := make([]int16, audio.FrameSamples)
	pkt := make([]byte, 12+audio.FrameSamples)
	pkt[0], pkt[1] = 0x80, 8
	binary.BigEndian.PutUint32(pkt[8:], 0x5eed1234) // not SIPp's SSRC
	tick := time.NewTicker(audio.FrameDuration)
	defer tick.Stop()
	for seq, ts := uint16(7), uint32(1000); ; seq, ts = seq+1, ts+audio.FrameSamples {
		select {
		case <-tick.C:
		case <-m.done:
			return
		}
		tone.ReadFrame(pcm)
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		audio.PCMA.Encode(pkt[12:12], pcm)
		if _, err := m.pc.WriteToUDP(pkt, to); err != nil {
			return
		}
	}
}

// heard waits for d of the gateway's audio and returns its dominant tone.
func (m *movedMedia) heard(t *testing.T, d time.Duration) (float64, float64, map[uint8]int) {
	t.Helper()
	want := int(d / audio.FrameDuration * audio.FrameSamples)
	deadline := time.Now().Add(d + 15*time.Second)
	for {
		m.mu.Lock()
		n := len(m.pcm)
		m.mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling a test socket's buffer
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pts := map[uint8]int{}
	for k, v := range m.pts {
		pts[k] = v
	}
	if len(m.pcm) < want {
		t.Fatalf("the moved media endpoint got %d samples, want %d (payload types %v)", len(m.pcm), want, pts)
	}
	f, level := audio.DominantTone(m.pcm[len(m.pcm)-want:], toneCandidates)
	return f, level, pts
}

// TestTrunkReinviteMovesMedia: mid-call the trunk re-INVITEs to move its
// media to another port (a socket of the test) and to switch from PCMU to
// PCMA, with a new SSRC. The rep's 1 kHz tone must reach the NEW port, in
// PCMA, and the new endpoint's 440 Hz tone must reach the rep.
func TestTrunkReinviteMovesMedia(t *testing.T) {
	moved := newMovedMedia(t)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("reinvite_move_media.xml"), RTPEcho: true,
		Vars: map[string]string{"mport": strconv.Itoa(moved.port()), "movems": "1500"}})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	f, level, pts := moved.heard(t, time.Second)
	if f != repTone || level < 0.5 {
		t.Fatalf("the moved endpoint heard %.0f Hz at %.2f, want the rep's %.0f Hz", f, level, repTone)
	}
	if pts[0] != 0 {
		t.Errorf("the gateway sent PCMU (%d packets) after the re-INVITE switched to PCMA", pts[0])
	}
	t.Logf("the rep's tone reached the moved endpoint in PCMA: %.0f Hz at %.2f", f, level)
	expectTone(t, p, trunkTone, "the moved endpoint's tone at the softphone")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp: %v", err)
	}
	if len(g.logsWith("trunk re-offer answered")) == 0 {
		t.Errorf("no re-offer in the gateway's logs")
	}
}

// TestRepHoldsAndResumes: the rep holds the call: SIPp sees a re-INVITE
// with a=sendonly and Contact, and while it holds the rep's audio does not
// reach the trunk and music on hold (440 Hz) does — SIPp echoes it back,
// so the rep hears 440 Hz instead of their own 1 kHz. Unhold: a re-INVITE
// with a=sendrecv, and the rep's own tone comes back again.
func TestRepHoldsAndResumes(t *testing.T) {
	dir := t.TempDir()
	moh := filepath.Join(dir, "moh.wav")
	writeUlawWAV(t, moh, trunkTone, 2*time.Second)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("hold_by_rep.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr, musicOnHold: moh})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, repTone, "before hold: the rep's tone echoed")
	if err := p.Hold(ctxFor(t, 20*time.Second), id); err != nil {
		t.Fatalf("hold: %v", err)
	}
	if c, _ := p.Call(id); !c.Held || c.HeldByRemote {
		t.Errorf("after hold: held %v heldByRemote %v, want true false", c.Held, c.HeldByRemote)
	}
	heardTone(t, p, 300*time.Millisecond) // what was in flight
	expectTone(t, p, trunkTone, "on hold: music on hold echoed, not the rep")
	if err := p.Unhold(ctxFor(t, 20*time.Second), id); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	heardTone(t, p, 300*time.Millisecond)
	expectTone(t, p, repTone, "after unhold: the rep's tone echoed again")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp: %v", err)
	}
	msgs := trunk.Messages()
	if strings.Count(msgs, "INVITE sip:") < 3 {
		t.Errorf("SIPp saw %d INVITEs, want the call's and two re-INVITEs", strings.Count(msgs, "INVITE sip:"))
	}
}

// TestInboundDelayedOffer: the trunk's INVITE has no SDP; our 200 OK
// offers, SIPp answers in the ACK, and the rep's tone comes back.
func TestInboundDelayedOffer(t *testing.T) {
	g := inboundGateway(t)
	p := availableRep(t, g, testUser)
	trunk := callGateway(t, g, "inbound_delayed_offer.xml", map[string]string{"did": repDID, "talk": "5000"}, sipptest.Options{RTPEcho: true})
	c := waitIncoming(t, p)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, repTone, "the rep's tone echoed by a delayed-offer caller")
	ended := waitState(t, p, c.CallID, softphone.StateEnded)
	if ended.EndStatus != "COMPLETED" {
		t.Errorf("ended %+v", ended)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestTrunkHoldsAndResumes: the far end holds the call (re-INVITE
// sendonly: our 200 says recvonly) and resumes it. The softphone is told
// (heldByRemote), the rep's audio is not sent while held (SIPp's echo has
// nothing to echo), and after the resume the echo is back.
func TestTrunkHoldsAndResumes(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("trunk_holds.xml"), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	c, err := p.WaitHeldByRemote(ctxFor(t, 10*time.Second), id, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Held || c.State != softphone.StateAnswered {
		t.Errorf("held by the trunk: %+v", c)
	}
	// A window inside the 1.5 s hold: SIPp echoes what it gets, so
	// nothing (but what was in flight) may come back.
	heard := p.Stats().PacketsReceived
	time.Sleep(500 * time.Millisecond)
	n := p.Stats().PacketsReceived - heard
	if c, _ := p.Call(id); !c.HeldByRemote {
		t.Logf("the hold ended within the window (a loaded machine): %d packets not judged", n)
	} else if n > 10 {
		t.Errorf("%d packets echoed while the trunk held the call: the rep's audio was sent to it", n)
	}
	if _, err := p.WaitHeldByRemote(ctxFor(t, 10*time.Second), id, false); err != nil {
		t.Fatal(err)
	}
	heardTone(t, p, 200*time.Millisecond)
	expectTone(t, p, repTone, "after the trunk resumed: the rep's tone echoed")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp: %v", err)
	}
}

// TestInboundRepHoldsAndResumes: the rep holds an inbound call (our
// re-INVITE to the caller's side, as its UAS: sendonly with Contact; music
// on hold echoed back instead of the rep), then resumes it; the caller's
// side hangs up.
func TestInboundRepHoldsAndResumes(t *testing.T) {
	dir := t.TempDir()
	moh := filepath.Join(dir, "moh.wav")
	writeUlawWAV(t, moh, trunkTone, 2*time.Second)
	g := startGateway(t, gwConfig{trunk: "127.0.0.1:5999", users: 2, dids: []string{repDID, groupDID}, extra: inboundRouting, musicOnHold: moh})
	p := availableRep(t, g, testUser)
	trunk := callGateway(t, g, "inbound_hold.xml", map[string]string{"did": repDID, "talk": "4000"}, sipptest.Options{RTPEcho: true})
	c := waitIncoming(t, p)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, repTone, "before hold")
	if err := p.Hold(ctxFor(t, 20*time.Second), c.CallID); err != nil {
		t.Fatalf("hold: %v", err)
	}
	heardTone(t, p, 300*time.Millisecond)
	expectTone(t, p, trunkTone, "on hold: music on hold echoed, not the rep")
	if err := p.Unhold(ctxFor(t, 20*time.Second), c.CallID); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	heardTone(t, p, 300*time.Millisecond)
	expectTone(t, p, repTone, "after unhold")
	if ended := waitState(t, p, c.CallID, softphone.StateEnded); ended.EndStatus != "COMPLETED" {
		t.Errorf("ended %+v", ended)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestDemoTrunkHold: the built-in demo trunk (make run) answers the rep's
// hold and resume; its echo returns after the resume.
func TestDemoTrunkHold(t *testing.T) {
	g := startGateway(t, gwConfig{demoTrunk: true})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	expectTone(t, p, repTone, "the demo trunk's echo")
	if err := p.Hold(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatalf("hold: %v", err)
	}
	if err := p.Unhold(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	heardTone(t, p, 300*time.Millisecond)
	expectTone(t, p, repTone, "the demo trunk's echo after the resume")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if n := len(g.logsWith("demo trunk answered a re-INVITE")); n != 2 {
		t.Errorf("the demo trunk answered %d re-INVITEs, want 2", n)
	}
}

// TestInboundTrunkHoldsAndResumes: the caller's side of an inbound call
// holds it and resumes: the rep's softphone shows heldByRemote, then not.
func TestInboundTrunkHoldsAndResumes(t *testing.T) {
	g := inboundGateway(t)
	p := availableRep(t, g, testUser)
	trunk := callGateway(t, g, "inbound_trunk_holds.xml", map[string]string{"did": repDID, "talk": "3000"}, sipptest.Options{RTPEcho: true})
	c := waitIncoming(t, p)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitHeldByRemote(ctxFor(t, 15*time.Second), c.CallID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitHeldByRemote(ctxFor(t, 15*time.Second), c.CallID, false); err != nil {
		t.Fatal(err)
	}
	heardTone(t, p, 500*time.Millisecond) // the hold's gap (and what was in flight)
	expectTone(t, p, repTone, "after the caller's side resumed")
	if ended := waitState(t, p, c.CallID, softphone.StateEnded); ended.EndStatus != "COMPLETED" {
		t.Errorf("ended %+v", ended)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
