package worker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"tailcast/broker"
)

// channel is one followed file's set of subscribers.
type channel struct {
	name string

	mu      sync.RWMutex
	clients []*client
}

func (ch *channel) subscribe(c *client) {
	ch.mu.Lock()
	c.index = len(ch.clients)
	ch.clients = append(ch.clients, c)
	ch.mu.Unlock()
}

func (ch *channel) unsubscribe(c *client) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	i := c.index
	if i < 0 || i >= len(ch.clients) || ch.clients[i] != c {
		return
	}
	last := len(ch.clients) - 1
	ch.clients[i] = ch.clients[last]
	ch.clients[i].index = i
	ch.clients[last] = nil
	ch.clients = ch.clients[:last]
	c.index = -1
}

// hub reads the channels' streams and fans every batch out to the
// subscribers of this worker.
type hub struct {
	opts     Options
	log      *slog.Logger
	broker   *broker.Broker
	poller   *poller
	channels map[string]*channel
	names    []string

	retiredMu sync.Mutex
	retired   []*client

	closingMu sync.Mutex
	closing   map[*client]struct{}

	connections      atomic.Int64
	upgrades         atomic.Uint64
	rejected         [rejectReasons]atomic.Uint64
	slowClosed       atomic.Uint64
	framesSent       atomic.Uint64
	bytesSent        atomic.Uint64
	brokerErrors     atomic.Uint64
	brokerRecoveries atomic.Uint64
	entriesRead      atomic.Uint64
}

func newHub(opts Options, p *poller) *hub {
	h := &hub{
		opts:     opts,
		log:      opts.Logger,
		broker:   opts.Broker,
		poller:   p,
		channels: make(map[string]*channel, len(opts.Channels)),
		closing:  make(map[*client]struct{}),
	}
	for _, name := range opts.Channels {
		h.channels[name] = &channel{name: name}
		h.names = append(h.names, name)
	}
	return h
}

func (h *hub) countSlow()      { h.slowClosed.Add(1) }
func (h *hub) countFrame()     { h.framesSent.Add(1) }
func (h *hub) countSent(n int) { h.bytesSent.Add(uint64(n)) }

// retire records a closed client for removal from its channel. It is called
// with c.mu held, so it must not take the channel lock.
func (h *hub) retire(c *client) {
	h.connections.Add(-1)
	h.retiredMu.Lock()
	h.retired = append(h.retired, c)
	h.retiredMu.Unlock()
	h.closingMu.Lock()
	delete(h.closing, c)
	h.closingMu.Unlock()
}

func (h *hub) trackClosing(c *client) {
	h.closingMu.Lock()
	h.closing[c] = struct{}{}
	h.closingMu.Unlock()
}

// removeRetired unsubscribes the clients closed since the last call. It runs
// without any client lock held.
func (h *hub) removeRetired() {
	h.retiredMu.Lock()
	retired := h.retired
	h.retired = nil
	h.retiredMu.Unlock()
	for _, c := range retired {
		c.channel.unsubscribe(c)
	}
}

// closeOverdue closes clients that did not take their close frame within
// closeGrace.
func (h *hub) closeOverdue(now time.Time) {
	h.closingMu.Lock()
	var overdue []*client
	for c := range h.closing {
		if now.After(c.closeBy) {
			overdue = append(overdue, c)
		}
	}
	h.closingMu.Unlock()

	for _, c := range overdue {
		c.mu.Lock()
		// A client still catching up belongs to its handshake goroutine,
		// which closes it when it hands it over.
		if c.fd >= 0 {
			c.closeLocked()
		}
		c.mu.Unlock()
	}
}

// deliver frames each entry once, queues the frames on every subscriber and
// then flushes each subscriber once.
func (h *hub) deliver(ch *channel, entries []broker.Entry) {
	encoded := make([]frames, 0, len(entries))
	for _, entry := range entries {
		f, err := encodeEntry(ch.name, entry)
		if err != nil {
			h.log.Error("skipping malformed stream entry", "channel", ch.name, "id", entry.ID, "err", err)
			continue
		}
		encoded = append(encoded, f)
	}

	ch.mu.RLock()
	defer ch.mu.RUnlock()
	for _, c := range ch.clients {
		for i := range encoded {
			c.send(&encoded[i])
		}
		c.flush()
	}
}

