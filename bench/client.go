package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

const (
	// maxMessageBytes bounds the memory that one message can take.
	maxMessageBytes = 16 << 20

	// readBufferBytes is the size of one read; a longer frame is put
	// together over several reads.
	readBufferBytes = 16 << 10

	closeWriteTimeout = time.Second
)

// client is one WebSocket connection and the state of its order check.
// Only its read loop touches pending, fragments, order and lastDelivery;
// the atomic fields are published for the group's drain check and progress
// reports.
type client struct {
	index int // position in the whole run, over all processes
	conn  net.Conn

	pending    []byte // start of an incomplete frame, kept for the next read
	fragments  []byte // data of an unfinished fragmented message
	fragmentOp ws.OpCode

	order        orderChecker
	lastDelivery int64 // unix ns of the last bench line received

	highest  atomic.Uint64 // order.highest(), for the drain check
	ready    atomic.Bool   // received a line of this run
	closed   atomic.Bool   // read loop ended
	stopping atomic.Bool   // the group asked the read loop to end

	// disconnect is the reason the connection ended before the group
	// stopped it, such as "close 1001" or "eof"; empty otherwise. Written
	// by the read loop before closed is set.
	disconnect string
}

// readBufferPool holds read buffers, so that a client holds memory for a
// read only while it handles one, not while it waits.
var readBufferPool = sync.Pool{New: func() any {
	buffer := make([]byte, readBufferBytes)
	return &buffer
}}

// stop makes the read loop send a close frame and end. It does not wait.
func (c *client) stop() {
	c.stopping.Store(true)
	// An expired deadline wakes the blocked read; the read loop then writes
	// the close frame itself, so that only one goroutine writes.
	_ = c.conn.SetReadDeadline(time.Unix(1, 0))
}

// readLoop reads and handles frames until the connection ends or stop is
// called. initial holds bytes that the dialer read past the handshake.
//
// It reads through syscall.RawConn with one read(2) per wake-up of the
// runtime's edge-triggered poller. net.Conn.Read would instead read again
// until EAGAIN before it parks: two system calls per frame, which the bench
// cannot spare when it shares the cores with the server.
//
// NOTE: this relies on a TCP read that does not fill the buffer having
// drained the socket, as Linux tcp_recvmsg does, so that the next data
// raises a new edge. If that failed, a client would stall and the drain
// would report its remaining lines as lost.
func (c *client) readLoop(g *group, initial []byte) {
	defer c.closed.Store(true)
	defer c.conn.Close()
	shard := &g.shards[c.index%len(g.shards)]

	if len(initial) > 0 {
		shard.mu.Lock()
		err := c.handleData(g, shard, initial, time.Now().UnixNano())
		shard.mu.Unlock()
		if err != nil || c.closed.Load() {
			c.endRead(err)
			return
		}
	}

	raw, err := c.conn.(syscall.Conn).SyscallConn()
	if err != nil {
		c.endRead(fmt.Errorf("bench: read: %w", err))
		return
	}
	var readErr error
	serverClosed := false
	err = raw.Read(func(fd uintptr) bool {
		buffer := readBufferPool.Get().(*[]byte)
		defer readBufferPool.Put(buffer)
		for {
			n, err := unix.Read(int(fd), *buffer)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EAGAIN):
				return false
			case err != nil:
				readErr = err
				return true
			case n == 0:
				readErr = io.EOF
				return true
			}

			shard.mu.Lock()
			err = c.handleData(g, shard, (*buffer)[:n], time.Now().UnixNano())
			shard.mu.Unlock()
			if err != nil {
				readErr = err
				return true
			}
			if c.disconnect != "" {
				serverClosed = true
				return true
			}
			if n < len(*buffer) {
				return false
			}
		}
	})
	if serverClosed {
		return
	}
	if readErr == nil {
		readErr = err
	}
	c.endRead(readErr)
}

