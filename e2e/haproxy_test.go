package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"tailcast/internal/testenv"
)

// TestHostsBehindHAProxyAgree runs two `tailcast serve --no-tail` hosts and
// one `tailcast tail` on one redis-server, behind a real HAProxy on a Unix
// socket. Clients land on both hosts and must all receive the same lines.
func TestHostsBehindHAProxyAgree(t *testing.T) {
	haproxy := testenv.LookPath(t, "haproxy", "haproxy")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendLine(t, logPath, "before start")
	redis := testenv.StartRedis(t)

	hostA := testenv.StartServe(t, "--workers", "1", "--no-tail", "--redis", redis.URL(), "--file", "app="+logPath)
	hostB := testenv.StartServe(t, "--workers", "1", "--no-tail", "--redis", redis.URL(), "--file", "app="+logPath)
	startProcess(t, exec.Command(testenv.Binary(t), "tail", "--redis", redis.URL(), "--file", "app="+logPath))

	socket := filepath.Join(dir, "haproxy.sock")
	conf := fmt.Sprintf(`global
    maxconn 1000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend tailcast
    bind unix@%s
    default_backend tailcast
backend tailcast
    balance roundrobin
    server a %s
    server b %s
`, socket, hostA.Addr, hostB.Addr)
	confPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, exec.Command(haproxy, "-db", "-f", confPath))
	testenv.Eventually(t, 20*time.Second, func() bool { return exists(socket) }, "haproxy did not create %s", socket)

	// Dial through the proxy's socket. The client sends no Origin header,
	// so the origin check lets it through like any non-browser client.
	dialer := ws.Dialer{
		Timeout: 10 * time.Second,
		NetDial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}
	hosts := map[string]bool{}
	var clients []*testenv.Client
	for range 10 {
		c, err := testenv.DialWith(dialer, "ws://127.0.0.1/ws/app")
		if err != nil {
			t.Fatalf("dial through haproxy: %v", err)
		}
		t.Cleanup(c.Close)
		clients = append(clients, c)
		hosts[strings.SplitN(c.Worker, "/", 2)[1]] = true
	}
	if len(hosts) != 2 {
		t.Fatalf("clients reached %d tailcast hosts (worker pids %v), want both", len(hosts), hosts)
	}

	waitWarm(t, clients, func(marker string) { appendLine(t, logPath, marker) })
	for i := 1; i <= 200; i++ {
		appendLine(t, logPath, testenv.NumberedLine("line", i))
	}
	for i, c := range clients {
		requireNumbered(t, fmt.Sprintf("client %d (worker %s)", i, c.Worker), 200, c.Lines)
	}
}
