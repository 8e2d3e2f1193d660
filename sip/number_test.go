package sip

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var numberTests = []struct {
	raw, region string
	want        string // "" when refused
	why         string // part of the error when refused
}{
	{"+1 555 010 0100", "", "+15550100100", ""},
	{"+1 (555) 010-0100", "", "+15550100100", ""},
	{"(555) 010-0100", "US", "+15550100100", ""},
	{"2025550123", "US", "+12025550123", ""},
	{"+1.202.555.0123", "", "+12025550123", ""},
	{"+1/202/555/0123", "", "+12025550123", ""},
	{"  +44 20 7946 0958  ", "us", "+442079460958", ""},
	{"0044 20 7946 0958", "", "+442079460958", ""},
	{"0041 44 668 18 00", "US", "+41446681800", ""},
	{"011 44 20 7946 0958", "US", "+442079460958", ""},
	{"020 7946 0958", "GB", "+442079460958", ""},
	{"0612345678", "FR", "+33612345678", ""},
	{"+49 30 123456", "DE", "+4930123456", ""},
	{"+86 10 1234 5678", "", "+861012345678", ""},

	{"", "", "", "empty"},
	{"   ", "US", "", "empty"},
	{"12345", "", "", "no country code and no region"},
	{"555-0100", "US", "", "only diallable locally"},
	{"1 2 3", "US", "", "too short"},
	{"+1234567890123456", "", "", "too long"},
	{strings.Repeat("1", 65), "US", "", "too long"},
	{"+0 123 4567", "", "", "unknown country code"},
	{"+999 1234567", "", "", "unknown country code"},
	{"55 5010 0100", "XX", "", `unknown region "XX"`},
	{"1-800-FLOWERS", "US", "", "letters"},
	{"+1 555 010 0100 ext 5", "US", "", "letters"},
	{"+1+5550100100", "", "", "'+' is only allowed at the start"},
	{"+٣٣ 1 23 45 67 89", "", "", "not allowed"},
	{"+1 555 010 0100\r\nX-Evil: 1", "", "", "not allowed"},
	{"-()./", "US", "", "no digits"},
	{"+49000000", "", "", "not a phone number"}, // found by FuzzNormalizeNumber
}

func TestNormalizeNumber(t *testing.T) {
	for _, tt := range numberTests {
		got, err := NormalizeNumber(tt.raw, tt.region)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeNumber(%q, %q) = %q, %v; want %q", tt.raw, tt.region, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("NormalizeNumber(%q, %q) = %q; want an error (%s)", tt.raw, tt.region, got, tt.why)
			continue
		}
		if !errors.Is(err, ErrInvalidNumber) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("NormalizeNumber(%q, %q) error %q; want one wrapping ErrInvalidNumber saying %q", tt.raw, tt.region, err, tt.why)
		}
		if got != "" {
			t.Errorf("NormalizeNumber(%q, %q) = %q with an error", tt.raw, tt.region, got)
		}
	}
}

// FuzzNormalizeNumber: never panics; a number it returns is E.164, and
// normalising it again gives it back (whatever the region).
func FuzzNormalizeNumber(f *testing.F) {
	for _, tt := range numberTests {
		f.Add(tt.raw, tt.region)
	}
	f.Add("+", "")
	f.Add("00", "US")
	f.Add("011", "US")
	f.Add("+1 555 010 0100", "ZZ")
	f.Add("\x00+15550100100", "US")
	f.Add("+15550100100\xff", "")
	f.Fuzz(func(t *testing.T, raw, region string) {
		out, err := NormalizeNumber(raw, region)
		if err != nil {
			if !errors.Is(err, ErrInvalidNumber) {
				t.Fatalf("NormalizeNumber(%q, %q) error %v does not wrap ErrInvalidNumber", raw, region, err)
			}
			if out != "" {
				t.Fatalf("NormalizeNumber(%q, %q) = %q with error %v", raw, region, out, err)
			}
			return
		}
		if !e164.MatchString(out) || !utf8.ValidString(out) {
			t.Fatalf("NormalizeNumber(%q, %q) = %q, not E.164", raw, region, out)
		}
		for _, r := range []string{"", region, "US", "DE"} {
			again, err := NormalizeNumber(out, r)
			if err != nil || again != out {
				t.Fatalf("NormalizeNumber(%q, %q) = %q, %v; want it unchanged (from %q, %q)", out, r, again, err, raw, region)
			}
		}
	})
}
