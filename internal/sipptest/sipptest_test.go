package sipptest

import (
	"strings"
	"testing"
	"time"
)

// SIPp's own UAC and UAS scenarios (sipp -sd uac, -sd uas) complete a call
// against each other, and the harness reports it.
func TestUACAgainstUAS(t *testing.T) {
	uas := Start(t, Options{Scenario: "testdata/uas.xml"})
	uac := Start(t, Options{Scenario: "testdata/uac.xml", Remote: uas.Addr})
	if err := uac.Wait(20 * time.Second); err != nil {
		t.Fatalf("uac: %v", err)
	}
	if err := uas.Wait(20 * time.Second); err != nil {
		t.Fatalf("uas: %v", err)
	}
	if m := uas.Messages(); !strings.Contains(m, "INVITE sip:") || !strings.Contains(m, "BYE sip:") {
		t.Errorf("message trace lacks the INVITE or the BYE:\n%s", m)
	}
}

// A scenario that does not complete is reported as a failure with SIPp's
// logs: the harness cannot pass a broken call.
func TestFailedScenarioIsAnError(t *testing.T) {
	uac := Start(t, Options{Scenario: "testdata/uac.xml", Remote: "127.0.0.1:9", Timeout: 2 * time.Second})
	err := uac.Wait(20 * time.Second)
	if err == nil {
		t.Fatal("a UAC calling a closed port finished without error")
	}
	if !strings.Contains(err.Error(), "sipp exited with status") {
		t.Errorf("error does not say how sipp exited: %v", err)
	}
}
