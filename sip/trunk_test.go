package sip

import (
	"bytes"
	"crypto/tls"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

func TestParseTrunk(t *testing.T) {
	ok := Trunk{Name: "t", Address: "sip.example.com"}
	mod := func(f func(*Trunk)) Trunk {
		tr := ok
		f(&tr)
		return tr
	}
	bad := []struct {
		trunk Trunk
		why   string
	}{
		{mod(func(t *Trunk) { t.Address = "" }), "address"},
		{mod(func(t *Trunk) { t.Address = "a b:5060" }), "bad host"},
		{mod(func(t *Trunk) { t.Address = "host:99999" }), "bad port"},
		{mod(func(t *Trunk) { t.Transport = "sctp" }), "transport"},
		{mod(func(t *Trunk) { t.TLS = &tls.Config{} }), "TLS settings on a udp trunk"},
		{mod(func(t *Trunk) { t.Route = []string{"sips:proxy"} }), "sips"},
		{mod(func(t *Trunk) { t.Route = []string{"sip:proxy;transport=sctp"} }), "transport"},
		{mod(func(t *Trunk) { t.FromDomain = "a@b" }), "FromDomain"},
		{mod(func(t *Trunk) { t.CallerID.FromUser = "a b" }), "FromUser"},
		{mod(func(t *Trunk) { t.CallerID.Privacy = "header" }), "Privacy"},
		{mod(func(t *Trunk) { t.Numbers.Style = "national" }), "needs a Region"},
		{mod(func(t *Trunk) { t.Numbers = NumberFormat{Style: "national", Region: "XX"} }), "unknown number region"},
		{mod(func(t *Trunk) { t.Numbers.Style = "tel" }), "number style"},
		{mod(func(t *Trunk) { t.Numbers.DialPrefix = "9;x" }), "dial prefix"},
		{mod(func(t *Trunk) { t.Codecs = []string{"G729"} }), "PCMU and PCMA only"},
		{mod(func(t *Trunk) { t.Codecs = []string{"pcmu", "PCMU"} }), "twice"},
		{mod(func(t *Trunk) { t.DIDs = []string{"4155550100"} }), "DID"},
		{mod(func(t *Trunk) { t.MaxCalls = -1 }), "MaxCalls"},
		{mod(func(t *Trunk) { t.Register.Enabled = true }), "needs a Username"},
		{mod(func(t *Trunk) {
			t.Username, t.Register = "u", Registration{Enabled: true, RetryMin: time.Minute, RetryMax: time.Second}
		}), "RetryMax"},
		{mod(func(t *Trunk) { t.Keepalive.Interval = -time.Second }), "Keepalive"},
		{mod(func(t *Trunk) { t.InboundAllow = []netip.Prefix{{}} }), "InboundAllow"},
	}
	for _, tt := range bad {
		err := CheckTrunk(tt.trunk)
		if err == nil || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("CheckTrunk(%+v) = %v, want an error about %q", tt.trunk, err, tt.why)
		}
	}

	tc, err := parseTrunk(Trunk{
		Name: "full", Address: "[2001:db8::1]:5070", Transport: "TLS", Route: []string{"proxy.example:5080", "sip:p2.example;transport=tcp"},
		CallerID: CallerID{Privacy: "id"}, Codecs: []string{"pcma"},
		Username: "acct", Register: Registration{Enabled: true, Registrar: "reg.example"},
		Keepalive:    Keepalive{Interval: 2 * time.Second},
		InboundAllow: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/24")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tc.host != "2001:db8::1" || tc.port != 5070 || tc.transport != "TLS" || tc.tls.ServerName != "2001:db8::1" ||
		tc.fromDomain != "2001:db8::1" || !tc.callerID.AssertIdentity || !slices.Equal(tc.codecs, []string{"PCMA"}) ||
		tc.register.Expires != time.Hour || tc.register.RetryMin != 2*time.Second || tc.registrar.host != "reg.example" ||
		tc.keepalive.Timeout != 2*time.Second || tc.keepalive.DownAfter != 2 || tc.ring != 60*time.Second ||
		tc.allow[0] != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("parsed %+v", tc)
	}
	if got := []string{tc.routes[0].String(), tc.routes[1].String()}; got[0] != "sip:proxy.example:5080;lr" || got[1] != "sip:p2.example;transport=tcp;lr" {
		t.Errorf("routes %q", got)
	}
	if dest, tp := tc.nextHop(); dest != "proxy.example:5080" || tp != "TLS" {
		t.Errorf("next hop %s over %s, want the first route over the trunk's transport", dest, tp)
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		n      string
		f      NumberFormat
		called bool
		want   string
	}{
		{"+14155550199", NumberFormat{}, true, "+14155550199"},
		{"+14155550199", NumberFormat{Style: "e164-noplus"}, true, "14155550199"},
		{"+14155550199", NumberFormat{Style: "national", Region: "US"}, true, "4155550199"},
		{"+14165550199", NumberFormat{Style: "national", Region: "US"}, false, "4165550199"},
		{"+442079460000", NumberFormat{Style: "national", Region: "GB"}, true, "02079460000"},
		{"+14155550199", NumberFormat{Style: "national", Region: "GB"}, true, "0014155550199"},
		{"+442079460000", NumberFormat{Style: "national", Region: "US"}, true, "011442079460000"},
		{"+14155550199", NumberFormat{Style: "national", Region: "US", DialPrefix: "9"}, true, "94155550199"},
		{"+14155550199", NumberFormat{Style: "national", Region: "US", DialPrefix: "9"}, false, "4155550199"},
		{"+14155550199", NumberFormat{DialPrefix: "1234#"}, true, "1234%23+14155550199"},
	}
	for _, tt := range tests {
		f := tt.f
		if err := checkNumberFormat(&f); err != nil {
			t.Fatal(err)
		}
		got, err := formatNumber(tt.n, f, tt.called)
		if err != nil || got != tt.want {
			t.Errorf("formatNumber(%s, %+v, %v) = %q, %v; want %q", tt.n, tt.f, tt.called, got, err, tt.want)
		}
	}
}

// FuzzFormatNumber: every E.164 number NormalizeNumber accepts can be
// written in every style, as a URI user part of digits (and a leading '+').
func FuzzFormatNumber(f *testing.F) {
	for _, s := range []string{"+14155550199", "+442079460000", "+861012345678", "+79161234567", "+61212345678"} {
		f.Add(s, "GB")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, err := NormalizeNumber(raw, "")
		if err != nil {
			return
		}
		for _, style := range []string{"e164", "e164-noplus", "national"} {
			nf := NumberFormat{Style: style, Region: region, DialPrefix: "9"}
			if checkNumberFormat(&nf) != nil {
				continue
			}
			out, err := formatNumber(n, nf, true)
			if err != nil {
				continue // national formats may not exist for every pair
			}
			if !strings.HasPrefix(out, "9") || strings.Trim(out[1:], "+0123456789") != "" || strings.LastIndex(out, "+") > 1 {
				t.Fatalf("formatNumber(%s, %s, %s) = %q", n, style, nf.Region, out)
			}
			if style != "national" && strings.TrimPrefix(strings.TrimPrefix(out, "9"), "+") != n[1:] {
				t.Fatalf("formatNumber(%s, %s) = %q lost digits", n, style, out)
			}
		}
	})
}

