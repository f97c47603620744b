package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"tailcast/bench"
)

// TestMain serves as a bench child process when Run re-executes the test
// binary, which is how the tests spread clients over processes.
func TestMain(m *testing.M) {
	if bench.IsChild() {
		os.Exit(bench.RunChild())
	}
	os.Exit(m.Run())
}

// followServer is a minimal server of the tailcast wire contract for the
// tests: it polls one file for appended lines and broadcasts each batch to
// every WebSocket client, as JSON or text frames. fault, when set, receives
// each line before the broadcast and emits what the clients get instead,
// to simulate a server that loses, repeats or reorders lines.
type followServer struct {
	t      *testing.T
	path   string
	fault  func(line string, emit func(string))
	http   *httptest.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	clients map[*followClient]struct{}
	batches int
}

type followClient struct {
	conn   net.Conn
	format string
	queue  chan []byte // compiled frames
	once   sync.Once
}

func (c *followClient) close() {
	c.once.Do(func() { c.conn.Close() })
}

func startFollowServer(t *testing.T, path string, fault func(line string, emit func(string))) *followServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &followServer{t: t, path: path, fault: fault, cancel: cancel, clients: map[*followClient]struct{}{}}

	file, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("open followed file: %v", err)
	}
	if _, err := file.Seek(0, io.SeekEnd); err != nil {
		t.Fatalf("seek followed file: %v", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer file.Close()
		s.follow(ctx, file)
	}()

	s.http = httptest.NewServer(http.HandlerFunc(s.serveWebSocket))
	t.Cleanup(s.stop)
	return s
}

// url returns the WebSocket URL of channel name.
func (s *followServer) url(name string) string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http") + "/ws/" + name
}

func (s *followServer) stop() {
	s.cancel()
	s.http.Close()
	s.mu.Lock()
	for c := range s.clients {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *followServer) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/ws/") {
		http.NotFound(w, r)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	c := &followClient{conn: conn, format: format, queue: make(chan []byte, 4096)}
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer s.remove(c)
		for frame := range c.queue {
			if _, err := conn.Write(frame); err != nil {
				return
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		defer s.remove(c)
		// The read loop replies to pings and receives the client's close
		// frame.
		for {
			if _, _, err := wsutil.ReadClientData(conn); err != nil {
				return
			}
		}
	}()
}

func (s *followServer) remove(c *followClient) {
	s.mu.Lock()
	if _, ok := s.clients[c]; ok {
		delete(s.clients, c)
		close(c.queue)
	}
	s.mu.Unlock()
	c.close()
}

// follow polls the file and broadcasts complete lines until ctx ends.
func (s *followServer) follow(ctx context.Context, file *os.File) {
	reader := bufio.NewReader(file)
	var partial []byte
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		var lines []string
		for {
			chunk, err := reader.ReadBytes('\n')
			if err != nil {
				partial = append(partial, chunk...)
				break
			}
			line := append(partial, chunk[:len(chunk)-1]...)
			partial = nil
			if s.fault == nil {
				lines = append(lines, string(line))
			} else {
				s.fault(string(line), func(out string) { lines = append(lines, out) })
			}
		}
		if len(lines) > 0 {
			s.broadcast(lines)
		}
	}
}

func (s *followServer) broadcast(lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	id := strconv.FormatInt(time.Now().UnixMilli(), 10) + "-" + strconv.Itoa(s.batches)
	payload, err := json.Marshal(map[string]any{"channel": "bench", "id": id, "lines": lines})
	if err != nil {
		s.t.Errorf("encode frame: %v", err)
		return
	}
	frames := map[string][]byte{
		"json": ws.MustCompileFrame(ws.NewTextFrame(payload)),
		"text": ws.MustCompileFrame(ws.NewTextFrame([]byte(strings.Join(lines, "\n")))),
	}
	for c := range s.clients {
		select {
		case c.queue <- frames[c.format]:
		default:
			// A client that cannot keep up is closed, as the real server
			// does; the test would then report it as disconnected.
			go c.close()
		}
	}
}

func benchOptions(s *followServer, path string, format bench.Format) bench.Options {
	return bench.Options{
		URL:          s.url("bench"),
		Format:       format,
		Conns:        200,
		Procs:        2,
		File:         path,
		Rate:         300,
		Lines:        300,
		Drain:        5 * time.Second,
		ReadyTimeout: 20 * time.Second,
		Interval:     250 * time.Millisecond,
		ChildArgs:    []string{"-test.run=^$"},
	}
}

