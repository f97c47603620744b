package testenv

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Serve is a running `tailcast serve` with JSON logs captured.
type Serve struct {
	t         testing.TB
	cmd       *exec.Cmd
	Addr      string // host:port the workers listen on
	AdminAddr string // host:port of /metrics, /healthz and /readyz

	mu      sync.Mutex
	logs    []map[string]any
	raw     syncBuffer
	exited  chan struct{}
	stopped bool
}

// StartServe runs `tailcast serve` with args plus --listen 127.0.0.1:0,
// --admin 127.0.0.1:0 and JSON logs, and waits until the supervisor logs
// "ready".
func StartServe(t testing.TB, args ...string) *Serve {
	t.Helper()
	return StartServeCmd(t, ServeCommand(t, args...)).WaitReady()
}

// ServeCommand returns the command StartServe runs, for a test that sets
// its environment or credentials before starting it with StartServeCmd.
func ServeCommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(Binary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-format", "json"}, args...)...)
}

// WaitReady waits until the supervisor logs "ready" and records the
// workers' and the admin endpoint's addresses.
func (s *Serve) WaitReady() *Serve {
	s.t.Helper()
	s.WaitLog(60*time.Second, func(entry map[string]any) bool { return entry["msg"] == "ready" })
	s.mu.Lock()
	for _, entry := range s.logs {
		switch entry["msg"] {
		case "ready":
			s.Addr, _ = entry["listen"].(string)
		case "admin listening":
			s.AdminAddr, _ = entry["addr"].(string)
		}
	}
	s.mu.Unlock()
	return s
}

// Signal sends sig to the supervisor.
func (s *Serve) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal tailcast serve: %v", err)
	}
}

// CountLogs returns how many entries match.
func (s *Serve) CountLogs(match func(map[string]any) bool) int {
	n := 0
	for _, entry := range s.Logs() {
		if match(entry) {
			n++
		}
	}
	return n
}

// StartServeCmd runs cmd, a prepared `tailcast serve`, without waiting for
// readiness, for tests that expect it to fail or to wait on something.
func StartServeCmd(t testing.TB, cmd *exec.Cmd) *Serve {
	t.Helper()
	return startServe(t, cmd)
}

func startServe(t testing.TB, cmd *exec.Cmd) *Serve {
	s := &Serve{t: t, cmd: cmd, exited: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = &s.raw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tailcast serve: %v", err)
	}
	go s.collect(stderr)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("tailcast serve output (last 60 lines):\n%s", tailOf(s.raw.String(), 60))
		}
	})
	return s
}

func (s *Serve) collect(r io.Reader) {
	defer close(s.exited)
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		_, _ = s.raw.Write(append(append([]byte(nil), line...), '\n'))
		var entry map[string]any
		if json.Unmarshal(line, &entry) == nil {
			s.mu.Lock()
			s.logs = append(s.logs, entry)
			s.mu.Unlock()
		}
	}
	_ = s.cmd.Wait()
}

// Pid returns the supervisor's pid.
func (s *Serve) Pid() int { return s.cmd.Process.Pid }

// Output returns everything the process wrote so far.
func (s *Serve) Output() string { return s.raw.String() }

// Logs returns the JSON log entries so far.
func (s *Serve) Logs() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.logs...)
}

// HasLog reports whether any entry matches.
func (s *Serve) HasLog(match func(map[string]any) bool) bool {
	for _, entry := range s.Logs() {
		if match(entry) {
			return true
		}
	}
	return false
}

// WaitLog polls until an entry matches.
func (s *Serve) WaitLog(timeout time.Duration, match func(map[string]any) bool) {
	s.t.Helper()
	Eventually(s.t, timeout, func() bool { return s.HasLog(match) },
		"no matching log entry; output:\n%s", tailOf(s.raw.String(), 40))
}

// LogMessage matches entries whose msg contains text.
func LogMessage(text string) func(map[string]any) bool {
	return func(entry map[string]any) bool {
		msg, _ := entry["msg"].(string)
		return strings.Contains(msg, text)
	}
}

// WorkerPids returns the pids of the worker processes running now, from the
// supervisor's "child started" and "child exited" entries.
func (s *Serve) WorkerPids() []int { return s.childPids("worker") }

// TailPid returns the pid of the running tail process, or 0.
func (s *Serve) TailPid() int {
	pids := s.childPids("tail")
	if len(pids) == 0 {
		return 0
	}
	return pids[len(pids)-1]
}

func (s *Serve) childPids(role string) []int {
	alive := map[int]bool{}
	var order []int
	for _, entry := range s.Logs() {
		if entry["role"] != role {
			continue
		}
		pid := int(number(entry["pid"]))
		switch entry["msg"] {
		case "child started":
			alive[pid] = true
			order = append(order, pid)
		case "child exited; restarting", "child exited":
			alive[pid] = false
		}
	}
	var pids []int
	for _, pid := range order {
		if alive[pid] {
			pids = append(pids, pid)
		}
	}
	return pids
}

func number(v any) float64 {
	f, _ := v.(float64)
	return f
}

// Stop sends SIGTERM and waits for the process to exit, killing it after 30 s.
func (s *Serve) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Wait waits for the process to exit by itself and returns its exit code.
func (s *Serve) Wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.t.Fatalf("tailcast serve still running after %v", timeout)
	}
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	return s.cmd.ProcessState.ExitCode()
}