const mediaOffer = "v=0\r\no=hubline 1 1 IN IP4 127.0.0.1\r\ns=hubline\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"

func TestPreferCodecs(t *testing.T) {
	tests := []struct {
		prefs  []string
		mline  string
		absent string
	}{
		{nil, "m=audio 4000 RTP/AVP 0 8 101\r\n", ""},
		{[]string{"PCMA", "PCMU"}, "m=audio 4000 RTP/AVP 8 0 101\r\n", ""},
		{[]string{"PCMA"}, "m=audio 4000 RTP/AVP 8 101\r\n", "a=rtpmap:0 "},
		{[]string{"PCMU"}, "m=audio 4000 RTP/AVP 0 101\r\n", "a=rtpmap:8 "},
	}
	for _, tt := range tests {
		out, err := preferCodecs([]byte(mediaOffer), tt.prefs)
		if err != nil {
			t.Fatalf("%v: %v", tt.prefs, err)
		}
		if !bytes.Contains(out, []byte(tt.mline)) || (tt.absent != "" && bytes.Contains(out, []byte(tt.absent))) ||
			!bytes.Contains(out, []byte("a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")) {
			t.Errorf("%v:\n%s", tt.prefs, out)
		}
	}
	// A video section after the audio one is not touched.
	withVideo := mediaOffer + "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
	out, err := preferCodecs([]byte(withVideo), []string{"PCMA"})
	if err != nil || !bytes.HasSuffix(out, []byte("m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n")) {
		t.Errorf("video section changed: %v\n%s", err, out)
	}
	if _, err := preferCodecs([]byte("v=0\r\nm=audio 4000 RTP/AVP 18\r\n"), []string{"PCMU"}); err == nil {
		t.Error("an offer without the trunk's codecs was accepted")
	}
	if _, err := preferCodecs([]byte("v=0\r\n"), []string{"PCMU"}); err == nil {
		t.Error("an offer without audio was accepted")
	}
}

// FuzzPreferCodecs: never panics; the result keeps only formats of the
// input, the preferred ones first; applying it twice changes nothing.
func FuzzPreferCodecs(f *testing.F) {
	f.Add([]byte(mediaOffer), "PCMA")
	f.Add([]byte("m=audio 1 RTP/AVP 8 0\na=rtpmap:8 pcma/8000\nm=audio 2 RTP/AVP 0\n"), "PCMU,PCMA")
	f.Add([]byte("m=audio 1 RTP/AVP 0 0 13\r\na=rtpmap:"), "PCMU")
	f.Fuzz(func(t *testing.T, sdp []byte, prefList string) {
		prefs := strings.Split(prefList, ",")
		out, err := preferCodecs(sdp, prefs)
		if err != nil {
			return
		}
		formats := func(b []byte) []string {
			for _, l := range bytes.SplitAfter(b, []byte("\n")) {
				if bytes.HasPrefix(l, []byte("m=audio ")) {
					return strings.Fields(string(l))[3:]
				}
			}
			return nil
		}
		in, got := formats(sdp), formats(out)
		if len(got) == 0 {
			t.Fatalf("no formats left:\n%q", out)
		}
		for _, g := range got {
			if !slices.Contains(in, g) {
				t.Fatalf("format %q is not in the input %q", g, in)
			}
		}
		again, err := preferCodecs(out, prefs)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v\n%q\n%q", err, out, again)
		}
	})
}