// decodeJSONReport writes the report as JSON and decodes it generically,
// as a consumer of the JSON report would.
func decodeJSONReport(t *testing.T, report *bench.Report) map[string]any {
	t.Helper()
	var buffer bytes.Buffer
	if err := report.WriteJSON(&buffer); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(buffer.Bytes(), &decoded); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, buffer.String())
	}
	return decoded
}

func TestRunCleanServer(t *testing.T) {
	for _, format := range []bench.Format{bench.FormatJSON, bench.FormatText} {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			server := startFollowServer(t, path, nil)
			opts := benchOptions(server, path, format)
			// The test server runs in this process, so its tree is the
			// test binary with the bench children; enough to exercise the
			// measurements.
			opts.ServerPID = os.Getpid()

			report, err := bench.Run(context.Background(), opts)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var text bytes.Buffer
			if err := report.WriteText(&text); err != nil {
				t.Fatalf("WriteText: %v", err)
			}
			t.Logf("report:\n%s", text.String())

			if report.ExitCode() != 0 {
				t.Errorf("ExitCode = %d, want 0; problems: %q", report.ExitCode(), report.Problems)
			}
			if report.Connect.Connected != 200 {
				t.Errorf("connected = %d, want 200", report.Connect.Connected)
			}
			if report.Procs != 2 {
				t.Errorf("procs = %d, want 2", report.Procs)
			}
			if report.Load.Lines != 300 {
				t.Errorf("lines = %d, want 300", report.Load.Lines)
			}
			d := report.Delivery
			if d.Lost != 0 || d.Repeated != 0 || d.Reordered != 0 {
				t.Errorf("lost %d, repeated %d, reordered %d; want 0, 0, 0", d.Lost, d.Repeated, d.Reordered)
			}
			if d.Delivered != 200*300 {
				t.Errorf("delivered = %d, want %d", d.Delivered, 200*300)
			}
			if report.Latency.Count != 200*300 {
				t.Errorf("latency count = %d, want %d", report.Latency.Count, 200*300)
			}
			if report.Latency.P50Ms <= 0 || report.Latency.MaxMs < report.Latency.P99Ms {
				t.Errorf("latency p50 %v, p99 %v, max %v: want 0 < p50 and p99 <= max",
					report.Latency.P50Ms, report.Latency.P99Ms, report.Latency.MaxMs)
			}
			if len(report.Series) == 0 {
				t.Error("series is empty")
			}
			if report.Server == nil || report.Server.RSSConnected == 0 || report.Server.Processes < 3 {
				t.Errorf("server report = %+v, want RSS and at least 3 processes", report.Server)
			}

			decoded := decodeJSONReport(t, report)
			for _, key := range []string{"run_id", "connect", "load", "delivery", "latency", "server", "bench", "series", "ok", "problems"} {
				if _, ok := decoded[key]; !ok {
					t.Errorf("JSON report has no %q field", key)
				}
			}
			if decoded["ok"] != true {
				t.Errorf("JSON ok = %v, want true", decoded["ok"])
			}
			delivery, _ := decoded["delivery"].(map[string]any)
			if lost, ok := delivery["lost"].(float64); !ok || lost != 0 {
				t.Errorf("JSON delivery.lost = %v, want 0", delivery["lost"])
			}

			plotPath := filepath.Join(t.TempDir(), "run.svg")
			if err := report.WritePlot(plotPath); err != nil {
				t.Fatalf("WritePlot: %v", err)
			}
			svg, err := os.ReadFile(plotPath)
			if err != nil {
				t.Fatalf("read plot: %v", err)
			}
			if !bytes.Contains(svg, []byte("<svg")) {
				t.Error("plot file is not SVG")
			}
		})
	}
}

func TestRunDetectsDroppedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	dropSeq3 := func(line string, emit func(string)) {
		if !strings.Contains(line, " seq=3 ") {
			emit(line)
		}
	}
	server := startFollowServer(t, path, dropSeq3)
	opts := benchOptions(server, path, bench.FormatJSON)
	opts.Drain = time.Second

	report, err := bench.Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var text bytes.Buffer
	if err := report.WriteText(&text); err != nil {
		t.Fatalf("WriteText: %v", err)
	}
	t.Logf("report:\n%s", text.String())

	if report.ExitCode() == 0 {
		t.Error("ExitCode = 0, want non-zero for a lost line")
	}
	if report.Delivery.Lost != 200 {
		t.Errorf("lost = %d, want 200 (line 3 for each client)", report.Delivery.Lost)
	}
	if report.Delivery.BadClients != 200 {
		t.Errorf("bad clients = %d, want 200", report.Delivery.BadClients)
	}
	if report.Delivery.Repeated != 0 || report.Delivery.Reordered != 0 {
		t.Errorf("repeated %d, reordered %d; want 0, 0", report.Delivery.Repeated, report.Delivery.Reordered)
	}
	if len(report.Delivery.Examples) == 0 || !strings.Contains(report.Delivery.Examples[0], "missing seq 3") {
		t.Errorf("examples = %q, want one naming missing seq 3", report.Delivery.Examples)
	}
	decoded := decodeJSONReport(t, report)
	if decoded["ok"] != false {
		t.Errorf("JSON ok = %v, want false", decoded["ok"])
	}
}

