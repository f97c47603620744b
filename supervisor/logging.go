package supervisor

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
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
