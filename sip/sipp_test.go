package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Interop tests against sipp (Debian package sip-tester) playing the trunk:
// the scenarios in testdata/sipp check what hubline sends (an unexpected or
// malformed message fails the scenario, and sipp exits non-zero); the tests
// check the events hubline reports.
//
// Without sipp they are skipped, unless HUBLINE_REQUIRE_SIPP is set (as in
// CI): then they fail.

// sippUAS is one sipp process running a UAS scenario for one call.
type sippUAS struct {
	addr string // where it listens (UDP)
	dir  string // its traces
	out  syncBuffer
	done chan struct{} // closed when it exited
	err  error         // its exit, once done
}

// startSipp runs sipp with scenario (a file in testdata/sipp) on a free
// 127.0.0.1 port, in the foreground as a child process, for one call; the
// process is killed when the test ends if still running.
func startSipp(t *testing.T, scenario string, args ...string) *sippUAS {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("HUBLINE_REQUIRE_SIPP") != "" {
			t.Fatalf("sipp is required (HUBLINE_REQUIRE_SIPP is set) but not found: %v", err)
		}
		t.Skip("sipp not installed (Debian package sip-tester); set HUBLINE_REQUIRE_SIPP=1 to fail instead")
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	// The free ports may be taken again before sipp binds them (other
	// processes run tests too): try again then.
	for attempt := 1; ; attempt++ {
		s, bindErr := runSipp(t, bin, sf, args)
		if bindErr == "" {
			return s
		}
		if attempt == 3 {
			t.Fatalf("sipp could not bind its ports: %s", bindErr)
		}
		t.Logf("sipp could not bind its ports (%s); again", bindErr)
	}
}

// runSipp starts sipp once; it returns why when sipp could not bind a port.
func runSipp(t *testing.T, bin, scenario string, args []string) (*sippUAS, string) {
	t.Helper()
	s := &sippUAS{dir: t.TempDir(), done: make(chan struct{})}
	ports := freeUDPPorts(t, 3)
	port, ctlPort, mediaPort := ports[0], ports[1], ports[2]
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	argv := append([]string{
		"-sf", scenario,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-cp", strconv.Itoa(ctlPort), "-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-m", "1", "-nostdin",
		"-timeout", "15s", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(s.dir, "errors.log"),
		"-trace_msg", "-message_file", filepath.Join(s.dir, "messages.log"),
	}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
			<-s.done
		}
	})
	if !s.waitListening(t, port) {
		if out := s.out.String(); strings.Contains(out, "Unable to bind") || strings.Contains(out, "Address already in use") {
			return nil, strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
		}
		t.Fatalf("sipp exited before listening: %v\n%s", s.err, s.traces())
	}
	return s, ""
}

// freeUDPPorts are n distinct UDP ports free on 127.0.0.1 a moment ago.
func freeUDPPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports
}

// waitListening waits until sipp has bound its UDP port (Linux: read from
// /proc; elsewhere INVITE retransmissions cover a late start). It reports
// false if sipp exited first.
func (s *sippUAS) waitListening(t *testing.T, port int) bool {
	t.Helper()
	want := fmt.Sprintf("0100007F:%04X ", port)
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			return true
		}
		if bytes.Contains(b, []byte(want)) {
			return true
		}
		select {
		case <-s.done:
			return false
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sipp not listening on %d after %v\n%s", port, wait, s.traces())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the exec goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// passed waits for sipp to exit and fails the test unless the scenario
// completed (exit status 0).
func (s *sippUAS) passed(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Fatalf("sipp still running after %v\n%s", wait, s.traces())
	}
	if s.err != nil {
		t.Fatalf("sipp scenario failed (%v)\n%s", s.err, s.traces())
	}
}

// traces are sipp's output, unexpected messages and message trace.
func (s *sippUAS) traces() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- sipp output:\n%s\n", s.out.String())

	for _, f := range []string{"errors.log", "messages.log"} {
		if data, err := os.ReadFile(filepath.Join(s.dir, f)); err == nil {
			fmt.Fprintf(&b, "--- sipp %s:\n%s\n", f, data)
		}
	}
	return b.String()
}

func sippTrunk(s *sippUAS) Trunk {
	return Trunk{Name: "sipp", Address: s.addr, RingTimeout: 10 * time.Second}
}

// sippSDP is the SDP of the scenarios, with o= version and m=audio port:
// sipp sends their lines with CRLF.
func sippSDP(version, port int) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=sipp 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", version, port))
}

