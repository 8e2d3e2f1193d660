//go:build unix

// Package udpio reads and writes batches of UDP datagrams without
// allocating: recvmmsg and sendmmsg on Linux (one system call for many
// datagrams), one datagram per call elsewhere. Readers take part in the Go
// runtime's network poller, so a goroutine waiting for datagrams costs no
// thread.
//
// It exists for the media relay (media) and the load generator
// (internal/loadgen), where system calls are most of the cost of a packet.
// It imports only the standard library.
package udpio

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

func isAgain(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR)
}

// Batch is a set of datagram buffers with their lengths and addresses. A
// Batch belongs to one goroutine at a time.
type Batch struct {
	// Bufs are the datagram buffers: ReadLoop fills Bufs[i][:Lens[i]];
	// WriteBatch sends Bufs[i][:Lens[i]] to Addrs[i].
	Bufs  [][]byte
	Lens  []int
	Addrs []netip.AddrPort
	sys   sysBatch
}

// NewBatch returns a Batch of n buffers of size bytes each.
func NewBatch(n, size int) *Batch {
	b := &Batch{Bufs: make([][]byte, n), Lens: make([]int, n), Addrs: make([]netip.AddrPort, n)}
	mem := make([]byte, n*size)
	for i := range b.Bufs {
		b.Bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	b.sys.init(b)
	return b
}

// ReadLoop reads datagrams from c into b and hands each batch to fn (n
// datagrams: b.Bufs[i][:b.Lens[i]] from b.Addrs[i]), until c is closed
// (it then returns nil), a read fails, or fn returns false. It waits for
// datagrams in the runtime's poller, and makes one system call per batch:
// after a batch shorter than b, it waits for the next datagram instead of
// asking the socket again.
func ReadLoop(c *net.UDPConn, b *Batch, fn func(n int) bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	stop := false
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, err := b.sys.recv(b, fd)
			if err != nil {
				if isAgain(err) {
					return false // wait for the poller
				}
				rerr = err
				return true
			}
			if !fn(n) {
				stop = true
				return true
			}
			if n < len(b.Bufs) {
				// The socket was empty when the kernel filled the batch;
				// a datagram arriving since then has woken the poller.
				return false
			}
		}
	})
	switch {
	case stop:
		return nil
	case rerr != nil:
		return rerr
	case errors.Is(err, net.ErrClosed):
		return nil
	}
	return err
}

// WriteBatch sends b.Bufs[i][:b.Lens[i]] to b.Addrs[i] for i < n, and
// returns how many were sent. A datagram the kernel refuses (to a
// closed port, for example) is skipped, and counted as sent.
func WriteBatch(c *net.UDPConn, b *Batch, n int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	sent := 0
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for sent < n {
			k, err := b.sys.send(b, fd, sent, n)
			if err != nil {
				if isAgain(err) {
					return false
				}
				// Skip the datagram that failed, like a lost one.
				sent++
				werr = err
				continue
			}
			sent += k
		}
		return true
	})
	if err != nil {
		return sent, err
	}
	return sent, werr
}
