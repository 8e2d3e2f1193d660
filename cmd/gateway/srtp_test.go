package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/softphone"
)

// srtpTrunk is a SIP trunk with SDES-SRTP media, written for the test on
// sipgo and pion/srtp (SIPp 3.6.1 cannot do SRTP): it answers the INVITE
// with its own a=crypto key for the tag and suite offered, plays a 440 Hz
// tone encrypted with its key, and decrypts (and authenticates) what the
// gateway sends with the key of the offer.
type srtpTrunk struct {
	t    *testing.T
	addr string // SIP, 127.0.0.1:port (UDP)
	rtp  *net.UDPConn
	key  []byte // ours: master key || salt
	ua   *sipgo.UserAgent

	mu      sync.Mutex
	offer   []byte
	pcm     []int16 // decoded audio from the gateway
	stop    chan struct{}
	plain   atomic.Int64 // packets that failed SRTP authentication
	decoded atomic.Int64
	wg      sync.WaitGroup
}

var cryptoRE = regexp.MustCompile(`a=crypto:(\d+) (AES_CM_128_HMAC_SHA1_80) inline:([A-Za-z0-9+/=]+)`)
var mediaRE = regexp.MustCompile(`m=audio (\d+) (RTP/S?AVP) `)

func newSRTPTrunk(t *testing.T) *srtpTrunk {
	t.Helper()
	tr := &srtpTrunk{t: t, key: make([]byte, 30), stop: make(chan struct{})}
	rand.Read(tr.key)
	var err error
	if tr.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("srtp-trunk"))
	if err != nil {
		t.Fatal(err)
	}
	tr.ua = ua
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr.addr = pc.LocalAddr().String()
	srv.OnInvite(tr.onInvite)
	srv.OnAck(func(*gosip.Request, gosip.ServerTransaction) {})
	srv.OnBye(func(req *gosip.Request, tx gosip.ServerTransaction) {
		tx.Respond(gosip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeUDP(pc) }()
	t.Cleanup(func() {
		close(tr.stop)
		tr.rtp.Close()
		tr.wg.Wait()
		ua.Close()
		pc.Close()
		<-done
	})
	return tr
}

func (tr *srtpTrunk) onInvite(req *gosip.Request, tx gosip.ServerTransaction) {
	offer := req.Body()
	tr.mu.Lock()
	tr.offer = bytes.Clone(offer)
	tr.mu.Unlock()
	c := cryptoRE.FindSubmatch(offer)
	m := mediaRE.FindSubmatch(offer)
	if c == nil || m == nil {
		tx.Respond(gosip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	gwKey, err := base64.StdEncoding.DecodeString(string(c[3]))
	port, _ := strconv.Atoi(string(m[1]))
	if err != nil || len(gwKey) != 30 {
		tx.Respond(gosip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	local := tr.rtp.LocalAddr().(*net.UDPAddr)
	answer := fmt.Sprintf("v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d %s 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=crypto:%s AES_CM_128_HMAC_SHA1_80 inline:%s\r\n",
		local.Port, m[2], c[1], base64.StdEncoding.EncodeToString(tr.key))
	res := gosip.NewResponseFromRequest(req, 200, "OK", []byte(answer))
	res.To().Params.Add("tag", "srtptrunk")
	res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: portOfAddr(tr.addr)}})
	res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		tr.t.Errorf("srtp trunk: 200 not sent: %v", err)
		return
	}
	gw := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	tr.wg.Add(2)
	go tr.play(gw)
	go tr.listen(gwKey)
}

func portOfAddr(a string) int {
	_, p, _ := net.SplitHostPort(a)
	n, _ := strconv.Atoi(p)
	return n
}

// play sends a 440 Hz tone, µ-law, SRTP with the trunk's key.
func (tr *srtpTrunk) play(gw netip.AddrPort) {
	defer tr.wg.Done()
	ctx, err := srtp.CreateContext(tr.key[:16], tr.key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		tr.t.Error(err)
		return
	}
	tone := audio.NewTone(trunkTone, 0.3)
	pcm := make([]int16, 160)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x7e57}}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-tr.stop:
			return
		case <-tick.C:
		}
		tone.ReadFrame(pcm)
		pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i*160)
		pkt.Payload = audio.PCMU.Encode(pkt.Payload[:0], pcm)
		raw, err := pkt.Marshal()
		if err != nil {
			tr.t.Error(err)
			return
		}
		enc, err := ctx.EncryptRTP(nil, raw, nil)
		if err != nil {
			tr.t.Error(err)
			return
		}
		tr.rtp.WriteToUDPAddrPort(enc, gw)
	}
}

