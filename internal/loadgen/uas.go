//go:build linux

package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubline/hubline/internal/udpio"
)

// uas is the trunk side: a lean SIP user agent server on one UDP socket
// that answers every INVITE at once with 200 OK (PCMU and
// telephone-event), and one UDP socket that is the RTP endpoint of every
// call. Each call's SDP answer names that one socket; the gateway sends
// each call's RTP from its own port, and the generator sends each call's
// RTP to the port of the gateway's offer. RTP arriving there is a sink:
// the window records it (delay, loss); nothing is echoed.
type uas struct {
	sip *net.UDPConn
	rtp *net.UDPConn
	win func() *window // the current measurement window

	mu    sync.Mutex
	calls map[string]*uasCall // by Call-ID

	done chan struct{}
	wg   sync.WaitGroup
}

// uasCall is one dialog.
type uasCall struct {
	gwRTP   netip.AddrPort // the gateway's RTP address, from its offer
	resp    []byte         // the 200 OK, for retransmissions
	to      netip.AddrPort // where SIP responses go
	acked   bool
	nextTx  time.Time // next 200 retransmission while not acked
	txEvery time.Duration
	ended   bool
}

func startUAS(ip netip.Addr, win func() *window) (*uas, error) {
	sipConn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, err
	}
	rtpConn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		sipConn.Close()
		return nil, err
	}
	_ = rtpConn.SetReadBuffer(4 << 20)
	_ = rtpConn.SetWriteBuffer(4 << 20)
	u := &uas{sip: sipConn, rtp: rtpConn, win: win, calls: map[string]*uasCall{}, done: make(chan struct{})}
	u.wg.Add(3)
	go u.serveSIP()
	go u.retransmit()
	go u.serveRTP()
	return u, nil
}

func (u *uas) sipAddr() netip.AddrPort { return u.sip.LocalAddr().(*net.UDPAddr).AddrPort() }
func (u *uas) rtpAddr() netip.AddrPort { return u.rtp.LocalAddr().(*net.UDPAddr).AddrPort() }

func (u *uas) close() {
	close(u.done)
	u.sip.Close()
	u.rtp.Close()
	u.wg.Wait()
}

// gatewayRTP returns the gateway's RTP address for a call, once its INVITE
// has been answered.
func (u *uas) gatewayRTP(callID string) (netip.AddrPort, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.calls[callID]
	if !ok {
		return netip.AddrPort{}, false
	}
	return c.gwRTP, true
}

func (u *uas) serveRTP() {
	defer u.wg.Done()
	b := udpio.NewBatch(64, 1500)
	_ = udpio.ReadLoop(u.rtp, b, func(n int) bool {
		at := now()
		w := u.win()
		for i := range n {
			w.onRecv(BrowserToTrunk, b.Bufs[i][:b.Lens[i]], at)
		}
		return true
	})
}

// sendBatch sends the trunk side's packets to the relay.
func (u *uas) sendBatch(b *udpio.Batch, n int) (int, error) {
	return udpio.WriteBatch(u.rtp, b, n)
}

func (u *uas) serveSIP() {
	defer u.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := u.sip.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m, err := parseSIP(buf[:n])
		if err != nil || m.method == "" {
			continue // responses (we send no requests) and garbage
		}
		u.handle(m, from)
	}
}

func (u *uas) handle(m *sipMsg, from netip.AddrPort) {
	switch m.method {
	case "INVITE":
		u.mu.Lock()
		c, seen := u.calls[m.callID]
		if !seen {
			gw, err := offerAddr(m.body)
			if err != nil {
				u.mu.Unlock()
				u.reply(m, from, 488, "Not Acceptable Here", "", nil)
				return
			}
			tag := strconv.FormatUint(rand.Uint64(), 36)
			answer := u.answerSDP()
			c = &uasCall{gwRTP: gw, to: from, txEvery: 500 * time.Millisecond}
			c.resp = m.response(200, "OK", tag, u.contact(), answer)
			c.nextTx = time.Now().Add(c.txEvery)
			u.calls[m.callID] = c
		}
		resp := c.resp
		u.mu.Unlock()
		_, _ = u.sip.WriteToUDPAddrPort(resp, from)
	case "ACK":
		u.mu.Lock()
		if c, ok := u.calls[m.callID]; ok {
			c.acked = true
		}
		u.mu.Unlock()
	case "BYE":
		u.mu.Lock()
		if c, ok := u.calls[m.callID]; ok {
			c.ended, c.acked = true, true
		}
		u.mu.Unlock()
		u.reply(m, from, 200, "OK", "", nil)
	case "CANCEL", "OPTIONS":
		u.reply(m, from, 200, "OK", "", nil)
	default:
		u.reply(m, from, 501, "Not Implemented", "", nil)
	}
}

