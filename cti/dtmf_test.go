package cti

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

func TestDecodeDTMF(t *testing.T) {
	for _, f := range []string{
		`{"v":1,"type":"dtmf","callId":"c","digits":"0123456789*#ABCD"}`,
		`{"v":1,"type":"dtmf","callId":"c","digits":"5","id":"k1"}`,
	} {
		if _, err := decodeClientMsg([]byte(f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range []string{
		`{"v":1,"type":"dtmf","callId":"c"}`,
		`{"v":1,"type":"dtmf","digits":"1"}`,
		`{"v":1,"type":"dtmf","callId":"c","digits":"1E"}`,
		`{"v":1,"type":"dtmf","callId":"c","digits":"1 2"}`,
		`{"v":1,"type":"dtmf","callId":"c","digits":5}`,
		`{"v":1,"type":"dtmf","callId":"c","digits":"` + strings.Repeat("1", 65) + `"}`,
		`{"v":1,"type":"dtmf","callId":"` + strings.Repeat("c", 65) + `","digits":"1"}`,
	} {
		if _, err := decodeClientMsg([]byte(f)); err == nil || err.Code != "bad_message" {
			t.Errorf("%.70s: %v, want bad_message", f, err)
		}
	}
}

// fakeDTMFTrunk records the INFO digits it is asked to send, one at a time.
type fakeDTMFTrunk struct {
	mode sip.DTMFMode
	mu   sync.Mutex
	sent []byte
	busy bool
	fail error
	next chan struct{} // one token per digit sent
}

func (f *fakeDTMFTrunk) DTMFMode() sip.DTMFMode { return f.mode }

func (f *fakeDTMFTrunk) SendDTMF(ctx context.Context, digit byte, dur time.Duration) error {
	f.mu.Lock()
	if f.busy {
		f.mu.Unlock()
		return errors.New("two INFOs at once")
	}
	f.busy = true
	f.sent = append(f.sent, digit)
	f.mu.Unlock()
	time.Sleep(time.Millisecond) // an INFO transaction takes a while
	f.mu.Lock()
	f.busy = false
	f.mu.Unlock()
	f.next <- struct{}{}
	return f.fail
}

type fakeDTMFMedia struct {
	MediaSession
	sent string
	err  error
}

func (m *fakeDTMFMedia) SendDTMF(digits string) error {
	if m.err != nil {
		return m.err
	}
	m.sent += digits
	return nil
}

// TestDTMFSenderModes: the trunk's mode picks INFO or RFC 4733; INFO
// digits go one at a time, in order, across messages.
func TestDTMFSenderModes(t *testing.T) {
	log := zap.NewNop()
	info := &fakeDTMFTrunk{mode: sip.DTMFInfo, next: make(chan struct{}, 64)}
	m := &fakeDTMFMedia{}
	var d dtmfSender
	for _, digits := range []string{"12", "#", "A0"} {
		if via, pe := d.sendDTMF(log, info, m, digits); pe != nil || via != "info" {
			t.Fatalf("%s: %q %v", digits, via, pe)
		}
	}
	for range 5 {
		select {
		case <-info.next:
		case <-time.After(5 * time.Second):
			t.Fatal("INFO digits not sent")
		}
	}
	d.stop()
	if string(info.sent) != "12#A0" || m.sent != "" {
		t.Errorf("INFO %q, RTP %q", info.sent, m.sent)
	}

	for _, mode := range []sip.DTMFMode{sip.DTMFRFC4733, sip.DTMFAuto} {
		var d dtmfSender
		rtp := &fakeDTMFTrunk{mode: mode}
		m := &fakeDTMFMedia{}
		if via, pe := d.sendDTMF(log, rtp, m, "9*"); pe != nil || via != "rfc4733" || m.sent != "9*" {
			t.Errorf("%s: %q %v %q", mode, via, pe, m.sent)
		}
		d.stop()
	}
	// A trunk leg without INFO support (a test fake, the demo trunk): RFC 4733.
	if via, pe := d.sendDTMF(log, struct{}{}, &fakeDTMFMedia{}, "1"); pe != nil || via != "rfc4733" {
		t.Errorf("no DTMFTrunk: %q %v", via, pe)
	}
	// RFC 4733 impossible: a clear error.
	_, pe := d.sendDTMF(log, &fakeDTMFTrunk{mode: sip.DTMFRFC4733}, &fakeDTMFMedia{err: media.ErrNoTelephoneEvent}, "1")
	if pe == nil || pe.Code != "dtmf_failed" {
		t.Errorf("no telephone-event: %v", pe)
	}
}

// TestDTMFSenderStopDrains: stop returns promptly with digits still
// queued (the call is over), and sends none after.
func TestDTMFSenderStopDrains(t *testing.T) {
	slow := &fakeDTMFTrunk{mode: sip.DTMFInfo, next: make(chan struct{}, 64)}
	var d dtmfSender
	if _, pe := d.sendDTMF(zap.NewNop(), slow, nil, strings.Repeat("5", 64)); pe != nil {
		t.Fatal(pe)
	}
	<-slow.next
	d.stop()
	slow.mu.Lock()
	n := len(slow.sent)
	slow.mu.Unlock()
	if n == 64 {
		t.Errorf("every digit sent after stop")
	}
}
