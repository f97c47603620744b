package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"tailcast/broker"
	"tailcast/internal/testenv"
)

// TestBacklogSinceAndGap checks backlog=N, since=ID and the gap event
// against a real redis-server whose history the test trims.
func TestBacklogSinceAndGap(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "before start")
	redis := testenv.StartRedis(t)
	serve := testenv.StartServe(t, "--workers", "2", "--redis", redis.URL(), "--file", "app="+logPath)
	url := "ws://" + serve.Addr + "/ws/app"

	live := testenv.Dial(t, url)
	waitWarm(t, []*testenv.Client{live}, func(marker string) { appendLine(t, logPath, marker) })
	for i := 1; i <= 30; i++ {
		appendLine(t, logPath, testenv.NumberedLine("line", i))
		if i == 10 {
			// Split the lines over several batches.
			testenv.Eventually(t, 30*time.Second, func() bool {
				return slices.Contains(live.Lines(), testenv.NumberedLine("line", 10))
			}, "line 10 never arrived")
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return slices.Contains(live.Lines(), testenv.NumberedLine("line", 30))
	}, "line 30 never arrived")

	backlog := testenv.Dial(t, url+"?backlog=5")
	testenv.Eventually(t, 30*time.Second, func() bool { return len(backlog.Lines()) >= 5 }, "backlog incomplete: %q", backlog.Lines())
	if got, want := backlog.Lines(), testenv.NumberedLines("line", 30)[25:]; !slices.Equal(got, want) {
		t.Errorf("backlog=5 gave %q, want %q", got, want)
	}

	// Resume from the batch that ended with line 10.
	var tenth string
	for _, b := range live.Batches() {
		if slices.Contains(b.Lines, testenv.NumberedLine("line", 10)) {
			tenth = b.ID
		}
	}
	resumed := testenv.Dial(t, url+"?since="+tenth)
	testenv.Eventually(t, 30*time.Second, func() bool { return len(resumed.Lines()) >= 20 }, "since gave %q", resumed.Lines())
	if got, want := resumed.Lines(), testenv.NumberedLines("line", 30)[10:]; !slices.Equal(got, want) {
		t.Errorf("since=%s gave %q, want lines 11 to 30", tenth, got)
	}
	appendLine(t, logPath, "after-resume")
	testenv.Eventually(t, 30*time.Second, func() bool { return slices.Contains(resumed.Lines(), "after-resume") },
		"resumed client did not switch to live lines")
	if n := len(resumed.Lines()); n != 21 {
		t.Errorf("resumed client has %d lines, want 21: %q", n, resumed.Lines())
	}

	// Trim history past that ID: the next resume must report a gap.
	client := redis.Client(t)
	if err := client.XTrimMaxLen(context.Background(), broker.StreamKey("app"), 1).Err(); err != nil {
		t.Fatal(err)
	}
	gapped := testenv.Dial(t, url+"?since="+tenth)
	testenv.Eventually(t, 30*time.Second, func() bool { return len(gapped.Batches()) >= 2 }, "no gap event: %v", gapped.Batches())
	first := gapped.Batches()[0]
	if first.Event != "gap" || first.ID != tenth {
		t.Errorf("first frame after trimmed since = %+v, want a gap event with id %s", first, tenth)
	}
	if got := gapped.Lines(); !slices.Equal(got, []string{"after-resume"}) {
		t.Errorf("lines after the gap = %q, want the one entry kept", got)
	}
}

// rawConn is a client connection whose reads start with what the dialer
// buffered: frames that arrived together with the 101 response.
type rawConn struct {
	net.Conn
	reader io.Reader
}

func (c rawConn) Read(p []byte) (int, error) { return c.reader.Read(p) }

// dialRaw opens a WebSocket connection for tests that read frames
// themselves. It closes when the test ends.
func dialRaw(t *testing.T, url string) rawConn {
	t.Helper()
	conn, br, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if br == nil {
		return rawConn{Conn: conn, reader: conn}
	}
	return rawConn{Conn: conn, reader: io.MultiReader(br, conn)}
}

// TestTextFormatAndInvalidUTF8 checks format=text framing and that invalid
// bytes in the file arrive as U+FFFD in both formats.
func TestTextFormatAndInvalidUTF8(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "before start")
	serve := testenv.StartServe(t, "--workers", "1", "--file", "app="+logPath)
	jsonClient := testenv.Dial(t, "ws://"+serve.Addr+"/ws/app")
	waitWarm(t, []*testenv.Client{jsonClient}, func(marker string) { appendLine(t, logPath, marker) })

	conn := dialRaw(t, "ws://"+serve.Addr+"/ws/app?format=text")

	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// One write, so the three lines form one batch.
	if _, err := f.WriteString("plain\nbad \xff\xfe end\n<script>alert(1)</script>\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	want := []string{"plain", "bad \uFFFD\uFFFD end", "<script>alert(1)</script>"}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var textLines []string
	for len(textLines) < 3 {
		payload, op, err := wsutil.ReadServerData(conn)
		if err != nil {
			t.Fatalf("read text frame: %v (have %q; the json client has %q)", err, textLines, jsonClient.Lines())
		}
		if op != ws.OpText {
			t.Fatalf("opcode %v, want text", op)
		}
		textLines = append(textLines, strings.Split(string(payload), "\n")...)
	}
	if !slices.Equal(textLines, want) {
		t.Errorf("text frames gave %q, want %q", textLines, want)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return len(linesAfterWarm(jsonClient.Lines())) >= 3 }, "json client missing lines")
	if got := linesAfterWarm(jsonClient.Lines()); !slices.Equal(got, want) {
		t.Errorf("json frames gave %q, want %q", got, want)
	}
}

