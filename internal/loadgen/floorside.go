//go:build linux

package loadgen

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// floorBrowser is the browser side of one call in a floor run: a UDP
// socket of its own (as each browser has), sending to the floor's shared
// browser-facing port, plain or SRTP-protected with the call's keys, and
// a goroutine reading what the floor relays back.
type floorBrowser struct {
	idx   uint32
	conn  *net.UDPConn
	relay netip.AddrPort
	enc   *srtp.Context // nil: plain RTP
	dec   *srtp.Context
	buf   [1500]byte // writeRTP's
	out   [1500]byte
}

func newFloorBrowser(idx uint32, ip netip.Addr, relay netip.AddrPort, protect bool) (*floorBrowser, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, err
	}
	b := &floorBrowser{idx: idx, conn: conn, relay: relay}
	if protect {
		toRelay, fromRelay := floorKeys(idx)
		if b.enc, err = srtp.CreateContext(toRelay[0], toRelay[1], srtpProfile); err == nil {
			b.dec, err = srtp.CreateContext(fromRelay[0], fromRelay[1], srtpProfile)
		}
		if err != nil {
			conn.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *floorBrowser) ssrc() uint32 { return ssrcBase + b.idx }
func (b *floorBrowser) pt() uint8    { return ptPCMU }

func (b *floorBrowser) writeRTP(h *rtp.Header, payload []byte) error {
	n, err := h.MarshalTo(b.buf[:])
	if err != nil {
		return err
	}
	pkt := append(b.buf[:n], payload...)
	if b.enc != nil {
		if pkt, err = b.enc.EncryptRTP(b.out[:0], pkt, nil); err != nil {
			return err
		}
	}
	_, err = b.conn.WriteToUDPAddrPort(pkt, b.relay)
	return err
}

// read records what the floor relays to this browser until the socket is
// closed.
func (b *floorBrowser) read(win func() *window, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 1500)
	dst := make([]byte, 1500)
	var hdr rtp.Header
	for {
		n, _, err := b.conn.ReadFromUDPAddrPort(buf)
		at := now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pkt := buf[:n]
		if b.dec != nil {
			if pkt, err = b.dec.DecryptRTP(dst[:0], pkt, &hdr); err != nil {
				win().bad.Add(1)
				continue
			}
		}
		win().onRecv(TrunkToBrowser, pkt, at)
	}
}
