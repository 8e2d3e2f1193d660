// Package sipptest runs SIPp (Debian package sip-tester) as a real SIP peer
// in tests: a scenario file, on loopback, as a child process that the test
// waits for and kills by PID when it ends.
//
// Tests that need SIPp call Require: without the binary the test is skipped,
// unless HUBLINE_REQUIRE_SIPP is set (scripts/test.sh sets it), in which
// case it fails, so that CI never passes by skipping.
//
// Imported by tests only.
package sipptest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the SIPp executable.
const Binary = "sipp"

// Require skips t (or fails it, with HUBLINE_REQUIRE_SIPP set) when SIPp is
// not installed.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(Binary); err == nil {
		return
	}
	if os.Getenv("HUBLINE_REQUIRE_SIPP") != "" {
		t.Fatalf("sipp not found on PATH and HUBLINE_REQUIRE_SIPP is set: run scripts/setup.sh")
	}
	t.Skip("sipp not installed (scripts/setup.sh installs it)")
}

// Options describe one SIPp run.
type Options struct {
	// Scenario is the path of the scenario XML file.
	Scenario string
	// Remote is "host:port" of the peer for client scenarios (UAC). Empty
	// for server scenarios (UAS).
	Remote string
	// Calls is -m, the number of calls after which SIPp exits. Zero: 1.
	Calls int
	// Transport is -t: "u1" (default, UDP one socket) or "t1" (TCP).
	Transport string
	// RTPEcho echoes the RTP received on the media port (-rtp_echo).
	RTPEcho bool
	// Vars are -set name value pairs, read in the scenario as [$name].
	Vars map[string]string
	// Args are further command-line arguments.
	Args []string
	// Timeout is SIPp's global timeout (-timeout, -timeout_error). Zero: 30s.
	Timeout time.Duration
	// Dir holds the scenario's files (audio for rtp_stream, pcaps); SIPp
	// runs there. Empty: a new temporary directory.
	Dir string
	// IP is the loopback address SIPp binds (SIP and media), e.g.
	// "127.0.0.2" for a peer that must not look like 127.0.0.1. Empty:
	// 127.0.0.1.
	IP string
}

// Peer is a running SIPp.
type Peer struct {
	// Addr is SIPp's SIP address, 127.0.0.1:port (Options.IP:port).
	Addr string
	// MediaPort is SIPp's RTP port (-mp).
	MediaPort int

	t       testing.TB
	cmd     *exec.Cmd
	dir     string
	base    string // scenario file name without .xml, as SIPp names its logs
	out     Output
	done    chan struct{}
	waitErr error
}

// Output is a peer process's output, written by exec's copying goroutine
// and read by the test (SIPp's here; kamailiotest and baresiptest use it
// too).
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Output) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Output) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start runs SIPp with o on 127.0.0.1 and returns once it listens for SIP.
// t's cleanup kills it (by PID) if it is still running, and shows its logs
// if t failed.
func Start(t testing.TB, o Options) *Peer {
	t.Helper()
	Require(t)
	scen, err := filepath.Abs(o.Scenario)
	if err != nil {
		t.Fatal(err)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Calls == 0 {
		o.Calls = 1
	}
	if o.Transport == "" {
		o.Transport = "u1"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	// The free ports may be taken again before SIPp binds them (other
	// test processes run too): then try again.
	for attempt := 1; ; attempt++ {
		p, bindErr := start(t, scen, o)
		if bindErr == "" {
			return p
		}
		if attempt == 3 {
			t.Fatalf("sipp could not bind its ports: %s", bindErr)
		}
		t.Logf("sipp could not bind its ports (%s); trying others", bindErr)
	}
}

// start runs SIPp once. It returns why when SIPp could not bind a port.
func start(t testing.TB, scen string, o Options) (*Peer, string) {
	t.Helper()
	tcp := o.Transport == "t1" || o.Transport == "tn"
	port, ctlPort, mport := FreePort(t, tcp), FreePort(t, false), FreeMediaPort(t)
	// Each FreePort probe closes its socket, so two may return the same
	// port: SIPp then binds SIP to it and cannot bind its control socket,
	// which it reports but survives, silent (TestSippTrunkHangsUp once).
	for ctlPort == port || (ctlPort >= mport && ctlPort <= mport+3) {
		ctlPort = FreePort(t, false)
	}
	base := strings.TrimSuffix(filepath.Base(scen), ".xml")
	args := []string{
		"-sf", scen,
		"-i", o.IP, "-p", strconv.Itoa(port), "-cp", strconv.Itoa(ctlPort),
		"-mi", o.IP, "-mp", strconv.Itoa(mport),
		"-t", o.Transport,
		"-m", strconv.Itoa(o.Calls),
		"-nostdin", "-nd",
		"-timeout", fmt.Sprintf("%ds", int(o.Timeout.Round(time.Second)/time.Second)), "-timeout_error",
		"-trace_msg", "-message_file", filepath.Join(o.Dir, base+"_messages.log"),
		"-trace_err", "-error_file", filepath.Join(o.Dir, base+"_errors.log"),
		"-trace_logs", "-log_file", filepath.Join(o.Dir, base+"_logs.log"),
	}
	if o.RTPEcho {
		args = append(args, "-rtp_echo")
	}
	for k, v := range o.Vars {
		args = append(args, "-set", k, v)
	}
	args = append(args, o.Args...)
	if o.Remote != "" {
		args = append(args, o.Remote)
	}
	p := &Peer{
		Addr:      net.JoinHostPort(o.IP, strconv.Itoa(port)),
		MediaPort: mport,
		t:         t,
		dir:       o.Dir,
		base:      base,
		done:      make(chan struct{}),
	}
	p.cmd = exec.Command(Binary, args...)
	p.cmd.Dir = o.Dir
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	// Its own process group, so that killing it never reaches the test.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("sipp %s:\n%s", filepath.Base(scen), p.Logs())
		}
	})
	if !p.waitListening(o.IP, port, tcp) {
		out := p.out.String()
		if strings.Contains(out, "Unable to bind") || strings.Contains(out, "Address already in use") {
			return nil, strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
		}
		t.Fatalf("sipp exited before listening: %v\n%s", p.waitErr, p.Logs())
	}
	return p, ""
}

