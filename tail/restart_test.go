package tail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var errStoreFailed = errors.New("store failed (injected)")

// store is what the caller of Follow persists: batches and the Position of
// the last one, replaced together.
type store struct {
	mu        sync.Mutex
	lines     []string
	rotations int
	last      Position
}

func (s *store) save(b Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Event == EventRotated {
		s.rotations++
	}
	s.lines = append(s.lines, b.Lines...)
	s.last = b.Position
}

func (s *store) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// TestFollowRestartExactlyOnce stops and restarts Follow many times while a
// writer appends numbered lines in pieces and rotates the file, and checks
// that the stored lines are every number exactly once, in order.
func TestFollowRestartExactlyOnce(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			testRestartExactlyOnce(t, mode)
		})
	}
}

func testRestartExactlyOnce(t *testing.T, mode watchMode) {
	const (
		totalLines  = 3000
		rotateEvery = 1000
		maxAhead    = 150 // lines the writer may be ahead of the store
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	path := logPath(t)
	writeFile(t, path, "")
	start, err := StartOf(path)
	if err != nil {
		t.Fatal(err)
	}
	st := &store{last: start}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writeNumberedLines(t, path, totalLines, rotateEvery, maxAhead, st, rand.New(rand.NewPCG(seed, 1)))
	}()

	deadline := time.Now().Add(waitTimeout)
	runs := 0
	for st.count() < totalLines {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d lines after %d runs", st.count(), totalLines, runs)
		}
		runs++
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		budget := 1 + rng.IntN(12) // batches this run stores before it is stopped
		last := st.last
		opts := Options{
			Path:          path,
			Start:         &last,
			Poll:          mode.poll,
			PollInterval:  mode.interval,
			MaxBatchBytes: 200,
			Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		err := Follow(ctx, opts, func(_ context.Context, b Batch) error {
			if rng.IntN(10) == 0 {
				return errStoreFailed
			}
			st.save(b)
			budget--
			if budget == 0 || st.count() == totalLines {
				cancel()
			}
			return nil
		})
		cancel()
		if !errors.Is(err, context.Canceled) && !errors.Is(err, errStoreFailed) {
			t.Fatalf("run %d: Follow returned %v", runs, err)
		}
	}
	<-writerDone

	st.mu.Lock()
	defer st.mu.Unlock()
	for i, line := range st.lines {
		if want := fmt.Sprintf("n=%06d", i+1); line != want {
			t.Fatalf("stored line %d is %q, want %q (%d runs)", i, line, want, runs)
		}
	}
	if len(st.lines) != totalLines {
		t.Fatalf("stored %d lines, want %d", len(st.lines), totalLines)
	}
	if want := totalLines/rotateEvery - 1; st.rotations != want {
		t.Errorf("stored %d rotated events, want %d", st.rotations, want)
	}
	t.Logf("%d runs", runs)
}

// writeNumberedLines appends lines n=000001 and on to path, cutting them
// into writes at random places, and renames the file to path.K every
// rotateEvery lines. It stays at most maxAhead lines ahead of the store, and
// rotates only once the store has every line written, since a file renamed
// twice while no follower runs is skipped.
func writeNumberedLines(t *testing.T, path string, total, rotateEvery, maxAhead int, st *store, rng *rand.Rand) {
	writer, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer func() { writer.Close() }()

	waitStored := func(n int) bool {
		deadline := time.Now().Add(waitTimeout)
		for st.count() < n {
			if time.Now().After(deadline) {
				t.Errorf("writer: store stuck at %d lines, waiting for %d", st.count(), n)
				return false
			}
			time.Sleep(time.Millisecond)
		}
		return true
	}

	var pending strings.Builder
	for n := 1; n <= total; n++ {
		if !waitStored(n - maxAhead) {
			return
		}
		pending.WriteString("n=" + fmt.Sprintf("%06d", n) + "\n")
		// Write a random prefix of what is pending, so writes end anywhere.
		if rng.IntN(3) > 0 || n == total || n%rotateEvery == 0 {
			data := pending.String()
			cut := len(data)
			if n%rotateEvery != 0 && n != total {
				cut = rng.IntN(len(data) + 1)
			}
			if _, err := writer.WriteString(data[:cut]); err != nil {
				t.Error(err)
				return
			}
			pending.Reset()
			pending.WriteString(data[cut:])
		}
		if n%rotateEvery == 0 && n < total {
			if !waitStored(n) {
				return
			}
			writer.Close()
			if err := os.Rename(path, path+"."+strconv.Itoa(n/rotateEvery)); err != nil {
				t.Error(err)
				return
			}
			writer, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
		}
	}
}
