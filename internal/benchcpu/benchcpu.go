// Package benchcpu adds CPU time to Go benchmarks: a cpu-ns/op metric from
// getrusage beside the wall time (ns/op) the testing package reports, and
// wall/cpu, which tells a run on a busy machine from a clean one. A
// benchmark whose loop runs on one goroutine measures its thread
// (Thread); one that spreads over goroutines, sockets and the kernel
// measures the whole process (Process).
//
// Only tests import it.
package benchcpu

import (
	"runtime"
	"testing"
	"time"
)

// Scope is whose CPU time a Meter counts.
type Scope int

const (
	// Thread: the calling goroutine's thread, which Start locks it to.
	// The benchmark loop must run on that goroutine.
	Thread Scope = iota
	// Process: every thread of the process (the benchmark's peers too).
	Process
)

// Meter measures one run of a benchmark function (one b.N).
type Meter struct {
	b     *testing.B
	scope Scope
	wall  time.Time
	cpu   time.Duration
}

// Start begins measuring; call it after the benchmark's setup, and Stop
// after its loop. It resets the benchmark timer.
func Start(b *testing.B, scope Scope) *Meter {
	if scope == Thread {
		runtime.LockOSThread()
	}
	m := &Meter{b: b, scope: scope}
	b.ResetTimer()
	m.cpu = cpuTime(scope)
	m.wall = time.Now()
	return m
}

// Stop ends measuring and reports cpu-ns/op and wall/cpu.
func (m *Meter) Stop() {
	cpu := cpuTime(m.scope) - m.cpu
	wall := time.Since(m.wall)
	m.b.StopTimer()
	if m.scope == Thread {
		runtime.UnlockOSThread()
	}
	if m.b.N > 0 {
		m.b.ReportMetric(float64(cpu.Nanoseconds())/float64(m.b.N), "cpu-ns/op")
	}
	if cpu > 0 {
		m.b.ReportMetric(float64(wall)/float64(cpu), "wall/cpu")
	}
}
