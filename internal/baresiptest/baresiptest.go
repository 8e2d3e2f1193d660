// Package baresiptest runs baresip (the Debian package, 1.0) headless on
// loopback for the tests: a SIP phone we did not write, as a trunk's callee.
// It answers every call at once, sends a sine tone of the test's frequency
// (ausine), keeps what it hears as WAV files (sndfile), logs the DTMF it
// receives, and takes commands (a DTMF digit to send) on its ctrl_tcp
// socket. It can listen on TLS with a certificate from a throwaway CA
// (NewPKI), encrypt its media with SDES-SRTP (srtp.so, Options.MediaEnc),
// and trace every SIP message with its transport (Trace). The process is
// killed by PID when the test ends; its log is dumped if the test failed.
//
// Imported by tests only.
package baresiptest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/hubline/hubline/internal/sipptest"
)

// Require skips the test when baresip is not installed, or fails it with
// HUBLINE_REQUIRE_SIPP set (scripts/test.sh sets it: CI must run the
// interop tests, not skip them).
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		if os.Getenv("HUBLINE_REQUIRE_SIPP") != "" {
			t.Fatal("baresip not installed (scripts/setup.sh installs it) and HUBLINE_REQUIRE_SIPP is set")
		}
		t.Skip("baresip not installed (scripts/setup.sh installs it)")
	}
}

// Options describe one baresip.
type Options struct {
	// ToneHz is the frequency of the sine baresip sends. Zero: 440.
	ToneHz int
	// User is the user part of its account (the Request-URI user it
	// answers). Empty: "+14155550199".
	User string
	// TLSCert is a PEM file holding baresip's TLS server certificate (and
	// its chain) and private key, in one file as libre wants them. Set, baresip
	// listens on TLS too, on the port after its UDP/TCP one (libre's
	// convention); Phone.TLSAddr is that address.
	TLSCert string
	// CAFile is the PEM bundle baresip trusts when it opens TLS
	// connections itself (sip_cafile).
	CAFile string
	// MediaEnc is the account's media encryption (baresip's mediaenc
	// parameter, srtp.so): "srtp" (SDES offered in RTP/AVP, optional),
	// "srtp-mand" (RTP/SAVP, mandatory) or "srtp-mandf" (RTP/SAVPF).
	// Empty: plain RTP.
	MediaEnc string
	// SIPTrace makes baresip print every SIP message it sends and
	// receives (with its transport) in its log.
	SIPTrace bool
}

// Phone is a running baresip.
type Phone struct {
	// Addr is its SIP address, "127.0.0.1:port" (UDP).
	Addr string
	// TLSAddr is its SIP address over TLS, "127.0.0.1:port"; empty
	// without Options.TLSCert.
	TLSAddr string
	// Dir is its configuration directory; the WAV files it records are in
	// Dir/dump.
	Dir string

	t       testing.TB
	cmd     *exec.Cmd
	ctrl    string // ctrl_tcp address
	out     sipptest.Output
	done    chan struct{}
	waitErr error

	ctrlConn  net.Conn
	ctrlDone  chan struct{} // closed when readCtrl returns
	cmdMu     sync.Mutex    // one command at a time
	responses chan ctrlMsg

	mu     sync.Mutex // guards the fields below
	dtmf   strings.Builder
	events []string
	change chan struct{} // closed at the next event
}

// Start runs baresip and waits until it listens.
func Start(t testing.TB, o Options) *Phone {
	t.Helper()
	Require(t)
	if o.ToneHz == 0 {
		o.ToneHz = 440
	}
	if o.User == "" {
		o.User = "+14155550199"
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "dump"), 0o755); err != nil {
		t.Fatal(err)
	}
	sipPort := freePorts(t)
	ctrlPort := sipptest.FreePort(t, true)
	modules := "/usr/lib/baresip/modules" // Debian's
	if m, _ := filepath.Glob("/usr/lib/*/baresip/modules"); len(m) > 0 {
		if _, err := os.Stat(modules); err != nil {
			modules = m[0]
		}
	}
	config := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
