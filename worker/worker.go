// Package worker serves WebSocket clients on a port shared with the other
// workers through SO_REUSEPORT. It upgrades connections with gobwas/ws on
// the raw connection and reads the channels' streams from the broker with
// one blocking read. Each batch is encoded once and queued for every client,
// in queues bounded in bytes.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/libp2p/go-reuseport"

	"tailcast/broker"
)

// Options configures a Worker. Zero fields get the defaults named on them.
type Options struct {
	Listen   string         // host:port shared with the other workers; required unless Listener is set
	Channels []string       // channel names served; required
	Broker   *broker.Broker // required

	HandshakeTimeout time.Duration // whole HTTP request and upgrade; default 5 s
	WriteTimeout     time.Duration // one history write during catch-up; default 10 s
	QueueBytes       int           // per-client queue limit; default 1 MiB
	MaxConns         int           // per worker; 0 means no limit
	MaxBacklog       int           // largest backlog=N accepted; default 10000 lines
	PingInterval     time.Duration // server pings; default 30 s
	ReadCount        int64         // entries per channel per XREAD; default 512
	ReadBlock        time.Duration // XREAD BLOCK; default 2 s
	ShutdownTimeout  time.Duration // time to deliver close frames on stop; default 5 s

	// Name identifies this worker in the X-Tailcast-Worker header of every
	// handshake response, so a client can tell which process serves it.
	Name string
	// Page is served at GET /; nil serves a plain list of channels.
	Page []byte
	// AllowedOrigins lists the browser origins (such as
	// "https://dash.example.com") that may open a stream besides the
	// server's own; "*" allows every origin. Requests without an Origin
	// header, which non-browser clients send, are always allowed.
	AllowedOrigins []string
	// PagePolicy, if set, is sent with Page as its Content-Security-Policy.
	PagePolicy string
	// Logger receives lifecycle and error logs; nil means slog.Default().
	Logger *slog.Logger
	// OnListen, if set, is called once the listener is bound.
	OnListen func(addr net.Addr)
	// OnServing, if set, is called from Run once the worker accepts
	// connections. That waits until the broker is reachable.
	OnServing func()
	// OnDrained, if set, is called from Run once the worker has stopped
	// accepting and closed every client, before Run cleans up and returns.
	OnDrained func()
	// Listener, if set, is served instead of binding Listen; the Worker
	// closes it when it stops. The supervisor passes each worker an
	// inherited socket this way, so a replacement worker can accept on the
	// same socket before the old one stops.
	Listener net.Listener
}

