// Package supervisor runs tailcast serve. It executes its binary as one
// tail process and N worker processes and restarts any that exit. SIGHUP
// replaces them all, SIGTTIN and SIGTTOU add and remove a worker, and
// SIGTERM or SIGINT stops them. It reports to systemd and serves metrics.
// Without a Redis URL it also serves an embedded Redis-protocol broker on
// loopback.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"tailcast/broker"
	"tailcast/relay"
)

// Options configures Run. Zero fields get the defaults named on them.
type Options struct {
	Listen          string       // default ":8080"
	Workers         int          // default runtime.NumCPU()
	Files           []relay.File // required unless NoTail; at least one channel
	RedisURL        string       // empty: the embedded broker
	History         int64        // batches kept per channel; default 10000
	ShutdownTimeout time.Duration
	NoTail          bool // run workers only, for hosts that share one Redis
	// Admin is the address of the HTTP endpoint for /metrics, /healthz and
	// /readyz; empty disables it.
	Admin  string
	Tuning Tuning
	Log    LogSettings
	Logger *slog.Logger
	// Executable is the binary executed for children; default the path of
	// the running binary as resolved at start. Executing that path rather
	// than /proc/self/exe lets a reload start an upgraded binary that was
	// installed over the old one.
	Executable string
}

// errStopping is returned by operations cut short because the supervisor
// stops.
var errStopping = errors.New("supervisor: stopping")

// Supervisor owns the child processes of one tailcast serve.
type Supervisor struct {
	opts       Options
	log        *slog.Logger
	limitedLog *slog.Logger // for errors that can repeat quickly
	executable string
	spawner    *spawner
	listen     string // resolved: a concrete port even when Options.Listen had port 0
	redisURL   string
	listeners  *listenerPool
	notifier   *notifier
	statusWake chan struct{} // one slot: a status change waits here for the status loop
	childGone  chan struct{} // one slot: removeChild signals waitChildren here

	mu         sync.Mutex
	stopping   bool
	stopped    chan struct{}
	tailSlot   *slot // nil with NoTail
	workers    []*slot
	slotsDone  sync.WaitGroup
	ready      bool // READY=1 was sent
	reloading  bool
	children   map[*child]struct{}       // every running process, replaced ones included
	retired    map[slotLabel]childReport // counters of the slot's exited processes
	restarts   map[slotLabel]uint64      // unexpected exits
	reloadRuns map[string]uint64         // by result
}

// Run starts the children and supervises them until SIGTERM or SIGINT, then
// stops them within ShutdownTimeout. It returns an error without starting
// anything when the port is in use or the options are invalid.
func Run(ctx context.Context, opts Options) error {
	if opts.Listen == "" {
		opts.Listen = ":8080"
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Files) == 0 {
		return errors.New("no files to follow: give at least one --file NAME=PATH")
	}
	if opts.Executable == "" {
		executable, err := os.Executable()
		if err != nil {
			return fmt.Errorf("supervisor: find the running binary: %w", err)
		}
		opts.Executable = executable
	}

	if opts.RedisURL != "" {
		// Children would fail on the same URL and restart forever.
		client, err := broker.Connect(opts.RedisURL)
		if err != nil {
			return err
		}
		client.Close()
	}

	listen, err := checkPort(opts.Listen)
	if err != nil {
		return err
	}

	limitedLog := newLimitedLogger(opts.Logger, 10*time.Second)
	sup := &Supervisor{
		opts:       opts,
		log:        opts.Logger,
		limitedLog: limitedLog,
		executable: opts.Executable,
		spawner:    newSpawner(),
		listen:     listen,
		redisURL:   opts.RedisURL,
		listeners:  newListenerPool(listen),
		notifier:   newNotifier(limitedLog),
		statusWake: make(chan struct{}, 1),
		childGone:  make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		children:   make(map[*child]struct{}),
		retired:    make(map[slotLabel]childReport),
		restarts:   make(map[slotLabel]uint64),
		reloadRuns: make(map[string]uint64),
	}
	defer sup.listeners.closeAll()
	// Bind every worker's socket now, so a port taken in the meantime
	// fails the start instead of a child.
	for i := range opts.Workers {
		if _, err := sup.listeners.open(i); err != nil {
			return err
		}
	}

	fileLimit, err := raiseFileLimit()
	if err != nil {
		sup.log.Warn("raising the open-file limit failed", "err", err, "open_file_limit", fileLimit)
	}
	checkCapacity(sup.log, opts.Workers, opts.Tuning.MaxConns, fileLimit)

	var admin *adminServer
	if opts.Admin != "" {
		admin, err = sup.startAdmin(opts.Admin)
		if err != nil {
			return err
		}
		defer admin.close()
	}

	if sup.redisURL == "" {
		embedded, err := startEmbeddedBroker()
		if err != nil {
			return err
		}
		defer embedded.close()
		sup.redisURL = embedded.url
		sup.log.Info("serving embedded broker; its password reaches children through a pipe", "addr", embedded.addr)
	}

	return sup.run(ctx)
}

// checkPort binds addr once, without SO_REUSEPORT, so that a port held by
// any other program (another tailcast serve included) fails here with a
// clear message instead of silently sharing it. It returns addr with port 0
// replaced by the port the kernel chose.
func checkPort(addr string) (string, error) {
	probe, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return "", fmt.Errorf("listen on %s: address already in use; stop the other server or pick another --listen", addr)
		}
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer probe.Close()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("invalid --listen %q: use host:port, such as :8080 or 127.0.0.1:8080", addr)
	}
	_, port, _ := net.SplitHostPort(probe.Addr().String())
	return net.JoinHostPort(host, port), nil
}

