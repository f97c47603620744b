package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"tailcast/broker"
)

// historyPage is the number of entries read from the broker per request
// while a client catches up.
const historyPage = 1000

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufBytes) }}

// streamParams are the validated query parameters of GET /ws/NAME.
type streamParams struct {
	text    bool
	backlog int
	since   string // empty: no resume
}

// serveConn serves one accepted connection: plain HTTP routes get a
// response and a close; /ws/NAME is upgraded and handed to the poller.
func (w *Worker) serveConn(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(w.opts.HandshakeTimeout))

	br := readerPool.Get().(*bufio.Reader)
	br.Reset(conn)
	req, err := readRequestHead(br)
	if err != nil {
		readerPool.Put(br)
		w.reject(conn, nil, err)
		conn.Close()
		return
	}

	if !strings.HasPrefix(req.path, "/ws/") {
		readerPool.Put(br)
		w.servePlain(conn, req)
		conn.Close()
		return
	}

	// Bytes the client sent right after its handshake belong to the
	// WebSocket stream.
	var early []byte
	if n := br.Buffered(); n > 0 {
		early, _ = br.Peek(n)
		early = append([]byte(nil), early...)
	}
	readerPool.Put(br)
	w.serveWebSocket(conn, req, early)
}

func (w *Worker) servePlain(conn net.Conn, req *request) {
	if req.method != "GET" && req.method != "HEAD" {
		w.hub.countReject(rejectMethod)
		_ = writeError(conn, 405, "method "+req.method+" not allowed: use GET", "Allow", "GET, HEAD")
		return
	}
	switch req.path {
	case "/healthz":
		_ = writeResponse(conn, 200, "text/plain; charset=utf-8", []byte("ok\n"))
	case "/channels":
		body, _ := json.Marshal(map[string][]string{"channels": w.hub.names})
		_ = writeResponse(conn, 200, "application/json", body)
	case "/", "/index.html":
		page := w.opts.Page
		if page == nil {
			page = []byte("<!doctype html><title>tailcast</title><p>Channels: " +
				strings.Join(w.hub.names, ", ") + ". Connect a WebSocket client to /ws/NAME.\n")
		}
		var headers []string
		if w.opts.PagePolicy != "" {
			headers = append(headers, "Content-Security-Policy", w.opts.PagePolicy)
		}
		_ = writeResponse(conn, 200, "text/html; charset=utf-8", page, headers...)
	default:
		w.hub.countReject(rejectNotFound)
		_ = writeError(conn, 404, "not found: "+req.path+"; routes are /, /healthz, /channels and /ws/NAME")
	}
}

// reject responds to a request that cannot be served and counts it.
func (w *Worker) reject(conn net.Conn, req *request, err error) {
	status, reason := 400, rejectMalformed
	if errors.Is(err, errHeadTooLarge) {
		status, reason = 431, rejectHeadTooLarge
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err) {
		w.hub.countReject(rejectAborted)
		w.log.Debug("handshake aborted", "remote", conn.RemoteAddr(), "err", err)
		return
	}
	w.hub.countReject(reason)
	w.log.Debug("request rejected", "remote", conn.RemoteAddr(), "status", status, "err", err)
	_ = writeError(conn, status, err.Error())
}

