package audio

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"
)

// Known vectors of the ITU-T G.711 reference coder (Sun g711.c, 16-bit
// linear scaling), as produced by CPython's audioop module.
func TestG711KnownVectors(t *testing.T) {
	enc := []struct {
		in         int16
		ulaw, alaw byte
	}{
		{0, 0xFF, 0xD5},
		{-1, 0x7E, 0x55},
		{8, 0xFE, 0xD5},
		{100, 0xF2, 0xD3},
		{-100, 0x72, 0x53},
		{1000, 0xCE, 0xFA},
		{-1000, 0x4E, 0x7A},
		{32767, 0x80, 0xAA},
		{-32768, 0x00, 0x2A},
		{32124, 0x80, 0xAA},
	}
	for _, c := range enc {
		if got := EncodeUlaw(c.in); got != c.ulaw {
			t.Errorf("EncodeUlaw(%d) = %#02x, want %#02x", c.in, got, c.ulaw)
		}
		if got := EncodeAlaw(c.in); got != c.alaw {
			t.Errorf("EncodeAlaw(%d) = %#02x, want %#02x", c.in, got, c.alaw)
		}
	}
	dec := []struct {
		code       byte
		ulaw, alaw int16
	}{
		{0xFF, 0, 848},
		{0x7F, 0, -848},
		{0x80, 32124, 5504},
		{0x00, -32124, -5504},
		{0xF0, 120, 688},
		{0xD5, 716, 8},
		{0x55, -716, -8},
		{0xAA, 5372, 32256},
		{0x2A, -5372, -32256},
	}
	for _, c := range dec {
		if got := DecodeUlaw(c.code); got != c.ulaw {
			t.Errorf("DecodeUlaw(%#02x) = %d, want %d", c.code, got, c.ulaw)
		}
		if got := DecodeAlaw(c.code); got != c.alaw {
			t.Errorf("DecodeAlaw(%#02x) = %d, want %d", c.code, got, c.alaw)
		}
	}
}

// The whole coder agrees with an independent implementation: the SHA-256
// of encoding every int16 from -32768 to 32767, and of decoding every code
// to little-endian int16, computed with CPython's audioop (lin2ulaw,
// lin2alaw, ulaw2lin, alaw2lin).
func TestG711MatchesReference(t *testing.T) {
	want := map[Law][2]string{
		PCMU: {"81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a", "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827"},
		PCMA: {"38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b", "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174"},
	}
	all := make([]int16, 0, 1<<16)
	for s := math.MinInt16; s <= math.MaxInt16; s++ {
		all = append(all, int16(s))
	}
	for law, w := range want {
		enc := sha256.Sum256(law.Encode(nil, all))
		var dec []byte
		for c := range 256 {
			dec = binary.LittleEndian.AppendUint16(dec, uint16(law.DecodeSample(byte(c))))
		}
		decSum := sha256.Sum256(dec)
		if got := hex.EncodeToString(enc[:]); got != w[0] {
			t.Errorf("%v encode table sha256 %s, want %s", law, got, w[0])
		}
		if got := hex.EncodeToString(decSum[:]); got != w[1] {
			t.Errorf("%v decode table sha256 %s, want %s", law, got, w[1])
		}
	}
}

// Every code decodes to a value that encodes back to a code of the same
// value (µ-law has two zeros, 0x7F and 0xFF).
func TestG711RoundTripCodes(t *testing.T) {
	for _, law := range []Law{PCMU, PCMA} {
		for c := range 256 {
			v := law.DecodeSample(byte(c))
			if back := law.DecodeSample(law.EncodeSample(v)); back != v {
				t.Errorf("%v: code %#02x → %d → %d", law, c, v, back)
			}
			if law == PCMA && law.EncodeSample(v) != byte(c) {
				t.Errorf("PCMA: code %#02x → %d → code %#02x", c, v, law.EncodeSample(v))
			}
		}
	}
}

// Encoding every 16-bit value is monotonic and the quantisation error stays
// within half a step of the segment (plus clipping at the top).
func TestG711Quantisation(t *testing.T) {
	for _, law := range []Law{PCMU, PCMA} {
		prev := math.Inf(-1)
		for s := math.MinInt16; s <= math.MaxInt16; s++ {
			v := float64(law.DecodeSample(law.EncodeSample(int16(s))))
			if v < prev {
				t.Fatalf("%v: not monotonic at %d: %v < %v", law, s, v, prev)
			}
			prev = v
			mag := math.Abs(float64(s))
			// Step size grows with the segment: ≤ 1/16 of the magnitude
			// above the linear segments, 8 or 16 below; clipping at the top.
			bound := max(16, mag/16) + 1
			if mag > 32000 {
				bound = 700
			}
			if e := math.Abs(v - float64(s)); e > bound {
				t.Fatalf("%v: %d → %v, error %v > %v", law, s, v, e, bound)
			}
		}
	}
}

func TestLawSlices(t *testing.T) {
	pcm := make([]int16, FrameSamples)
	NewTone(1000, 0.5).ReadFrame(pcm)
	for _, law := range []Law{PCMU, PCMA} {
		enc := law.Encode(nil, pcm)
		if len(enc) != len(pcm) {
			t.Fatalf("%v: encoded %d bytes", law, len(enc))
		}
		dec := law.Decode(nil, enc)
		for i := range pcm {
			if d := math.Abs(float64(dec[i]) - float64(pcm[i])); d > max(16, math.Abs(float64(pcm[i]))/16) {
				t.Fatalf("%v: sample %d: %d → %d", law, i, pcm[i], dec[i])
			}
		}
		if got := ToneLevel(dec, SampleRate, 1000); got < 0.99 {
			t.Errorf("%v: tone level after coding %.4f", law, got)
		}
	}
	if PCMU.String() != "PCMU" || PCMA.String() != "PCMA" || PCMU.PayloadType() != 0 || PCMA.PayloadType() != 8 {
		t.Error("Law names or payload types wrong")
	}
}

func TestLawNoAlloc(t *testing.T) {
	pcm := make([]int16, FrameSamples)
	enc := make([]byte, 0, FrameSamples)
	dec := make([]int16, 0, FrameSamples)
	if n := testing.AllocsPerRun(100, func() {
		enc = PCMA.Encode(enc[:0], pcm)
		dec = PCMA.Decode(dec[:0], enc)
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

func BenchmarkEncodeUlawFrame(b *testing.B) {
	pcm := make([]int16, FrameSamples)
	NewTone(1000, 0.5).ReadFrame(pcm)
	enc := make([]byte, 0, FrameSamples)
	for b.Loop() {
		enc = PCMU.Encode(enc[:0], pcm)
	}
}

func BenchmarkDecodeAlawFrame(b *testing.B) {
	enc := make([]byte, FrameSamples)
	dec := make([]int16, 0, FrameSamples)
	for b.Loop() {
		dec = PCMA.Decode(dec[:0], enc)
	}
}
