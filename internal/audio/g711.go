package audio

import "fmt"

// Law is a G.711 companding law.
type Law uint8

// The two G.711 laws. The zero Law is PCMU.
const (
	PCMU Law = iota // µ-law, RTP payload type 0 (North America, Japan)
	PCMA            // A-law, RTP payload type 8 (rest of the world)
)

// String returns the RTP encoding name, "PCMU" or "PCMA".
func (l Law) String() string {
	switch l {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return fmt.Sprintf("Law(%d)", uint8(l))
}

// PayloadType returns the static RTP payload type of l (RFC 3551): 0 or 8.
func (l Law) PayloadType() uint8 {
	if l == PCMA {
		return 8
	}
	return 0
}

// EncodeSample compands one linear sample.
func (l Law) EncodeSample(s int16) byte {
	if l == PCMA {
		return EncodeAlaw(s)
	}
	return EncodeUlaw(s)
}

// DecodeSample expands one G.711 byte.
func (l Law) DecodeSample(b byte) int16 {
	if l == PCMA {
		return alawTable[b]
	}
	return ulawTable[b]
}

// Encode appends the G.711 encoding of pcm to dst and returns the extended
// slice. With enough capacity in dst it does not allocate.
func (l Law) Encode(dst []byte, pcm []int16) []byte {
	enc := EncodeUlaw
	if l == PCMA {
		enc = EncodeAlaw
	}
	for _, s := range pcm {
		dst = append(dst, enc(s))
	}
	return dst
}

// Decode appends the linear samples of the G.711 bytes in enc to dst and
// returns the extended slice. With enough capacity in dst it does not
// allocate.
func (l Law) Decode(dst []int16, enc []byte) []int16 {
	t := &ulawTable
	if l == PCMA {
		t = &alawTable
	}
	for _, b := range enc {
		dst = append(dst, t[b])
	}
	return dst
}

// The coders below follow ITU-T G.711 as implemented in the classic Sun
// Microsystems reference (g711.c), scaled to 16-bit linear samples: µ-law
// works on 14 significant bits (decoded values are multiples of 4, at most
// ±32124), A-law on 13 (multiples of 8, at most ±32256). Encoding is computed;
// decoding is a 256-entry table lookup.

const (
	ulawBias = 0x84 // 132 at 16 bits, 33 at the coder's 14 bits
	ulawClip = 8159 // largest 14-bit magnitude that does not overflow after the bias
)

// EncodeUlaw compands a 16-bit linear sample to G.711 µ-law.
func EncodeUlaw(s int16) byte {
	v := int(s) >> 2 // 14-bit, rounded towards -∞ like the reference
	mask := byte(0xFF)
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	v = min(v, ulawClip) + ulawBias>>2
	// Segment = how far the magnitude is above 0x3F, in octaves.
	seg := byte(0)
	for end := 0x3F; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	return (seg<<4 | byte(v>>(seg+1))&0x0F) ^ mask
}

// DecodeUlaw expands a G.711 µ-law byte to a 16-bit linear sample.
func DecodeUlaw(b byte) int16 { return ulawTable[b] }

// EncodeAlaw compands a 16-bit linear sample to G.711 A-law.
func EncodeAlaw(s int16) byte {
	v := int(s) >> 3 // 13-bit
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	// Segment ends of the 13-bit magnitude.
	seg := byte(0)
	for end := 0x1F; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := seg << 4
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>seg) & 0x0F
	}
	return a ^ mask
}

// DecodeAlaw expands a G.711 A-law byte to a 16-bit linear sample.
func DecodeAlaw(b byte) int16 { return alawTable[b] }

var (
	ulawTable = makeTable(ulawExpand)
	alawTable = makeTable(alawExpand)
)

func makeTable(f func(byte) int16) (t [256]int16) {
	for i := range t {
		t[i] = f(byte(i))
	}
	return t
}

func ulawExpand(b byte) int16 {
	b = ^b
	exp := (b >> 4) & 0x07
	mant := int(b & 0x0F)
	v := ((mant << 3) + ulawBias) << exp
	v -= ulawBias
	if b&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

func alawExpand(b byte) int16 {
	b ^= 0x55
	v := int(b&0x0F) << 4
	switch seg := (b >> 4) & 0x07; seg {
	case 0:
		v += 8
	case 1:
		v += 0x108
	default:
		v += 0x108
		v <<= seg - 1
	}
	if b&0x80 != 0 {
		return int16(v)
	}
	return int16(-v)
}
