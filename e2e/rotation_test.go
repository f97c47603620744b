package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"tailcast/internal/testenv"
)

// rotatingWriter appends numbered lines every interval and cooperates with
// logrotate the way a well-behaved daemon does. It reopens the path when
// postrotate creates a "reopen" file (create mode). It holds its writes
// while prerotate's "pause" file exists (copytruncate mode), so logrotate's
// own window between copy and truncate cannot swallow a line.
type rotatingWriter struct {
	path, dir string

	mu      sync.Mutex
	written int
	done    chan struct{}
}

func startRotatingWriter(t *testing.T, path string, count int, interval time.Duration) *rotatingWriter {
	t.Helper()
	w := &rotatingWriter{path: path, dir: filepath.Dir(path), done: make(chan struct{})}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer func() { f.Close() }()
		for i := 1; i <= count; i++ {
			if exists(filepath.Join(w.dir, "reopen")) {
				f.Close()
				f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				os.Remove(filepath.Join(w.dir, "reopen"))
			}
			if exists(filepath.Join(w.dir, "pause")) {
				_ = os.WriteFile(filepath.Join(w.dir, "ack"), nil, 0o644)
				for deadline := time.Now().Add(30 * time.Second); exists(filepath.Join(w.dir, "pause")) && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
			}
			fmt.Fprintf(f, "%s\n", testenv.NumberedLine("line", i))
			w.mu.Lock()
			w.written = i
			w.mu.Unlock()
			time.Sleep(interval) // the writer's pace, not a wait for a condition
		}
	}()
	return w
}

func (w *rotatingWriter) Written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestLogrotateKeepsEveryLine forces Debian's logrotate five times, in
// create mode and in copytruncate mode, while a writer appends numbered
// lines. Every line must reach every client once and in order.
func TestLogrotateKeepsEveryLine(t *testing.T) {
	logrotate := testenv.LookPath(t, "logrotate", "logrotate")
	for _, mode := range []string{"create", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "app.log")
			appendLine(t, logPath, "before start")

			var scripts string
			if mode == "create" {
				scripts = fmt.Sprintf("    postrotate\n        touch %s/reopen\n    endscript\n", dir)
			} else {
				scripts = fmt.Sprintf(`    prerotate
        touch %[1]s/pause
        for i in $(seq 3000); do [ -e %[1]s/ack ] && break; sleep 0.01; done
    endscript
    postrotate
        rm -f %[1]s/pause %[1]s/ack
    endscript
`, dir)
			}
			conf := fmt.Sprintf("%s {\n    %s\n    rotate 10\n    missingok\n    nocompress\n%s}\n", logPath, mode, scripts)
			confPath := filepath.Join(dir, "logrotate.conf")
			if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}

			serve := testenv.StartServe(t, "--workers", "2", "--file", "app="+logPath)
			clients := dialSpread(t, "ws://"+serve.Addr+"/ws/app", 4, 2)
			waitWarm(t, clients, func(marker string) { appendLine(t, logPath, marker) })

			const count, rotations = 1000, 5
			writer := startRotatingWriter(t, logPath, count, 2*time.Millisecond)
			for r := 1; r <= rotations; r++ {
				target := r * count / (rotations + 1)
				testenv.Eventually(t, 60*time.Second, func() bool { return writer.Written() >= target }, "writer stalled at %d", writer.Written())
				cmd := exec.Command(logrotate, "-f", "-s", filepath.Join(dir, "state"), confPath)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("logrotate: %v\n%s", err, out)
				}
			}
			<-writer.done

			wantEvent := map[string]string{"create": "rotated", "copytruncate": "truncated"}[mode]
			for i, c := range clients {
				requireNumbered(t, fmt.Sprintf("client %d", i), count, c.Lines)
				events := 0
				for _, b := range c.Batches() {
					if b.Event == wantEvent {
						events++
					}
				}
				if events != rotations {
					t.Errorf("client %d saw %d %s events, want %d", i, events, wantEvent, rotations)
				}
			}
		})
	}
}

// TestTailKillMidBurstRepeatsNothing kills the tail process with SIGKILL
// three times while a burst of numbered lines is written. After each
// restart it must resume from the position stored with the last batch.
func TestTailKillMidBurstRepeatsNothing(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "before start")
	redis := testenv.StartRedis(t)
	serve := testenv.StartServe(t, "--workers", "2", "--redis", redis.URL(), "--file", "app="+logPath)
	clients := dialSpread(t, "ws://"+serve.Addr+"/ws/app", 4, 2)
	waitWarm(t, clients, func(marker string) { appendLine(t, logPath, marker) })

	const count, kills = 6000, 3
	writer := testenv.StartWriter(t, logPath, "line", count, 200*time.Microsecond)
	killed := map[int]bool{}
	for k := 1; k <= kills; k++ {
		target := k * count / (kills + 1)
		testenv.Eventually(t, 60*time.Second, func() bool { return writer.Written() >= target }, "writer stalled")
		var pid int
		testenv.Eventually(t, 30*time.Second, func() bool {
			pid = serve.TailPid()
			return pid != 0 && !killed[pid]
		}, "no restarted tail process after %d kills", k-1)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill tail %d: %v", pid, err)
		}
		killed[pid] = true
	}
	writer.Wait()

	for i, c := range clients {
		requireNumbered(t, fmt.Sprintf("client %d", i), count, c.Lines)
	}
	restarts := 0
	for _, e := range serve.Logs() {
		if e["msg"] == "child exited; restarting" && e["role"] == "tail" {
			restarts++
		}
	}
	if restarts != kills {
		t.Errorf("supervisor restarted the tail process %d times, want %d", restarts, kills)
	}
}

// TestTailAloneFeedsNoTailServe runs the follower as `tailcast tail` and the
// workers as `tailcast serve --no-tail`, sharing one redis-server, as a log
// host and a serving host would.
func TestTailAloneFeedsNoTailServe(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "before start")
	redis := testenv.StartRedis(t)
	serve := testenv.StartServe(t, "--workers", "2", "--no-tail", "--redis", redis.URL(), "--file", "app="+logPath)
	if serve.TailPid() != 0 {
		t.Fatalf("serve --no-tail started a tail process (pid %d)", serve.TailPid())
	}

	startProcess(t, exec.Command(testenv.Binary(t), "tail", "--redis", redis.URL(), "--file", "app="+logPath))

	clients := dialSpread(t, "ws://"+serve.Addr+"/ws/app", 4, 2)
	waitWarm(t, clients, func(marker string) { appendLine(t, logPath, marker) })
	for i := 1; i <= 50; i++ {
		appendLine(t, logPath, testenv.NumberedLine("line", i))
	}
	for i, c := range clients {
		requireNumbered(t, fmt.Sprintf("client %d", i), 50, c.Lines)
	}
}

// startProcess starts cmd with its output captured, and stops it with
// SIGTERM when the test ends, printing the output if the test failed.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
}

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
