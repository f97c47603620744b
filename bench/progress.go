package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

const progressEvery = 250 * time.Millisecond

// StatusLine is a live status line on a terminal. Its Write method lets
// log output pass: it clears the line, writes, and draws the line again, so
// logs and the line do not mix. It is safe for concurrent use.
type StatusLine struct {
	mu   sync.Mutex
	out  io.Writer
	text string
}

// NewStatusLine returns a status line that draws on out, which should be a
// terminal because the line is redrawn with a carriage return and an ANSI
// erase-line sequence.
func NewStatusLine(out io.Writer) *StatusLine {
	return &StatusLine{out: out}
}

const eraseLine = "\r\x1b[K"

// Write writes p above the status line.
func (s *StatusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		io.WriteString(s.out, eraseLine)
	}
	n, err := s.out.Write(p)
	if s.text != "" {
		io.WriteString(s.out, s.text)
	}
	return n, err
}

func (s *StatusLine) set(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text = text
	io.WriteString(s.out, eraseLine+text)
}

// Clear erases the line and stops drawing it until the next update.
func (s *StatusLine) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		io.WriteString(s.out, eraseLine)
	}
	s.text = ""
}

// startProgress redraws opts.Progress until the returned function is
// called; without a status line it does nothing.
func (r *runner) startProgress() (stop func()) {
	line := r.opts.Progress
	if line == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(progressEvery)
		defer ticker.Stop()
		var previous uint64
		previousAt := time.Now()
		for {
			select {
			case <-done:
				line.Clear()
				return
			case now := <-ticker.C:
				sum, _, _ := r.state.totals()
				rate := float64(sum.Deliveries-previous) / now.Sub(previousAt).Seconds()
				previous, previousAt = sum.Deliveries, now
				line.set(r.progressText(sum, rate))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func (r *runner) progressText(sum groupReport, rate float64) string {
	text := fmt.Sprintf("clients %d/%d connected, %d failed, %d ready", sum.Connected, r.opts.Conns, sum.Failed, sum.Ready)
	if sum.Disconnected > 0 {
		text += fmt.Sprintf(", %d disconnected", sum.Disconnected)
	}
	if r.appender != nil {
		text += fmt.Sprintf(" | lines %d | deliveries %d (%.0f/s)", r.appender.written.Load(), sum.Deliveries, rate)
	}
	return text
}
