//go:build !linux

package benchcpu

import (
	"syscall"
	"time"
)

// Elsewhere there is no per-thread rusage: the process's is used.
func cpuTime(Scope) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
