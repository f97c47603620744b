package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

const (
	maxErrorKinds  = 20 // distinct dial errors, events or disconnects kept
	maxExamples    = 10 // clients described in Problems
	drainPollEvery = 20 * time.Millisecond
)

// groupConfig is the configuration of a group of clients in one process.
// A child process receives it over its command pipe.
type groupConfig struct {
	URL             string // with the format query parameter set
	Format          Format
	RunID           string
	FirstIndex      int // index of the group's first client in the run
	Conns           int
	DialConcurrency int
	DialTimeout     time.Duration
	SourceAddrs     []string // local IPs to dial from, round robin; none: any
	ReportInterval  time.Duration
	LogLevel        slog.Level
}

type commandKind uint8

const (
	commandStart  commandKind = iota + 1 // Config set: dial the clients
	commandFinish                        // wait for LastSeq, at most Drain
	commandClose                         // close the clients, send the final report
)

// command is a message from the parent to a group.
type command struct {
	Kind    commandKind
	Config  groupConfig
	LastSeq uint64
	Drain   time.Duration
}

type reportKind uint8

const (
	reportProgress reportKind = iota + 1
	reportDrained             // every client has LastSeq or the drain time is over
	reportFinal               // Result set; the group has ended
)

// groupReport is a message from a group to the parent. Counts are running
// totals, except Latency, which covers the lines since the previous report.
type groupReport struct {
	Kind         reportKind
	Time         time.Time
	Connected    int
	Failed       int
	Ready        int
	Disconnected int
	Deliveries   uint64
	Latency      histogramWire
	DrainTimeout bool // drained report: some client still lacked the last line
	Result       *groupResult
	Err          string // reason a child process ended without a final report
}

// groupResult is the final account of a group.
type groupResult struct {
	Dial          histogramWire // TCP connect
	Handshake     histogramWire // WebSocket upgrade after the connect
	FirstDial     time.Time
	LastConnected time.Time
	LastDelivery  time.Time
	DialErrors    map[string]int
	Disconnects   map[string]int
	Events        map[string]int
	Malformed     uint64
	Frames        uint64
	Bytes         uint64
	Lost          uint64
	Repeated      uint64
	Reordered     uint64
	BadClients    int // clients with a lost, repeated or reordered line
	Unready       int // clients that never received a line of this run
	Examples      []string
}

// latencyShard collects the counts of many read loops under one of
// several locks, so that they rarely wait for each other.
type latencyShard struct {
	mu        sync.Mutex
	latency   Histogram // since the last progress report
	frames    uint64
	delivered uint64
	bytes     uint64
	_         [64]byte // keeps neighbouring locks off one cache line
}

// take moves the counts since the previous call out of the shard.
func (s *latencyShard) take(latency *Histogram) (frames, delivered, bytes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latency.Merge(&s.latency)
	s.latency.Reset()
	frames, delivered, bytes = s.frames, s.delivered, s.bytes
	s.frames, s.delivered, s.bytes = 0, 0, 0
	return frames, delivered, bytes
}

// group runs the clients of one process: it dials them, sends progress, and
// on command waits for the last line and closes them.
type group struct {
	cfg       groupConfig
	format    Format
	parser    stampParser
	logger    *slog.Logger
	emit      func(groupReport)
	wsDialers []ws.Dialer

	clients  []client
	dialed   []atomic.Bool // dialed[i]: clients[i].conn is set
	workers  sync.WaitGroup
	stopping atomic.Bool

	shards [16]latencyShard

	deliveries atomic.Uint64
	frames     atomic.Uint64
	bytes      atomic.Uint64
	malformed  atomic.Uint64
	connected  atomic.Int64
	failed     atomic.Int64

	mu            sync.Mutex // guards the fields below
	dial          Histogram
	handshake     Histogram
	dialErrors    map[string]int
	events        map[string]int
	firstDial     time.Time
	lastConnected time.Time
}

