// Package broker stores each channel's batches in a Redis stream and reads
// them back: appending a batch together with the follower's file offset,
// blocking reads for live delivery, backlog and resume by stream ID.
//
// Keys use a hash tag, tailcast:{NAME}:lines and tailcast:{NAME}:offset, so a
// channel's stream and offset live in one Redis Cluster slot and the
// MULTI/EXEC that writes both stays legal there.
package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream entry fields. A lines entry has linesField, an event entry has
// eventField; lines never contain '\n', so joining them with it is lossless.
const (
	linesField = "l"
	eventField = "e"
)

// DefaultHistory is the number of batches kept per channel when
// Options.History is zero.
const DefaultHistory = 10000

// Entry is one stored batch: either lines or an event.
type Entry struct {
	ID    string
	Event string   // "rotated", "truncated"; empty for a lines entry
	Lines []string // complete lines without newline; nil for an event
}

// Options configures a Broker. The zero value is usable.
type Options struct {
	// History is the approximate number of batches kept per channel
	// (XADD MAXLEN ~). Zero means DefaultHistory.
	History int64
}

// Broker reads and writes the channels' streams through one Redis client.
// It is safe for concurrent use.
type Broker struct {
	client  redis.UniversalClient
	history int64
}

// New returns a Broker using client. The caller keeps ownership of client.
func New(client redis.UniversalClient, opts Options) *Broker {
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	return &Broker{client: client, history: opts.History}
}

// StreamKey returns the Redis key of channel's stream.
func StreamKey(channel string) string { return "tailcast:{" + channel + "}:lines" }

// OffsetKey returns the Redis key of channel's saved follower offset.
func OffsetKey(channel string) string { return "tailcast:{" + channel + "}:offset" }

// Append stores one batch and the follower offset that follows it in one
// MULTI/EXEC, so the stream never holds a batch whose offset was not saved
// and the reverse. It returns the new entry's stream ID.
//
// A nil error means both writes happened. An error means the outcome is
// unknown when the connection broke after EXEC was sent: callers that must
// not repeat a batch compare Offset with offset before retrying.
func (b *Broker) Append(ctx context.Context, channel, event string, lines []string, offset string) (string, error) {
	values := make([]any, 0, 2)
	if event != "" {
		values = append(values, eventField, event)
	} else {
		values = append(values, linesField, strings.Join(lines, "\n"))
	}

	var add *redis.StringCmd
	_, err := b.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		add = pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: StreamKey(channel),
			MaxLen: b.history,
			Approx: true,
			Values: values,
		})
		pipe.Set(ctx, OffsetKey(channel), offset, 0)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("broker: append to %s: %w", channel, err)
	}
	return add.Val(), nil
}

// Offset returns channel's saved follower offset, or "" when none is saved.
func (b *Broker) Offset(ctx context.Context, channel string) (string, error) {
	offset, err := b.client.Get(ctx, OffsetKey(channel)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("broker: read offset of %s: %w", channel, err)
	}
	return offset, nil
}

// LastID returns the ID of channel's newest entry, or "0-0" when the stream
// is empty or missing. Reading live from that ID delivers only what comes
// next, without the race of XREAD's "$".
func (b *Broker) LastID(ctx context.Context, channel string) (string, error) {
	msgs, err := b.client.XRevRangeN(ctx, StreamKey(channel), "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("broker: read last id of %s: %w", channel, err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// Read blocks up to block for entries after the given IDs (channel name to
// last ID seen) and returns at most count entries per channel, in stream
// order. It returns an empty map, not an error, when block passes with
// nothing new.
func (b *Broker) Read(ctx context.Context, after map[string]string, names []string, count int64, block time.Duration) (map[string][]Entry, error) {
	streams := make([]string, 0, 2*len(names))
	for _, name := range names {
		streams = append(streams, StreamKey(name))
	}
	for _, name := range names {
		streams = append(streams, after[name])
	}

	res, err := b.client.XRead(ctx, &redis.XReadArgs{Streams: streams, Count: count, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return map[string][]Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: read streams: %w", err)
	}

	out := make(map[string][]Entry, len(res))
	for _, stream := range res {
		name := channelOfKey(stream.Stream)
		for _, msg := range stream.Messages {
			out[name] = append(out[name], toEntry(msg))
		}
	}
	return out, nil
}

// Backlog returns the entries that hold channel's last n lines, oldest
// first. The first entry's lines are cut so that exactly n lines (or all
// that history keeps) come back; events among them are kept.
func (b *Broker) Backlog(ctx context.Context, channel string, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, nil
	}
	// Every lines entry holds at least one line, so n entries always cover n
	// lines; events among them only make the result shorter.
	msgs, err := b.client.XRevRangeN(ctx, StreamKey(channel), "+", "-", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("broker: read backlog of %s: %w", channel, err)
	}

	var entries []Entry
	remaining := n
	for _, msg := range msgs {
		if remaining == 0 {
			break
		}
		entry := toEntry(msg)
		if len(entry.Lines) > remaining {
			entry.Lines = entry.Lines[len(entry.Lines)-remaining:]
		}
		remaining -= len(entry.Lines)
		entries = append(entries, entry)
	}
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	return entries, nil
}

// After returns up to count entries that follow id in channel's stream,
// oldest first. gap is true when id is no longer in the stream, because
// history was trimmed past it (or the stream was reset), so entries between
// id and the first one returned may be lost. An id of "0" or "0-0" requests
// the whole history and never reports a gap.
func (b *Broker) After(ctx context.Context, channel, id string, count int64) (entries []Entry, gap bool, err error) {
	key := StreamKey(channel)
	if id != "0" && id != "0-0" {
		found, err := b.client.XRangeN(ctx, key, id, id, 1).Result()
		if err != nil {
			return nil, false, fmt.Errorf("broker: look up id %s in %s: %w", id, channel, err)
		}
		gap = len(found) == 0
	}

	msgs, err := b.client.XRangeN(ctx, key, "("+id, "+", count).Result()
	if err != nil {
		return nil, false, fmt.Errorf("broker: read %s after %s: %w", channel, id, err)
	}
	entries = make([]Entry, 0, len(msgs))
	for _, msg := range msgs {
		entries = append(entries, toEntry(msg))
	}
	return entries, gap, nil
}

func toEntry(msg redis.XMessage) Entry {
	entry := Entry{ID: msg.ID}
	if event, ok := msg.Values[eventField].(string); ok {
		entry.Event = event
		return entry
	}
	lines, _ := msg.Values[linesField].(string)
	entry.Lines = strings.Split(lines, "\n")
	return entry
}

func channelOfKey(key string) string {
	name := strings.TrimPrefix(key, "tailcast:{")
	return strings.TrimSuffix(name, "}:lines")
}
