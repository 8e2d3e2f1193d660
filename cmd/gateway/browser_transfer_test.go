package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// TestBrowserTransferFails: in Chromium, the rep opens Transfer in a call,
// types a number and clicks Transfer; SIPp takes the REFER and reports the
// target busy. The panel says why, the call stays answered and the trunk's
// audio still plays; HubSpot never hears of a transfer.
func TestBrowserTransferFails(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	writeUlawWAV(t, filepath.Join(dir, "tone.wav"), trunkTone, 3*time.Second)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: mustAbs(t, scenario("transfer_busy.xml")), Dir: dir, Timeout: 60 * time.Second})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	r := runBrowser(t, browserRun{scenario: "transfer", g: g, cfg: map[string]any{"transferTo": transferTarget}})
	var status, state string
	r.extra(t, "xferStatus", &status)
	r.extra(t, "stateAfter", &state)
	if !strings.HasPrefix(status, "Transfer failed: 486 Busy Here") {
		t.Errorf("transfer panel says %q, want \"Transfer failed: 486 Busy Here…\"", status)
	}
	if state != "answered" {
		t.Errorf("softphone state %q after the failed transfer, want answered", state)
	}
	for _, k := range []string{"before", "after"} {
		if a := r.Audio[k]; a.Hits < a.Need {
			t.Errorf("440 Hz %s the transfer: %d of %d samples above %.1f: %v", k, a.Hits, a.Need, a.Min, a.Samples)
		}
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Errorf("SIPp: %v", err)
	}
	for _, typ := range r.types("in") {
		if typ == "CALL_TRANSFERRED" {
			t.Errorf("HubSpot got CALL_TRANSFERRED for a failed transfer")
		}
	}
}