// waitListening waits until SIPp has bound its SIP port (WaitListening). It
// reports false if SIPp exited first.
func (p *Peer) waitListening(ip string, port int, tcp bool) bool {
	ok, err := WaitListening(p.done, ip, port, tcp, 10*time.Second)
	if err != nil {
		p.t.Fatalf("sipp %v\n%s", err, p.Logs())
	}
	return ok
}

// WaitListening waits until a process has bound ip:port (an IPv4 address;
// UDP, or TCP when tcp), as /proc/net says; elsewhere it returns at once
// (retransmissions cover a late start). It reports false if exited closes
// first, and an error after within.
func WaitListening(exited <-chan struct{}, ip string, port int, tcp bool, within time.Duration) (bool, error) {
	table := "/proc/net/udp"
	if tcp {
		table = "/proc/net/tcp"
	}
	// /proc/net lists IPv4 addresses as little-endian hex.
	a := net.ParseIP(ip).To4()
	want := []byte(fmt.Sprintf("%02X%02X%02X%02X:%04X ", a[3], a[2], a[1], a[0], port))
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(within)
	for {
		b, err := os.ReadFile(table)
		if err != nil || bytes.Contains(b, want) {
			return true, nil
		}
		select {
		case <-exited:
			return false, nil
		case <-deadline:
			return false, fmt.Errorf("not listening on %s:%d after %v", ip, port, within)
		case <-tick.C:
		}
	}
}

// kill ends SIPp by PID if it is still running and waits for it.
func (p *Peer) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Wait waits for SIPp to exit, at most d, and returns nil when it ran its
// scenario to the end for every call (exit status 0). Otherwise the error
// holds its output and the tail of its error and message logs.
func (p *Peer) Wait(d time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(d):
		p.kill()
		return fmt.Errorf("sipp did not finish within %s\n%s", d, p.Logs())
	}
	if p.waitErr == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return fmt.Errorf("sipp exited with status %d (%s)\n%s", ee.ExitCode(), exitMeaning(ee.ExitCode()), p.Logs())
	}
	return fmt.Errorf("sipp: %v\n%s", p.waitErr, p.Logs())
}

// ExitCode is SIPp's exit status once Done is closed (0: every call ran
// the scenario to its end; 1: at least one failed), else -1.
func (p *Peer) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Done is closed when SIPp has exited.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Messages returns SIPp's message trace so far: every SIP message it sent
// and received.
func (p *Peer) Messages() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, p.base+"_messages.log"))
	return string(b)
}

// Logs returns SIPp's output, its error log and the last part of its
// message trace, for failure messages.
func (p *Peer) Logs() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- sipp output ---\n%s\n", p.out.String())
	if e, _ := os.ReadFile(filepath.Join(p.dir, p.base+"_errors.log")); len(e) > 0 {
		fmt.Fprintf(&b, "--- sipp errors ---\n%s\n", tail(string(e), 4000))
	}
	if l, _ := os.ReadFile(filepath.Join(p.dir, p.base+"_logs.log")); len(l) > 0 {
		fmt.Fprintf(&b, "--- sipp scenario log ---\n%s\n", tail(string(l), 2000))
	}
	fmt.Fprintf(&b, "--- sipp messages (tail) ---\n%s\n", tail(p.Messages(), 6000))
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func exitMeaning(code int) string {
	switch code {
	case 1:
		return "at least one call failed"
	case 97:
		return "exit on internal command"
	case 99:
		return "normal exit without calls processed"
	case 255:
		return "fatal error"
	case 254:
		return "fatal error binding a socket"
	}
	return "unexpected"
}

// FreePort returns a port that is free on 127.0.0.1 for UDP (and TCP when
// tcp is set) at the time of the call.
func FreePort(t testing.TB, tcp bool) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if tcp {
			ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				pc.Close()
				continue
			}
			ln.Close()
		}
		pc.Close()
		return port
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

// FreeMediaPort returns an even UDP port on 127.0.0.1 whose odd neighbour is
// free too (SIPp uses both for RTP and RTCP).
func FreeMediaPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		port := FreePort(t, false) &^ 1
		if port < 1024 {
			continue
		}
		a, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port
	}
	t.Fatal("no free even/odd port pair on 127.0.0.1")
	return 0
}

// StopGroup ends the process group of pid, started with Setpgid (a test's
// peer: Kamailio, baresip), by PID: SIGTERM, then SIGKILL after 3 s, and
// waits until exited closes. It returns at once if it has.
func StopGroup(pid int, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}