func newGroup(cfg groupConfig, logger *slog.Logger, emit func(groupReport)) *group {
	g := &group{
		cfg:        cfg,
		format:     cfg.Format,
		parser:     newStampParser(cfg.RunID),
		logger:     logger,
		emit:       emit,
		wsDialers:  newDialers(cfg.SourceAddrs, cfg.DialTimeout),
		clients:    make([]client, cfg.Conns),
		dialed:     make([]atomic.Bool, cfg.Conns),
		dialErrors: map[string]int{},
		events:     map[string]int{},
	}
	for i := range g.clients {
		g.clients[i].index = cfg.FirstIndex + i
	}
	return g
}

// run dials the clients and serves commands until commandClose or until
// commands is closed, and emits the final report before it returns.
func (g *group) run(ctx context.Context, commands <-chan command) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	g.workers.Add(1)
	go g.dialAll(ctx)

	ticker := time.NewTicker(g.cfg.ReportInterval)
	defer ticker.Stop()
	var lastSeq uint64
	for {
		select {
		case <-ticker.C:
			g.emit(g.progress(reportProgress))
		case cmd, ok := <-commands:
			if !ok || cmd.Kind == commandClose {
				cancel()
				g.stopAll()
				report := g.progress(reportFinal)
				report.Result = g.result(lastSeq)
				g.emit(report)
				return
			}
			if cmd.Kind == commandFinish {
				lastSeq = cmd.LastSeq
				complete := g.waitDrained(ctx, ticker, lastSeq, cmd.Drain)
				report := g.progress(reportDrained)
				report.DrainTimeout = !complete
				g.emit(report)
			}
		}
	}
}

// dialAll dials every client, at most DialConcurrency at a time, and starts
// the read loop of each that connects.
func (g *group) dialAll(ctx context.Context) {
	defer g.workers.Done()

	slots := make(chan struct{}, max(g.cfg.DialConcurrency, 1))
	for i := range g.clients {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			g.failed.Add(int64(len(g.clients) - i))
			g.countDialError("canceled before dial")
			return
		}

		g.workers.Add(1)
		go func(i int) {
			defer g.workers.Done()
			initial, ok := g.dialClient(ctx, i)
			<-slots
			if ok {
				g.clients[i].readLoop(g, initial)
			}
		}(i)
	}
}

// dialClient connects client i and reports whether it succeeded. initial
// holds bytes that the server sent right after the handshake.
func (g *group) dialClient(ctx context.Context, i int) (initial []byte, ok bool) {
	c := &g.clients[i]
	dialer := g.wsDialers[c.index%len(g.wsDialers)]
	netDial := dialer.NetDial
	var connected time.Time
	dialer.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := netDial(ctx, network, addr)
		connected = time.Now()
		return conn, err
	}

	start := time.Now()
	conn, reader, _, err := dialer.Dial(ctx, g.cfg.URL)
	done := time.Now()

	g.mu.Lock()
	if g.firstDial.IsZero() || start.Before(g.firstDial) {
		g.firstDial = start
	}
	if err == nil {
		g.dial.Record(connected.Sub(start))
		g.handshake.Record(done.Sub(connected))
		g.lastConnected = done
	}
	g.mu.Unlock()

	if err != nil {
		g.failed.Add(1)
		g.countDialError(classifyDialError(err))
		g.logger.Debug("bench dial failed", "client", c.index, "err", err)
		return nil, false
	}
	if reader != nil {
		buffered, _ := reader.Peek(reader.Buffered())
		initial = append([]byte(nil), buffered...)
		ws.PutReader(reader)
	}
	c.conn = conn
	g.dialed[i].Store(true)
	g.connected.Add(1)
	// stopAll sets stopping before it scans dialed, and this order is the
	// reverse, so a client that connects during stopAll is stopped by one
	// of the two.
	if g.stopping.Load() {
		c.stop()
	}
	return initial, true
}

