package worker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Limits on a request head, which is read before any routing.
const (
	maxHeadBytes = 16 << 10
	readBufBytes = 4096
)

var (
	errHeadTooLarge = errors.New("request header fields too large")
	errBadRequest   = errors.New("malformed HTTP request")
)

// request is a parsed HTTP/1.x request head. head keeps the raw bytes so the
// WebSocket upgrader can parse them again.
type request struct {
	method  string
	proto   string
	path    string
	query   url.Values
	upgrade bool   // an Upgrade header lists "websocket"
	host    string // the Host header
	origin  string // the Origin header, which browsers send
	head    []byte
}

// readRequestHead reads up to and including the blank line that ends the
// head. It reads nothing beyond it, so bytes a client sends right after its
// handshake stay in br.
func readRequestHead(br *bufio.Reader) (*request, error) {
	var head []byte
	var lines [][]byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errHeadTooLarge
		}
		if err != nil {
			return nil, err
		}
		if len(head)+len(line) > maxHeadBytes {
			return nil, errHeadTooLarge
		}
		start := len(head)
		head = append(head, line...)
		trimmed := bytes.TrimRight(head[start:], "\r\n")
		if len(trimmed) == 0 {
			if len(lines) == 0 {
				continue // RFC 9112 section 2.2: ignore empty lines before the request line
			}
			break
		}
		lines = append(lines, trimmed)
	}

	method, rest, ok1 := strings.Cut(string(lines[0]), " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || !strings.HasPrefix(proto, "HTTP/1.") {
		return nil, errBadRequest
	}
	uri, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, errBadRequest
	}
	query, err := url.ParseQuery(uri.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid query string", errBadRequest)
	}

	req := &request{method: method, proto: proto, path: uri.Path, query: query, head: head}
	for _, line := range lines[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, errBadRequest
		}
		name = bytes.TrimSpace(name)
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			req.host = string(bytes.TrimSpace(value))
			continue
		case bytes.EqualFold(name, []byte("Origin")):
			req.origin = string(bytes.TrimSpace(value))
			continue
		case !bytes.EqualFold(name, []byte("Upgrade")):
			continue
		}
		for token := range strings.SplitSeq(string(value), ",") {
			if strings.EqualFold(strings.TrimSpace(token), "websocket") {
				req.upgrade = true
			}
		}
	}
	return req, nil
}

// writeResponse writes a complete HTTP/1.1 response with Connection: close,
// so every non-WebSocket request gets its own connection.
func writeResponse(conn net.Conn, status int, contentType string, body []byte, extraHeaders ...string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, statusText(status))
	fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n", contentType, len(body))
	connection := "close"
	for i := 0; i+1 < len(extraHeaders); i += 2 {
		if extraHeaders[i] == "Connection" {
			connection = extraHeaders[i+1] + ", close"
			continue
		}
		fmt.Fprintf(&b, "%s: %s\r\n", extraHeaders[i], extraHeaders[i+1])
	}
	fmt.Fprintf(&b, "Connection: %s\r\n", connection)
	b.WriteString("\r\n")
	b.Write(body)
	_, err := conn.Write(b.Bytes())
	return err
}

func writeError(conn net.Conn, status int, message string, extraHeaders ...string) error {
	return writeResponse(conn, status, "text/plain; charset=utf-8", []byte(message+"\n"), extraHeaders...)
}

func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 426:
		return "Upgrade Required"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status " + strconv.Itoa(status)
}
