//go:build linux

package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The summary table: every figure beside its floor, the ratio and the
// target, from the micro-benchmarks' output (go test -bench, media) and a
// sweep.

// BenchRun is one line of go test -bench output.
type BenchRun struct {
	Name    string // e.g. BenchmarkPerPacket/floor-encrypt
	Round   int    // 0 for the first run of a name, n for name#0n
	N       int
	Metrics map[string]float64 // by unit: ns/op, cpu-ns/op, wall/cpu, allocs/op, ...
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:#(\d+))?(?:-\d+)?\s+(\d+)\s+(.*)$`)

// ParseBench reads go test -bench output; other lines are skipped.
func ParseBench(r io.Reader) ([]BenchRun, error) {
	var out []BenchRun
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		br := BenchRun{Name: m[1], Metrics: map[string]float64{}}
		br.Round, _ = strconv.Atoi(m[2])
		br.N, _ = strconv.Atoi(m[3])
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				br.Metrics[f[i+1]] = v
			}
		}
		out = append(out, br)
	}
	return out, sc.Err()
}

// Row is a line of the table.
type Row struct {
	Metric, Floor, Value, Ratio, Target, Met string
}

// maxWallPerCPU: a floor (or canary) whose wall time exceeds its CPU time
// by more than this ran on a busy machine; its round is dropped.
const maxWallPerCPU = 1.1

