package demotrunk

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/hubline/hubline/internal/audio"
)

// sdpLines joins SDP lines with CRLF.
func sdpLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

var sdpHead = []string{"v=0", "o=x 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"}

func offerOf(lines ...string) []byte {
	return sdpLines(append(append([]string(nil), sdpHead...), lines...)...)
}

func TestParseOffer(t *testing.T) {
	for _, c := range []struct {
		name     string
		body     []byte
		remote   string
		law      audio.Law
		lawPT    uint8
		eventPT  int // -1: none
		dir      direction
		mediaIdx int
	}{
		{"gateway", offerSDP(20000), "127.0.0.1:20000", audio.PCMU, 0, 101, dirSendRecv, 0},
		{"PCMA first", offerOf("m=audio 4000 RTP/AVP 8 0 96", "a=rtpmap:96 telephone-event/8000"),
			"192.0.2.1:4000", audio.PCMA, 8, 96, dirSendRecv, 0},
		{"dynamic PCMU, no event", offerOf("m=audio 4000 RTP/AVP 18 97", "a=rtpmap:97 pcmu/8000", "a=sendonly"),
			"192.0.2.1:4000", audio.PCMU, 97, -1, dirSendOnly, 0},
		{"media-level c=, session direction", sdpLines("v=0", "o=x 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "a=recvonly",
			"m=video 0 RTP/AVP 96", "m=audio 4002 RTP/AVP 0", "c=IN IP4 198.51.100.7"),
			"198.51.100.7:4002", audio.PCMU, 0, -1, dirRecvOnly, 1},
		{"hold address", offerOf("m=audio 4000 RTP/AVP 0", "c=IN IP4 0.0.0.0"), "0.0.0.0:4000", audio.PCMU, 0, -1, dirSendRecv, 0},
		{"rtpmap at 16 kHz is not G.711", offerOf("m=audio 4000 RTP/AVP 0 8", "a=rtpmap:0 PCMU/16000"),
			"192.0.2.1:4000", audio.PCMA, 8, -1, dirSendRecv, 0},
		{"IPv6", sdpLines("v=0", "o=x 1 1 IN IP6 ::1", "s=-", "c=IN IP6 ::1", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			"[::1]:4000", audio.PCMU, 0, -1, dirSendRecv, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := parseOffer(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if o.remote != netip.MustParseAddrPort(c.remote) || o.law != c.law || o.lawPT != c.lawPT ||
				o.hasEvent != (c.eventPT >= 0) || (o.hasEvent && int(o.eventPT) != c.eventPT) || o.dir != c.dir || o.media != c.mediaIdx {
				t.Errorf("got remote %s %v/%d event %v/%d %v media %d", o.remote, o.law, o.lawPT, o.hasEvent, o.eventPT, o.dir, o.media)
			}
		})
	}
}

func TestParseOfferErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		body []byte
		want error
	}{
		{"not SDP", []byte("hello"), errBadSDP},
		{"no audio", offerOf("m=video 4000 RTP/AVP 96"), errNotAcceptable},
		{"audio rejected", offerOf("m=audio 0 RTP/AVP 0"), errNotAcceptable},
		{"SRTP", offerOf("m=audio 4000 RTP/SAVP 0"), errNotAcceptable},
		{"no G.711", offerOf("m=audio 4000 RTP/AVP 18 101"), errNotAcceptable},
		{"no c=", sdpLines("v=0", "o=x 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"), errBadSDP},
		{"hostname c=", offerOf("m=audio 4000 RTP/AVP 0", "c=IN IP4 pbx.example.com"), errNotAcceptable},
		{"multicast", offerOf("m=audio 4000 RTP/AVP 0", "c=IN IP4 224.2.1.1/127"), errNotAcceptable},
		{"port range", offerOf("m=audio 4000/2 RTP/AVP 0"), errBadSDP},
	} {
		if _, err := parseOffer(c.body); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestBuildAnswer(t *testing.T) {
	o, err := parseOffer(sdpLines("v=0", "o=x 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
		"m=video 5000 RTP/AVP 96 97", "a=rtpmap:96 VP8/90000",
		"m=audio 4000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildAnswer(o, netip.MustParseAddr("127.0.0.1"), 30000, 42)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(sd.MediaDescriptions) != 2 {
		t.Fatalf("answer has %d m= lines, the offer 2:\n%s", len(sd.MediaDescriptions), b)
	}
	if v := sd.MediaDescriptions[0].MediaName; v.Media != "video" || v.Port.Value != 0 {
		t.Errorf("video not rejected: %s", v.String())
	}
	a := sd.MediaDescriptions[1]
	if a.MediaName.Port.Value != 30000 || strings.Join(a.MediaName.Formats, " ") != "8 101" {
		t.Errorf("audio %s", a.MediaName.String())
	}
	for _, want := range []string{"a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=recvonly", "c=IN IP4 127.0.0.1", "o=hubline-demo 42 1 IN IP4 127.0.0.1"} {
		if !strings.Contains(string(b), want+"\r\n") {
			t.Errorf("answer lacks %q:\n%s", want, b)
		}
	}
}

// The offer parser never panics, and whatever it accepts gets an answer
// that parses back to the same choice.
func FuzzParseOffer(f *testing.F) {
	f.Add(offerSDP(20000))
	f.Add(offerOf("m=audio 4000 RTP/AVP 8 0 96", "a=rtpmap:96 telephone-event/8000"))
	f.Add(offerOf("m=video 0 RTP/AVP 96", "m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMA/8000", "a=inactive"))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := parseOffer(body)
		if err != nil {
			if !errors.Is(err, errBadSDP) && !errors.Is(err, errNotAcceptable) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		b, err := buildAnswer(o, netip.MustParseAddr("127.0.0.1"), 30000, 1)
		if err != nil {
			t.Fatalf("no answer to %q: %v", body, err)
		}
		back, err := parseOffer(b)
		if err != nil {
			t.Fatalf("answer does not parse: %v\n%s", err, b)
		}
		if back.law != o.law || back.lawPT != o.lawPT || back.hasEvent != o.hasEvent || back.media != o.media ||
			back.remote != netip.MustParseAddrPort("127.0.0.1:30000") {
			t.Fatalf("answer %+v to offer %+v", back, o)
		}
	})
}
