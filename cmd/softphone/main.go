// Command softphone is hubline's headless softphone: it signs in to a
// gateway, places one call (as HubSpot would ask for it), sends a tone or a
// WAV file, optionally DTMF, hangs up after a while, wraps the call up and
// reports what HubSpot would have received and what it heard. Trunk
// providers use it to smoke-test a trunk:
//
//	softphone -url ws://127.0.0.1:8080/ws -user demo -password demo \
//	    -dial +14155550199 -tone 1000 -duration 5s -record heard.wav
//
// stdout carries one JSON object per SDK event ({"name","data","at"});
// stderr the progress, the summary and, on failure, a one-line reason.
// -help lists the flags and the exit statuses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/softphone"
)

// Exit statuses.
const (
	exitOK      = 0 // the call was answered, audio flowed, and it was completed
	exitCall    = 1 // the call failed or was not answered
	exitUsage   = 2 // bad flags
	exitConnect = 3 // the gateway cannot be reached or refused the sign-in
	exitMedia   = 4 // answered, but audio or DTMF did not work
	exitOther   = 5 // interrupted, connection lost mid-call, or a local failure
)

const usageText = `usage: softphone -user NAME (-password PW | -password-env VAR) [-dial NUMBER | -answer] [flags]

A headless hubline softphone: signs in to the gateway's WebSocket, places one
call, sends a tone (or a WAV file), hangs up after -duration, wraps the call
up, and reports. With -answer it takes one inbound call instead: it makes the
rep available, answers the first call that rings within -ring-timeout, and
goes on the same way. Without -dial or -answer it only checks that it can
sign in.

stdout: every SDK event HubSpot would have received, one JSON object a line:
  {"name":"outgoingCall","data":{...},"at":1767225600000}   (at: Unix ms)
stderr: progress, a summary (dominant tone heard, RTP packet counts, DTMF
heard) and, on failure, a one-line reason.

Exit status:
  0  the call was answered, audio flowed both ways, and it was completed
  1  the call failed or was not answered (busy, rejected, invalid number,
     ring timeout)
  2  usage: bad or missing flags
  3  cannot connect to the gateway, or sign-in failed
  4  the call was answered but media failed (no WebRTC connection, no
     audio received, DTMF not possible)
  5  interrupted, the connection was lost mid-call, or a local failure
     (e.g. writing -record)

Flags:
`