// pairs collects, per round, the runs of the named subs of a benchmark.
func pairs(runs []BenchRun, bench string) map[int]map[string]BenchRun {
	out := map[int]map[string]BenchRun{}
	for _, r := range runs {
		sub, ok := strings.CutPrefix(r.Name, bench+"/")
		if !ok {
			continue
		}
		if out[r.Round] == nil {
			out[r.Round] = map[string]BenchRun{}
		}
		out[r.Round][sub] = r
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// paired is a subject against a floor over the clean rounds.
type paired struct {
	floor, subject, ratio float64
	used, dropped         int
	allocs                float64
}

// pairUp compares subject to floor round by round. gate names the run
// whose wall/cpu decides whether the round was clean (the floor itself
// when it is CPU-bound on one thread); base, if set, is subtracted from
// both (the cost of the peers).
func pairUp(rounds map[int]map[string]BenchRun, floor, subject, gate, base string) paired {
	var p paired
	var fs, ss, rs []float64
	for _, round := range rounds {
		f, okf := round[floor]
		s, oks := round[subject]
		g, okg := round[gate]
		if !okf || !oks || !okg {
			continue
		}
		if g.Metrics["wall/cpu"] > maxWallPerCPU || g.Metrics["cpu-ns/op"] == 0 {
			p.dropped++
			continue
		}
		fv, sv := f.Metrics["cpu-ns/op"], s.Metrics["cpu-ns/op"]
		if base != "" {
			b := round[base].Metrics["cpu-ns/op"]
			fv, sv = fv-b, sv-b
		}
		if fv <= 0 {
			p.dropped++
			continue
		}
		p.used++
		fs, ss, rs = append(fs, fv), append(ss, sv), append(rs, sv/fv)
		p.allocs = max(p.allocs, s.Metrics["allocs/op"])
	}
	p.floor, p.subject, p.ratio = median(fs), median(ss), median(rs)
	return p
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func ns(v float64) string {
	if v < 0 {
		return "−" + ns(-v)
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

// Table builds the summary from the micro-benchmarks and a sweep, its load
// figures at calls (or the sweep's largest N if calls is not in it).
func Table(micro []BenchRun, runs []SweepRun, calls int) []Row {
	var rows []Row
	pp := pairs(micro, "BenchmarkPerPacket")
	for _, d := range []struct{ name, floor, subject string }{
		{"per-packet handler trunk→browser (no sockets)", "floor-encrypt", "trunk-to-browser"},
		{"per-packet handler browser→trunk (no sockets)", "floor-decrypt", "browser-to-trunk"},
	} {
		p := pairUp(pp, d.floor, d.subject, d.floor, "")
		if p.used == 0 {
			continue
		}
		rows = append(rows, Row{
			Metric: fmt.Sprintf("%s, CPU per packet (%d rounds, %d dropped)", d.name, p.used, p.dropped),
			Floor:  ns(p.floor) + " (SRTP " + strings.TrimPrefix(d.floor, "floor-") + ", AES-128-GCM)",
			Value:  ns(p.subject) + fmt.Sprintf(", %.0f allocs", p.allocs),
			Ratio:  fmt.Sprintf("%.2f×", p.ratio),
			Target: "≤ 1.3× (1.1×), 0 allocs",
			Met:    met(p.ratio <= 1.3 && p.allocs == 0),
		})
	}
	if p := pairUp(pp, "floor-encrypt", "trunk-to-browser-transcode", "floor-encrypt", ""); p.used > 0 {
		rows = append(rows, Row{
			Metric: "  the same with A-law ↔ µ-law conversion", Floor: ns(p.floor), Value: ns(p.subject),
			Ratio: fmt.Sprintf("%.2f×", p.ratio), Target: "(no target)", Met: "-",
		})
	}
	cr := pairs(micro, "BenchmarkCallRelay")
	if p := pairUp(cr, "floor", "gateway", "canary", "direct"); p.used > 0 {
		rows = append(rows, Row{
			Metric: fmt.Sprintf("one call's relay through real sockets, CPU per packet each way (%d rounds, %d dropped)", p.used, p.dropped),
			Floor:  ns(p.floor) + " (bare UDP+SRTP relay)",
			Value:  ns(p.subject),
			Ratio:  fmt.Sprintf("%.2f×", p.ratio),
			Target: "≤ 1.10× (1.05×)",
			Met:    met(p.ratio <= 1.10),
		})
	}
	su := pairs(micro, "BenchmarkSetup")
	setupFloor := 0.0
	if p := pairUp(su, "floor", "session", "canary", ""); p.used > 0 {
		setupFloor = p.floor / 2
		rows = append(rows, Row{
			Metric: fmt.Sprintf("media setup in-process, both ends: SDP, ICE, DTLS (%d rounds)", p.used),
			Floor:  ns(p.floor) + " (bare DTLS-SRTP handshake, both ends)",
			Value:  ns(p.subject),
			Ratio:  fmt.Sprintf("%.2f×", p.ratio),
			Target: "(no target)",
			Met:    "-",
		})
	}

	var at *point // the requested N, else the largest
	for _, p := range points(runs) {
		if p.gateway != nil && (at == nil || at.calls != calls) {
			at = p
		}
	}
	if at == nil {
		return rows
	}
	g := at.gateway
	n := fmt.Sprintf("at %d calls", at.calls)
	u, ud := mean(at.udp, cpuUS)
	s, sd := mean(at.srtp, cpuUS)
	gc := cpuUS(g)
	rows = append(rows,
		Row{
			Metric: "gateway CPU per call-second " + n + " (vs the epoll UDP floor; drift between its A-B-A runs " + pct(ud) + ")",
			Floor:  fmt.Sprintf("%.0f µs", u), Value: fmt.Sprintf("%.0f µs", gc), Ratio: ratio(gc, u),
			Target: "≤ 2.0× (1.5×)", Met: met(u > 0 && gc/u <= 2.0),
		},
		Row{
			Metric: "  the same against the epoll UDP+SRTP floor (drift " + pct(sd) + ")",
			Floor:  fmt.Sprintf("%.0f µs", s), Value: fmt.Sprintf("%.0f µs", gc), Ratio: ratio(gc, s),
			Target: "(no target)", Met: "-",
		},
		Row{
			Metric: "memory per call, both legs (gateway RSS with the calls, less without) " + n,
			Floor:  "-", Value: fmt.Sprintf("%.0f KB", g.RSSPerCall/1024), Ratio: "-",
			Target: "≤ 192 KB (128 KB)", Met: met(g.RSSPerCall <= 192*1024),
		},
		Row{
			Metric: "goroutines per call (gateway: media, cti, sip) " + n,
			Floor:  "0", Value: fmt.Sprintf("%.1f", g.GoroutinesPerCall), Ratio: "-",
			Target: "≤ 16", Met: met(g.GoroutinesPerCall <= 16),
		},
		Row{
			Metric: "idle cost per connected call (no media; ICE consent) " + n,
			Floor:  "-", Value: fmt.Sprintf("%.4f%% of a core", 100*g.IdleCoresPerCall), Ratio: "-",
			Target: "≤ 0.005% (0.002%)", Met: met(g.IdleCoresPerCall <= 0.00005),
		},
	)
	setupRow := Row{
		Metric: "setup CPU per call in the gateway: WebSocket, SIP, SDP, ICE, DTLS " + n,
		Floor:  "-", Value: ns(float64(g.SetupCPUPerCall)), Ratio: "-",
		Target: "≤ 2 ms (1.5 ms)", Met: met(g.SetupCPUPerCall <= 2*time.Millisecond),
	}
	if setupFloor > 0 {
		setupRow.Floor = ns(setupFloor) + " (one end of a bare DTLS handshake)"
		setupRow.Ratio = fmt.Sprintf("%.2f×", float64(g.SetupCPUPerCall)/setupFloor)
	}
	rows = append(rows, setupRow)
	lost := func(r *Result) int64 { return r.Lost[0] + r.Lost[1] }
	sent := func(r *Result) int64 { return r.Sent[0] + r.Sent[1] }
	var floorLost int64
	for _, r := range append(slices.Clone(at.udp), at.srtp...) {
		floorLost += lost(r)
	}
	rows = append(rows, Row{
		Metric: "packets lost " + n,
		Floor:  fmt.Sprintf("%d (all floor runs)", floorLost), Value: fmt.Sprintf("%d of %d", lost(g), sent(g)), Ratio: "-",
		Target: "0", Met: met(lost(g) == 0),
	})
	for dir, dname := range []string{"browser→trunk", "trunk→browser"} {
		fp99, _ := mean(at.srtp, func(r *Result) float64 { return float64(r.DelayP99[dir]) })
		fp999, _ := mean(at.srtp, func(r *Result) float64 { return float64(r.DelayP999[dir]) })
		rows = append(rows,
			Row{
				Metric: fmt.Sprintf("one-way delay p99 %s (through the relay, generator included) %s", dname, n),
				Floor:  ns(fp99), Value: ns(float64(g.DelayP99[dir])), Ratio: signed(float64(g.DelayP99[dir]) - fp99),
				Target: "≤ 2 ms", Met: met(g.DelayP99[dir] <= 2*time.Millisecond),
			},
			Row{
				Metric: fmt.Sprintf("one-way delay p99.9 %s %s", dname, n),
				Floor:  ns(fp999), Value: ns(float64(g.DelayP999[dir])), Ratio: signed(float64(g.DelayP999[dir]) - fp999),
				Target: "≤ 5 ms", Met: met(g.DelayP999[dir] <= 5*time.Millisecond),
			})
	}
	fpps, _ := mean(at.srtp, func(r *Result) float64 { return r.PacketsPerSec })
	rows = append(rows, Row{
		Metric: "packets relayed per second " + n, Floor: fmt.Sprintf("%.0f", fpps), Value: fmt.Sprintf("%.0f", g.PacketsPerSec),
		Ratio: "-", Target: "(load)", Met: "-",
	})
	return rows
}

// signed is a difference in nanoseconds, with its sign.
func signed(v float64) string {
	if v < 0 {
		return ns(v)
	}
	return "+" + ns(v)
}

// WriteTable prints rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| metric | floor | hubline | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Metric, r.Floor, r.Value, r.Ratio, r.Target, r.Met)
	}
}
