package web

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Expressions that read the viewer's state, shared by the tests and the
// benchmark.
const (
	// lineTextsJS returns the text of every log line record in the page,
	// events and the page's own notes excluded. A line hidden by the filter
	// may have empty text, so read it with no filter set.
	lineTextsJS = `[...document.querySelectorAll('#log .l:not(.event):not(.note)')].map((e) => e.textContent)`
	// shownLinesJS returns the log lines that the filter lets through.
	shownLinesJS = `[...document.querySelectorAll('#log .l:not(.event):not(.note):not(.h)')].map((e) => e.textContent)`
	eventTextsJS = `[...document.querySelectorAll('#log .l.event')].map((e) => e.textContent)`
	noteTextsJS  = `[...document.querySelectorAll('#log .l.note')].map((e) => e.textContent)`
	connectionJS = `document.getElementById('connection').dataset.state`
	// pageStateJS describes the page for a failure message.
	pageStateJS = `({
		url: location.href,
		connection: document.getElementById('connection').textContent,
		counts: document.getElementById('counts').textContent,
		lastRecords: [...document.querySelectorAll('#log .l')].slice(-12).map((e) => e.className + ' | ' + e.textContent),
	})`
)

// lines builds count numbered lines "prefix-000001" and on.
func lines(prefix string, from, count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%06d", prefix, from+i)
	}
	return out
}

// appendLines appends lines to the file at path in one write.
func appendLines(t testing.TB, path string, lines ...string) {
	t.Helper()
	if len(lines) == 0 {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatalf("append to %s: %v", path, err)
	}
}

// waitForLines waits until the page's log lines that start with prefix are
// exactly want, in order, which also rules out a line shown twice.
func (tab *browserTab) waitForLines(prefix string, want []string, timeout time.Duration) {
	tab.t.Helper()
	expression := fmt.Sprintf(`JSON.stringify(%s.filter((l) => l.startsWith(%s))) === JSON.stringify(%s)`,
		lineTextsJS, jsString(prefix), jsLiteral(want))
	tab.waitFor(fmt.Sprintf("%d lines starting with %q", len(want), prefix), expression, pageStateJS, timeout)
}

// setFilter sets the filter field and the regular expression box as a user
// would, and lets the page apply them.
func (tab *browserTab) setFilter(value string, isRegExp bool) {
	tab.t.Helper()
	tab.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const filter = document.getElementById('filter');
		const regex = document.getElementById('regex');
		filter.value = %s;
		filter.dispatchEvent(new Event('input'));
		if (regex.checked !== %t) regex.click();
	})()`, jsString(value), isRegExp)))
}

// blockStreams makes the browser fail (or stop failing) every request for
// a /ws/ URL, as if the network to the server were down.
func (tab *browserTab) blockStreams(block bool) {
	tab.t.Helper()
	patterns := []*network.BlockPattern{}
	if block {
		patterns = append(patterns, &network.BlockPattern{URLPattern: "*://*:*/ws/*", Block: true})
	}
	tab.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns})
		return err
	}))
}

// webSocketLog records the WebSocket handshakes of a tab, in order.
type webSocketLog struct {
	mu        sync.Mutex
	urls      map[network.RequestID]string
	responses []webSocketResponse
}

type webSocketResponse struct {
	request network.RequestID
	worker  string // X-Tailcast-Worker: "index/pid"
}

type webSocketHandshake struct {
	URL    string
	Worker string
}

func (tab *browserTab) recordWebSockets() *webSocketLog {
	record := &webSocketLog{urls: map[network.RequestID]string{}}
	created := chromedp.Events(tab.ctx, network.WebSocketCreated)
	responses := chromedp.Events(tab.ctx, network.WebSocketHandshakeResponseReceived)
	go func() {
		for event, err := range created {
			if err != nil {
				return
			}
			record.mu.Lock()
			record.urls[event.RequestID] = event.URL
			record.mu.Unlock()
		}
	}()
	go func() {
		for event, err := range responses {
			if err != nil {
				return
			}
			response := webSocketResponse{request: event.RequestID}
			for name, value := range event.Response.Headers {
				if strings.EqualFold(name, "X-Tailcast-Worker") {
					response.worker = fmt.Sprint(value)
				}
			}
			record.mu.Lock()
			record.responses = append(record.responses, response)
			record.mu.Unlock()
		}
	}()
	return record
}

// handshakes returns the completed handshakes so far, oldest first. The two
// event iterators deliver independently, so a URL may still be missing for
// the newest handshake.
func (record *webSocketLog) handshakes() []webSocketHandshake {
	record.mu.Lock()
	defer record.mu.Unlock()
	out := make([]webSocketHandshake, len(record.responses))
	for i, response := range record.responses {
		out[i] = webSocketHandshake{URL: record.urls[response.request], Worker: response.worker}
	}
	return out
}

// wheel scrolls with the mouse wheel at (x, y) by deltaY CSS pixels; a
// negative deltaY scrolls up.
func (tab *browserTab) wheel(x, y, deltaY float64) {
	tab.t.Helper()
	tab.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		// A raw call, because input.DispatchMouseEventParams omits a zero
		// deltaX, which Chromium requires for a wheel event.
		return target.Call(ctx, input.CommandDispatchMouseEvent, map[string]any{
			"type": input.DispatchMouseEventTypeMouseWheel, "x": x, "y": y, "deltaX": 0, "deltaY": deltaY,
		}, nil)
	}))
}

// workerPid returns the pid in an X-Tailcast-Worker value "index/pid".
func workerPid(t *testing.T, worker string) int {
	t.Helper()
	_, pidText, ok := strings.Cut(worker, "/")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil {
		t.Fatalf("X-Tailcast-Worker %q is not index/pid", worker)
	}
	return pid
}

// unexpectedConsoleErrors drops the errors that Chromium itself logs when a
// WebSocket connection or a request fails, which the tests cause on purpose.
func unexpectedConsoleErrors(errors []string) []string {
	return slices.DeleteFunc(slices.Clone(errors), func(line string) bool {
		return strings.Contains(line, "WebSocket connection to") || strings.Contains(line, "net::ERR_")
	})
}
