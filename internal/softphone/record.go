package softphone

import (
	"slices"

	"github.com/hubline/hubline/internal/audio"
)

// maxGapFill is the longest gap in the received timestamps that recorder
// fills with silence; a longer jump is taken as a new timeline.
const maxGapFill = 10 * audio.SampleRate

// recorder turns received G.711 packets into a PCM timeline: a gap in the
// timestamps (lost packets, a DTMF event, silence suppression) becomes
// silence, and a late or repeated packet is dropped. A new SSRC starts a
// new timeline, appended. The zero value is ready.
type recorder struct {
	pcm     []int16
	started bool
	ssrc    uint32
	next    uint32 // timestamp expected next
}

func (r *recorder) add(ssrc, ts uint32, law audio.Law, payload []byte) {
	if r.started && ssrc == r.ssrc {
		d := int32(ts - r.next)
		switch {
		case d < 0 && d > -maxGapFill:
			return // late or repeated
		case d > 0 && d <= maxGapFill:
			n := len(r.pcm)
			r.pcm = slices.Grow(r.pcm, int(d))[:n+int(d)]
			clear(r.pcm[n:])
		}
	}
	r.started, r.ssrc = true, ssrc
	r.pcm = law.Decode(r.pcm, payload)
	r.next = ts + uint32(len(payload))
}
