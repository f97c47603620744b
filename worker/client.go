package worker

import (
	"errors"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"tailcast/broker"
)

type clientState int

const (
	stateCatchingUp clientState = iota // history is being written; live frames wait in pending
	stateOpen                          // live frames go to the queue
	stateClosing                       // a close frame is queued; nothing else is accepted
	stateClosed                        // the descriptor is closed
)

// closeGrace bounds how long a closing client may take to receive its close
// frame before the socket is closed anyway.
const closeGrace = 2 * time.Second

// maxIovecs bounds one writev call; Linux accepts up to IOV_MAX (1024).
const maxIovecs = 64

// pendingFrame is a live frame that arrived while the client was catching
// up. It is sent afterwards only if its ID is past what the catch-up sent.
type pendingFrame struct {
	id    broker.ID
	frame []byte
}

// client is one upgraded WebSocket connection. Every field below mu is
// guarded by it; the descriptor is only read, written or closed with mu
// held, so a reused descriptor number can never be touched by mistake.
type client struct {
	hub     *hub
	channel *channel
	text    bool // format=text
	index   int  // position in channel.clients, guarded by channel.mu

	mu           sync.Mutex
	fd           int
	state        clientState
	queue        [][]byte
	sent         int // bytes of queue[0] already written
	queued       int // bytes in queue not yet written
	writeArmed   bool
	closeBy      time.Time
	pending      []pendingFrame
	pendingBytes int
	in           inbound
	// caughtUp is the last ID that catch-up sent, when haveCaughtUp is
	// set. The hub can read an entry later than catch-up did, so a live
	// frame up to caughtUp is a repeat and is dropped.
	caughtUp     broker.ID
	haveCaughtUp bool
}

// send queues a live frame. It never blocks: a client whose queue would go
// over the limit is closed with CloseSlowClient instead.
func (c *client) send(f *frames) {
	frame := f.json
	if c.text {
		frame = f.text
		if frame == nil {
			return
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateCatchingUp:
		if c.pendingBytes > 0 && c.pendingBytes+len(frame) > c.hub.opts.QueueBytes {
			c.hub.countSlow()
			c.startCloseLocked(CloseSlowClient, "client too slow: reconnect with since=ID")
			return
		}
		c.pending = append(c.pending, pendingFrame{id: f.id, frame: frame})
		c.pendingBytes += len(frame)
	case stateOpen:
		if c.haveCaughtUp && !c.caughtUp.Less(f.id) {
			return
		}
		// Before judging the client slow, give the socket what it can take:
		// frames of one read are normally flushed together afterwards.
		if c.queued > 0 && c.queued+len(frame) > c.hub.opts.QueueBytes && !c.writeArmed {
			c.flushLocked()
			if c.state != stateOpen {
				return
			}
		}
		// One frame is always accepted, so a batch larger than the limit
		// still reaches a client that keeps up.
		if c.queued > 0 && c.queued+len(frame) > c.hub.opts.QueueBytes {
			c.hub.countSlow()
			c.startCloseLocked(CloseSlowClient, "client too slow: reconnect with since=ID")
			return
		}
		// The broadcaster calls flush once it has queued every entry of one
		// read, so a burst leaves in one writev instead of one per frame.
		c.queue = append(c.queue, frame)
		c.queued += len(frame)
	}
}

// flush writes what send queued, unless the socket is waiting for EPOLLOUT.
func (c *client) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateOpen && len(c.queue) > 0 && !c.writeArmed {
		c.flushLocked()
	}
}

// sendControl queues a frame regardless of the queue limit; control frames
// are small and rare.
func (c *client) sendControl(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateOpen {
		c.enqueueLocked(frame)
	}
}

// goLive sends the frames that arrived during catch-up and are newer than
// lastSent, then switches to live delivery. The caller has registered c.fd
// with the poller.
func (c *client) goLive(lastSent broker.ID, haveLastSent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateCatchingUp {
		if c.state == stateClosing {
			c.flushLocked()
		}
		return
	}
	pending := c.pending
	c.pending, c.pendingBytes = nil, 0
	c.state = stateOpen
	c.caughtUp, c.haveCaughtUp = lastSent, haveLastSent
	for _, p := range pending {
		if haveLastSent && !lastSent.Less(p.id) {
			continue
		}
		c.queue = append(c.queue, p.frame)
		c.queued += len(p.frame)
	}
	c.flushLocked()
}

