// Package kamailiotest runs Kamailio (Debian package kamailio) as a real SIP
// proxy in tests: a kamailio.cfg template filled in with a free loopback
// port, run in the foreground as a child process in its own process group,
// with its own pid file and runtime directory, killed by PID when the test
// ends.
//
// Tests that need Kamailio call Require (Start does): without the binary
// the test is skipped, unless HUBLINE_REQUIRE_SIPP or
// HUBLINE_REQUIRE_KAMAILIO is set (scripts/test.sh sets the first; the
// interop peers come together from scripts/setup.sh), in which case it
// fails.
//
// Imported by tests only.
package kamailiotest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// binary finds the Kamailio executable: on PATH, else Debian's /usr/sbin
// (not on every user's PATH).
func binary() (string, error) {
	if p, err := exec.LookPath("kamailio"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/kamailio"
	if _, err := os.Stat(debian); err != nil {
		return "", err
	}
	return debian, nil
}

// Require skips t (or fails it when interop peers are required) when
// Kamailio is not installed.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := binary()
	if err == nil {
		return bin
	}
	if os.Getenv("HUBLINE_REQUIRE_SIPP") != "" || os.Getenv("HUBLINE_REQUIRE_KAMAILIO") != "" {
		t.Fatalf("kamailio not found and interop peers are required: run scripts/setup.sh")
	}
	t.Skip("kamailio not installed (scripts/setup.sh installs it)")
	return ""
}

// Options describe one Kamailio run.
type Options struct {
	// Config is the path of a kamailio.cfg template (Go text/template). It
	// sees {{.IP}} and {{.Port}}, where Kamailio must listen, and
	// {{.Vars.Name}} for each of Vars.
	Config string
	Vars   map[string]string
	// IP is the loopback address to listen on. Empty: 127.0.0.1.
	IP string
}

// Proxy is a running Kamailio.
type Proxy struct {
	// Addr is its SIP address, IP:port (UDP).
	Addr string
	Port int

	t    testing.TB
	cmd  *exec.Cmd
	out  sipptest.Output
	done chan struct{}
	err  error
}

// Start runs Kamailio with o and returns once it listens. t's cleanup kills
// its process group by PID and shows its log if t failed.
func Start(t testing.TB, o Options) *Proxy {
	t.Helper()
	bin := Require(t)
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	tmpl, err := template.ParseFiles(o.Config)
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		p, busy := start(t, bin, tmpl, o)
		if !busy {
			return p
		}
		if attempt == 3 {
			t.Fatalf("kamailio could not bind a port:\n%s", p.Logs())
		}
	}
}

// start runs Kamailio once; busy reports that its port was taken.
func start(t testing.TB, bin string, tmpl *template.Template, o Options) (p *Proxy, busy bool) {
	t.Helper()
	dir := t.TempDir()
	port := sipptest.FreePort(t, false)
	cfg := filepath.Join(dir, "kamailio.cfg")
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct {
		IP   string
		Port int
		Vars map[string]string
	}{o.IP, port, o.Vars}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	p = &Proxy{Addr: net.JoinHostPort(o.IP, strconv.Itoa(port)), Port: port, t: t, done: make(chan struct{})}
	// -DD: stay in the foreground; -E: log to stderr; small memory pools.
	p.cmd = exec.Command(bin, "-DD", "-E", "-f", cfg, "-P", filepath.Join(dir, "kamailio.pid"), "-Y", dir,
		"-m", "16", "-M", "4", "-w", dir)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	// Its own process group: its children die with it, the test never.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", p.Logs())
		}
	})
	if !p.waitListening(o.IP, port) {
		out := p.out.String()
		if strings.Contains(out, "Address already in use") {
			return p, true
		}
		t.Fatalf("kamailio exited before listening: %v\n%s", p.err, out)
	}
	return p, false
}

// waitListening waits until Kamailio has bound its UDP port; false if it
// exited first.
func (p *Proxy) waitListening(ip string, port int) bool {
	ok, err := sipptest.WaitListening(p.done, ip, port, false, 10*time.Second)
	if err != nil {
		p.t.Fatalf("kamailio %v\n%s", err, p.Logs())
	}
	return ok
}

// Stop ends Kamailio's process group by PID (SIGTERM, then SIGKILL) and
// waits for it. Idempotent.
func (p *Proxy) Stop() { sipptest.StopGroup(p.cmd.Process.Pid, p.done) }

// Logs is Kamailio's log so far (stderr).
func (p *Proxy) Logs() string { return p.out.String() }

// LogLines returns the log lines that contain marker.
func (p *Proxy) LogLines(marker string) []string {
	var out []string
	for _, l := range strings.Split(p.Logs(), "\n") {
		if strings.Contains(l, marker) {
			out = append(out, l)
		}
	}
	return out
}
