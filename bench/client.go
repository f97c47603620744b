package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

const (
	// clientReadBuffer is small because the read loop holds one per client.
	// A frame that fits takes one read system call, and a longer payload is
	// read straight into a pooled buffer.
	clientReadBuffer = 1024

	// maxMessageBytes bounds the memory that one message can take.
	maxMessageBytes = 16 << 20

	closeWriteTimeout = time.Second
)

// payloadPool holds message buffers, so that memory for payloads is taken
// only while a client processes a message, not while it waits for one.
var payloadPool = sync.Pool{New: func() any { return new([]byte) }}

// client is one WebSocket connection and the state of its order check. Only
// its read loop touches order and lastDelivery; the atomic fields are
// published for the group's drain check and progress reports.
type client struct {
	index  int // position in the whole run, over all processes
	conn   net.Conn
	reader *bufio.Reader
	header [ws.MaxHeaderSize - 2]byte

	order        orderChecker
	lastDelivery int64 // unix ns of the last bench line received

	highest  atomic.Uint64 // order.highest(), for the drain check
	ready    atomic.Bool   // received a line of this run
	closed   atomic.Bool   // read loop ended
	stopping atomic.Bool   // the group asked the read loop to end

	// disconnect is the reason the connection ended before the group stopped it,
	// such as "close 1001" or "eof"; empty otherwise. Written by the read
	// loop before closed is set.
	disconnect string
}

// stop makes the read loop send a close frame and end. It does not wait.
func (c *client) stop() {
	c.stopping.Store(true)
	// An expired deadline wakes a blocked read; the read loop then writes
	// the close frame itself, so that only one goroutine writes.
	_ = c.conn.SetReadDeadline(time.Unix(1, 0))
}

// readLoop reads messages until the connection ends or stop is called, and
// records every bench line in c.order and in the group's counters.
func (c *client) readLoop(g *group) {
	defer c.closed.Store(true)
	defer c.conn.Close()

	var fragments []byte // data of an unfinished fragmented message
	var fragmentOp ws.OpCode
	for {
		h, err := ws.ReadHeaderBuffer(c.reader, c.header[:])
		if err != nil {
			c.endRead(g, err)
			return
		}
		if h.Length > maxMessageBytes || int64(len(fragments))+h.Length > maxMessageBytes {
			c.endRead(g, fmt.Errorf("bench: read frame: message longer than %d bytes", maxMessageBytes))
			return
		}

		buffer := payloadPool.Get().(*[]byte)
		if int64(cap(*buffer)) < h.Length {
			*buffer = make([]byte, h.Length)
		}
		payload := (*buffer)[:h.Length]
		if _, err := io.ReadFull(c.reader, payload); err != nil {
			payloadPool.Put(buffer)
			c.endRead(g, err)
			return
		}
		if h.Masked {
			// Servers must not mask (RFC 6455 section 5.1), but unmasking
			// costs nothing and keeps the check on the lines.
			ws.Cipher(payload, h.Mask, 0)
		}
		g.bytes.Add(uint64(h.Length))

		switch h.OpCode {
		case ws.OpPing:
			err = c.writeControl(ws.NewPongFrame(payload))
		case ws.OpPong:
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(payload)
			_ = c.writeControl(ws.NewCloseFrame(ws.NewCloseFrameBody(code, "")))
			c.disconnect = fmt.Sprintf("close %d", code)
			payloadPool.Put(buffer)
			return
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			switch {
			case !h.Fin:
				if h.OpCode != ws.OpContinuation {
					fragmentOp = h.OpCode
				}
				fragments = append(fragments, payload...)
			case h.OpCode == ws.OpContinuation:
				fragments = append(fragments, payload...)
				c.handleMessage(g, fragmentOp, fragments)
				fragments = nil
			default:
				c.handleMessage(g, h.OpCode, payload)
			}
		}
		payloadPool.Put(buffer)
		if err != nil {
			c.endRead(g, err)
			return
		}
	}
}

// endRead records why the read loop ends and, when the group stopped the
// client, closes the connection with status 1000.
func (c *client) endRead(g *group, err error) {
	if c.stopping.Load() {
		_ = c.writeControl(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		return
	}
	c.disconnect = classifyReadError(err)
	g.logger.Debug("bench client disconnected", "err", err)
}

// writeControl sends a masked control frame; client frames must be masked
// (RFC 6455 section 5.3).
func (c *client) writeControl(frame ws.Frame) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	return ws.WriteFrame(c.conn, ws.MaskFrameInPlace(frame))
}

// handleMessage feeds every bench line of one message to the order check and
// records its delivery latency.
func (c *client) handleMessage(g *group, op ws.OpCode, payload []byte) {
	g.frames.Add(1)
	now := time.Now().UnixNano()
	shard := &g.shards[c.index%len(g.shards)]
	delivered := uint64(0)

	shard.mu.Lock()
	visit := func(line []byte) {
		seq, appended, ok := g.parser.parse(line)
		if !ok {
			return
		}
		if !c.ready.Load() {
			c.ready.Store(true)
		}
		if seq == probeSeq {
			return
		}
		c.order.observe(seq)
		shard.latency.Record(time.Duration(now - appended))
		delivered++
	}
	switch {
	case g.format == FormatText:
		scanTextFrame(payload, visit)
	case op != ws.OpText:
		g.malformed.Add(1)
	default:
		event, err := scanJSONFrame(payload, visit)
		if err != nil {
			g.malformed.Add(1)
		}
		if event != "" {
			g.countEvent(event)
		}
	}
	shard.mu.Unlock()

	if delivered > 0 {
		c.lastDelivery = now
		c.highest.Store(c.order.highest())
		g.deliveries.Add(delivered)
	}
}

// classifyReadError names the way a connection ended, for counting.
func classifyReadError(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof without close frame"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "read timeout"
	case errors.As(err, &netErr):
		return "read error: " + shortError(err)
	default:
		return shortError(err)
	}
}
