package media

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

func TestParseCrypto(t *testing.T) {
	c, err := parseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20")
	if err != nil || c.tag != 1 || c.suite.name != "AES_CM_128_HMAC_SHA1_80" || len(c.keySalt) != 30 {
		t.Fatalf("parseCrypto = %+v, %v", c, err)
	}
	if again, err := parseCrypto(c.String()); err != nil || !bytes.Equal(again.keySalt, c.keySalt) {
		t.Fatalf("round trip %q: %v", c.String(), err)
	}
	g := newCrypto(7, sdesSuites[0])
	if len(g.keySalt) != 28 || !strings.HasPrefix(g.String(), "7 AEAD_AES_128_GCM inline:") {
		t.Errorf("GCM crypto %q", g.String())
	}
	for _, bad := range []string{
		"", "1 AES_CM_128_HMAC_SHA1_80", "x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
		"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4",
		"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP",
		"1 AES_CM_128_HMAC_SHA1_80 uri:x",
	} {
		if _, err := parseCrypto(bad); err == nil {
			t.Errorf("parseCrypto(%q) accepted", bad)
		}
	}
}

func FuzzParseCrypto(f *testing.F) {
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20")
	f.Add("2 AEAD_AES_128_GCM inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtx")
	f.Add("1 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:1")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCrypto(s)
		if err != nil {
			return
		}
		kl, sl := suiteLens(c.suite)
		if len(c.keySalt) != kl+sl {
			t.Fatalf("%q: key of %d bytes", s, len(c.keySalt))
		}
		if _, err := newTrunkSRTP(c, c); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	})
}

// srtpPeer is the trunk's side of SDES: it encrypts with its key and
// decrypts with ours.
type srtpPeer struct {
	enc, dec       *srtp.Context
	encHdr, decHdr rtp.Header
	buf            []byte
}

func newSRTPPeer(t testing.TB, own, ours sdesCrypto) *srtpPeer {
	t.Helper()
	// The peer encrypts with its own key and decrypts with ours.
	kl, _ := suiteLens(own.suite)
	enc, err := srtp.CreateContext(own.keySalt[:kl], own.keySalt[kl:], own.suite.profile)
	if err != nil {
		t.Fatal(err)
	}
	kl, _ = suiteLens(ours.suite)
	dec, err := srtp.CreateContext(ours.keySalt[:kl], ours.keySalt[kl:], ours.suite.profile)
	if err != nil {
		t.Fatal(err)
	}
	return &srtpPeer{enc: enc, dec: dec, buf: make([]byte, 0, 1500)}
}

// srtpSession is bareSession with SDES keys: the trunk's answer carried
// a=crypto for the key we offered.
func srtpSession(t testing.TB, suite sdesSuite) (*Session, *captureSink, *srtpPeer) {
	t.Helper()
	s, w := bareSession(t)
	ours := newCrypto(1, suite)
	s.sdes.local = []sdesCrypto{ours}
	theirs := newCrypto(1, suite)
	ans := trunkAnswer{crypto: []sdesCrypto{theirs}, savp: true}
	if err := s.applyAnswerSDES(&ans); err != nil {
		t.Fatal(err)
	}
	return s, w, newSRTPPeer(t, theirs, ours)
}

func TestHandleTrunkSRTP(t *testing.T) {
	for _, suite := range sdesSuites {
		t.Run(suite.name, func(t *testing.T) {
			s, w, peer := srtpSession(t, suite)
			var tr trunkReader
			src := netip.MustParseAddrPort("192.0.2.1:4000")
			now := int64(time.Hour)
			enc, err := peer.enc.EncryptRTP(nil, rtpPacket(0x80|8, 7, 800, 42, []byte{0xd5, 0xaa}), &peer.encHdr)
			if err != nil {
				t.Fatal(err)
			}
			tampered := bytes.Clone(enc)
			tampered[len(tampered)-1] ^= 1
			if err := s.handleTrunk(&tr, tampered, src, now, nil); err != nil || w.n != 0 || s.Stats().DroppedMalformed != 1 {
				t.Fatalf("tampered SRTP: err %v, relayed %d, stats %+v", err, w.n, s.Stats())
			}
			if err := s.handleTrunk(&tr, enc, src, now, nil); err != nil {
				t.Fatal(err)
			}
			if w.n != 1 || w.hdr.PayloadType != 0 || !bytes.Equal(w.payload, []byte{0xfe, 0x80}) {
				t.Fatalf("relayed %d: %+v % x, want the PCMA packet decrypted and converted", w.n, w.hdr, w.payload)
			}

			// Towards the trunk: encrypted in place with our key.
			plain := rtpPacket(8, 9, 960, 77, fill(0xd5, 160))
			buf := make([]byte, len(plain), len(plain)+srtpOverhead)
			copy(buf, plain)
			out, err := s.protectTrunk(buf)
			if err != nil || bytes.Equal(out[12:12+160], plain[12:]) {
				t.Fatalf("protectTrunk: %v, payload in the clear", err)
			}
			got, err := peer.dec.DecryptRTP(nil, out, &peer.decHdr)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("the trunk cannot decrypt our packet: %v", err)
			}
		})
	}
}

