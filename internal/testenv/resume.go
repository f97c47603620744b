package testenv

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// ResumingClient reconnects whenever its connection ends, with since= the
// last ID it received, the way a client that must not lose lines behaves.
type ResumingClient struct {
	base string

	mu       sync.Mutex
	lines    []string
	lastID   string
	workers  []string
	dials    int
	stop     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
}

// DialResuming connects to base (a ws:// URL without since) and keeps the
// stream going until the test ends.
func DialResuming(t testing.TB, base string) *ResumingClient {
	t.Helper()
	r := &ResumingClient{base: base, stop: make(chan struct{}), stopped: make(chan struct{})}
	first := Dial(t, base)
	r.workers, r.dials = []string{first.Worker}, 1
	go r.run(first)
	t.Cleanup(r.Close)
	return r
}

func (r *ResumingClient) run(c *Client) {
	defer close(r.stopped)
	for {
		seen := 0
		for {
			select {
			case <-r.stop:
				c.Close()
				return
			case <-c.Done():
			case <-time.After(5 * time.Millisecond):
			}
			batches := c.Batches()
			r.mu.Lock()
			for _, b := range batches[seen:] {
				r.lines = append(r.lines, b.Lines...)
				r.lastID = b.ID
			}
			r.mu.Unlock()
			seen = len(batches)
			if isDone(c) {
				break
			}
		}

		// Reconnect until a worker accepts; the supervisor may be
		// restarting the one that served us.
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			next, err := DialErr(r.resumeURL())
			if err == nil {
				c = next
				r.mu.Lock()
				r.workers = append(r.workers, c.Worker)
				r.dials++
				r.mu.Unlock()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func isDone(c *Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

func (r *ResumingClient) resumeURL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastID == "" {
		return r.base
	}
	sep := "?"
	if strings.Contains(r.base, "?") {
		sep = "&"
	}
	return r.base + sep + "since=" + url.QueryEscape(r.lastID)
}

// Lines returns every line received over all connections.
func (r *ResumingClient) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// Dials returns how many connections the client made.
func (r *ResumingClient) Dials() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dials
}

// Workers returns the X-Tailcast-Worker of each connection, in order.
func (r *ResumingClient) Workers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.workers...)
}

// Close stops reconnecting and closes the connection.
func (r *ResumingClient) Close() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.stopped
}