// config is the parsed command line.
type config struct {
	url, origin, user, password string
	number, country             string
	hubspot, answer             bool
	tone                        float64
	wav                         string
	duration, ringTimeout, hold time.Duration
	record, dtmf, keypad        string
	outcome, notes              string
	iceNetworks                 string
	verbose                     bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// parse reads the flags. A nil config with status means: exit with it.
func parse(args []string, stderr io.Writer, getenv func(string) string) (*config, int) {
	var c config
	var passwordEnv string
	fs := flag.NewFlagSet("softphone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:8080/ws", "the gateway's WebSocket `URL`")
	fs.StringVar(&c.origin, "origin", "", "Origin header to send (default: the URL's own origin)")
	fs.StringVar(&c.user, "user", "", "rep's username (required)")
	fs.StringVar(&c.password, "password", "", "rep's password")
	fs.StringVar(&passwordEnv, "password-env", "", "read the password from environment variable `NAME`")
	fs.StringVar(&c.number, "dial", "", "`NUMBER` to call (E.164, or national with -country)")
	fs.BoolVar(&c.answer, "answer", false, "take one inbound call: become available and answer the first call that rings")
	fs.StringVar(&c.country, "country", "", "onDialNumber countryCode, ISO 3166 alpha-2 (`CC`, e.g. US)")
	fs.BoolVar(&c.hubspot, "hubspot", true, "act as HubSpot too: onReady, dial with onDialNumber, answer engagement events\n(false: dial from the keypad, with the protocol's dial)")
	fs.Float64Var(&c.tone, "tone", 1000, "send a sine tone of `HZ` (0: silence)")
	fs.StringVar(&c.wav, "wav", "", "send this WAV `FILE`, looped, instead of the tone")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "talk time after the answer, then hang up")
	fs.DurationVar(&c.ringTimeout, "ring-timeout", 60*time.Second, "give up when the call is not answered within this")
	fs.StringVar(&c.record, "record", "", "write the audio heard to this WAV `FILE` (8 kHz mono)")
	fs.StringVar(&c.dtmf, "dtmf", "", "send these `DIGITS` (0-9 * # A-D, ',' pauses 2 s) after the answer")
	fs.DurationVar(&c.hold, "hold", 0, "after the answer (and -dtmf), hold the call this long, then resume it: the trunk gets\nre-INVITEs with sendonly, then sendrecv (0: no hold)")
	fs.StringVar(&c.keypad, "keypad", "", "after the answer, have the gateway send these `DIGITS` (0-9 * # A-D) as the trunk's dtmfMode says, as the web softphone's keypad does")
	fs.StringVar(&c.outcome, "outcome", "", "wrap-up outcome `KEY` (one of the session's outcomes; default none)")
	fs.StringVar(&c.notes, "notes", "", "wrap-up notes")
	fs.StringVar(&c.iceNetworks, "ice-networks", "", "comma-separated `PREFIXES` to take ICE candidates from (default: all)")
	fs.BoolVar(&c.verbose, "v", false, "debug logs on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK
		}
		return nil, exitUsage
	}
	usage := func(format string, a ...any) (*config, int) {
		fmt.Fprintf(stderr, "softphone: "+format+" (see -help)\n", a...)
		return nil, exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case c.user == "":
		return usage("-user is required")
	case c.password != "" && passwordEnv != "":
		return usage("give -password or -password-env, not both")
	case passwordEnv != "":
		c.password = getenv(passwordEnv)
		if c.password == "" {
			return usage("environment variable %s (from -password-env) is empty or not set", passwordEnv)
		}
	case c.password == "":
		return usage("-password or -password-env is required")
	}
	switch {
	case !(c.tone >= 0 && c.tone < audio.SampleRate/2):
		return usage("-tone must be from 0 to below 4000 Hz")
	case c.duration < 0:
		return usage("-duration must not be negative")
	case c.ringTimeout <= 0:
		return usage("-ring-timeout must be positive")
	case c.answer && c.number != "":
		return usage("give -dial or -answer, not both")
	case c.country != "" && !c.hubspot:
		return usage("-country needs -hubspot (the keypad's dial has no country)")
	case c.country != "" && len(c.country) != 2:
		return usage("-country must be a two-letter code such as US")
	}
	if c.dtmf != "" {
		if err := softphone.ValidateDigits(c.dtmf); err != nil {
			return usage("-dtmf: %v", err)
		}
	}
	if c.keypad != "" && (strings.Contains(c.keypad, ",") || softphone.ValidateDigits(c.keypad) != nil) {
		return usage("-keypad: digits must be 0-9 * # A-D")
	}
	if _, err := softphone.ParseNetworks(c.iceNetworks); err != nil {
		return usage("-ice-networks: %v", err)
	}
	return &c, exitOK
}

// lockedWriter serialises writes of the goroutines sharing stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) Sync() error { return nil }

// run is the whole command; main only supplies the process's context,
// arguments, streams and environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c, code := parse(args, stderr, getenv)
	if c == nil {
		return code
	}
	errw := &lockedWriter{w: stderr}
	say := func(format string, a ...any) { fmt.Fprintf(errw, "softphone: "+format+"\n", a...) }

	var src audio.Source = audio.NewTone(c.tone, 0.5)
	if c.wav != "" {
		f, err := os.Open(c.wav)
		if err != nil {
			say("-wav: %v", err)
			return exitUsage
		}
		pcm, err := audio.ReadWAV(f)
		f.Close()
		if err != nil {
			say("-wav %s: %v", c.wav, err)
			return exitUsage
		}
		src = audio.NewLoop(pcm)
	}
	networks, _ := softphone.ParseNetworks(c.iceNetworks)
	level := zapcore.WarnLevel
	if c.verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), errw, level))

	s := &session{cfg: c, say: say, stdout: stdout}
	defer func() {
		for _, l := range s.tail {
			fmt.Fprintln(errw, l)
		}
	}()
	return s.run(ctx, softphone.Options{
		URL:             c.url,
		Origin:          c.origin,
		Logger:          log,
		Source:          src,
		Record:          true,
		SimulateHubSpot: c.hubspot,
		ICENetworks:     networks,
	})
}