// endRead records why the read loop ends and, when the group stopped the
// client, closes the connection with status 1000.
func (c *client) endRead(err error) {
	if c.stopping.Load() {
		c.writeControl(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		return
	}
	c.disconnect = classifyReadError(err)
}

// handleData handles the complete frames in data, received at now (unix
// ns), and keeps the start of an incomplete frame for the next call. The
// caller holds shard.mu.
func (c *client) handleData(g *group, shard *latencyShard, data []byte, now int64) error {
	shard.bytes += uint64(len(data))
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	used, err := c.consume(g, shard, data, now)
	if err != nil {
		return err
	}

	// The copy may overlap when data is c.pending itself, which copy
	// handles.
	rest := data[used:]
	switch {
	case len(rest) == 0:
		c.pending = nil
	case len(c.pending) > 0:
		c.pending = c.pending[:copy(c.pending, rest)]
	default:
		c.pending = append([]byte(nil), rest...)
	}
	return nil
}

// frameHeader is a parsed WebSocket frame header (RFC 6455 section 5.2).
type frameHeader struct {
	fin    bool
	opCode ws.OpCode
	masked bool
	mask   [4]byte
	length int64
}

// parseFrameHeader parses the frame header at the start of b. ok is false
// when b does not yet hold the whole header.
func parseFrameHeader(b []byte) (h frameHeader, size int, ok bool, err error) {
	if len(b) < 2 {
		return h, 0, false, nil
	}
	h.fin = b[0]&0x80 != 0
	h.opCode = ws.OpCode(b[0] & 0x0f)
	h.masked = b[1]&0x80 != 0
	size = 2
	switch length := b[1] & 0x7f; length {
	case 126:
		if len(b) < 4 {
			return h, 0, false, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
		size = 4
	case 127:
		if len(b) < 10 {
			return h, 0, false, nil
		}
		length64 := binary.BigEndian.Uint64(b[2:10])
		if length64 > 1<<62 {
			return h, 0, false, errors.New("bench: read frame: invalid 64-bit length")
		}
		h.length = int64(length64)
		size = 10
	default:
		h.length = int64(length)
	}
	if h.masked {
		if len(b) < size+4 {
			return h, 0, false, nil
		}
		copy(h.mask[:], b[size:size+4])
		size += 4
	}
	return h, size, true, nil
}

// consume handles every complete frame at the start of data and returns
// how many bytes it used. It stops after a close frame.
func (c *client) consume(g *group, shard *latencyShard, data []byte, now int64) (int, error) {
	used := 0
	for c.disconnect == "" {
		h, size, ok, err := parseFrameHeader(data[used:])
		if err != nil {
			return used, err
		}
		if !ok {
			return used, nil
		}
		if h.length > maxMessageBytes || int64(len(c.fragments))+h.length > maxMessageBytes {
			return used, fmt.Errorf("bench: read frame: message longer than %d bytes", maxMessageBytes)
		}
		end := used + size + int(h.length)
		if end > len(data) {
			return used, nil
		}
		payload := data[used+size : end]
		used = end
		if h.masked {
			// Servers must not mask (RFC 6455 section 5.1), but unmasking
			// costs little and keeps the check on the lines.
			ws.Cipher(payload, h.mask, 0)
		}

		switch h.opCode {
		case ws.OpPing:
			c.writeControl(ws.NewPongFrame(payload))
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(payload)
			c.writeControl(ws.NewCloseFrame(ws.NewCloseFrameBody(code, "")))
			c.disconnect = fmt.Sprintf("close %d", code)
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			switch {
			case !h.fin:
				if h.opCode != ws.OpContinuation {
					c.fragmentOp = h.opCode
				}
				c.fragments = append(c.fragments, payload...)
			case h.opCode == ws.OpContinuation:
				c.fragments = append(c.fragments, payload...)
				c.handleMessage(g, shard, c.fragmentOp, c.fragments, now)
				c.fragments = nil
			default:
				c.handleMessage(g, shard, h.opCode, payload, now)
			}
		}
	}
	return used, nil
}

// handleMessage feeds every bench line of one message to the order check and
// records its delivery latency in the shard.
func (c *client) handleMessage(g *group, shard *latencyShard, op ws.OpCode, payload []byte, now int64) {
	shard.frames++
	delivered := uint64(0)
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

	if delivered > 0 {
		c.lastDelivery = now
		c.highest.Store(c.order.highest())
		shard.delivered += delivered
	}
}

// writeControl sends a masked control frame, because client frames must be
// masked (RFC 6455 section 5.3). Errors are ignored: the connection ends
// either way.
func (c *client) writeControl(frame ws.Frame) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_ = ws.WriteFrame(c.conn, ws.MaskFrameInPlace(frame))
}

// classifyReadError names the way a connection ended, for counting.
func classifyReadError(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "eof without close frame"
	case errors.Is(err, unix.ECONNRESET):
		return "connection reset"
	case errors.Is(err, unix.ETIMEDOUT):
		return "connection timed out"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "read timeout"
	default:
		return shortError(err)
	}
}