// run reads every channel's stream after the IDs in after (from startIDs)
// with one blocking XREAD at a time and delivers what arrives, until ctx
// ends. After an error it resumes from the last ID it delivered, so a Redis
// restart neither loses nor repeats a batch.
func (h *hub) run(ctx context.Context, after map[string]string) {
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		res, err := h.broker.Read(ctx, after, h.names, h.opts.ReadCount, h.opts.ReadBlock)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.brokerErrors.Add(1)
			delay := backoff.next()
			h.log.Warn("broker read failed; retrying", "err", err, "retry_in", delay)
			sleepCtx(ctx, delay)
			continue
		}
		if backoff.failures > 0 {
			h.brokerRecoveries.Add(1)
			h.log.Info("broker read recovered", "failures", backoff.failures)
		}
		backoff.reset()

		for name, entries := range res {
			h.deliver(h.channels[name], entries)
			after[name] = entries[len(entries)-1].ID
			h.entriesRead.Add(uint64(len(entries)))
		}
		h.removeRetired()
	}
}

// startIDs returns every channel's newest ID, retrying until Redis responds,
// so live delivery starts with what comes next.
func (h *hub) startIDs(ctx context.Context) map[string]string {
	after := make(map[string]string, len(h.names))
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	for _, name := range h.names {
		for ctx.Err() == nil {
			id, err := h.broker.LastID(ctx, name)
			if err == nil {
				after[name] = id
				break
			}
			h.brokerErrors.Add(1)
			delay := backoff.next()
			h.log.Warn("broker unreachable; retrying", "channel", name, "err", err, "retry_in", delay)
			sleepCtx(ctx, delay)
		}
	}
	if backoff.failures > 0 && ctx.Err() == nil {
		h.brokerRecoveries.Add(1)
	}
	return after
}

// housekeep pings every client each PingInterval (so a dead peer's writes
// fail and proxies keep the connection) and closes overdue closers.
func (h *hub) housekeep(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastPing := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			h.closeOverdue(now)
			h.removeRetired()
			if now.Sub(lastPing) >= h.opts.PingInterval {
				lastPing = now
				h.forEachClient(func(c *client) { c.sendControl(pingFrame) })
			}
		}
	}
}

func (h *hub) forEachClient(fn func(*client)) {
	for _, ch := range h.channels {
		ch.mu.RLock()
		clients := append([]*client(nil), ch.clients...)
		ch.mu.RUnlock()
		for _, c := range clients {
			fn(c)
		}
	}
}

// closeAll sends every client a close frame with code and waits until all
// are closed or deadline passes; then it closes the rest.
func (h *hub) closeAll(code ws.StatusCode, reason string, deadline time.Time) {
	h.forEachClient(func(c *client) {
		c.mu.Lock()
		c.startCloseLocked(code, reason)
		c.mu.Unlock()
	})
	sleepUntil(deadline, func() bool { return h.connections.Load() == 0 })
	h.forEachClient(func(c *client) {
		c.mu.Lock()
		if c.fd >= 0 {
			c.closeLocked()
		}
		c.mu.Unlock()
	})
	h.removeRetired()
}

type backoff struct {
	min, max time.Duration
	current  time.Duration
	failures int
}

func newBackoff(minDelay, maxDelay time.Duration) *backoff {
	return &backoff{min: minDelay, max: maxDelay}
}

func (b *backoff) next() time.Duration {
	b.failures++
	if b.current == 0 {
		b.current = b.min
	} else {
		b.current = min(2*b.current, b.max)
	}
	return b.current
}

func (b *backoff) reset() { b.current, b.failures = 0, 0 }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
