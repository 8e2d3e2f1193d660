//go:build linux

package udpio

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"
)

// fromRaw decodes a sockaddr_in or sockaddr_in6; IPv4-mapped IPv6
// addresses come back as IPv4.
func fromRaw(sa *syscall.RawSockaddrInet6) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case syscall.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// toRaw encodes ap for a socket of either family: IPv4 as sockaddr_in
// (which an IPv6 dual-stack socket refuses; use IPv4-mapped addresses
// with those).
func toRaw(sa *syscall.RawSockaddrInet6, ap netip.AddrPort) uint32 {
	*sa = syscall.RawSockaddrInet6{}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	binary.BigEndian.PutUint16(p[:], ap.Port())
	if a := ap.Addr(); a.Is4() {
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = syscall.AF_INET
		sa4.Addr = a.As4()
		return syscall.SizeofSockaddrInet4
	}
	sa.Family = syscall.AF_INET6
	sa.Addr = ap.Addr().As16()
	return syscall.SizeofSockaddrInet6
}
