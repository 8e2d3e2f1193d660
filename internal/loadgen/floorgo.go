//go:build linux

package loadgen

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/hubline/hubline/internal/udpio"
)

// RunFloorGo is the floor written the way a Go program relays: the
// runtime's network poller, a goroutine per trunk-facing socket and one
// for the shared socket, batched reads (internal/udpio). It shows what
// the Go runtime adds to the epoll floor. It blocks forever.
func RunFloorGo(o FloorOptions, ready func(FloorAddrs)) error {
	shared, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.IP, o.BrowserPort)))
	if err != nil {
		return err
	}
	_ = shared.SetReadBuffer(4 << 20)
	_ = shared.SetWriteBuffer(4 << 20)
	addrs := FloorAddrs{Browser: shared.LocalAddr().(*net.UDPAddr).AddrPort()}
	type goCall struct {
		conn    *net.UDPConn
		mu      sync.Mutex
		browser netip.AddrPort
		in, out *srtp.Context
	}
	calls := make([]*goCall, o.Calls)
	for i := range calls {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.IP, 0)))
		if err != nil {
			return err
		}
		calls[i] = &goCall{conn: c}
		addrs.Trunk = append(addrs.Trunk, c.LocalAddr().(*net.UDPAddr).AddrPort())
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
	ready(addrs)
	for _, c := range calls {
		go func() {
			b := udpio.NewBatch(2, 1500)
			var out [1600]byte
			var hdr rtp.Header
			_ = udpio.ReadLoop(c.conn, b, func(n int) bool {
				c.mu.Lock()
				dst := c.browser
				c.mu.Unlock()
				if !dst.IsValid() {
					return true
				}
				for i := range n {
					pkt := b.Bufs[i][:b.Lens[i]]
					if c.out != nil {
						enc, err := c.out.EncryptRTP(out[:0], pkt, &hdr)
						if err != nil {
							continue
						}
						pkt = enc
					}
					_, _ = shared.WriteToUDPAddrPort(pkt, dst)
				}
				return true
			})
		}()
	}
	byAddr := map[netip.AddrPort]*goCall{}
	b := udpio.NewBatch(32, 1500)
	var hdr rtp.Header
	return udpio.ReadLoop(shared, b, func(n int) bool {
		for i := range n {
			pkt := b.Bufs[i][:b.Lens[i]]
			src := b.Addrs[i]
			c := byAddr[src]
			if c == nil {
				if len(pkt) < 12 {
					continue
				}
				idx := int(binary.BigEndian.Uint32(pkt[8:]) - ssrcBase)
				if idx < 0 || idx >= len(calls) {
					continue
				}
				c = calls[idx]
				byAddr[src] = c
				c.mu.Lock()
				c.browser = src
				c.mu.Unlock()
			}
			if c.in != nil {
				if pkt[1] >= 192 && pkt[1] <= 223 {
					continue
				}
				dec, err := c.in.DecryptRTP(pkt, pkt, &hdr)
				if err != nil {
					continue
				}
				pkt = dec
			}
			_, _ = c.conn.WriteToUDPAddrPort(pkt, o.Trunk)
		}
		return true
	})
}
