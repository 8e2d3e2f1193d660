package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/baresiptest"
	"github.com/hubline/hubline/internal/softphone"
)

// The TLS trunk and SDES-SRTP on the trunk leg against baresip (a SIP
// phone we did not write, on libre's TLS and its srtp module) instead of
// the sipgo + pion/srtp peers of sip/tls_test.go and srtp_test.go.

// tlsTrunkYAML is the trunk configuration for baresip's TLS listener: the
// CA the gateway trusts, the server name it checks, and srtp if not empty.
func tlsTrunkYAML(caFile, srtp string) string {
	y := fmt.Sprintf("    transport: tls\n    tls:\n      caFile: %s\n      serverName: trunk.test\n", caFile)
	if srtp != "" {
		y += "    srtp: " + srtp + "\n"
	}
	return y
}

// talkToBaresip is a call from the rep to baresip through the gateway: the
// softphone hears baresip's sine, baresip's recording holds the rep's tone
// (judged on its last two seconds), and the rep hangs up.
func talkToBaresip(t *testing.T, g *gateway, bs *baresiptest.Phone) {
	t.Helper()
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, baresipTone, "baresip's sine at the softphone")
	// Three more seconds of talk, for baresip's recording.
	if f, level := heardTone(t, p, 3*time.Second); f != baresipTone || level < 0.5 {
		t.Errorf("the softphone hears %.0f Hz at %.2f, want baresip's %.0f Hz", f, level, baresipTone)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, id, softphone.StateEnded)
	if err := bs.WaitLog("terminated", 10*time.Second); err != nil {
		t.Log(err)
	}
	f, level := baresipHeard(t, bs)
	if f != repTone || level < 0.5 {
		t.Errorf("baresip heard %.0f Hz at %.2f of the energy, want the rep's %.0f Hz", f, level, repTone)
	}
	t.Logf("baresip heard %.0f Hz at %.2f of the energy", f, level)
}

// baresipHeard is the dominant tone of the last two seconds of baresip's
// decoder recording (what it heard of the call).
func baresipHeard(t *testing.T, bs *baresiptest.Phone) (float64, float64) {
	t.Helper()
	pcm := baresipRecording(t, bs)
	if len(pcm) < 3*audio.SampleRate {
		t.Fatalf("baresip recorded %v of audio", time.Duration(len(pcm))*time.Second/audio.SampleRate)
	}
	return audio.DominantTone(pcm[len(pcm)-2*audio.SampleRate:], toneCandidates)
}

// baresipRecording is baresip's decoder recording: what it heard.
func baresipRecording(t *testing.T, bs *baresiptest.Phone) []int16 {
	t.Helper()
	files, err := bs.Recordings()
	if err != nil {
		t.Fatal(err)
	}
	var heard string
	for _, f := range files {
		if strings.Contains(f, "dec") {
			heard = f
		}
	}
	if heard == "" {
		t.Fatalf("baresip recorded no decoded audio: %v", files)
	}
	fh, err := os.Open(heard)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	pcm, err := audio.ReadWAV(fh)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// TestBaresipTLSTrunk: the trunk is baresip's TLS listener, with a
// certificate for trunk.test from a throwaway CA the trunk's tls.caFile
// names. The rep's call reaches baresip over TLS (its SIP trace shows the
// INVITE arriving on TLS, the gateway logs the verified connection), and
// the audio flows both ways. A second call reuses the connection.
func TestBaresipTLSTrunk(t *testing.T) {
	pki := baresiptest.NewPKI(t, "trunk.test")
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callee, TLSCert: pki.CertFile, SIPTrace: true})
	g := startGateway(t, gwConfig{trunk: bs.TLSAddr, trunkExtra: tlsTrunkYAML(pki.CAFile, "")})
	talkToBaresip(t, g, bs)
	// A second call goes over the same connection.
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, baresipTone, "second call: baresip's sine")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, id, softphone.StateEnded)
	if n := len(g.logsWith("TLS connection to trunk")); n != 1 {
		t.Errorf("the gateway logged %d TLS connections to the trunk, want 1 for both calls", n)
	}
	var from []string
	for _, m := range bs.Trace() {
		if strings.HasPrefix(m.Text, "INVITE ") && bs.IsOurs(m.Dst) {
			from = append(from, m.Src)
		}
	}
	if len(from) != 2 || from[0] != from[1] {
		t.Errorf("the INVITEs came from %v, want two over one connection", from)
	}
	inv, ok := bs.Received("INVITE ")
	if !ok {
		t.Fatal("baresip's SIP trace shows no INVITE")
	}
	if inv.Transport != "TLS" || inv.Dst != bs.TLSAddr || !strings.Contains(inv.Text, "Via: SIP/2.0/TLS ") {
		t.Errorf("the INVITE reached baresip over %s at %s, want TLS at %s:\n%s", inv.Transport, inv.Dst, bs.TLSAddr, inv.Text)
	}
	for _, m := range bs.Trace() {
		if m.Transport != "TLS" {
			t.Errorf("a SIP message went over %s, not TLS:\n%s", m.Transport, m.Text)
		}
	}
}

