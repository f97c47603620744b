package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Writer appends numbered lines ("PREFIX-000001") to a file at a steady
// rate from its own goroutine, for a bounded count.
type Writer struct {
	Path   string
	Prefix string

	mu      sync.Mutex
	written int
	done    chan struct{}
}

// StartWriter appends count lines to path, one every interval.
func StartWriter(t testing.TB, path, prefix string, count int, interval time.Duration) *Writer {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{Path: path, Prefix: prefix, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer f.Close()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 1; i <= count; i++ {
			if _, err := fmt.Fprintf(f, "%s\n", NumberedLine(prefix, i)); err != nil {
				return
			}
			w.mu.Lock()
			w.written = i
			w.mu.Unlock()
			<-tick.C
		}
	}()
	return w
}

// NumberedLine returns the i-th line a Writer with prefix appends.
func NumberedLine(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) }

// NumberedLines returns lines 1 to count.
func NumberedLines(prefix string, count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = NumberedLine(prefix, i+1)
	}
	return out
}

// Written returns how many lines were appended so far.
func (w *Writer) Written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Wait blocks until every line is written.
func (w *Writer) Wait() { <-w.done }
