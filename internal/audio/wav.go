package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// WAV errors. ReadWAV wraps one of them with the details.
var (
	ErrNotWAV         = errors.New("audio: not a RIFF/WAVE file")
	ErrUnsupportedWAV = errors.New("audio: unsupported WAV format")
	ErrWAVTooLarge    = errors.New("audio: WAV data too large")
)

// MaxWAVDataBytes bounds the data chunk ReadWAV accepts (64 MiB: over an hour
// of 8 kHz 16-bit mono, about six minutes of CD audio).
const MaxWAVDataBytes = 64 << 20

// Limits on the fmt chunk that ReadWAV accepts.
const (
	maxFmtChunk   = 1024
	maxChannels   = 32
	minWAVRate    = 4000
	maxWAVRate    = 384000
	wavFormatPCM  = 0x0001
	wavFormatIEEE = 0x0003
	wavFormatAlaw = 0x0006
	wavFormatUlaw = 0x0007
	wavFormatExt  = 0xFFFE
)

// ReadWAV parses a RIFF/WAVE file and returns its audio as 16-bit mono PCM at
// SampleRate, ready to be played with NewLoop.
//
// It converts rather than rejects: integer PCM of 8, 16, 24 or 32 bits,
// 32-bit IEEE float and G.711 A-law or µ-law (also in WAVE_FORMAT_EXTENSIBLE
// form), 1 to 32 channels, at 4 kHz to 384 kHz. Channels are averaged to
// mono; other rates are resampled to 8 kHz by linear interpolation without
// an anti-aliasing filter (good enough for test tones and speech; give it an
// 8 kHz mono file for exact samples). Other formats fail with an error
// wrapping ErrUnsupportedWAV that names the format.
//
// Chunks other than "fmt " and "data" are skipped; reading stops at the end
// of the data chunk. A data chunk whose declared size runs past the end of
// the input (a recorder that was killed, or a streaming writer's 0xFFFFFFFF)
// is read to EOF. Memory use is bounded by the input actually read, never by
// sizes declared in headers; data beyond MaxWAVDataBytes fails with
// ErrWAVTooLarge.
func ReadWAV(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: short header: %w", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: missing RIFF/WAVE signature", ErrNotWAV)
	}
	var f *wavFormat
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if f == nil {
				return nil, fmt.Errorf("%w: no fmt chunk", ErrNotWAV)
			}
			return nil, fmt.Errorf("%w: no data chunk", ErrNotWAV)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if f != nil {
				return nil, fmt.Errorf("%w: two fmt chunks", ErrNotWAV)
			}
			if size < 16 || size > maxFmtChunk {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			buf := make([]byte, size+size&1) // with the pad byte of odd chunks
			if n, err := io.ReadFull(r, buf); int64(n) < size {
				return nil, fmt.Errorf("%w: short fmt chunk: %w", ErrNotWAV, err)
			}
			var err error
			if f, err = parseWAVFormat(buf[:size]); err != nil {
				return nil, err
			}
		case "data":
			if f == nil {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			// io.ReadAll grows its buffer as bytes arrive: a hostile size
			// costs nothing until the bytes are really there.
			data, err := io.ReadAll(io.LimitReader(r, min(size, MaxWAVDataBytes+1)))
			if err != nil {
				return nil, fmt.Errorf("audio: reading WAV data: %w", err)
			}
			if len(data) > MaxWAVDataBytes {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrWAVTooLarge, MaxWAVDataBytes)
			}
			return f.convert(data), nil
		default:
			if n, err := io.CopyN(io.Discard, r, size+size&1); err != nil && !(errors.Is(err, io.EOF) && n == size) {
				return nil, fmt.Errorf("%w: truncated %q chunk", ErrNotWAV, id)
			}
		}
	}
}

// wavFormat is a validated fmt chunk.
type wavFormat struct {
	format   uint16 // wavFormatPCM, wavFormatIEEE, wavFormatAlaw or wavFormatUlaw
	channels int
	rate     int
	bits     int // container bits per sample
}

