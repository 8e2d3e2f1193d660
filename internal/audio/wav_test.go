package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// wavFile builds a WAV file by hand. extra chunks go before "fmt ".
type wavFile struct {
	format        uint16
	channels      int
	rate          int
	bits          int
	extensible    bool
	data          []byte
	dataSize      int64 // -1: len(data)
	before, after []byte
}

func (w wavFile) bytes() []byte {
	le := binary.LittleEndian
	var fmtc []byte
	tag := w.format
	if w.extensible {
		tag = wavFormatExt
	}
	fmtc = le.AppendUint16(fmtc, tag)
	fmtc = le.AppendUint16(fmtc, uint16(w.channels))
	fmtc = le.AppendUint32(fmtc, uint32(w.rate))
	fmtc = le.AppendUint32(fmtc, uint32(w.rate*w.channels*w.bits/8))
	fmtc = le.AppendUint16(fmtc, uint16(w.channels*w.bits/8))
	fmtc = le.AppendUint16(fmtc, uint16(w.bits))
	if w.extensible {
		fmtc = le.AppendUint16(fmtc, 22)
		fmtc = le.AppendUint16(fmtc, uint16(w.bits))
		fmtc = le.AppendUint32(fmtc, 0)
		fmtc = le.AppendUint16(fmtc, w.format)
		fmtc = append(fmtc, "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71"...)
	}
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	b = append(b, w.before...)
	b = append(b, "fmt "...)
	b = le.AppendUint32(b, uint32(len(fmtc)))
	b = append(b, fmtc...)
	b = append(b, "data"...)
	size := w.dataSize
	if size < 0 {
		size = int64(len(w.data))
	}
	b = le.AppendUint32(b, uint32(size))
	b = append(b, w.data...)
	b = append(b, w.after...)
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func pcm16(samples ...int16) []byte {
	var b []byte
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func TestWAVRoundTrip(t *testing.T) {
	pcm := tone(1000, 0.5, 8000)
	pcm[0], pcm[1] = math.MinInt16, math.MaxInt16
	var buf bytes.Buffer
	if err := WriteWAV(&buf, pcm); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 44+2*len(pcm) {
		t.Fatalf("file is %d bytes", buf.Len())
	}
	got, err := ReadWAV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(got, pcm) {
		t.Fatal("round trip changed the samples")
	}
	// Empty audio is a valid file.
	buf.Reset()
	if err := WriteWAV(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadWAV(&buf); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v, %v", got, err)
	}
}

func equal(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadWAVConverts(t *testing.T) {
	le := binary.LittleEndian
	cases := []struct {
		name string
		f    wavFile
		want []int16
	}{
		{"16-bit mono 8k", wavFile{format: 1, channels: 1, rate: 8000, bits: 16, data: pcm16(1, -2, 300)}, []int16{1, -2, 300}},
		{"stereo averaged", wavFile{format: 1, channels: 2, rate: 8000, bits: 16, data: pcm16(100, 300, -100, -300, 32767, 32767)}, []int16{200, -200, 32767}},
		{"8-bit unsigned", wavFile{format: 1, channels: 1, rate: 8000, bits: 8, data: []byte{128, 255, 0}}, []int16{0, 127 << 8, -128 << 8}},
		{"24-bit", wavFile{format: 1, channels: 1, rate: 8000, bits: 24, data: []byte{0xFF, 0x34, 0x12, 0x00, 0x00, 0x80}}, []int16{0x1234, -32768}},
		{"32-bit", wavFile{format: 1, channels: 1, rate: 8000, bits: 32, data: le.AppendUint32(nil, 0x12345678)}, []int16{0x1234}},
		{"float", wavFile{format: 3, channels: 1, rate: 8000, bits: 32, data: le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, math.Float32bits(0.5)), math.Float32bits(-2)), math.Float32bits(float32(math.NaN())))}, []int16{16383, -32767, 0}},
		{"A-law", wavFile{format: 6, channels: 1, rate: 8000, bits: 8, data: []byte{0xD5, 0xAA}}, []int16{8, 32256}},
		{"µ-law", wavFile{format: 7, channels: 1, rate: 8000, bits: 8, data: []byte{0xFF, 0x80}}, []int16{0, 32124}},
		{"extensible PCM", wavFile{format: 1, extensible: true, channels: 1, rate: 8000, bits: 16, data: pcm16(5, 6)}, []int16{5, 6}},
		{"16 kHz halved", wavFile{format: 1, channels: 1, rate: 16000, bits: 16, data: pcm16(0, 50, 100, 150, 200, 250)}, []int16{0, 100, 200}},
		{"4 kHz doubled", wavFile{format: 1, channels: 1, rate: 4000, bits: 16, data: pcm16(0, 100)}, []int16{0, 50, 100, 100}},
		{"partial frame dropped", wavFile{format: 1, channels: 2, rate: 8000, bits: 16, data: append(pcm16(2, 4), 1, 2, 3)}, []int16{3}},
		{"odd chunk before fmt", wavFile{format: 1, channels: 1, rate: 8000, bits: 16, before: []byte("LIST\x03\x00\x00\x00abc\x00"), data: pcm16(7)}, []int16{7}},
		{"trailing chunks ignored", wavFile{format: 1, channels: 1, rate: 8000, bits: 16, data: pcm16(7), after: []byte("junkjunkjunk")}, []int16{7}},
		{"streaming size", wavFile{format: 1, channels: 1, rate: 8000, bits: 16, data: pcm16(1, 2), dataSize: 0xFFFFFFFF}, []int16{1, 2}},
		{"truncated data", wavFile{format: 1, channels: 1, rate: 8000, bits: 16, data: pcm16(1, 2), dataSize: 1000}, []int16{1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.f.dataSize == 0 {
				c.f.dataSize = -1
			}
			got, err := ReadWAV(bytes.NewReader(c.f.bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// A 44.1 kHz stereo tone comes out as the same tone at 8 kHz.
func TestReadWAVResamplesTone(t *testing.T) {
	const rate = 44100
	var data []byte
	for i := range rate / 2 {
		s := int16(math.Round(10000 * math.Sin(2*math.Pi*1000*float64(i)/rate)))
		data = append(data, pcm16(s, s)...)
	}
	got, err := ReadWAV(bytes.NewReader(wavFile{format: 1, channels: 2, rate: rate, bits: 16, data: data, dataSize: -1}.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4000 {
		t.Fatalf("%d samples, want 4000", len(got))
	}
	if l := ToneLevel(got, SampleRate, 1000); l < 0.98 {
		t.Fatalf("tone level %.3f after resampling", l)
	}
}

func TestReadWAVErrors(t *testing.T) {
	good := wavFile{format: 1, channels: 1, rate: 8000, bits: 16, data: pcm16(1), dataSize: -1}
	mod := func(f func(*wavFile)) []byte {
		w := good
		f(&w)
		return w.bytes()
	}
	cases := []struct {
		name string
		in   []byte
		err  error
		msg  string
	}{
		{"empty", nil, ErrNotWAV, "short header"},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVEfmt "), ErrNotWAV, "signature"},
		{"no chunks", []byte("RIFF\x04\x00\x00\x00WAVE"), ErrNotWAV, "no fmt chunk"},
		{"no data", good.bytes()[:36], ErrNotWAV, "no data chunk"},
		{"data first", []byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00\x01\x00"), ErrNotWAV, "before fmt"},
		{"huge fmt", []byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\x7f"), ErrNotWAV, "fmt chunk of"},
		{"short fmt", good.bytes()[:30], ErrNotWAV, "short fmt"},
		{"huge skipped chunk", []byte("RIFF\x00\x00\x00\x00WAVEjunk\xff\xff\xff\xffabc"), ErrNotWAV, "truncated \"junk\""},
		{"mp3", mod(func(w *wavFile) { w.format = 0x55 }), ErrUnsupportedWAV, "format 0x0055"},
		{"64-bit float", mod(func(w *wavFile) { w.format, w.bits = 3, 64 }), ErrUnsupportedWAV, "64-bit float"},
		{"12-bit", mod(func(w *wavFile) { w.bits = 12 }), ErrUnsupportedWAV, "12-bit PCM"},
		{"no channels", mod(func(w *wavFile) { w.channels = 0 }), ErrUnsupportedWAV, "0 channels"},
		{"100 channels", mod(func(w *wavFile) { w.channels = 100 }), ErrUnsupportedWAV, "100 channels"},
		{"rate 0", mod(func(w *wavFile) { w.rate = 0 }), ErrUnsupportedWAV, "sample rate 0"},
		{"rate 1 GHz", mod(func(w *wavFile) { w.rate = 1e9 }), ErrUnsupportedWAV, "sample rate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadWAV(bytes.NewReader(c.in))
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, c.err, c.msg)
			}
		})
	}
	// Block align that contradicts the format.
	b := good.bytes()
	b[32] = 7
	if _, err := ReadWAV(bytes.NewReader(b)); !errors.Is(err, ErrNotWAV) || !strings.Contains(err.Error(), "block align") {
		t.Fatalf("bad block align: %v", err)
	}
}

// endless yields zero bytes forever.
type endless struct{}

func (endless) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestReadWAVTooLarge(t *testing.T) {
	hdr := wavFile{format: 1, channels: 1, rate: 8000, bits: 16, dataSize: 0xFFFFFFFF}.bytes()
	_, err := ReadWAV(io.MultiReader(bytes.NewReader(hdr), endless{}))
	if !errors.Is(err, ErrWAVTooLarge) {
		t.Fatalf("err = %v, want ErrWAVTooLarge", err)
	}
}

func FuzzReadWAV(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteWAV(&buf, tone(1000, 0.5, 320))
	f.Add(buf.Bytes())
	f.Add(wavFile{format: 1, channels: 2, rate: 44100, bits: 16, data: pcm16(1, 2, 3, 4, 5, 6), dataSize: -1}.bytes())
	f.Add(wavFile{format: 6, channels: 1, rate: 8000, bits: 8, data: []byte{1, 2, 3}, dataSize: -1}.bytes())
	f.Add(wavFile{format: 3, extensible: true, channels: 3, rate: 4000, bits: 32, data: make([]byte, 24), dataSize: -1}.bytes())
	f.Add(wavFile{format: 1, channels: 1, rate: 8000, bits: 24, data: make([]byte, 9), dataSize: 0xFFFFFFFF, before: []byte("LIST\x01\x00\x00\x00x\x00")}.bytes())
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Add([]byte("RIFF"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pcm, err := ReadWAV(bytes.NewReader(in))
		if err != nil {
			if pcm != nil {
				t.Fatal("samples returned with an error")
			}
			return
		}
		// At most one output sample per input byte, doubled by 4 kHz
		// upsampling: nothing declared in a header can inflate it.
		if len(pcm) > 2*len(in) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(in))
		}
		var out bytes.Buffer
		if err := WriteWAV(&out, pcm); err != nil {
			t.Fatal(err)
		}
		again, err := ReadWAV(&out)
		if err != nil || !equal(again, pcm) {
			t.Fatalf("rewritten file does not read back: %v", err)
		}
	})
}
