package sip

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/kamailiotest"
	"github.com/hubline/hubline/internal/sipptest"
)

// Kamailio as the trunk's outbound proxy, with digest auth, in front of the
// callee (SIPp): the call routes through it, and the in-dialog requests
// follow its Record-Route. SIPp checks the Vias it sees; Kamailio's log
// says what it relayed.

func startKamailio(t *testing.T, password string) *kamailiotest.Proxy {
	t.Helper()
	return kamailiotest.Start(t, kamailiotest.Options{
		Config: filepath.Join("testdata", "kamailio", "outbound_proxy.cfg"),
		Vars:   map[string]string{"Username": "hubline", "Password": password},
	})
}

func TestKamailioOutboundProxy(t *testing.T) {
	k := startKamailio(t, "s3cret")
	s := sipptest.Start(t, sipptest.Options{
		Scenario: scenarioFrom(t, "kamailio_callee.xml.tmpl", struct{ ProxyPort int }{k.Port}),
		Timeout:  15 * time.Second,
	})
	tr := Trunk{Name: "proxied", Address: s.Addr, Route: []string{k.Addr}, Username: "hubline", Password: "s3cret",
		FromDomain: "hubline.test", RingTimeout: 10 * time.Second}
	u := newTestUAWith(t, Options{Trunks: []Trunk{tr}})
	rec := newRecorder()
	o := dialTrunks(t, u, testInvite(), rec)
	if ev := rec.answered(t); ev.Trunk != "proxied" {
		t.Errorf("answered by %q", ev.Trunk)
	}
	o.Hangup(context.Background())
	if ev := rec.want(t, EventEnded); ev.Err != nil {
		t.Errorf("ended with %v", ev.Err)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
	for _, want := range []string{
		"hubline-test: challenge INVITE from sip:+15550100199@hubline.test",
		"hubline-test: authenticated INVITE from hubline to sip:+15550100100@" + s.Addr,
		"hubline-test: in-dialog ACK via record-route",
		"hubline-test: in-dialog BYE via record-route",
	} {
		if !strings.Contains(k.Logs(), want) {
			t.Errorf("kamailio did not log %q; it logged:\n%s", want, strings.Join(k.LogLines("hubline-test:"), "\n"))
		}
	}
}

// Wrong credentials: Kamailio challenges again, the call fails with 407 and
// nothing reaches the callee.
func TestKamailioRefusesWrongPassword(t *testing.T) {
	k := startKamailio(t, "other")
	tr := Trunk{Name: "proxied", Address: "127.0.0.1:9", Route: []string{"sip:" + k.Addr + ";lr"},
		Username: "hubline", Password: "s3cret", FromDomain: "hubline.test"}
	u := newTestUAWith(t, Options{Trunks: []Trunk{tr}})
	rec := newRecorder()
	dialTrunks(t, u, testInvite(), rec)
	if ev := rec.want(t, EventFailed); ev.Code != 407 {
		t.Errorf("event %+v, want 407", ev)
	}
	u.Close()
	rec.none(t)
	// Kamailio's log line for the second challenge may come after its 407
	// reached us: wait for it (and make sure no third one follows).
	eventually(t, "kamailio logs two challenged INVITEs (the first, and the wrong answer)", func() bool {
		return len(k.LogLines("hubline-test: challenge INVITE")) >= 2
	})
	if n := len(k.LogLines("hubline-test: challenge INVITE")); n != 2 {
		t.Errorf("kamailio challenged %d INVITEs, want 2 (the first, and the wrong answer)", n)
	}
	if got := k.LogLines("hubline-test: authenticated"); len(got) != 0 {
		t.Errorf("kamailio let a call through: %q", got)
	}
}
