package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"tailcast/internal/testenv"
)

// rawRequest sends request bytes on a fresh connection and returns the
// status line and the rest of the response.
func rawRequest(t *testing.T, addr, request string) (string, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	reader := bufio.NewReader(conn)
	status, err := reader.ReadString('\n')
	if err != nil {
		t.Fatalf("read response to %q: %v", request, err)
	}
	var rest strings.Builder
	_, _ = reader.WriteTo(&rest)
	return strings.TrimSpace(status), rest.String()
}

const upgradeHeaders = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

// TestBadRequestsGetClearAnswers checks the HTTP status and message for
// each kind of bad request, and that the worker keeps serving afterwards.
func TestBadRequestsGetClearAnswers(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "1", "--file", "app="+logPath)

	cases := []struct {
		name    string
		request string
		status  string
		body    string
	}{
		{"unknown channel", "GET /ws/nope HTTP/1.1\r\nHost: x\r\n" + upgradeHeaders + "\r\n", "404", `unknown channel "nope"; channels: app`},
		{"plain http on stream", "GET /ws/app HTTP/1.1\r\nHost: x\r\n\r\n", "426", "WebSocket endpoint"},
		{"unknown route", "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", "404", "routes are"},
		{"wrong method", "POST /ws/app HTTP/1.1\r\nHost: x\r\n" + upgradeHeaders + "\r\n", "405", "uses GET"},
		{"garbage request line", "HELLO\r\n\r\n", "400", "malformed"},
		{"missing key", "GET /ws/app HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", "400", ""},
		{"wrong version", "GET /ws/app HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", "", ""},
		{"invalid format", "GET /ws/app?format=xml HTTP/1.1\r\nHost: x\r\n" + upgradeHeaders + "\r\n", "400", `invalid format "xml"`},
		{"invalid backlog", "GET /ws/app?backlog=-3 HTTP/1.1\r\nHost: x\r\n" + upgradeHeaders + "\r\n", "400", `invalid backlog "-3"`},
		{"backlog over max", "GET /ws/app?backlog=99999999 HTTP/1.1\r\nHost: x\r\n" + upgradeHeaders + "\r\n", "400", "from 0 to 10000"},
		{"invalid since", "GET /ws/app?since=yesterday HTTP/1.1\r\nHost: x\r\n" + upgradeHeaders + "\r\n", "400", `invalid since "yesterday"`},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n", "431", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, rest := rawRequest(t, serve.Addr, tc.request)
			if !strings.HasPrefix(status, "HTTP/1.1 4") {
				t.Fatalf("status line = %q, want a 4xx answer", status)
			}
			if tc.status != "" && !strings.Contains(status, " "+tc.status+" ") {
				t.Errorf("status line = %q, want %s", status, tc.status)
			}
			if tc.body != "" && !strings.Contains(rest, tc.body) {
				t.Errorf("response = %q, want it to contain %q", rest, tc.body)
			}
		})
	}

	resp, err := http.Get("http://" + serve.Addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz after bad requests: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz = %d after bad requests, want 200", resp.StatusCode)
	}
	if pids := serve.WorkerPids(); len(pids) != 1 || serve.HasLog(testenv.LogMessage("child exited")) {
		t.Errorf("a worker exited during bad requests; workers now %v", pids)
	}
}

// TestHandshakeTimeoutClosesSilentClient checks that a client that opens a
// connection and sends nothing is dropped after the handshake timeout.
func TestHandshakeTimeoutClosesSilentClient(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "1", "--handshake-timeout", "300ms", "--file", "app="+logPath)
	conn, err := net.Dial("tcp", serve.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("server sent data to a client that sent no request")
	} else if os.IsTimeout(err) {
		t.Fatal("server kept a silent connection open for 30s")
	}
}

// TestServeRejectsBadFlags runs the binary with invalid flags and checks
// the exit status and that the message names the value and the fix.
func TestServeRejectsBadFlags(t *testing.T) {
	bin := testenv.Binary(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"file without name", []string{"--file", "/var/log/x.log"}, `invalid --file "/var/log/x.log": use NAME=PATH`},
		{"bad channel name", []string{"--file", "a b=/tmp/x"}, `invalid channel name "a b"`},
		{"duplicate channel", []string{"--file", "a=/tmp/x", "--file", "a=/tmp/y"}, `channel "a" is given twice`},
		{"no file", []string{}, "no file to follow"},
		{"zero workers", []string{"--file", "a=/tmp/x", "--workers", "0"}, "invalid --workers 0"},
		{"bad log format", []string{"--file", "a=/tmp/x", "--log-format", "xml"}, `invalid log format "xml"`},
		{"bad redis url", []string{"--file", "a=/tmp/x", "--redis", "http://example"}, "invalid redis url"},
		{"stray argument", []string{"--file", "a=/tmp/x", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin", "off"}, tc.args...)...)
			out, err := cmd.CombinedOutput()
			exitErr, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("serve %v: err = %v, want a non-zero exit; output:\n%s", tc.args, err, out)
			}
			if code := exitErr.ExitCode(); code != 1 && code != 2 {
				t.Errorf("exit status = %d, want 1 or 2", code)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output = %q, want it to contain %q", out, tc.want)
			}
		})
	}
}