// session is one run of the command. Progress lines come from print,
// which follows Events; the main flow's own lines (summary, reasons) are
// kept in tail and printed once print is done, so they come last.
type session struct {
	cfg    *config
	say    func(format string, a ...any) // for print
	stdout io.Writer
	phone  *softphone.Phone
	tail   []string
}

// note keeps a line for the end of stderr.
func (s *session) note(format string, a ...any) {
	s.tail = append(s.tail, fmt.Sprintf("softphone: "+format, a...))
}

func (s *session) run(ctx context.Context, o softphone.Options) int {
	c := s.cfg
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	p, err := softphone.Dial(cctx, o)
	if err != nil {
		s.note("%s", strings.TrimPrefix(err.Error(), "softphone: "))
		return exitConnect
	}
	s.phone = p
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		s.print(p.Events())
	}()
	defer func() {
		p.Close()
		<-printed
	}()

	sess, err := p.Login(cctx, c.user, c.password)
	if err != nil {
		var e *softphone.Error
		if errors.As(err, &e) {
			s.note("sign-in failed: %s", e.Message)
		} else {
			s.note("sign-in failed: %s", strings.TrimPrefix(err.Error(), "softphone: "))
		}
		return exitConnect
	}
	if c.outcome != "" && !slices.ContainsFunc(sess.Outcomes, func(o softphone.Outcome) bool { return o.Key == c.outcome }) {
		keys := make([]string, len(sess.Outcomes))
		for i, o := range sess.Outcomes {
			keys[i] = o.Key
		}
		s.note("-outcome %q is not one of the gateway's outcomes: %s", c.outcome, strings.Join(keys, ", "))
		s.logout(ctx)
		return exitUsage
	}
	if c.number == "" && !c.answer {
		s.logout(ctx)
		s.note("signed out; no -dial, so no call")
		return exitOK
	}
	code := s.call(ctx)
	if p.Err() == nil {
		s.logout(ctx)
	}
	return code
}

// call places the call and takes it to completion.
func (s *session) call(ctx context.Context) int {
	c, p := s.cfg, s.phone
	var id string
	var err error
	switch {
	case c.answer:
		return s.answer(ctx)
	case c.hubspot:
		id, err = p.DialFromHubSpot(ctx, softphone.DialNumber{PhoneNumber: c.number, CountryCode: strings.ToUpper(c.country)})
	default:
		id, err = p.Dial(ctx, c.number)
	}
	if err != nil {
		var e *softphone.Error
		if errors.As(err, &e) {
			s.note("cannot call %s: %s", c.number, e.Message)
			return exitCall
		}
		return s.fail(ctx, err)
	}

	rctx, cancel := context.WithTimeout(ctx, c.ringTimeout)
	_, err = p.WaitState(rctx, id, softphone.StateAnswered)
	cancel()
	if err != nil {
		code := exitCall
		var reason string
		var ended *softphone.CallEndedError
		switch {
		case errors.As(err, &ended):
			reason = "call ended " + ended.Call.Outcome()
		case ctx.Err() != nil:
			reason, code = "interrupted; hung up", exitOther
		case errors.Is(err, context.DeadlineExceeded):
			reason = fmt.Sprintf("call not answered within %v; hung up", c.ringTimeout)
		default:
			return s.fail(ctx, err)
		}
		s.finish(ctx, id)
		s.note("%s", reason)
		return code
	}
	return s.talk(ctx, id, time.Now())
}

// answer takes one inbound call: available, the first call that rings,
// answered; then as a placed call.
func (s *session) answer(ctx context.Context) int {
	c, p := s.cfg, s.phone
	if err := p.SetAvailable(ctx, true); err != nil {
		return s.fail(ctx, err)
	}
	s.note("available; waiting up to %v for a call", c.ringTimeout)
	wctx, cancel := context.WithTimeout(ctx, c.ringTimeout)
	in, err := p.WaitIncoming(wctx)
	cancel()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			s.note("interrupted")
			return exitOther
		case errors.Is(err, context.DeadlineExceeded):
			s.note("no call rang within %v", c.ringTimeout)
			return exitCall
		}
		return s.fail(ctx, err)
	}
	s.note("call from %s to %s", in.FromNumber, in.ToNumber)
	if _, err := p.Accept(ctx, in.CallID); err != nil {
		var e *softphone.Error
		if errors.As(err, &e) || errors.Is(err, softphone.ErrCallEnded) {
			s.note("could not answer: %s", strings.TrimPrefix(err.Error(), "softphone: "))
			return exitCall
		}
		return s.fail(ctx, err)
	}
	_ = p.SetAvailable(ctx, false)
	return s.talk(ctx, in.CallID, time.Now())
}

