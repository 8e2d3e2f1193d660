package media

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"go.uber.org/zap"
)

// TestAnswerDir: the direction table of our answers. A hold (sendonly,
// inactive, c=0.0.0.0) is never answered sendrecv (livekit/sip #779).
func TestAnswerDir(t *testing.T) {
	for _, tt := range []struct {
		offer           direction
		zeroAddr, local bool
		want            direction
	}{
		{dirSendRecv, false, false, dirSendRecv},
		{dirSendOnly, false, false, dirRecvOnly},
		{dirRecvOnly, false, false, dirSendOnly},
		{dirInactive, false, false, dirInactive},
		{dirSendRecv, true, false, dirInactive}, // RFC 2543 hold
		{dirSendOnly, true, false, dirInactive},
		// While the rep holds the call we take nothing from the trunk.
		{dirSendRecv, false, true, dirSendOnly},
		{dirSendOnly, false, true, dirInactive},
		{dirRecvOnly, false, true, dirSendOnly},
		{dirInactive, false, true, dirInactive},
	} {
		if got := answerDir(tt.offer, tt.zeroAddr, tt.local); got != tt.want {
			t.Errorf("answerDir(%s, zeroAddr %v, localHold %v) = %s, want %s", tt.offer, tt.zeroAddr, tt.local, got, tt.want)
		}
	}
}

func parseSDP(t *testing.T, b []byte) *sdp.SessionDescription {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		t.Fatalf("%v in %q", err, b)
	}
	return &sd
}

// TestAnswerTrunkReoffer: the answers keep our port and o= session id with
// the version one up each time; a new address, port and law are applied at
// once; an offer without G.711 is refused and changes nothing.
func TestAnswerTrunkReoffer(t *testing.T) {
	e := newTestEngine(t, nil)
	s, err := e.NewSession(zap.NewNop(), func(Event) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := parseSDP(t, s.TrunkOffer())
	if err := s.SetTrunkAnswer([]byte(trunkSDP("127.0.0.1", 6000, "0", ""))); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		offer  string
		dir    string
		remote string
		law    codec
		holds  bool
	}{
		{trunkSDP("127.0.0.1", 6000, "0", "a=sendonly\r\n"), "recvonly", "127.0.0.1:6000", codecPCMU, true},
		{trunkSDP("127.0.0.1", 6002, "8 0", "a=sendrecv\r\n"), "sendrecv", "127.0.0.1:6002", codecPCMA, false},
		{trunkSDP("0.0.0.0", 6002, "8", ""), "inactive", "0.0.0.0:6002", codecPCMA, true},
		{trunkSDP("127.0.0.2", 7000, "0", "a=inactive\r\n"), "inactive", "127.0.0.2:7000", codecPCMU, true},
		{trunkSDP("127.0.0.2", 7000, "0", "a=recvonly\r\n"), "sendonly", "127.0.0.2:7000", codecPCMU, false},
	} {
		ans, err := s.AnswerTrunkReoffer([]byte(tt.offer))
		if err != nil {
			t.Fatalf("offer %d: %v", i, err)
		}
		sd := parseSDP(t, ans)
		if sd.Origin.SessionID != first.Origin.SessionID || sd.Origin.SessionVersion != uint64(i+2) {
			t.Errorf("offer %d: o= %d %d, want %d %d", i, sd.Origin.SessionID, sd.Origin.SessionVersion, first.Origin.SessionID, i+2)
		}
		if sd.MediaDescriptions[0].MediaName.Port.Value != first.MediaDescriptions[0].MediaName.Port.Value {
			t.Errorf("offer %d: our port moved", i)
		}
		if !strings.Contains(string(ans), "a="+tt.dir+"\r\n") {
			t.Errorf("offer %d: answer %q, want a=%s", i, ans, tt.dir)
		}
		r := s.rules.Load()
		if r.trunk.String() != tt.remote || r.trunkLaw != tt.law {
			t.Errorf("offer %d: rules send to %s in %s, want %s in %s", i, r.trunk, r.trunkLaw, tt.remote, tt.law)
		}
		if s.TrunkHolds() != tt.holds {
			t.Errorf("offer %d: TrunkHolds %v, want %v", i, s.TrunkHolds(), tt.holds)
		}
	}
	before := s.rules.Load()
	if _, err := s.AnswerTrunkReoffer([]byte(trunkSDP("127.0.0.3", 8000, "18", "a=rtpmap:18 G729/8000\r\n"))); err == nil {
		t.Fatal("an offer without G.711 was answered")
	}
	if s.rules.Load() != before {
		t.Error("a refused offer changed the relay")
	}
	// The next answer is still one version up from the last one sent.
	ans, err := s.AnswerTrunkReoffer([]byte(trunkSDP("127.0.0.2", 7000, "0", "")))
	if err != nil {
		t.Fatal(err)
	}
	if v := parseSDP(t, ans).Origin.SessionVersion; v != 7 {
		t.Errorf("version after a refused offer: %d, want 7", v)
	}
}

