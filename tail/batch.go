package tail

import (
	"context"
	"time"
)

// batch collects lines until it is full or its delay ends.
type batch struct {
	lines []string
	bytes int
	end   int64 // offset just past the last line
}

func (b *batch) pending() bool {
	return len(b.lines) > 0
}

// addLine adds a line that ends at offset end of the current file, emitting
// the batch first if the line would not fit and afterwards if it is full.
func (fl *follower) addLine(ctx context.Context, line string, end int64) error {
	b := &fl.batch
	if b.pending() && b.bytes+len(line) > fl.opts.MaxBatchBytes {
		if err := fl.flush(ctx); err != nil {
			return err
		}
	}
	b.lines = append(b.lines, line)
	b.bytes += len(line)
	b.end = end
	if b.bytes >= fl.opts.MaxBatchBytes {
		return fl.flush(ctx)
	}
	return nil
}

// flushIfDue emits the batch once MaxBatchDelay has passed since the
// previous batch, and otherwise returns how long it may still wait. After a
// quiet spell a line leaves at once; under a steady stream batches leave at
// most once per delay, so no line waits longer than MaxBatchDelay.
func (fl *follower) flushIfDue(ctx context.Context) (time.Duration, error) {
	if !fl.batch.pending() {
		return 0, nil
	}
	wait := fl.opts.MaxBatchDelay - time.Since(fl.lastEmit)
	if wait > 0 {
		return wait, nil
	}
	return 0, fl.flush(ctx)
}

// flush emits the pending lines, if any, as one batch of the current file.
func (fl *follower) flush(ctx context.Context) error {
	b := &fl.batch
	if !b.pending() {
		return nil
	}
	out := Batch{Lines: b.lines, Position: fl.cur.position(b.end)}
	// The caller may keep out.Lines, so the next batch needs a new slice.
	b.lines = make([]string, 0, len(b.lines))
	b.bytes = 0
	fl.lastEmit = time.Now()
	return fl.emit(ctx, out)
}
