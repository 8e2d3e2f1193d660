package media

// G.711 law conversion without decoding to linear PCM.
//
// ITU-T G.711 defines the µ-law↔A-law conversion by two tables over the 128
// magnitudes (Table 3: µ-law to A-law, Table 4: A-law to µ-law). They are
// not plain "decode, then re-encode with the other law" (that differs in
// a few dozen magnitudes), so they are carried here as data and expanded at init into two 256-entry
// byte tables that handle sign and the laws' bit inversions. g711_test.go
// cross-checks every entry against an independent derivation and known
// values, and checks the round trips.

// ulawToAlaw maps a µ-law byte to the A-law byte G.711 Table 3 gives.
var ulawToAlaw [256]byte

// alawToUlaw maps an A-law byte to the µ-law byte G.711 Table 4 gives.
var alawToUlaw [256]byte

// g711UlawToAlawMag is G.711 Table 3 on magnitudes: index µ-law magnitude
// (0 = smallest), value A-law magnitude.
var g711UlawToAlawMag = [128]byte{
	0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
	8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
	24, 26, 28, 30, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
	45, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
	63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78,
	79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
	96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
	112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
}

// g711AlawToUlawMag is G.711 Table 4 on magnitudes: index A-law magnitude
// (0 = smallest), value µ-law magnitude.
var g711AlawToUlawMag = [128]byte{
	1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23,
	24, 25, 26, 27, 28, 29, 30, 31, 32, 32, 33, 33, 34, 34, 35, 35,
	36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 48, 49, 49,
	50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 64,
	65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80,
	80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
	96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
	112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
}

// Wire format of the two laws. Both are sign–magnitude with bit 7 set for
// positive values. A µ-law byte carries the complemented magnitude
// (magnitude = ^b & 0x7f); an A-law byte has its even bits inverted
// (magnitude = (b ^ 0x55) & 0x7f). Within a magnitude, bits 6..4 are the
// segment and bits 3..0 the step in it. The sign is carried over unchanged,
// so "negative zero" stays negative, as G.711 requires.

func init() {
	for i := range 256 {
		c := byte(i)
		ulawToAlaw[c] = alawByte(c&0x80 != 0, g711UlawToAlawMag[ulawMag(c)])
		alawToUlaw[c] = ulawByte(c&0x80 != 0, g711AlawToUlawMag[alawMag(c)])
	}
}

func ulawMag(b byte) byte { return ^b & 0x7f }
func alawMag(b byte) byte { return (b ^ 0x55) & 0x7f }

func ulawByte(positive bool, mag byte) byte {
	if positive {
		return ^mag
	}
	return ^mag & 0x7f
}

func alawByte(positive bool, mag byte) byte {
	if positive {
		return mag ^ 0xd5
	}
	return mag ^ 0x55
}

// convertInPlace rewrites every sample of payload through table.
func convertInPlace(payload []byte, table *[256]byte) {
	for i, c := range payload {
		payload[i] = table[c]
	}
}
