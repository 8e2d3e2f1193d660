package audio

import "math"

// Tone is a Source of a sine wave. Its phase is continuous from one frame to
// the next, so consecutive frames join without clicks and a detector sees a
// single pure tone. The zero value is silence.
type Tone struct {
	amp   float64 // peak, in sample units
	step  float64 // phase increment per sample, radians
	phase float64 // radians, in [0, 2π)
}

// NewTone returns a sine source of freq Hz at SampleRate. amplitude is the
// peak as a fraction of full scale (0.5 ≈ -6 dBFS) and is clamped to [0, 1].
// A freq of 0 or less, or at or above the Nyquist frequency (4 kHz), gives
// silence.
func NewTone(freq, amplitude float64) *Tone {
	amplitude = max(0, min(1, amplitude))
	if freq <= 0 || freq >= SampleRate/2 || math.IsNaN(freq) || math.IsNaN(amplitude) {
		return &Tone{}
	}
	return &Tone{amp: amplitude * math.MaxInt16, step: 2 * math.Pi * freq / SampleRate}
}

// ReadFrame fills pcm with the next len(pcm) samples of the tone.
func (t *Tone) ReadFrame(pcm []int16) {
	for i := range pcm {
		pcm[i] = int16(math.Round(t.amp * math.Sin(t.phase)))
		t.phase += t.step
		if t.phase >= 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
}
