// Package testenv starts the real programs that tailcast's end-to-end tests
// need: the tailcast binary built from this module, redis-server, nginx. Each
// listens on port 0 or a socket in the test's temporary directory and is
// stopped when the test ends.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds the tailcast binary once per test process, with the race
// detector so the children's races fail the tests too, and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tailcast-bin-")
		if err != nil {
			buildErr = err
			return
		}
		// World-readable, so tests may run it as an unprivileged user.
		_ = os.Chmod(dir, 0o755)
		buildPath = filepath.Join(dir, "tailcast")
		cmd := exec.Command("go", "build", "-race", "-o", buildPath, ".")
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build tailcast: %v", buildErr)
	}
	return buildPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// LookPath returns the path of a program the tests need, failing the test
// with the install command when it is missing: tests never skip.
func LookPath(t testing.TB, name, debianPackage string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/", "/sbin/"} {
		if path, err := exec.LookPath(dir + name); err == nil {
			return path
		}
	}
	t.Fatalf("%s not found: install it with `apt-get install -y %s` (make test does this when run as root)", name, debianPackage)
	return ""
}

// Eventually polls cond every 10 ms until it returns true or timeout
// passes, then fails the test with the message.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer collects a process's output for the test to search.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tailOf returns the last n lines of s, for failure messages.
func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