// TestBaresipTLSUntrustedCA: baresip's certificate is from a CA the
// trunk's tls.caFile does not hold. The call fails with a clear error (the
// softphone's call ends FAILED, the gateway logs the verification error),
// and nothing reaches baresip: no SIP message in its trace, on any
// transport.
func TestBaresipTLSUntrustedCA(t *testing.T) {
	pki := baresiptest.NewPKI(t, "trunk.test")
	other := baresiptest.NewPKI(t, "trunk.test")
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callee, TLSCert: pki.CertFile, SIPTrace: true})
	g := startGateway(t, gwConfig{trunk: bs.TLSAddr, trunkExtra: tlsTrunkYAML(other.CAFile, "")})
	p := newPhone(t, g, nil)
	_, err := p.DialFromHubSpot(ctxFor(t, 10*time.Second), softphone.ContactDial(callee, "US", 501))
	var perr *softphone.Error
	if !errors.As(err, &perr) || perr.Code != softphone.CodeTrunkUnavailable || !strings.Contains(perr.Message, "certificate") {
		t.Errorf("dialling a trunk with an untrusted certificate: %v, want %s saying the certificate is not trusted", err, softphone.CodeTrunkUnavailable)
	}
	t.Logf("the softphone was told: %v", err)
	if !strings.Contains(g.rawLogsText(), "certificate signed by unknown authority") {
		t.Error("the gateway's log does not say the trunk's certificate is untrusted")
	}
	if len(g.logsWith("TLS connection to trunk")) != 0 {
		t.Error("the gateway logged a TLS connection to the untrusted trunk")
	}
	if tr := bs.Trace(); len(tr) != 0 {
		t.Errorf("baresip received %d SIP messages, want none; the first:\n%s", len(tr), tr[0].Text)
	}
	if strings.Contains(bs.Log(), "INVITE") {
		t.Error("an INVITE shows in baresip's log")
	}
}

var (
	savpRE    = regexp.MustCompile(`(?m)^m=audio \d+ RTP/SAVP `)
	avpRE     = regexp.MustCompile(`(?m)^m=audio \d+ RTP/AVP `)
	aCryptoRE = regexp.MustCompile(`(?m)^a=crypto:\d+ (AEAD_AES_128_GCM|AES_CM_128_HMAC_SHA1_80|AES_CM_128_HMAC_SHA1_32) inline:`)
)

// baresipSecure tells whether baresip's srtp module enabled SRTP on the
// call's audio (and with which suite, per its log).
func baresipSecure(bs *baresiptest.Phone) (suite string, ok bool) {
	m := regexp.MustCompile(`srtp: audio: SRTP is Enabled \(cryptosuite=([A-Z0-9_]+)\)`).FindStringSubmatch(bs.Log())
	if m == nil || !strings.Contains(bs.Log(), "mediaenc event 'Secure'") {
		return "", false
	}
	return m[1], true
}