// TestLocalHold: the rep's hold offers sendonly, and once applied the
// browser's audio stops at the relay while the trunk's address stays.
func TestLocalHold(t *testing.T) {
	e := newTestEngine(t, nil)
	s, err := e.NewSession(zap.NewNop(), func(Event) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetTrunkAnswer([]byte(trunkSDP("127.0.0.1", 6000, "0", ""))); err != nil {
		t.Fatal(err)
	}
	offer, err := s.LocalHoldOffer(true)
	if err != nil || !strings.Contains(string(offer), "a=sendonly\r\n") || strings.Contains(string(offer), "sendrecv") {
		t.Fatalf("hold offer %q, %v", offer, err)
	}
	if s.rules.Load().holdBrowser {
		t.Fatal("the offer alone held the call")
	}
	if err := s.ApplyLocalHold(true, []byte(trunkSDP("127.0.0.1", 6000, "0", "a=recvonly\r\n"))); err != nil {
		t.Fatal(err)
	}
	r := s.rules.Load()
	if !r.holdBrowser || !r.sendTrunk {
		t.Errorf("held: holdBrowser %v sendTrunk %v, want true true (music on hold may play)", r.holdBrowser, r.sendTrunk)
	}
	// A re-offer from the trunk while we hold is answered without recv.
	ans, err := s.AnswerTrunkReoffer([]byte(trunkSDP("127.0.0.1", 6000, "0", "")))
	if err != nil || !strings.Contains(string(ans), "a=sendonly\r\n") {
		t.Errorf("re-offer while held: %q, %v", ans, err)
	}
	resume, _ := s.LocalHoldOffer(false)
	if !strings.Contains(string(resume), "a=sendrecv\r\n") {
		t.Errorf("resume offer %q", resume)
	}
	if err := s.ApplyLocalHold(false, []byte(trunkSDP("127.0.0.1", 6000, "0", ""))); err != nil {
		t.Fatal(err)
	}
	if s.rules.Load().holdBrowser {
		t.Error("resumed, but the browser's audio is still held")
	}
}

// FuzzAnswerTrunkReoffer: whatever the trunk offers, the session answers
// or refuses without panicking; a refusal changes nothing, and an answer
// to a hold never says sendrecv.
func FuzzAnswerTrunkReoffer(f *testing.F) {
	f.Add([]byte(trunkSDP("127.0.0.1", 6000, "0", "a=sendonly\r\n")))
	f.Add([]byte(trunkSDP("0.0.0.0", 6000, "8 0", "")))
	f.Add([]byte(trunkSDP("::1", 6000, "0 101", "a=rtpmap:101 telephone-event/8000\r\na=inactive\r\n")))
	f.Add([]byte("v=0\r\nm=audio 0 RTP/AVP 0\r\n"))
	e := newTestEngine(f, nil)
	s, err := e.NewSession(zap.NewNop(), func(Event) {})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, offer []byte) {
		before := s.rules.Load()
		ans, err := s.AnswerTrunkReoffer(offer)
		if err != nil {
			if s.rules.Load() != before {
				t.Fatal("a refused offer changed the relay")
			}
			return
		}
		o, perr := parseTrunkAnswer(offer)
		if perr != nil {
			t.Fatalf("answered an offer the parser refuses: %v", perr)
		}
		held := o.hold() || o.dir == dirSendOnly || o.dir == dirInactive
		if held && strings.Contains(string(ans), "a=sendrecv") {
			t.Fatalf("a hold (%s, zero address %v) answered sendrecv: %q", o.dir, o.hold(), ans)
		}
	})
}

// TestHoldSuspendsRTPTimeout: while the trunk's re-offer says it sends
// nothing (inactive, recvonly, c=0.0.0.0) the inactivity timeout does not
// fire; once it resumes, silence ends the call again.
func TestHoldSuspendsRTPTimeout(t *testing.T) {
	// The engine's own sweep stays out of it: the test calls the check.
	e := newTestEngine(t, func(o *Options) { o.RTPTimeout = time.Hour })
	events := make(chan Event, 4)
	s, err := e.NewSession(zap.NewNop(), func(ev Event) { events <- ev })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetTrunkAnswer([]byte(trunkSDP("127.0.0.1", 6000, "0", ""))); err != nil {
		t.Fatal(err)
	}
	s.MarkAnswered()
	later := monoNow() + int64(time.Hour)
	for _, held := range []string{"a=inactive\r\n", "a=recvonly\r\n"} {
		if _, err := s.AnswerTrunkReoffer([]byte(trunkSDP("127.0.0.1", 6000, "0", held))); err != nil {
			t.Fatal(err)
		}
		s.checkRTPTimeout(later, time.Second)
	}
	if _, err := s.AnswerTrunkReoffer([]byte(trunkSDP("0.0.0.0", 6000, "0", ""))); err != nil {
		t.Fatal(err)
	}
	s.checkRTPTimeout(later, time.Second)
	select {
	case ev := <-events:
		t.Fatalf("%v while the trunk held the call", ev.Kind)
	default:
	}
	if _, err := s.AnswerTrunkReoffer([]byte(trunkSDP("127.0.0.1", 6000, "0", "a=sendrecv\r\n"))); err != nil {
		t.Fatal(err)
	}
	s.checkRTPTimeout(later, time.Second)
	select {
	case ev := <-events:
		if ev.Kind != EventRTPTimeout {
			t.Fatalf("event %v, want EventRTPTimeout", ev.Kind)
		}
	default:
		t.Fatal("no RTP timeout after the trunk resumed and stayed silent")
	}
}
