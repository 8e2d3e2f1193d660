package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// TestSessionDTMFToTrunk: while the browser streams audio, SendDTMF puts
// two digits on the wire to the trunk as RFC 4733 events with the trunk's
// payload type, in one stream with the audio (one SSRC, consecutive
// sequence numbers, no audio during an event); the browser's own
// telephone-event packets reach the trunk with the trunk's payload type.
func TestSessionDTMFToTrunk(t *testing.T) {
	e := newTestEngine(t, nil)
	s, events := newTestSession(t, e)
	b := newTestBrowser(t, false)
	trunk := newTestTrunk(t, "127.0.0.1")
	connect(t, s, events, b)
	if err := s.SendDTMF("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Fatalf("SendDTMF before the trunk's SDP: %v", err)
	}
	if err := s.SetTrunkAnswer(trunk.sdp("0 101", "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")); err != nil {
		t.Fatal(err)
	}
	// The browser's timestamps follow the wall clock, as a real browser's
	// do, whether or not the test's ticks keep up.
	seq, t0 := uint16(500), time.Now()
	var ts uint32
	sendAudio := func(int) {
		seq++
		ts = 80000 + uint32(time.Since(t0)*8000/time.Second)
		b.send(0, seq, ts, ulawSamples)
	}
	// Audio flows first.
	trunk.recvWhile(sendAudio, func(p []byte) bool { return p[1]&0x7f == 0 })

	// The browser's own event (Chrome's PT 126) goes out with PT 101.
	seq++
	b.send(0x80|126, seq, ts, []byte{7, 0x8a, 0x03, 0x20})
	p := trunk.recvWhile(sendAudio, func(p []byte) bool { return p[1]&0x7f == 101 })
	if ev := readEvPkt(t, p); ev.code != 7 || !ev.end || ev.dur != 800 {
		t.Fatalf("browser's event at the trunk: %+v", ev)
	}

	queued := time.Now()
	if err := s.SendDTMF("9#"); err != nil {
		t.Fatal(err)
	}
	if err := s.SendDTMF("12X"); !errors.Is(err, ErrBadDTMF) {
		t.Fatalf("bad digits: %v", err)
	}
	// Record everything the trunk gets while the browser keeps talking,
	// until audio has flowed again for 200 ms after the second digit.
	type rx struct {
		pkt []byte
		at  time.Time
	}
	var got []rx
	audioAfter := 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(testWait)
	endsOf2nd := 0
	for audioAfter < 10 && time.Now().Before(deadline) {
		<-tick.C
		sendAudio(0)
		trunk.conn.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		for {
			n, _, err := trunk.conn.ReadFromUDPAddrPort(trunk.buf)
			if err != nil {
				break
			}
			pkt := bytes.Clone(trunk.buf[:n])
			got = append(got, rx{pkt, time.Now()})
			if pkt[1]&0x7f == 101 && pkt[12] == 11 && pkt[13]&0x80 != 0 {
				endsOf2nd++
			}
			if endsOf2nd == 3 && pkt[1]&0x7f == 0 {
				audioAfter++
			}
		}
	}
	if audioAfter < 10 {
		t.Fatalf("audio did not resume after the digits (%d packets)", len(got))
	}
	// One stream: consecutive sequence numbers, one SSRC.
	ssrc := binary.BigEndian.Uint32(got[0].pkt[8:])
	var evs []evPkt
	firstEv, lastEv := -1, -1
	for i, r := range got {
		if binary.BigEndian.Uint32(r.pkt[8:]) != ssrc {
			t.Fatalf("packet %d: SSRC changed", i)
		}
		if i > 0 && seqOf(r.pkt) != seqOf(got[i-1].pkt)+1 {
			t.Errorf("packet %d: seq %d after %d", i, seqOf(r.pkt), seqOf(got[i-1].pkt))
		}
		if r.pkt[1]&0x7f == 101 {
			evs = append(evs, readEvPkt(t, r.pkt))
			if firstEv < 0 {
				firstEv = i
			}
			lastEv = i
		}
	}
	if len(evs) != 14 {
		t.Fatalf("%d event packets, want 14: %+v", len(evs), evs)
	}
	// No audio during an event: from its first packet to its third end
	// packet. (Audio may come in the gap.)
	var evIdx []int
	for i, r := range got {
		if r.pkt[1]&0x7f == 101 {
			evIdx = append(evIdx, i)
		}
	}
	for d := 0; d < 2; d++ {
		if evIdx[d*7+6]-evIdx[d*7] != 6 {
			t.Errorf("digit %d: %d audio packets during the event", d, evIdx[d*7+6]-evIdx[d*7]-6)
		}
	}
	for i, ev := range evs {
		d := i / 7
		want := []uint8{9, 11}[d]
		if ev.code != want || ev.ts != evs[d*7].ts || ev.marker != (i%7 == 0) || ev.end != (i%7 >= 4) {
			t.Errorf("event packet %d: %+v", i, ev)
		}
	}
	// Timestamps: the event follows the audio before it; the audio after
	// it comes later on the same clock.
	before := binary.BigEndian.Uint32(got[firstEv-1].pkt[4:])
	after := binary.BigEndian.Uint32(got[lastEv+1].pkt[4:])
	if int32(evs[0].ts-before) <= 0 || int32(evs[0].ts-before) > 3*160 || int32(after-(evs[7].ts+800)) < 0 {
		t.Errorf("timestamps: audio %d, events %d and %d, audio %d", before, evs[0].ts, evs[7].ts, after)
	}
	// Paced at 20 ms a tick, not sent in a burst: the last end packet goes
	// out on the 16th tick after SendDTMF (2 × (1 start + 5 tone + 2 more
	// end packets)), and a ticker never fires early. (Upper bound:
	// generous, for a loaded machine.)
	if d := got[lastEv].at.Sub(queued); d < 310*time.Millisecond || d > 3*time.Second {
		t.Errorf("the events took %v, want about 320 ms", d)
	}
}

// TestSessionDTMFFromTrunk: the trunk's events become one EventDTMF per
// digit, however many end packets it sends.
func TestSessionDTMFFromTrunk(t *testing.T) {
	e := newTestEngine(t, nil)
	s, events := newTestSession(t, e)
	trunk := newTestTrunk(t, "127.0.0.1")
	gw := rtpAddr(t, s)
	if err := s.SetTrunkAnswer(trunk.sdp("0 101", "a=rtpmap:101 telephone-event/8000\r\n")); err != nil {
		t.Fatal(err)
	}
	seq := uint16(1)
	for i, code := range []uint8{4, 2, 10} {
		ts := uint32(1000 + 2000*i)
		for dur := uint16(160); dur < 800; dur += 160 {
			trunk.send(gw, eventPacket(seq, ts, code, false, dur))
			seq++
		}
		for range 3 {
			trunk.send(gw, eventPacket(seq, ts, code, true, 800))
			seq++
		}
	}
	// A last digit with one end packet: the event after the three above
	// is this one, so none of them came twice.
	trunk.send(gw, eventPacket(seq, 9000, 11, true, 800))
	var digits []byte
	for range 4 {
		digits = append(digits, events.wait(t, EventDTMF).Digit)
	}
	if string(digits) != "42*#" {
		t.Fatalf("digits %q, want 42*#", digits)
	}
}
