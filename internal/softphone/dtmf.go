package softphone

import (
	"fmt"

	"github.com/hubline/hubline/internal/audio"
)

// RFC 4733 timing, as browsers' RTCDTMFSender defaults: 100 ms tones with
// 80 ms between them, and two seconds for a ',' pause.
const (
	dtmfToneFrames  = 5   // 100 ms of 20 ms packets
	dtmfGapFrames   = 4   // 80 ms of audio between tones
	dtmfPauseFrames = 100 // 2 s
	dtmfVolume      = 10  // -10 dBm0
	dtmfEndCopies   = 3   // the end packet is sent three times
)

// dtmfCode maps a digit to its RFC 4733 event code; ',' is a pause (-1).
func dtmfCode(d byte) (int8, bool) {
	switch {
	case d >= '0' && d <= '9':
		return int8(d - '0'), true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return int8(12 + d - 'A'), true
	case d >= 'a' && d <= 'd':
		return int8(12 + d - 'a'), true
	case d == ',':
		return -1, true
	}
	return 0, false
}

// dtmfDigit is the inverse of dtmfCode for events 0-15.
func dtmfDigit(code uint8) byte {
	if code < 16 {
		return "0123456789*#ABCD"[code]
	}
	return '?'
}

func parseDigits(digits string) ([]int8, error) {
	codes := make([]int8, 0, len(digits))
	for i := 0; i < len(digits); i++ {
		c, ok := dtmfCode(digits[i])
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrBadDigit, digits[i])
		}
		codes = append(codes, c)
	}
	if len(codes) == 0 {
		return nil, fmt.Errorf("%w: no digits", ErrBadDigit)
	}
	return codes, nil
}

// dtmfFrame is what to send in one 20 ms packet slot while digits play:
// either audio (event false) or copies of one telephone-event packet.
type dtmfFrame struct {
	event   bool
	payload [4]byte // RFC 4733: event, E|R|volume, duration
	copies  int     // 1, or dtmfEndCopies for an event's end
	marker  bool    // the first packet of an event
	ts      uint32  // the event's start timestamp
}

// dtmfPlayer schedules a string of digits over 20 ms frames: each tone is
// dtmfToneFrames packets with the same timestamp, the first marked, the
// duration growing by a frame each, the last sent dtmfEndCopies times with
// the end bit; audio fills the gaps.
type dtmfPlayer struct {
	codes []int8
	i     int    // current digit
	f     int    // frame within the digit
	start uint32 // timestamp of the current event
}

// next returns the frame to send now, ts being the RTP timestamp this
// frame slot would carry as audio, and whether the digits are all sent.
func (d *dtmfPlayer) next(ts uint32) (fr dtmfFrame, done bool) {
	last := d.i == len(d.codes)-1
	code := d.codes[d.i]
	if code < 0 {
		d.f++
		if d.f >= dtmfPauseFrames {
			d.i, d.f = d.i+1, 0
		}
		return fr, d.i >= len(d.codes)
	}
	if d.f < dtmfToneFrames {
		if d.f == 0 {
			d.start = ts
		}
		end := d.f == dtmfToneFrames-1
		dur := uint16((d.f + 1) * audio.FrameSamples)
		fr = dtmfFrame{event: true, marker: d.f == 0, ts: d.start, copies: 1}
		fr.payload[0] = uint8(code)
		fr.payload[1] = dtmfVolume
		if end {
			fr.payload[1] |= 0x80
			fr.copies = dtmfEndCopies
		}
		fr.payload[2], fr.payload[3] = byte(dur>>8), byte(dur)
		d.f++
		if end && last {
			d.i, d.f = d.i+1, 0
			return fr, true
		}
		return fr, false
	}
	d.f++
	if d.f >= dtmfToneFrames+dtmfGapFrames {
		d.i, d.f = d.i+1, 0
	}
	return fr, d.i >= len(d.codes)
}

// dtmfJob is a SendDTMF request for the sending goroutine.
type dtmfJob struct {
	codes []int8
	done  chan error // cap 1
}

// ValidateDigits returns nil if SendDTMF accepts digits, else an error
// wrapping ErrBadDigit.
func ValidateDigits(digits string) error {
	_, err := parseDigits(digits)
	return err
}
