package media

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/audio"
)

// toneUlaw is d of a freq Hz tone, G.711 µ-law.
func toneUlaw(freq float64, d time.Duration) []byte {
	pcm := make([]int16, int(d/time.Millisecond)*8)
	audio.NewTone(freq, 0.5).ReadFrame(pcm)
	return audio.PCMU.Encode(nil, pcm)
}

// dominant returns the strongest of candidates in enc (in law).
func dominant(law audio.Law, enc []byte, candidates ...float64) float64 {
	f, _ := audio.DominantTone(law.Decode(nil, enc), candidates)
	return f
}

func TestAnswerTrunkOfferDirections(t *testing.T) {
	e := newTestEngine(t, nil)
	for _, tc := range []struct{ offer, answer string }{
		{"", "a=sendrecv"},
		{"a=sendonly\r\n", "a=recvonly"},
		{"a=recvonly\r\n", "a=sendonly"},
		{"a=inactive\r\n", "a=inactive"},
	} {
		s, _ := newTestSession(t, e)
		offer := trunkSDP("127.0.0.1", 40000, "9 8 0 96", "a=rtpmap:96 telephone-event/8000\r\n"+tc.offer)
		ans, err := s.AnswerTrunkOffer([]byte(offer))
		if err != nil {
			t.Fatal(err)
		}
		a := string(ans)
		// PCMA is the first of ours in the offer; the offer's event PT is kept.
		if !strings.Contains(a, "RTP/AVP 8 96\r\n") || !strings.Contains(a, "a=rtpmap:8 PCMA/8000") ||
			!strings.Contains(a, "a=rtpmap:96 telephone-event/8000") || !strings.Contains(a, tc.answer+"\r\n") {
			t.Errorf("offer %q: answer\n%s", tc.offer, a)
		}
		if !strings.Contains(a, "c=IN IP4 127.0.0.1") {
			t.Errorf("answer without our address:\n%s", a)
		}
	}
	// An INVITE that starts on hold (RFC 2543 c=0.0.0.0) is answered
	// inactive, never sendrecv (livekit/sip #779).
	s, _ := newTestSession(t, e)
	if ans, err := s.AnswerTrunkOffer([]byte(trunkSDP("0.0.0.0", 40000, "0", ""))); err != nil || !strings.Contains(string(ans), "a=inactive\r\n") {
		t.Errorf("c=0.0.0.0 offer: %v, answer\n%s", err, ans)
	}
	s, _ = newTestSession(t, e)
	if _, err := s.AnswerTrunkOffer([]byte(trunkSDP("127.0.0.1", 40000, "18", ""))); err == nil {
		t.Error("an offer without G.711 was answered")
	}
	if _, err := s.AnswerTrunkOffer([]byte("not sdp")); err == nil {
		t.Error("garbage was answered")
	}
}

// TestPlayAndRecord: the trunk (offering PCMA) hears what Play sends, in
// its law and payload type, and the session records the trunk's audio as
// µ-law.
func TestPlayAndRecord(t *testing.T) {
	e := newTestEngine(t, nil)
	s, _ := newTestSession(t, e)
	tt := newTestTrunk(t, "127.0.0.1")
	if _, err := s.AnswerTrunkOffer(tt.sdp("8 101", "a=rtpmap:101 telephone-event/8000\r\n")); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	s.Play(toneUlaw(1000, 400*time.Millisecond), false, func() { close(done) })
	var heard []byte
	first := true
	tt.conn.SetReadDeadline(time.Now().Add(testWait))
	for len(heard) < 3200 {
		n, _, err := tt.conn.ReadFromUDPAddrPort(tt.buf)
		if err != nil {
			t.Fatalf("the trunk heard %d bytes of the play: %v", len(heard), err)
		}
		p := tt.buf[:n]
		if p[1]&0x7f != 8 {
			t.Fatalf("payload type %d, want the offer's PCMA 8", p[1]&0x7f)
		}
		if first && p[1]&0x80 == 0 {
			t.Error("the first packet has no marker")
		}
		first = false
		heard = append(heard, payloadOf(t, p)...)
	}
	if f := dominant(audio.PCMA, heard, 440, 1000, 2000); f != 1000 {
		t.Errorf("the trunk heard %v Hz, want the played 1000 Hz", f)
	}
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatal("done was not called at the end of the play")
	}

	// A looped play runs until StopPlay, and nothing is sent after it.
	s.Play(toneUlaw(1000, 100*time.Millisecond), true, nil)
	time.Sleep(300 * time.Millisecond)
	s.StopPlay()
	tt.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		if _, _, err := tt.conn.ReadFromUDPAddrPort(tt.buf); err != nil {
			break // drained what was sent before StopPlay
		}
	}
	tt.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := tt.conn.ReadFromUDPAddrPort(tt.buf); err == nil {
		t.Errorf("the trunk got %d bytes after StopPlay", n)
	}

	// Recording: the trunk sends a 440 Hz tone in PCMA.
	s.Record(time.Second)
	tone := audio.PCMA.Encode(nil, func() []int16 {
		pcm := make([]int16, 8000)
		audio.NewTone(440, 0.5).ReadFrame(pcm)
		return pcm
	}())
	to := rtpAddr(t, s)
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 8
	for i := 0; i < 60; i++ { // 1.2 s: more than Record keeps
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
		copy(pkt[12:], tone[(i%50)*160:])
		tt.send(to, pkt)
		time.Sleep(2 * time.Millisecond)
	}
	deadline := time.Now().Add(testWait)
	var rec []byte
	for time.Now().Before(deadline) {
		if rec = s.Recording(); len(rec) == 8000 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(rec) != 8000 {
		t.Fatalf("recorded %d bytes, want 8000 (1 s, the limit)", len(rec))
	}
	if f := dominant(audio.PCMU, rec, 440, 1000); f != 440 {
		t.Errorf("the recording's tone is %v Hz, want 440", f)
	}
	if bytes.Equal(rec[:160], tone[:160]) {
		t.Error("the recording is A-law; want µ-law")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Play(toneUlaw(1000, time.Second), true, nil) // after Close: nothing, no leak
}
