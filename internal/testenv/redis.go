package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a real redis-server on a Unix socket in a temporary directory,
// with an append-only file fsynced on every write, so a restart keeps every
// acknowledged entry.
type Redis struct {
	t      testing.TB
	bin    string
	dir    string
	Socket string
	cmd    *exec.Cmd
	out    *syncBuffer
}

// StartRedis starts redis-server and waits until it replies to PING.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{t: t, bin: LookPath(t, "redis-server", "redis-server"), dir: t.TempDir()}
	r.Socket = filepath.Join(r.dir, "redis.sock")
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URL returns the socket's unix:// URL.
func (r *Redis) URL() string { return "unix://" + r.Socket }

// Start launches the server again after Stop.
func (r *Redis) Start() {
	r.t.Helper()
	r.out = &syncBuffer{}
	r.cmd = exec.Command(r.bin,
		"--port", "0",
		"--unixsocket", r.Socket,
		"--unixsocketperm", "777",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--daemonize", "no",
	)
	r.cmd.Stdout = r.out
	r.cmd.Stderr = r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: r.Socket, MaxRetries: -1})
	defer client.Close()
	deadline := time.Now().Add(20 * time.Second)
	for client.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not reply to PING within 20s:\n%s", tailOf(r.out.String(), 20))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the server with SIGTERM, which makes it flush the append-only
// file, and waits for it to exit.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// Client returns a go-redis client for direct inspection.
func (r *Redis) Client(t testing.TB) *redis.Client {
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: r.Socket})
	t.Cleanup(func() { client.Close() })
	return client
}

func (r *Redis) String() string { return fmt.Sprintf("redis-server at %s", r.Socket) }

// StartRedisAt starts redis-server on the given socket path, for a test
// that started tailcast before Redis existed.
func StartRedisAt(t testing.TB, socket string) *Redis {
	t.Helper()
	r := &Redis{t: t, bin: LookPath(t, "redis-server", "redis-server"), dir: filepath.Dir(socket), Socket: socket}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}
