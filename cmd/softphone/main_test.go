package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/internal/softphone/softphonetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runCLI runs the command and returns its status, stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func gateway(t *testing.T) *softphonetest.Gateway {
	gw, err := softphonetest.New(softphonetest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	return gw
}

// lastLine is the one-line reason a failing run ends with.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-password", "x"}, nil, "-user is required"},
		{[]string{"-user", "demo"}, nil, "-password or -password-env is required"},
		{[]string{"-user", "demo", "-password", "x", "-password-env", "PW"}, nil, "not both"},
		{[]string{"-user", "demo", "-password-env", "PW"}, nil, "PW (from -password-env) is empty"},
		{[]string{"-user", "demo", "-password", "x", "-tone", "5000"}, nil, "-tone"},
		{[]string{"-user", "demo", "-password", "x", "-dtmf", "12x"}, nil, "bad DTMF digit"},
		{[]string{"-user", "demo", "-password", "x", "-ice-networks", "lo"}, nil, "-ice-networks"},
		{[]string{"-user", "demo", "-password", "x", "-ring-timeout", "0s"}, nil, "-ring-timeout"},
		{[]string{"-user", "demo", "-password", "x", "-hubspot=false", "-country", "US"}, nil, "-country needs -hubspot"},
		{[]string{"-user", "demo", "-password", "x", "extra"}, nil, "unexpected argument"},
		{[]string{"-user", "demo", "-password", "x", "-wav", "/nonexistent.wav"}, nil, "-wav"},
		{[]string{"-bogus"}, nil, "flag provided but not defined"},
	} {
		code, _, stderr := runCLI(t, tc.env, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
	code, _, stderr := runCLI(t, nil, "-help")
	if code != exitOK || !strings.Contains(stderr, "Exit status:") || !strings.Contains(stderr, "-ring-timeout") {
		t.Errorf("-help: %d %q", code, stderr)
	}
}

func TestCannotConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + l.Addr().String() + "/ws"
	l.Close()
	code, _, stderr := runCLI(t, nil, "-url", url, "-user", "demo", "-password", "demo")
	if want := "softphone: cannot reach gateway at " + url + ": connection refused"; code != exitConnect || lastLine(stderr) != want {
		t.Errorf("status %d, stderr %q; want %d, %q", code, stderr, exitConnect, want)
	}

	gw := gateway(t)
	code, _, stderr = runCLI(t, nil, "-url", gw.URL, "-origin", "https://evil.example", "-user", "demo", "-password", "demo")
	if code != exitConnect || !strings.Contains(stderr, "HTTP 403") {
		t.Errorf("foreign origin: %d %q", code, stderr)
	}
}

func TestSignIn(t *testing.T) {
	gw := gateway(t)
	code, _, stderr := runCLI(t, nil, "-url", gw.URL, "-user", "demo", "-password", "nope")
	if want := "softphone: sign-in failed: Wrong username or password."; code != exitConnect || lastLine(stderr) != want {
		t.Errorf("status %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := runCLI(t, map[string]string{"PW": "demo"}, "-url", gw.URL, "-user", "demo", "-password-env", "PW")
	if code != exitOK || !strings.Contains(stdout, `"name":"userLoggedOut"`) {
		t.Errorf("sign-in only: %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, nil, "-url", gw.URL, "-user", "demo", "-password", "demo", "-dial", "+14155550199", "-outcome", "nope")
	if code != exitUsage || !strings.Contains(stderr, "connected, busy") {
		t.Errorf("bad outcome: %d %q", code, stderr)
	}
}

func sdkNames(t *testing.T, stdout string) []string {
	t.Helper()
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var l struct {
			Name string          `json:"name"`
			Data json.RawMessage `json:"data"`
			At   int64           `json:"at"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.At == 0 {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		names = append(names, l.Name)
	}
	return names
}

func TestCallFails(t *testing.T) {
	gw := gateway(t)
	base := []string{"-url", gw.URL, "-user", "demo", "-password", "demo", "-ice-networks", "127.0.0.0/8"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-dial", "+14155550486"}, "softphone: call ended BUSY (SIP 486 Busy Here)"},
		{[]string{"-dial", "+14155550404", "-hubspot=false"}, "softphone: call ended FAILED (SIP 404 Not Found)"},
		{[]string{"-dial", "+14155550408", "-ring-timeout", "300ms"}, "softphone: call not answered within 300ms; hung up"},
		{[]string{"-dial", "12"}, `softphone: cannot call 12: "12" is not a phone number we can call`},
	} {
		code, stdout, stderr := runCLI(t, nil, append(base, tc.args...)...)
		if code != exitCall || lastLine(stderr) != tc.want {
			t.Errorf("%v: status %d, last line %q; want %d, %q", tc.args, code, lastLine(stderr), exitCall, tc.want)
		}
		if tc.args[1] != "12" {
			// Wrapped up even so: HubSpot saw the call completed.
			names := strings.Join(sdkNames(t, stdout), " ")
			if !strings.Contains(names, "outgoingCall callEnded callCompleted") {
				t.Errorf("%v: sdk events %s", tc.args, names)
			}
		}
	}
}

func TestSmokeTest(t *testing.T) {
	gw := gateway(t)
	wav := filepath.Join(t.TempDir(), "heard.wav")
	code, stdout, stderr := runCLI(t, nil, "-url", gw.URL, "-user", "demo", "-password", "demo",
		"-dial", "4155550199", "-country", "us", "-tone", "1000", "-duration", "600ms", "-dtmf", "5",
		"-record", wav, "-outcome", "connected", "-notes", "smoke test", "-ice-networks", "127.0.0.0/8")
	if code != exitOK {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := "initialized userLoggedIn outgoingCall callAnswered callEnded callCompleted userLoggedOut"
	if got := strings.Join(sdkNames(t, stdout), " "); got != want {
		t.Errorf("sdk events %q, want %q", got, want)
	}
	if !strings.Contains(stderr, "dominant tone 1000 Hz") || !strings.Contains(stderr, `DTMF sent "5"`) {
		t.Errorf("summary:\n%s", stderr)
	}
	f, err := os.Open(wav)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := audio.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	if freq, level := audio.DominantTone(pcm, toneCandidates); freq != 1000 || level < 0.5 || len(pcm) < audio.SampleRate/4 {
		t.Errorf("recording: %d samples, %v Hz at %.2f", len(pcm), freq, level)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := gw.WaitFrame(ctx, func(f softphonetest.Frame) bool { return f.Name == "onUpdateEngagementSucceeded" }); err != nil {
		t.Error("HubSpot did not acknowledge callCompleted")
	}
	if pk, err := gw.WaitEventPackets(ctx, 7); err != nil || pk[0].Payload[0] != 5 {
		t.Errorf("DTMF at the gateway: %v", err)
	}
}

// TestHoldFlag: -hold holds the answered call, waits, and resumes it.
func TestHoldFlag(t *testing.T) {
	gw := gateway(t)
	code, stdout, stderr := runCLI(t, nil, "-url", gw.URL, "-user", "demo", "-password", "demo",
		"-dial", "+14155550199", "-hold", "200ms", "-duration", "1s", "-ice-networks", "127.0.0.0/8")
	if code != exitOK {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "call held for 200ms") || !strings.Contains(stderr, "call resumed") {
		t.Errorf("stderr:\n%s", stderr)
	}
	var types []string
	for _, f := range gw.Frames() {
		if f.Type == "hold" || f.Type == "unhold" {
			types = append(types, f.Type)
		}
	}
	if strings.Join(types, " ") != "hold unhold" {
		t.Errorf("frames %v, want hold then unhold", types)
	}
}