// TestAnswerOfferSDES: an inbound offer with a=crypto is answered in kind:
// the offer's transport and tag, the first suite we support, our own key.
func TestAnswerOfferSDES(t *testing.T) {
	offer := trunkSDP("192.0.2.1", 4000, "0", "a=crypto:1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n"+
		"a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n")
	offer = strings.Replace(offer, "RTP/AVP", "RTP/SAVP", 1)
	o, err := parseTrunkAnswer([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := bareSession(t)
	ans, err := s.answerOfferSDES(&o, []byte("v=0\r\nm=audio 5000 RTP/AVP 0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseTrunkAnswer(append([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"), ans[len("v=0\r\n"):]...))
	if err != nil {
		t.Fatalf("our answer %q: %v", ans, err)
	}
	if !a.savp || len(a.crypto) != 1 || a.crypto[0].tag != 3 || a.crypto[0].suite.name != "AES_CM_128_HMAC_SHA1_32" ||
		bytes.Equal(a.crypto[0].keySalt, o.crypto[0].keySalt) {
		t.Errorf("answer %q", ans)
	}
	if s.sdes.ctx.Load() == nil {
		t.Error("no SRTP context after answering an SRTP offer")
	}
	// Plain offers stay plain; RTP/SAVP without a key is refused.
	if _, err := parseTrunkAnswer([]byte(strings.Replace(trunkSDP("192.0.2.1", 4000, "0", ""), "RTP/AVP", "RTP/SAVP", 1))); err == nil {
		t.Error("RTP/SAVP without a=crypto accepted")
	}
}

func TestSRTPTrunkNoAllocs(t *testing.T) {
	s, _, peer := srtpSession(t, offerSuite)
	var tr trunkReader
	src := netip.MustParseAddrPort("192.0.2.1:4000")
	now := int64(time.Hour)
	plain := rtpPacket(8, 1, 160, 9, fill(0xd5, 160))
	enc := make([]byte, 0, 1500)
	var seq uint16
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		plain[2], plain[3] = byte(seq>>8), byte(seq)
		plain[1] = 8
		e, err := peer.enc.EncryptRTP(enc[:0], plain, &peer.encHdr)
		if err != nil {
			t.Fatal(err)
		}
		now += int64(20 * time.Millisecond)
		s.handleTrunk(&tr, e, src, now, nil)
	}); n != 0 && !raceEnabled { // sync.Pool (pion/srtp) drops items under -race
		t.Errorf("SRTP trunk → browser step (with the peer's encryption): %v allocs per packet", n)
	}
	if s.stats.toBrowser.Load() == 0 {
		t.Fatal("nothing relayed")
	}
	buf := make([]byte, len(plain), len(plain)+srtpOverhead)
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		copy(buf, plain)
		buf[1] = 0
		buf[2], buf[3] = byte(seq>>8), byte(seq)
		if _, ok := s.handleBrowser(buf); ok {
			if _, err := s.protectTrunk(buf); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 && !raceEnabled { // sync.Pool (pion/srtp) drops items under -race
		t.Errorf("browser → SRTP trunk step: %v allocs per packet", n)
	}
}

// BenchmarkRelayTrunkToBrowserSRTP is BenchmarkRelayTrunkToBrowser from an
// SDES-SRTP trunk: decrypt in place, then the same step. The trunk's
// encryption of each packet is timed too.
func BenchmarkRelayTrunkToBrowserSRTP(b *testing.B) {
	s, _, peer := srtpSession(b, offerSuite)
	var tr trunkReader
	plain := rtpPacket(8, 1, 160, 9, fill(0xd5, 160))
	enc := make([]byte, 0, 1500)
	src := netip.MustParseAddrPort("192.0.2.1:4000")
	now := int64(time.Hour)
	var seq uint16
	b.ReportAllocs()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		seq++
		plain[1] = 8
		plain[2], plain[3] = byte(seq>>8), byte(seq)
		e, err := peer.enc.EncryptRTP(enc[:0], plain, &peer.encHdr)
		if err != nil {
			b.Fatal(err)
		}
		now += int64(20 * time.Millisecond)
		if err := s.handleTrunk(&tr, e, src, now, nil); err != nil {
			b.Fatal(err)
		}
	}
	if s.stats.toBrowser.Load() == 0 {
		b.Fatal("nothing relayed")
	}
}

