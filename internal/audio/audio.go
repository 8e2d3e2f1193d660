// Package audio owns the small amount of signal processing hubline's tools
// need: G.711 µ-law and A-law coding, test-tone sources, a Goertzel tone
// detector and RIFF/WAVE files.
//
// All audio in this package is 16-bit signed linear PCM, mono, at
// SampleRate (8 kHz) unless a function says otherwise. Nothing here does I/O
// beyond the io.Reader and io.Writer it is given, and nothing keeps global
// mutable state, so it may be imported by any package of the module (it is
// used by internal/softphone and its tests; media relays G.711 without
// decoding and does not need it).
package audio

import "time"

// Audio framing used by hubline's media: 8 kHz, 20 ms frames.
const (
	SampleRate    = 8000                  // samples per second
	FrameDuration = 20 * time.Millisecond // one RTP packet
	FrameSamples  = 160                   // samples in FrameDuration at SampleRate
)

// Source produces audio one frame at a time.
//
// ReadFrame fills pcm with the next len(pcm) samples at SampleRate. It never
// fails: a source that has nothing more to say loops or produces silence.
// Sources are not safe for concurrent use.
type Source interface {
	ReadFrame(pcm []int16)
}

// Silence is a Source of zero samples.
type Silence struct{}

// ReadFrame fills pcm with zeros.
func (Silence) ReadFrame(pcm []int16) { clear(pcm) }

// Loop is a Source that plays a fixed buffer of samples over and over, as
// from a WAV file. The zero value (or a Loop of no samples) is silence.
type Loop struct {
	samples []int16
	pos     int
}

// NewLoop returns a Source that repeats samples forever. It does not copy
// samples; the caller must not modify them afterwards.
func NewLoop(samples []int16) *Loop { return &Loop{samples: samples} }

// ReadFrame fills pcm with the next samples, wrapping to the start of the
// buffer at its end.
func (l *Loop) ReadFrame(pcm []int16) {
	if len(l.samples) == 0 {
		clear(pcm)
		return
	}
	for n := 0; n < len(pcm); {
		c := copy(pcm[n:], l.samples[l.pos:])
		n += c
		l.pos += c
		if l.pos == len(l.samples) {
			l.pos = 0
		}
	}
}
