package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// TestBrowserHold: in Chromium the rep clicks Hold: the far end gets a
// re-INVITE with sendonly and music on hold instead of the rep (SIPp echoes
// it: the rep hears 440 Hz), the button says Resume; Resume brings the
// echo of the rep's 1 kHz back; then the far end holds the call and the
// softphone says "On hold by the other side".
func TestBrowserHold(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	moh := filepath.Join(dir, "moh.wav")
	writeUlawWAV(t, moh, trunkTone, 2*time.Second)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("browser_hold.xml"), RTPEcho: true, Timeout: 90 * time.Second})
	g := startGateway(t, gwConfig{trunk: trunk.Addr, musicOnHold: moh})
	r := runBrowser(t, browserRun{scenario: "hold", g: g})
	for _, k := range []string{"echo", "moh", "echoAgain"} {
		if a := r.Audio[k]; a.Hits < a.Need {
			t.Errorf("%s (%d Hz): %d of %d samples above %.1f (max %.2f): %v", k, a.Hz, a.Hits, a.Need, a.Min, a.Max, a.Samples)
		}
	}
	var held, pressed, resumed string
	r.extra(t, "heldLabel", &held)
	r.extra(t, "heldPressed", &pressed)
	r.extra(t, "resumedLabel", &resumed)
	if held != "Resume" || pressed != "true" || resumed != "Hold" {
		t.Errorf("Hold button: %q (pressed %s) while held, %q after resume", held, pressed, resumed)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Errorf("SIPp did not see a proper call: %v", err)
	}
}