// listen decrypts the gateway's packets with the key of its offer.
func (tr *srtpTrunk) listen(gwKey []byte) {
	defer tr.wg.Done()
	ctx, err := srtp.CreateContext(gwKey[:16], gwKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		tr.t.Error(err)
		return
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		plain, err := ctx.DecryptRTP(nil, buf[:n], nil)
		if err != nil {
			tr.plain.Add(1)
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(plain); err != nil || p.PayloadType != 0 {
			continue
		}
		tr.decoded.Add(1)
		tr.mu.Lock()
		tr.pcm = audio.PCMU.Decode(tr.pcm, p.Payload)
		tr.mu.Unlock()
	}
}

// heard is the dominant tone of the last second the trunk decrypted, once
// it has that much.
func (tr *srtpTrunk) heard(t *testing.T) (float64, float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr.mu.Lock()
		n := len(tr.pcm)
		var last []int16
		if n >= 2*audio.SampleRate {
			last = append(last, tr.pcm[n-audio.SampleRate:]...)
		}
		tr.mu.Unlock()
		if last != nil {
			return audio.DominantTone(last, toneCandidates)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trunk decrypted %d samples (%d packets; %d failed SRTP)", n, tr.decoded.Load(), tr.plain.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSDESTrunkAudioBothWays: a trunk with srtp: optional gets an offer
// with a=crypto (the gateway's key); it answers with its own key; the
// carrier's 440 Hz tone, SRTP, reaches the rep, and the rep's 1 kHz tone
// reaches the trunk as SRTP that authenticates with the offered key.
func TestSDESTrunkAudioBothWays(t *testing.T) {
	trunk := newSRTPTrunk(t)
	g := startGateway(t, gwConfig{trunk: trunk.addr, trunkExtra: "    srtp: optional\n"})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	trunk.mu.Lock()
	offer := string(trunk.offer)
	trunk.mu.Unlock()
	if !regexp.MustCompile(`m=audio \d+ RTP/AVP `).MatchString(offer) || !cryptoRE.MatchString(offer) {
		t.Errorf("offer to an srtp: optional trunk:\n%s\nwant RTP/AVP with a=crypto AES_CM_128_HMAC_SHA1_80", offer)
	}
	expectTone(t, p, trunkTone, "the SRTP trunk's tone")
	if f, level := trunk.heard(t); f != repTone || level < 0.5 {
		t.Errorf("the trunk heard %.0f Hz at %.2f, want the rep's %.0f Hz", f, level, repTone)
	}
	if n := trunk.plain.Load(); n > 0 {
		t.Errorf("%d packets to the trunk failed SRTP authentication", n)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, id, softphone.StateEnded)
}

// call places an inbound call to did on the gateway at gwSIP, offering
// RTP/SAVP with the trunk's key, and starts the media once answered. It
// returns the gateway's answer and a function that hangs up with BYE.
func (tr *srtpTrunk) call(t *testing.T, gwSIP, did string, answered func()) (answer string, hangup func()) {
	t.Helper()
	client, err := sipgo.NewClient(tr.ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	port := portOfAddr(tr.addr)
	dc := sipgo.NewDialogClientCache(client, gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "trunk", Host: "127.0.0.1", Port: port}})
	local := tr.rtp.LocalAddr().(*net.UDPAddr)
	offer := fmt.Sprintf("v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n",
		local.Port, base64.StdEncoding.EncodeToString(tr.key))
	from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: callerNum, Host: "127.0.0.1"}, Params: gosip.NewParams()}
	from.Params.Add("tag", "srtpcaller")
	gwHost, gwPort, _ := net.SplitHostPort(gwSIP)
	gp, _ := strconv.Atoi(gwPort)
	ctx := ctxFor(t, 30*time.Second)
	sess, err := dc.Invite(ctx, gosip.Uri{Scheme: "sip", User: did, Host: gwHost, Port: gp}, []byte(offer),
		from, gosip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		t.Fatal(err)
	}
	answered()
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("the gateway did not answer: %v", err)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	answer = string(sess.InviteResponse.Body())
	c := cryptoRE.FindStringSubmatch(answer)
	m := mediaRE.FindStringSubmatch(answer)
	if c == nil || m == nil {
		t.Fatalf("the gateway's answer to an SRTP offer:\n%s", answer)
	}
	gwKey, err := base64.StdEncoding.DecodeString(c[3])
	gwRTP, _ := strconv.Atoi(m[1])
	if err != nil || len(gwKey) != 30 {
		t.Fatalf("the gateway's key %q: %v", c[3], err)
	}
	tr.wg.Add(2)
	go tr.play(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(gwRTP)))
	go tr.listen(gwKey)
	return answer, func() {
		if err := sess.Bye(ctxFor(t, 10*time.Second)); err != nil {
			t.Errorf("BYE: %v", err)
		}
		sess.Close()
	}
}

// TestSDESInboundCallAnsweredInKind: a trunk calls a DID offering RTP/SAVP
// with a=crypto; the rep answers; the gateway's answer is RTP/SAVP with
// the offer's tag and suite and its own key, and the audio flows both ways
// encrypted: the trunk's 440 Hz reaches the rep, the rep's 1 kHz reaches
// the trunk (authenticated with the gateway's key).
func TestSDESInboundCallAnsweredInKind(t *testing.T) {
	g := inboundGateway(t)
	p := availableRep(t, g, testUser)
	trunk := newSRTPTrunk(t)
	type result struct {
		c   softphone.Call
		err error
	}
	accepted := make(chan result, 1)
	answer, hangup := trunk.call(t, g.sipAddr(), repDID, func() {
		go func() {
			c, err := p.WaitIncoming(ctxFor(t, 10*time.Second))
			if err == nil {
				c, err = p.Accept(ctxFor(t, 10*time.Second), c.CallID)
			}
			accepted <- result{c, err}
		}()
	})
	res := <-accepted
	if res.err != nil {
		t.Fatal(res.err)
	}
	c := res.c
	if !regexp.MustCompile(`m=audio \d+ RTP/SAVP 0`).MatchString(answer) || !regexp.MustCompile(`a=crypto:7 AES_CM_128_HMAC_SHA1_80 `).MatchString(answer) {
		t.Errorf("answer:\n%s\nwant RTP/SAVP with a=crypto:7 AES_CM_128_HMAC_SHA1_80", answer)
	}
	if strings.Contains(answer, base64.StdEncoding.EncodeToString(trunk.key)) {
		t.Error("the gateway answered with the trunk's own key")
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, trunkTone, "the SRTP caller's tone")
	if f, level := trunk.heard(t); f != repTone || level < 0.5 {
		t.Errorf("the caller heard %.0f Hz at %.2f, want the rep's %.0f Hz", f, level, repTone)
	}
	hangup()
	waitState(t, p, c.CallID, softphone.StateEnded)
}
