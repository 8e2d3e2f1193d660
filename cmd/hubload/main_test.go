//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubline/hubline/internal/loadgen"
)

// The smoke run: a whole sweep, small and short (4 calls, 1 s of media per
// run), against the real gateway binary, so that the tool never rots.
// Nothing about timing is asserted: only that every run relayed media and
// the reports were written.

var bins string // the directory with the built gateway and hubload

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "hubload-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for _, b := range []struct{ pkg, name string }{{"../gateway", "gateway"}, {".", "hubload"}} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.name), b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
				return 1
			}
		}
		bins = dir
		return m.Run()
	}())
}

func freePort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return fmt.Sprint(c.LocalAddr().(*net.UDPAddr).Port)
}

func TestSmokeSweep(t *testing.T) {
	out := t.TempDir()
	micro := filepath.Join("..", "..", "internal", "loadgen", "testdata", "micro.txt")
	cmd := exec.Command(filepath.Join(bins, "hubload"), "sweep",
		"-gateway", filepath.Join(bins, "gateway"), "-webrtc-port", freePort(t),
		"-calls", "4", "-warmup", "300ms", "-hold", "1s", "-idle", "300ms", "-settle", "200ms",
		"-attempts", "1", "-quiet-wait", "0", "-out", out, "-micro", micro)
	b, err := cmd.CombinedOutput()
	t.Logf("hubload sweep:\n%s", b)
	if err != nil {
		t.Fatalf("hubload sweep: %v", err)
	}
	runs, err := loadgen.ReadSweep(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 5 {
		t.Fatalf("%d runs, want 5 (A-B-A)", len(runs))
	}
	for _, r := range runs {
		if r.Calls != 4 || r.Sent[0] == 0 || r.Sent[1] == 0 || r.Sent[0] == r.Lost[0] || r.Sent[1] == r.Lost[1] || r.Cores <= 0 {
			t.Errorf("%s %s: calls %d, sent %v, lost %v, cores %.3f", r.Order, r.Mode, r.Calls, r.Sent, r.Lost, r.Cores)
		}
		if r.Mode == loadgen.ModeGateway && (r.GoroutinesBusy == 0 || r.SetupCPUPerCall <= 0) {
			t.Errorf("gateway: goroutines %d, setup %v", r.GoroutinesBusy, r.SetupCPUPerCall)
		}
	}
	for _, f := range []string{"results.csv", "summary.csv", "cost.svg", "table.md", "machine.txt"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	table, _ := os.ReadFile(filepath.Join(out, "table.md"))
	if !strings.Contains(string(table), "gateway CPU per call-second at 4 calls") {
		t.Errorf("table:\n%s", table)
	}
}
