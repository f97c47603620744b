package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminServer serves /metrics, /healthz and /readyz for operators and
// monitoring, apart from the clients' port.
type adminServer struct {
	server *http.Server
	done   chan struct{}
}

// startAdmin binds addr and serves the admin endpoint in the background.
func (s *Supervisor) startAdmin(addr string) (*adminServer, error) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("admin endpoint: listen on %s: address already in use; pick another --admin address, or --admin off", addr)
		}
		return nil, fmt.Errorf("admin endpoint: listen on %s: %w", addr, err)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collector{sup: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorLog: promErrorLog{s},
	}))
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)

	admin := &adminServer{
		server: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(admin.done)
		if err := admin.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin endpoint failed", "err", err)
		}
	}()
	s.log.Info("admin listening", "addr", listener.Addr().String())
	return admin, nil
}

func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.server.Shutdown(ctx)
	<-a.done
}

// serveHealth responds 200 while the supervisor runs and 503 once it stops.
func (s *Supervisor) serveHealth(w http.ResponseWriter, _ *http.Request) {
	if s.isStopping() {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// serveReady responds 200 once every child reported ready at start, while
// at least one worker accepts connections and the supervisor is not
// stopping. The body is the status line either way.
func (s *Supervisor) serveReady(w http.ResponseWriter, _ *http.Request) {
	readyWorkers := 0
	for _, sl := range s.slots() {
		if sl.role == RoleWorker && sl.isReady() {
			readyWorkers++
		}
	}
	s.mu.Lock()
	ready := s.ready && !s.stopping && readyWorkers > 0
	s.mu.Unlock()
	if !ready {
		http.Error(w, s.statusText(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, s.statusText())
}

// promErrorLog passes the metrics handler's errors to the rate-limited log.
type promErrorLog struct{ sup *Supervisor }

func (l promErrorLog) Println(v ...any) {
	l.sup.limitedLog.Error("metrics scrape failed", "err", fmt.Sprint(v...))
}
