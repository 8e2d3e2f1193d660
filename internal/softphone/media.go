package softphone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/audio"
)

// MediaStats counts a call's media.
type MediaStats struct {
	CallID          string
	State           MediaState
	Law             audio.Law // the G.711 law negotiated for sending
	TelephoneEvent  bool      // the gateway accepts RFC 4733 DTMF
	PacketsSent     uint64    // RTP packets sent, audio and DTMF
	PacketsReceived uint64    // RTP packets received, of any payload type
	AudioReceived   uint64    // G.711 packets among them
	DTMFSent        string    // digits sent as telephone-events
	DTMFReceived    string    // digits received as telephone-events
}

// callMedia is the WebRTC leg of one call. run owns the PeerConnection;
// the sending goroutine and one reading goroutine per remote track are
// counted by wg.
type callMedia struct {
	p      *Phone
	callID string
	log    *zap.Logger
	ctx    context.Context // ends with the call or the phone
	cancel context.CancelFunc
	dtmf   chan *dtmfJob

	track *sendTrack
	bound atomic.Bool // track bound (codecs negotiated)
	up    atomic.Bool // ICE and DTLS connected

	gmu     sync.Mutex // guards gclosed and wg.Add
	gclosed bool
	wg      sync.WaitGroup
	started sync.Once // sending goroutine

	sent, received, audioReceived atomic.Uint64

	recMu        sync.Mutex // guards the fields below
	rec          recorder
	heardWaiters []heardWaiter
	dtmfSent     []byte
	dtmfReceived []byte

	// Guarded by p.mu, so that waiters share the phone's changed channel.
	state MediaState
	err   error
}

func newCallMedia(p *Phone, callID string) *callMedia {
	ctx, cancel := context.WithCancel(p.ctx)
	return &callMedia{
		p:      p,
		callID: callID,
		log:    p.log.With(zap.String("callId", callID)),
		ctx:    ctx,
		cancel: cancel,
		dtmf:   make(chan *dtmfJob, 4),
		track:  &sendTrack{id: "audio", streamID: "softphone"},
	}
}

// end stops the media: the call is over.
func (m *callMedia) end() { m.cancel() }

// setState records and announces a media state. Once failed or closed, the
// state stays.
func (m *callMedia) setState(s MediaState, err error) {
	p := m.p
	p.mu.Lock()
	if m.state == MediaFailed || m.state == MediaClosed || m.state == s {
		p.mu.Unlock()
		return
	}
	m.state, m.err = s, err
	p.broadcastLocked()
	p.mu.Unlock()
	if err != nil {
		m.log.Warn("media "+string(s), zap.Error(err))
	} else {
		m.log.Debug("media " + string(s))
	}
	p.emit(&MediaEvent{CallID: m.callID, State: s, Err: err})
}

// run negotiates the media, then holds it until the call ends.
func (m *callMedia) run() {
	defer m.p.mediaWG.Done()
	defer m.cancel()
	pc, err := m.negotiate()
	if err != nil && m.ctx.Err() == nil {
		m.setState(MediaFailed, err)
	} else {
		<-m.ctx.Done()
	}
	m.gmu.Lock()
	m.gclosed = true
	m.gmu.Unlock()
	if pc != nil {
		if err := pc.GracefulClose(); err != nil {
			m.log.Debug("closing peer connection", zap.Error(err))
		}
	}
	m.wg.Wait()
	m.setState(MediaClosed, nil)
}

