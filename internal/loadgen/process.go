//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is a process the generator started: the gateway or a floor relay.
// It is ended by its PID, never by name.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startChild starts name with args, sends its stderr to logPath, and
// returns once ready has seen the line it waits for on the stream given
// (stdout or stderr), or fails after timeout.
func startChild(name string, args []string, env []string, logPath string, fromStdout bool,
	ready func(line []byte) bool, timeout time.Duration) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var r io.ReadCloser
	if fromStdout {
		cmd.Stderr = logf
		r, err = cmd.StdoutPipe()
	} else {
		cmd.Stdout = logf
		r, err = cmd.StderrPipe()
	}
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("loadgen: start %s: %w", name, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	up := make(chan struct{})
	go func() {
		// Scan for the ready line, then copy the rest to the log.
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logf.Write(append(line, '\n'))
			if !signalled && ready(line) {
				signalled = true
				close(up)
			}
		}
		_, _ = io.Copy(logf, r)
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	select {
	case <-up:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("loadgen: %s exited before it was ready (%v); see %s", name, c.err, logPath)
	case <-time.After(timeout):
		c.stop()
		return nil, fmt.Errorf("loadgen: %s not ready after %v; see %s", name, timeout, logPath)
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop ends the process by its PID: SIGTERM, then SIGKILL if it lingers.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(c.pid(), syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(c.pid(), syscall.SIGKILL)
		<-c.done
	}
}

// jsonField reads a top-level string field of a JSON log line.
func jsonField(line []byte, key string) (string, bool) {
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		return "", false
	}
	s, ok := m[key].(string)
	return s, ok
}

// waitCtx is a context for a bounded wait.
func waitCtx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
