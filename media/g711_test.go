package media

import (
	"math"
	"testing"
)

// Decoder output values of the 7-bit magnitudes, as in G.711 Tables 1 and 2:
// µ-law on its 14-bit scale (0…8031), A-law on its 13-bit scale (1…4032).
func ulawMagValue(m byte) float64 {
	q, seg := int(m&0x0f), m>>4
	return float64((2*q+33)<<seg - 33)
}

func alawMagValue(m byte) float64 {
	q, seg := int(m&0x0f), m>>4
	if seg == 0 {
		return float64(2*q + 1)
	}
	return float64((2*q + 33) << (seg - 1))
}

// The conversion tables are reproduced exactly, entry for entry, by mapping
// each magnitude to the other law's nearest decoder output when the µ-law
// scale is divided by 1.9875 (any factor from 1.984 to 1.991 gives the same
// tables: the laws' overload points are not exactly a factor of two apart).
// This derivation shares nothing with the data, so a transcription error in
// the tables shows up here.
func TestLawTablesMatchNearestDecoderOutput(t *testing.T) {
	const scale = 1.9875
	nearest := func(x float64, value func(byte) float64) byte {
		best, bestD := byte(0), math.Inf(1)
		for m := range byte(128) {
			if d := math.Abs(value(m) - x); d < bestD {
				best, bestD = m, d
			}
		}
		return best
	}
	for m := range byte(128) {
		if got, want := g711UlawToAlawMag[m], nearest(ulawMagValue(m)/scale, alawMagValue); got != want {
			t.Errorf("Table 3 µ-law magnitude %d: table says A-law %d, derivation %d", m, got, want)
		}
		if got, want := g711AlawToUlawMag[m], nearest(alawMagValue(m)*scale, ulawMagValue); got != want {
			t.Errorf("Table 4 A-law magnitude %d: table says µ-law %d, derivation %d", m, got, want)
		}
	}
}

// Known byte values; rows marked spandsp are entries of the 256-byte tables
// spandsp's g711.c copies from the G.711 text.
func TestLawConversionKnownValues(t *testing.T) {
	tests := []struct {
		name     string
		table    *[256]byte
		in, want byte
	}{
		{"µ +0 → A +0", &ulawToAlaw, 0xff, 0xd5},
		{"µ -0 → A -0", &ulawToAlaw, 0x7f, 0x55},
		{"µ +max → A +max", &ulawToAlaw, 0x80, 0xaa},
		{"µ -max → A -max", &ulawToAlaw, 0x00, 0x2a},
		{"µ 0x20 (spandsp)", &ulawToAlaw, 0x20, 0x0a},
		{"µ 0x2f (spandsp)", &ulawToAlaw, 0x2f, 0x1a},
		{"µ 0x5c (spandsp)", &ulawToAlaw, 0x5c, 0x4b},
		{"µ 0x70 (spandsp)", &ulawToAlaw, 0x70, 0x52},
		{"µ 0x71 (spandsp)", &ulawToAlaw, 0x71, 0x52},
		{"µ 0xdc (spandsp)", &ulawToAlaw, 0xdc, 0xcb},
		{"A +0 → µ one step up", &alawToUlaw, 0xd5, 0xfe},
		{"A -0 → µ one step down", &alawToUlaw, 0x55, 0x7e},
		{"A +max → µ +max", &alawToUlaw, 0xaa, 0x80},
		{"A -max → µ -max", &alawToUlaw, 0x2a, 0x00},
		{"A 0x10 (spandsp)", &alawToUlaw, 0x10, 0x39},
		{"A 0x48 (spandsp)", &alawToUlaw, 0x48, 0x5d},
		{"A 0x49 (spandsp)", &alawToUlaw, 0x49, 0x5d},
		{"A 0x6a (spandsp)", &alawToUlaw, 0x6a, 0x3f},
		{"A 0x78 (spandsp)", &alawToUlaw, 0x78, 0x4f},
		{"A 0xf8 (spandsp)", &alawToUlaw, 0xf8, 0xcf},
	}
	for _, tt := range tests {
		if got := tt.table[tt.in]; got != tt.want {
			t.Errorf("%s: %#02x → %#02x, want %#02x", tt.name, tt.in, got, tt.want)
		}
	}
}

