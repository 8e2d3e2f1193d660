package sip

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// Trunk management against SIPp: registration, keepalive, failover, call
// caps, number formats, caller ID, and requests from strangers. The
// scenarios check what hubline sends; the tests check what it reports.

// sippCheck is one ereg of check_invite.xml.tmpl: Regexp must match (must
// not, with Absent) in the message ("msg"), or in header Header ("hdr").
type sippCheck struct {
	In, Header, Regexp string
	Absent             bool
}

func msgHas(re string) sippCheck { return sippCheck{In: "msg", Regexp: xmlAttr.Replace(re)} }

func hdrHas(name, re string) sippCheck {
	return sippCheck{In: "hdr", Header: name + ":", Regexp: xmlAttr.Replace(re)}
}

// xmlAttr escapes an XML attribute value with the named entities SIPp's
// parser knows (it does not decode numeric ones).
var xmlAttr = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func hdrAbsent(name string) sippCheck {
	return sippCheck{In: "hdr", Header: name + ":", Regexp: ".", Absent: true}
}

// scenarioFrom fills in the template testdata/sipp/name and returns the
// path of the scenario file.
func scenarioFrom(t *testing.T, name string, data any) string {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".tmpl"))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tmpl.Execute(f, data); err != nil {
		t.Fatal(err)
	}
	return path
}

func sippNamed(name string, s *sipptest.Peer) Trunk {
	tr := sippTrunk(s)
	tr.Name = name
	return tr
}

// Registration with a 401 challenge, a 2-second lifetime whose refresh must
// arrive in time and carry credentials, and the unregister on Close.
func TestSippRegistration(t *testing.T) {
	s := startSipp(t, "register.xml")
	tr := Trunk{Name: "reg", Address: s.Addr, Username: "alice", Password: "s3cret", FromDomain: "sipp.test",
		Register: Registration{Enabled: true, Expires: 600 * time.Second}}
	u := newTestUAWith(t, Options{Trunks: []Trunk{tr}})
	eventually(t, "registered for 600s after the refresh", func() bool {
		r := status(u, "reg").Registration
		return r.State == RegRegistered && time.Until(r.Expires) > 500*time.Second
	})
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	passed(t, s)
	if r := status(u, "reg").Registration; r.State != RegUnregistered || r.Error != "" {
		t.Errorf("after Close: %+v", r)
	}
}

// A trunk that answers its probes is up; when it stops answering it goes
// down, and the call goes to the second trunk.
func TestSippKeepaliveFailover(t *testing.T) {
	a := startSipp(t, "options_twice.xml")
	b := startSipp(t, "answer_then_caller_bye.xml")
	ta := Trunk{Name: "a", Address: a.Addr, Keepalive: Keepalive{Interval: 300 * time.Millisecond, Timeout: 300 * time.Millisecond, DownAfter: 1}}
	u := newTestUAWith(t, Options{Trunks: []Trunk{ta, sippNamed("b", b)}})
	passed(t, a) // two probes answered; then SIPp is gone
	if st := status(u, "a"); !st.Up || st.LastProbe.IsZero() {
		t.Errorf("a after two answered probes: %+v", st)
	}
	eventually(t, "a down", func() bool { return !status(u, "a").Up })
	rec := newRecorder()
	o := dialTrunks(t, u, testInvite(), rec)
	if ev := rec.answered(t); ev.Trunk != "b" {
		t.Errorf("answered by %q, want b", ev.Trunk)
	}
	o.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, b)
	u.Close()
	rec.none(t)
}

// 486 and 603 are the callee's answers: no failover, the second trunk sees
// nothing at all.
func TestSippNoFailoverOnBusyOrDecline(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		code     int
	}{{"busy.xml", 486}, {"decline.xml", 603}} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			a := startSipp(t, tt.scenario)
			b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			u := newTestUAWith(t, Options{Trunks: []Trunk{sippNamed("a", a), {Name: "b", Address: b.LocalAddr().String()}}})
			rec := newRecorder()
			dialTrunks(t, u, testInvite(), rec)
			if ev := rec.want(t, EventFailed); ev.Code != tt.code || ev.Trunk != "a" {
				t.Errorf("event %+v, want %d from a", ev, tt.code)
			}
			passed(t, a)
			u.Close()
			// A failover INVITE would have been sent before the event: on
			// loopback it would be queued on b's socket by now.
			_ = b.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, _, err := b.ReadFromUDP(make([]byte, 2048)); err == nil {
				t.Errorf("trunk b got %d bytes", n)
			}
			rec.none(t)
		})
	}
}

