package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Batch is one JSON frame of the wire contract.
type Batch struct {
	Channel string   `json:"channel"`
	ID      string   `json:"id"`
	Lines   []string `json:"lines"`
	Event   string   `json:"event"`
}

// Client is a real WebSocket client that records every batch it receives.
type Client struct {
	URL    string
	Worker string // X-Tailcast-Worker of the handshake response: "index/pid"
	conn   net.Conn
	// stream reads the bytes that followed the handshake response: those
	// the dialer buffered, then conn.
	stream io.ReadWriter

	mu        sync.Mutex
	batches   []Batch
	lines     []string
	closeCode ws.StatusCode
	closeText string
	err       error
	done      chan struct{}
}

// Dial connects to url and starts reading in the background.
func Dial(t testing.TB, url string) *Client {
	t.Helper()
	c, err := DialErr(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c
}

// DialErr connects like Dial but returns the error.
func DialErr(url string) (*Client, error) {
	return DialWith(ws.Dialer{Timeout: 10 * time.Second}, url)
}

// DialWith connects with dialer, for example through a proxy's socket, and
// starts reading in the background. The caller closes the client.
func DialWith(dialer ws.Dialer, url string) (*Client, error) {
	c := &Client{URL: url, done: make(chan struct{})}
	dialer.OnHeader = func(key, value []byte) error {
		if strings.EqualFold(string(key), "X-Tailcast-Worker") {
			c.Worker = string(value)
		}
		return nil
	}
	conn, br, _, err := dialer.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	c.stream = conn
	if br != nil {
		// The server writes history right after its 101 response, so the
		// dialer may have read the first frames already.
		c.stream = struct {
			io.Reader
			io.Writer
		}{io.MultiReader(br, conn), conn}
	}
	go c.read()
	return c, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		frame, op, err := wsutil.ReadServerData(c.stream)
		if err != nil {
			c.mu.Lock()
			var closed wsutil.ClosedError
			if ok := asClosed(err, &closed); ok {
				c.closeCode, c.closeText = closed.Code, closed.Reason
			}
			c.err = err
			c.mu.Unlock()
			return
		}
		if op != ws.OpText {
			continue
		}
		var batch Batch
		if err := json.Unmarshal(frame, &batch); err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("frame is not JSON: %q: %w", frame, err)
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.batches = append(c.batches, batch)
		c.lines = append(c.lines, batch.Lines...)
		c.mu.Unlock()
	}
}

func asClosed(err error, target *wsutil.ClosedError) bool {
	closed, ok := err.(wsutil.ClosedError)
	if ok {
		*target = closed
	}
	return ok
}

// Lines returns every line received so far.
func (c *Client) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Batches returns every batch received so far.
func (c *Client) Batches() []Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Batch(nil), c.batches...)
}

// LastID returns the ID of the last batch received, or "".
func (c *Client) LastID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.batches) == 0 {
		return ""
	}
	return c.batches[len(c.batches)-1].ID
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// CloseCode returns the close code the server sent, or 0.
func (c *Client) CloseCode() ws.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// Err returns why reading stopped, or nil while it goes on.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection without a close handshake.
func (c *Client) Close() {
	if c.conn != nil {
		c.conn.Close()
	}
}