call_local_timeout 120
call_max_calls 4
audio_player aubridge,nil
audio_source ausine,%d
audio_alert aubridge,nil
ausrc_srate 48000
ausrc_channels 2
auplay_srate 48000
auplay_channels 2
audio_level no
rtp_ports 34000-34999
jitter_buffer_delay 1-5
module_path %s
module g711.so
module ausine.so
module aubridge.so
module sndfile.so
snd_path %s
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:%d
`, sipPort, o.ToneHz, modules, filepath.Join(dir, "dump"), ctrlPort)
	if o.TLSCert != "" {
		config += "sip_certificate " + o.TLSCert + "\n"
	}
	if o.CAFile != "" {
		config += "sip_cafile " + o.CAFile + "\n"
	}
	account := "regint=0;answermode=auto;audio_codecs=PCMU"
	if o.MediaEnc != "" {
		config += "module srtp.so\n"
		account += ";mediaenc=" + o.MediaEnc
	}
	accounts := fmt.Sprintf("<sip:%s@127.0.0.1>;%s\n", o.User, account)
	for name, body := range map[string]string{"config": config, "accounts": accounts, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &Phone{Addr: "127.0.0.1:" + strconv.Itoa(sipPort), Dir: dir, t: t, ctrl: "127.0.0.1:" + strconv.Itoa(ctrlPort),
		done: make(chan struct{}), ctrlDone: make(chan struct{}), responses: make(chan ctrlMsg, 1), change: make(chan struct{})}
	if o.TLSCert != "" {
		p.TLSAddr = "127.0.0.1:" + strconv.Itoa(sipPort+1)
	}
	args := []string{"-f", dir, "-n", "127.0.0.1", "-v"}
	if o.SIPTrace {
		args = append(args, "-s")
	}
	p.cmd = exec.Command("baresip", args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("baresip log:\n%s", p.Log())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", p.ctrl, 200*time.Millisecond); err == nil {
			p.ctrlConn = c
			go p.readCtrl(c)
			t.Cleanup(func() {
				c.Close()
				<-p.ctrlDone
			})
			break
		}
		select {
		case <-p.done:
			t.Fatalf("baresip exited: %v\n%s", p.waitErr, p.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip did not listen on %s:\n%s", p.ctrl, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// kill ends the process by its PID (its process group).
func (p *Phone) kill() { sipptest.StopGroup(p.cmd.Process.Pid, p.done) }

// Log is what baresip printed so far.
func (p *Phone) Log() string { return p.out.String() }

// ReceivedDTMF is the digits baresip reported receiving (its
// CALL_DTMF_START events on ctrl_tcp), in order.
func (p *Phone) ReceivedDTMF() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dtmf.String()
}

// WaitDTMF waits until baresip received len(want) digits and returns them.
func (p *Phone) WaitDTMF(want string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		got := p.ReceivedDTMF()
		if len(got) >= len(want) {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("baresiptest: received DTMF %q within %v, want %q", got, d, want)
		}
		select {
		case <-p.changed():
		case <-time.After(time.Until(deadline)):
		}
	}
}

// changed is closed at the next event from baresip.
func (p *Phone) changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.change
}

// WaitLog waits until baresip's log contains s.
func (p *Phone) WaitLog(s string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !strings.Contains(p.Log(), s) {
		if time.Now().After(deadline) {
			return fmt.Errorf("baresiptest: no %q in the log within %v", s, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// ctrlMsg is a message from ctrl_tcp: a command's response or an event.
type ctrlMsg struct {
	Event    bool   `json:"event"`
	Type     string `json:"type"`
	Param    string `json:"param"`
	Response bool   `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
}

// readCtrl reads ctrl_tcp's netstrings until the connection closes.
func (p *Phone) readCtrl(c net.Conn) {
	defer close(p.ctrlDone)
	r := bufio.NewReader(c)
	for {
		n, err := r.ReadString(':')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(n), ":"))
		if err != nil || size < 0 || size > 1<<20 {
			return
		}
		buf := make([]byte, size+1) // the payload and its ','
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var m ctrlMsg
		if json.Unmarshal(buf[:size], &m) != nil {
			continue
		}
		switch {
		case m.Response:
			select {
			case p.responses <- m:
			default:
			}
		case m.Event:
			p.mu.Lock()
			if m.Type == "CALL_DTMF_START" {
				p.dtmf.WriteString(m.Param)
			}
			p.events = append(p.events, m.Type)
			close(p.change)
			p.change = make(chan struct{})
			p.mu.Unlock()
		}
	}
}

