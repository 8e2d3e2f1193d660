package softphone

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/hubline/hubline/internal/audio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDTMFPlayer(t *testing.T) {
	codes, err := parseDigits("1#")
	if err != nil {
		t.Fatal(err)
	}
	p := dtmfPlayer{codes: codes}
	var frames []dtmfFrame
	ts := uint32(1000)
	for i := 0; ; i++ {
		fr, done := p.next(ts)
		frames = append(frames, fr)
		ts += audio.FrameSamples
		if done {
			break
		}
		if i > 100 {
			t.Fatal("player never finished")
		}
	}
	// Two tones of 5 frames with a gap of 4 audio frames between them.
	if want := 2*dtmfToneFrames + dtmfGapFrames; len(frames) != want {
		t.Fatalf("%d frames, want %d", len(frames), want)
	}
	check := func(fs []dtmfFrame, event byte, start uint32) {
		t.Helper()
		for i, f := range fs {
			dur := uint16(f.payload[2])<<8 | uint16(f.payload[3])
			end := f.payload[1]&0x80 != 0
			switch {
			case !f.event || f.payload[0] != event || f.ts != start:
				t.Errorf("frame %d: %+v, want event %d at ts %d", i, f, event, start)
			case f.marker != (i == 0):
				t.Errorf("frame %d: marker %v", i, f.marker)
			case dur != uint16((i+1)*audio.FrameSamples):
				t.Errorf("frame %d: duration %d", i, dur)
			case end != (i == len(fs)-1):
				t.Errorf("frame %d: end bit %v", i, end)
			case end && f.copies != 3 || !end && f.copies != 1:
				t.Errorf("frame %d: %d copies", i, f.copies)
			case f.payload[1]&0x3f != dtmfVolume:
				t.Errorf("frame %d: volume %d", i, f.payload[1]&0x3f)
			}
		}
	}
	check(frames[:dtmfToneFrames], 1, 1000)
	for i, f := range frames[dtmfToneFrames : dtmfToneFrames+dtmfGapFrames] {
		if f.event {
			t.Errorf("gap frame %d is an event", i)
		}
	}
	check(frames[dtmfToneFrames+dtmfGapFrames:], 11, 1000+(dtmfToneFrames+dtmfGapFrames)*audio.FrameSamples)
}

func TestParseDigits(t *testing.T) {
	if c, err := parseDigits("09*#ad,"); err != nil || !slices.Equal(c, []int8{0, 9, 10, 11, 12, 15, -1}) {
		t.Errorf("parseDigits = %v, %v", c, err)
	}
	for _, bad := range []string{"", "1x", "E"} {
		if _, err := parseDigits(bad); !errors.Is(err, ErrBadDigit) {
			t.Errorf("parseDigits(%q) = %v, want ErrBadDigit", bad, err)
		}
	}
}

func TestRecorderFillsGaps(t *testing.T) {
	var r recorder
	one := []byte{audio.EncodeUlaw(1000), audio.EncodeUlaw(1000)}
	r.add(7, 100, audio.PCMU, one)
	r.add(7, 105, audio.PCMU, one) // 3 samples lost
	r.add(7, 103, audio.PCMU, one) // late: dropped
	r.add(7, 107, audio.PCMU, one)
	r.add(9, 5, audio.PCMU, one) // new source: appended
	if got, want := len(r.pcm), 2+3+2+2+2; got != want {
		t.Fatalf("%d samples, want %d", got, want)
	}
	if r.pcm[2] != 0 || r.pcm[4] != 0 || r.pcm[5] == 0 {
		t.Errorf("gap not filled with silence: %v", r.pcm)
	}
}

func TestReached(t *testing.T) {
	c := &Call{State: StateAnswered, States: []CallState{StateDialling, StateAnswered}}
	if ok, err := reached(c, StateRinging); !ok || err != nil {
		t.Errorf("answered call has not passed ringing: %v %v", ok, err)
	}
	c = &Call{State: StateEnded, EndStatus: "BUSY", SIPCode: 486, SIPReason: "Busy Here",
		States: []CallState{StateDialling, StateRinging, StateEnded}}
	ok, err := reached(c, StateAnswered)
	var ce *CallEndedError
	if !ok || !errors.As(err, &ce) || !errors.Is(err, ErrCallEnded) || ce.Want != "answered" {
		t.Fatalf("reached = %v, %v", ok, err)
	}
	if got, want := err.Error(), "softphone: call ended BUSY (SIP 486 Busy Here)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if ok, err := reached(c, StateEnded); !ok || err != nil {
		t.Errorf("ended: %v %v", ok, err)
	}
	if ok, _ := reached(c, StateCompleted); ok {
		t.Error("ended call counted as completed")
	}
}

func TestDecodeMessage(t *testing.T) {
	m, env, err := decodeMessage([]byte(`{"v":1,"type":"error","re":"c3","code":"auth_failed","message":"no","extra":1}`))
	if err != nil || env.Re != "c3" {
		t.Fatal(m, env, err)
	}
	if e, ok := m.(*Error); !ok || e.Code != CodeAuthFailed || e.Re != "c3" {
		t.Errorf("%#v", m)
	}
	m, _, err = decodeMessage([]byte(`{"v":1,"type":"call","callId":"x","state":"ended","engagementId":12345678901}`))
	if err != nil || m.(*Call).EngagementID != "12345678901" {
		t.Errorf("%#v %v", m, err)
	}
	m, _, _ = decodeMessage([]byte(`{"v":1,"type":"future"}`))
	if u, ok := m.(*Unknown); !ok || u.Type() != "future" {
		t.Errorf("%#v", m)
	}
	if _, _, err := decodeMessage([]byte(`[1]`)); err == nil {
		t.Error("a JSON array decoded")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"session","token":"t","iceServers":[{"urls":"stun:x"}]}`))
	f.Add([]byte(`{"v":1,"type":"sdk","name":"outgoingCall","data":{"a":1}}`))
	f.Add([]byte(`{"v":1,"type":"call","engagementId":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, err := decodeMessage(b)
		if err == nil && m == nil {
			t.Fatal("nil message without error")
		}
	})
}

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks("127.0.0.0/8, 10.1.2.3,::1/128")
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("::1/128")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseNetworks = %v, %v", got, err)
	}
	if _, err := ParseNetworks("localhost"); err == nil {
		t.Error("localhost parsed as a prefix")
	}
}
