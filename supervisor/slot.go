package supervisor

import (
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// Restart backoff: the delay doubles from restartMinDelay up to
// restartMaxDelay while a child keeps dying within stableAfter of its start,
// and resets once it has run that long. A child whose restart delay reached
// crashLoopDelay is reported as crash-looping.
const (
	restartMinDelay = 100 * time.Millisecond
	restartMaxDelay = 30 * time.Second
	stableAfter     = 10 * time.Second
	crashLoopDelay  = restartMinDelay << 5
)

// holdSocketDelay is the longest restart delay for which a crashed worker's
// listening socket stays open. Connections queued on it wait for the
// restart instead of being reset. The kernel keeps sending new ones there
// too, so a worker that waits longer gives its socket up and gets a new
// one when it starts.
const holdSocketDelay = time.Second

// readyTimeout bounds how long a replacement child may take to report
// ready during a reload before the reload gives up on it.
const readyTimeout = 60 * time.Second

type commandKind int

const (
	commandReplace commandKind = iota // start a fresh process, then stop the old one
	commandRetire                     // stop the process and end the slot
)

type slotCommand struct {
	kind commandKind
	done chan error
}

// slot is one child role instance (the tail process, or worker N) that the
// supervisor keeps running: it restarts the process when it dies and
// replaces it on request. One goroutine, run, owns the slot's processes.
type slot struct {
	sup      *Supervisor
	role     string
	index    int
	log      *slog.Logger
	commands chan slotCommand
	done     chan struct{} // closed when run returns

	mu        sync.Mutex
	current   *child // the process serving the slot; nil while restarting
	restarts  int
	crashLoop bool // the restart delay reached crashLoopDelay, until a process runs stableAfter
}

func newSlot(sup *Supervisor, role string, index int) *slot {
	return &slot{
		sup:      sup,
		role:     role,
		index:    index,
		log:      sup.log,
		commands: make(chan slotCommand),
		done:     make(chan struct{}),
	}
}

func (s *slot) name() string {
	if s.role == RoleWorker {
		return fmt.Sprintf("worker %d", s.index)
	}
	return s.role
}

// label is the slot's key in the supervisor's metrics.
func (s *slot) label() slotLabel { return slotLabel{role: s.role, index: s.index} }

// isReady reports whether the slot's current process reported ready.
func (s *slot) isReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current != nil && s.current.isReady()
}

// crashLooping reports whether the slot is restarting a child that keeps
// crashing, and how often it restarted.
func (s *slot) crashLooping() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashLoop && s.current != nil && time.Since(s.current.started) >= stableAfter {
		s.crashLoop = false
	}
	return s.crashLoop, s.restarts
}

func (s *slot) setCurrent(c *child) {
	s.mu.Lock()
	s.current = c
	s.mu.Unlock()
}

func (s *slot) childReady(c *child) {
	s.log.Info("child ready", "role", s.role, "index", s.index, "pid", c.pid)
	s.sup.childReady()
}

// command sends kind to the slot's goroutine and waits for the result. It
// returns errStopping when the supervisor stops first.
func (s *slot) command(kind commandKind) error {
	cmd := slotCommand{kind: kind, done: make(chan error, 1)}
	select {
	case s.commands <- cmd:
	case <-s.done:
		return errStopping
	}
	return <-cmd.done
}

// run keeps a process running for the slot until the supervisor stops or
// the slot is retired.
func (s *slot) run() {
	defer close(s.done)
	delay := restartMinDelay
	var cur *child
	var restartAt time.Time
	for {
		if cur == nil {
			if !s.waitRestart(restartAt) {
				return
			}
			next, err := s.start()
			if err != nil {
				s.log.Error("start child failed", "role", s.role, "index", s.index, "err", err, "restart_in", delay)
				restartAt = time.Now().Add(delay)
				delay = min(2*delay, restartMaxDelay)
				continue
			}
			cur = next
		}

		select {
		case <-cur.exited:
			if s.sup.isStopping() {
				return
			}
			if time.Since(cur.started) >= stableAfter {
				delay = restartMinDelay
			}
			s.crashed(cur, delay)
			cur = nil
			restartAt = time.Now().Add(delay)
			delay = min(2*delay, restartMaxDelay)

		case cmd := <-s.commands:
			switch cmd.kind {
			case commandReplace:
				var err error
				cur, err = s.replace(cur)
				cmd.done <- err
			case commandRetire:
				s.retire(cur)
				cmd.done <- nil
				return
			}

		case <-s.sup.stopped:
			// The supervisor signals every child; the slot waits for
			// its own, and the supervisor kills it after the timeout.
			<-cur.exited
			return
		}
	}
}