// FuzzParseRouteURI: a route either fails or is a sip: URI with a host and
// lr, whose string form parses back to the same route.
func FuzzParseRouteURI(f *testing.F) {
	for _, s := range []string{"proxy.example:5060", "sip:proxy.example;lr", "<sip:10.0.0.1:5080;transport=tcp>", "[::1]:5060", "sip:u@h:1;x=y?a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseRouteURI(s)
		if err != nil {
			return
		}
		if u.Scheme != "sip" || !validHost(u.Host) || !u.UriParams.Has("lr") || u.Headers != nil {
			t.Fatalf("parseRouteURI(%q) = %+v", s, u)
		}
		back, err := parseRouteURI(u.String())
		if err != nil || back.String() != u.String() {
			t.Fatalf("%q → %q → %q, %v", s, u.String(), back.String(), err)
		}
	})
}

func TestBackoffAndRefresh(t *testing.T) {
	lo, hi := 2*time.Second, 30*time.Second
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, backoff(n, lo, hi))
	}
	if want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
	for _, tt := range []struct{ granted, want time.Duration }{
		{2 * time.Second, 1500 * time.Millisecond},
		{60 * time.Second, 45 * time.Second},
		{time.Hour, time.Hour - time.Minute},
	} {
		if got := refreshAfter(tt.granted); got != tt.want {
			t.Errorf("refreshAfter(%v) = %v, want %v", tt.granted, got, tt.want)
		}
	}
}

// The INVITE follows the trunk's number format, caller-ID policy, codec
// preference and route set (the peer plays the outbound proxy).
func TestInviteFollowsTrunkPolicy(t *testing.T) {
	u := newTestUA(t)
	p := newPeer(t, "udp", func(p *peer, req *gosip.Request, tx gosip.ServerTransaction) {
		p.respond(req, tx, 480, "Temporarily Unavailable", nil)
	})
	rec := newRecorder()
	tr := Trunk{
		Name: "policy", Address: "trunk.invalid:5099", FromDomain: "sales.example.com",
		Route:    []string{"sip:" + p.addr},
		Numbers:  NumberFormat{Style: "national", Region: "US", DialPrefix: "9"},
		CallerID: CallerID{AssertIdentity: true, Privacy: "id"},
		Codecs:   []string{"PCMA"},
	}
	inv := testInvite()
	inv.SDP = []byte(mediaOffer)
	dial(t, u, tr, inv, rec)
	req := p.expect(gosip.INVITE)
	checks := []struct{ name, got, want string }{
		{"Request-URI", req.Recipient.String(), "sip:95550100100@trunk.invalid:5099"},
		{"Route", header(req, "Route"), "<sip:" + p.addr + ";lr>"},
		{"To", header(req, "To"), "<sip:95550100100@trunk.invalid>"},
		{"From", header(req, "From"), `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=`},
		{"P-Asserted-Identity", header(req, "P-Asserted-Identity"), `"Ann \"Sales\" Lee" <sip:5550100199@sales.example.com>`},
		{"Privacy", header(req, "Privacy"), "id"},
	}
	for _, c := range checks {
		if !strings.HasPrefix(c.got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if body := string(req.Body()); !strings.Contains(body, "m=audio 4000 RTP/AVP 8 101\r\n") || strings.Contains(body, "PCMU") {
		t.Errorf("offer not limited to PCMA:\n%s", body)
	}
	if ev := rec.want(t, EventFailed); ev.Code != 480 || ev.Trunk != "policy" {
		t.Errorf("event %+v, want 480 from trunk policy", ev)
	}
	// From user override, no privacy.
	tr.CallerID = CallerID{FromUser: "acct-77"}
	tr.Numbers = NumberFormat{Style: "e164-noplus"}
	dial(t, u, tr, testInvite(), rec)
	req = p.expect(gosip.INVITE)
	if got := header(req, "From"); !strings.HasPrefix(got, `"Ann \"Sales\" Lee" <sip:acct-77@sales.example.com>;tag=`) ||
		req.Recipient.String() != "sip:15550100100@trunk.invalid:5099" || header(req, "P-Asserted-Identity") != "" {
		t.Errorf("From %q, Request-URI %s, PAI %q", got, req.Recipient.String(), header(req, "P-Asserted-Identity"))
	}
	rec.want(t, EventFailed)
	u.Close()
	rec.none(t)
}