// talk runs an answered call: media, DTMF, -duration of talk, hang-up,
// wrap-up, summary.
func (s *session) talk(ctx context.Context, id string, answered time.Time) int {
	c, p := s.cfg, s.phone
	code := exitOK
	mctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := p.WaitMedia(mctx, id)
	cancel()
	var reason string
	switch {
	case err != nil && ctx.Err() != nil:
		code, reason = exitOther, "interrupted; hung up"
	case errors.Is(err, softphone.ErrCallEnded):
		// The far end hung up at once; the summary says what flowed.
	case err != nil:
		code, reason = exitMedia, "call answered but media did not connect: "+strings.TrimPrefix(err.Error(), "softphone: ")
	}
	if code == exitOK && c.dtmf != "" {
		if err := p.SendDTMFRTP(ctx, c.dtmf); err != nil && ctx.Err() == nil && !errors.Is(err, softphone.ErrNoMedia) {
			code, reason = exitMedia, "cannot send DTMF: "+strings.TrimPrefix(err.Error(), "softphone: ")
		}
	}
	if code == exitOK && c.hold > 0 {
		if err := s.holdFor(ctx, id, c.hold); err != nil && ctx.Err() == nil {
			code, reason = exitCall, "hold: "+strings.TrimPrefix(err.Error(), "softphone: ")
		}
	}
	if code == exitOK && c.keypad != "" {
		if sent, err := p.SendDTMF(ctx, id, c.keypad); err != nil && ctx.Err() == nil {
			code, reason = exitMedia, "the gateway did not send the keypad's digits: "+strings.TrimPrefix(err.Error(), "softphone: ")
		} else if err == nil {
			s.note("keypad %s sent via %s", sent.Digits, sent.Via)
		}
	}
	if code == exitOK {
		// Talk until -duration after the answer, unless the far end hangs up.
		tctx, cancel := context.WithDeadline(ctx, answered.Add(c.duration))
		_, err := p.WaitState(tctx, id, softphone.StateEnded)
		cancel()
		switch {
		case err == nil:
			call, _ := p.Call(id)
			s.note("the far end hung up after %v: %s", time.Since(answered).Round(time.Millisecond), call.Outcome())
		case ctx.Err() != nil:
			code, reason = exitOther, "interrupted; hung up"
		case !errors.Is(err, context.DeadlineExceeded):
			return s.fail(ctx, err)
		}
	}
	if got := p.ReceivedDTMF(id); got != "" {
		s.note("the far end sent DTMF %s", got)
	}
	if !s.finish(ctx, id) && code == exitOK {
		code, reason = exitOther, "the call could not be completed"
	}
	st := s.summary()
	if code == exitOK && st.AudioReceived == 0 {
		code, reason = exitMedia, "no audio received from the gateway"
	}
	if c.record != "" {
		if err := writeWAV(c.record, s.phone.Heard()); err != nil {
			s.note("%v", err)
			if code == exitOK {
				code = exitOther
			}
		}
	}
	if reason != "" {
		s.note("%s", reason)
	} else if call, ok := p.Call(id); ok {
		s.note("call completed: %s", call.Outcome())
	}
	return code
}

// holdFor holds the call for d, then resumes it.
func (s *session) holdFor(ctx context.Context, id string, d time.Duration) error {
	p := s.phone
	hctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := p.Hold(hctx, id); err != nil {
		return err
	}
	s.note("call held for %v", d)
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return ctx.Err()
	}
	rctx, cancel2 := context.WithTimeout(ctx, 45*time.Second)
	defer cancel2()
	if err := p.Unhold(rctx, id); err != nil {
		return err
	}
	s.note("call resumed")
	return nil
}