// sdesCall is the gateway's INVITE and baresip's 200 as baresip's trace
// shows them.
func sdesCall(t *testing.T, bs *baresiptest.Phone) (offer, answer string) {
	t.Helper()
	inv, ok := bs.Received("INVITE ")
	if !ok {
		t.Fatal("baresip's SIP trace shows no INVITE")
	}
	ok200, ok := bs.Sent("SIP/2.0 200")
	if !ok {
		t.Fatal("baresip's SIP trace shows no 200")
	}
	return inv.Text, ok200.Text
}

// TestBaresipSDESMandatoryOverTLS: a trunk with srtp: mandatory over TLS
// and baresip's account with mediaenc=srtp-mand. The offer is RTP/SAVP with
// a=crypto, baresip answers in kind with its own key, and the audio goes
// both ways encrypted: the softphone hears baresip's sine (the gateway
// decrypted it), baresip's recording holds the rep's tone (baresip
// decrypted the gateway's).
func TestBaresipSDESMandatoryOverTLS(t *testing.T) {
	pki := baresiptest.NewPKI(t, "trunk.test")
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callee, TLSCert: pki.CertFile,
		SIPTrace: true, MediaEnc: "srtp-mand"})
	g := startGateway(t, gwConfig{trunk: bs.TLSAddr, trunkExtra: tlsTrunkYAML(pki.CAFile, "mandatory")})
	talkToBaresip(t, g, bs)
	offer, answer := sdesCall(t, bs)
	suite, secure := baresipSecure(bs)
	if !secure || !strings.Contains(answer, " "+suite+" ") {
		t.Errorf("baresip did not report SRTP enabled with its answer's suite (%q)", suite)
	}
	t.Logf("baresip's srtp: %s", suite)
	if !savpRE.MatchString(offer) || !aCryptoRE.MatchString(offer) {
		t.Errorf("the offer to an srtp: mandatory trunk:\n%s\nwant RTP/SAVP with a=crypto", offer)
	}
	if !savpRE.MatchString(answer) || !aCryptoRE.MatchString(answer) {
		t.Errorf("baresip's answer:\n%s\nwant RTP/SAVP with a=crypto", answer)
	}
}

// TestBaresipSDESOptional: a trunk with srtp: optional (over TLS) offers
// RTP/AVP with a=crypto. baresip with mediaenc=srtp takes the key and
// answers with its own: audio both ways, encrypted. baresip without
// mediaenc ignores a=crypto and answers plain RTP/AVP: audio both ways,
// in clear.
func TestBaresipSDESOptional(t *testing.T) {
	for _, tc := range []struct {
		name, mediaEnc string
		encrypted      bool
	}{
		{"srtp", "srtp", true},
		{"plain", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := baresiptest.NewPKI(t, "trunk.test")
			bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callee, TLSCert: pki.CertFile,
				SIPTrace: true, MediaEnc: tc.mediaEnc})
			g := startGateway(t, gwConfig{trunk: bs.TLSAddr, trunkExtra: tlsTrunkYAML(pki.CAFile, "optional")})
			talkToBaresip(t, g, bs)
			offer, answer := sdesCall(t, bs)
			if !avpRE.MatchString(offer) || !aCryptoRE.MatchString(offer) {
				t.Errorf("the offer to an srtp: optional trunk:\n%s\nwant RTP/AVP with a=crypto", offer)
			}
			if !avpRE.MatchString(answer) || aCryptoRE.MatchString(answer) != tc.encrypted {
				t.Errorf("baresip's answer:\n%s\nwant RTP/AVP, a=crypto: %v", answer, tc.encrypted)
			}
			if suite, secure := baresipSecure(bs); secure != tc.encrypted {
				t.Errorf("baresip's srtp enabled: %v (%s), want %v", secure, suite, tc.encrypted)
			}
		})
	}
}