// lawValue decodes a byte of either law to a signed value on µ-law's 14-bit
// scale (A-law doubled).
func lawValue(c byte, alaw bool) float64 {
	var v float64
	if alaw {
		v = 2 * alawMagValue(alawMag(c))
	} else {
		v = ulawMagValue(ulawMag(c))
	}
	if c&0x80 == 0 {
		return -v
	}
	return v
}

// stepWidth is the width of a code's quantisation interval, on µ-law's
// 14-bit scale.
func stepWidth(c byte, alaw bool) float64 {
	if alaw {
		seg := alawMag(c) >> 4
		return float64(int(4) << max(int(seg)-1, 0))
	}
	return float64(int(2) << (ulawMag(c) >> 4))
}

// A round trip through the other law keeps the sign, moves the value by at
// most one step of the coarser of the two codes involved, and is stable: a
// second round trip changes nothing.
func TestLawRoundTrips(t *testing.T) {
	for i := range 256 {
		a := byte(i)
		u := alawToUlaw[a]
		back := ulawToAlaw[u]
		if back&0x80 != a&0x80 || u&0x80 != a&0x80 {
			t.Errorf("A %#02x → µ %#02x → A %#02x changed sign", a, u, back)
		}
		if d, lim := math.Abs(lawValue(back, true)-lawValue(a, true)), max(stepWidth(a, true), stepWidth(u, false)); d > lim {
			t.Errorf("A %#02x → µ %#02x → A %#02x moved %v, more than %v", a, u, back, d, lim)
		}
		if again := ulawToAlaw[alawToUlaw[back]]; again != back {
			t.Errorf("A %#02x: second round trip %#02x → %#02x", a, back, again)
		}

		m := byte(i)
		x := ulawToAlaw[m]
		backU := alawToUlaw[x]
		if backU&0x80 != m&0x80 || x&0x80 != m&0x80 {
			t.Errorf("µ %#02x → A %#02x → µ %#02x changed sign", m, x, backU)
		}
		if d, lim := math.Abs(lawValue(backU, false)-lawValue(m, false)), max(stepWidth(m, false), stepWidth(x, true)); d > lim {
			t.Errorf("µ %#02x → A %#02x → µ %#02x moved %v, more than %v", m, x, backU, d, lim)
		}
		if again := alawToUlaw[ulawToAlaw[backU]]; again != backU {
			t.Errorf("µ %#02x: second round trip %#02x → %#02x", m, backU, again)
		}
	}
}

// The round trips are exact except at a few magnitudes, pinned here: A → µ
// → A loses six A-law steps in segments 1 and 2, where µ-law is coarser, and
// two at segment edges (62, 80); µ → A → µ loses every other step of µ-law
// segment 0, where A-law is coarser.
func TestLawRoundTripsExactElsewhere(t *testing.T) {
	lossyA := map[byte]bool{25: true, 27: true, 29: true, 31: true, 44: true, 46: true, 62: true, 80: true}
	lossyU := map[byte]bool{0: true, 2: true, 4: true, 6: true, 8: true, 10: true, 12: true, 14: true}
	for i := range 256 {
		c := byte(i)
		back := ulawToAlaw[alawToUlaw[c]]
		if exact := back == c; exact == lossyA[alawMag(c)] {
			t.Errorf("A %#02x → µ %#02x → A %#02x: exact=%v, want %v", c, alawToUlaw[c], back, exact, !lossyA[alawMag(c)])
		}
		backU := alawToUlaw[ulawToAlaw[c]]
		if exact := backU == c; exact == lossyU[ulawMag(c)] {
			t.Errorf("µ %#02x → A %#02x → µ %#02x: exact=%v, want %v", c, ulawToAlaw[c], backU, exact, !lossyU[ulawMag(c)])
		}
	}
}

func TestConvertInPlace(t *testing.T) {
	p := make([]byte, 256)
	for i := range p {
		p[i] = byte(i)
	}
	convertInPlace(p, &ulawToAlaw)
	convertInPlace(p, &alawToUlaw)
	for i, c := range p {
		if want := alawToUlaw[ulawToAlaw[i]]; c != want {
			t.Fatalf("sample %d: got %#02x, want %#02x", i, c, want)
		}
	}
}
