package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"tailcast/bench"
	"tailcast/internal/testenv"
)

// TestBenchAgainstServe runs the real tailcast bench against a real tailcast
// serve: 200 clients over 2 bench child processes must see every line once
// and in order, and the JSON report must be complete.
func TestBenchAgainstServe(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "before start")
	redis := testenv.StartRedis(t)
	serve := testenv.StartServe(t, "--workers", "2", "--redis", redis.URL(), "--file", "app="+logPath)

	cmd := exec.Command(testenv.Binary(t), "bench",
		"--url", "ws://"+serve.Addr+"/ws/app",
		"--file", logPath,
		"--conns", "200", "--procs", "2",
		"--rate", "200", "--lines", "400", "--line-bytes", "80",
		"--ready-timeout", "60s", "--drain", "30s",
		"--server-pid", strconv.Itoa(serve.Pid()),
		"--json", "-")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tailcast bench: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderrOf(err))
	}

	var report bench.Report
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("bench report is not JSON: %v\n%s", err, out)
	}
	if !report.OK {
		t.Errorf("report not OK: %v", report.Problems)
	}
	if report.Procs != 2 {
		t.Errorf("procs = %d, want 2", report.Procs)
	}
	if report.Connect.Connected != 200 || report.Connect.Failed != 0 {
		t.Errorf("connected %d, failed %d; want 200 and 0", report.Connect.Connected, report.Connect.Failed)
	}
	if report.Load.Lines != 400 {
		t.Errorf("lines appended = %d, want 400", report.Load.Lines)
	}
	if report.Delivery.Expected != 200*400 || report.Delivery.Delivered != report.Delivery.Expected {
		t.Errorf("delivered %d of %d, want all of %d", report.Delivery.Delivered, report.Delivery.Expected, 200*400)
	}
	if report.Delivery.Lost != 0 || report.Delivery.Repeated != 0 || report.Delivery.Reordered != 0 {
		t.Errorf("lost %d, repeated %d, reordered %d; want none", report.Delivery.Lost, report.Delivery.Repeated, report.Delivery.Reordered)
	}
	if report.Latency.Count == 0 || report.Latency.P99Ms <= 0 || report.Latency.MaxMs < report.Latency.P99Ms {
		t.Errorf("latency section incomplete: %+v", report.Latency)
	}
	if report.Server == nil || report.Server.Processes < 3 {
		t.Errorf("server section missing or without the process tree: %+v", report.Server)
	}
}

func stderrOf(err error) string {
	if exitErr, ok := err.(*exec.ExitError); ok {
		return string(exitErr.Stderr)
	}
	return ""
}
