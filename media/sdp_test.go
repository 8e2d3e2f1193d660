package media

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestBuildTrunkOfferGolden(t *testing.T) {
	for _, tt := range []struct {
		file string
		addr string
	}{
		{"trunk_offer_ipv4.sdp", "203.0.113.10"},
		{"trunk_offer_ipv6.sdp", "2001:db8::10"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			b, err := buildTrunkOffer(netip.MustParseAddr(tt.addr), 10002, 4242, 1)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, b)
			// What we offer, we must understand as an answer.
			ans, err := parseTrunkAnswer(b)
			if err != nil {
				t.Fatal(err)
			}
			if ans.remote != netip.AddrPortFrom(netip.MustParseAddr(tt.addr), 10002) || ans.law != codecPCMU ||
				!ans.hasEvent || ans.eventPT != 101 || !slices.Equal(ans.formats, trunkOfferFormats) {
				t.Errorf("offer parsed back as %+v", ans)
			}
		})
	}
}

const sdpHead = "v=0\r\no=carrier 1 2 IN IP4 198.51.100.7\r\ns=-\r\n"

func TestParseTrunkAnswer(t *testing.T) {
	tests := []struct {
		name    string
		sdp     string
		want    trunkAnswer
		wantErr error // errors.Is target; errAny for any error
	}{
		{
			name: "PCMU and event 101",
			sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\n" +
				"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n",
			want: trunkAnswer{remote: ap("198.51.100.7:30000"), law: codecPCMU, lawPT: 0, eventPT: 101, hasEvent: true,
				formats: []format{{0, codecPCMU}, {101, codecEvent}}},
		},
		{
			name: "PCMA first, static types without rtpmap",
			sdp:  sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 0\r\n",
			want: trunkAnswer{remote: ap("198.51.100.7:30000"), law: codecPCMA, lawPT: 8,
				formats: []format{{8, codecPCMA}, {0, codecPCMU}}},
		},
		{
			name: "telephone-event PT 96, unknown codecs skipped",
			sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 18 8 96 13\r\n" +
				"a=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=rtpmap:13 CN/8000\r\n",
			want: trunkAnswer{remote: ap("198.51.100.7:30000"), law: codecPCMA, lawPT: 8, eventPT: 96, hasEvent: true,
				formats: []format{{8, codecPCMA}, {96, codecEvent}}},
		},
		{
			name: "c= at media level wins",
			sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n" +
				"c=IN IP4 198.51.100.99\r\n",
			want: trunkAnswer{remote: ap("198.51.100.99:30000"), law: codecPCMU, formats: []format{{0, codecPCMU}}},
		},
		{
			name: "c= at media level only",
			sdp:  sdpHead + "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP4 198.51.100.99\r\n",
			want: trunkAnswer{remote: ap("198.51.100.99:30000"), law: codecPCMU, formats: []format{{0, codecPCMU}}},
		},
		{
			name: "IPv6",
			sdp:  "v=0\r\no=- 1 1 IN IP6 2001:db8::7\r\ns=-\r\nc=IN IP6 2001:db8::7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n",
			want: trunkAnswer{remote: ap("[2001:db8::7]:30000"), law: codecPCMU, formats: []format{{0, codecPCMU}}},
		},
		{
			name: "hold with c=0.0.0.0",
			sdp:  sdpHead + "c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=sendonly\r\n",
			want: trunkAnswer{remote: ap("0.0.0.0:30000"), dir: dirSendOnly, law: codecPCMU, formats: []format{{0, codecPCMU}}},
		},
		{
			name: "inactive at session level",
			sdp:  sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\na=inactive\r\nm=audio 30000 RTP/AVP 0\r\n",
			want: trunkAnswer{remote: ap("198.51.100.7:30000"), dir: dirInactive, law: codecPCMU, formats: []format{{0, codecPCMU}}},
		},
		{
			name: "media direction overrides session's",
			sdp:  sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\na=inactive\r\nm=audio 30000 RTP/AVP 0\r\na=recvonly\r\n",
			want: trunkAnswer{remote: ap("198.51.100.7:30000"), dir: dirRecvOnly, law: codecPCMU, formats: []format{{0, codecPCMU}}},
		},
		{
			name: "first audio stream used, video ignored",
			sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=video 0 RTP/AVP 31\r\nm=audio 30000 RTP/AVP 8\r\n" +
				"m=audio 30002 RTP/AVP 0\r\n",
			want: trunkAnswer{remote: ap("198.51.100.7:30000"), law: codecPCMA, lawPT: 8, formats: []format{{8, codecPCMA}}},
		},
		{
			name: "wideband PCMU at a dynamic type is not ours",
			sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 97 0\r\n" +
				"a=rtpmap:97 PCMU/16000\r\n",
			want: trunkAnswer{remote: ap("198.51.100.7:30000"), law: codecPCMU, formats: []format{{0, codecPCMU}}},
		},
		{name: "port 0", sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n", wantErr: errAudioRejected},
		{name: "no common codec", sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 18 9\r\n", wantErr: ErrNoCommonCodec},
		{name: "event only", sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n", wantErr: ErrNoCommonCodec},
		{name: "SRTP", sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/SAVP 0\r\n", wantErr: errAny},
		{name: "no audio", sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=video 30000 RTP/AVP 31\r\n", wantErr: errAny},
		{name: "no c=", sdp: sdpHead + "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\n", wantErr: errAny},
		{name: "hostname in c=", sdp: sdpHead + "c=IN IP4 media.example\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n", wantErr: errAny},
		{name: "IP4 type with IPv6 address", sdp: sdpHead + "c=IN IP4 2001:db8::1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n", wantErr: errAny},
		{name: "multicast", sdp: sdpHead + "c=IN IP4 224.2.1.1/127\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n", wantErr: errAny},
		{name: "port range", sdp: sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000/2 RTP/AVP 0\r\n", wantErr: errAny},
		{name: "not SDP", sdp: "SIP/2.0 200 OK\r\n", wantErr: errAny},
		{name: "empty", sdp: "", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTrunkAnswer([]byte(tt.sdp))
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.remote != tt.want.remote || got.dir != tt.want.dir || got.law != tt.want.law || got.lawPT != tt.want.lawPT ||
				got.hasEvent != tt.want.hasEvent || got.eventPT != tt.want.eventPT || !slices.Equal(got.formats, tt.want.formats) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestTrunkAnswerDirections(t *testing.T) {
	for _, tt := range []struct {
		addr       string
		dir        direction
		sends      bool // we may send
		trunkSends bool // the timeout applies
	}{
		{"198.51.100.7", dirSendRecv, true, true},
		{"198.51.100.7", dirSendOnly, false, true},
		{"198.51.100.7", dirRecvOnly, true, false},
		{"198.51.100.7", dirInactive, false, false},
		{"0.0.0.0", dirSendRecv, false, false},
		{"0.0.0.0", dirSendOnly, false, false},
	} {
		a := trunkAnswer{remote: netip.AddrPortFrom(netip.MustParseAddr(tt.addr), 30000), dir: tt.dir, law: codecPCMU}
		r := buildRules(&a, nil)
		if a.sends() != tt.sends || r.sendTrunk != tt.sends || r.trunkSends != tt.trunkSends {
			t.Errorf("%s %v: sends %v/%v trunkSends %v, want %v %v", tt.addr, tt.dir, a.sends(), r.sendTrunk, r.trunkSends, tt.sends, tt.trunkSends)
		}
	}
}

// chromeOffer is the audio part of a Chrome offer.
const chromeOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\n" +
	"a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n" +
	"a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"

func TestParseBrowserOffer(t *testing.T) {
	tests := []struct {
		name    string
		offer   string
		want    browserOffer
		wantErr error
	}{
		{"Chrome", chromeOffer, browserOffer{law: codecPCMU, hasEvent: true}, nil},
		{"PCMA before PCMU still picks PCMU",
			"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 8 0\r\nc=IN IP4 0.0.0.0\r\n",
			browserOffer{law: codecPCMU}, nil},
		{"PCMA only",
			"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 8\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:8 PCMA/8000\r\n",
			browserOffer{law: codecPCMA}, nil},
		{"opus only",
			"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n",
			browserOffer{}, ErrNoCommonCodec},
		{"rejected audio",
			"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n",
			browserOffer{}, errAny},
		{"data channel only",
			"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n",
			browserOffer{}, errAny},
		{"garbage", "hello", browserOffer{}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBrowserOffer(tt.offer)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseBrowserAnswer(t *testing.T) {
	answer := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 8 126\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:126 telephone-event/8000\r\n"
	got, err := parseBrowserAnswer(answer, codecPCMA)
	if err != nil {
		t.Fatal(err)
	}
	if got.law != codecPCMA || got.lawPT != 8 || !slices.Equal(got.formats, []format{{0, codecPCMU}, {8, codecPCMA}, {126, codecEvent}}) {
		t.Fatalf("got %+v", got)
	}
	noPCMA := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
	if _, err := parseBrowserAnswer(noPCMA, codecPCMA); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("err %v, want ErrNoCommonCodec", err)
	}
}

func FuzzParseTrunkAnswer(f *testing.F) {
	offer, err := buildTrunkOffer(netip.MustParseAddr("203.0.113.10"), 10002, 1, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(offer)
	f.Add([]byte(sdpHead + "c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n"))
	f.Add([]byte(sdpHead + "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP6 ::1\r\na=inactive\r\n"))
	f.Add([]byte(sdpHead + "c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 0/2 RTP/AVP 0 300 -1 x\r\na=rtpmap:0\r\na=rtpmap:x y\r\n"))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ans, err := parseTrunkAnswer(b)
		if err != nil {
			return
		}
		if ans.law != codecPCMU && ans.law != codecPCMA {
			t.Fatalf("accepted without a law: %+v", ans)
		}
		if !ans.remote.Addr().IsValid() || ans.remote.Port() == 0 {
			t.Fatalf("accepted without an address: %+v", ans)
		}
		buildRules(&ans, nil) // must not panic either
	})
}

func FuzzParseBrowserOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 8\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 999\r\na=rtpmap:0 PCMU/8000/1/2\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, offer string) {
		bo, err := parseBrowserOffer(offer)
		if err == nil && bo.law != codecPCMU && bo.law != codecPCMA {
			t.Fatalf("accepted without a law: %+v", bo)
		}
		parseBrowserAnswer(offer, codecPCMU) //nolint:errcheck // must not panic
	})
}
