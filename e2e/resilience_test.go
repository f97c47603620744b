package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tailcast/internal/testenv"
)

// filterPrefix keeps the lines that start with prefix, dropping warm-up
// lines.
func filterPrefix(lines []string, prefix string) []string {
	var out []string
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

// requireNumbered waits until lines returns count numbered lines
// ("line-000001" on) and checks that they are exactly 1 to count, in order.
func requireNumbered(t *testing.T, who string, count int, lines func() []string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() bool {
		return len(filterPrefix(lines(), "line-")) >= count
	}, "%s got %d of %d lines", who, len(filterPrefix(lines(), "line-")), count)
	if got, want := filterPrefix(lines(), "line-"), testenv.NumberedLines("line", count); !slices.Equal(got, want) {
		t.Errorf("%s: first difference at %s", who, firstDifference(got, want))
	}
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// TestRedisRestartLosesNothing restarts redis-server while lines stream;
// connected clients must see every line once and in order.
func TestRedisRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendLine(t, logPath, "before start")
	redis := testenv.StartRedis(t)
	serve := testenv.StartServe(t, "--workers", "2", "--redis", redis.URL(), "--file", "app="+logPath)
	clients := dialSpread(t, "ws://"+serve.Addr+"/ws/app", 8, 2)
	waitWarm(t, clients, func(marker string) { appendLine(t, logPath, marker) })

	const count = 600
	writer := testenv.StartWriter(t, logPath, "line", count, 2*time.Millisecond)
	testenv.Eventually(t, 30*time.Second, func() bool { return writer.Written() >= count/3 }, "writer stalled")
	redis.Stop()
	redis.Start()
	writer.Wait()

	for i, c := range clients {
		requireNumbered(t, fmt.Sprintf("client %d (worker %s)", i, c.Worker), count, c.Lines)
	}
	if !serve.HasLog(testenv.LogMessage("retrying")) {
		t.Errorf("no process logged a retry while redis-server was down")
	}
}

// TestWorkerKillResumesWithSince kills one worker with SIGKILL while lines
// stream. The supervisor restarts it, and clients that reconnect with since
// miss nothing and receive nothing twice.
func TestWorkerKillResumesWithSince(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendLine(t, logPath, "before start")
	redis := testenv.StartRedis(t)
	serve := testenv.StartServe(t, "--workers", "4", "--redis", redis.URL(), "--file", "app="+logPath)

	plain := dialSpread(t, "ws://"+serve.Addr+"/ws/app", 8, 4)
	waitWarm(t, plain, func(marker string) { appendLine(t, logPath, marker) })
	for _, c := range plain {
		c.Close()
	}

	var resuming []*testenv.ResumingClient
	victim := ""
	for i := 0; i < 40 && (len(resuming) < 12 || victim == ""); i++ {
		r := testenv.DialResuming(t, "ws://"+serve.Addr+"/ws/app")
		resuming = append(resuming, r)
		if victim == "" && len(resuming) > 1 {
			victim = r.Workers()[0]
		}
	}
	if victim == "" {
		t.Fatal("no resuming client connected")
	}
	victimPid, err := strconv.Atoi(strings.SplitN(victim, "/", 2)[1])
	if err != nil {
		t.Fatalf("bad X-Tailcast-Worker %q", victim)
	}

	const count = 600
	writer := testenv.StartWriter(t, logPath, "line", count, 2*time.Millisecond)
	testenv.Eventually(t, 30*time.Second, func() bool { return writer.Written() >= count/3 }, "writer stalled")
	if err := syscall.Kill(victimPid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker %d: %v", victimPid, err)
	}
	writer.Wait()

	serve.WaitLog(30*time.Second, func(entry map[string]any) bool {
		return entry["msg"] == "child exited; restarting" && int(entry["pid"].(float64)) == victimPid
	})
	testenv.Eventually(t, 30*time.Second, func() bool {
		return len(serve.WorkerPids()) == 4 && !slices.Contains(serve.WorkerPids(), victimPid)
	}, "supervisor did not restart worker %d: running %v", victimPid, serve.WorkerPids())

	reconnected := 0
	for i, r := range resuming {
		requireNumbered(t, fmt.Sprintf("client %d (workers %v)", i, r.Workers()), count, r.Lines)
		if r.Dials() > 1 {
			reconnected++
		}
	}
	if reconnected == 0 {
		t.Errorf("no client was on the killed worker %s", victim)
	}
	t.Logf("%d of %d clients reconnected with since", reconnected, len(resuming))
}
