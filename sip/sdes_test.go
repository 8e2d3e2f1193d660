package sip

import (
	"strings"
	"testing"
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
