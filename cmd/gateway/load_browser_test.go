package main

import (
	"strings"
	"testing"
)

// Chromium through the shared WebRTC port (media.webrtcPort, one port for
// every browser leg, with two media threads), the configuration
// docs/performance.md measures: the whole click-to-call scenario, audio
// both ways.
func TestBrowserSharedWebRTCPort(t *testing.T) {
	requireBrowser(t)
	yaml := gwConfig{demoTrunk: true}.yaml()
	if !strings.Contains(yaml, "  webrtcPorts: 33000-33999\n") {
		t.Fatalf("the test config's media section changed:\n%s", yaml)
	}
	yaml = strings.Replace(yaml, "  webrtcPorts: 33000-33999\n", "  webrtcPort: 33000\n  threads: 2\n", 1)
	g := startGatewayWith(t, yaml)
	r := runBrowser(t, browserRun{scenario: "call", g: g})
	for _, p := range r.Problems {
		t.Errorf("host simulator flagged: %s (%s)", p.Text, p.Type)
	}
	if got, want := strings.Join(r.types("in"), ","), "INITIALIZED,LOGGED_IN,OUTGOING_CALL_STARTED,CALL_ANSWERED,CALL_ENDED,CALL_COMPLETED"; got != want {
		t.Errorf("app → HubSpot: %s\nwant %s", got, want)
	}
	if s := r.first(t, "in", "CALL_ENDED").Data["callEndStatus"]; s != "COMPLETED" {
		t.Errorf("callEndStatus %v", s)
	}
	ready := g.logsWith("media engine ready")
	if len(ready) != 1 || ready[0]["webrtcPort"] != "33000-33001" {
		t.Errorf("media engine ready: %v", ready)
	}
	// Chromium takes the profile the gateway prefers.
	for _, m := range g.logsWith("browser leg connected") {
		if m["srtp"] != "SRTP_AEAD_AES_128_GCM" {
			t.Errorf("browser leg connected with %v", m["srtp"])
		}
	}
	if len(g.logsWith("browser leg connected")) == 0 {
		t.Error("no browser leg connected")
	}
}