func (w *Worker) serveWebSocket(conn net.Conn, req *request, early []byte) {
	name := strings.TrimPrefix(req.path, "/ws/")
	ch := w.hub.channels[name]
	switch {
	case req.method != "GET":
		w.hub.countReject(rejectMethod)
		_ = writeError(conn, 405, "method "+req.method+" not allowed: a WebSocket handshake uses GET", "Allow", "GET")
		conn.Close()
		return
	case ch == nil:
		w.hub.countReject(rejectUnknownChannel)
		_ = writeError(conn, 404, fmt.Sprintf("unknown channel %q; channels: %s", name, strings.Join(w.hub.names, ", ")))
		conn.Close()
		return
	case !req.upgrade:
		w.hub.countReject(rejectNotWebSocket)
		_ = writeError(conn, 426, "/ws/"+name+" is a WebSocket endpoint: connect with a WebSocket client",
			"Upgrade", "websocket", "Connection", "Upgrade")
		conn.Close()
		return
	}
	params, err := w.parseStreamParams(req)
	if err != nil {
		w.hub.countReject(rejectInvalidQuery)
		_ = writeError(conn, 400, err.Error())
		conn.Close()
		return
	}

	// The head was read in full already. The upgrader parses it again from
	// memory and writes the 101 (or its own 400) straight to the socket.
	upgrader := ws.Upgrader{}
	if w.opts.Name != "" {
		upgrader.Header = ws.HandshakeHeaderString("X-Tailcast-Worker: " + w.opts.Name + "\r\n")
	}
	if _, err := upgrader.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(req.head), conn}); err != nil {
		w.hub.countReject(rejectUpgradeFailed)
		w.log.Debug("upgrade rejected", "remote", conn.RemoteAddr(), "err", err)
		conn.Close()
		return
	}

	// A browser sends the page's origin; any site the user visits could
	// otherwise read the logs through the user's browser (cross-site
	// WebSocket hijacking). RFC 6455 section 10.2 leaves the check to the
	// server.
	if !w.originAllowed(req) {
		w.hub.countReject(rejectOrigin)
		w.log.Warn("websocket origin rejected", "origin", req.origin, "host", req.host, "remote", conn.RemoteAddr())
		_, _ = conn.Write(closeFrame(closePolicyViolation, "origin not allowed; add it with --allowed-origin"))
		conn.Close()
		return
	}

	if w.opts.MaxConns > 0 && w.hub.connections.Load() >= int64(w.opts.MaxConns) {
		w.hub.countReject(rejectAtCapacity)
		_, _ = conn.Write(closeFrame(closeTryAgainLater, "server at its connection limit; retry later"))
		conn.Close()
		return
	}
	w.hub.upgrades.Add(1)
	w.hub.connections.Add(1)
	w.stream(conn, ch, params, early)
}

// originAllowed reports whether the request's Origin may open a stream:
// no Origin (not a browser), the server's own host, or a listed origin.
func (w *Worker) originAllowed(req *request) bool {
	if req.origin == "" {
		return true
	}
	for _, allowed := range w.opts.AllowedOrigins {
		if allowed == "*" || strings.EqualFold(strings.TrimSuffix(allowed, "/"), req.origin) {
			return true
		}
	}
	origin, err := url.Parse(req.origin)
	if err != nil {
		return false
	}
	return origin.Host != "" && strings.EqualFold(origin.Host, req.host)
}

func (w *Worker) parseStreamParams(req *request) (streamParams, error) {
	var params streamParams
	switch format := req.query.Get("format"); format {
	case "", "json":
	case "text":
		params.text = true
	default:
		return params, fmt.Errorf("invalid format %q: use format=json or format=text", format)
	}
	if value := req.query.Get("backlog"); value != "" {
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > w.opts.MaxBacklog {
			return params, fmt.Errorf("invalid backlog %q: use a number of lines from 0 to %d", value, w.opts.MaxBacklog)
		}
		params.backlog = n
	}
	if value := req.query.Get("since"); value != "" {
		if _, err := broker.ParseID(value); err != nil {
			return params, fmt.Errorf("invalid since %q: use the id of the last batch received, such as 1733300000000-0", value)
		}
		params.since = value
	}
	return params, nil
}