// negotiate creates the PeerConnection, sends the offer with every
// candidate and applies the gateway's answer.
func (m *callMedia) negotiate() (*webrtc.PeerConnection, error) {
	pc, err := m.p.api.NewPeerConnection(webrtc.Configuration{ICEServers: m.p.iceServers()})
	if err != nil {
		return nil, fmt.Errorf("softphone: new peer connection: %w", err)
	}
	m.track.onBind = func() {
		m.bound.Store(true)
		m.maybeConnected()
	}
	if _, err := pc.AddTrack(m.track); err != nil {
		return pc, fmt.Errorf("softphone: add audio track: %w", err)
	}
	// pion runs these callbacks on goroutines of their own, which
	// GracefulClose does not wait for: enter joins wg, or refuses once the
	// media is closing.
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if m.enter() {
			defer m.wg.Done()
			m.readTrack(t, r)
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if !m.enter() {
			return
		}
		defer m.wg.Done()
		m.log.Debug("peer connection", zap.Stringer("state", s))
		switch s {
		case webrtc.PeerConnectionStateConnected:
			m.up.Store(true)
			m.maybeConnected()
		case webrtc.PeerConnectionStateFailed:
			m.setState(MediaFailed, errors.New("softphone: ICE/DTLS connection failed"))
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return pc, fmt.Errorf("softphone: create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return pc, fmt.Errorf("softphone: set offer: %w", err)
	}
	select {
	case <-gathered:
	case <-m.ctx.Done():
		return pc, m.ctx.Err()
	}

	r := m.p.register("answer", m.callID)
	defer m.p.unregister(r)
	sdp := pc.LocalDescription().SDP
	if err := m.p.send(m.ctx, outOffer{V: ProtocolVersion, Type: "offer", ID: r.id, CallID: m.callID, SDP: sdp}); err != nil {
		return pc, err
	}
	m.setState(MediaOffered, nil)
	reply, err := m.p.await(m.ctx, r, nil)
	if err != nil {
		return pc, err
	}
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: reply.(*Answer).SDP}
	if err := pc.SetRemoteDescription(answer); err != nil {
		return pc, fmt.Errorf("softphone: the gateway's answer: %w", err)
	}
	m.setState(MediaAnswered, nil)
	return pc, nil
}

// maybeConnected starts sending once the transport is up and the track
// bound (pion binds it only after DTLS is up).
func (m *callMedia) maybeConnected() {
	if !m.up.Load() || !m.bound.Load() {
		return
	}
	m.started.Do(func() {
		if h := m.p.opts.Media; h != nil {
			b := m.track.binding.Load()
			h.Connected(m.callID, RTPWriter{SSRC: b.ssrc, PT: b.pt, W: b.w})
		} else if !m.spawn(m.sendLoop) {
			return
		}
		m.setState(MediaConnected, nil)
	})
}

// enter counts the calling goroutine in wg, unless the media is closing.
// If it reports true, the caller must call wg.Done when it is finished.
func (m *callMedia) enter() bool {
	m.gmu.Lock()
	defer m.gmu.Unlock()
	if m.gclosed {
		return false
	}
	m.wg.Add(1)
	return true
}

// spawn runs f on a goroutine counted by wg, unless the media is closing.
func (m *callMedia) spawn(f func()) bool {
	if !m.enter() {
		return false
	}
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// sendLoop sends a 20 ms packet per tick: audio from the Source, or the
// telephone-events of a SendDTMF, on one SSRC and one timeline.
func (m *callMedia) sendLoop() {
	b := m.track.binding.Load()
	tick := time.NewTicker(audio.FrameDuration)
	defer tick.Stop()
	pcm := make([]int16, audio.FrameSamples)
	payload := make([]byte, 0, audio.FrameSamples)
	hdr := rtp.Header{
		Version:        2,
		SSRC:           b.ssrc,
		SequenceNumber: uint16(rand.Uint32()),
		Timestamp:      rand.Uint32(),
		Marker:         true, // start of the talkspurt
	}
	var job *dtmfJob
	var player dtmfPlayer
	defer func() {
		if job != nil {
			job.done <- fmt.Errorf("softphone: DTMF interrupted: %w", ErrNoMedia)
		}
	}()
	write := func(payload []byte) {
		if _, err := b.w.WriteRTP(&hdr, payload); err != nil {
			if ce := m.log.Check(zap.DebugLevel, "RTP write"); ce != nil {
				ce.Write(zap.Error(err))
			}
			return
		}
		hdr.SequenceNumber++
		m.sent.Add(1)
	}
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
		if job == nil {
			select {
			case job = <-m.dtmf:
				player = dtmfPlayer{codes: job.codes}
			default:
			}
		}
		var fr dtmfFrame
		if job != nil {
			var done bool
			fr, done = player.next(hdr.Timestamp)
			if done {
				job.done <- nil
				job = nil
			}
		}
		ts := hdr.Timestamp
		if fr.event {
			hdr.PayloadType, hdr.Timestamp, hdr.Marker = b.eventPT, fr.ts, fr.marker
			for range fr.copies {
				write(fr.payload[:])
				hdr.Marker = false
			}
			if fr.payload[1]&0x80 != 0 {
				m.recMu.Lock()
				m.dtmfSent = append(m.dtmfSent, dtmfDigit(fr.payload[0]))
				m.recMu.Unlock()
			}
		} else {
			m.p.srcMu.Lock()
			m.p.opts.Source.ReadFrame(pcm)
			m.p.srcMu.Unlock()
			hdr.PayloadType = b.pt
			write(b.law.Encode(payload[:0], pcm))
			hdr.Marker = false
		}
		hdr.Timestamp = ts + audio.FrameSamples
	}
}

// readTrack reads the gateway's audio until the PeerConnection closes.
func (m *callMedia) readTrack(track *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	eventPT := uint8(101)
	for _, c := range rcv.GetParameters().Codecs {
		if strings.EqualFold(c.MimeType, mimeTelephoneEvent) {
			eventPT = uint8(c.PayloadType)
		}
	}
	m.log.Debug("receiving audio", zap.Uint32("ssrc", uint32(track.SSRC())), zap.String("codec", track.Codec().MimeType))
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var lastEndTS uint32
	haveEnd := false
	for {
		n, _, err := track.Read(buf)
		if err != nil && (n == 0 || errors.Is(err, io.EOF)) {
			return
		}
		if h := m.p.opts.Media; h != nil {
			m.received.Add(1)
			h.Received(m.callID, buf[:n])
			continue
		}
		// An error with a packet is an unexpected payload type: count it.
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		m.received.Add(1)
		switch pt := pkt.PayloadType; {
		case pt == 0 || pt == 8:
			m.audioReceived.Add(1)
			if m.p.opts.Record {
				law := audio.PCMU
				if pt == 8 {
					law = audio.PCMA
				}
				m.recMu.Lock()
				m.rec.add(pkt.SSRC, pkt.Timestamp, law, pkt.Payload)
				m.notifyHeardLocked()
				m.recMu.Unlock()
			}
		case pt == eventPT && len(pkt.Payload) >= 4:
			if pkt.Payload[1]&0x80 != 0 && (!haveEnd || pkt.Timestamp != lastEndTS) {
				haveEnd, lastEndTS = true, pkt.Timestamp
				m.recMu.Lock()
				m.dtmfReceived = append(m.dtmfReceived, dtmfDigit(pkt.Payload[0]))
				m.recMu.Unlock()
			}
		}
	}
}

func (m *callMedia) stats() MediaStats {
	s := MediaStats{
		CallID:          m.callID,
		PacketsSent:     m.sent.Load(),
		PacketsReceived: m.received.Load(),
		AudioReceived:   m.audioReceived.Load(),
	}
	if b := m.track.binding.Load(); b != nil {
		s.Law, s.TelephoneEvent = b.law, b.hasEvent
	}
	m.recMu.Lock()
	s.DTMFSent, s.DTMFReceived = string(m.dtmfSent), string(m.dtmfReceived)
	m.recMu.Unlock()
	m.p.mu.Lock()
	s.State = m.state
	m.p.mu.Unlock()
	return s
}

// WaitMedia waits until the media of callID (empty: the last call) is
// connected and audio flows. It fails if the media fails or closes, with a
// *CallEndedError if the call ends first, or with ErrNoMedia for a phone
// with NoMedia.
func (p *Phone) WaitMedia(ctx context.Context, callID string) error {
	if p.opts.NoMedia {
		return ErrNoMedia
	}
	if callID == "" {
		c, ok := p.LastCall()
		if !ok {
			return ErrNoCall
		}
		callID = c.CallID
	}
	for {
		p.mu.Lock()
		m := p.media[callID]
		var state MediaState
		var merr error
		if m != nil {
			state, merr = m.state, m.err
		}
		c, known := p.calls[callID]
		ended := known && c.State.Terminal()
		down := p.err != nil
		changed := p.changed
		p.mu.Unlock()
		switch {
		case state == MediaConnected:
			return nil
		case state == MediaFailed:
			return merr
		case ended:
			cp, _ := p.Call(callID)
			return &CallEndedError{Call: cp, Want: "media"}
		case state == MediaClosed:
			return fmt.Errorf("softphone: media closed before connecting: %w", ErrNoMedia)
		case down:
			return p.closedErr()
		case !known:
			return ErrNoCall
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("softphone: waiting for media of call %s: %w", callID, ctx.Err())
		}
	}
}

// SendDTMFRTP sends digits (0-9 * # A-D; ',' pauses 2 s) on the current
// call as RFC 4733 telephone-events from the browser's side (what
// RTCDTMFSender.insertDTMF does), 100 ms each with 80 ms gaps, and
// returns once the last was sent. (SendDTMF asks the gateway to send them,
// as the web softphone's keypad does.) It fails with ErrNoMedia before the
// media is connected, ErrNoDTMF if the gateway did not accept
// telephone-event, and ErrBadDigit for anything else in digits.
func (p *Phone) SendDTMFRTP(ctx context.Context, digits string) error {
	codes, err := parseDigits(digits)
	if err != nil {
		return err
	}
	m, err := p.mediaOf("")
	if err != nil {
		return err
	}
	b := m.track.binding.Load()
	switch {
	case b == nil || m.ctx.Err() != nil:
		return ErrNoMedia
	case !b.hasEvent:
		return ErrNoDTMF
	}
	job := &dtmfJob{codes: codes, done: make(chan error, 1)}
	select {
	case m.dtmf <- job:
	case <-m.ctx.Done():
		return ErrNoMedia
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-job.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heardWaiter is a WaitHeard waiting for the recording to reach samples.
type heardWaiter struct {
	samples int
	ch      chan struct{}
}

// notifyHeardLocked wakes the WaitHeards satisfied. Called with recMu held.
func (m *callMedia) notifyHeardLocked() {
	w := m.heardWaiters[:0]
	for _, x := range m.heardWaiters {
		if len(m.rec.pcm) >= x.samples {
			close(x.ch)
		} else {
			w = append(w, x)
		}
	}
	m.heardWaiters = w
}

// WaitHeard waits until the last call's recording holds at least d of
// audio (Options.Record must be set), or the call's media ends.
func (p *Phone) WaitHeard(ctx context.Context, d time.Duration) error {
	if !p.opts.Record {
		return errors.New("softphone: WaitHeard needs Options.Record")
	}
	m, err := p.mediaOf("")
	if err != nil {
		return err
	}
	w := heardWaiter{samples: int(d * audio.SampleRate / time.Second), ch: make(chan struct{})}
	m.recMu.Lock()
	m.heardWaiters = append(m.heardWaiters, w)
	m.notifyHeardLocked()
	m.recMu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-m.ctx.Done():
		m.recMu.Lock()
		n := len(m.rec.pcm)
		m.recMu.Unlock()
		if n >= w.samples {
			return nil
		}
		return fmt.Errorf("softphone: media ended after %v of audio heard: %w", time.Duration(n)*time.Second/audio.SampleRate, ErrNoMedia)
	case <-ctx.Done():
		return fmt.Errorf("softphone: waiting to hear %v of audio: %w", d, ctx.Err())
	}
}

// Heard returns the audio received on the last call, 16-bit PCM at 8 kHz,
// with gaps filled with silence. It is empty unless Options.Record is set.
func (p *Phone) Heard() []int16 {
	m, err := p.mediaOf("")
	if err != nil {
		return nil
	}
	m.recMu.Lock()
	defer m.recMu.Unlock()
	return append([]int16(nil), m.rec.pcm...)
}

// Stats returns the media counters of the last call (zero without one).
func (p *Phone) Stats() MediaStats {
	m, err := p.mediaOf("")
	if err != nil {
		return MediaStats{}
	}
	return m.stats()
}

// MediaHandler takes over the audio of a phone's calls (Options.Media).
// Its methods run on the call's media goroutines and must not block.
type MediaHandler interface {
	// Connected is called once a call's media is up: from then on w sends
	// RTP to the gateway, until the call ends.
	Connected(callID string, w RTPWriter)
	// Received is called with every RTP packet received on a call; pkt is
	// reused once Received returns.
	Received(callID string, pkt []byte)
}

// RTPWriter sends a call's RTP: W.WriteRTP with SSRC in the header, and PT
// (the negotiated G.711 law's payload type) for audio.
type RTPWriter struct {
	SSRC uint32
	PT   uint8
	W    webrtc.TrackLocalWriter
}

// sendTrack is the phone's audio track. Unlike pion's static tracks it
// writes packets of any negotiated payload type, so audio and
// telephone-events share one SSRC and timeline, as in a browser.
type sendTrack struct {
	id, streamID string
	binding      atomic.Pointer[binding]
	onBind       func()
}

// binding is what the negotiation decided for sending.
type binding struct {
	ssrc     uint32
	w        webrtc.TrackLocalWriter
	law      audio.Law
	pt       uint8
	eventPT  uint8
	hasEvent bool
}

// Bind picks the first G.711 codec of the answer, and its telephone-event.
func (t *sendTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	b := &binding{ssrc: uint32(ctx.SSRC()), w: ctx.WriteStream()}
	var chosen *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		switch {
		case strings.EqualFold(c.MimeType, webrtc.MimeTypePCMU) && chosen == nil:
			chosen, b.law = &c, audio.PCMU
		case strings.EqualFold(c.MimeType, webrtc.MimeTypePCMA) && chosen == nil:
			chosen, b.law = &c, audio.PCMA
		case strings.EqualFold(c.MimeType, mimeTelephoneEvent) && c.ClockRate == 8000 && !b.hasEvent:
			b.eventPT, b.hasEvent = uint8(c.PayloadType), true
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	b.pt = uint8(chosen.PayloadType)
	t.binding.Store(b)
	if t.onBind != nil {
		t.onBind()
	}
	return *chosen, nil
}

func (t *sendTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (t *sendTrack) ID() string                            { return t.id }
func (t *sendTrack) RID() string                           { return "" }
func (t *sendTrack) StreamID() string                      { return t.streamID }
func (t *sendTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }
