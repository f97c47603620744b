package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// NewLogger returns a slog logger writing to w in the given format ("text"
// or "json") at the given level ("debug", "info", "warn", "error").
func NewLogger(w io.Writer, settings LogSettings) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(settings.Level) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("invalid log level %q: use debug, info, warn or error", settings.Level)
	}
	handlerOpts := &slog.HandlerOptions{Level: level}
	switch settings.Format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, handlerOpts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, handlerOpts)), nil
	}
	return nil, fmt.Errorf("invalid log format %q: use text or json", settings.Format)
}

// limitedKeys are the attributes that, with the message, tell one repeated
// error from another.
var limitedKeys = map[string]bool{"role": true, "index": true, "worker": true, "channel": true, "state": true}

// limitHandler passes one record per message and subject each interval and
// drops the repeats in between. The next record that passes carries their
// number as "suppressed".
type limitHandler struct {
	slog.Handler
	interval time.Duration
	state    *limitState
}

type limitState struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// newLimitedLogger returns a logger that writes through log's handler at
// most once per interval for each repeated message.
func newLimitedLogger(log *slog.Logger, interval time.Duration) *slog.Logger {
	return slog.New(&limitHandler{
		Handler:  log.Handler(),
		interval: interval,
		state:    &limitState{last: map[string]time.Time{}, suppressed: map[string]int{}},
	})
}

func (h *limitHandler) Handle(ctx context.Context, record slog.Record) error {
	var key strings.Builder
	key.WriteString(record.Message)
	record.Attrs(func(attr slog.Attr) bool {
		if limitedKeys[attr.Key] {
			fmt.Fprintf(&key, " %s=%v", attr.Key, attr.Value)
		}
		return true
	})

	h.state.mu.Lock()
	now := time.Now()
	if last, ok := h.state.last[key.String()]; ok && now.Sub(last) < h.interval {
		h.state.suppressed[key.String()]++
		h.state.mu.Unlock()
		return nil
	}
	h.state.last[key.String()] = now
	suppressed := h.state.suppressed[key.String()]
	delete(h.state.suppressed, key.String())
	h.state.mu.Unlock()

	if suppressed > 0 {
		record = record.Clone()
		record.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.Handler.Handle(ctx, record)
}

func (h *limitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &limitHandler{Handler: h.Handler.WithAttrs(attrs), interval: h.interval, state: h.state}
}

func (h *limitHandler) WithGroup(name string) slog.Handler {
	return &limitHandler{Handler: h.Handler.WithGroup(name), interval: h.interval, state: h.state}
}
