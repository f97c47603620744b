package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait for the follower, where passing runs take
// milliseconds.
const waitTimeout = 10 * time.Second

// watchMode is one of the two ways Follow learns about changes.
type watchMode struct {
	name string
	poll bool
	// interval is the poll period. Under inotify it is long enough that a
	// test passes only if inotify alone delivered the wake-ups.
	interval time.Duration
}

var watchModes = []watchMode{
	{name: "inotify", poll: false, interval: time.Hour},
	{name: "poll", poll: true, interval: 10 * time.Millisecond},
}

// syncBuffer is a bytes.Buffer safe for a log handler and a test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// collector stores the emitted batches.
type collector struct {
	mu      sync.Mutex
	batches []Batch
}

func (c *collector) add(b Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b)
}

func (c *collector) snapshot() []Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Batch(nil), c.batches...)
}

// tokens flattens batches into lines, with each event as "@" plus its name.
func tokens(batches []Batch) []string {
	var out []string
	for _, b := range batches {
		if b.Event != "" {
			out = append(out, "@"+b.Event)
			continue
		}
		out = append(out, b.Lines...)
	}
	return out
}

// run is a Follow call under test, in this process or in a child process.
type run struct {
	collector
	logs    syncBuffer
	readOff chanOffset
	stop    func() error // ends the follower and returns Follow's error
}

// chanOffset holds the latest read offset reported by the follower.
type chanOffset struct {
	mu  sync.Mutex
	off int64
}

func (c *chanOffset) set(off int64) {
	c.mu.Lock()
	c.off = off
	c.mu.Unlock()
}

func (c *chanOffset) get() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off
}

// startFollow runs Follow in a goroutine and stops it at the end of the test.
func startFollow(t *testing.T, opts Options) *run {
	t.Helper()
	r := &run{}
	opts.Logger = slog.New(slog.NewTextHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.afterRead = r.readOff.set

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, opts, func(_ context.Context, b Batch) error {
			r.add(b)
			return nil
		})
	}()

	var once sync.Once
	var result error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(waitTimeout):
				result = errors.New("follow did not return after cancel")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := r.stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
		if t.Failed() {
			t.Logf("follower log:\n%s", r.logs.String())
		}
	})
	return r
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitTokens waits until the emitted lines and events equal want.
func (r *run) waitTokens(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := tokens(r.snapshot())
		if equalStrings(got, want) {
			return
		}
		if len(got) > len(want) || !equalStrings(got, want[:len(got)]) || time.Now().After(deadline) {
			t.Fatalf("emitted %d tokens, want %d\n got: %s\nwant: %s",
				len(got), len(want), abbreviate(got), abbreviate(want))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitLog waits until the follower logged a record containing text.
func (r *run) waitLog(t *testing.T, text string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("log record %q", text), func() bool {
		return strings.Contains(r.logs.String(), text)
	})
}

// waitRead waits until the follower has read the file up to offset.
func (r *run) waitRead(t *testing.T, offset int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("read offset %d", offset), func() bool {
		return r.readOff.get() >= offset
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func abbreviate(s []string) string {
	const keep = 12
	quoted := make([]string, 0, keep+1)
	for i, v := range s {
		if i == keep && len(s) > keep+1 {
			quoted = append(quoted, fmt.Sprintf("... %d more ..., %q", len(s)-keep-1, s[len(s)-1]))
			break
		}
		if len(v) > 60 {
			v = v[:60] + "..."
		}
		quoted = append(quoted, fmt.Sprintf("%q", v))
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// numbered returns lines prefix-1 to prefix-n.
func numbered(prefix string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return lines
}

// joinLines returns lines as file content, each ended by "\n".
func joinLines(lines []string) string {
	return strings.Join(lines, "\n") + "\n"
}

// appendFile appends content to path, creating it if needed.
func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// concat joins token lists.
func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func logPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "app.log")
}

func writeFileBytes(path string, content []byte) error {
	return os.WriteFile(path, content, 0o644)
}
