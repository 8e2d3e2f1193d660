package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
)

// Measurements for the issue notes. They assert what a user relies on
// (every dial reaches the trunk once; every call's resources are released)
// and log the figures; no timing is asserted here.

// TestDialToInviteLatency: from the dial frame leaving the softphone's
// socket to the INVITE arriving at the trunk's socket.
func TestDialToInviteLatency(t *testing.T) {
	trunk := newBusyTrunk(t)
	g := startGateway(t, gwConfig{trunk: trunk.addr()})
	c := rawSocket(t, g)
	c.send(`{"v":1,"type":"login","username":"` + testUser + `","password":"` + testPassword + `"}`)
	c.expect("session")

	const n = 60
	var lat []time.Duration
	for i := range n {
		sent := time.Now()
		c.send(fmt.Sprintf(`{"v":1,"type":"dial","id":"d%d","toNumber":"+1415555%04d"}`, i, 1000+i))
		id := c.expect("call")["callId"].(string)
		for {
			m := c.expect("call")
			if m["callId"] == id && m["state"] == "ended" {
				break
			}
		}
		at, ok := trunk.arrival(id)
		if !ok {
			t.Fatalf("call %s ended but its INVITE never reached the trunk", id)
		}
		lat = append(lat, at.Sub(sent))
		c.send(`{"v":1,"type":"wrapUp","callId":"` + id + `","outcome":"busy","notes":""}`)
		for {
			m := c.expect("call")
			if m["callId"] == id && m["state"] == "completed" {
				break
			}
		}
	}
	if len(trunk.invites) != n {
		t.Errorf("%d INVITEs for %d dials", len(trunk.invites), n)
	}
	slices.Sort(lat)
	t.Logf("dial → INVITE on the wire, %d dials (race detector %v): p50 %v, p90 %v, max %v",
		n, raceEnabled, lat[n/2], lat[n*9/10], lat[n-1])
}

// TestResourcesPerActiveCall: the gateway's memory and goroutines with N
// answered calls relaying audio, and that all of it is released when they end.
func TestResourcesPerActiveCall(t *testing.T) {
	const n = 20
	trunk := sipptest.Start(t, sipptest.Options{Scenario: scenario("answer_echo.xml"), RTPEcho: true, Calls: n})
	g := startGateway(t, gwConfig{trunk: trunk.Addr, users: n})
	phones := make([]*softphone.Phone, n)
	for i := range phones {
		user := testUser
		if i > 0 {
			user = fmt.Sprintf("%s%d", testUser, i)
		}
		phones[i] = newPhoneUser(t, g, user, nil)
	}
	idleRSS, idleG := g.rss(t), g.healthz(t).Goroutines

	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, p := range phones {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			id, err := p.DialFromHubSpot(ctx, softphone.ContactDial(callee, "US", int64(i+1)))
			if err == nil {
				ids[i] = id
				_, err = p.WaitState(ctx, id, softphone.StateAnswered)
			}
			if err == nil {
				err = p.WaitMedia(ctx, id)
			}
			if err == nil {
				err = p.WaitHeard(ctx, time.Second)
			}
			if err != nil {
				errs <- fmt.Errorf("phone %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	busyRSS, h := g.rss(t), g.healthz(t)
	if h.Calls != n {
		t.Errorf("healthz says %d calls, want %d", h.Calls, n)
	}
	perCallKB := float64(busyRSS-idleRSS) / n / 1024
	perCallG := float64(h.Goroutines-idleG) / n

	for i, p := range phones {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := p.Hangup(ctx, ids[i]); err != nil {
				t.Errorf("hang up %d: %v", i, err)
			} else if err := p.WrapUp(ctx, ids[i], "", ""); err != nil {
				t.Errorf("wrap up %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if err := trunk.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Every call's goroutines end: back to the idle count, give or take
	// the HTTP server's own.
	deadline := time.Now().Add(10 * time.Second)
	after := g.healthz(t)
	for (after.Calls != 0 || after.Goroutines > idleG+2) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		after = g.healthz(t)
	}
	if after.Calls != 0 || after.Goroutines > idleG+2 {
		t.Errorf("after every call ended: %d calls, %d goroutines (idle: %d)", after.Calls, after.Goroutines, idleG)
	}
	t.Logf("%d answered calls relaying audio (race detector %v): +%.0f KB RSS and +%.1f goroutines per call (idle RSS %d KB, %d goroutines)",
		n, raceEnabled, perCallKB, perCallG, idleRSS/1024, idleG)
}

type healthz struct {
	Calls      int `json:"calls"`
	Sockets    int `json:"sockets"`
	Goroutines int `json:"goroutines"`
}

func (g *gateway) healthz(t *testing.T) healthz {
	t.Helper()
	resp, err := http.Get("http://" + g.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthz
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// rss is the gateway process's resident set, in bytes.
func (g *gateway) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}
