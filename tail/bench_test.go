package tail

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// splitterInputs are about 1 MiB each of typical and hard splitter input.
var splitterInputs = []struct {
	name    string
	content func() []byte
}{
	{"short lines", func() []byte {
		return bytes.Repeat([]byte("2024-12-04T19:50:00Z INFO request served path=/api/items status=200 bytes=5120\n"), 13000)
	}},
	{"crlf lines", func() []byte {
		return bytes.Repeat([]byte("2024-12-04T19:50:00Z INFO request served path=/api/items status=200\r\n"), 14000)
	}},
	{"invalid utf-8", func() []byte {
		return bytes.Repeat([]byte("latin-1 caf\xe9 and stray \xff\xfe bytes in a line of log output\n"), 18000)
	}},
	{"multibyte", func() []byte {
		return bytes.Repeat([]byte("журнал 日志 ログ: ошибка 404 — ページが見つかりません\n"), 13000)
	}},
	{"long lines cut", func() []byte {
		return []byte(strings.Repeat(strings.Repeat("x", 200<<10)+"\n", 5))
	}},
}

// BenchmarkSplitter measures line splitting alone, in reads of the
// follower's buffer size.
func BenchmarkSplitter(b *testing.B) {
	for _, input := range splitterInputs {
		b.Run(input.name, func(b *testing.B) {
			data := input.content()
			s := newSplitter(DefaultMaxLineBytes)
			lines := 0
			onLine := func(string, int) error {
				lines++
				return nil
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				for chunk := range slicesOf(data, readBufferBytes) {
					if err := s.write(chunk, onLine); err != nil {
						b.Fatal(err)
					}
				}
			}
			if lines == 0 {
				b.Fatal("no lines split")
			}
		})
	}
}

// slicesOf yields data in pieces of at most n bytes.
func slicesOf(data []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			k := min(n, len(data))
			if !yield(data[:k]) {
				return
			}
			data = data[k:]
		}
	}
}

// BenchmarkFollowFile measures reading a file that is already written, from
// byte 0 to the last line, through Follow with its default batch limits.
func BenchmarkFollowFile(b *testing.B) {
	data := splitterInputs[0].content()
	path := logPath(b)
	if err := writeFileBytes(path, bytes.Repeat(data, 8)); err != nil {
		b.Fatal(err)
	}
	wantLines := 8 * bytes.Count(data, []byte("\n"))
	start, err := StartOf(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(8 * len(data)))
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		lines := 0
		err := Follow(ctx, Options{Path: path, Start: &start, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
			func(_ context.Context, batch Batch) error {
				lines += len(batch.Lines)
				if lines == wantLines {
					cancel()
				}
				return nil
			})
		cancel()
		if lines != wantLines {
			b.Fatalf("Follow returned %v after %d lines, want %d", err, lines, wantLines)
		}
	}
}

// BenchmarkFollowLatency measures the time from appending one line to its
// batch being emitted, under inotify and under polling every 10 ms. With
// the default MaxBatchDelay a lone line waits that delay for company.
func BenchmarkFollowLatency(b *testing.B) {
	for _, c := range []struct {
		mode  watchMode
		delay time.Duration
	}{
		{watchMode{name: "inotify", interval: time.Hour}, 0},
		{watchMode{name: "inotify no batch delay", interval: time.Hour}, time.Nanosecond},
		{watchMode{name: "poll 10ms", poll: true, interval: 10 * time.Millisecond}, 0},
	} {
		mode := c.mode
		b.Run(mode.name, func(b *testing.B) {
			path := logPath(b)
			if err := writeFileBytes(path, nil); err != nil {
				b.Fatal(err)
			}
			start, err := StartOf(path)
			if err != nil {
				b.Fatal(err)
			}
			writer, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer writer.Close()

			emitted := make(chan struct{}, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				opts := Options{Path: path, Start: &start, Poll: mode.poll, PollInterval: mode.interval,
					MaxBatchDelay: c.delay, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
				done <- Follow(ctx, opts, func(context.Context, Batch) error {
					emitted <- struct{}{}
					return nil
				})
			}()
			defer func() {
				cancel()
				<-done
			}()

			for b.Loop() {
				if _, err := writer.WriteString("a log line of a typical length, about eighty bytes long....\n"); err != nil {
					b.Fatal(err)
				}
				select {
				case <-emitted:
				case <-time.After(waitTimeout):
					b.Fatal("line not emitted")
				}
			}
		})
	}
}
