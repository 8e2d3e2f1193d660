package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
	"github.com/hubline/hubline/sip"
)

// Trunk management end to end: several trunks in the YAML, failover that
// HubSpot never notices, registration visible in /healthz and undone on
// SIGTERM, and requests from strangers refused.

// withTrunks is c's configuration with its trunks replaced by trunksYAML,
// a YAML list indented by two spaces.
func withTrunks(t *testing.T, c gwConfig, trunksYAML string) string {
	t.Helper()
	head, _, ok := strings.Cut(c.yaml(), "trunks:\n")
	if !ok {
		t.Fatal("gwConfig.yaml() has no trunks")
	}
	return head + "trunks:\n" + trunksYAML
}

type health struct {
	Status string            `json:"status"`
	Calls  int               `json:"calls"`
	Trunks []sip.TrunkStatus `json:"trunks"`
}

func healthOf(t *testing.T, g *gateway) health {
	t.Helper()
	res, err := http.Get("http://" + g.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var h health
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// sipAddr is the gateway's SIP listening address, from its log.
func sipAddr(t *testing.T, g *gateway) string {
	t.Helper()
	for _, m := range g.logsWith("sip user agent listening") {
		if a, ok := m["addr"].(string); ok {
			return a
		}
	}
	t.Fatal("no SIP address in the gateway's log")
	return ""
}

func TestTrunksEndToEnd(t *testing.T) {
	a := sipptest.Start(t, sipptest.Options{Scenario: scenario("unavailable.xml")})
	b := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_echo.xml"), RTPEcho: true})
	reg := sipptest.Start(t, sipptest.Options{Scenario: scenario("registrar.xml"), Vars: map[string]string{"password": trunkPass}})
	yml := withTrunks(t, gwConfig{trunk: "unused"}, fmt.Sprintf(`  - name: a
    address: %s
  - name: b
    address: %s
    maxCalls: 4
  - name: registered
    address: %s
    username: %s
    passwordEnv: HUBLINE_TEST_TRUNK_PASSWORD
    fromDomain: registrar.test
    register: {enabled: true, expires: 10m}
`, a.Addr, b.Addr, reg.Addr, trunkUser))
	g := startGatewayWith(t, yml, "HUBLINE_TEST_TRUNK_PASSWORD="+trunkPass)

	// Registration shows in /healthz (polled).
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var h health
	for {
		h = healthOf(t, g)
		if len(h.Trunks) == 3 && h.Trunks[2].Registration != nil && h.Trunks[2].Registration.State == sip.RegRegistered {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("not registered within 10s: %+v", h.Trunks)
		case <-tick.C:
		}
	}
	if h.Status != "ok" || h.Trunks[0].Name != "a" || !h.Trunks[0].Up || h.Trunks[1].MaxCalls != 4 ||
		time.Until(h.Trunks[2].Registration.Expires) < 9*time.Minute {
		t.Errorf("/healthz: %+v", h)
	}

	// A stranger's INVITE is refused before anything is set up for it.
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	to, _ := net.ResolveUDPAddr("udp4", sipAddr(t, g))
	local := stranger.LocalAddr().String()
	invite := "INVITE sip:+14155550100@" + to.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-e2e\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:scanner@" + local + ">;tag=e2e\r\nTo: <sip:+14155550100@" + to.String() + ">\r\n" +
		"Call-ID: e2e-stranger\r\nCSeq: 1 INVITE\r\nContact: <sip:scanner@" + local + ">\r\nContent-Length: 0\r\n\r\n"
	if _, err := stranger.WriteToUDP([]byte(invite), to); err != nil {
		t.Fatal(err)
	}
	_ = stranger.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := stranger.ReadFromUDP(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 403 Forbidden\r\n") {
		t.Errorf("stranger's INVITE: %q, %v; want 403", buf[:n], err)
	}

	// Trunk a answers 503: the call moves to b with the same Call-ID, and
	// HubSpot sees one call.
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, repTone, "the echo through trunk b")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "connected", "failover"); err != nil {
		t.Fatal(err)
	}
	checkCallEvents(t, p, id, true, "COMPLETED")
	for name, s := range map[string]*sipptest.Peer{"a": a, "b": b} {
		if err := s.Wait(10 * time.Second); err != nil {
			t.Fatalf("trunk %s: %v", name, err)
		}
		if !strings.Contains(s.Messages(), "Call-ID: "+id) {
			t.Errorf("trunk %s never saw Call-ID %s (the externalCallId)", name, id)
		}
	}
	if len(g.logsWith("trunk failed the call; trying the next trunk")) != 1 {
		t.Errorf("the failover is not in the gateway's log")
	}

	// SIGTERM unregisters.
	if err := g.terminate(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := reg.Wait(10 * time.Second); err != nil {
		t.Fatalf("registrar: %v", err)
	}
}

func TestTrunksConfig(t *testing.T) {
	users := "auth: {users: [{username: a, passwordHash: h, fromNumber: '+14155550100'}]}\n"
	cfg, err := parseConfig([]byte(users + `trunks:
  - {name: a, address: "10.0.0.1", transport: tls, tls: {serverName: sip.example}, outboundProxy: "proxy.example:5080",
     numberFormat: national, numberRegion: gb, dialPrefix: "9", codecs: [PCMA], dids: ["+442079460000"], maxCalls: 3,
     callerID: {assertIdentity: true, privacy: id}, keepalive: {interval: 30s}, inboundAllow: [10.0.0.0/24, 10.1.0.1]}
  - {address: "10.0.0.2:5070"}
sip: {unknownSources: drop, unknownSourceOptions: answer}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Trunks) != 2 || cfg.Trunks[1].Name != "trunk2" {
		t.Fatalf("trunks %+v", cfg.Trunks)
	}
	st, err := sipTrunk(cfg.Trunks[0], time.Minute, func(string) string { return "" }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.TLS == nil || st.TLS.ServerName != "sip.example" || st.Route[0] != "proxy.example:5080" || st.Numbers.Style != "national" ||
		st.MaxCalls != 3 || len(st.InboundAllow) != 2 || st.InboundAllow[1].String() != "10.1.0.1/32" || st.RingTimeout != time.Minute {
		t.Errorf("sip.Trunk %+v", st)
	}
	// The single-trunk shorthand still works.
	cfg, err = parseConfig([]byte(users + "trunk: {name: solo, address: 10.0.0.9}\n"))
	if err != nil || len(cfg.Trunks) != 1 || cfg.Trunks[0].Name != "solo" {
		t.Errorf("shorthand: %v %+v", err, cfg)
	}

	for _, tc := range []struct{ yaml, want string }{
		{"trunk: {address: x}\ntrunks: [{address: y}]\n", "use one of them"},
		{"trunks: [{name: a, address: x}, {name: a, address: y}]\n", `trunks[1].name "a": used twice`},
		{"trunks: [{address: x, tls: {caFile: ca.pem}}]\n", "trunks[0].tls: only for transport tls"},
		{"trunks: [{address: x, codecs: [G729]}]\n", "trunks[0]: trunk \"trunk1\": codec \"G729\""},
		{"trunks: [{address: x, numberFormat: national}]\n", "needs a Region"},
		{"trunks: [{address: x, inboundAllow: [nonsense]}]\n", `trunks[0].inboundAllow "nonsense"`},
		{"trunks: [{address: x, register: {enabled: true}}]\n", "registration needs a Username"},
		{"trunks: [{address: x}]\nsip: {unknownSources: ignore}\n", `sip.unknownSources "ignore"`},
		{"trunks: []\n", "at least one trunk"},
		{"trunks: [{address: x, srtp: mandatory}]\n", "srtp: mandatory needs transport tls"},
		{"trunks: [{address: x, srtp: sometimes}]\n", `srtp "sometimes"`},
		{"trunks: [{address: x, minSE: 30s}]\n", "MinSE 30s is below 1m30s"},
		{"trunks: [{address: x, sessionExpires: 60s}]\n", "SessionExpires 1m0s is below MinSE 1m30s"},
		{"trunks: [{address: x}]\ncalls: {maxDuration: -1s}\n", "calls.maxDuration"},
	} {
		_, err := parseConfig([]byte(users + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.yaml, err, tc.want)
		}
	}
}

// The Kubernetes manifest's config parses.
func TestK8sConfigParses(t *testing.T) {
	b := mustRead(t, "../../deploy/k8s/gateway.yaml")
	_, rest, ok := strings.Cut(string(b), "gateway.yaml: |\n")
	if !ok {
		t.Fatal("no gateway.yaml in the ConfigMap")
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		if l != "" && !strings.HasPrefix(l, "    ") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	cfg, err := parseConfig([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Trunks) == 0 {
		t.Error("the manifest configures no trunk")
	}
}
