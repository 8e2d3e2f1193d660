package audio

import (
	"math"
	"math/rand/v2"
	"testing"
)

func tone(freq, amp float64, n int) []int16 {
	pcm := make([]int16, n)
	t := NewTone(freq, amp)
	for i := 0; i < n; i += FrameSamples {
		t.ReadFrame(pcm[i:min(i+FrameSamples, n)])
	}
	return pcm
}

// Frames join without a phase jump: the tone read in 20 ms frames equals the
// tone read in one go, and equals the closed form.
func TestToneContinuousPhase(t *testing.T) {
	framed := tone(1000, 0.5, 8000)
	whole := make([]int16, 8000)
	NewTone(1000, 0.5).ReadFrame(whole)
	for i := range whole {
		want := math.Round(0.5 * math.MaxInt16 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate))
		if framed[i] != whole[i] || math.Abs(float64(framed[i])-want) > 1 {
			t.Fatalf("sample %d: framed %d, whole %d, want %v", i, framed[i], whole[i], want)
		}
	}
	// Odd frequency, odd frame sizes: no jump larger than one step allows.
	tn := NewTone(697, 1)
	var prev int16
	maxStep := math.MaxInt16 * 2 * math.Pi * 697 / SampleRate
	for i := range 1000 {
		f := make([]int16, 1+i%37)
		tn.ReadFrame(f)
		for j, s := range f {
			if (i > 0 || j > 0) && math.Abs(float64(s)-float64(prev)) > maxStep+1 {
				t.Fatalf("jump from %d to %d", prev, s)
			}
			prev = s
		}
	}
}

func TestToneSilence(t *testing.T) {
	for _, f := range []float64{0, -5, 4000, 5000, math.NaN()} {
		for _, s := range tone(f, 0.5, 400) {
			if s != 0 {
				t.Fatalf("NewTone(%v) is not silent", f)
			}
		}
	}
	var z Tone
	buf := []int16{1, 2, 3}
	z.ReadFrame(buf)
	if buf[0] != 0 || buf[2] != 0 {
		t.Error("zero Tone is not silent")
	}
	Silence{}.ReadFrame(buf)
}

func TestToneLevel(t *testing.T) {
	pure := tone(1000, 0.5, 8000)
	if l := ToneLevel(pure, SampleRate, 1000); l < 0.98 || l > 1 {
		t.Errorf("1 kHz tone at 1000 Hz: %.4f", l)
	}
	if l := ToneLevel(pure, SampleRate, 440); l > 0.01 {
		t.Errorf("1 kHz tone at 440 Hz: %.4f", l)
	}
	if l := ToneLevel(make([]int16, 800), SampleRate, 1000); l != 0 {
		t.Errorf("silence: %v", l)
	}
	if l := ToneLevel(nil, SampleRate, 1000); l != 0 {
		t.Errorf("empty: %v", l)
	}
	// Frequencies that are not on a DFT bin of the block.
	for _, f := range []float64{333.3, 697, 1209, 2600, 3500} {
		if l := ToneLevel(tone(f, 0.3, 4000), SampleRate, f); l < 0.97 {
			t.Errorf("%v Hz tone: %.4f", f, l)
		}
	}
	// Two tones of equal amplitude: half each.
	a, b := tone(440, 0.3, 8000), tone(1000, 0.3, 8000)
	mix := make([]int16, len(a))
	for i := range a {
		mix[i] = a[i] + b[i]
	}
	for _, f := range []float64{440, 1000} {
		if l := ToneLevel(mix, SampleRate, f); math.Abs(l-0.5) > 0.03 {
			t.Errorf("mix at %v Hz: %.4f, want 0.5", f, l)
		}
	}
	// White noise has no tone.
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, 8000)
	for i := range noise {
		noise[i] = int16(rng.IntN(20000) - 10000)
	}
	if l := ToneLevel(noise, SampleRate, 1000); l > 0.02 {
		t.Errorf("noise at 1 kHz: %.4f", l)
	}
	// Phase jumps (lost packets) spoil only the 50 ms blocks they fall in:
	// two jumps in 6 blocks.
	jumpy := append(tone(1000, 0.5, 1000), tone(1000, 0.5, 1000)[37:]...)
	jumpy = append(jumpy, tone(1000, 0.5, 555)...)
	if l := ToneLevel(jumpy, SampleRate, 1000); l < 0.8 {
		t.Errorf("tone with phase jumps: %.4f", l)
	}
	// A short buffer still works.
	if l := ToneLevel(tone(1000, 0.5, 160), SampleRate, 1000); l < 0.95 {
		t.Errorf("one frame: %.4f", l)
	}
	for _, f := range []float64{0, -1, 4000, math.NaN()} {
		if l := ToneLevel(pure, SampleRate, f); l != 0 {
			t.Errorf("freq %v: %v", f, l)
		}
	}
	if l := ToneLevel(pure, 0, 1000); l != 0 {
		t.Errorf("rate 0: %v", l)
	}
}

func TestDominantTone(t *testing.T) {
	cands := []float64{350, 440, 480, 620, 1000}
	for _, f := range cands {
		got, l := DominantTone(tone(f, 0.4, 4000), cands)
		if got != f || l < 0.95 {
			t.Errorf("tone %v: dominant %v at %.3f", f, got, l)
		}
	}
	if f, l := DominantTone(make([]int16, 400), cands); f != 0 || l != 0 {
		t.Errorf("silence: %v %v", f, l)
	}
	if f, l := DominantTone(tone(440, 0.5, 400), nil); f != 0 || l != 0 {
		t.Errorf("no candidates: %v %v", f, l)
	}
}

func TestLoop(t *testing.T) {
	l := NewLoop([]int16{1, 2, 3})
	got := make([]int16, 7)
	l.ReadFrame(got)
	want := []int16{1, 2, 3, 1, 2, 3, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	l.ReadFrame(got[:2])
	if got[0] != 2 || got[1] != 3 {
		t.Fatalf("loop lost its position: %v", got[:2])
	}
	var empty Loop
	got[0] = 9
	empty.ReadFrame(got)
	if got[0] != 0 {
		t.Error("empty loop is not silent")
	}
}

func BenchmarkToneLevel(b *testing.B) {
	pcm := tone(1000, 0.5, 8000)
	for b.Loop() {
		ToneLevel(pcm, SampleRate, 1000)
	}
}
