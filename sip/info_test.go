package sip

import (
	"errors"
	"testing"
	"time"
)

func TestParseDTMFInfo(t *testing.T) {
	tests := []struct {
		ct, body string
		digit    byte
		dur      time.Duration
		ok       bool
		bad      bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160 * time.Millisecond, true, false},
		{"application/dtmf-relay", "signal= #\nduration=250", '#', 250 * time.Millisecond, true, false},
		{"Application/DTMF-Relay; charset=utf-8", "Signal=*\r\n", '*', 0, true, false},
		{"application/dtmf-relay", "Signal=11\r\nDuration=100", '#', 100 * time.Millisecond, true, false},
		{"application/dtmf-relay", "Signal=d", 'D', 0, true, false},
		{"application/dtmf", "7", '7', 0, true, false},
		{"application/dtmf", " A\r\n", 'A', 0, true, false},
		{"application/dtmf-relay", "Duration=160", 0, 0, true, true},
		{"application/dtmf-relay", "Signal=E\r\n", 0, 0, true, true},
		{"application/dtmf-relay", "Signal=16\r\n", 0, 0, true, true},
		{"application/dtmf-relay", "Signal=5\r\nDuration=-1", 0, 0, true, true},
		{"application/dtmf-relay", "garbage", 0, 0, true, true},
		{"application/dtmf", "55", 0, 0, true, true},
		{"application/dtmf", "", 0, 0, true, true},
		{"text/plain", "Signal=5", 0, 0, false, false},
		{"", "Signal=5", 0, 0, false, false},
		{"application/media_control+xml", "<x/>", 0, 0, false, false},
	}
	for _, tt := range tests {
		digit, dur, ok, err := parseDTMFInfo(tt.ct, []byte(tt.body))
		if ok != tt.ok || (err != nil) != tt.bad || digit != tt.digit || dur != tt.dur {
			t.Errorf("%q %q: %q %v %v %v", tt.ct, tt.body, digit, dur, ok, err)
		}
		if err != nil && !errors.Is(err, ErrBadDTMFBody) {
			t.Errorf("%q: error %v does not wrap ErrBadDTMFBody", tt.body, err)
		}
	}
}

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf-relay", []byte("Signal=\r\n=\r\n\n\n"))
	f.Add("application/dtmf-relay; x=\"", []byte("Signal=1"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		digit, _, ok, err := parseDTMFInfo(ct, body)
		if !ok && err != nil {
			t.Fatalf("error for a content type not taken: %v", err)
		}
		if ok && err == nil {
			if _, err := infoDigit(string(digit)); err != nil {
				t.Fatalf("digit %q: %v", digit, err)
			}
		}
		if err != nil && !errors.Is(err, ErrBadDTMFBody) {
			t.Fatalf("error %v", err)
		}
	})
}

func TestHasTelephoneEvent(t *testing.T) {
	if !hasTelephoneEvent([]byte("v=0\r\nm=audio 1 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")) {
		t.Error("missed telephone-event")
	}
	if hasTelephoneEvent([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")) || hasTelephoneEvent(nil) {
		t.Error("telephone-event where there is none")
	}
}

func TestParseDTMFMode(t *testing.T) {
	for in, want := range map[string]DTMFMode{"": DTMFAuto, "auto": DTMFAuto, "INFO": DTMFInfo, "rfc4733": DTMFRFC4733} {
		if got, err := parseDTMFMode(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := parseDTMFMode("inband"); err == nil {
		t.Error("inband accepted")
	}
}
