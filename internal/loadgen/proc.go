//go:build linux

package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// Process accounting of the relay under test, read from the kernel's own
// books for that process: its CPU clock (the sum of every thread's run
// time, in nanoseconds, including exited threads) and /proc/PID/stat
// (utime + stime, in clock ticks) as a cross-check; VmRSS and the thread
// count from /proc/PID/status.

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on every
// Linux this runs on; sysconf is not reachable without cgo).
const clockTicks = 100

// ProcSample is one reading of a process's accounting.
type ProcSample struct {
	At       time.Time
	CPU      time.Duration // the process CPU clock: every thread, user + system
	StatCPU  time.Duration // utime + stime from /proc/PID/stat (10 ms resolution)
	RSS      int64         // bytes resident
	Threads  int
	Switches int64 // voluntary + involuntary context switches, all threads
}

// processCPUClock is MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED): the clock
// id under which clock_gettime reads another process's CPU time.
func processCPUClock(pid int) int32 { return int32(^uint32(pid)<<3 | 2) }

// ProcessCPU returns the CPU time pid has used so far, all threads.
func ProcessCPU(pid int) (time.Duration, error) {
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(processCPUClock(pid)), uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("loadgen: CPU clock of process %d: %w", pid, errno)
	}
	return time.Duration(ts.Nano()), nil
}

// SampleProc reads pid's accounting.
func SampleProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	var err error
	if s.CPU, err = ProcessCPU(pid); err != nil {
		return s, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces: fields count from after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("loadgen: /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 { // state is field 3; utime and stime are fields 14 and 15
		return s, fmt.Errorf("loadgen: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	s.StatCPU = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range bytes.Split(status, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
		switch string(k) {
		case "VmRSS":
			s.RSS = n * 1024
		case "Threads":
			s.Threads = int(n)
		case "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches":
			s.Switches += n
		}
	}
	return s, nil
}

// CPUDelta is what a process used between two samples.
type CPUDelta struct {
	CPU, StatCPU, Wall time.Duration
}

// Delta returns the CPU used from a to b.
func Delta(a, b ProcSample) CPUDelta {
	return CPUDelta{CPU: b.CPU - a.CPU, StatCPU: b.StatCPU - a.StatCPU, Wall: b.At.Sub(a.At)}
}

// Cores is the average number of cores busy over the interval.
func (d CPUDelta) Cores() float64 {
	if d.Wall <= 0 {
		return 0
	}
	return float64(d.CPU) / float64(d.Wall)
}

// machineBusy is the CPU time every core of the machine has spent busy
// (not idle or waiting for I/O), from /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(string(v), 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}
