package bench

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// jsonFrameBytes returns a server frame with one JSON message carrying the
// bench lines first to last, each lineBytes long.
func jsonFrameBytes(t *testing.T, runID string, first, last uint64, lineBytes int) []byte {
	t.Helper()
	var payload []byte
	payload = append(payload, `{"channel":"app","id":"1-0","lines":[`...)
	for seq := first; seq <= last; seq++ {
		if seq > first {
			payload = append(payload, ',')
		}
		payload = append(payload, '"')
		payload = appendStamp(payload, runID, seq, time.Now().UnixNano(), lineBytes)
		payload = append(payload, '"')
	}
	payload = append(payload, "]}"...)
	frame, err := ws.CompileFrame(ws.NewTextFrame(payload))
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

func newTestGroup() *group {
	return newGroup(groupConfig{Format: FormatJSON, RunID: "run1", Conns: 1}, slog.New(slog.DiscardHandler), func(groupReport) {})
}

func TestClientHandlesSplitFrames(t *testing.T) {
	var stream []byte
	stream = append(stream, jsonFrameBytes(t, "run1", 1, 3, 60)...)       // 7-bit length
	stream = append(stream, jsonFrameBytes(t, "run1", 4, 10, 100)...)     // 16-bit length
	stream = append(stream, jsonFrameBytes(t, "run1", 11, 800, 100)...)   // 64-bit length
	stream = append(stream, jsonFrameBytes(t, "other", 801, 801, 100)...) // another run: ignored

	for _, chunkSize := range []int{1, 7, 100, 4096, len(stream)} {
		g := newTestGroup()
		c := &g.clients[0]
		shard := &g.shards[0]
		for start := 0; start < len(stream); start += chunkSize {
			end := min(start+chunkSize, len(stream))
			if err := c.handleData(g, shard, stream[start:end], time.Now().UnixNano()); err != nil {
				t.Fatalf("chunk size %d: handleData: %v", chunkSize, err)
			}
		}
		if c.order.received != 800 {
			t.Errorf("chunk size %d: received %d lines, want 800", chunkSize, c.order.received)
		}
		if lost := c.order.lost(800); lost != 0 {
			t.Errorf("chunk size %d: lost %d, want 0", chunkSize, lost)
		}
		if len(c.pending) != 0 {
			t.Errorf("chunk size %d: %d bytes left pending, want 0", chunkSize, len(c.pending))
		}
		if shard.frames != 4 {
			t.Errorf("chunk size %d: frames = %d, want 4", chunkSize, shard.frames)
		}
		if shard.latency.Count() != 800 {
			t.Errorf("chunk size %d: latency count = %d, want 800", chunkSize, shard.latency.Count())
		}
	}
}

func TestClientJoinsFragmentedMessage(t *testing.T) {
	frame := jsonFrameBytes(t, "run1", 1, 5, 80)
	h, size, ok, err := parseFrameHeader(frame)
	if err != nil || !ok {
		t.Fatalf("parseFrameHeader: ok %v, err %v", ok, err)
	}
	payload := frame[size : size+int(h.length)]
	third := len(payload) / 3

	var stream []byte
	for i, part := range [][]byte{payload[:third], payload[third : 2*third], payload[2*third:]} {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		fragment, err := ws.CompileFrame(ws.NewFrame(op, i == 2, part))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, fragment...)
	}

	g := newTestGroup()
	c := &g.clients[0]
	if err := c.handleData(g, &g.shards[0], stream, time.Now().UnixNano()); err != nil {
		t.Fatalf("handleData: %v", err)
	}
	if c.order.received != 5 {
		t.Errorf("received %d lines, want 5", c.order.received)
	}
	if g.malformed.Load() != 0 {
		t.Errorf("malformed = %d, want 0", g.malformed.Load())
	}
}

func TestClientCountsMalformedFrame(t *testing.T) {
	frame, err := ws.CompileFrame(ws.NewTextFrame([]byte(`{"lines":["a"`)))
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGroup()
	if err := g.clients[0].handleData(g, &g.shards[0], frame, time.Now().UnixNano()); err != nil {
		t.Fatalf("handleData: %v", err)
	}
	if g.malformed.Load() != 1 {
		t.Errorf("malformed = %d, want 1", g.malformed.Load())
	}
}

func TestClientRejectsHugeFrame(t *testing.T) {
	header := []byte{0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0} // text, 256 MiB
	g := newTestGroup()
	err := g.clients[0].handleData(g, &g.shards[0], header, time.Now().UnixNano())
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("handleData error = %v, want a message-length error", err)
	}
}
