package media

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// TestTrunkStreamOneSource: the browser's packets, then the player's (music
// on hold, its own random SSRC, sequence and timestamp), then the
// browser's again leave for the trunk as one stream: the first SSRC
// throughout, the sequence number up by exactly one each packet, the
// timestamp never going back, the marker on the first packet of each
// source's stretch. Before, the trunk saw the player's numbers as they
// were and baresip dropped the audio after the switch
// (TestBaresipSDESHoldResume).
func TestTrunkStreamOneSource(t *testing.T) {
	s := newTrunkSplicer()
	now := int64(time.Hour)
	pkt := make([]byte, 12+160)
	send := func(ssrc uint32, seq uint16, ts uint32) (uint32, uint16, uint32, bool) {
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint16(pkt[2:4], seq)
		binary.BigEndian.PutUint32(pkt[4:8], ts)
		binary.BigEndian.PutUint32(pkt[8:12], ssrc)
		s.splice(pkt, now)
		now += int64(20 * time.Millisecond)
		return binary.BigEndian.Uint32(pkt[8:12]), binary.BigEndian.Uint16(pkt[2:4]), binary.BigEndian.Uint32(pkt[4:8]), pkt[1]&0x80 != 0
	}
	type src struct {
		ssrc uint32
		seq  uint16
		ts   uint32
		n    int
	}
	const browser, player = 0x0b0b0b0b, 0x77777777
	stretches := []src{
		{browser, 65500, 4_000_000_000, 100},                            // wraps the sequence number and the timestamp
		{player, 12, 7, 60},                                             // far behind: a receiver would drop it
		{browser, 65500 + 100 + 5 - 65536, 4_000_000_000 + 105*160, 50}, // the sequence number wrapped
		{player, 40000, 2_000_000_000, 10},
	}
	var lastSeq uint16
	var lastTS uint32
	first := true
	for i, st := range stretches {
		for k := range st.n {
			ssrc, seq, ts, marker := send(st.ssrc, st.seq+uint16(k), st.ts+uint32(k)*160)
			if ssrc != browser {
				t.Fatalf("stretch %d packet %d: SSRC %#x, want the first source's %#x", i, k, ssrc, browser)
			}
			if !first {
				if seq != lastSeq+1 {
					t.Fatalf("stretch %d packet %d: sequence %d after %d", i, k, seq, lastSeq)
				}
				if d := int32(ts - lastTS); d <= 0 {
					t.Fatalf("stretch %d packet %d: timestamp %d after %d", i, k, ts, lastTS)
				}
			}
			if wantMarker := k == 0 && i > 0; marker != wantMarker {
				t.Errorf("stretch %d packet %d: marker %v, want %v", i, k, marker, wantMarker)
			}
			first, lastSeq, lastTS = false, seq, ts
		}
	}
}

// TestSessionDTMFAfterPause: the browser's audio pauses for longer than
// trunkRebaseAfter (a hold: its packets were dropped, its sequence numbers
// moved on) and resumes, re-based by the splicer; a digit sent then takes
// the next sequence numbers of the stream on the wire, with its SSRC. The
// generator's packets used to skip the splicer and jump by the pause.
func TestSessionDTMFAfterPause(t *testing.T) {
	e := newTestEngine(t, nil)
	s, events := newTestSession(t, e)
	b := newTestBrowser(t, false)
	trunk := newTestTrunk(t, "127.0.0.1")
	connect(t, s, events, b)
	if err := s.SetTrunkAnswer(trunk.sdp("0 101", "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")); err != nil {
		t.Fatal(err)
	}
	seq, t0 := uint16(500), time.Now()
	sendAudio := func(int) {
		seq++
		b.send(0, seq, 80000+uint32(time.Since(t0)*8000/time.Second), ulawSamples)
	}
	trunk.recvWhile(sendAudio, func(p []byte) bool { return p[1]&0x7f == 0 })
	time.Sleep(trunkRebaseAfter + 300*time.Millisecond) // the pause is what is tested
	seq += 65                                           // the packets dropped while held
	first := trunk.recvWhile(sendAudio, func(p []byte) bool { return p[1]&0x7f == 0 })
	if err := s.SendDTMF("5"); err != nil {
		t.Fatal(err)
	}
	got := [][]byte{first}
	trunk.recvWhile(func(i int) { sendAudio(i) }, func(p []byte) bool {
		got = append(got, bytes.Clone(p))
		return p[1]&0x7f == 101
	})
	ssrc := binary.BigEndian.Uint32(first[8:12])
	for i := 1; i < len(got); i++ {
		if seqOf(got[i]) != seqOf(got[i-1])+1 || binary.BigEndian.Uint32(got[i][8:12]) != ssrc {
			t.Fatalf("packet %d (PT %d): seq %d SSRC %#x after seq %d, want one stream",
				i, got[i][1]&0x7f, seqOf(got[i]), binary.BigEndian.Uint32(got[i][8:12]), seqOf(got[i-1]))
		}
	}
	ev, audio := got[len(got)-1], got[len(got)-2]
	if d := int32(binary.BigEndian.Uint32(ev[4:8]) - binary.BigEndian.Uint32(audio[4:8])); d < 0 || d > 8000 {
		t.Errorf("the event's timestamp is %d from the last audio's", d)
	}
}