func (o *Options) setDefaults() {
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = 1 << 20
	}
	if o.MaxBacklog == 0 {
		o.MaxBacklog = 10000
	}
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.ReadCount == 0 {
		o.ReadCount = 512
	}
	if o.ReadBlock == 0 {
		o.ReadBlock = 2 * time.Second
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Worker is one serving process's listener and clients.
type Worker struct {
	opts     Options
	log      *slog.Logger
	hub      *hub
	poller   *poller
	listener net.Listener

	handshakes sync.WaitGroup
	connsMu    sync.Mutex
	inFlight   map[net.Conn]struct{}
	stopping   bool
}

// New checks opts and binds the shared port. The caller must call Run, or
// Close to release the port.
func New(opts Options) (*Worker, error) {
	opts.setDefaults()
	if opts.Broker == nil {
		return nil, errors.New("worker: no broker given")
	}
	if len(opts.Channels) == 0 {
		return nil, errors.New("worker: no channels given")
	}

	listener := opts.Listener
	if listener == nil {
		var err error
		listener, err = reuseport.Listen("tcp", opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("worker: listen on %s: %w", opts.Listen, err)
		}
	}
	p, err := newPoller()
	if err != nil {
		listener.Close()
		return nil, fmt.Errorf("worker: create epoll instance: %w", err)
	}
	w := &Worker{
		opts:     opts,
		log:      opts.Logger,
		poller:   p,
		listener: listener,
		inFlight: make(map[net.Conn]struct{}),
	}
	w.hub = newHub(opts, p)
	if opts.OnListen != nil {
		opts.OnListen(listener.Addr())
	}
	return w, nil
}

// Addr returns the listener's address.
func (w *Worker) Addr() net.Addr { return w.listener.Addr() }

// Stats returns the worker's counters.
func (w *Worker) Stats() Stats { return w.hub.stats() }

// Run serves until ctx ends, then stops accepting, completes the handshakes
// of the connections it accepted, sends every client close 1001 (going
// away) and returns within ShutdownTimeout. A connection still in the
// listener's queue is left to other processes that share the socket.
func (w *Worker) Run(ctx context.Context) error {
	hubCtx, stopHub := context.WithCancel(context.Background())
	defer stopHub()

	var background sync.WaitGroup
	stopPoller := make(chan struct{})
	pollErr := make(chan error, 1)
	background.Go(func() { pollErr <- w.poller.run(stopPoller) })
	background.Go(func() { w.hub.housekeep(hubCtx) })

	// Live delivery starts after each channel's newest ID. A client that
	// subscribed before those IDs were read would miss the entries stored
	// between its catch-up and that read, so accepting waits for them.
	// Meanwhile connections wait in the listener's queue, or go to the
	// other processes that share the socket.
	after := w.hub.startIDs(ctx)
	acceptDone := make(chan error, 1)
	acceptRunning := false
	if ctx.Err() == nil {
		background.Go(func() { w.hub.run(hubCtx, after) })
		acceptRunning = true
		go func() { acceptDone <- w.acceptLoop() }()
		if w.opts.OnServing != nil {
			w.opts.OnServing()
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-acceptDone:
		acceptRunning = false
		runErr = fmt.Errorf("worker: accept: %w", err)
	case err := <-pollErr:
		runErr = fmt.Errorf("worker: epoll: %w", err)
	}

	w.log.Info("worker stopping", "clients", w.hub.connections.Load())
	deadline := time.Now().Add(w.opts.ShutdownTimeout)
	w.listener.Close()
	if acceptRunning {
		// Every connection accepted before the close gets its handshake
		// served: closing it unanswered would fail a client during a
		// reload, when the replacement already accepts on the same socket.
		<-acceptDone
	}
	w.abortHandshakes(deadline)
	w.handshakes.Wait()
	w.hub.closeAll(ws.StatusGoingAway, "server shutting down", deadline)
	if w.opts.OnDrained != nil {
		w.opts.OnDrained()
	}

	stopHub()
	close(stopPoller)
	// This waits for the hub's blocking read in flight, so Run can return
	// up to ReadBlock after OnDrained.
	background.Wait()
	w.poller.close()
	return runErr
}

// Close releases the port of a Worker that never ran.
func (w *Worker) Close() error {
	w.poller.close()
	return w.listener.Close()
}

func (w *Worker) acceptLoop() error {
	var delay time.Duration
	for {
		conn, err := w.listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and friends pass; back off instead of spinning.
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() || isTemporaryAcceptError(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				w.log.Warn("accept failed; retrying", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0

		if !w.trackHandshake(conn) {
			conn.Close()
			continue
		}
		w.handshakes.Go(func() {
			defer w.untrackHandshake(conn)
			w.serveConn(conn)
		})
	}
}

func (w *Worker) trackHandshake(conn net.Conn) bool {
	w.connsMu.Lock()
	defer w.connsMu.Unlock()
	if w.stopping {
		return false
	}
	w.inFlight[conn] = struct{}{}
	return true
}

func (w *Worker) untrackHandshake(conn net.Conn) {
	w.connsMu.Lock()
	delete(w.inFlight, conn)
	w.connsMu.Unlock()
}

// abortHandshakes cuts every handshake and catch-up still running at
// deadline, so shutdown never waits on a stalled peer.
func (w *Worker) abortHandshakes(deadline time.Time) {
	w.connsMu.Lock()
	defer w.connsMu.Unlock()
	w.stopping = true
	for conn := range w.inFlight {
		_ = conn.SetDeadline(deadline)
	}
}
