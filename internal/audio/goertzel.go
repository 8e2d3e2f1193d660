package audio

import "math"

// goertzelBlock is the analysis block of ToneLevel, in seconds: 50 ms gives a
// 20 Hz resolution, tells 1000 Hz from 440 Hz by a wide margin, and keeps a
// phase jump (a lost or reordered packet) from spoiling more than one block.
const goertzelBlock = 0.050

// ToneLevel returns the fraction of the energy of pcm that lies at freq Hz,
// between 0 and 1: a pure tone at freq gives about 1, a pure tone elsewhere
// or white noise about 0, and silence (or an empty slice) exactly 0.
//
// It runs a Goertzel filter (the DFT at exactly freq, not at the nearest
// bin) over consecutive blocks of 50 ms or a little more and sums the block energies
// incoherently, so gaps and phase jumps between packets do not matter.
// sampleRate is in Hz; a freq outside (0, sampleRate/2) gives 0.
func ToneLevel(pcm []int16, sampleRate, freq float64) float64 {
	if len(pcm) == 0 || !(sampleRate > 0) || !(freq > 0) || freq >= sampleRate/2 {
		return 0
	}
	// Blocks of equal length, at least goertzelBlock long (a short tail
	// would overstate its own level).
	blocks := max(1, len(pcm)/max(1, int(sampleRate*goertzelBlock)))
	w := 2 * math.Pi * freq / sampleRate
	coeff := 2 * math.Cos(w)
	var atFreq, total float64
	for i := range blocks {
		b := pcm[i*len(pcm)/blocks : (i+1)*len(pcm)/blocks]
		var s1, s2, energy float64
		for _, v := range b {
			x := float64(v)
			energy += x * x
			s1, s2 = x+coeff*s1-s2, s1
		}
		// |X(freq)|² of this block; a real sinusoid of amplitude A puts
		// (A·N/2)² there, and A²·N/2 in the block's energy.
		power := s1*s1 + s2*s2 - coeff*s1*s2
		atFreq += 2 * power / float64(len(b))
		total += energy
	}
	if total == 0 {
		return 0
	}
	return max(0, min(1, atFreq/total))
}

// DominantTone returns the candidate frequency (Hz) holding the largest
// fraction of the energy of pcm, sampled at SampleRate, and that fraction as
// ToneLevel computes it. With no candidates, or silence, it returns 0, 0.
func DominantTone(pcm []int16, candidates []float64) (freq, level float64) {
	for _, f := range candidates {
		if l := ToneLevel(pcm, SampleRate, f); l > level {
			freq, level = f, l
		}
	}
	return freq, level
}
