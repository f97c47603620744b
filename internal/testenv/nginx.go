package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Nginx is a real nginx serving a Unix socket in a temporary directory and
// writing one access log line per request.
type Nginx struct {
	Socket    string
	AccessLog string
	cmd       *exec.Cmd
	out       syncBuffer
}

// StartNginx starts nginx in the foreground and waits until it serves a request.
// The access log uses a fixed format: the request line, then the status.
func StartNginx(t testing.TB, accessLog string) *Nginx {
	t.Helper()
	bin := LookPath(t, "nginx", "nginx-light")
	curl := LookPath(t, "curl", "curl")
	dir := t.TempDir()
	// nginx's workers run as nobody and must reach the socket's directory.
	_ = os.Chmod(dir, 0o755)
	n := &Nginx{Socket: filepath.Join(dir, "nginx.sock"), AccessLog: accessLog}
	conf := fmt.Sprintf(`
daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    log_format tailcast '$request $status';
    access_log %[2]s tailcast;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen unix:%[3]s;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
`, dir, accessLog, n.Socket)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(bin, "-c", confPath, "-p", dir)
	n.cmd.Stdout = &n.out
	n.cmd.Stderr = &n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { _ = n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-done
		}
	})
	Eventually(t, 20*time.Second, func() bool {
		return exec.Command(curl, "-sf", "--unix-socket", n.Socket, "http://localhost/healthcheck").Run() == nil
	}, "nginx did not answer on %s: %s", n.Socket, n.out.String())
	return n
}

// Get sends one request for path from a curl process.
func (n *Nginx) Get(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("curl", "-sf", "--unix-socket", n.Socket, "http://localhost"+path).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v: %s", path, err, out)
	}
}

// Load sends count requests, /load/1 to /load/COUNT in order, from one
// curl process using URL globbing, and waits for it to finish.
func (n *Nginx) Load(t testing.TB, count int) {
	t.Helper()
	cmd := exec.Command("curl", "-sf", "--unix-socket", n.Socket,
		fmt.Sprintf("http://localhost/load/[1-%d]", count))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl load: %v: %s", err, out)
	}
}