// BenchmarkRelayBrowserToTrunkSRTP is BenchmarkRelayBrowserToTrunk to an
// SDES-SRTP trunk: the relay step and the encryption in place.
func BenchmarkRelayBrowserToTrunkSRTP(b *testing.B) {
	s, _, _ := srtpSession(b, offerSuite)
	plain := rtpPacket(0, 1, 160, 9, fill(0xff, 160))
	buf := make([]byte, len(plain), len(plain)+srtpOverhead)
	b.ReportAllocs()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		copy(buf, plain)
		if _, ok := s.handleBrowser(buf); !ok {
			b.Fatal("dropped")
		}
		if _, err := s.protectTrunk(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// sdesKeys gives s SDES keys, as if the trunk answered our a=crypto, and
// returns the trunk's side.
func sdesKeys(t testing.TB, s *Session) *srtpPeer {
	t.Helper()
	ours, theirs := newCrypto(1, offerSuite), newCrypto(1, offerSuite)
	s.sdes.local = []sdesCrypto{ours}
	if err := s.applyAnswerSDES(&trunkAnswer{crypto: []sdesCrypto{theirs}}); err != nil {
		t.Fatal(err)
	}
	return newSRTPPeer(t, theirs, ours)
}

// A new trunk SDP re-keys the leg: the 200 of another fork after an
// early-media 183 (jambonz #133, SRTP after early media), and the same keys
// again with sequence numbers that start over (Janus PR #3640: replay_old
// after a long hold). Both keep the audio flowing.
func TestSRTPRekeyOnNewTrunkSDP(t *testing.T) {
	s, w := bareSession(t)
	ours := newCrypto(1, offerSuite)
	s.sdes.local = []sdesCrypto{ours}
	var tr trunkReader
	src := netip.MustParseAddrPort("192.0.2.1:4000")
	now := int64(time.Hour)
	send := func(peer *srtpPeer, seq uint16) bool {
		t.Helper()
		before := w.n
		enc, err := peer.enc.EncryptRTP(nil, rtpPacket(8, seq, uint32(seq)*160, 42, []byte{0xd5}), &peer.encHdr)
		if err != nil {
			t.Fatal(err)
		}
		now += int64(20 * time.Millisecond)
		if err := s.handleTrunk(&tr, enc, src, now, nil); err != nil {
			t.Fatal(err)
		}
		return w.n > before
	}
	answer := func(c sdesCrypto) *srtpPeer {
		t.Helper()
		if err := s.applyAnswerSDES(&trunkAnswer{crypto: []sdesCrypto{c}}); err != nil {
			t.Fatal(err)
		}
		return newSRTPPeer(t, c, ours)
	}
	early := newCrypto(1, offerSuite)
	p183 := answer(early)
	for seq := uint16(1000); seq < 1010; seq++ {
		if !send(p183, seq) {
			t.Fatalf("early media packet %d dropped", seq)
		}
	}
	// Another fork answers with its own key.
	p200 := answer(newCrypto(1, offerSuite))
	if send(p183, 1010) {
		t.Error("a packet with the 183's key was accepted after the 200 changed the key")
	}
	if !send(p200, 5) {
		t.Fatal("the answering fork's first packet was dropped")
	}
	for seq := uint16(6); seq < 2000; seq++ {
		send(p200, seq)
	}
	// The same keys again (a resume after hold), sequence numbers restarted
	// by a fresh sender.
	same := s.sdes.ctx.Load().remote
	pResume := answer(same)
	if !send(pResume, 3) {
		t.Error("after a new SDP with the same keys, a restarted sequence number was dropped as a replay")
	}
}

// Our offer's keys: GCM first (tag 1), AES_CM_128_HMAC_SHA1_80 (tag 2);
// the trunk may answer either, and the leg uses that one.
func TestTrunkCryptoOffer(t *testing.T) {
	s, _ := bareSession(t)
	vals := s.TrunkCrypto()
	if len(vals) != 2 || !strings.HasPrefix(vals[0], "1 AEAD_AES_128_GCM inline:") ||
		!strings.HasPrefix(vals[1], "2 AES_CM_128_HMAC_SHA1_80 inline:") {
		t.Fatalf("TrunkCrypto = %q", vals)
	}
	if again := s.TrunkCrypto(); again[0] != vals[0] || again[1] != vals[1] {
		t.Error("the keys changed between calls")
	}
	for i, v := range vals {
		ours, err := parseCrypto(v)
		if err != nil {
			t.Fatal(err)
		}
		theirs := newCrypto(ours.tag, ours.suite)
		if err := s.applyAnswerSDES(&trunkAnswer{crypto: []sdesCrypto{theirs}}); err != nil {
			t.Fatalf("answer to key %d: %v", i, err)
		}
		if got := s.sdes.ctx.Load(); got == nil || got.local.suite != ours.suite {
			t.Fatalf("answer to key %d: context %+v", i, got)
		}
	}
	wrong := newCrypto(1, sdesSuites[2]) // tag 1 with another suite
	if err := s.applyAnswerSDES(&trunkAnswer{crypto: []sdesCrypto{wrong}}); err == nil {
		t.Error("an answer matching none of our keys was accepted")
	}
}
