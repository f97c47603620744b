package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tailcast/internal/testenv"
)

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

// notifySocket is a fake systemd notification socket that records every
// datagram.
type notifySocket struct {
	Path string
	conn *net.UnixConn

	mu       sync.Mutex
	messages []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{Path: filepath.Join(t.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n.conn = conn
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.messages = append(n.messages, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

// Messages returns every datagram so far.
func (n *notifySocket) Messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.messages...)
}

// index returns the position of the first message at or after from that
// has a line starting with prefix, or -1.
func (n *notifySocket) index(from int, prefix string) int {
	messages := n.Messages()
	for i := from; i < len(messages); i++ {
		for _, line := range strings.Split(messages[i], "\n") {
			if strings.HasPrefix(line, prefix) {
				return i
			}
		}
	}
	return -1
}

// TestSystemdNotifyOrder runs serve under a fake notification socket:
// READY=1 comes first, then STATUS= updates that count connections,
// watchdog pings while it runs, and STOPPING=1 at the end.
func TestSystemdNotifyOrder(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	notify := listenNotify(t)

	cmd := testenv.ServeCommand(t, "--workers", "2", "--file", "app="+logPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.Path, "WATCHDOG_USEC=200000")
	serve := testenv.StartServeCmd(t, cmd).WaitReady()

	testenv.Eventually(t, 10*time.Second, func() bool { return notify.index(0, "READY=1") >= 0 },
		"no READY=1; messages: %q", notify.Messages())
	ready := notify.index(0, "READY=1")
	if before := notify.index(0, "STOPPING=1"); before >= 0 {
		t.Fatalf("STOPPING=1 came before the stop: %q", notify.Messages())
	}

	c := testenv.Dial(t, "ws://"+serve.Addr+"/ws/app")
	status := -1
	testenv.Eventually(t, 20*time.Second, func() bool {
		status = notify.index(ready+1, "STATUS=serving: 2/2 workers ready, 1 connections")
		return status >= 0
	}, "no STATUS= with 1 connection after READY=1; messages: %q", notify.Messages())
	c.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return notify.index(ready, "WATCHDOG=1") >= 0 },
		"no WATCHDOG=1 with WATCHDOG_USEC set; messages: %q", notify.Messages())

	serve.Stop()
	stopping := notify.index(0, "STOPPING=1")
	if stopping < 0 {
		t.Fatalf("no STOPPING=1 after SIGTERM; messages: %q", notify.Messages())
	}
	if !(ready < status && status < stopping) {
		t.Errorf("READY=1 at %d, STATUS= at %d, STOPPING=1 at %d: want them in that order; messages: %q",
			ready, status, stopping, notify.Messages())
	}
	if serve.HasLog(testenv.LogMessage("systemd notification failed")) {
		t.Errorf("a notification failed:\n%s", serve.Output())
	}
}

// TestScalingSignalsChangeWorkers sends SIGTTIN and SIGTTOU and counts the
// worker processes that run: never fewer than one.
func TestScalingSignalsChangeWorkers(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "2", "--file", "app="+logPath)

	waitWorkers := func(want int) []int {
		t.Helper()
		testenv.Eventually(t, 60*time.Second, func() bool {
			pids := serve.WorkerPids()
			return len(pids) == want && allAlive(pids)
		}, "want %d workers, running %v", want, serve.WorkerPids())
		testenv.Eventually(t, 20*time.Second, func() bool {
			value, _ := serve.Scrape(t).Value("tailcast_workers_ready")
			return value == float64(want)
		}, "tailcast_workers_ready never reached %d", want)
		return serve.WorkerPids()
	}

	serve.Signal(syscall.SIGTTIN)
	three := waitWorkers(3)
	c := testenv.Dial(t, "ws://"+serve.Addr+"/ws/app")
	waitWarm(t, []*testenv.Client{c}, func(marker string) { appendLine(t, logPath, marker) })

	// The kernel merges a signal with one of the same kind still pending,
	// so each waits for the previous one's effect.
	serve.Signal(syscall.SIGTTOU)
	waitWorkers(2)
	serve.Signal(syscall.SIGTTOU)
	one := waitWorkers(1)
	if !slices.Contains(three, one[0]) {
		t.Errorf("the remaining worker %d is not one of %v", one[0], three)
	}

	serve.Signal(syscall.SIGTTOU)
	serve.WaitLog(20*time.Second, testenv.LogMessage("not removing the last worker"))
	if pids := serve.WorkerPids(); len(pids) != 1 || !allAlive(pids) {
		t.Errorf("after SIGTTOU at one worker: running %v, want 1", pids)
	}
	if value, _ := serve.Scrape(t).Value("tailcast_workers"); value != 1 {
		t.Errorf("tailcast_workers = %v, want 1", value)
	}
	c2 := testenv.Dial(t, "ws://"+serve.Addr+"/ws/app")
	waitWarm(t, []*testenv.Client{c2}, func(marker string) { appendLine(t, logPath, marker) })
}

