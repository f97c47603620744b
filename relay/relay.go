// Package relay follows files with package tail and appends every batch to
// the broker together with the position after it. It is the body of the tail
// process: the one writer of each channel's stream.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"tailcast/broker"
	"tailcast/tail"
)

// File is one followed file and the channel its lines go to.
type File struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Options configures Run.
type Options struct {
	Files  []File
	Broker *broker.Broker
	// Tail holds the follower settings shared by every file; Path and Start
	// are set per file.
	Tail   tail.Options
	Logger *slog.Logger
	// Stats, if set, receives every channel's counters.
	Stats *Stats
}

// Run follows every file until ctx ends. A problem with one file never
// stops the others: the follower retries it on its own.
func Run(ctx context.Context, opts Options) error {
	if opts.Broker == nil {
		return errors.New("relay: no broker given")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Stats == nil {
		opts.Stats = &Stats{}
	}
	var wg sync.WaitGroup
	for _, file := range opts.Files {
		wg.Go(func() { follow(ctx, opts, file) })
	}
	wg.Wait()
	return ctx.Err()
}

// follow runs one file's follower from its saved position, restarting it
// after an unexpected error.
func follow(ctx context.Context, opts Options, file File) {
	log := opts.Logger.With("channel", file.Name)
	store := &store{broker: opts.Broker, channel: file.Name, log: log, stats: opts.Stats}

	for ctx.Err() == nil {
		start, err := store.loadPosition(ctx)
		if err != nil {
			return // ctx ended
		}
		if start == nil {
			log.Info("following file from its end; no saved position")
		} else {
			log.Info("following file from saved position", "offset", start.Offset, "inode", start.Inode)
		}

		tailOpts := opts.Tail
		tailOpts.Path = file.Path
		tailOpts.Start = start
		tailOpts.Logger = log
		err = tail.Follow(ctx, tailOpts, store.append)
		if ctx.Err() != nil {
			return
		}
		log.Error("follower stopped; restarting", "err", err)
		sleepCtx(ctx, time.Second)
	}
}

// store appends one channel's batches, retrying until each is stored once.
type store struct {
	broker  *broker.Broker
	channel string
	log     *slog.Logger
	stats   *Stats
}

// loadPosition returns the saved position, or nil when there is none or it
// cannot be parsed. It retries until Redis responds or ctx ends.
func (s *store) loadPosition(ctx context.Context) (*tail.Position, error) {
	delay := 100 * time.Millisecond
	for {
		saved, err := s.broker.Offset(ctx, s.channel)
		if err == nil {
			if saved == "" {
				return nil, nil
			}
			var pos tail.Position
			if err := json.Unmarshal([]byte(saved), &pos); err != nil {
				s.log.Warn("ignoring unreadable saved position; following from the end", "err", err)
				return nil, nil
			}
			return &pos, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Warn("broker unreachable; retrying", "err", err, "retry_in", delay)
		sleepCtx(ctx, delay)
		delay = min(2*delay, 5*time.Second)
	}
}

// append stores one batch with its position. When a try fails with an
// unknown outcome, the saved position shows whether the transaction ran, so
// the batch is stored exactly once. It returns only when the batch is
// stored or ctx ends.
func (s *store) append(ctx context.Context, batch tail.Batch) error {
	encoded, err := json.Marshal(batch.Position)
	if err != nil {
		return fmt.Errorf("relay: encode position: %w", err)
	}
	offset := string(encoded)

	delay := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			saved, err := s.broker.Offset(ctx, s.channel)
			if err == nil && saved == offset {
				s.stats.countStored(s.channel, batch, attempt)
				s.log.Info("batch was stored before the error; not repeating it")
				return nil
			}
		}
		_, err := s.broker.Append(ctx, s.channel, batch.Event, batch.Lines, offset)
		if err == nil {
			s.stats.countStored(s.channel, batch, attempt)
			if attempt > 0 {
				s.log.Info("broker append recovered", "attempts", attempt+1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.stats.countBrokerError(s.channel)
		// Warn on the first failure and then once every ten, so a long
		// outage does not flood the log.
		if attempt%10 == 0 {
			s.log.Warn("broker append failed; retrying", "err", err, "attempt", attempt+1, "retry_in", delay)
		}
		sleepCtx(ctx, delay)
		delay = min(2*delay, 2*time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
