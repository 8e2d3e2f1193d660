package baresiptest

import (
	"strings"
	"testing"
)

const sampleTrace = "baresip is ready.\n\x1b[36;1m#\nTLS 127.0.0.1:37224 -> 127.0.0.1:39240\n" +
	"INVITE sip:+14155550199@127.0.0.1:39240 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:54711\r\n\r\nv=0\r\n\x1b[;m" +
	"call: answering\n\x1b[36;1m#\nTLS 127.0.0.1:39240 -> 127.0.0.1:54711\nSIP/2.0 200 OK\r\n\r\n\x1b[;m"

func TestParseTrace(t *testing.T) {
	got := parseTrace(sampleTrace)
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2: %+v", len(got), got)
	}
	if m := got[0]; m.Transport != "TLS" || m.Src != "127.0.0.1:37224" || m.Dst != "127.0.0.1:39240" ||
		!strings.HasPrefix(m.Text, "INVITE sip:") || !strings.Contains(m.Text, "\nv=0\n") || strings.Contains(m.Text, "\r") {
		t.Errorf("first message: %+v", m)
	}
	if m := got[1]; m.Dst != "127.0.0.1:54711" || !strings.HasPrefix(m.Text, "SIP/2.0 200 OK") {
		t.Errorf("second message: %+v", m)
	}
}

// FuzzParseTrace: any log parses without a panic, and every message has an
// address pair.
func FuzzParseTrace(f *testing.F) {
	f.Add(sampleTrace)
	f.Add("\x1b[36;1m#\n")
	f.Add("\x1b[36;1m#\nUDP a -> b\n\x1b[36;1m#\nTLS\n")
	f.Fuzz(func(t *testing.T, log string) {
		for _, m := range parseTrace(log) {
			if m.Src == "" || m.Dst == "" || m.Transport == "" {
				t.Fatalf("message without addresses: %+v", m)
			}
		}
	})
}