// waitDrained waits until every connected client has received lastSeq or
// has disconnected, and reports whether that happened before drain passed.
// It keeps emitting progress.
func (g *group) waitDrained(ctx context.Context, ticker *time.Ticker, lastSeq uint64, drain time.Duration) bool {
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	poll := time.NewTicker(drainPollEvery)
	defer poll.Stop()

	for !g.drained(lastSeq) {
		select {
		case <-poll.C:
		case <-ticker.C:
			g.emit(g.progress(reportProgress))
		case <-deadline.C:
			return g.drained(lastSeq)
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (g *group) drained(lastSeq uint64) bool {
	for i := range g.clients {
		c := &g.clients[i]
		if g.dialed[i].Load() && !c.closed.Load() && c.highest.Load() < lastSeq {
			return false
		}
	}
	return true
}

// stopAll stops every read loop and pending dial and waits for them.
func (g *group) stopAll() {
	g.stopping.Store(true)
	for i := range g.clients {
		if g.dialed[i].Load() {
			g.clients[i].stop()
		}
	}
	g.workers.Wait()
}

// progress returns a report of the running totals and takes the latency
// recorded since the previous report out of the shards.
func (g *group) progress(kind reportKind) groupReport {
	var interval Histogram
	for i := range g.shards {
		frames, delivered, bytes := g.shards[i].take(&interval)
		g.frames.Add(frames)
		g.deliveries.Add(delivered)
		g.bytes.Add(bytes)
	}

	report := groupReport{
		Kind:       kind,
		Time:       time.Now(),
		Connected:  int(g.connected.Load()),
		Failed:     int(g.failed.Load()),
		Deliveries: g.deliveries.Load(),
	}
	if interval.Count() > 0 {
		report.Latency = interval.wire()
	}
	for i := range g.clients {
		c := &g.clients[i]
		if !g.dialed[i].Load() {
			continue
		}
		if c.ready.Load() {
			report.Ready++
		}
		if c.closed.Load() && c.disconnect != "" {
			report.Disconnected++
		}
	}
	return report
}

// result returns the final account; the read loops must have ended.
func (g *group) result(lastSeq uint64) *groupResult {
	g.mu.Lock()
	defer g.mu.Unlock()

	res := &groupResult{
		Dial:          g.dial.wire(),
		Handshake:     g.handshake.wire(),
		FirstDial:     g.firstDial,
		LastConnected: g.lastConnected,
		DialErrors:    g.dialErrors,
		Disconnects:   map[string]int{},
		Events:        g.events,
		Malformed:     g.malformed.Load(),
		Frames:        g.frames.Load(),
		Bytes:         g.bytes.Load(),
	}
	var lastDelivery int64
	for i := range g.clients {
		c := &g.clients[i]
		if !g.dialed[i].Load() {
			continue
		}
		if c.disconnect != "" {
			countKind(res.Disconnects, c.disconnect)
		}
		if !c.ready.Load() && lastSeq > 0 {
			res.Unready++
		}
		lastDelivery = max(lastDelivery, c.lastDelivery)

		lost := c.order.lost(lastSeq)
		res.Lost += lost
		res.Repeated += c.order.repeated
		res.Reordered += c.order.reordered
		if lost == 0 && c.order.repeated == 0 && c.order.reordered == 0 {
			continue
		}
		res.BadClients++
		if len(res.Examples) < maxExamples {
			res.Examples = append(res.Examples, describeClient(c, lastSeq))
		}
	}
	if lastDelivery > 0 {
		res.LastDelivery = time.Unix(0, lastDelivery)
	}
	return res
}

// describeClient returns one line about a client's delivery problems.
func describeClient(c *client, lastSeq uint64) string {
	text := fmt.Sprintf("client %d: lost %d, repeated %d, reordered %d",
		c.index, c.order.lost(lastSeq), c.order.repeated, c.order.reordered)
	if missing := c.order.missingRanges(lastSeq, 3); len(missing) > 0 {
		text += "; missing seq"
		for _, r := range missing {
			text += " " + strconv.FormatUint(r.first, 10)
			if r.last != r.first {
				text += "-" + strconv.FormatUint(r.last, 10)
			}
		}
	}
	if c.disconnect != "" {
		text += "; disconnected: " + c.disconnect
	}
	return text
}

func (g *group) countDialError(kind string) {
	g.mu.Lock()
	countKind(g.dialErrors, kind)
	g.mu.Unlock()
}

func (g *group) countEvent(event string) {
	g.mu.Lock()
	countKind(g.events, event)
	g.mu.Unlock()
}

// countKind increments counts[kind], folding kinds past maxErrorKinds into
// "other" so that a flood of distinct messages cannot grow the map.
func countKind(counts map[string]int, kind string) {
	if _, ok := counts[kind]; !ok && len(counts) >= maxErrorKinds {
		kind = "other"
	}
	counts[kind]++
}
