package tail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv carries a childConfig to a copy of the test binary that runs
// Follow as an unprivileged user. Tests run as root, which no file mode
// stops, so permission denial needs another uid.
const childEnv = "TAILCAST_TAIL_TEST_CHILD"

type childConfig struct {
	Path         string
	Start        *Position
	Poll         bool
	PollInterval time.Duration
}

func TestMain(m *testing.M) {
	if config := os.Getenv(childEnv); config != "" {
		os.Exit(runChild(config))
	}
	os.Exit(m.Run())
}

// runChild runs Follow until its standard input closes, writing each batch
// to standard output as one JSON line and the log to standard error.
func runChild(config string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(config), &c); err != nil {
		fmt.Fprintln(os.Stderr, "child: invalid config:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	out := json.NewEncoder(os.Stdout)
	opts := Options{
		Path:         c.Path,
		Start:        c.Start,
		Poll:         c.Poll,
		PollInterval: c.PollInterval,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	err := Follow(ctx, opts, func(_ context.Context, b Batch) error {
		return out.Encode(b)
	})
	if !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "child: follow failed:", err)
		return 1
	}
	return 0
}

// startChildFollow runs Follow in a child process as user nobody, or as the
// current user when that is not root. The file's directory must be
// readable by that user.
func startChildFollow(t *testing.T, opts Options) *run {
	t.Helper()
	binary := copyTestBinary(t)
	config, err := json.Marshal(childConfig{
		Path: opts.Path, Start: opts.Start, Poll: opts.Poll, PollInterval: opts.PollInterval,
	})
	if err != nil {
		t.Fatal(err)
	}

	r := &run{}
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), childEnv+"="+string(config))
	cmd.Stderr = &r.logs
	if os.Geteuid() == 0 {
		uid, gid := nobody(t)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	decoded := make(chan struct{})
	go func() {
		defer close(decoded)
		scanner := bufio.NewScanner(stdout)
		scanner.Buffer(make([]byte, 1<<20), 16<<20)
		for scanner.Scan() {
			var b Batch
			if err := json.Unmarshal(scanner.Bytes(), &b); err != nil {
				t.Errorf("child output is not a batch: %v: %q", err, scanner.Text())
				continue
			}
			r.add(b)
		}
	}()

	var once sync.Once
	var result error
	r.stop = func() error {
		once.Do(func() {
			stdin.Close()
			exited := make(chan error, 1)
			go func() {
				<-decoded
				exited <- cmd.Wait()
			}()
			select {
			case err := <-exited:
				result = context.Canceled
				if err != nil {
					result = fmt.Errorf("child follower: %w", err)
				}
			case <-time.After(waitTimeout):
				_ = cmd.Process.Kill()
				result = errors.New("child follower did not exit after its input closed")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := r.stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("child Follow ended with %v, want context.Canceled", err)
		}
		if t.Failed() {
			t.Logf("child follower log:\n%s", r.logs.String())
		}
	})
	return r
}

// copyTestBinary copies the running test binary into a directory that user
// nobody can reach, because the build directory is private to root.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	makeReachable(t, dir)
	binary := filepath.Join(dir, "tail.test")
	dst, err := os.OpenFile(binary, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return binary
}

// makeReachable opens dir and its parent, both made by t.TempDir with mode
// 0700, to other users.
func makeReachable(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func nobody(t *testing.T) (uid, gid uint32) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		// The conventional overflow ids, used when /etc/passwd lacks user nobody.
		return 65534, 65534
	}
	parsedUID, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	parsedGID, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(parsedUID), uint32(parsedGID)
}
