//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || loong64 || s390x || mips64 || mips64le)

package udpio

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr on 64-bit Linux.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

type sysBatch struct {
	hdrs  []mmsghdr
	iovs  []syscall.Iovec
	names []syscall.RawSockaddrInet6 // room for either family
}

func (s *sysBatch) init(b *Batch) {
	n := len(b.Bufs)
	s.hdrs = make([]mmsghdr, n)
	s.iovs = make([]syscall.Iovec, n)
	s.names = make([]syscall.RawSockaddrInet6, n)
	for i := range s.hdrs {
		s.iovs[i].Base = &b.Bufs[i][:1][0]
		s.hdrs[i].hdr.Iov = &s.iovs[i]
		s.hdrs[i].hdr.Iovlen = 1
		s.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
	}
}

func (s *sysBatch) recv(b *Batch, fd uintptr) (int, error) {
	for i := range s.hdrs {
		s.iovs[i].Len = uint64(cap(b.Bufs[i]))
		s.hdrs[i].hdr.Namelen = syscall.SizeofSockaddrInet6
	}
	n, _, errno := syscall.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(len(s.hdrs)),
		syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	for i := range int(n) {
		b.Lens[i] = int(s.hdrs[i].n)
		b.Addrs[i] = fromRaw(&s.names[i])
	}
	return int(n), nil
}

func (s *sysBatch) send(b *Batch, fd uintptr, from, to int) (int, error) {
	for i := from; i < to; i++ {
		s.iovs[i].Len = uint64(b.Lens[i])
		s.hdrs[i].hdr.Namelen = toRaw(&s.names[i], b.Addrs[i])
	}
	n, _, errno := syscall.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[from])), uintptr(to-from), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sendTo is sendto(2) without allocating: the address is encoded on the
// stack.
func sendTo(fd int, p []byte, to netip.AddrPort) error {
	var sa syscall.RawSockaddrInet6
	l := toRaw(&sa, to)
	var base unsafe.Pointer
	if len(p) > 0 {
		base = unsafe.Pointer(&p[0])
	}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(base), uintptr(len(p)), 0,
		uintptr(unsafe.Pointer(&sa)), uintptr(l))
	if errno != 0 {
		return errno
	}
	return nil
}
