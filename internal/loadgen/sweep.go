//go:build linux

package loadgen

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A sweep measures every N of a list: for each, the floors, the gateway,
// and the floors again (A-B-A), so that a floor is the average of a run
// just before and one just after the gateway's, and drift between the two
// shows. A run the rest of the machine disturbed (OtherCores above
// maxOther) is run again, once.

// maxOther is how much of a core the rest of the machine may take during
// a run before the run counts as contended.
const maxOther = 0.25

// waitQuiet waits until the machine's busy time over a second is below
// maxOther cores, or for at most d. It reports the last reading.
func waitQuiet(d time.Duration) float64 {
	deadline := time.Now().Add(d)
	for {
		b0, t0 := machineBusy(), time.Now()
		time.Sleep(time.Second)
		busy := float64(machineBusy()-b0) / float64(time.Since(t0))
		if busy < maxOther || time.Now().After(deadline) {
			return busy
		}
	}
}

// SweepConfig configures Sweep.
type SweepConfig struct {
	Calls []int
	Run   RunConfig // Mode, Calls and Dir are set per run
	Out   string    // results.csv, runs/
	// Attempts: a contended run is tried again, up to this many times in
	// all, and the first uncontended one kept. Zero: 1.
	Attempts int
	// QuietWait: before each attempt, wait up to this long for the rest
	// of the machine to go quiet (below maxOther). Zero: no wait.
	QuietWait time.Duration
}

// SweepRun is one run of a sweep.
type SweepRun struct {
	Order string `json:"order"` // A1, B or A2
	*Result
	Contended bool `json:"contended"`
}

// Sweep runs the sweep and writes results.csv (one row per run) and each
// run's logs under Out/runs. It returns every run.
func Sweep(sc SweepConfig) ([]SweepRun, error) {
	if err := os.MkdirAll(sc.Out, 0o755); err != nil {
		return nil, err
	}
	var runs []SweepRun
	plan := []struct{ order, mode string }{
		{"A1", ModeFloorUDP}, {"A1", ModeFloorSRTP},
		{"B", ModeGateway},
		{"A2", ModeFloorSRTP}, {"A2", ModeFloorUDP},
	}
	for _, n := range sc.Calls {
		for _, p := range plan {
			var best *SweepRun
			for attempt := range max(sc.Attempts, 1) {
				if sc.QuietWait > 0 {
					if busy := waitQuiet(sc.QuietWait); busy >= maxOther {
						sc.Run.Progress("the machine is busy (%.2f cores) and did not settle in %v: running anyway", busy, sc.QuietWait)
					}
				}
				rc := sc.Run
				rc.Mode, rc.Calls = p.mode, n
				rc.Dir = filepath.Join(sc.Out, "runs", fmt.Sprintf("%d-%s-%s-%d", n, p.order, p.mode, attempt))
				res, err := Run(rc)
				if err != nil {
					return runs, fmt.Errorf("%s with %d calls: %w", p.mode, n, err)
				}
				r := SweepRun{Order: p.order, Result: res, Contended: res.OtherCores > maxOther}
				if best == nil || best.Contended && !r.Contended {
					best = &r
				}
				if !r.Contended {
					break
				}
				rc.Progress("%s with %d calls: the rest of the machine took %.2f cores: running it again", p.mode, n, res.OtherCores)
			}
			runs = append(runs, *best)
			if err := writeRunsCSV(filepath.Join(sc.Out, "results.csv"), runs); err != nil {
				return runs, err
			}
		}
	}
	b, _ := json.MarshalIndent(runs, "", "  ")
	if err := os.WriteFile(filepath.Join(sc.Out, "results.json"), b, 0o644); err != nil {
		return runs, err
	}
	return runs, nil
}

var csvHeader = []string{
	"calls", "order", "mode", "contended",
	"cpu_us_per_call_second", "cpu_us_per_packet", "cores", "stat_cores", "packets_per_s",
	"sent_b2t", "lost_b2t", "sent_t2b", "lost_t2b",
	"p50_us_b2t", "p99_us_b2t", "p999_us_b2t", "max_us_b2t",
	"p50_us_t2b", "p99_us_t2b", "p999_us_t2b", "max_us_t2b",
	"rss_kb_per_call", "goroutines_per_call",
	"setup_cpu_us_per_call", "idle_core_pct_per_call",
	"generator_cores", "other_cores",
}

func us(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) }

