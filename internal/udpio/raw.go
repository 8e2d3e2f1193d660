//go:build unix

package udpio

import (
	"net/netip"
	"syscall"
)

// Raw sockets for event loops that poll descriptors themselves (Poller)
// instead of parking goroutines in the runtime's poller: non-blocking UDP
// sockets the runtime does not know about, read and written with one
// system call and no allocation.

// Socket is a non-blocking UDP socket the runtime's poller does not watch.
// Close it once nothing reads or writes it any more.
type Socket struct {
	FD   int
	Addr netip.AddrPort // the bound address
	v6   bool           // AF_INET6: IPv4 destinations go as IPv4-mapped
}

// Listen binds a non-blocking UDP socket to ap (port 0: any). buf, when
// not zero, sets its receive and send buffers (capped by the kernel's
// net.core.rmem_max and wmem_max).
func Listen(ap netip.AddrPort, buf int) (*Socket, error) {
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	a := ap.Addr()
	if a.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	fd, err := socket(family)
	if err != nil {
		return nil, err
	}
	if family == syscall.AF_INET6 && a.IsUnspecified() {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0) // dual stack
	}
	if buf > 0 {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, buf)
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, buf)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	s := &Socket{FD: fd, v6: family == syscall.AF_INET6}
	switch b := bound.(type) {
	case *syscall.SockaddrInet4:
		s.Addr = netip.AddrPortFrom(netip.AddrFrom4(b.Addr), uint16(b.Port))
	case *syscall.SockaddrInet6:
		s.Addr = netip.AddrPortFrom(netip.AddrFrom16(b.Addr).Unmap(), uint16(b.Port))
	}
	return s, nil
}

// Close closes the socket.
func (s *Socket) Close() error { return syscall.Close(s.FD) }

// Recv reads up to len(b.Bufs) datagrams without blocking: the count, or
// 0 when there are none. It does not allocate.
func (s *Socket) Recv(b *Batch) (int, error) {
	n, err := b.sys.recv(b, uintptr(s.FD))
	if err != nil {
		if isAgain(err) {
			return 0, nil
		}
		return 0, err
	}
	return n, nil
}

// SendTo sends one datagram without blocking and without allocating. A
// full socket buffer drops it (syscall.EAGAIN), as the network would.
func (s *Socket) SendTo(p []byte, to netip.AddrPort) error {
	if s.v6 && to.Addr().Is4() {
		to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
	}
	return sendTo(s.FD, p, to)
}

// Send sends b.Bufs[i][:b.Lens[i]] to b.Addrs[i] for i < n without
// blocking, and returns how many the kernel took. On an IPv6 socket the
// addresses must be IPv6 (IPv4-mapped for IPv4 peers).
func (s *Socket) Send(b *Batch, n int) (int, error) {
	sent := 0
	for sent < n {
		k, err := b.sys.send(b, uintptr(s.FD), sent, n)
		if err != nil {
			return sent, err
		}
		sent += k
	}
	return sent, nil
}