// stream sends the requested history, subscribes the client and hands its
// socket to the poller, without losing or repeating a batch between history
// and live delivery:
//
//  1. history up to now is written with blocking writes, paced by the client;
//  2. the client subscribes, and live frames wait in its pending list;
//  3. whatever reached the stream between 1 and 2 is written;
//  4. pending frames newer than the last one written follow, then live.
func (w *Worker) stream(conn net.Conn, ch *channel, params streamParams, early []byte) {
	c := &client{hub: w.hub, channel: ch, text: params.text, fd: -1, state: stateCatchingUp, index: -1}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.HandshakeTimeout+w.opts.WriteTimeout)
	defer cancel()

	last, haveLast, err := w.writeHistory(ctx, conn, ch.name, params, c)
	if err == nil {
		ch.subscribe(c)
		if haveLast {
			var more broker.ID
			more, err = w.writeAfter(ctx, conn, ch.name, last.String(), false, c)
			if err == nil && more != (broker.ID{}) {
				last = more
			}
		}
	}
	if err != nil {
		w.log.Debug("catch-up failed", "channel", ch.name, "remote", conn.RemoteAddr(), "err", err)
		if !isTimeout(err) && !isClosed(err) {
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write(closeFrame(ws.StatusInternalServerError, "history unavailable; reconnect with since=ID"))
		}
		c.mu.Lock()
		c.closeLocked()
		c.mu.Unlock()
		conn.Close()
		return
	}

	fd, err := detachFD(conn)
	conn.Close()
	c.mu.Lock()
	if err != nil {
		w.log.Error("detach socket failed", "err", err)
		c.closeLocked()
		c.mu.Unlock()
		return
	}
	c.fd = fd
	if err := w.poller.add(c); err != nil {
		w.log.Error("register socket with epoll failed", "err", err)
		c.closeLocked()
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.goLive(last, haveLast)

	if len(early) > 0 {
		c.mu.Lock()
		if c.state != stateClosed {
			c.handleInboundLocked(early)
		}
		c.mu.Unlock()
	}
}

// writeHistory writes the backlog or the entries after since. It returns the
// last ID it covered, and false when the client asked for live lines only.
func (w *Worker) writeHistory(ctx context.Context, conn net.Conn, name string, params streamParams, c *client) (broker.ID, bool, error) {
	switch {
	case params.since != "":
		last, err := w.writeAfter(ctx, conn, name, params.since, true, c)
		if err != nil {
			return broker.ID{}, false, err
		}
		if last == (broker.ID{}) {
			last, _ = broker.ParseID(params.since)
		}
		return last, true, nil

	case params.backlog > 0:
		entries, err := w.hub.broker.Backlog(ctx, name, params.backlog)
		if err != nil {
			return broker.ID{}, false, err
		}
		if len(entries) == 0 {
			return broker.ID{}, true, nil
		}
		last, err := w.writeEntries(conn, name, entries, c)
		return last, true, err
	}
	return broker.ID{}, false, nil
}

// writeAfter writes every entry after id, page by page, preceded by a gap
// event when checkGap is set and history no longer reaches id. It returns
// the last ID written, or the zero ID when there was nothing.
func (w *Worker) writeAfter(ctx context.Context, conn net.Conn, name, id string, checkGap bool, c *client) (broker.ID, error) {
	var last broker.ID
	for {
		entries, gap, err := w.hub.broker.After(ctx, name, id, historyPage)
		if err != nil {
			return last, err
		}
		if checkGap && gap {
			if err := w.writeFrame(conn, encodeEvent(name, id, "gap"), c); err != nil {
				return last, err
			}
		}
		checkGap = false
		if len(entries) == 0 {
			return last, nil
		}
		if last, err = w.writeEntries(conn, name, entries, c); err != nil {
			return last, err
		}
		if len(entries) < historyPage {
			return last, nil
		}
		id = entries[len(entries)-1].ID
	}
}

func (w *Worker) writeEntries(conn net.Conn, name string, entries []broker.Entry, c *client) (broker.ID, error) {
	var last broker.ID
	for _, entry := range entries {
		f, err := encodeEntry(name, entry)
		if err != nil {
			return last, err
		}
		frame := f.json
		if c.text {
			frame = f.text
		}
		if frame != nil {
			if err := w.writeFrame(conn, frame, c); err != nil {
				return last, err
			}
		}
		last = f.id
	}
	return last, nil
}

func (w *Worker) writeFrame(conn net.Conn, frame []byte, c *client) error {
	c.mu.Lock()
	closing := c.state != stateCatchingUp
	c.mu.Unlock()
	if closing {
		return net.ErrClosed
	}
	_ = conn.SetWriteDeadline(time.Now().Add(w.opts.WriteTimeout))
	n, err := conn.Write(frame)
	w.hub.countSent(n)
	if err == nil {
		w.hub.countFrame()
	}
	return err
}

// detachFD duplicates conn's socket so it can leave Go's network poller for
// the worker's own epoll instance. The duplicate shares the open file
// description, which Go already made non-blocking.
func detachFD(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("connection has no file descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	// Go made the shared file description non-blocking already; setting it
	// again costs one fcntl and does not depend on that.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
