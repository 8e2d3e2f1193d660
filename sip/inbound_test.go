package sip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// Inbound requests are taken only from trunks' addresses. Loopback has the
// whole of 127.0.0.0/8: the trunks are on 127.0.0.1, strangers on
// 127.0.0.2 and up.

// rawPeer is a bare UDP socket on ip that sends hand-written requests.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	n    int
}

func newRawPeer(t *testing.T, ip string, u *UA) *rawPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { conn.Close() })
	to, _ := net.ResolveUDPAddr("udp4", u.Addr())
	return &rawPeer{t: t, conn: conn, to: to}
}

// send sends a request with method (and a To tag when inDialog); it returns
// its Call-ID.
func (r *rawPeer) send(method string, inDialog bool) string {
	r.t.Helper()
	r.n++
	local := r.conn.LocalAddr().(*net.UDPAddr)
	callID := fmt.Sprintf("raw-%d-%d@%s", r.n, time.Now().UnixNano(), local.IP)
	toTag := ""
	if inDialog {
		toTag = ";tag=nosuchdialog"
	}
	body := ""
	if method == "INVITE" {
		body = string(testSDP)
	}
	msg := fmt.Sprintf("%s sip:+14155550100@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-raw%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:+15550100199@%s>;tag=raw%d\r\n"+
		"To: <sip:+14155550100@%s>%s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 %s\r\n"+
		"Contact: <sip:raw@%s>\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		method, r.to, local, r.n, local.IP, r.n, r.to.IP, toTag, callID, method, local, len(body), body)
	if _, err := r.conn.WriteToUDP([]byte(msg), r.to); err != nil {
		r.t.Fatal(err)
	}
	return callID
}

// response is the next response, "" if none comes within d.
func (r *rawPeer) response(d time.Duration) string {
	r.t.Helper()
	buf := make([]byte, 65536)
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// invites records the inbound INVITEs a UA's OnInvite saw, and answers them.
type invites struct {
	mu   sync.Mutex
	got  []*InboundInvite
	code int
}

func (i *invites) onInvite(in *InboundInvite) {
	i.mu.Lock()
	i.got = append(i.got, in)
	i.mu.Unlock()
	in.Reject(i.code, "Busy Here")
}

func (i *invites) all() []*InboundInvite {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]*InboundInvite(nil), i.got...)
}

func statusLine(res string) string {
	line, _, _ := strings.Cut(res, "\r\n")
	return line
}

func TestUnknownSourcesRejected(t *testing.T) {
	trunk := newPeer(t, "udp", silent)
	inv := &invites{code: 486}
	opts := trusting(trunk)
	opts.UnknownSourceOptions = Answer
	opts.OnInvite = inv.onInvite
	u := newTestUAWith(t, opts)
	stranger := newRawPeer(t, "127.0.0.2", u)
	for _, tt := range []struct {
		method   string
		inDialog bool
		want     string
	}{
		{"INVITE", false, "SIP/2.0 403 Forbidden"},
		{"INVITE", true, "SIP/2.0 403 Forbidden"},
		{"BYE", true, "SIP/2.0 403 Forbidden"},
		{"MESSAGE", false, "SIP/2.0 403 Forbidden"},
		{"SUBSCRIBE", false, "SIP/2.0 403 Forbidden"},
		{"OPTIONS", false, "SIP/2.0 200 OK"},
	} {
		stranger.send(tt.method, tt.inDialog)
		res := stranger.response(wait)
		if statusLine(res) != tt.want {
			t.Errorf("%s (in dialog %v) from a stranger: %q, want %q", tt.method, tt.inDialog, statusLine(res), tt.want)
		}
		if tt.want != "SIP/2.0 200 OK" && (strings.Contains(res, "Server:") || strings.Contains(res, "Allow:")) {
			t.Errorf("the 403 says who we are:\n%s", res)
		}
	}
	if got := inv.all(); len(got) != 0 {
		t.Errorf("OnInvite saw %d INVITEs from a stranger", len(got))
	}

	// From the trunk's address, the INVITE reaches OnInvite.
	own := newRawPeer(t, "127.0.0.1", u)
	callID := own.send("INVITE", false)
	if res := own.response(wait); statusLine(res) != "SIP/2.0 486 Busy Here" {
		t.Errorf("INVITE from the trunk: %q, want OnInvite's 486", statusLine(res))
	}
	got := inv.all()
	if len(got) != 1 || got[0].Trunk != "peer1" || got[0].CallID != callID || got[0].To != "+14155550100" ||
		got[0].From != "+15550100199" || got[0].Source.Addr() != netip.MustParseAddr("127.0.0.1") || len(got[0].SDP) == 0 {
		t.Errorf("OnInvite got %+v", got)
	}
}

