package sip

import (
	"testing"
	"time"
)

// TestInboundReliable183: the trunk's INVITE requires 100rel; our 183 with
// SDP goes reliably, and Answer (called at once) waits for the PRACK: SIPp
// fails the scenario if the 200 comes first or the 183 lacks RSeq.
func TestInboundReliable183(t *testing.T) {
	u, ch := inboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_100rel.xml")
	if err := in.Progress(ourSDP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := in.Answer(ourSDP); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("Answer returned after %v: it did not wait for the PRACK (sent after 500 ms)", took)
	}
	rec.want(t, EventHangup)
	passed(t, s)
	u.Close()
	rec.none(t)
}

func TestParseRAck(t *testing.T) {
	if r, c, m, err := parseRAck(" 776656 1 INVITE"); err != nil || r != 776656 || c != 1 || m != "INVITE" {
		t.Errorf("parseRAck = %d %d %s %v", r, c, m, err)
	}
	for _, bad := range []string{"", "1 1", "0 1 INVITE", "x 1 INVITE", "1 -1 INVITE", "1 1 INVITE x"} {
		if _, _, _, err := parseRAck(bad); err == nil {
			t.Errorf("parseRAck(%q) accepted", bad)
		}
	}
	if _, err := parseRSeq("+1"); err == nil {
		t.Error("parseRSeq(+1) accepted")
	}
}

func FuzzRAck(f *testing.F) {
	for _, s := range []string{"1 1 INVITE", "4294967295 4294967295 invite", "", "1  2\tINVITE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, _, m, err := parseRAck(s)
		if err == nil && (r == 0 || m == "") {
			t.Fatalf("%q: rseq %d method %q", s, r, m)
		}
		if n, err := parseRSeq(s); err == nil && n == 0 {
			t.Fatalf("%q: RSeq 0", s)
		}
	})
}