func allAlive(pids []int) bool {
	for _, pid := range pids {
		if syscall.Kill(pid, 0) != nil {
			return false
		}
	}
	return true
}

// TestWorkerKillCountedInMetrics kills a worker with SIGKILL; the
// supervisor restarts it and counts the restart in /metrics.
func TestWorkerKillCountedInMetrics(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "2", "--file", "app="+logPath)
	if value, _ := serve.Scrape(t).Value("tailcast_child_restarts_total"); value != 0 {
		t.Fatalf("tailcast_child_restarts_total = %v before any crash, want 0", value)
	}

	c := testenv.Dial(t, "ws://"+serve.Addr+"/ws/app")
	index, pidText, _ := strings.Cut(c.Worker, "/")
	victim, err := strconv.Atoi(pidText)
	if err != nil {
		t.Fatalf("bad X-Tailcast-Worker %q", c.Worker)
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		pids := serve.WorkerPids()
		return len(pids) == 2 && !slices.Contains(pids, victim) && allAlive(pids)
	}, "worker %d was not replaced: running %v", victim, serve.WorkerPids())

	testenv.Eventually(t, 20*time.Second, func() bool {
		value, _ := serve.Scrape(t).Value("tailcast_child_restarts_total", "role", "worker", "worker", index)
		return value == 1
	}, "tailcast_child_restarts_total{worker=%q} did not reach 1", index)
	if value, _ := serve.Scrape(t).Value("tailcast_child_restarts_total", "role", "tail"); value != 0 {
		t.Errorf("tail restarts = %v, want 0", value)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		value, _ := serve.Scrape(t).Value("tailcast_workers_ready")
		return value == 2
	}, "the restarted worker never reported ready")
}

// TestMetricsMoveWithTraffic scrapes /metrics before and after clients,
// lines, a bad request, a truncation and a rotation, and checks that one
// scrape covers every worker and the tail process.
func TestMetricsMoveWithTraffic(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "2", "--poll-interval", "100ms", "--file", "app="+logPath)

	first := serve.Scrape(t)
	if value, ok := first.Value("tailcast_upgrades_total"); ok && value != 0 {
		t.Errorf("tailcast_upgrades_total = %v before any client, want 0", value)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body, err := serve.AdminGet(path)
		if err != nil || code != http.StatusOK {
			t.Errorf("GET %s: status %d, err %v, body %q; want 200", path, code, err, body)
		}
	}

	clients := dialSpread(t, "ws://"+serve.Addr+"/ws/app", 4, 2)
	waitWarm(t, clients, func(marker string) { appendLine(t, logPath, marker) })
	status, _ := rawRequest(t, serve.Addr, "GET /ws/nope HTTP/1.1\r\nHost: x\r\n"+upgradeHeaders+"\r\n")
	if !strings.Contains(status, "404") {
		t.Fatalf("unknown channel: status %q, want 404", status)
	}
	const lines = 50
	for i := range lines {
		appendLine(t, logPath, testenv.NumberedLine("metric", i+1))
	}
	for i, c := range clients {
		testenv.Eventually(t, 30*time.Second, func() bool {
			return len(filterPrefix(c.Lines(), "metric-")) >= lines
		}, "client %d got %d of %d lines", i, len(filterPrefix(c.Lines(), "metric-")), lines)
	}

	// Truncate in place, then rotate by rename.
	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	appendLine(t, logPath, "after-truncate")
	waitLine(t, clients[0], "after-truncate")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	appendLine(t, logPath, "after-rotate")
	waitLine(t, clients[0], "after-rotate")

	var last testenv.Metrics
	checks := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"tailcast_upgrades_total", nil, float64(len(clients))},
		{"tailcast_connections", nil, float64(len(clients))},
		{"tailcast_messages_sent_total", nil, 1},
		{"tailcast_sent_bytes_total", nil, 1},
		{"tailcast_rejected_handshakes_total", []string{"reason", "unknown_channel"}, 1},
		{"tailcast_worker_batches_read_total", nil, 1},
		{"tailcast_tail_lines_total", []string{"channel", "app"}, lines},
		{"tailcast_tail_bytes_total", []string{"channel", "app"}, lines * float64(len("metric-000001\n"))},
		{"tailcast_tail_truncations_total", []string{"channel", "app"}, 1},
		{"tailcast_tail_rotations_total", []string{"channel", "app"}, 1},
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		last = serve.Scrape(t)
		for _, check := range checks {
			if value, _ := last.Value(check.name, check.labels...); value < check.min {
				return false
			}
		}
		return true
	}, "counters did not move")
	for _, check := range checks {
		if value, _ := last.Value(check.name, check.labels...); value < check.min {
			t.Errorf("%s%v = %v, want at least %v", check.name, check.labels, value, check.min)
		}
	}
	for _, worker := range []string{"0", "1"} {
		if value, _ := last.Value("tailcast_upgrades_total", "worker", worker); value < 1 {
			t.Errorf("tailcast_upgrades_total{worker=%q} = %v, want every worker in the scrape", worker, value)
		}
	}
	for _, name := range []string{"tailcast_queued_bytes", "tailcast_slow_client_disconnects_total",
		"tailcast_worker_broker_errors_total", "tailcast_worker_broker_reconnects_total",
		"tailcast_tail_broker_errors_total", "tailcast_tail_broker_reconnects_total",
		"tailcast_child_restarts_total", "tailcast_reloads_total"} {
		if _, ok := last.Value(name); !ok {
			t.Errorf("%s is missing from the scrape", name)
		}
	}
}

