//go:build unix && !(linux && (amd64 || arm64 || riscv64 || ppc64le || loong64 || s390x || mips64 || mips64le))

package udpio

import (
	"net/netip"
	"syscall"
)

// Elsewhere: one datagram per system call, through the net package's
// helpers on the raw descriptor.

type sysBatch struct{}

func (s *sysBatch) init(*Batch) {}

func (s *sysBatch) recv(b *Batch, fd uintptr) (int, error) {
	n, from, err := syscall.Recvfrom(int(fd), b.Bufs[0][:cap(b.Bufs[0])], syscall.MSG_DONTWAIT)
	if err != nil {
		return 0, err
	}
	b.Lens[0] = n
	switch sa := from.(type) {
	case *syscall.SockaddrInet4:
		b.Addrs[0] = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		b.Addrs[0] = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return 1, nil
}

func (s *sysBatch) send(b *Batch, fd uintptr, from, _ int) (int, error) {
	ap := b.Addrs[from]
	var sa syscall.Sockaddr
	if ap.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := syscall.Sendto(int(fd), b.Bufs[from][:b.Lens[from]], 0, sa); err != nil {
		return 0, err
	}
	return 1, nil
}

func sendTo(fd int, p []byte, to netip.AddrPort) error {
	var sa syscall.Sockaddr
	if to.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	} else {
		sa = &syscall.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	}
	return syscall.Sendto(fd, p, 0, sa)
}
