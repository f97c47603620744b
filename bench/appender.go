package bench

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

const (
	// maxLinesPerWrite bounds one write(2), so that a late wake-up at a
	// high rate does not build one huge batch.
	maxLinesPerWrite = 1000
	minAppendPause   = time.Millisecond
)

// appender appends numbered, timestamped bench lines to the followed file.
type appender struct {
	file      *os.File
	runID     string
	lineBytes int
	seq       uint64        // last sequence number written
	written   atomic.Uint64 // seq, for the progress line
	buffer    []byte
}

func openAppender(path, runID string, lineBytes int) (*appender, error) {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bench: open file to append: %w", err)
	}
	return &appender{file: file, runID: runID, lineBytes: lineBytes}, nil
}

func (a *appender) close() error {
	if err := a.file.Close(); err != nil {
		return fmt.Errorf("bench: close appended file: %w", err)
	}
	return nil
}

// appendProbe writes one readiness probe line, sequence number 0.
func (a *appender) appendProbe() error {
	a.buffer = appendStamp(a.buffer[:0], a.runID, probeSeq, time.Now().UnixNano(), a.lineBytes)
	a.buffer = append(a.buffer, '\n')
	if _, err := a.file.Write(a.buffer); err != nil {
		return fmt.Errorf("bench: append probe line: %w", err)
	}
	return nil
}

// appendLines writes n lines with the next sequence numbers in one write,
// so that they share one timestamp. With O_APPEND, another writer's data
// cannot land inside the lines of one write.
func (a *appender) appendLines(n int) error {
	now := time.Now().UnixNano()
	a.buffer = a.buffer[:0]
	for i := range n {
		a.buffer = appendStamp(a.buffer, a.runID, a.seq+uint64(i)+1, now, a.lineBytes)
		a.buffer = append(a.buffer, '\n')
	}
	if _, err := a.file.Write(a.buffer); err != nil {
		return fmt.Errorf("bench: append lines %d-%d: %w", a.seq+1, a.seq+uint64(n), err)
	}
	a.seq += uint64(n)
	a.written.Store(a.seq)
	return nil
}

// run appends lines at rate lines per second until maxLines are written
// (0: no limit) or duration has passed (0: no limit), or ctx ends. At least
// one of the limits must be set. It returns with a.seq set to the last line
// written.
func (a *appender) run(ctx context.Context, rate float64, maxLines uint64, duration time.Duration) error {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()

	for {
		elapsed := time.Since(start)
		ended := duration > 0 && elapsed >= duration
		if ended {
			// The lines due by the end of the duration still go out, so
			// that a run writes rate*duration lines.
			elapsed = duration
		}
		due := uint64(rate * elapsed.Seconds())
		if maxLines > 0 {
			due = min(due, maxLines)
		}
		if due > a.seq {
			if err := a.appendLines(int(min(due-a.seq, maxLinesPerWrite))); err != nil {
				return err
			}
			continue
		}
		if ended || (maxLines > 0 && a.seq >= maxLines) {
			return nil
		}

		// Sleep until the next line is due, or until the duration ends.
		nextDue := time.Duration(float64(a.seq+1) / rate * float64(time.Second))
		if duration > 0 {
			nextDue = min(nextDue, duration)
		}
		timer.Reset(max(nextDue-elapsed, minAppendPause))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil
		}
	}
}
