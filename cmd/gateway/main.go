// Command gateway is hubline: the WebRTC ↔ SIP gateway behind the HubSpot
// softphone. It serves the softphone, its WebSocket and /healthz, places the
// reps' calls on the SIP trunk and relays their audio.
//
//	gateway [-config FILE]       run (default: the embedded configs/local.yaml)
//	gateway hash-password        read a password on stdin, print its bcrypt hash
//
// main is the composition root: it alone reads files and the environment,
// maps the YAML into each package's Options, and owns the shutdown order.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/crypto/bcrypt"

	"github.com/hubline/hubline/configs"
	"github.com/hubline/hubline/cti"
	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
	"github.com/hubline/hubline/sip/demotrunk"
	"github.com/hubline/hubline/web"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hash-password" {
		if err := hashPassword(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			os.Exit(1)
		}
		return
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML config file (default: the embedded configs/local.yaml)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gateway [-config FILE]\n       gateway hash-password < password\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	data, source := configs.Local, "embedded configs/local.yaml"
	if *cfgPath != "" {
		var err error
		if data, err = os.ReadFile(*cfgPath); err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			os.Exit(1)
		}
		source = *cfgPath
	}
	cfg, err := parseConfig(data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %s: %v\n", source, err)
		os.Exit(1)
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log, os.Getenv, nil); err != nil {
		log.Error("gateway stopped", zap.Error(err))
		os.Exit(1)
	}
}

func newLogger(c LogConfig) (*zap.Logger, error) {
	var zc zap.Config
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		zc.DisableStacktrace = true
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.TimeKey = "ts"
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	if c.Level != "" {
		lvl, err := zapcore.ParseLevel(c.Level)
		if err != nil {
			return nil, fmt.Errorf("log.level: %w", err)
		}
		zc.Level = zap.NewAtomicLevelAt(lvl)
	} else if c.Format == "console" {
		zc.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	}
	return zc.Build()
}

// ready is told the gateway's bound HTTP address once it serves (tests use it).
type ready func(httpAddr string)