// Events are the types of the events baresip reported, in order.
func (p *Phone) Events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.events...)
}

// Command runs a baresip command (menu's, e.g. "sndcode" with "5") on the
// ctrl_tcp socket and returns its response.
func (p *Phone) Command(command, params string) (string, error) {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	req, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": "t"})
	_ = p.ctrlConn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(p.ctrlConn, "%d:%s,", len(req), req); err != nil {
		return "", err
	}
	select {
	case m := <-p.responses:
		if !m.OK {
			return m.Data, fmt.Errorf("baresiptest: %s %s failed: %s", command, params, m.Data)
		}
		return m.Data, nil
	case <-p.ctrlDone:
		return "", errors.New("baresiptest: ctrl_tcp connection closed")
	case <-time.After(5 * time.Second):
		return "", fmt.Errorf("baresiptest: no response to %s", command)
	}
}

// Recordings are the WAV files sndfile wrote: what baresip heard has
// "dec" in its name.
func (p *Phone) Recordings() ([]string, error) {
	return filepath.Glob(filepath.Join(p.Dir, "dump", "*.wav"))
}

// freePorts returns a UDP+TCP port on 127.0.0.1 whose next port is free
// for TCP too (baresip listens on TLS there).
func freePorts(t testing.TB) int {
	t.Helper()
	for range 20 {
		port := sipptest.FreePort(t, true)
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no two free ports on 127.0.0.1")
	return 0
}

// TracedMessage is one SIP message of baresip's SIP trace (Options.SIPTrace).
type TracedMessage struct {
	// Transport is libre's name for it: "UDP", "TCP" or "TLS".
	Transport string
	// Src and Dst are the addresses it went from and to.
	Src, Dst string
	// Text is the message, start line to the end of its body, with "\n"
	// line ends.
	Text string
}

// traceStart and traceEnd frame each message in baresip's SIP trace (libre
// colours them).
const (
	traceStart = "\x1b[36;1m#\n"
	traceEnd   = "\x1b[;m"
)

// Trace is the SIP messages baresip sent and received so far, in order
// (Options.SIPTrace; without it, none).
func (p *Phone) Trace() []TracedMessage { return parseTrace(p.Log()) }

// parseTrace reads the SIP messages of a baresip log.
func parseTrace(log string) []TracedMessage {
	var out []TracedMessage
	for _, block := range strings.Split(log, traceStart)[1:] {
		block, _, _ = strings.Cut(block, traceEnd)
		first, text, _ := strings.Cut(block, "\n")
		f := strings.Fields(first) // TLS 127.0.0.1:a -> 127.0.0.1:b
		if len(f) != 4 || f[2] != "->" {
			continue
		}
		out = append(out, TracedMessage{Transport: f[0], Src: f[1], Dst: f[3],
			Text: strings.ReplaceAll(text, "\r\n", "\n")})
	}
	return out
}

// Received is the first traced message baresip received whose start line
// begins with start ("INVITE ", "SIP/2.0 200"), and whether there is one.
// A received message is one whose destination is one of baresip's
// listening addresses.
func (p *Phone) Received(start string) (TracedMessage, bool) {
	for _, m := range p.Trace() {
		if strings.HasPrefix(m.Text, start) && p.IsOurs(m.Dst) {
			return m, true
		}
	}
	return TracedMessage{}, false
}

// Sent is the first traced message baresip sent whose start line begins
// with start.
func (p *Phone) Sent(start string) (TracedMessage, bool) {
	for _, m := range p.Trace() {
		if strings.HasPrefix(m.Text, start) && !p.IsOurs(m.Dst) {
			return m, true
		}
	}
	return TracedMessage{}, false
}

// IsOurs tells whether addr is one of baresip's listening addresses (the
// destination of a message it received).
func (p *Phone) IsOurs(addr string) bool {
	return addr == p.Addr || (p.TLSAddr != "" && addr == p.TLSAddr)
}