func parseWAVFormat(b []byte) (*wavFormat, error) {
	le := binary.LittleEndian
	f := &wavFormat{
		format:   le.Uint16(b[0:2]),
		channels: int(le.Uint16(b[2:4])),
		rate:     int(le.Uint32(b[4:8])),
		bits:     int(le.Uint16(b[14:16])),
	}
	blockAlign := int(le.Uint16(b[12:14]))
	if f.format == wavFormatExt {
		// WAVE_FORMAT_EXTENSIBLE: cbSize(2) validBits(2) channelMask(4)
		// then a GUID whose first two bytes are the real format tag.
		if len(b) < 40 || le.Uint16(b[16:18]) < 22 {
			return nil, fmt.Errorf("%w: short WAVE_FORMAT_EXTENSIBLE fmt chunk", ErrNotWAV)
		}
		f.format = le.Uint16(b[24:26])
	}
	switch {
	case f.channels < 1 || f.channels > maxChannels:
		return nil, fmt.Errorf("%w: %d channels (want 1 to %d)", ErrUnsupportedWAV, f.channels, maxChannels)
	case f.rate < minWAVRate || f.rate > maxWAVRate:
		return nil, fmt.Errorf("%w: sample rate %d Hz (want %d to %d)", ErrUnsupportedWAV, f.rate, minWAVRate, maxWAVRate)
	}
	var ok bool
	switch f.format {
	case wavFormatPCM:
		ok = f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32
	case wavFormatIEEE:
		ok = f.bits == 32
	case wavFormatAlaw, wavFormatUlaw:
		ok = f.bits == 8
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s (want 8/16/24/32-bit PCM, 32-bit float, A-law or µ-law)", ErrUnsupportedWAV, f.describe())
	}
	if want := f.channels * f.bits / 8; blockAlign != want {
		return nil, fmt.Errorf("%w: block align %d, want %d for %s", ErrNotWAV, blockAlign, want, f.describe())
	}
	return f, nil
}

func (f *wavFormat) describe() string {
	name := fmt.Sprintf("format 0x%04X", f.format)
	switch f.format {
	case wavFormatPCM:
		name = "PCM"
	case wavFormatIEEE:
		name = "float"
	case wavFormatAlaw:
		name = "A-law"
	case wavFormatUlaw:
		name = "µ-law"
	}
	return fmt.Sprintf("%d-bit %s, %d channels, %d Hz", f.bits, name, f.channels, f.rate)
}

// sample decodes the sample at b (len ≥ bits/8) to 16 bits.
func (f *wavFormat) sample(b []byte) int32 {
	le := binary.LittleEndian
	switch f.format {
	case wavFormatAlaw:
		return int32(alawTable[b[0]])
	case wavFormatUlaw:
		return int32(ulawTable[b[0]])
	case wavFormatIEEE:
		v := float64(math.Float32frombits(le.Uint32(b)))
		if math.IsNaN(v) {
			return 0
		}
		return int32(max(-1, min(1, v)) * math.MaxInt16)
	}
	switch f.bits {
	case 8:
		return (int32(b[0]) - 128) << 8 // 8-bit WAV is unsigned
	case 16:
		return int32(int16(le.Uint16(b)))
	case 24:
		return int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 16
	default:
		return int32(le.Uint32(b)) >> 16
	}
}

// convert turns raw data (whole frames only; a partial last frame is
// dropped) into mono 16-bit samples at SampleRate.
func (f *wavFormat) convert(data []byte) []int16 {
	size := f.bits / 8
	frame := size * f.channels
	mono := make([]int16, len(data)/frame)
	for i := range mono {
		var sum int32
		for c := range f.channels {
			sum += f.sample(data[i*frame+c*size:])
		}
		mono[i] = int16(sum / int32(f.channels))
	}
	if f.rate == SampleRate || len(mono) == 0 {
		return mono
	}
	// Linear interpolation; at most 2× longer since rate ≥ 4 kHz.
	out := make([]int16, int(int64(len(mono))*SampleRate/int64(f.rate)))
	step := float64(f.rate) / SampleRate
	for i := range out {
		pos := float64(i) * step
		j := int(pos)
		frac := pos - float64(j)
		a := float64(mono[j])
		b := a
		if j+1 < len(mono) {
			b = float64(mono[j+1])
		}
		out[i] = int16(math.Round(a + (b-a)*frac))
	}
	return out
}

// WriteWAV writes pcm as a RIFF/WAVE file: 16-bit PCM, mono, SampleRate.
func WriteWAV(w io.Writer, pcm []int16) error {
	n := len(pcm) * 2
	if n > math.MaxUint32-36 {
		return fmt.Errorf("%w: %d samples do not fit a WAV file", ErrWAVTooLarge, len(pcm))
	}
	buf := make([]byte, 44, 44+n)
	le := binary.LittleEndian
	copy(buf[0:], "RIFF")
	le.PutUint32(buf[4:], uint32(36+n))
	copy(buf[8:], "WAVEfmt ")
	le.PutUint32(buf[16:], 16)
	le.PutUint16(buf[20:], wavFormatPCM)
	le.PutUint16(buf[22:], 1)            // channels
	le.PutUint32(buf[24:], SampleRate)   // sample rate
	le.PutUint32(buf[28:], SampleRate*2) // byte rate
	le.PutUint16(buf[32:], 2)            // block align
	le.PutUint16(buf[34:], 16)           // bits per sample
	copy(buf[36:], "data")
	le.PutUint32(buf[40:], uint32(n))
	for _, s := range pcm {
		buf = le.AppendUint16(buf, uint16(s))
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("audio: writing WAV: %w", err)
	}
	return nil
}