// TestBaresipCallsRepSDES: baresip (mediaenc=srtp-mand) calls a rep's DID,
// offering RTP/SAVP with its a=crypto list; the gateway answers in kind
// (one of baresip's suites and tags, its own key) and the audio goes both
// ways encrypted. Over UDP: the gateway has no TLS listener (its TLS is
// for the connections it opens to trunks), so inbound SDES over TLS cannot
// be tested.
func TestBaresipCallsRepSDES(t *testing.T) {
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callerNum, MediaEnc: "srtp-mand", SIPTrace: true})
	g := startGateway(t, gwConfig{trunk: bs.Addr, users: 2, dids: []string{repDID, groupDID}, extra: inboundRouting})
	p := availableRep(t, g, testUser)
	if _, err := bs.Command("dial", "sip:"+repDID+"@"+g.sipAddr()); err != nil {
		t.Fatal(err)
	}
	c := waitIncoming(t, p)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, baresipTone, "the caller's (baresip's) sine at the rep")
	if f, level := heardTone(t, p, 3*time.Second); f != baresipTone || level < 0.5 {
		t.Errorf("the rep hears %.0f Hz at %.2f, want baresip's %.0f Hz", f, level, baresipTone)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, c.CallID, softphone.StateEnded)
	if err := bs.WaitLog("terminated", 10*time.Second); err != nil {
		t.Log(err)
	}
	offer, ok := bs.Sent("INVITE ")
	if !ok {
		t.Fatal("baresip's trace shows no INVITE sent")
	}
	answer, ok := bs.Received("SIP/2.0 200")
	if !ok {
		t.Fatal("baresip's trace shows no 200 received")
	}
	if !savpRE.MatchString(offer.Text) || !aCryptoRE.MatchString(offer.Text) {
		t.Errorf("baresip's offer:\n%s\nwant RTP/SAVP with a=crypto", offer.Text)
	}
	ans := aCryptoRE.FindString(answer.Text)
	if !savpRE.MatchString(answer.Text) || ans == "" || !strings.Contains(offer.Text, ans) {
		t.Errorf("the gateway's answer:\n%s\nwant RTP/SAVP with one of the offer's tag and suite", answer.Text)
	}
	suite, secure := baresipSecure(bs)
	if !secure || !strings.Contains(answer.Text, " "+suite+" ") {
		t.Errorf("baresip did not report SRTP enabled with the answer's suite (%q)", suite)
	}
	t.Logf("offered:\n%s\nanswered: %s; baresip's srtp: %s", strings.Join(aCryptoRE.FindAllString(offer.Text, -1), "\n"), ans, suite)
	f, level := baresipHeard(t, bs)
	if f != repTone || level < 0.5 {
		t.Errorf("baresip heard %.0f Hz at %.2f of the energy, want the rep's %.0f Hz", f, level, repTone)
	}
}

// TestBaresipSDESHoldResume: on a call to baresip the rep holds (music on
// hold plays to baresip) and resumes; with SRTP (mandatory, over TLS) and
// in clear. The re-INVITEs keep RTP/SAVP with a=crypto, and baresip gets
// one RTP stream from start to end: one SSRC, every packet taken (no
// "SSRC changed", no "rtp timestamp wraps backwards -- discard", no
// "failed to decrypt"), n_discard 0. The player used to send music on hold
// with its own random SSRC, sequence and timestamp, and baresip discarded
// the audio after the switch (one-way audio after hold, anchors.md (b):
// jambonz sbc-outbound #123, Janus #3640). After the resume the rep hears
// baresip's sine; baresip's recording (which baresip 1.0 stops at the first
// re-INVITE: its rx pipeline is rebuilt without sndfile) holds the rep's
// tone before the hold.
func TestBaresipSDESHoldResume(t *testing.T) {
	for _, tc := range []struct{ name, mediaEnc, srtp string }{
		{"srtp", "srtp-mand", "mandatory"},
		{"plain", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { baresipHoldResume(t, tc.mediaEnc, tc.srtp) })
	}
}

