package media

import (
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/udpio"
)

// A media loop is one goroutine that does all the packet work of the
// sessions it owns: it waits on their sockets with one poller (epoll) and,
// for each socket that is readable, reads a batch of datagrams and relays
// each to the other leg before it reads the next socket. There is no
// goroutine per socket or per call, no hand-off between goroutines and no
// lock on the packet path, so the runtime's scheduler plays no part in a
// packet's life: a packet costs the system calls that read and write it,
// and its SRTP.
//
// A session's sockets — the trunk leg's RTP socket, the browser leg's own
// socket if it has one — belong to its loop. With Options.WebRTCPort each
// loop has a shared WebRTC socket of its own (port WebRTCPort+i), named in
// the answers of its sessions, so that a call's packets never leave its
// loop. Sockets are added from any goroutine; they are removed and closed
// on the loop, between two waits (exec), so that no datagram is ever
// handled for a socket that is gone.

// readable is what a loop calls when a socket it watches is readable.
type readable interface {
	readable(l *mediaLoop, now int64)
}

type mediaLoop struct {
	e      *Engine
	index  int
	poller *udpio.Poller
	waker  *udpio.Waker
	shared *webrtcSocket // with Options.WebRTCPort

	// The loop's own: buffers for every socket it reads.
	batch *udpio.Batch
	enc   [maxDatagram + 64]byte // SRTP towards the browser
	stun  [maxDatagram + 64]byte // STUN responses

	slots slotTable

	mu      sync.Mutex // guards cmds and stopped
	cmds    []func()
	stopped bool
	done    chan struct{} // closed when run returns
}

// loopBatch is how many datagrams a loop reads from a socket per system
// call: a trunk socket holds one per 20 ms, a shared WebRTC socket many.
const loopBatch = 32

// wakeToken is the waker's token; sockets get tokens from the slot table.
const wakeToken = 0

func newLoop(e *Engine, index int) (*mediaLoop, error) {
	p, err := udpio.NewPoller(256)
	if err != nil {
		return nil, err
	}
	w, err := udpio.NewWaker()
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := p.Add(w.FD(), wakeToken); err != nil {
		w.Close()
		p.Close()
		return nil, err
	}
	l := &mediaLoop{e: e, index: index, poller: p, waker: w, batch: udpio.NewBatch(loopBatch, maxDatagram), done: make(chan struct{})}
	l.slots.next = wakeToken + 1
	return l, nil
}

// watch makes the loop call h when s is readable; it returns the token to
// unwatch it with. Any goroutine may call it.
func (l *mediaLoop) watch(s *udpio.Socket, h readable) (uint64, error) {
	tok := l.slots.put(h)
	if err := l.poller.Add(s.FD, tok); err != nil {
		l.slots.free(tok)
		return 0, err
	}
	return tok, nil
}

// unwatch stops watching s, then closes it. It runs on the loop (exec).
func (l *mediaLoop) unwatch(s *udpio.Socket, tok uint64) {
	_ = l.poller.Del(s.FD)
	l.slots.free(tok)
	_ = s.Close()
}

// exec runs f on the loop between two waits and returns once it has run.
// It must not be called from the loop itself. Once the loop has stopped,
// f runs on the caller.
func (l *mediaLoop) exec(f func()) {
	done := make(chan struct{})
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		f()
		return
	}
	l.cmds = append(l.cmds, func() { f(); close(done) })
	l.mu.Unlock()
	l.waker.Wake()
	<-done
}

// stop ends the loop after the commands queued so far, and waits for it.
func (l *mediaLoop) stop() {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		<-l.done
		return
	}
	l.cmds = append(l.cmds, nil) // nil: stop
	l.mu.Unlock()
	l.waker.Wake()
	<-l.done
}

// run is the loop's goroutine. It waits in the runtime's poller, like any
// goroutine reading a socket, but for all the loop's sockets at once. (It
// is cheaper than blocking in epoll_wait, with or without the runtime's
// knowledge: docs/performance.md.)
func (l *mediaLoop) run() {
	defer close(l.done)
	err := l.poller.Run(func(toks []uint64) bool {
		now := monoNow()
		woken := false
		for _, tok := range toks {
			if tok == wakeToken {
				woken = true
				continue
			}
			if h := l.slots.get(tok); h != nil {
				h.readable(l, now)
			}
		}
		// Commands run after the batch: a socket they remove may still
		// have been in it.
		return !woken || l.runCommands()
	})
	if err != nil {
		l.e.log.Error("media loop: poll failed", zap.Int("loop", l.index), zap.Error(err))
		l.halt()
	}
}

// runCommands runs the queued commands; false means stop.
func (l *mediaLoop) runCommands() bool {
	l.waker.Clear()
	l.mu.Lock()
	cmds := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for i, f := range cmds {
		if f == nil {
			l.halt()
			for _, g := range cmds[i+1:] {
				if g != nil {
					g()
				}
			}
			return false
		}
		f()
	}
	return true
}

// halt marks the loop stopped (exec runs commands on its caller from now
// on) and runs what was queued.
func (l *mediaLoop) halt() {
	l.mu.Lock()
	l.stopped = true
	cmds := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for _, f := range cmds {
		if f != nil {
			f()
		}
	}
}

// close releases the poller and waker once the loop has stopped (or if it
// never started).
func (l *mediaLoop) close() {
	l.poller.Close()
	l.waker.Close()
}

// slotTable maps tokens to handlers: the loop reads it on every event
// without a lock (atomic loads), writers take mu. Tokens are reused only
// after the loop has removed the socket (unwatch runs on the loop).
type slotTable struct {
	mu     sync.Mutex // guards next, unused and the allocation of chunks
	next   uint64
	unused []uint64
	chunks [maxSlotChunks]atomic.Pointer[slotChunk]
}

const (
	slotChunkBits = 10
	slotChunkSize = 1 << slotChunkBits
	maxSlotChunks = 1 << 10 // a million sockets per loop
)

type slotChunk [slotChunkSize]atomic.Pointer[slotEntry]

type slotEntry struct{ h readable }

func (t *slotTable) put(h readable) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var tok uint64
	if n := len(t.unused); n > 0 {
		tok = t.unused[n-1]
		t.unused = t.unused[:n-1]
	} else {
		tok = t.next
		t.next++
	}
	c := t.chunks[tok>>slotChunkBits].Load()
	if c == nil {
		c = new(slotChunk)
		t.chunks[tok>>slotChunkBits].Store(c)
	}
	c[tok&(slotChunkSize-1)].Store(&slotEntry{h})
	return tok
}

func (t *slotTable) get(tok uint64) readable {
	if tok>>slotChunkBits >= maxSlotChunks {
		return nil
	}
	c := t.chunks[tok>>slotChunkBits].Load()
	if c == nil {
		return nil
	}
	if e := c[tok&(slotChunkSize-1)].Load(); e != nil {
		return e.h
	}
	return nil
}

func (t *slotTable) free(tok uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.chunks[tok>>slotChunkBits].Load(); c != nil {
		c[tok&(slotChunkSize-1)].Store(nil)
	}
	t.unused = append(t.unused, tok)
}
