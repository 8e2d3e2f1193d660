//go:build linux

package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// The floors: bare relays that do only what a relay must, on one thread
// with epoll, no allocation, no locks, with the gateway's socket layout —
// one shared browser-facing UDP socket, demultiplexed by source address,
// and one trunk-facing UDP socket per call. FloorUDP relays packets as
// they are; FloorSRTP also decrypts what comes from the browser side and
// encrypts what goes to it (SRTP AEAD_AES_128_GCM, the profile the
// gateway negotiates), with keys both ends derive from the call's index
// instead of a DTLS handshake. The generator learns a browser's call from
// the SSRC of its first packet (ssrcBase + index).

// Floor modes.
const (
	FloorUDP  = "udp"
	FloorSRTP = "srtp"
)

// ssrcBase + call index is the browser side's SSRC in floor runs.
const ssrcBase = 0x1000_0000

// srtpProfile is the floors' SRTP profile.
const srtpProfile = srtp.ProtectionProfileAeadAes128Gcm

// floorKeys derives a call's SRTP keys: toRelay protects the browser side's
// packets to the relay, fromRelay the relay's packets to the browser side.
func floorKeys(idx uint32) (toRelay, fromRelay [2][]byte) {
	mk := func(seed byte) [2][]byte {
		key, salt := make([]byte, 16), make([]byte, 12)
		for i := range key {
			key[i] = seed + byte(i) + byte(idx) + byte(idx>>8)*31
		}
		for i := range salt {
			salt[i] = seed ^ byte(i*7) ^ byte(idx>>3)
		}
		return [2][]byte{key, salt}
	}
	return mk(0x11), mk(0x77)
}

// FloorOptions configures RunFloor.
type FloorOptions struct {
	Mode        string         // FloorUDP or FloorSRTP
	Calls       int            // trunk-facing sockets to open
	IP          netip.Addr     // bind address (IPv4)
	BrowserPort uint16         // the shared browser-facing port; 0: any
	Trunk       netip.AddrPort // where every call's trunk-side packets go
}

// FloorAddrs is what a floor relay listens on.
type FloorAddrs struct {
	Browser netip.AddrPort   `json:"browser"`
	Trunk   []netip.AddrPort `json:"trunk"` // by call index
}

type floorCall struct {
	trunkFD int
	browser syscall.RawSockaddrInet4 // zero port until the first packet
	in, out *srtp.Context            // FloorSRTP: decrypt from / encrypt to the browser side
}

