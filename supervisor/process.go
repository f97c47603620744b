package supervisor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one started process of a slot.
type child struct {
	slot    *slot
	cmd     *exec.Cmd
	pid     int
	started time.Time

	ready       chan struct{} // closed when the child reports ready
	readyOnce   sync.Once
	drained     chan struct{} // closed when a stopping worker reports it closed every client
	drainedOnce sync.Once
	exited      chan struct{} // closed once the process is reaped and its pipe read to the end
	state       *os.ProcessState

	mu     sync.Mutex
	report childReport // the latest counters it sent
}

func (c *child) signal(sig os.Signal) { _ = c.cmd.Process.Signal(sig) }

func (c *child) isReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

func (c *child) latestReport() childReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.report
}

// watchStatus reads the child's status pipe until the child closes it.
func (c *child) watchStatus(pipe *os.File) {
	defer pipe.Close()
	scanner := bufio.NewScanner(pipe)
	scanner.Buffer(make([]byte, 64<<10), 4<<20)
	for scanner.Scan() {
		kind, payload, _ := strings.Cut(strings.TrimSpace(scanner.Text()), " ")
		switch kind {
		case statusDrained:
			c.drainedOnce.Do(func() { close(c.drained) })
		case statusReady:
			c.readyOnce.Do(func() { close(c.ready) })
			c.slot.childReady(c)
		case statusStats:
			var report childReport
			if err := json.Unmarshal([]byte(payload), &report); err != nil {
				c.slot.sup.limitedLog.Warn("unreadable child report", "role", c.slot.role, "index", c.slot.index, "pid", c.pid, "err", err)
				continue
			}
			c.mu.Lock()
			c.report = report
			c.mu.Unlock()
		}
	}
}

// start launches a process for the slot with its configuration pipe, its
// status pipe and, for a worker, the slot's listening socket.
func (s *slot) start() (*child, error) {
	cfg := s.sup.childConfig(s.role, s.index)
	payload, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var socket *os.File
	if s.role == RoleWorker {
		if socket, err = s.sup.listeners.open(s.index); err != nil {
			return nil, err
		}
	}

	configRead, configWrite, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusRead, statusWrite, err := os.Pipe()
	if err != nil {
		configRead.Close()
		configWrite.Close()
		return nil, err
	}

	cmd := exec.Command(s.sup.executable, "child", s.role)
	cmd.Env = childEnvironment()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{configRead, statusWrite} // descriptors 3 and 4
	if socket != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, socket) // descriptor 5
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// The child stops if the supervisor dies, even by SIGKILL.
		Pdeathsig: syscall.SIGTERM,
	}
	err = s.sup.spawner.start(cmd)
	configRead.Close()
	statusWrite.Close()
	if err != nil {
		configWrite.Close()
		statusRead.Close()
		return nil, err
	}

	// The pipe buffer (64 KiB) holds the whole configuration, so this write
	// does not wait for the child.
	go func() {
		_, _ = configWrite.Write(payload)
		configWrite.Close()
	}()

	c := &child{
		slot:    s,
		cmd:     cmd,
		pid:     cmd.Process.Pid,
		started: time.Now(),
		ready:   make(chan struct{}),
		drained: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	s.mu.Lock()
	if s.current == nil {
		s.current = c
	}
	s.mu.Unlock()
	s.sup.addChild(c)
	s.log.Info("child started", "role", s.role, "index", s.index, "pid", c.pid, "executable", s.sup.executable)

	statusDone := make(chan struct{})
	go func() {
		c.watchStatus(statusRead)
		close(statusDone)
	}()
	go func() {
		_ = cmd.Wait()
		// The pipe reaches its end once the process is gone; its last
		// report is read before the exit counts.
		<-statusDone
		c.state = cmd.ProcessState
		s.sup.removeChild(c)
		// The slot's loop logs an unexpected exit, with its restart.
		if s.sup.isStopping() || !s.isCurrent(c) {
			s.log.Info("child exited", "role", s.role, "index", s.index, "pid", c.pid, "status", describeExit(c.state))
		}
		close(c.exited)
	}()
	return c, nil
}

// childEnvironment returns the supervisor's environment without the
// variables addressed to it alone: systemd accepts notifications only from
// the main process, and the watchdog watches that process.
func childEnvironment() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func describeExit(state *os.ProcessState) string {
	if state == nil {
		return "unknown"
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", state.ExitCode())
}
