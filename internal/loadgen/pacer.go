//go:build linux

package loadgen

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/hubline/hubline/internal/udpio"
)

// The pacer sends every call's media: one 20 ms packet per call and
// direction every 20 ms, the calls' phases spread evenly over the period
// (and the trunk side's offset by half a period from the browser side's),
// as independent phones and media servers would. A few goroutines share
// the calls; each wakes every millisecond and sends what is due. A packet
// is stamped when it is sent, so a late wake-up shifts the pacing, not the
// delay measured.

const (
	period  = 20 * time.Millisecond
	tickGap = time.Millisecond
	// maxLag: a shard that falls this far behind skips ahead rather than
	// bursting (and says so in Result.Skipped).
	maxLag = 5 * period
)

// browserSide sends a call's browser-side RTP to the relay.
type browserSide interface {
	// writeRTP sends payload with hdr (SSRC and PT are the side's own).
	// It is called by one pacer goroutine at a time.
	writeRTP(hdr *rtp.Header, payload []byte) error
	ssrc() uint32
	pt() uint8
}

// call is one call as the pacer sees it.
type call struct {
	idx     uint32
	browser browserSide
	trunk   netip.AddrPort // the relay's trunk-facing address for this call

	// Owned by the pacer.
	bHdr, tHdr rtp.Header
}

func newCall(idx uint32) *call {
	c := &call{idx: idx}
	c.bHdr = rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	c.tHdr = rtp.Header{Version: 2, PayloadType: ptPCMU, SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32(), SSRC: 0x7000_0000 + idx}
	return c
}

type pacer struct {
	uas    *uas
	win    func() *window
	shards []*shard
	stop   chan struct{}
	wg     sync.WaitGroup
	errs   atomic.Int64
	skip   atomic.Int64
}

type paceEvent struct {
	phase time.Duration
	c     *call
	dir   Direction
}

type shard struct {
	p       *pacer
	events  []paceEvent
	payload [payloadLen]byte
	// out batches the trunk side's packets of a tick into one sendmmsg;
	// pending are their send times, counted once sent.
	out     *udpio.Batch
	pending []int64
}

// startPacer starts sending for calls, spread over nShards goroutines.
func startPacer(calls []*call, u *uas, win func() *window, nShards int) *pacer {
	p := &pacer{uas: u, win: win, stop: make(chan struct{})}
	for range nShards {
		p.shards = append(p.shards, &shard{p: p, out: udpio.NewBatch(64, rtpHdrLen+payloadLen)})
	}
	n := len(calls)
	for i, c := range calls {
		phase := time.Duration(i) * period / time.Duration(max(n, 1))
		sh := p.shards[i%nShards]
		sh.events = append(sh.events,
			paceEvent{phase, c, BrowserToTrunk},
			paceEvent{(phase + period/2) % period, c, TrunkToBrowser})
	}
	t0 := time.Now().Add(tickGap)
	for _, sh := range p.shards {
		slices.SortFunc(sh.events, func(a, b paceEvent) int { return int(a.phase - b.phase) })
		silence(sh.payload[:])
		p.wg.Add(1)
		go sh.run(t0)
	}
	return p
}

// halt stops sending and waits for the shards.
func (p *pacer) halt() {
	close(p.stop)
	p.wg.Wait()
}

func (sh *shard) run(t0 time.Time) {
	defer sh.p.wg.Done()
	if len(sh.events) == 0 {
		return
	}
	t := time.NewTicker(tickGap)
	defer t.Stop()
	start := t0
	i := 0
	for {
		select {
		case <-sh.p.stop:
			return
		case <-t.C:
		}
		at := time.Now()
		if lag := at.Sub(start); lag > maxLag+period {
			// Far behind: skip whole periods.
			skipped := int(lag/period) - 1
			sh.p.skip.Add(int64(skipped * len(sh.events)))
			start = start.Add(time.Duration(skipped) * period)
		}
		for {
			ev := &sh.events[i]
			if start.Add(ev.phase).After(at) {
				break
			}
			sh.send(ev)
			if i++; i == len(sh.events) {
				i = 0
				start = start.Add(period)
			}
		}
		sh.flush()
	}
}

// flush sends the trunk side's batch.
func (sh *shard) flush() {
	if len(sh.pending) == 0 {
		return
	}
	n, err := sh.p.uas.sendBatch(sh.out, len(sh.pending))
	if err != nil {
		sh.p.errs.Add(int64(len(sh.pending) - n))
	}
	w := sh.p.win()
	for _, at := range sh.pending[:n] {
		w.onSend(TrunkToBrowser, at)
	}
	sh.pending = sh.pending[:0]
}

// send sends one packet of ev's call in ev's direction.
func (sh *shard) send(ev *paceEvent) {
	c := ev.c
	w := sh.p.win()
	at := now()
	stamp(sh.payload[:], c.idx, at)
	var err error
	switch ev.dir {
	case BrowserToTrunk:
		h := &c.bHdr
		h.SSRC, h.PayloadType = c.browser.ssrc(), c.browser.pt()
		err = c.browser.writeRTP(h, sh.payload[:])
		h.SequenceNumber++
		h.Timestamp += payloadLen
	case TrunkToBrowser:
		h := &c.tHdr
		k := len(sh.pending)
		buf := sh.out.Bufs[k][:cap(sh.out.Bufs[k])]
		n, _ := h.MarshalTo(buf)
		sh.out.Lens[k] = n + copy(buf[n:], sh.payload[:])
		sh.out.Addrs[k] = c.trunk
		sh.pending = append(sh.pending, at)
		h.SequenceNumber++
		h.Timestamp += payloadLen
		if len(sh.pending) == len(sh.out.Bufs) {
			sh.flush()
		}
		return
	}
	if err != nil {
		sh.p.errs.Add(1)
		return
	}
	w.onSend(ev.dir, at)
}
