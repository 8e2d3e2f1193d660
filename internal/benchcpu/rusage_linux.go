package benchcpu

import (
	"time"

	"golang.org/x/sys/unix"
)

func cpuTime(s Scope) time.Duration {
	who := unix.RUSAGE_SELF
	if s == Thread {
		who = unix.RUSAGE_THREAD
	}
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