func baresipHoldResume(t *testing.T, mediaEnc, srtp string) {
	const mohTone = 600.0
	moh := t.TempDir() + "/moh.wav"
	writeUlawWAV(t, moh, mohTone, 2*time.Second)
	pki := baresiptest.NewPKI(t, "trunk.test")
	bs := baresiptest.Start(t, baresiptest.Options{ToneHz: int(baresipTone), User: callee, TLSCert: pki.CertFile,
		SIPTrace: true, MediaEnc: mediaEnc})
	g := startGateway(t, gwConfig{trunk: bs.TLSAddr, trunkExtra: tlsTrunkYAML(pki.CAFile, srtp), musicOnHold: moh})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, baresipTone, "before hold: baresip's sine")
	heardTone(t, p, 3*time.Second) // the rep talks for 3 s
	if err := p.Hold(ctxFor(t, 20*time.Second), id); err != nil {
		t.Fatalf("hold: %v", err)
	}
	// The rep hears nothing while holding: let music on hold play to
	// baresip for 2 s (a length of audio, not a synchronisation).
	time.Sleep(2 * time.Second)
	if err := p.Unhold(ctxFor(t, 20*time.Second), id); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	heardTone(t, p, 300*time.Millisecond) // what was in flight
	expectTone(t, p, baresipTone, "after unhold: baresip's sine")
	heardTone(t, p, 2*time.Second) // the rep talks for 2 s more
	debug, err := bs.Command("audio_debug", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, id, softphone.StateEnded)
	if err := bs.WaitLog("terminated", 10*time.Second); err != nil {
		t.Log(err)
	}
	log := bs.Log()
	for _, bad := range []string{"SSRC changed", "wraps backwards", "failed to decrypt"} {
		if n := strings.Count(log, bad); n > 0 {
			t.Errorf("baresip logged %q %d times", bad, n)
		}
	}
	members := regexp.MustCompile(`member 0x[0-9a-f]+: .*\n.*rcvd=(\d+)`).FindAllStringSubmatch(debug, -1)
	if len(members) != 1 || !strings.Contains(debug, "n_discard:0\n") {
		t.Errorf("baresip's audio_debug: %d RTP sources, want 1, and n_discard:0:\n%s", len(members), debug)
	} else {
		t.Logf("baresip received %s packets from one SSRC", members[0][1])
	}
	if srtp != "" && !strings.Contains(debug, "(secure=yes)") {
		t.Errorf("baresip's audio_debug does not say the media is secure:\n%s", debug)
	}

	var reinvites []string
	for _, m := range bs.Trace() {
		if strings.HasPrefix(m.Text, "INVITE ") && bs.IsOurs(m.Dst) {
			reinvites = append(reinvites, m.Text)
		}
	}
	if len(reinvites) != 3 {
		t.Fatalf("baresip received %d INVITEs, want the call's and two re-INVITEs", len(reinvites))
	}
	for i, dir := range []string{"a=sendonly", "a=sendrecv"} {
		r := reinvites[i+1]
		if srtp != "" && (!savpRE.MatchString(r) || !aCryptoRE.MatchString(r)) || !strings.Contains(r, dir) {
			t.Errorf("re-INVITE %d:\n%s\nwant RTP/SAVP, a=crypto and %s", i+1, r, dir)
		}
	}

	// What baresip heard before the hold.
	if f, level := baresipHeard(t, bs); f != repTone || level < 0.5 {
		t.Errorf("baresip heard %.0f Hz at %.2f of the energy, want the rep's %.0f Hz", f, level, repTone)
	}
}