func TestSippAnsweredThenWeHangUp(t *testing.T) {
	s := startSipp(t, "answer_then_caller_bye.xml")
	u := newTestUA(t)
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	if ev := rec.want(t, EventProvisional); ev.Code != 180 {
		t.Errorf("provisional %+v, want 180", ev)
	}
	if ev := rec.want(t, EventAnswered); ev.Code != 200 || !bytes.Equal(ev.SDP, sippSDP(1, 6000)) {
		t.Errorf("answered %+v, want 200 with sipp's SDP %q", ev, sippSDP(1, 6000))
	}
	c.Hangup(context.Background())
	if ev := rec.want(t, EventEnded); ev.Err != nil {
		t.Errorf("ended with %v", ev.Err)
	}
	s.passed(t)
	u.Close()
	rec.none(t)
}

func TestSippTrunkHangsUp(t *testing.T) {
	s := startSipp(t, "answer_then_trunk_bye.xml")
	u := newTestUA(t)
	rec := newRecorder()
	dial(t, u, sippTrunk(s), testInvite(), rec)
	rec.want(t, EventAnswered)
	const reason = `Q.850;cause=16;text="Normal call clearing"`
	if ev := rec.want(t, EventHangup); ev.ReasonHeader != reason {
		t.Errorf("hangup Reason header %q, want %q", ev.ReasonHeader, reason)
	}
	s.passed(t)
	u.Close()
	rec.none(t)
}

func TestSippRejected(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		code     int
		reason   string
		cause    int
	}{
		{"busy.xml", 486, "Busy Here", 17},
		{"decline.xml", 603, "Decline", 21},
	} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			s := startSipp(t, tt.scenario)
			u := newTestUA(t)
			rec := newRecorder()
			dial(t, u, sippTrunk(s), testInvite(), rec)
			ev := rec.want(t, EventFailed)
			if ev.Code != tt.code || ev.Reason != tt.reason || ev.ReasonHeader != "Q.850;cause="+strconv.Itoa(tt.cause) ||
				ev.Canceled || ev.RingTimeout || ev.Err != nil {
				t.Errorf("event %+v, want %d %s with its Reason header", ev, tt.code, tt.reason)
			}
			s.passed(t)
			u.Close()
			rec.none(t)
		})
	}
}

func TestSippDigestAuth(t *testing.T) {
	s := startSipp(t, "digest_auth.xml")
	u := newTestUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.Username, tr.Password = "alice", "s3cret"
	c := dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventAnswered)
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	s.passed(t)
	u.Close()
	rec.none(t)
}

func TestSippEarlyMedia(t *testing.T) {
	s := startSipp(t, "early_media.xml")
	u := newTestUA(t)
	rec := newRecorder()
	c := dial(t, u, sippTrunk(s), testInvite(), rec)
	if ev := rec.want(t, EventProvisional); ev.Code != 183 || !bytes.Equal(ev.SDP, sippSDP(1, 6002)) {
		t.Errorf("provisional %+v, want 183 with SDP %q", ev, sippSDP(1, 6002))
	}
	if ev := rec.want(t, EventAnswered); !bytes.Equal(ev.SDP, sippSDP(2, 6004)) {
		t.Errorf("answered %+v, want SDP %q", ev, sippSDP(2, 6004))
	}
	c.Hangup(context.Background())
	rec.want(t, EventEnded)
	s.passed(t)
	u.Close()
	rec.none(t)
}

func TestSippRingTimeout(t *testing.T) {
	s := startSipp(t, "ring_forever.xml")
	u := newTestUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.RingTimeout = 300 * time.Millisecond
	dial(t, u, tr, testInvite(), rec)
	rec.want(t, EventProvisional)
	ev := rec.want(t, EventFailed)
	if !ev.RingTimeout || ev.Canceled || ev.Code != 487 || ev.Err != nil {
		t.Errorf("event %+v, want ring timeout with 487", ev)
	}
	s.passed(t)
	u.Close()
	rec.none(t)
}

// The sipp helper reports a scenario that fails (here: hubline answers the
// challenge with wrong credentials) instead of passing it silently.
func TestSippDetectsWrongCredentials(t *testing.T) {
	s := startSipp(t, "digest_auth.xml")
	u := newTestUA(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.Username, tr.Password = "alice", "wrong"
	dial(t, u, tr, testInvite(), rec)
	if ev := rec.want(t, EventFailed); ev.Code != 403 {
		t.Errorf("event %+v, want 403", ev)
	}
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Fatalf("sipp still running after %v", wait)
	}
	var exit *exec.ExitError
	if !errors.As(s.err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("sipp exit %v, want status 1 (a failed call)\n%s", s.err, s.traces())
	}
	u.Close()
	rec.none(t)
}
