//go:build linux

// Command hubload measures hubline's media path under load, against the
// floors a relay cannot beat, on one machine, over loopback.
//
//	hubload sweep [flags]    the suite: for each N, floors, gateway, floors (A-B-A)
//	hubload run [flags]      one run: one relay, N calls
//	hubload table [flags]    the summary table from a sweep and micro-benchmarks
//	hubload relay [flags]    a floor relay (started by run and sweep)
//
// The gateway runs as a child process (its binary, -gateway); the browser
// side of each call is a pion softphone (internal/softphone) in this
// process, the trunk side a built-in SIP UAS whose RTP endpoint sinks what
// it receives and sends its own stream. Every packet carries its send
// time. CPU is the relay process's own, from the kernel. `hubload <cmd>
// -help` lists each command's flags.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hubline/hubline/internal/loadgen"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "relay":
		err = relay(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "sweep":
		err = sweep(os.Args[2:])
	case "table":
		err = table(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "hubload: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubload:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: hubload sweep|run|table|relay [flags]   (hubload CMD -help)

  sweep   for each N: floor-udp, floor-srtp, gateway, floor-srtp, floor-udp;
          writes results.csv, cost.svg, table.txt and each run's logs to -out
  run     one run of one relay (-mode gateway|floor-udp|floor-srtp) with N calls
  table   print the summary table from a sweep (-sweep DIR) and the
          micro-benchmarks' output (-micro FILE)
  relay   a floor relay; run and sweep start it
`)
	os.Exit(2)
}

func relay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	mode := fs.String("mode", loadgen.FloorUDP, "udp or srtp")
	calls := fs.Int("calls", 1, "trunk-facing sockets")
	trunk := fs.String("trunk", "", "ip:port where trunk-side packets go")
	port := fs.Uint("port", 0, "the shared browser-facing port (0: any)")
	goRuntime := fs.Bool("go", false, "relay the Go way (netpoller, goroutines) instead of one epoll thread")
	fs.Parse(args)
	t, err := netip.ParseAddrPort(*trunk)
	if err != nil {
		return fmt.Errorf("-trunk: %w", err)
	}
	run := loadgen.RunFloor
	if *goRuntime {
		run = loadgen.RunFloorGo
	}
	return run(loadgen.FloorOptions{
		Mode: *mode, Calls: *calls, IP: netip.MustParseAddr("127.0.0.1"), BrowserPort: uint16(*port), Trunk: t,
	}, func(a loadgen.FloorAddrs) {
		b, _ := json.Marshal(a)
		os.Stdout.Write(append(b, '\n'))
	})
}

// common flags of run and sweep.
type common struct {
	gateway    *string
	webrtcPort *uint
	warmup     *time.Duration
	hold       *time.Duration
	idle       *time.Duration
	out        *string
	shards     *int
	settle     *time.Duration
}

func commonFlags(fs *flag.FlagSet) common {
	return common{
		gateway:    fs.String("gateway", "bin/gateway", "the gateway binary"),
		webrtcPort: fs.Uint("webrtc-port", 19999, "media.webrtcPort for the gateway (0: a port per browser leg)"),
		warmup:     fs.Duration("warmup", 3*time.Second, "media before the measurement window"),
		hold:       fs.Duration("hold", 20*time.Second, "the measurement window"),
		idle:       fs.Duration("idle", 10*time.Second, "gateway: idle window with calls connected and silent"),
		out:        fs.String("out", "hubload-out", "directory for results and logs"),
		shards:     fs.Int("shards", 2, "pacer goroutines"),
		settle:     fs.Duration("settle", 2*time.Second, "gateway: rest before each baseline, which takes as long again"),
	}
}

func (c common) config(mode string, n int, dir string) (loadgen.RunConfig, error) {
	self, err := os.Executable()
	if err != nil {
		return loadgen.RunConfig{}, err
	}
	return loadgen.RunConfig{
		Mode: mode, Calls: n, Warmup: *c.warmup, Hold: *c.hold, Idle: *c.idle,
		Gateway:  loadgen.GatewayOptions{Binary: *c.gateway, WebRTCPort: uint16(*c.webrtcPort)},
		Self:     self,
		Dir:      dir,
		Shards:   *c.shards,
		Settle:   *c.settle,
		Progress: progress,
	}, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	c := commonFlags(fs)
	mode := fs.String("mode", loadgen.ModeGateway, "gateway, floor-udp or floor-srtp")
	n := fs.Int("calls", 10, "concurrent calls")
	fs.Parse(args)
	rc, err := c.config(*mode, *n, fmt.Sprintf("%s/%s-%d", *c.out, *mode, *n))
	if err != nil {
		return err
	}
	res, err := loadgen.Run(rc)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(b))
	return nil
}

func parseCalls(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("-calls %q: want a list such as 250,1000,2000", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func sweep(args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ExitOnError)
	c := commonFlags(fs)
	calls := fs.String("calls", "250,1000,2000", "numbers of concurrent calls")
	micro := fs.String("micro", "", "go test -bench output of the media benchmarks, for the table")
	at := fs.Int("at", 1000, "the table's load figures are at this N (or the largest of -calls)")
	attempts := fs.Int("attempts", 3, "tries of a run the rest of the machine disturbed")
	quiet := fs.Duration("quiet-wait", 3*time.Minute, "before each run, wait up to this long for the machine to be quiet (0: do not)")
	fs.Parse(args)
	ns, err := parseCalls(*calls)
	if err != nil {
		return err
	}
	rc, err := c.config("", 0, "")
	if err != nil {
		return err
	}
	machine := loadgen.Machine()
	progress("machine: %s", machine)
	runs, err := loadgen.Sweep(loadgen.SweepConfig{Calls: ns, Run: rc, Out: *c.out, Attempts: *attempts, QuietWait: *quiet})
	if err != nil {
		return err
	}
	return report(*c.out, runs, *micro, *at, machine)
}

// report writes summary.csv, cost.svg, machine.txt and, with micro,
// table.md, and prints the table.
func report(out string, runs []loadgen.SweepRun, micro string, at int, machine string) error {
	if err := loadgen.WriteSummary(filepath.Join(out, "summary.csv"), runs); err != nil {
		return err
	}
	if err := loadgen.WriteChart(filepath.Join(out, "cost.svg"), runs, machine); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "machine.txt"), []byte(machine+"\n"), 0o644); err != nil {
		return err
	}
	var bench []loadgen.BenchRun
	if micro != "" {
		f, err := os.Open(micro)
		if err != nil {
			return err
		}
		bench, err = loadgen.ParseBench(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	rows := loadgen.Table(bench, runs, at)
	f, err := os.Create(filepath.Join(out, "table.md"))
	if err != nil {
		return err
	}
	loadgen.WriteTable(io.MultiWriter(f, os.Stdout), rows)
	return f.Close()
}

func table(args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	dir := fs.String("sweep", "hubload-out", "the directory a sweep wrote")
	micro := fs.String("micro", "", "go test -bench output of the media benchmarks")
	at := fs.Int("at", 1000, "load figures at this N (or the largest in the sweep)")
	fs.Parse(args)
	runs, err := loadgen.ReadSweep(*dir)
	if err != nil {
		return err
	}
	machine, _ := os.ReadFile(filepath.Join(*dir, "machine.txt"))
	return report(*dir, runs, *micro, *at, strings.TrimSpace(string(machine)))
}
