package supervisor

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tailcast/relay"
	"tailcast/worker"
)

func jsonLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		entries = append(entries, entry)
	}
	return entries
}

func TestLimitedLoggerDropsRepeats(t *testing.T) {
	var buf bytes.Buffer
	log := newLimitedLogger(slog.New(slog.NewJSONHandler(&buf, nil)), time.Hour)
	for range 5 {
		log.Error("child keeps crashing", "role", "worker", "index", 1, "restarts", 7)
	}
	log.Error("child keeps crashing", "role", "worker", "index", 2)
	log.Warn("another message", "role", "worker", "index", 1)

	entries := jsonLines(t, &buf)
	if len(entries) != 3 {
		t.Fatalf("got %d log lines, want 3 (one per message and subject): %s", len(entries), buf.String())
	}
	if entries[1]["index"] != float64(2) {
		t.Errorf("second line is %v, want the one for index 2", entries[1])
	}
}

func TestLimitedLoggerCountsSuppressed(t *testing.T) {
	var buf bytes.Buffer
	log := newLimitedLogger(slog.New(slog.NewJSONHandler(&buf, nil)), 20*time.Millisecond)
	log.Warn("broker read failed", "worker", 0)
	log.Warn("broker read failed", "worker", 0)
	log.Warn("broker read failed", "worker", 0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		log.Warn("broker read failed", "worker", 0)
		if len(jsonLines(t, &buf)) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	entries := jsonLines(t, &buf)
	if len(entries) != 2 {
		t.Fatalf("got %d log lines, want 2: %s", len(entries), buf.String())
	}
	if _, ok := entries[0]["suppressed"]; ok {
		t.Errorf("first line carries suppressed: %v", entries[0])
	}
	if n, _ := entries[1]["suppressed"].(float64); n < 2 {
		t.Errorf("second line has suppressed=%v, want 2 or more", entries[1]["suppressed"])
	}
}

func TestAddReportsKeepsCountersOnly(t *testing.T) {
	a := childReport{Worker: &worker.Stats{Connections: 5, QueuedBytes: 100, Upgrades: 3, Rejected: map[string]uint64{"not_found": 1}}}
	b := childReport{Worker: &worker.Stats{Connections: 2, Upgrades: 4, FramesSent: 9, Rejected: map[string]uint64{"not_found": 2, "at_capacity": 1}}}
	sum := addReports(a, b)
	if sum.Worker.Upgrades != 7 || sum.Worker.FramesSent != 9 {
		t.Errorf("upgrades %d, frames %d; want 7 and 9", sum.Worker.Upgrades, sum.Worker.FramesSent)
	}
	if sum.Worker.Rejected["not_found"] != 3 || sum.Worker.Rejected["at_capacity"] != 1 {
		t.Errorf("rejected = %v, want not_found 3 and at_capacity 1", sum.Worker.Rejected)
	}
	if sum.Worker.Connections != 0 || sum.Worker.QueuedBytes != 0 {
		t.Errorf("gauges were added: connections %d, queued %d", sum.Worker.Connections, sum.Worker.QueuedBytes)
	}

	tail := addReports(childReport{Tail: map[string]relay.ChannelStats{"app": {Lines: 4, Rotations: 1}}},
		childReport{Tail: map[string]relay.ChannelStats{"app": {Lines: 6}, "db": {Truncations: 2}}})
	if tail.Worker != nil {
		t.Errorf("tail reports produced worker counters: %+v", tail.Worker)
	}
	if got := tail.Tail["app"]; got.Lines != 10 || got.Rotations != 1 {
		t.Errorf("app = %+v, want 10 lines and 1 rotation", got)
	}
	if got := tail.Tail["db"]; got.Truncations != 2 {
		t.Errorf("db = %+v, want 2 truncations", got)
	}
}

func TestCheckCapacityWarns(t *testing.T) {
	cases := []struct {
		name      string
		workers   int
		maxConns  int
		fileLimit uint64
		warning   string // empty: no warning
	}{
		{"fits", 4, 10000, 65536, ""},
		{"no limit, large file limit", 4, 0, 65536, ""},
		{"max conns above file limit", 2, 30000, 20000, "connection limit exceeds the open-file limit"},
		{"small file limit", 2, 0, 1024, "open-file limit leaves room for few connections per worker"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			checkCapacity(slog.New(slog.NewJSONHandler(&buf, nil)), tc.workers, tc.maxConns, tc.fileLimit)
			var warnings []string
			for _, entry := range jsonLines(t, &buf) {
				if entry["level"] == "WARN" {
					warnings = append(warnings, entry["msg"].(string))
				}
			}
			if tc.warning == "" && len(warnings) > 0 {
				t.Errorf("unexpected warnings %q", warnings)
			}
			if tc.warning != "" && (len(warnings) == 0 || warnings[0] != tc.warning) {
				t.Errorf("warnings = %q, want %q", warnings, tc.warning)
			}
		})
	}
}

func TestChildEnvironmentDropsSystemdVariables(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", "1")
	t.Setenv("TAILCAST_TEST_KEEP", "yes")
	env := strings.Join(childEnvironment(), "\n")
	for _, name := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
		if strings.Contains(env, name) {
			t.Errorf("child environment contains %s", name)
		}
	}
	if !strings.Contains(env, "TAILCAST_TEST_KEEP=yes") {
		t.Errorf("child environment lost TAILCAST_TEST_KEEP")
	}
}