// 503 moves the call to the next trunk with the same Call-ID; the caller
// sees one call.
func TestSippFailoverOn503(t *testing.T) {
	a := startSipp(t, "unavailable.xml")
	b := startSipp(t, "answer_then_caller_bye.xml")
	u := newTestUAWith(t, Options{Trunks: []Trunk{sippNamed("a", a), sippNamed("b", b)}})
	rec := newRecorder()
	inv := testInvite()
	o := dialTrunks(t, u, inv, rec)
	if ev := rec.want(t, EventProvisional); ev.Code != 180 || ev.Trunk != "b" {
		t.Errorf("first event %+v, want b's 180 (a's 503 is not reported)", ev)
	}
	rec.want(t, EventAnswered)
	o.Hangup(context.Background())
	rec.want(t, EventEnded)
	passed(t, a)
	passed(t, b)
	for name, s := range map[string]*sipptest.Peer{"a": a, "b": b} {
		if !strings.Contains(s.Messages(), "Call-ID: "+inv.CallID) {
			t.Errorf("trunk %s did not see Call-ID %s", name, inv.CallID)
		}
	}
	u.Close()
	rec.none(t)
}

// A trunk at its MaxCalls sends the next call to the next trunk.
func TestSippMaxCalls(t *testing.T) {
	a := startSipp(t, "answer_then_caller_bye.xml")
	b := startSipp(t, "answer_then_caller_bye.xml")
	ta := sippNamed("a", a)
	ta.MaxCalls = 1
	u := newTestUAWith(t, Options{Trunks: []Trunk{ta, sippNamed("b", b)}})
	rec1, rec2 := newRecorder(), newRecorder()
	o1 := dialTrunks(t, u, testInvite(), rec1)
	if ev := rec1.answered(t); ev.Trunk != "a" {
		t.Errorf("call 1 answered by %q, want a", ev.Trunk)
	}
	o2 := dialTrunks(t, u, testInvite(), rec2)
	if ev := rec2.answered(t); ev.Trunk != "b" {
		t.Errorf("call 2 answered by %q, want b (a is full)", ev.Trunk)
	}
	if st := status(u, "a"); st.Calls != 1 || st.MaxCalls != 1 {
		t.Errorf("a: %+v", st)
	}
	o1.Hangup(context.Background())
	o2.Hangup(context.Background())
	rec1.want(t, EventEnded)
	rec2.want(t, EventEnded)
	passed(t, a)
	passed(t, b)
	u.Close()
}

