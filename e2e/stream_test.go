// Package e2e runs the real tailcast binary against real redis-server,
// nginx and WebSocket clients.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tailcast/internal/testenv"
)

// dialSpread connects n clients to url and keeps dialling (up to 4n) until
// every one of the workers serves at least one of them, because the kernel
// picks the SO_REUSEPORT listener by hashing the connection.
func dialSpread(t *testing.T, url string, n, workers int) []*testenv.Client {
	t.Helper()
	var clients []*testenv.Client
	perWorker := map[string]int{}
	for len(clients) < n || len(perWorker) < workers {
		if len(clients) >= 4*n {
			t.Fatalf("after %d connections only %d of %d workers serve a client: %v", len(clients), len(perWorker), workers, perWorker)
		}
		c := testenv.Dial(t, url)
		if c.Worker == "" {
			t.Fatalf("handshake response of %s has no X-Tailcast-Worker header", url)
		}
		perWorker[strings.SplitN(c.Worker, "/", 2)[0]]++
		clients = append(clients, c)
	}
	t.Logf("%d clients over workers %v", len(clients), perWorker)
	return clients
}

// waitWarm appends marker lines through write until every client has
// received one, proving that the follower and every worker are live.
func waitWarm(t *testing.T, clients []*testenv.Client, write func(marker string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		marker := fmt.Sprintf("warm-%d", i)
		write(marker)
		settle := time.Now().Add(2 * time.Second)
		for time.Now().Before(settle) {
			if allContain(clients, marker) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("clients did not receive a warm-up line within 60s")
		}
	}
}

func allContain(clients []*testenv.Client, marker string) bool {
	for _, c := range clients {
		if !slices.ContainsFunc(c.Lines(), func(line string) bool { return strings.Contains(line, marker) }) {
			return false
		}
	}
	return true
}

// linesAfterWarm returns a client's lines that follow its last warm-up line.
func linesAfterWarm(lines []string) []string {
	last := -1
	for i, line := range lines {
		if strings.Contains(line, "warm-") {
			last = i
		}
	}
	return lines[last+1:]
}

// TestNginxAccessLogReachesEveryClient is the product's main job end to end:
// a real nginx writes its access log under load from a curl process, and
// every request's line reaches each of 40 clients spread over 4 workers,
// once and in file order, identical on every worker. It runs on a real
// redis-server and on the embedded broker.
func TestNginxAccessLogReachesEveryClient(t *testing.T) {
	for _, broker := range []string{"redis-server", "embedded"} {
		t.Run(broker, func(t *testing.T) {
			dir := t.TempDir()
			accessLog := filepath.Join(dir, "access.log")
			nginx := testenv.StartNginx(t, accessLog)

			args := []string{"--workers", "4", "--file", "nginx=" + accessLog}
			if broker == "redis-server" {
				redis := testenv.StartRedis(t)
				args = append(args, "--redis", redis.URL())
			}
			serve := testenv.StartServe(t, args...)
			clients := dialSpread(t, "ws://"+serve.Addr+"/ws/nginx", 40, 4)
			waitWarm(t, clients, func(marker string) { nginx.Get(t, "/"+marker) })

			const requests = 500
			nginx.Load(t, requests)

			want := make([]string, requests)
			for i := range want {
				want[i] = fmt.Sprintf("GET /load/%d HTTP/1.1 200", i+1)
			}
			for i, c := range clients {
				testenv.Eventually(t, 60*time.Second, func() bool {
					return len(linesAfterWarm(c.Lines())) >= requests
				}, "client %d (worker %s) got %d of %d lines", i, c.Worker, len(linesAfterWarm(c.Lines())), requests)
			}
			for i, c := range clients {
				got := linesAfterWarm(c.Lines())
				if !slices.Equal(got, want) {
					t.Errorf("client %d (worker %s): lines differ from the access log order; first difference at %s", i, c.Worker, firstDifference(got, want))
				}
			}
			fileLines := readLines(t, accessLog)
			if got := linesAfterWarm(fileLines); !slices.Equal(got, want) {
				t.Errorf("access log itself is not the expected request sequence (first difference at %s)", firstDifference(got, want))
			}
		})
	}
}

func firstDifference(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("%d: got %q, want %q", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("length: got %d lines, want %d", len(got), len(want))
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}