// finish hangs the call up if it is live and wraps it up, so that HubSpot
// always sees callCompleted. It runs even when ctx is cancelled.
func (s *session) finish(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	p := s.phone
	if err := p.Hangup(ctx, id); err != nil {
		s.note("hang-up: %s", strings.TrimPrefix(err.Error(), "softphone: "))
		return false
	}
	if err := p.WrapUp(ctx, id, s.cfg.outcome, s.cfg.notes); err != nil {
		s.note("wrap-up: %s", strings.TrimPrefix(err.Error(), "softphone: "))
		return false
	}
	return true
}

// fail reports an error that is neither the call's outcome nor the
// user's: usually a lost connection.
func (s *session) fail(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		s.note("interrupted")
		return exitOther
	}
	s.note("%s", strings.TrimPrefix(err.Error(), "softphone: "))
	return exitOther
}

func (s *session) logout(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.phone.Logout(ctx); err != nil {
		s.note("sign-out: %s", strings.TrimPrefix(err.Error(), "softphone: "))
	}
}

// toneCandidates are the frequencies the summary looks for: call-progress
// tones, DTMF rows and columns, and the test tones people send.
var toneCandidates = []float64{350, 400, 425, 440, 480, 500, 620, 697, 770, 852, 941, 1000, 1209, 1336, 1477, 1633, 2000, 3000}

// summary prints what flowed and returns the counters.
func (s *session) summary() softphone.MediaStats {
	st := s.phone.Stats()
	heard := s.phone.Heard()
	cands := toneCandidates
	if t := s.cfg.tone; t > 0 && !slices.Contains(cands, t) {
		cands = append(slices.Clone(cands), t)
	}
	tone := "no tone (silence)"
	if f, l := audio.DominantTone(heard, cands); f > 0 {
		tone = fmt.Sprintf("dominant tone %g Hz (%.0f%% of the energy)", f, 100*l)
	}
	secs := float64(len(heard)) / audio.SampleRate
	s.note("heard %.2f s of audio, %s; RTP sent %d, received %d (%d audio, %s)",
		secs, tone, st.PacketsSent, st.PacketsReceived, st.AudioReceived, st.Law)
	if st.DTMFSent != "" || st.DTMFReceived != "" {
		s.note("DTMF sent %q, heard %q", st.DTMFSent, st.DTMFReceived)
	}
	return st
}

func writeWAV(path string, pcm []int16) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-record: %w", err)
	}
	if err := audio.WriteWAV(f, pcm); err != nil {
		f.Close()
		return fmt.Errorf("-record %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-record %s: %w", path, err)
	}
	return nil
}

// sdkLine is how an SDK event is printed on stdout.
type sdkLine struct {
	Name string          `json:"name"`
	Data json.RawMessage `json:"data,omitempty"`
	At   int64           `json:"at"` // Unix ms
}

// print writes every SDK event to stdout and call progress to stderr,
// until events closes.
func (s *session) print(events <-chan softphone.Message) {
	enc := json.NewEncoder(s.stdout)
	for m := range events {
		switch m := m.(type) {
		case *softphone.SDK:
			_ = enc.Encode(sdkLine{Name: m.Name, Data: m.Data, At: m.At.UnixMilli()})
		case *softphone.Session:
			s.say("signed in to %s as %s (%s), calling from %s", s.cfg.url, m.User.Username, m.User.DisplayName, m.User.FromNumber)
		case *softphone.Call:
			switch m.State {
			case softphone.StateDialling:
				s.say("dialling %s (call %s)", m.ToNumber, m.CallID)
			case softphone.StateRinging, softphone.StateEarlyMedia, softphone.StateAnswered:
				s.say("call %s", strings.ReplaceAll(string(m.State), "_", " "))
			}
		case *softphone.MediaEvent:
			switch {
			case m.State == softphone.MediaConnected:
				s.say("media connected")
			case m.Err != nil:
				s.say("media %s: %s", m.State, strings.TrimPrefix(m.Err.Error(), "softphone: "))
			}
		case *softphone.Error:
			if m.Re == "" {
				s.say("gateway error %s: %s", m.Code, m.Message)
			}
		}
	}
}
