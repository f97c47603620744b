package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"tailcast/broker"
	"tailcast/relay"
	"tailcast/tail"
	"tailcast/web"
	"tailcast/worker"
)

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
	status := os.NewFile(statusFD, "status")

	switch cfg.Role {
	case RoleTail:
		reportReady(status)
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
		})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err

	case RoleWorker:
		names := make([]string, 0, len(cfg.Files))
		for _, file := range cfg.Files {
			names = append(names, file.Name)
		}
		w, err := worker.New(worker.Options{
			Listen:           cfg.Listen,
			Name:             fmt.Sprintf("%d/%d", cfg.Index, os.Getpid()),
			Channels:         names,
			Broker:           b,
			HandshakeTimeout: cfg.Tuning.HandshakeTimeout,
			QueueBytes:       cfg.Tuning.QueueBytes,
			MaxConns:         cfg.Tuning.MaxConns,
			MaxBacklog:       cfg.Tuning.MaxBacklog,
			PingInterval:     cfg.Tuning.PingInterval,
			ShutdownTimeout:  cfg.ShutdownTimeout,
			Page:             web.Page(),
			PagePolicy:       web.ContentSecurityPolicy(),
			Logger:           log,
			OnListen: func(addr net.Addr) {
				log.Info("worker listening", "addr", addr.String())
			},
		})
		if err != nil {
			return err
		}
		reportReady(status)
		return w.Run(ctx)
	}
	return fmt.Errorf("supervisor: unknown child role %q", cfg.Role)
}

func reportReady(status *os.File) {
	if status == nil {
		return
	}
	_, _ = status.WriteString("ready\n")
}