func waitLine(t *testing.T, c *testenv.Client, line string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() bool { return slices.Contains(c.Lines(), line) },
		"client never received %q", line)
}

// TestAdminPortInUseFailsAtOnce starts serve on an admin address that is
// taken; it must exit with a message that names the fix.
func TestAdminPortInUseFailsAtOnce(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cmd := exec.Command(testenv.Binary(t), "serve", "--listen", "127.0.0.1:0", "--admin", taken.Addr().String(),
		"--file", "app="+filepath.Join(t.TempDir(), "app.log"))
	out, err := cmd.CombinedOutput()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 1 {
		t.Fatalf("serve with a taken admin port: err = %v, want exit status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "--admin off") {
		t.Errorf("output = %q, want it to name --admin", out)
	}
}

// TestSystemdUnitVerifies checks deploy/tailcast.service with
// systemd-analyze verify, its ExecStart pointed at the built binary.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testenv.LookPath(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(filepath.Join("..", "deploy", "tailcast.service"))
	if err != nil {
		t.Fatal(err)
	}

	const installed = "/usr/local/bin/tailcast"
	if !strings.Contains(string(unit), "ExecStart="+installed+" serve") {
		t.Fatalf("deploy/tailcast.service has no ExecStart=%s serve", installed)
	}
	for _, setting := range []string{"Type=notify", "WatchdogSec=", "ExecReload=", "DynamicUser=yes",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadOnlyPaths=/var/log", "LimitNOFILE="} {
		if !strings.Contains(string(unit), "\n"+setting) {
			t.Errorf("deploy/tailcast.service lacks %s", setting)
		}
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "tailcast.service")
	templated := strings.ReplaceAll(string(unit), installed, testenv.Binary(t))
	if err := os.WriteFile(path, []byte(templated), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// verify exits 0 after warnings such as an unknown key, which it
	// ignores: any output is a finding.
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify reported:\n%s", out)
	}
}

// workerPid returns the pid of the newest process started for worker index,
// and whether it still runs.
func workerPid(serve *testenv.Serve, index int) (int, bool) {
	pid := 0
	for _, entry := range serve.Logs() {
		if entry["msg"] == "child started" && entry["role"] == "worker" && entry["index"] == float64(index) {
			pid = int(entry["pid"].(float64))
		}
	}
	return pid, pid != 0 && syscall.Kill(pid, 0) == nil
}

// TestCrashLoopReportedLoudly kills worker 0 each time it comes back until
// its restart delay reaches the crash-loop level. The supervisor must
// report it in the log, in /metrics and in systemd's STATUS, and new
// connections must still be served.
func TestCrashLoopReportedLoudly(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	notify := listenNotify(t)
	cmd := testenv.ServeCommand(t, "--workers", "2", "--file", "app="+logPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.Path)
	serve := testenv.StartServeCmd(t, cmd).WaitReady()

	killed := map[int]bool{}
	testenv.Eventually(t, 60*time.Second, func() bool {
		if serve.HasLog(testenv.LogMessage("child keeps crashing")) {
			return true
		}
		if pid, alive := workerPid(serve, 0); alive && !killed[pid] {
			killed[pid] = true
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return false
	}, "no crash-loop report after killing worker 0 %d times", len(killed))

	// Worker 0 now waits seconds for its restart and has given up its
	// socket. Every connection must still be served: by worker 1, or by a
	// worker 0 that restarted meanwhile.
	for i := range 20 {
		c, err := testenv.DialErr("ws://" + serve.Addr + "/ws/app")
		if err != nil {
			t.Fatalf("connection %d during the crash loop failed: %v", i, err)
		}
		index, pid, _ := strings.Cut(c.Worker, "/")
		if number, _ := strconv.Atoi(pid); index != "1" && killed[number] {
			t.Errorf("connection %d was served by the killed worker %s", i, c.Worker)
		}
		c.Close()
	}

	if value, _ := serve.Scrape(t).Value("tailcast_child_crash_looping", "role", "worker", "worker", "0"); value != 1 {
		t.Errorf("tailcast_child_crash_looping{worker=\"0\"} = %v, want 1", value)
	}
	if value, _ := serve.Scrape(t).Value("tailcast_child_restarts_total", "worker", "0"); value < float64(len(killed)) {
		t.Errorf("tailcast_child_restarts_total{worker=\"0\"} = %v, want %d", value, len(killed))
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		return notify.index(0, "STATUS=") >= 0 &&
			strings.Contains(strings.Join(notify.Messages(), "\n"), "worker 0 keeps crashing")
	},
		"no STATUS= names the crash loop; messages: %q", notify.Messages())
}
