package main

import (
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// TestBrowserKeypad: in Chromium, the widget's keypad (a click, and a key
// typed on the keyboard) reaches a dtmfMode: info trunk as INFO, in order
// (SIPp checks each body), and the trunk's digit shows in the widget.
func TestBrowserKeypad(t *testing.T) {
	requireBrowser(t)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("keypad_info.xml"), RTPEcho: true, Timeout: 60 * time.Second})
	g := startGateway(t, gwConfig{trunk: trunk.Addr, dtmfMode: "info"})
	r := runBrowser(t, browserRun{scenario: "keypad", g: g})
	var kp struct{ Sent, Heard string }
	r.extra(t, "keypad", &kp)
	if kp.Sent != "1#" || kp.Heard != "They pressed 5" {
		t.Errorf("widget shows sent %q, heard %q", kp.Sent, kp.Heard)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Errorf("SIPp did not get the keypad's INFOs: %v", err)
	}
}