func (u *uas) reply(m *sipMsg, to netip.AddrPort, code int, reason, tag string, body []byte) {
	_, _ = u.sip.WriteToUDPAddrPort(m.response(code, reason, tag, "", body), to)
}

// retransmit resends 200 OKs not yet ACKed (RFC 3261 13.3.1.4): T1,
// doubling to T2.
func (u *uas) retransmit() {
	defer u.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	type tx struct {
		b  []byte
		to netip.AddrPort
	}
	var out []tx
	for {
		select {
		case <-u.done:
			return
		case <-t.C:
		}
		at := time.Now()
		u.mu.Lock()
		for _, c := range u.calls {
			if c.acked || at.Before(c.nextTx) {
				continue
			}
			out = append(out, tx{c.resp, c.to})
			c.txEvery = min(2*c.txEvery, 4*time.Second)
			c.nextTx = at.Add(c.txEvery)
		}
		u.mu.Unlock()
		for _, x := range out {
			_, _ = u.sip.WriteToUDPAddrPort(x.b, x.to)
		}
		out = out[:0]
	}
}

func (u *uas) contact() string {
	return fmt.Sprintf("<sip:hubload@%s;transport=udp>", u.sipAddr())
}

// answerSDP answers every offer with PCMU and telephone-event on the one
// RTP socket.
func (u *uas) answerSDP() []byte {
	a := u.rtpAddr()
	id := rand.Uint32()
	return fmt.Appendf(nil, "v=0\r\no=hubload %d 1 IN IP4 %s\r\ns=hubload\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n", id, a.Addr(), a.Addr(), a.Port())
}

// offerAddr reads the connection address and audio port of an SDP offer.
func offerAddr(sdp []byte) (netip.AddrPort, error) {
	var addr netip.Addr
	var port uint64
	for line := range strings.SplitSeq(string(sdp), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "c=IN IP4 "), strings.HasPrefix(line, "c=IN IP6 "):
			a, err := netip.ParseAddr(strings.Fields(line[9:])[0])
			if err != nil {
				return netip.AddrPort{}, err
			}
			addr = a
		case strings.HasPrefix(line, "m=audio "):
			f := strings.Fields(line)
			if len(f) < 2 {
				return netip.AddrPort{}, errors.New("loadgen: bad m= line")
			}
			var err error
			if port, err = strconv.ParseUint(f[1], 10, 16); err != nil {
				return netip.AddrPort{}, err
			}
		}
	}
	if !addr.IsValid() || port == 0 {
		return netip.AddrPort{}, errors.New("loadgen: offer without address or audio port")
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// sipMsg is the part of a SIP request the UAS needs.
type sipMsg struct {
	method  string
	callID  string
	headers [][2]string // Via, From, To, Call-ID, CSeq, in order, as received
	body    []byte
}

// compact maps RFC 3261 compact header names to full ones.
var compact = map[string]string{"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "l": "Content-Length"}

func parseSIP(b []byte) (*sipMsg, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("loadgen: SIP message without header end")
	}
	lines := strings.Split(string(head), "\r\n")
	m := &sipMsg{body: body}
	if f := strings.Fields(lines[0]); len(f) == 3 && f[2] == "SIP/2.0" {
		m.method = f[0]
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if full, ok := compact[strings.ToLower(k)]; ok {
			k = full
		}
		switch strings.ToLower(k) {
		case "via":
			m.headers = append(m.headers, [2]string{"Via", v})
		case "from":
			m.headers = append(m.headers, [2]string{"From", v})
		case "to":
			m.headers = append(m.headers, [2]string{"To", v})
		case "call-id":
			m.callID = v
			m.headers = append(m.headers, [2]string{"Call-ID", v})
		case "cseq":
			m.headers = append(m.headers, [2]string{"CSeq", v})
		case "content-length":
			if n, err := strconv.Atoi(v); err == nil && n <= len(m.body) {
				m.body = m.body[:n]
			}
		}
	}
	if m.callID == "" {
		return nil, errors.New("loadgen: SIP message without Call-ID")
	}
	return m, nil
}

// response builds a response to m; tag is added to To when not empty.
func (m *sipMsg) response(code int, reason, tag, contact string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range m.headers {
		v := h[1]
		if h[0] == "To" && tag != "" && !strings.Contains(v, ";tag=") {
			v += ";tag=" + tag
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], v)
	}
	if contact != "" {
		fmt.Fprintf(&b, "Contact: %s\r\n", contact)
	}
	b.WriteString("Server: hubload\r\n")
	if len(body) > 0 {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}