func (s *Supervisor) run(ctx context.Context) error {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Stop(signals)

	s.mu.Lock()
	if !s.opts.NoTail {
		s.tailSlot = s.startSlotLocked(RoleTail, 0)
	}
	for i := range s.opts.Workers {
		s.workers = append(s.workers, s.startSlotLocked(RoleWorker, i))
	}
	s.mu.Unlock()
	s.log.Info("starting", "listen", s.listen, "workers", s.opts.Workers, "files", len(s.opts.Files),
		"pid", os.Getpid(), "executable", s.executable)

	var background sync.WaitGroup
	operations := make(chan operation, 16)
	background.Go(func() { s.operate(operations) })
	background.Go(s.reportStatus)

	s.waitForStop(ctx, signals, operations)
	s.stop()

	done := make(chan struct{})
	go func() {
		s.slotsDone.Wait()
		background.Wait()
		s.waitChildren()
		close(done)
	}()
	deadline := time.NewTimer(s.opts.ShutdownTimeout)
	defer deadline.Stop()
	select {
	case <-done:
	case <-deadline.C:
		s.log.Warn("children still running after the shutdown timeout; killing them", "timeout", s.opts.ShutdownTimeout)
		s.signalChildren(syscall.SIGKILL)
		<-done
	}
	s.log.Info("stopped")
	return nil
}

// waitForStop turns signals into operations until SIGTERM, SIGINT or the
// end of ctx.
func (s *Supervisor) waitForStop(ctx context.Context, signals <-chan os.Signal, operations chan<- operation) {
	for {
		var op operation
		select {
		case <-ctx.Done():
			s.log.Info("stopping", "reason", ctx.Err())
			return
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				op = operationReload
			case syscall.SIGTTIN:
				op = operationAddWorker
			case syscall.SIGTTOU:
				op = operationRemoveWorker
			default:
				s.log.Info("stopping", "signal", sig.String())
				return
			}
			select {
			case operations <- op:
			default:
				s.log.Warn("ignoring signal: too many operations are waiting", "signal", sig.String())
			}
		}
	}
}

// startSlotLocked creates a slot and starts its goroutine. The caller holds
// s.mu.
func (s *Supervisor) startSlotLocked(role string, index int) *slot {
	sl := newSlot(s, role, index)
	s.slotsDone.Go(sl.run)
	return sl
}

func (s *Supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	close(s.stopped)
	s.mu.Unlock()
	s.notifier.stopping()
	s.signalChildren(syscall.SIGTERM)
}

func (s *Supervisor) signalChildren(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.children {
		c.signal(sig)
	}
}

func (s *Supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// addChild registers a started process. One started while the supervisor
// began to stop gets its SIGTERM here.
func (s *Supervisor) addChild(c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.children[c] = struct{}{}
	if s.stopping {
		c.signal(syscall.SIGTERM)
	}
}

// removeChild unregisters an exited process and keeps its last counters,
// so the slot's counters never go down.
func (s *Supervisor) removeChild(c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.children, c)
	label := c.slot.label()
	s.retired[label] = addReports(s.retired[label], c.latestReport())
	select {
	case s.childGone <- struct{}{}:
	default:
	}
}

// waitChildren waits until every child has exited, replaced workers that
// were still finishing their exit included. The caller makes sure that no
// slot starts another child.
func (s *Supervisor) waitChildren() {
	for {
		s.mu.Lock()
		running := len(s.children)
		s.mu.Unlock()
		if running == 0 {
			return
		}
		<-s.childGone
	}
}

func (s *Supervisor) countRestart(label slotLabel) {
	s.mu.Lock()
	s.restarts[label]++
	s.mu.Unlock()
}

// slots returns the tail slot, if any, and the worker slots.
func (s *Supervisor) slots() []*slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*slot
	if s.tailSlot != nil {
		out = append(out, s.tailSlot)
	}
	return append(out, s.workers...)
}

// childReady sends READY=1 the first time every slot has a ready process.
func (s *Supervisor) childReady() {
	s.statusChanged()
	for _, sl := range s.slots() {
		if !sl.isReady() {
			return
		}
	}
	s.mu.Lock()
	first := !s.ready
	s.ready = true
	workers := len(s.workers)
	s.mu.Unlock()
	if first {
		s.log.Info("ready", "listen", s.listen, "workers", workers)
		s.notifier.ready(s.statusText())
	}
}

// childConfig builds the configuration handed to one child.
func (s *Supervisor) childConfig(role string, index int) ChildConfig {
	// Leave the supervisor a margin to reap children inside its own
	// timeout.
	childTimeout := max(s.opts.ShutdownTimeout-s.opts.ShutdownTimeout/5, 100*time.Millisecond)
	return ChildConfig{
		Role:            role,
		Index:           index,
		Listen:          s.listen,
		Files:           s.opts.Files,
		RedisURL:        s.redisURL,
		History:         s.opts.History,
		ShutdownTimeout: childTimeout,
		Tuning:          s.opts.Tuning,
		Log:             s.opts.Log,
	}
}