// TestPingAnsweredWithPong checks that the server replies to a client ping
// with a pong carrying the same payload, and to a close with a close.
func TestPingAnsweredWithPong(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "1", "--file", "app="+logPath)
	conn := dialRaw(t, "ws://"+serve.Addr+"/ws/app")
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))

	if err := wsutil.WriteClientMessage(conn, ws.OpPing, []byte("are you there")); err != nil {
		t.Fatal(err)
	}
	frame, err := ws.ReadFrame(conn)
	if err != nil {
		t.Fatal(err)
	}
	if frame.Header.OpCode != ws.OpPong || string(frame.Payload) != "are you there" {
		t.Errorf("reply = %v %q, want pong with the ping's payload", frame.Header.OpCode, frame.Payload)
	}

	if err := wsutil.WriteClientMessage(conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	frame, err = ws.ReadFrame(conn)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := ws.ParseCloseFrameData(frame.Payload); frame.Header.OpCode != ws.OpClose || code != ws.StatusNormalClosure {
		t.Errorf("reply to close = %v code %d, want close 1000", frame.Header.OpCode, code)
	}
}

// TestSlowClientIsClosedAlone stalls one client that never reads: it is
// disconnected once its queue passes the limit, while a reading client on
// the same worker receives every line.
func TestSlowClientIsClosedAlone(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "1", "--log-level", "debug", "--client-queue-bytes", "65536", "--file", "app="+logPath)
	url := "ws://" + serve.Addr + "/ws/app"
	fast := testenv.Dial(t, url)
	waitWarm(t, []*testenv.Client{fast}, func(marker string) { appendLine(t, logPath, marker) })

	slow := dialRaw(t, url)

	// Append 1 MB at a time until the worker gives up on the stalled
	// client; the kernel buffers a few MB first. 64 MB is the bound.
	pad := strings.Repeat("p", 1000)
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	slowClosed := func(e map[string]any) bool { return e["msg"] == "closing client" && e["code"] == float64(4000) }
	count := 0
	for !serve.HasLog(slowClosed) {
		if count >= 64000 {
			t.Fatalf("stalled client still served after %d lines of 1 KB", count)
		}
		for range 1000 {
			count++
			fmt.Fprintf(f, "%s %s\n", testenv.NumberedLine("line", count), pad)
		}
		time.Sleep(50 * time.Millisecond) // pace the writer, not a wait for a condition
	}
	f.Close()

	testenv.Eventually(t, 60*time.Second, func() bool { return len(linesAfterWarm(fast.Lines())) >= count },
		"reading client got %d of %d lines (connection error: %v)", len(linesAfterWarm(fast.Lines())), count, fast.Err())
	for i, line := range linesAfterWarm(fast.Lines()) {
		if !strings.HasPrefix(line, testenv.NumberedLine("line", i+1)+" ") {
			t.Fatalf("reading client line %d = %.20q..., want line %d", i, line, i+1)
		}
	}

	// Now drain the stalled client: its stream must end (close frame 4000,
	// or end of stream when the close frame no longer fit), not go on.
	_ = slow.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		frame, err := ws.ReadFrame(slow)
		if err != nil {
			if os.IsTimeout(err) {
				t.Fatal("stalled client was never disconnected")
			}
			break
		}
		if frame.Header.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(frame.Payload); code != 4000 {
				t.Errorf("close code = %d, want 4000", code)
			}
			break
		}
	}
}

// TestOriginCheck checks that a browser page from another origin gets close
// code 1008, while the server's own origin, a listed origin and clients
// without an Origin header get the stream.
func TestOriginCheck(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "app.log")
	appendLine(t, logPath, "x")
	serve := testenv.StartServe(t, "--workers", "1", "--allowed-origin", "https://dash.example.com", "--file", "app="+logPath)
	url := "ws://" + serve.Addr + "/ws/app"
	// Put a line in history, so an allowed client's first frame is its
	// backlog.
	waitWarm(t, []*testenv.Client{testenv.Dial(t, url)}, func(marker string) { appendLine(t, logPath, marker) })

	cases := []struct {
		origin  string
		allowed bool
	}{
		{"", true},
		{"http://" + serve.Addr, true},
		{"https://dash.example.com", true},
		{"https://evil.example.com", false},
		{"http://" + serve.Addr + ".evil.example.com", false},
		{"null", false},
	}
	for _, tc := range cases {
		t.Run("origin "+tc.origin, func(t *testing.T) {
			dialer := ws.Dialer{Timeout: 10 * time.Second}
			if tc.origin != "" {
				dialer.Header = ws.HandshakeHeaderHTTP(map[string][]string{"Origin": {tc.origin}})
			}
			conn, br, _, err := dialer.Dial(context.Background(), url+"?backlog=1")
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			var reader io.Reader = conn
			if br != nil {
				reader = io.MultiReader(br, conn)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			frame, err := ws.ReadFrame(reader)
			if err != nil {
				t.Fatalf("read first frame: %v", err)
			}
			if tc.allowed {
				if frame.Header.OpCode != ws.OpText {
					t.Errorf("first frame opcode = %v, want the backlog as text", frame.Header.OpCode)
				}
				return
			}
			code, reason := ws.ParseCloseFrameData(frame.Payload)
			if frame.Header.OpCode != ws.OpClose || code != ws.StatusPolicyViolation {
				t.Errorf("first frame = %v code %d, want close 1008", frame.Header.OpCode, code)
			}
			if !strings.Contains(reason, "--allowed-origin") {
				t.Errorf("close reason = %q, want it to name --allowed-origin", reason)
			}
		})
	}
}