// run starts every part, serves until ctx is done, then stops them in order:
// calls (BYE, SDK events to the softphones), sockets, HTTP, SIP, media.
func run(ctx context.Context, cfg *Config, log *zap.Logger, getenv func(string) string, onReady ready) error {
	sip.SetProcessLogger(log)

	var demo *demotrunk.Server
	if cfg.DemoTrunk.Enabled {
		var err error
		demo, err = demotrunk.Start(demotrunk.Options{
			ListenAddr: cfg.DemoTrunk.Listen,
			RingDelay:  cfg.DemoTrunk.RingDelay,
			Logger:     log.Named("demotrunk"),
		})
		if err != nil {
			return fmt.Errorf("demo trunk: %w", err)
		}
		defer demo.Close()
		log.Info("demo trunk listening", zap.String("addr", demo.Addr()))
		if len(cfg.Trunks) == 0 {
			cfg.Trunks = []TrunkConfig{{Name: "demo", Address: demo.Addr()}}
		}
	}

	mopts, err := mediaOptions(cfg.Media, log)
	if err != nil {
		return err
	}
	engine, err := media.NewEngine(mopts)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer engine.Close()

	var trunks []sip.Trunk
	var trunkNames []string
	for _, t := range cfg.Trunks {
		st, err := sipTrunk(t, cfg.Calls.RingTimeout, getenv, os.ReadFile)
		if err != nil {
			return err
		}
		trunks = append(trunks, st)
		trunkNames = append(trunkNames, t.Name+"="+t.Address)
	}
	moh, err := musicOnHold(cfg.Calls.MusicOnHold, os.ReadFile)
	if err != nil {
		return err
	}
	inboundRoutes, err := buildRoutes(cfg, os.ReadFile)
	if err != nil {
		return err
	}
	// Inbound INVITEs go to the Hub, which needs the UA: until it exists
	// they are refused (503).
	var inbound atomic.Pointer[cti.Hub]
	// The UA registers with the trunks that need it and probes them; its
	// Close (deferred: after the calls have ended) unregisters.
	ua, err := sip.NewUA(sip.Options{
		OnInvite: func(in *sip.InboundInvite) {
			if h := inbound.Load(); h != nil {
				cti.InviteHandler(h)(in)
				return
			}
			_ = in.RejectAfter(503, "Service Unavailable", 0)
		},
		OnRefer: func(r *sip.IncomingRefer) {
			if h := inbound.Load(); h != nil {
				cti.ReferHandler(h)(r)
				return
			}
			_ = r.Notify(503, "Service Unavailable")
		},
		ListenAddr:           cfg.SIP.Listen,
		PublicHost:           cfg.SIP.PublicHost,
		UserAgent:            cfg.SIP.UserAgent,
		Logger:               log,
		Trunks:               trunks,
		UnknownSources:       sip.SourcePolicy(cfg.SIP.UnknownSources),
		UnknownSourceOptions: sip.SourcePolicy(cfg.SIP.UnknownSourceOptions),
	})
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	defer ua.Close()

	hubOpts := cti.Options{
		AllowedOrigins: cfg.Auth.AllowedOrigins,
		SessionTTL:     cfg.Auth.SessionTTL,
		ReconnectGrace: cfg.Calls.ReconnectGrace,
		EngagementWait: cfg.Calls.EngagementWait,
		MaxDuration:    *cfg.Calls.MaxDuration,
		DefaultRegion:  cfg.Calls.DefaultRegion,
		HideWidget:     cfg.Calls.HideWidget,
		Trunk:          cti.SIPTrunks(ua),
		Media:          cti.MediaOf(engine),
		Logger:         log,
		Routes:         inboundRoutes,
		RingTimeout:    cfg.Routing.RingTimeout,
		MusicOnHold:    moh,
	}
	if cfg.Routing.VoicemailDir != "" {
		hubOpts.OnVoicemail = voicemailWriter(cfg.Routing.VoicemailDir, log.Named("voicemail"))
	}
	if env := cfg.HubSpot.AccessTokenEnv; env != "" {
		token := getenv(env)
		if token == "" {
			return fmt.Errorf("hubspot.accessTokenEnv: environment variable %s is empty", env)
		}
		hubOpts.Owners = &cti.HubSpotCRM{BaseURL: cfg.HubSpot.APIURL, Token: token}
	}
	for _, u := range cfg.Auth.Users {
		hubOpts.Users = append(hubOpts.Users, cti.User{
			Username: u.Username, DisplayName: u.DisplayName, PasswordHash: u.PasswordHash, FromNumber: u.FromNumber,
			HubSpotOwnerID: u.HubSpotOwnerID,
		})
	}
	for _, o := range cfg.Calls.Outcomes {
		hubOpts.Outcomes = append(hubOpts.Outcomes, cti.Outcome{Key: o.Key, Label: o.Label, Disposition: o.Disposition})
	}
	hub, err := cti.NewHub(hubOpts)
	if err != nil {
		return err
	}
	inbound.Store(hub)

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{
		Handler:           routes(cfg, hub, ua.TrunkStatus, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	base := cfg.HTTP.PublicURL
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	log.Info("hubline is up",
		zap.String("mode", cfg.Mode),
		zap.String("softphone", base+"/softphone/"),
		zap.String("http", ln.Addr().String()),
		zap.String("sip", cfg.SIP.Listen),
		zap.Strings("trunks", trunkNames))
	if cfg.Mode == "development" {
		fmt.Fprintf(os.Stderr, "\n  hubline softphone: %s/softphone/\n", base)
		// Host simulator (development only, hostsim.go).
		fmt.Fprintf(os.Stderr, "  HubSpot host simulator: %s\n\n", hostSimURL(base))
		log.Info("host simulator", zap.String("url", hostSimURL(base)))
	}
	if onReady != nil {
		onReady(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("http: %w", err)
	}
	log.Info("shutting down: ending calls")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := hub.Shutdown(sctx); err != nil {
		log.Warn("calls did not all end in time", zap.Error(err))
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", zap.Error(err))
	}
	log.Info("stopped")
	return nil
}

func mediaOptions(c MediaConfig, log *zap.Logger) (media.Options, error) {
	o := media.Options{RTPTimeout: c.RTPTimeout, Logger: log}
	if c.PublicIP != "" {
		o.PublicIP = netip.MustParseAddr(c.PublicIP)
	}
	if c.BindIP != "" {
		o.BindIP = netip.MustParseAddr(c.BindIP)
	}
	o.RTPPortMin, o.RTPPortMax, _ = parsePortRange(c.RTPPorts)
	o.WebRTCPortMin, o.WebRTCPortMax, _ = parsePortRange(c.WebRTCPorts)
	o.WebRTCPort = c.WebRTCPort
	o.Threads = c.Threads
	for _, n := range c.ICENetworks {
		o.ICENetworks = append(o.ICENetworks, netip.MustParsePrefix(n))
	}
	for _, s := range c.ICEServers {
		o.ICEServers = append(o.ICEServers, media.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return o, nil
}

// routes is the gateway's HTTP surface. trunks reports the trunks' state
// (health, calls, registration) for /healthz.
func routes(cfg *Config, hub *cti.Hub, trunks func() []sip.TrunkStatus, log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	frameAncestors := "'self' " + strings.Join(cti.HubSpotOrigins, " ")
	for _, o := range cfg.Auth.AllowedOrigins {
		frameAncestors += " " + o
	}
	// Host simulator (development only, hostsim.go): /hubspot/ embeds the
	// softphone from the other loopback name.
	if cfg.Mode == "development" {
		frameAncestors += " " + mountHostSim(mux)
	}
	softphone := http.StripPrefix("/softphone", web.Handler())
	mux.Handle("/softphone/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "+
			"img-src 'self' data:; style-src 'self'; frame-ancestors "+frameAncestors)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Permissions-Policy", "microphone=(self), autoplay=(self)")
		softphone.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(struct {
			Status string `json:"status"`
			Mode   string `json:"mode"`
			cti.Stats
			Goroutines int               `json:"goroutines"`
			Trunks     []sip.TrunkStatus `json:"trunks"`
		}{"ok", cfg.Mode, hub.Stats(), runtime.NumGoroutine(), trunks()})
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/softphone/", http.StatusFound)
	})
	return mux
}

// hashPassword reads one line (the password) and prints its bcrypt hash.
func hashPassword(in io.Reader, out io.Writer) error {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 4 {
		return errors.New("hash-password: give a password of at least 4 characters on stdin")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(h))
	return err
}