// TestServePortInUseFailsAtOnce runs a second serve on the first one's port.
func TestServePortInUseFailsAtOnce(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	first := testenv.StartServe(t, "--workers", "1", "--file", "app="+logPath)

	cmd := exec.Command(testenv.Binary(t), "serve", "--listen", first.Addr, "--admin", "off", "--file", "app="+logPath)
	out, err := cmd.CombinedOutput()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 1 {
		t.Fatalf("second serve on %s: err = %v, want exit status 1; output:\n%s", first.Addr, err, out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("output = %q, want it to say the address is in use", out)
	}
}

// TestRedisUnreachableAtStart starts serve before redis-server exists; the
// processes must log retries instead of exiting, and lines flow once Redis
// comes up.
func TestRedisUnreachableAtStart(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendLine(t, logPath, "x")
	socket := filepath.Join(dir, "later.sock")

	cmd := exec.Command(testenv.Binary(t), "serve", "--listen", "127.0.0.1:0", "--admin", "off", "--log-format", "json",
		"--workers", "1", "--redis", "unix://"+socket, "--file", "app="+logPath)
	serve := testenv.StartServeCmd(t, cmd)
	serve.WaitLog(60*time.Second, testenv.LogMessage("broker unreachable; retrying"))
	if serve.HasLog(testenv.LogMessage("child exited")) {
		t.Fatalf("a child exited while Redis was unreachable:\n%s", serve.Output())
	}

	redis := testenv.StartRedisAt(t, socket)
	_ = redis
	addr := serve.WaitReady().Addr
	c := testenv.Dial(t, "ws://"+addr+"/ws/app")
	waitWarm(t, []*testenv.Client{c}, func(marker string) { appendLine(t, logPath, marker) })
}

// TestUnreadableFileIsRetried runs serve as an unprivileged user with one
// file it may not read: the error is logged and retried, the other file
// keeps flowing, and the first flows once it becomes readable.
func TestUnreadableFileIsRetried(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test runs serve as user nobody and needs root (make test runs as root in CI)")
	}
	dir := t.TempDir()
	// t.TempDir's parent is private to root; user nobody must traverse both.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	open := filepath.Join(dir, "open.log")
	locked := filepath.Join(dir, "locked.log")
	appendLine(t, open, "x")
	appendLine(t, locked, "secret-0")
	if err := os.Chmod(locked, 0o000); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(testenv.Binary(t), "serve", "--listen", "127.0.0.1:0", "--admin", "off", "--log-format", "json",
		"--workers", "1", "--poll-interval", "100ms", "--file", "open="+open, "--file", "locked="+locked)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	serve := testenv.StartServeCmd(t, cmd)
	serve.WaitLog(60*time.Second, func(e map[string]any) bool {
		text, _ := json.Marshal(e)
		return strings.Contains(string(text), "permission denied")
	})
	addr := serve.WaitReady().Addr

	openClient := testenv.Dial(t, "ws://"+addr+"/ws/open")
	waitWarm(t, []*testenv.Client{openClient}, func(marker string) { appendLine(t, open, marker) })

	lockedClient := testenv.Dial(t, "ws://"+addr+"/ws/locked?backlog=100")
	if err := os.Chmod(locked, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		appendLine(t, locked, fmt.Sprintf("secret-%d", i))
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(strings.Join(lockedClient.Lines(), "\n"), "secret-3")
	}, "lines of the file made readable never arrived; got %q", lockedClient.Lines())
	if serve.HasLog(testenv.LogMessage("child exited")) {
		t.Errorf("a child exited over an unreadable file")
	}
}

// TestShutdownSendsGoingAway stops serve with SIGTERM; every client gets
// close code 1001 and the supervisor exits within the shutdown timeout.
func TestShutdownSendsGoingAway(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "2", "--shutdown-timeout", "5s", "--file", "app="+logPath)
	clients := dialSpread(t, "ws://"+serve.Addr+"/ws/app", 6, 2)
	waitWarm(t, clients, func(marker string) { appendLine(t, logPath, marker) })

	if err := syscall.Kill(serve.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := serve.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
	for i, c := range clients {
		testenv.Eventually(t, 10*time.Second, func() bool { return isClosed(c) }, "client %d still open", i)
		if code := c.CloseCode(); code != ws.StatusGoingAway {
			t.Errorf("client %d close code = %d (err %v), want 1001", i, code, c.Err())
		}
	}
}

func isClosed(c *testenv.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}
