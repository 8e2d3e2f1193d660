package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
	g := startGatewayWithYAML(t, yaml)
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

// startGatewayWithYAML is startGateway with a config of the test's own.
func startGatewayWithYAML(t *testing.T, yaml string) *gateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, done: make(chan struct{})}
	g.cmd = exec.Command(gatewayBin, "-config", path)
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout = io.Discard
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	up := make(chan string, 1)
	go g.readLogs(stderr, up)
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway logs:\n%s", g.rawLogsText())
		}
	})
	select {
	case addr := <-up:
		g.HTTP = addr
	case <-g.done:
		t.Fatalf("gateway exited before serving: %v\n%s", g.exitErr, g.rawLogsText())
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway not up after 20s\n%s", g.rawLogsText())
	}
	return g
}