func TestRunDetectsRepeatAndReorder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	var heldSeq7 string
	repeatSeq5HoldSeq7 := func(line string, emit func(string)) {
		switch {
		case strings.Contains(line, " seq=5 "):
			emit(line)
			emit(line)
		case strings.Contains(line, " seq=7 "):
			heldSeq7 = line
		case strings.Contains(line, " seq=8 "):
			emit(line)
			emit(heldSeq7)
		default:
			emit(line)
		}
	}
	server := startFollowServer(t, path, repeatSeq5HoldSeq7)
	opts := benchOptions(server, path, bench.FormatText)
	opts.Lines = 100

	report, err := bench.Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if report.ExitCode() == 0 {
		t.Error("ExitCode = 0, want non-zero for repeated and reordered lines")
	}
	d := report.Delivery
	if d.Repeated != 200 {
		t.Errorf("repeated = %d, want 200 (line 5 for each client)", d.Repeated)
	}
	if d.Reordered != 200 {
		t.Errorf("reordered = %d, want 200 (line 7 for each client)", d.Reordered)
	}
	if d.Lost != 0 {
		t.Errorf("lost = %d, want 0", d.Lost)
	}
	if d.BadClients != 200 {
		t.Errorf("bad clients = %d, want 200", d.BadClients)
	}
}

func TestRunIdleInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	server := startFollowServer(t, path, nil)
	report, err := bench.Run(context.Background(), bench.Options{
		URL:      server.url("bench"),
		Conns:    20,
		Idle:     true,
		Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if report.ExitCode() != 0 {
		t.Errorf("ExitCode = %d, want 0; problems: %q", report.ExitCode(), report.Problems)
	}
	if report.Procs != 1 {
		t.Errorf("procs = %d, want 1", report.Procs)
	}
	if report.Connect.Connected != 20 {
		t.Errorf("connected = %d, want 20", report.Connect.Connected)
	}
	if !report.Load.Idle || report.Load.Lines != 0 {
		t.Errorf("load = %+v, want idle with no lines", report.Load)
	}
}

func TestRunReportsRefusedDials(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()

	report, err := bench.Run(context.Background(), bench.Options{
		URL:      "ws://" + addr + "/ws/bench",
		Conns:    5,
		Idle:     true,
		Duration: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if report.Connect.Failed != 5 {
		t.Errorf("failed = %d, want 5", report.Connect.Failed)
	}
	if report.Connect.Errors["connection refused"] != 5 {
		t.Errorf("dial errors = %v, want 5 connection refused", report.Connect.Errors)
	}
	if report.ExitCode() == 0 {
		t.Error("ExitCode = 0, want non-zero when clients fail to connect")
	}
}

func TestRunRejectsInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts bench.Options
	}{
		{"no url", bench.Options{File: "x"}},
		{"http scheme", bench.Options{URL: "http://127.0.0.1:1/ws/a", File: "x"}},
		{"no file", bench.Options{URL: "ws://127.0.0.1:1/ws/a"}},
		{"bad format", bench.Options{URL: "ws://127.0.0.1:1/ws/a", File: "x", Format: "xml"}},
		{"bad run id", bench.Options{URL: "ws://127.0.0.1:1/ws/a", File: "x", RunID: "A B"}},
		{"more procs than clients", bench.Options{URL: "ws://127.0.0.1:1/ws/a", File: "x", Conns: 2, Procs: 3}},
		{"wss scheme", bench.Options{URL: "wss://127.0.0.1:1/ws/a", File: "x"}},
		{"too many source addresses", bench.Options{URL: "ws://127.0.0.1:1/ws/a", File: "x", SourceAddrs: 300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bench.Run(context.Background(), tc.opts)
			if err == nil {
				t.Fatal("Run accepted invalid options")
			}
			var optionsErr *bench.OptionsError
			if !errors.As(err, &optionsErr) {
				t.Errorf("error %q is not an OptionsError", err)
			}
			if !strings.HasPrefix(err.Error(), "bench: invalid options: ") {
				t.Errorf("error %q lacks the prefix", err)
			}
			if strings.Contains(err.Error(), "%!") {
				t.Errorf("error %q is badly formatted", err)
			}
		})
	}
}
