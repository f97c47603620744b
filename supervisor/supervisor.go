// Package supervisor runs tailcast serve: it re-executes its own binary as
// one tail process and N worker processes, restarts any that exit, and stops
// them all on SIGTERM or SIGINT. Without a Redis URL it also serves an
// embedded Redis-protocol broker on loopback.
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
	Tuning          Tuning
	Log             LogSettings
	Logger          *slog.Logger
	// Executable is the binary re-executed for children; default
	// /proc/self/exe, the binary this process runs.
	Executable string
}

// Supervisor owns the child processes of one tailcast serve.
type Supervisor struct {
	opts       Options
	log        *slog.Logger
	executable string
	spawner    *spawner
	listen     string // resolved: a concrete port even when Options.Listen had port 0
	redisURL   string

	mu        sync.Mutex
	stopping  bool
	stopped   chan struct{}
	slots     []*slot
	readyOnce sync.Once
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
	if opts.Executable == "" {
		opts.Executable = "/proc/self/exe"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Files) == 0 {
		return errors.New("no files to follow: give at least one --file NAME=PATH")
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

	sup := &Supervisor{
		opts:       opts,
		log:        opts.Logger,
		executable: opts.Executable,
		spawner:    newSpawner(),
		listen:     listen,
		redisURL:   opts.RedisURL,
		stopped:    make(chan struct{}),
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
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	if !s.opts.NoTail {
		s.slots = append(s.slots, &slot{sup: s, role: RoleTail, log: s.log})
	}
	for i := range s.opts.Workers {
		s.slots = append(s.slots, &slot{sup: s, role: RoleWorker, index: i, log: s.log})
	}
	s.log.Info("starting", "listen", s.listen, "workers", s.opts.Workers, "files", len(s.opts.Files), "pid", os.Getpid())

	var wg sync.WaitGroup
	for _, sl := range s.slots {
		wg.Go(sl.run)
	}

	select {
	case sig := <-signals:
		s.log.Info("stopping", "signal", sig.String())
	case <-ctx.Done():
		s.log.Info("stopping", "reason", ctx.Err())
	}
	s.stop()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.NewTimer(s.opts.ShutdownTimeout)
	defer deadline.Stop()
	select {
	case <-done:
	case <-deadline.C:
		s.log.Warn("children still running after the shutdown timeout; killing them", "timeout", s.opts.ShutdownTimeout)
		for _, sl := range s.slots {
			sl.signal(syscall.SIGKILL)
		}
		<-done
	}
	s.log.Info("stopped")
	return nil
}

func (s *Supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	close(s.stopped)
	s.mu.Unlock()
	for _, sl := range s.slots {
		sl.signal(syscall.SIGTERM)
	}
}

func (s *Supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// sleepUnlessStopping waits d and reports whether the supervisor is still
// running.
func (s *Supervisor) sleepUnlessStopping(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stopped:
		return false
	case <-t.C:
		return true
	}
}

func (s *Supervisor) childReady() {
	for _, sl := range s.slots {
		sl.mu.Lock()
		ready := sl.ready
		sl.mu.Unlock()
		if !ready {
			return
		}
	}
	s.readyOnce.Do(func() {
		s.log.Info("ready", "listen", s.listen, "workers", s.opts.Workers)
	})
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
