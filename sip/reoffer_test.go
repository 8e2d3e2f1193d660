package sip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzWarnText: whatever an error says, the Warning text is one safe
// quoted-string body: no control characters, quotes or backslashes, and
// bounded.
func FuzzWarnText(f *testing.F) {
	for _, s := range []string{"media: trunk SDP: bad audio port 70000", "a\r\nVia: x", `"quoted" \ back`, strings.Repeat("é", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := warnText(s)
		if len(w) > 204 {
			t.Fatalf("%d bytes", len(w))
		}
		if strings.ContainsAny(w, "\"\\\r\n\x00") {
			t.Fatalf("unsafe: %q", w)
		}
		for _, r := range w {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", w)
			}
		}
		if utf8.ValidString(s) && !utf8.ValidString(w) {
			t.Fatalf("broke UTF-8: %q", w)
		}
	})
}