func TestUnknownSourcesDropped(t *testing.T) {
	trunk := newPeer(t, "udp", silent)
	inv := &invites{code: 486}
	opts := trusting(trunk)
	opts.UnknownSources, opts.UnknownSourceOptions = Drop, Answer
	opts.OnInvite = inv.onInvite
	u := newTestUAWith(t, opts)
	stranger := newRawPeer(t, "127.0.0.2", u)
	stranger.send("INVITE", false)
	stranger.send("MESSAGE", false)
	stranger.send("BYE", true)
	// The OPTIONS sent last is answered; nothing came for the others.
	stranger.send("OPTIONS", false)
	if res := stranger.response(wait); !strings.HasPrefix(res, "SIP/2.0 200 OK") || !strings.Contains(res, "CSeq: 1 OPTIONS") {
		t.Errorf("first response %q, want the OPTIONS' 200 (the others dropped)", statusLine(res))
	}
	if res := stranger.response(300 * time.Millisecond); res != "" {
		t.Errorf("dropped requests answered: %q", res)
	}
	if got := inv.all(); len(got) != 0 {
		t.Errorf("OnInvite saw %d INVITEs from a stranger", len(got))
	}
	u.Close()

	// OPTIONS follow UnknownSources unless told otherwise.
	opts.UnknownSourceOptions = ""
	u = newTestUAWith(t, opts)
	stranger = newRawPeer(t, "127.0.0.2", u)
	stranger.send("OPTIONS", false)
	if res := stranger.response(300 * time.Millisecond); res != "" {
		t.Errorf("OPTIONS from a stranger answered under drop: %q", res)
	}
}

// InboundAllow admits a network; a trunk given by name is trusted at its
// resolved address; the DID the call is for is found; without OnInvite
// inbound calls get 480.
func TestInboundAllowAndDIDs(t *testing.T) {
	trunk := newPeer(t, "udp", silent)
	_, port, _ := net.SplitHostPort(trunk.addr)
	opts := Options{Trunks: []Trunk{
		{Name: "byname", Address: "localhost:" + port, DIDs: []string{"+14155550100"}},
		{Name: "allowed", Address: "192.0.2.1", InboundAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}},
	}}
	inv := &invites{code: 603}
	opts.OnInvite = inv.onInvite
	u := newTestUAWith(t, opts)
	newRawPeer(t, "127.0.0.3", u).send("INVITE", false)
	newRawPeer(t, "127.0.0.1", u).send("INVITE", false)
	eventually(t, "two inbound INVITEs", func() bool { return len(inv.all()) == 2 })
	byTrunk := map[string]*InboundInvite{}
	for _, in := range inv.all() {
		byTrunk[in.Trunk] = in
	}
	if in := byTrunk["byname"]; in == nil || in.DID != "+14155550100" {
		t.Errorf("from 127.0.0.1: %+v, want trunk byname with its DID", in)
	}
	if in := byTrunk["allowed"]; in == nil || in.DID != "" {
		t.Errorf("from 127.0.0.3: %+v, want trunk allowed, no DID", in)
	}
	u.Close()

	opts.OnInvite = nil
	u = newTestUAWith(t, opts)
	own := newRawPeer(t, "127.0.0.1", u)
	own.send("INVITE", false)
	if res := own.response(wait); statusLine(res) != "SIP/2.0 480 Temporarily Unavailable" {
		t.Errorf("inbound INVITE without OnInvite: %q, want 480", statusLine(res))
	}
}