func (c *client) enqueueLocked(frame []byte) {
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	if !c.writeArmed {
		c.flushLocked()
	}
}

// startCloseLocked replaces everything not yet started with a close frame
// and gives the client closeGrace to receive it. A frame already partly
// written stays first, because cutting it would corrupt the stream.
func (c *client) startCloseLocked(code ws.StatusCode, reason string) {
	if c.state == stateClosing || c.state == stateClosed {
		return
	}
	wasCatchingUp := c.state == stateCatchingUp
	c.state = stateClosing
	c.pending, c.pendingBytes = nil, 0

	keep := 0
	if c.sent > 0 {
		keep = 1
	}
	for _, frame := range c.queue[keep:] {
		c.queued -= len(frame)
	}
	c.queue = append(c.queue[:keep], closeFrame(code, reason))
	c.queued += len(c.queue[len(c.queue)-1])
	c.closeBy = time.Now().Add(closeGrace)
	c.hub.trackClosing(c)
	c.hub.log.Debug("closing client", "fd", c.fd, "code", int(code), "queued", c.queued, "channel", c.channel.name)

	// During catch-up the descriptor still belongs to the handshake
	// goroutine, which flushes when it hands the client over.
	if !wasCatchingUp && c.fd >= 0 {
		c.flushLocked()
	}
}

// flushLocked writes queued frames until the queue is empty or the socket
// would block; then it waits for EPOLLOUT.
func (c *client) flushLocked() {
	if c.fd < 0 || c.state == stateClosed {
		return
	}
	for len(c.queue) > 0 {
		n, err := writeFrames(c.fd, c.queue, c.sent)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			if !c.writeArmed {
				if err := c.hub.poller.setWriteInterest(c, true); err != nil {
					c.closeLocked()
					return
				}
				c.writeArmed = true
			}
			return
		}
		if err != nil {
			// The peer is gone (EPIPE, ECONNRESET): nothing more can be sent.
			c.closeLocked()
			return
		}
		c.hub.countSent(n)
		c.consumeLocked(n)
	}

	if c.writeArmed {
		_ = c.hub.poller.setWriteInterest(c, false)
		c.writeArmed = false
	}
	if c.state == stateClosing {
		c.closeLocked()
	}
}

func (c *client) consumeLocked(n int) {
	c.queued -= n
	for n > 0 {
		rest := len(c.queue[0]) - c.sent
		if n < rest {
			c.sent += n
			return
		}
		n -= rest
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.sent = 0
		c.hub.countFrame()
	}
	if len(c.queue) == 0 {
		c.queue = nil
	}
}

// closeLocked closes the socket at once and schedules removal from the
// channel. It does not take the channel lock, because the broadcaster holds
// that lock while it calls send.
func (c *client) closeLocked() {
	if c.state == stateClosed {
		return
	}
	c.hub.log.Debug("client closed", "fd", c.fd, "channel", c.channel.name)
	c.state = stateClosed
	c.queue, c.queued, c.pending = nil, 0, nil
	if c.fd >= 0 {
		c.hub.poller.remove(c)
		_ = unix.Close(c.fd)
		c.fd = -1
	}
	c.hub.retire(c)
}

// handleEvents reacts to epoll readiness. buf is the poller's scratch
// buffer.
func (c *client) handleEvents(events uint32, buf []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed || c.fd < 0 {
		return
	}
	if events&unix.EPOLLOUT != 0 {
		c.flushLocked()
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.readLocked(buf)
	}
}

// readLocked drains the socket and replies to control frames: ping with pong,
// close with close (RFC 6455 section 5.5).
func (c *client) readLocked(buf []byte) {
	for c.state != stateClosed {
		n, err := unix.Read(c.fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil || n == 0 {
			c.closeLocked()
			return
		}
		c.handleInboundLocked(buf[:n])
	}
}

func (c *client) handleInboundLocked(data []byte) {
	controls, err := c.in.parse(data)
	for _, frame := range controls {
		switch frame.op {
		case ws.OpPing:
			if c.state == stateOpen {
				c.enqueueLocked(compile(ws.OpPong, frame.payload))
			}
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(frame.payload)
			if code == 0 || !code.IsProtocolDefined() && !code.IsApplicationSpec() {
				code = ws.StatusNormalClosure
			}
			c.startCloseLocked(code, "")
			return
		}
	}
	if err != nil {
		c.startCloseLocked(ws.StatusProtocolError, err.Error())
	}
}