// The Request-URI, To, From and P-Asserted-Identity carry the numbers as
// the trunk wants them, with the caller-ID policy's headers.
func TestSippNumberFormatAndCallerID(t *testing.T) {
	u := newTestUA(t)
	for _, tt := range []struct {
		name   string
		trunk  func(*Trunk)
		checks []sippCheck
	}{
		{"national with dial prefix", func(tr *Trunk) {
			tr.Numbers = NumberFormat{Style: "national", Region: "US", DialPrefix: "9"}
		}, []sippCheck{
			msgHas(`^INVITE sip:95550100100@127\.0\.0\.1:[0-9]+ SIP/2\.0`),
			hdrHas("To", `^ *<sip:95550100100@127\.0\.0\.1>$`),
			hdrHas("From", `<sip:5550100199@127\.0\.0\.1>;tag=`),
			hdrAbsent("P-Asserted-Identity"), hdrAbsent("Privacy"),
		}},
		{"E.164 without plus", func(tr *Trunk) { tr.Numbers.Style = "e164-noplus" }, []sippCheck{
			msgHas(`^INVITE sip:15550100100@127\.0\.0\.1:[0-9]+ SIP/2\.0`),
			hdrHas("From", `<sip:15550100199@127\.0\.0\.1>;tag=`),
		}},
		{"asserted identity", func(tr *Trunk) {
			tr.FromDomain, tr.CallerID = "sales.example.com", CallerID{AssertIdentity: true, FromUser: "acct-77"}
		}, []sippCheck{
			msgHas(`^INVITE sip:\+15550100100@127\.0\.0\.1:[0-9]+;user=phone SIP/2\.0`),
			hdrHas("From", `<sip:acct-77@sales\.example\.com>;tag=`),
			hdrHas("P-Asserted-Identity", `<sip:\+15550100199@sales\.example\.com;user=phone>$`),
			hdrAbsent("Privacy"),
		}},
		{"privacy id", func(tr *Trunk) {
			tr.FromDomain, tr.CallerID = "sales.example.com", CallerID{Privacy: "id"}
		}, []sippCheck{
			hdrHas("From", `^ *"Anonymous" <sip:anonymous@anonymous\.invalid>;tag=`),
			hdrHas("P-Asserted-Identity", `<sip:\+15550100199@sales\.example\.com;user=phone>$`),
			hdrHas("Privacy", `^ *id$`),
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := sipptest.Start(t, sipptest.Options{
				Scenario: scenarioFrom(t, "check_invite.xml.tmpl", struct{ Checks []sippCheck }{tt.checks}),
				Timeout:  15 * time.Second,
			})
			tr := sippTrunk(s)
			tt.trunk(&tr)
			rec := newRecorder()
			dial(t, u, tr, testInvite(), rec)
			if ev := rec.want(t, EventFailed); ev.Code != 603 {
				t.Errorf("event %+v, want the scenario's 603", ev)
			}
			passed(t, s)
		})
	}
}

// Out-of-dialog requests from an address that is no trunk's get 403 (with
// nothing that says who refuses); OPTIONS follow their own policy; the
// trunk's own address is let through (to OnInvite; 480 without one).
func TestSippUnknownSource(t *testing.T) {
	run := func(t *testing.T, u *UA, ip, method string, code int, anonymous bool) {
		t.Helper()
		s := sipptest.Start(t, sipptest.Options{
			Scenario: scenarioFrom(t, "uac_request.xml.tmpl", struct {
				Method    string
				Code      int
				Anonymous bool
			}{method, code, anonymous}),
			Remote: u.Addr(), IP: ip, Timeout: 10 * time.Second,
		})
		passed(t, s)
	}
	home := Trunk{Name: "home", Address: "127.0.0.1:9"}
	inv := &invites{code: 486}
	u := newTestUAWith(t, Options{Trunks: []Trunk{home}, UnknownSourceOptions: Answer, OnInvite: inv.onInvite})
	t.Run("INVITE from a stranger", func(t *testing.T) { run(t, u, "127.0.0.2", "INVITE", 403, true) })
	t.Run("MESSAGE from a stranger", func(t *testing.T) { run(t, u, "127.0.0.2", "MESSAGE", 403, true) })
	t.Run("OPTIONS from a stranger, answered", func(t *testing.T) { run(t, u, "127.0.0.2", "OPTIONS", 200, false) })
	if got := inv.all(); len(got) != 0 {
		t.Errorf("OnInvite saw %d INVITEs from strangers", len(got))
	}
	t.Run("INVITE from the trunk", func(t *testing.T) { run(t, u, "127.0.0.1", "INVITE", 486, false) })
	if got := inv.all(); len(got) != 1 || got[0].Trunk != "home" {
		t.Errorf("OnInvite got %+v, want one INVITE from trunk home", got)
	}
	u.Close()

	u = newTestUAWith(t, Options{Trunks: []Trunk{home}})
	t.Run("OPTIONS from a stranger, refused", func(t *testing.T) { run(t, u, "127.0.0.2", "OPTIONS", 403, true) })
	t.Run("INVITE from the trunk, no handler", func(t *testing.T) { run(t, u, "127.0.0.1", "INVITE", 480, false) })
}