// waitRestart waits until restartAt while it handles commands: a replace
// starts the process at once, and a retire ends the slot. It returns false
// when the slot must end.
func (s *slot) waitRestart(restartAt time.Time) bool {
	wait := time.Until(restartAt)
	if wait <= 0 {
		return !s.sup.isStopping()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return !s.sup.isStopping()
	case <-s.sup.stopped:
		return false
	case cmd := <-s.commands:
		if cmd.kind == commandRetire {
			s.retire(nil)
		}
		cmd.done <- nil
		return cmd.kind == commandReplace
	}
}

// crashed records an unexpected exit of cur and logs it. delay is the wait
// before the restart.
func (s *slot) crashed(cur *child, delay time.Duration) {
	s.mu.Lock()
	s.current = nil
	s.restarts++
	restarts := s.restarts
	if delay >= crashLoopDelay {
		s.crashLoop = true
	}
	s.mu.Unlock()
	s.sup.countRestart(s.label())

	s.log.Warn("child exited; restarting", "role", s.role, "index", s.index, "pid", cur.pid,
		"status", describeExit(cur.state), "restart_in", delay, "restarts", restarts)
	if delay >= crashLoopDelay {
		s.sup.limitedLog.Error("child keeps crashing", "role", s.role, "index", s.index, "restarts", restarts, "restart_in", delay)
	}
	if s.role == RoleWorker && delay > holdSocketDelay {
		s.sup.listeners.close(s.index)
	}
	s.sup.statusChanged()
}

// replace starts a fresh process of the binary on disk and stops cur. It
// returns the process that serves the slot afterwards: the new one, or cur
// when the new one failed.
func (s *slot) replace(cur *child) (*child, error) {
	if s.role == RoleTail {
		return s.replaceTail(cur)
	}

	// A worker's replacement accepts on the same socket before the old
	// process stops, so the socket never closes and every queued
	// connection finds a process to accept it.
	next, err := s.start()
	if err != nil {
		return cur, err
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-next.ready:
	case <-next.exited:
		return cur, fmt.Errorf("supervisor: new %s exited before it was ready: %s", s.name(), describeExit(next.state))
	case <-timer.C:
		next.signal(syscall.SIGKILL)
		<-next.exited
		return cur, fmt.Errorf("supervisor: new %s was not ready within %v", s.name(), readyTimeout)
	case <-s.sup.stopped:
		<-next.exited
		return cur, errStopping
	}
	s.setCurrent(next)
	s.drainChild(cur)
	return next, nil
}

// replaceTail stops the tail process before starting the new one: two
// followers would store every line twice. Lines written in between wait in
// the file, and the new follower reads them from the saved offset.
func (s *slot) replaceTail(cur *child) (*child, error) {
	s.setCurrent(nil)
	s.stopChild(cur)
	if s.sup.isStopping() {
		return cur, errStopping
	}
	next, err := s.start()
	if err != nil {
		// No process serves the slot now, so the slot's loop starts one
		// with its restart backoff.
		return nil, err
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-next.ready:
		return next, nil
	case <-next.exited:
		return next, fmt.Errorf("supervisor: new tail process exited before it was ready: %s", describeExit(next.state))
	case <-timer.C:
		return next, fmt.Errorf("supervisor: new tail process was not ready within %v", readyTimeout)
	case <-s.sup.stopped:
		return next, errStopping
	}
}

// retire stops cur for good and closes the slot's socket.
func (s *slot) retire(cur *child) {
	s.setCurrent(nil)
	if s.role == RoleWorker {
		// The worker holds the socket's last descriptor from now on, so
		// the socket closes when the worker stops accepting, and the
		// kernel can reset only connections that arrive between its last
		// accept and that close.
		s.sup.listeners.close(s.index)
	}
	if cur != nil {
		s.stopChild(cur)
	}
}

// drainChild sends SIGTERM to the worker c and waits until it has closed
// every client, or has exited. The rest of its exit, up to a blocking broker
// read, overlaps the next step of a reload.
func (s *slot) drainChild(c *child) {
	c.signal(syscall.SIGTERM)
	timer := time.NewTimer(s.sup.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-c.drained:
	case <-c.exited:
	case <-timer.C:
		s.log.Warn("child still running after the shutdown timeout; killing it", "role", s.role, "index", s.index, "pid", c.pid)
		c.signal(syscall.SIGKILL)
		<-c.exited
	}
}

// stopChild sends SIGTERM to c and waits for it to exit, killing it after
// the shutdown timeout.
func (s *slot) stopChild(c *child) {
	c.signal(syscall.SIGTERM)
	timer := time.NewTimer(s.sup.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		s.log.Warn("child still running after the shutdown timeout; killing it", "role", s.role, "index", s.index, "pid", c.pid)
		c.signal(syscall.SIGKILL)
		<-c.exited
	}
}

func (s *slot) isCurrent(c *child) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current == c
}