func writeRunsCSV(path string, runs []SweepRun) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write(csvHeader)
	ff := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	for _, r := range runs {
		w.Write([]string{
			strconv.Itoa(r.Calls), r.Order, r.Mode, strconv.FormatBool(r.Contended),
			us(r.CPUPerCallSecond), ff(float64(r.CPUPerPacket)/1e3, 2), ff(r.Cores, 4), ff(r.StatCores, 4), ff(r.PacketsPerSec, 0),
			strconv.FormatInt(r.Sent[0], 10), strconv.FormatInt(r.Lost[0], 10),
			strconv.FormatInt(r.Sent[1], 10), strconv.FormatInt(r.Lost[1], 10),
			us(r.DelayP50[0]), us(r.DelayP99[0]), us(r.DelayP999[0]), us(r.DelayMax[0]),
			us(r.DelayP50[1]), us(r.DelayP99[1]), us(r.DelayP999[1]), us(r.DelayMax[1]),
			ff(r.RSSPerCall/1024, 1), ff(r.GoroutinesPerCall, 2),
			us(r.SetupCPUPerCall), ff(100*r.IdleCoresPerCall, 5),
			ff(r.GeneratorCores, 3), ff(r.OtherCores, 3),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadSweep reads the runs a sweep wrote to dir.
func ReadSweep(dir string) ([]SweepRun, error) {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return nil, err
	}
	var runs []SweepRun
	err = json.Unmarshal(b, &runs)
	return runs, err
}

// point is one N of the sweep: the gateway's run and the mean of each
// floor's two.
type point struct {
	calls     int
	gateway   *Result
	udp, srtp []*Result // A1, A2
	contended bool
}

func points(runs []SweepRun) []*point {
	var out []*point
	byN := map[int]*point{}
	for _, r := range runs {
		p := byN[r.Calls]
		if p == nil {
			p = &point{calls: r.Calls}
			byN[r.Calls] = p
			out = append(out, p)
		}
		p.contended = p.contended || r.Contended
		switch r.Mode {
		case ModeGateway:
			p.gateway = r.Result
		case ModeFloorUDP:
			p.udp = append(p.udp, r.Result)
		case ModeFloorSRTP:
			p.srtp = append(p.srtp, r.Result)
		}
	}
	slices.SortFunc(out, func(a, b *point) int { return a.calls - b.calls })
	return out
}

// mean of a figure over a floor's runs; drift is how far apart they are,
// relative to the mean.
func mean(rs []*Result, f func(*Result) float64) (m, drift float64) {
	if len(rs) == 0 {
		return 0, 0
	}
	lo, hi := f(rs[0]), f(rs[0])
	for _, r := range rs {
		v := f(r)
		m += v
		lo, hi = min(lo, v), max(hi, v)
	}
	m /= float64(len(rs))
	if m > 0 {
		drift = (hi - lo) / m
	}
	return m, drift
}

func cpuUS(r *Result) float64 { return float64(r.CPUPerCallSecond) / 1e3 }

// WriteSummary writes summary.csv: per N, the CPU per call-second of the
// gateway and of each floor (mean of A1 and A2, and their drift), and the
// ratios.
func WriteSummary(path string, runs []SweepRun) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"calls", "gateway_us", "floor_udp_us", "floor_udp_drift", "floor_srtp_us", "floor_srtp_drift",
		"ratio_udp", "ratio_srtp", "gateway_rss_kb_per_call", "contended"})
	for _, p := range points(runs) {
		if p.gateway == nil {
			continue
		}
		g := cpuUS(p.gateway)
		u, ud := mean(p.udp, cpuUS)
		s, sd := mean(p.srtp, cpuUS)
		w.Write([]string{strconv.Itoa(p.calls), f1(g), f1(u), pct(ud), f1(s), pct(sd), ratio(g, u), ratio(g, s),
			f1(p.gateway.RSSPerCall / 1024), strconv.FormatBool(p.contended)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func f1(v float64) string  { return strconv.FormatFloat(v, 'f', 1, 64) }
func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }
func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// Machine describes the machine a sweep ran on, for the record.
func Machine() string {
	var b strings.Builder
	model := "?"
	if cpu, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(cpu), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(k))
	}
	mem := "?"
	if m, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(m), "\n"); ok {
			mem = strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	fmt.Fprintf(&b, "%d CPUs (%s), %s RAM, Linux %s, %s", runtime.NumCPU(), model, mem, kernel, runtime.Version())
	return b.String()
}