// RunFloor opens the sockets, calls ready with their addresses, then
// relays on the calling goroutine, locked to its thread, until the process
// ends. It returns only on a setup or epoll error.
func RunFloor(o FloorOptions, ready func(FloorAddrs)) error {
	if !o.IP.Is4() || !o.Trunk.Addr().Is4() {
		return errors.New("loadgen: floors are IPv4 only")
	}
	if o.Mode != FloorUDP && o.Mode != FloorSRTP {
		return fmt.Errorf("loadgen: floor mode %q", o.Mode)
	}
	runtime.LockOSThread()
	runtime.GOMAXPROCS(1)
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	shared, addr, err := udpSocket(o.IP, o.BrowserPort)
	if err != nil {
		return err
	}
	addrs := FloorAddrs{Browser: addr}
	if err := epollAdd(ep, shared, -1); err != nil {
		return err
	}
	calls := make([]floorCall, o.Calls)
	for i := range calls {
		fd, a, err := udpSocket(o.IP, 0)
		if err != nil {
			return err
		}
		if err := epollAdd(ep, fd, int32(i)); err != nil {
			return err
		}
		calls[i].trunkFD = fd
		addrs.Trunk = append(addrs.Trunk, a)
		if o.Mode == FloorSRTP {
			toRelay, fromRelay := floorKeys(uint32(i))
			if calls[i].in, err = srtp.CreateContext(toRelay[0], toRelay[1], srtpProfile); err != nil {
				return err
			}
			if calls[i].out, err = srtp.CreateContext(fromRelay[0], fromRelay[1], srtpProfile); err != nil {
				return err
			}
		}
	}
	trunk := sockaddr4(o.Trunk)
	ready(addrs)

	var (
		events   [128]syscall.EpollEvent
		buf      [2048]byte
		out      [2048]byte
		hdr      rtp.Header
		src      syscall.RawSockaddrInet4
		byAddr   = make(map[uint64]int32, o.Calls)
		srtpMode = o.Mode == FloorSRTP
	)
	for {
		n, err := epollWait(ep, events[:])
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return err
		}
		for _, ev := range events[:n] {
			idx := ev.Pad // the call index, -1 for the shared socket
			fd := int(ev.Fd)
			// The shared socket is drained; a call's socket, which holds
			// one packet per 20 ms, is read once: epoll is level-triggered
			// and reports it again if there is more.
			reads := 1
			if idx < 0 {
				reads = 64
			}
			for range reads {
				m, ok := recvFrom(fd, buf[:], &src)
				if !ok {
					break
				}
				pkt := buf[:m]
				if idx < 0 { // browser side → trunk
					key := uint64(src.Addr[0])<<40 | uint64(src.Addr[1])<<32 | uint64(src.Addr[2])<<24 | uint64(src.Addr[3])<<16 | uint64(src.Port)
					ci, known := byAddr[key]
					if !known {
						if len(pkt) < 12 {
							continue
						}
						ci = int32(binary.BigEndian.Uint32(pkt[8:]) - ssrcBase)
						if ci < 0 || int(ci) >= len(calls) {
							continue
						}
						byAddr[key] = ci
						calls[ci].browser = src
					}
					c := &calls[ci]
					if srtpMode {
						if pkt[1] >= 192 && pkt[1] <= 223 {
							continue // SRTCP
						}
						dec, err := c.in.DecryptRTP(out[:], pkt, &hdr)
						if err != nil {
							continue
						}
						pkt = dec
					}
					sendTo(c.trunkFD, pkt, &trunk)
					continue
				}
				// trunk side → browser
				c := &calls[idx]
				if c.browser.Port == 0 {
					continue
				}
				if srtpMode {
					enc, err := c.out.EncryptRTP(out[:], pkt, &hdr)
					if err != nil {
						continue
					}
					pkt = enc
				}
				sendTo(shared, pkt, &c.browser)
			}
		}
	}
}

// epollWait blocks in epoll_wait without telling the Go scheduler: the
// thread keeps its P, so no other thread is woken to run goroutines while
// the relay sleeps, and none has to hand the P back when it wakes. The
// relay process runs with GOMAXPROCS=1: this thread is the relay.
func epollWait(ep int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), ^uintptr(0), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func sockaddr4(ap netip.AddrPort) syscall.RawSockaddrInet4 {
	sa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: ap.Addr().As4()}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
	return sa
}

// udpSocket opens a non-blocking UDP socket bound to ip:port with 4 MB
// buffers (as far as rmem_max allows).
func udpSocket(ip netip.Addr, port uint16) (int, netip.AddrPort, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<20)
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<20)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(port), Addr: ip.As4()}); err != nil {
		syscall.Close(fd)
		return 0, netip.AddrPort{}, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return 0, netip.AddrPort{}, err
	}
	s4 := sa.(*syscall.SockaddrInet4)
	return fd, netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(s4.Port)), nil
}

func epollAdd(ep, fd int, idx int32) error {
	return syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd), Pad: idx})
}

// recvFrom reads one datagram without allocating; ok is false when there
// is none (EAGAIN) or on error.
func recvFrom(fd int, b []byte, from *syscall.RawSockaddrInet4) (int, bool) {
	l := uint32(syscall.SizeofSockaddrInet4)
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(from)), uintptr(unsafe.Pointer(&l)))
	if errno != 0 {
		return 0, false
	}
	return int(n), true
}

func sendTo(fd int, b []byte, to *syscall.RawSockaddrInet4) {
	_, _, _ = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(to)), syscall.SizeofSockaddrInet4)
}
