//go:build unix && !linux

package udpio

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Elsewhere: poll(2) and a pipe. Enough for a developer's machine.

func socket(family int) (int, error) {
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return 0, err
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return 0, err
	}
	return fd, nil
}

type Poller struct {
	mu     sync.Mutex
	fds    map[int]uint64
	pfds   []unix.PollFd
	tokens []uint64
	max    int
}

func NewPoller(max int) (*Poller, error) { return &Poller{fds: map[int]uint64{}, max: max}, nil }

func (p *Poller) Add(fd int, token uint64) error {
	p.mu.Lock()
	p.fds[fd] = token
	p.mu.Unlock()
	return nil
}

func (p *Poller) Del(fd int) error {
	p.mu.Lock()
	delete(p.fds, fd)
	p.mu.Unlock()
	return nil
}

func (p *Poller) Wait(msec int) ([]uint64, error) {
	p.mu.Lock()
	p.pfds = p.pfds[:0]
	for fd := range p.fds {
		p.pfds = append(p.pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	p.mu.Unlock()
	for {
		_, err := unix.Poll(p.pfds, msec)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	p.tokens = p.tokens[:0]
	p.mu.Lock()
	for _, pfd := range p.pfds {
		if pfd.Revents != 0 && len(p.tokens) < p.max {
			if tok, ok := p.fds[int(pfd.Fd)]; ok {
				p.tokens = append(p.tokens, tok)
			}
		}
	}
	p.mu.Unlock()
	return p.tokens, nil
}

func (p *Poller) Close() error { return nil }

type Waker struct{ r, w int }

func NewWaker() (*Waker, error) {
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		return nil, err
	}
	for _, fd := range fds {
		syscall.CloseOnExec(fd)
		_ = syscall.SetNonblock(fd, true)
	}
	return &Waker{r: fds[0], w: fds[1]}, nil
}

func (w *Waker) FD() int { return w.r }
func (w *Waker) Wake()   { _, _ = syscall.Write(w.w, []byte{1}) }
func (w *Waker) Clear() {
	var b [64]byte
	_, _ = syscall.Read(w.r, b[:])
}
func (w *Waker) Close() error { syscall.Close(w.w); return syscall.Close(w.r) }

// Run calls handle with the tokens of readable descriptors until the
// Poller fails; here it blocks in poll(2).
func (p *Poller) Run(handle func(tokens []uint64) bool) error {
	for {
		toks, err := p.Wait(-1)
		if err != nil {
			return err
		}
		if !handle(toks) {
			return nil
		}
	}
}
