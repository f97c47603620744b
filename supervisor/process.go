package supervisor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Restart backoff: the delay doubles from restartMinDelay up to
// restartMaxDelay while a child keeps dying within stableAfter of its start,
// and resets once it has run that long.
const (
	restartMinDelay = 100 * time.Millisecond
	restartMaxDelay = 30 * time.Second
	stableAfter     = 10 * time.Second
	crashLoopCount  = 5
)

// slot is one child role instance (the tail process, or worker N) that the
// supervisor keeps running, restarting it when it exits.
type slot struct {
	sup   *Supervisor
	role  string
	index int
	log   *slog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd
	ready    bool
	restarts int
}

func (s *slot) name() string {
	if s.role == RoleWorker {
		return fmt.Sprintf("worker %d", s.index)
	}
	return s.role
}

// pid returns the running child's pid, or 0.
func (s *slot) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// run keeps the child running until the supervisor stops.
func (s *slot) run() {
	delay := restartMinDelay
	for {
		started := time.Now()
		cmd, exited, err := s.start()
		if err != nil {
			s.log.Error("start child failed", "role", s.role, "index", s.index, "err", err)
		} else {
			state := <-exited
			s.mu.Lock()
			s.cmd, s.ready = nil, false
			s.mu.Unlock()
			if s.sup.isStopping() {
				s.log.Info("child exited", "role", s.role, "index", s.index, "pid", cmd.Process.Pid, "status", describeExit(state))
				return
			}
			if time.Since(started) >= stableAfter {
				delay = restartMinDelay
			}
			s.mu.Lock()
			s.restarts++
			restarts := s.restarts
			s.mu.Unlock()
			s.log.Warn("child exited; restarting", "role", s.role, "index", s.index, "pid", cmd.Process.Pid,
				"status", describeExit(state), "restart_in", delay, "restarts", restarts)
			if delay >= restartMinDelay<<crashLoopCount {
				s.log.Error("child keeps crashing", "role", s.role, "index", s.index, "restarts", restarts, "restart_in", delay)
			}
		}
		if !s.sup.sleepUnlessStopping(delay) {
			return
		}
		delay = min(2*delay, restartMaxDelay)
	}
}

// start launches the child with its configuration pipe and status pipe. The
// returned channel delivers its exit state.
func (s *slot) start() (*exec.Cmd, <-chan *os.ProcessState, error) {
	cfg := s.sup.childConfig(s.role, s.index)
	payload, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}

	configRead, configWrite, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	statusRead, statusWrite, err := os.Pipe()
	if err != nil {
		configRead.Close()
		configWrite.Close()
		return nil, nil, err
	}

	cmd := exec.Command(s.sup.executable, "child", s.role)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{configRead, statusWrite} // descriptors 3 and 4
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
		return nil, nil, err
	}

	// The pipe buffer (64 KiB) holds the whole configuration, so this write
	// does not wait for the child.
	go func() {
		_, _ = configWrite.Write(payload)
		configWrite.Close()
	}()

	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	s.log.Info("child started", "role", s.role, "index", s.index, "pid", cmd.Process.Pid)

	go s.watchStatus(statusRead, cmd.Process.Pid)
	exited := make(chan *os.ProcessState, 1)
	go func() {
		_ = cmd.Wait()
		exited <- cmd.ProcessState
	}()
	return cmd, exited, nil
}

// watchStatus reads the child's status pipe until it closes.
func (s *slot) watchStatus(pipe *os.File, pid int) {
	defer pipe.Close()
	scanner := bufio.NewScanner(pipe)
	for scanner.Scan() {
		if strings.TrimSpace(scanner.Text()) == "ready" {
			s.mu.Lock()
			s.ready = true
			s.mu.Unlock()
			s.log.Info("child ready", "role", s.role, "index", s.index, "pid", pid)
			s.sup.childReady()
		}
	}
}

// signal sends sig to the running child, if any.
func (s *slot) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(sig)
	}
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
