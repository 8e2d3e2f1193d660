//go:build linux

package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubline/hubline/internal/softphone"

	"github.com/pion/rtp"
)

// The gateway run: the gateway binary as a child process, configured for
// N reps and the generator's trunk; each call's browser side is a
// softphone.Phone (pion) whose audio the generator takes over
// (softphone.Options.Media).

const repPassword = "hubload"

var repHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(repPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// GatewayOptions are the media settings the gateway runs with.
type GatewayOptions struct {
	Binary string
	// WebRTCPort is media.webrtcPort: one UDP port for every browser leg.
	// Zero: media.webrtcPorts, a port per leg.
	WebRTCPort uint16
	// Extra is appended verbatim to the media section of the config.
	Extra string
}

func gatewayConfig(n int, trunk netip.AddrPort, o GatewayOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, `mode: production
http:
  listen: 127.0.0.1:0
log:
  format: json
  level: info
auth:
  users:
`)
	for i := range n {
		fmt.Fprintf(&b, "    - {username: rep%d, displayName: Rep %d, passwordHash: %q, fromNumber: \"+14155550100\"}\n", i, i, repHash())
	}
	fmt.Fprintf(&b, `calls:
  defaultRegion: US
  ringTimeout: 60s
  reconnectGrace: 30s
  engagementWait: 1s
sip:
  listen: 127.0.0.1:0
trunk:
  name: hubload
  address: %s
media:
  bindIP: 127.0.0.1
  rtpPorts: 20000-29999
  iceNetworks: [127.0.0.0/8]
  rtpTimeout: 5m
`, trunk)
	if o.WebRTCPort != 0 {
		fmt.Fprintf(&b, "  webrtcPort: %d\n", o.WebRTCPort)
	} else {
		b.WriteString("  webrtcPorts: 10000-19999\n")
	}
	b.WriteString(o.Extra)
	b.WriteString("shutdownTimeout: 60s\n")
	return b.String()
}

// gatewayProc is a running gateway.
type gatewayProc struct {
	*child
	http string
}

func startGateway(o GatewayOptions, n int, trunk netip.AddrPort, dir string) (*gatewayProc, error) {
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(gatewayConfig(n, trunk, o)), 0o600); err != nil {
		return nil, err
	}
	var addr string
	c, err := startChild(o.Binary, []string{"-config", cfg}, nil, filepath.Join(dir, "gateway.log"), false,
		func(line []byte) bool {
			if msg, _ := jsonField(line, "msg"); msg == "hubline is up" {
				addr, _ = jsonField(line, "http")
				return true
			}
			return false
		}, 60*time.Second)
	if err != nil {
		return nil, err
	}
	return &gatewayProc{child: c, http: addr}, nil
}

type healthz struct {
	Calls      int `json:"calls"`
	Sockets    int `json:"sockets"`
	Goroutines int `json:"goroutines"`
}

func (g *gatewayProc) healthz() (healthz, error) {
	var h healthz
	resp, err := http.Get("http://" + g.http + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// rep is one phone of a gateway run and the call it places.
type rep struct {
	c         *call
	phone     *softphone.Phone
	win       func() *window
	callID    string
	connected chan struct{}
	once      sync.Once
}

// Connected implements softphone.MediaHandler.
func (r *rep) Connected(_ string, w softphone.RTPWriter) {
	r.once.Do(func() {
		r.c.browser = pionBrowser{w}
		close(r.connected)
	})
}

// Received implements softphone.MediaHandler.
func (r *rep) Received(_ string, pkt []byte) { r.win().onRecv(TrunkToBrowser, pkt, now()) }

// pionBrowser sends through the phone's pion track writer.
type pionBrowser struct{ w softphone.RTPWriter }

func (p pionBrowser) writeRTP(h *rtp.Header, payload []byte) error {
	_, err := p.w.W.WriteRTP(h, payload)
	return err
}
func (p pionBrowser) ssrc() uint32 { return p.w.SSRC }
func (p pionBrowser) pt() uint8    { return p.w.PT }

// login connects rep i and signs in.
func (r *rep) login(ctx context.Context, g *gatewayProc, i int) error {
	p, err := softphone.Dial(ctx, softphone.Options{
		URL:             "ws://" + g.http + "/ws",
		ICENetworks:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ICEServers:      []softphone.ICEServer{},
		SimulateHubSpot: true,
		Media:           r,
	})
	if err != nil {
		return err
	}
	r.phone = p
	if _, err := p.Login(ctx, fmt.Sprintf("rep%d", i), repPassword); err != nil {
		return fmt.Errorf("rep%d: login: %w", i, err)
	}
	return nil
}

// dial places the call and waits until it is answered and its media is up.
func (r *rep) dial(ctx context.Context, u *uas) error {
	id, err := r.phone.Dial(ctx, fmt.Sprintf("+1415555%04d", 1000+r.c.idx%9000))
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	r.callID = id
	if _, err := r.phone.WaitState(ctx, id, softphone.StateAnswered); err != nil {
		return err
	}
	select {
	case <-r.connected:
	case <-ctx.Done():
		return fmt.Errorf("media not connected: %w", ctx.Err())
	}
	gw, ok := u.gatewayRTP(id)
	if !ok {
		return fmt.Errorf("call %s answered, but the trunk saw no INVITE", id)
	}
	r.c.trunk = gw
	return nil
}

// hangup ends and wraps up the call, then closes the phone.
func (r *rep) hangup(ctx context.Context) error {
	defer r.phone.Close()
	if r.callID == "" {
		return nil
	}
	if err := r.phone.Hangup(ctx, r.callID); err != nil {
		return err
	}
	return r.phone.WrapUp(ctx, r.callID, "", "")
}

// parallel runs f(i) for i in [0, n) on at most width goroutines and
// returns the errors.
func parallel(n, width int, f func(i int) error) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, width)
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}
