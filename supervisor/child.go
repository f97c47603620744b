package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"tailcast/broker"
	"tailcast/relay"
	"tailcast/tail"
	"tailcast/web"
	"tailcast/worker"
)

// childReport carries one child's counters to the supervisor: Worker from a
// worker, Tail by channel from the tail process.
type childReport struct {
	Worker *worker.Stats                 `json:"worker,omitempty"`
	Tail   map[string]relay.ChannelStats `json:"tail,omitempty"`
}

// RunChild is the body of a child process started by the supervisor
// (`tailcast child ROLE`). It reads its configuration from the inherited
// pipe and runs until SIGTERM or SIGINT.
func RunChild(role string) error {
	cfg, err := readChildConfig()
	if err != nil {
		return err
	}
	if cfg.Role != role {
		return fmt.Errorf("supervisor: child started as %q but configured as %q", role, cfg.Role)
	}
	log, err := NewLogger(os.Stderr, cfg.Log)
	if err != nil {
		return err
	}
	log = log.With("role", cfg.Role, "pid", os.Getpid())
	if cfg.Role == RoleWorker {
		log = log.With("worker", cfg.Index)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	client, err := broker.Connect(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer client.Close()
	b := broker.New(client, broker.Options{History: cfg.History})
	status := &statusWriter{file: os.NewFile(statusFD, "status")}

	switch cfg.Role {
	case RoleTail:
		stats := &relay.Stats{}
		report := func() childReport { return childReport{Tail: stats.Snapshot()} }
		stopReports := status.reportEvery(statsInterval, report)
		status.send(statusReady)
		err := relay.Run(ctx, relay.Options{
			Files:  cfg.Files,
			Broker: b,
			Tail: tail.Options{
				Poll:          cfg.Tuning.Poll,
				PollInterval:  cfg.Tuning.PollInterval,
				MaxLineBytes:  cfg.Tuning.MaxLineBytes,
				MaxBatchBytes: cfg.Tuning.MaxBatchBytes,
				MaxBatchDelay: cfg.Tuning.MaxBatchDelay,
			},
			Logger: log,
			Stats:  stats,
		})
		stopReports()
		status.report(report())
		if errors.Is(err, context.Canceled) {
			return nil // stopped by a signal
		}
		return err

	case RoleWorker:
		// The worker is ready once it accepts: a replacement that reported
		// ready earlier would let the supervisor stop the old worker while
		// connections wait for the new one.
		w, err := newChildWorker(cfg, b, log,
			func() { status.send(statusReady) },
			func() { status.send(statusDrained) })
		if err != nil {
			return err
		}
		report := func() childReport {
			stats := w.Stats()
			return childReport{Worker: &stats}
		}
		stopReports := status.reportEvery(statsInterval, report)
		err = w.Run(ctx)
		stopReports()
		// The last report covers everything this worker did, so the
		// supervisor's counters for the slot lose nothing at a reload.
		status.report(report())
		return err
	}
	return fmt.Errorf("supervisor: unknown child role %q", cfg.Role)
}

// newChildWorker builds the worker on the listening socket the supervisor
// passed on listenerFD.
func newChildWorker(cfg ChildConfig, b *broker.Broker, log *slog.Logger, onServing, onDrained func()) (*worker.Worker, error) {
	inherited := os.NewFile(listenerFD, "listener")
	if inherited == nil {
		return nil, fmt.Errorf("supervisor: no listening socket on descriptor %d", listenerFD)
	}
	listener, err := net.FileListener(inherited)
	// FileListener works on a duplicate, so the inherited descriptor is
	// closed now. Otherwise the socket would stay open after this worker
	// stops accepting, and connections queued on it meanwhile would be
	// reset when it finally closes.
	inherited.Close()
	if err != nil {
		return nil, fmt.Errorf("supervisor: use inherited listening socket: %w", err)
	}

	names := make([]string, 0, len(cfg.Files))
	for _, file := range cfg.Files {
		names = append(names, file.Name)
	}
	w, err := worker.New(worker.Options{
		Listen:           cfg.Listen,
		Listener:         listener,
		Name:             fmt.Sprintf("%d/%d", cfg.Index, os.Getpid()),
		Channels:         names,
		Broker:           b,
		HandshakeTimeout: cfg.Tuning.HandshakeTimeout,
		QueueBytes:       cfg.Tuning.QueueBytes,
		MaxConns:         cfg.Tuning.MaxConns,
		MaxBacklog:       cfg.Tuning.MaxBacklog,
		PingInterval:     cfg.Tuning.PingInterval,
		AllowedOrigins:   cfg.Tuning.AllowedOrigins,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		Page:             web.Page(),
		PagePolicy:       web.ContentSecurityPolicy(),
		Logger:           log,
		OnListen: func(addr net.Addr) {
			log.Info("worker listening", "addr", addr.String())
		},
		OnServing: onServing,
		OnDrained: onDrained,
	})
	if err != nil {
		listener.Close()
		return nil, err
	}
	return w, nil
}

// statusWriter writes messages to the status pipe from several goroutines.
// Write errors are ignored: the pipe breaks only when the supervisor is
// gone, and then the parent-death signal stops this process anyway.
type statusWriter struct {
	mu   sync.Mutex
	file *os.File // nil when the descriptor is missing
}

func (w *statusWriter) send(line string) {
	if w.file == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.file.WriteString(line + "\n")
}

func (w *statusWriter) report(r childReport) {
	encoded, err := json.Marshal(r)
	if err != nil {
		return
	}
	w.send(statusStats + " " + string(encoded))
}

// reportEvery sends report() every interval until the returned function is
// called; that function returns once the reporting goroutine has ended.
func (w *statusWriter) reportEvery(interval time.Duration, report func() childReport) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				w.report(report())
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}
