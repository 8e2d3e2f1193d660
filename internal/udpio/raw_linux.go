//go:build linux

package udpio

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

func socket(family int) (int, error) {
	return syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
}

// Poller waits for descriptors to become readable: an epoll instance,
// level-triggered. Add and Del may be called from any goroutine; Wait or
// Run from one.
//
// Run parks its goroutine in the runtime's network poller (the epoll
// descriptor is itself pollable), so that waiting is no blocking system
// call: the runtime does not hand the goroutine's P to another thread
// while it sleeps, nor take it back when it wakes.
type Poller struct {
	fd     int
	file   *os.File // fd, in the runtime's poller, for Run
	events []syscall.EpollEvent
	tokens []uint64
}

// NewPoller returns a Poller that reports up to max ready descriptors per
// Wait.
func NewPoller(max int) (*Poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return &Poller{fd: fd, file: os.NewFile(uintptr(fd), "epoll"), events: make([]syscall.EpollEvent, max), tokens: make([]uint64, max)}, nil
}

// Run calls handle with the tokens of readable descriptors until handle
// returns false or the Poller is closed (it then returns nil), or fails. handle must read each
// descriptor it is given until a read comes back short: Run then waits
// for the next datagram to arrive on any of them, and a datagram left
// behind would wait for company.
func (p *Poller) Run(handle func(tokens []uint64) bool) error {
	rc, err := p.file.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	stopped := false
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), p.events, 0)
			if err != nil {
				if errors.Is(err, syscall.EINTR) {
					continue
				}
				werr = err
				return true
			}
			if n == 0 {
				return false // wait in the runtime's poller
			}
			for i := range n {
				p.tokens[i] = *(*uint64)(unsafe.Pointer(&p.events[i].Fd))
			}
			if !handle(p.tokens[:n]) {
				stopped = true
				return true
			}
			if n < len(p.events) {
				// Every ready descriptor was drained; a datagram that
				// arrives from now on wakes the runtime's poller.
				return false
			}
		}
	})
	switch {
	case werr != nil:
		return werr
	case stopped || errors.Is(err, os.ErrClosed):
		return nil
	}
	return err
}

// Add watches fd for reading; Wait reports it by token.
func (p *Poller) Add(fd int, token uint64) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	*(*uint64)(unsafe.Pointer(&ev.Fd)) = token
	return syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

// Del stops watching fd.
func (p *Poller) Del(fd int) error {
	return syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
}

// Wait blocks until a descriptor is readable (or the timeout, in
// milliseconds, passes; -1: no timeout) and returns the tokens of those
// that are. The slice is reused by the next Wait. The goroutine blocks in
// a system call the runtime knows about, like any blocking syscall.
func (p *Poller) Wait(msec int) ([]uint64, error) {
	for {
		n, err := syscall.EpollWait(p.fd, p.events, msec)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return nil, err
		}
		for i := range n {
			p.tokens[i] = *(*uint64)(unsafe.Pointer(&p.events[i].Fd))
		}
		return p.tokens[:n], nil
	}
}

// Close closes the poller; Run returns.
func (p *Poller) Close() error { return p.file.Close() }

// Waker wakes a Poller's Wait from another goroutine: an eventfd.
type Waker struct{ fd int }

// NewWaker returns a Waker; add Waker.FD to the Poller.
func NewWaker() (*Waker, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, uintptr(syscall.O_NONBLOCK|syscall.O_CLOEXEC), 0)
	if errno != 0 {
		return nil, errno
	}
	return &Waker{fd: int(fd)}, nil
}

// FD is the descriptor to watch.
func (w *Waker) FD() int { return w.fd }

// Wake makes the descriptor readable.
func (w *Waker) Wake() {
	one := uint64(1)
	_, _ = syscall.Write(w.fd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

// Clear makes it unreadable again.
func (w *Waker) Clear() {
	var b [8]byte
	_, _ = syscall.Read(w.fd, b[:])
}

// Close closes the descriptor.
func (w *Waker) Close() error { return syscall.Close(w.fd) }
