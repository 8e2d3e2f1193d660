package sip

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

func TestWithCrypto(t *testing.T) {
	offer := []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\nm=video 0 RTP/AVP 31\r\n")
	const key = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
	got, err := withCrypto(offer, SRTPMandatory, []string{key})
	want := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=crypto:" + key + "\r\nm=video 0 RTP/AVP 31\r\n"
	if err != nil || string(got) != want {
		t.Errorf("mandatory:\n%q, %v\nwant\n%q", got, err, want)
	}
	got, err = withCrypto(offer[:strings.Index(string(offer), "m=video")], SRTPOptional, []string{key})
	if err != nil || !strings.HasSuffix(string(got), "m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=crypto:"+key+"\r\n") {
		t.Errorf("optional: %q, %v", got, err)
	}
	if got, err := withCrypto(offer, SRTPOff, nil); err != nil || string(got) != string(offer) {
		t.Errorf("off changed the offer: %q, %v", got, err)
	}
	if _, err := withCrypto(offer, SRTPOptional, nil); err == nil {
		t.Error("an SRTP trunk without a key was accepted")
	}
}

func TestSRTPMode(t *testing.T) {
	base := Trunk{Name: "t", Address: "127.0.0.1:5060"}
	for _, tt := range []struct {
		transport, srtp string
		ok              bool
	}{
		{"udp", "", true}, {"udp", "off", true}, {"udp", "optional", true}, {"tls", "mandatory", true},
		{"udp", "mandatory", false}, {"tcp", "mandatory", false}, {"tls", "sometimes", false},
	} {
		tr := base
		tr.Transport, tr.SRTP = tt.transport, tt.srtp
		err := CheckTrunk(tr)
		if (err == nil) != tt.ok {
			t.Errorf("%s with srtp %q: %v, want ok %v", tt.transport, tt.srtp, err, tt.ok)
		}
		if err != nil && tt.srtp == "mandatory" && !strings.Contains(err.Error(), "needs transport tls") {
			t.Errorf("unclear error: %v", err)
		}
	}
}

// FuzzWithCrypto: the offer rewriting never panics, and the key always
// lands in the result when it succeeds.
func FuzzWithCrypto(f *testing.F) {
	f.Add("v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", true)
	f.Add("m=audio 1 RTP/AVP 0\nm=video 2 RTP/AVP 31", false)
	f.Add("m=audio ", true)
	f.Fuzz(func(t *testing.T, offer string, mandatory bool) {
		mode := SRTPOptional
		if mandatory {
			mode = SRTPMandatory
		}
		out, err := withCrypto([]byte(offer), mode, []string{"1 X inline:k"})
		if err == nil && !hasCrypto(out) {
			t.Fatalf("%q: no a=crypto in %q", offer, out)
		}
	})
}

// A trunk with srtp: mandatory (TLS) gets RTP/SAVP with the key; an answer
// with a=crypto is taken, one without is hung up at once (ACK, BYE,
// EventFailed 488).
func TestSRTPMandatoryTrunk(t *testing.T) {
	const key = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
	srtpAnswer := []byte(strings.Replace(string(answerSDP), "RTP/AVP 0", "RTP/SAVP 0", 1) + "a=crypto:" + key + "\r\n")
	for _, tt := range []struct {
		name   string
		answer []byte
		ok     bool
	}{
		{"answer with a=crypto", srtpAnswer, true},
		{"answer without a=crypto", answerSDP, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t, "hubline test CA")
			p := tlsPeer(t, ca, func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
				p.respond(req, tx, 200, "OK", tt.answer)
			})
			u := newTestUA(t)
			rec := newRecorder()
			tr := Trunk{Name: "tls", Address: p.addr, Transport: "tls", SRTP: SRTPMandatory,
				TLS: &tls.Config{RootCAs: ca.Pool, ServerName: "trunk.test"}}
			inv := testInvite()
			inv.Crypto = []string{key}
			c := dial(t, u, tr, inv, rec)
			offer := string(p.expect(gosip.INVITE).Body())
			if !strings.Contains(offer, "m=audio 4000 RTP/SAVP 0 8\r\n") || !strings.Contains(offer, "a=crypto:"+key+"\r\n") {
				t.Errorf("offer to a mandatory-SRTP trunk:\n%s", offer)
			}
			p.expect(gosip.ACK)
			if tt.ok {
				rec.answered(t)
				c.Hangup(context.Background())
				p.expect(gosip.BYE)
				rec.want(t, EventEnded)
			} else {
				p.expect(gosip.BYE)
				if ev := rec.want(t, EventFailed); ev.Code != 488 || ev.Err != nil {
					t.Errorf("event %+v, want EventFailed 488", ev)
				}
			}
			u.Close()
			rec.none(t)
		})
	}
}
