package sip

import (
	"testing"
	"time"
)

func TestParseSessionExpires(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want sessionExpires
		ok   bool
	}{
		{"1800", sessionExpires{interval: 1800 * time.Second}, true},
		{" 90;refresher=uac", sessionExpires{interval: 90 * time.Second, refresher: "uac"}, true},
		{"4 ; Refresher = UAS ;foo=bar", sessionExpires{interval: 4 * time.Second, refresher: "uas"}, true},
		{"0", sessionExpires{}, false},
		{"-5", sessionExpires{}, false},
		{"+5", sessionExpires{}, false},
		{"", sessionExpires{}, false},
		{"99999999999", sessionExpires{}, false},
		{"90;refresher=me", sessionExpires{}, false},
	} {
		got, err := parseSessionExpires(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSessionExpires(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if d, err := parseMinSE("90;x=1"); err != nil || d != 90*time.Second {
		t.Errorf("parseMinSE = %v, %v", d, err)
	}
	if sdpOrigin([]byte("v=0\r\no=- 12 3 IN IP4 1.2.3.4\r\n")) != "12 3" || sdpOrigin([]byte("v=0\r\n")) != "" {
		t.Error("sdpOrigin")
	}
}

// FuzzSessionTimerHeaders: the Session-Expires and Min-SE parsers and the
// SDP origin reader never panic, and what parses prints back the same.
func FuzzSessionTimerHeaders(f *testing.F) {
	for _, s := range []string{"1800", "90;refresher=uac", "4;refresher=uas;x", "0", ";", "1;refresher", "o=- 1 2 IN IP4 x\r\n", "o=\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		se, err := parseSessionExpires(s)
		if err == nil {
			if se.interval < time.Second {
				t.Fatalf("%q: interval %v", s, se.interval)
			}
			again, err := parseSessionExpires(se.String())
			if err != nil || again != se {
				t.Fatalf("%q: %+v prints as %q, parsed back %+v, %v", s, se, se.String(), again, err)
			}
		}
		if d, err := parseMinSE(s); err == nil && d < time.Second {
			t.Fatalf("%q: Min-SE %v", s, d)
		}
		_ = sdpOrigin([]byte(s))
	})
}
