package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tailcast/internal/testenv"
)

// screenshotEnv names the environment variable that, when set to a path,
// makes TestViewerFollowsServe save a PNG screenshot of the page there.
const screenshotEnv = "TAILCAST_SCREENSHOT"

// servedFiles is a running `tailcast serve` with real redis-server that
// follows two files, "app" and "other".
type servedFiles struct {
	serve *testenv.Serve
	redis *testenv.Redis
	app   string
	other string
	base  string // URL of the page, ending in "/"
}

func startServe(t *testing.T, workers string, appLines ...string) *servedFiles {
	t.Helper()
	s := serveFiles(t, func(args ...string) *testenv.Serve {
		return testenv.StartServe(t, append([]string{"--workers", workers}, args...)...)
	})
	appendLines(t, s.app, appLines...)
	appendLines(t, s.other, "other-000001")
	return s
}

// serveFiles creates the two files, calls start with the serve arguments
// that follow them, and waits until tailcast has opened both.
func serveFiles(t testing.TB, start func(args ...string) *testenv.Serve) *servedFiles {
	t.Helper()
	dir := t.TempDir()
	s := &servedFiles{app: filepath.Join(dir, "app.log"), other: filepath.Join(dir, "other.log")}
	for _, path := range []string{s.app, s.other} {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatalf("create %s: %v", path, err)
		}
	}
	s.redis = testenv.StartRedis(t)
	s.serve = start("--redis", s.redis.URL(), "--file", "app="+s.app, "--file", "other="+s.other)
	s.base = "http://" + s.serve.Addr + "/"

	// A file is followed from its end when tailcast first opens it, so the
	// first lines go in once both files are open.
	for _, channel := range []string{"app", "other"} {
		s.serve.WaitLog(30*time.Second, func(entry map[string]any) bool {
			return entry["msg"] == "file opened" && entry["channel"] == channel
		})
	}
	return s
}

// TestViewerFollowsServe drives the page in Chromium against the real server:
// backlog, live lines, markup and ANSI colours, filter, pause, scrolling,
// truncation, a worker killed with SIGKILL, the channel picker and the
// settings in the URL.
func TestViewerFollowsServe(t *testing.T) {
	served := startServe(t, "2", lines("history", 1, 5)...)
	tab := startBrowser(t, 1280, 800)
	sockets := tab.recordWebSockets()

	// Backlog, then live lines in order.
	tab.navigate(served.base + "?channel=app")
	tab.waitFor("connection live", connectionJS+` === 'live'`, pageStateJS, 20*time.Second)
	tab.waitForLines("history-", lines("history", 1, 5), 10*time.Second)
	if options := evaluate[[]string](tab, `[...document.getElementById('channel').options].map((o) => o.value)`); !slices.Equal(options, []string{"app", "other"}) {
		t.Errorf("channel picker offers %q, expected the server's [app other]", options)
	}
	if title := evaluate[string](tab, `document.title`); !strings.HasPrefix(title, "app") {
		t.Errorf("title = %q, expected it to name the channel app", title)
	}

	appendLines(t, served.app, lines("live", 1, 40)...)
	tab.waitForLines("live-", lines("live", 1, 40), 10*time.Second)

	// A line with markup stays text, and its SGR codes become styles.
	const hostile = "\x1b[1;31mERROR\x1b[0m <script>window.injected = 1</script><img src=x onerror=\"window.injected = 2\"> done"
	appendLines(t, served.app, hostile)
	tab.waitForLines("ERROR <script>", []string{`ERROR <script>window.injected = 1</script><img src=x onerror="window.injected = 2"> done`}, 10*time.Second)
	if n := evaluate[int](tab, `document.querySelectorAll('#log script, #log img').length`); n != 0 {
		t.Errorf("log contains %d script or img elements; a line became markup", n)
	}
	if injected := evaluate[bool](tab, `window.injected !== undefined`); injected {
		t.Error("script from a log line ran")
	}
	styled := evaluate[[]string](tab, `(() => {
		const span = [...document.querySelectorAll('#log .l span')].find((s) => s.textContent === 'ERROR');
		if (!span) return [];
		const probe = document.createElement('span');
		probe.className = 'f1';
		document.body.append(probe);
		const red = getComputedStyle(probe).color;
		probe.remove();
		return [span.className, getComputedStyle(span).color, red, getComputedStyle(span).fontWeight];
	})()`)
	if len(styled) != 4 {
		t.Fatalf("no styled span for the SGR text of %q", hostile)
	}
	if styled[0] != "f1 sb" || styled[1] != styled[2] || styled[3] != "700" {
		t.Errorf("ESC[1;31m text has class %q, colour %s (palette red is %s), weight %s; expected bold palette red",
			styled[0], styled[1], styled[2], styled[3])
	}

	// The "/" key focuses the filter without typing into it.
	tab.press("/", "Slash", 191, "/")
	if focused := evaluate[string](tab, `document.activeElement.id + '=' + document.activeElement.value`); focused != "filter=" {
		t.Fatalf("after pressing / the focus is on %q, expected the empty filter", focused)
	}
	tab.do(chromedp.SendKeys(chromedp.ID("filter"), "live-00002"))
	tab.waitFor("filter applied", `JSON.stringify(`+shownLinesJS+`) === JSON.stringify(`+jsLiteral(lines("live", 20, 10))+`)`, pageStateJS, 5*time.Second)
	if marks := evaluate[[]string](tab, `[...document.querySelectorAll('#log .l:not(.h) mark')].map((m) => m.textContent)`); len(marks) != 10 || marks[0] != "live-00002" {
		t.Errorf("highlights = %q, expected live-00002 marked on each of 10 lines", marks)
	}
	// New lines are filtered too.
	appendLines(t, served.app, "live-000041", "unrelated", "again live-000020")
	tab.waitFor("new line filtered", shownLinesJS+`.at(-1) === 'again live-000020'`, pageStateJS, 10*time.Second)
	if shown := evaluate[[]string](tab, shownLinesJS); slices.Contains(shown, "unrelated") || slices.Contains(shown, "live-000041") {
		t.Errorf("filter let through a non-matching new line: %q", shown)
	}

	// An invalid regular expression is reported and filters nothing.
	tab.do(chromedp.Click(chromedp.ID("regex")))
	tab.setFilter("live-(0", true)
	tab.waitFor("invalid regex shown", `document.getElementById('filter').getAttribute('aria-invalid') === 'true' && !document.getElementById('filter-error').hidden`, pageStateJS, 5*time.Second)
	if hidden := evaluate[int](tab, `document.querySelectorAll('#log .l.h').length`); hidden != 0 {
		t.Errorf("%d lines hidden by an invalid regular expression, expected none", hidden)
	}
	tab.setFilter(`live-00000[0-9]$`, true)
	tab.waitFor("regex applied", `JSON.stringify(`+shownLinesJS+`) === JSON.stringify(`+jsLiteral(lines("live", 1, 9))+`)`, pageStateJS, 5*time.Second)
	if url := evaluate[string](tab, `location.search`); !strings.Contains(url, "re=1") || !strings.Contains(url, "q=live-0000") {
		t.Errorf("URL %q does not keep the filter", url)
	}
	// Escape clears the filter, and a second Escape leaves the field.
	tab.press("/", "Slash", 191, "/")
	tab.press("Escape", "Escape", 27, "")
	tab.press("Escape", "Escape", 27, "")
	tab.waitFor("filter cleared", `document.querySelectorAll('#log .l.h').length === 0 && document.activeElement.id !== 'filter'`, pageStateJS, 5*time.Second)
	tab.do(chromedp.Click(chromedp.ID("regex")))
	tab.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))

	// Pause buffers new lines; resume shows them.
	tab.press("p", "KeyP", 80, "p")
	tab.waitFor("paused", `document.getElementById('pause').getAttribute('aria-pressed') === 'true'`, pageStateJS, 5*time.Second)
	appendLines(t, served.app, lines("paused", 1, 3)...)
	tab.waitFor("lines buffered", `document.getElementById('counts').textContent.includes('3 new lines buffered')`, pageStateJS, 10*time.Second)
	if got := evaluate[[]string](tab, lineTextsJS+`.filter((l) => l.startsWith('paused-'))`); len(got) != 0 {
		t.Errorf("paused page shows %q", got)
	}
	tab.press(" ", "Space", 32, " ")
	tab.waitForLines("paused-", lines("paused", 1, 3), 5*time.Second)

	// Scrolling up stops following; End follows again.
	appendLines(t, served.app, lines("fill", 1, 200)...)
	tab.waitForLines("fill-", lines("fill", 1, 200), 10*time.Second)
	tab.wheel(600, 400, -600)
	tab.waitFor("following stopped", `!document.getElementById('bottom').hidden`, pageStateJS, 5*time.Second)
	// A wheel scroll may be animated; wait until two polls see one position.
	tab.waitFor("scrolling settled", `(() => {
		const top = document.getElementById('log').scrollTop;
		const settled = window.lastScrollTop === top;
		window.lastScrollTop = top;
		return settled;
	})()`, pageStateJS, 5*time.Second)
	scrollTop := evaluate[float64](tab, `document.getElementById('log').scrollTop`)
	appendLines(t, served.app, lines("below", 1, 50)...)
	tab.waitForLines("below-", lines("below", 1, 50), 10*time.Second)
	tab.waitFor("new lines counted", `document.getElementById('bottom').textContent.includes('50 new lines')`, pageStateJS, 5*time.Second)
	if now := evaluate[float64](tab, `document.getElementById('log').scrollTop`); now != scrollTop {
		t.Errorf("view moved from scrollTop %v to %v while the user looked at older lines", scrollTop, now)
	}
	tab.press("End", "End", 35, "")
	tab.waitFor("following again", `(() => { const l = document.getElementById('log'); return document.getElementById('bottom').hidden && l.scrollHeight - l.scrollTop - l.clientHeight < 4; })()`, pageStateJS, 5*time.Second)

	// Truncation shows an event inline, followed by the new lines.
	if err := os.Truncate(served.app, 0); err != nil {
		t.Fatalf("truncate %s: %v", served.app, err)
	}
	appendLines(t, served.app, "after-truncate-000001")
	tab.waitForLines("after-truncate-", []string{"after-truncate-000001"}, 10*time.Second)
	if events := evaluate[[]string](tab, eventTextsJS); len(events) != 1 || !strings.Contains(events[0], "file truncated") {
		t.Errorf("events shown = %q, expected one truncation", events)
	}

	// Kill the worker that serves the page. Lines written while the page is
	// disconnected must appear once each, in order, after it resumes.
	before := sockets.handshakes()
	if len(before) == 0 || before[len(before)-1].Worker == "" {
		t.Fatalf("no handshake with X-Tailcast-Worker recorded: %+v", before)
	}
	victim := workerPid(t, before[len(before)-1].Worker)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker %d: %v", victim, err)
	}
	appendLines(t, served.app, lines("outage", 1, 100)...)
	writer := testenv.StartWriter(t, served.app, "during", 100, 5*time.Millisecond)
	tab.waitFor("disconnect noticed", noteTextsJS+`.some((n) => n.startsWith('disconnected'))`, pageStateJS, 10*time.Second)
	writer.Wait()
	tab.waitFor("reconnected", noteTextsJS+`.some((n) => n.startsWith('reconnected'))`, pageStateJS, 30*time.Second)
	tab.waitForLines("outage-", lines("outage", 1, 100), 20*time.Second)
	tab.waitForLines("during-", testenv.NumberedLines("during", 100), 20*time.Second)
	served.serve.WaitLog(30*time.Second, func(entry map[string]any) bool {
		pid, _ := entry["pid"].(float64)
		return entry["msg"] == "child exited; restarting" && int(pid) == victim
	})
	after := sockets.handshakes()
	if len(after) <= len(before) {
		t.Fatalf("no new WebSocket handshake after the worker was killed: %+v", after)
	}
	if resumed := after[len(before)]; !strings.Contains(resumed.URL, "since=") || strings.Contains(resumed.URL, "backlog=") {
		t.Errorf("reconnect URL %q, expected since= and no backlog", resumed.URL)
	}
	// Every line arrived once, in the order written.
	all := evaluate[[]string](tab, lineTextsJS)
	want := slices.Concat(lines("history", 1, 5), lines("live", 1, 40))
	if got := all[:len(want)]; !slices.Equal(got, want) {
		t.Errorf("first lines = %q, expected %q", got, want)
	}

	if path := os.Getenv(screenshotEnv); path != "" {
		appendLines(t, served.app, sampleLines()...)
		tab.waitForLines("2026-", stripSGR(sampleLines()), 10*time.Second)
		tab.setFilter("/api/", false)
		tab.waitFor("screenshot filter", `document.querySelectorAll('#log .l:not(.h) mark').length === 11`, pageStateJS, 5*time.Second)
		tab.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
		tab.screenshot(path)
		t.Logf("saved a screenshot to %s", path)
		tab.setFilter("", false)
	}

	// The channel picker switches the stream and the URL.
	lastApp := evaluate[string](tab, lineTextsJS+`.at(-1)`)
	tab.do(chromedp.SetValue(chromedp.ID("channel"), "other"))
	tab.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('channel').dispatchEvent(new Event('change'))`))
	tab.waitForLines("other-", []string{"other-000001"}, 10*time.Second)
	if got := evaluate[[]string](tab, lineTextsJS); len(got) != 1 {
		t.Errorf("after switching to channel other the page shows %q", got)
	}
	if search := evaluate[string](tab, `location.search`); search != "?channel=other" {
		t.Errorf("URL query = %q, expected ?channel=other", search)
	}

	// Backlog and line limit come from the URL.
	tab.navigate(served.base + "?channel=app&backlog=3")
	tab.waitFor("backlog of 3", lineTextsJS+`.length === 3 && `+lineTextsJS+`.at(-1) === `+jsString(lastApp), pageStateJS, 10*time.Second)
	tab.navigate(served.base + "?channel=app&max=100")
	tab.waitFor("trimmed to 100", lineTextsJS+`.length === 100 && `+lineTextsJS+`.at(-1) === `+jsString(lastApp), pageStateJS, 10*time.Second)
	if max := evaluate[string](tab, `document.getElementById('max-lines').value`); max != "100" {
		t.Errorf("settings show %s lines kept, expected the URL's 100", max)
	}

	// A channel the server does not have is named as such.
	tab.navigate(served.base + "?channel=nope")
	tab.waitFor("unknown channel reported", `document.getElementById('connection').textContent.startsWith('channel "nope" is not on this server')`, pageStateJS, 10*time.Second)

	if errors := unexpectedConsoleErrors(tab.consoleErrors()); len(errors) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errors, "\n"))
	}
}

// TestViewerShowsRotationAndGap checks that a rotated file and a resume
// past the end of history show as events in the log.
func TestViewerShowsRotationAndGap(t *testing.T) {
	served := startServe(t, "1", "before-rotate-000001")
	tab := startBrowser(t, 1000, 700)
	sockets := tab.recordWebSockets()
	tab.navigate(served.base + "?channel=app")
	tab.waitForLines("before-rotate-", []string{"before-rotate-000001"}, 20*time.Second)

	if err := os.Rename(served.app, served.app+".1"); err != nil {
		t.Fatalf("rotate %s: %v", served.app, err)
	}
	appendLines(t, served.app, "after-rotate-000001")
	tab.waitForLines("after-rotate-", []string{"after-rotate-000001"}, 10*time.Second)
	if events := evaluate[[]string](tab, eventTextsJS); len(events) != 1 || !strings.Contains(events[0], "file rotated") {
		t.Errorf("events shown = %q, expected one rotation", events)
	}

	// Keep the page away while its last ID leaves history: block its
	// WebSocket requests, kill the only worker, append lines and trim the
	// whole stream in Redis.
	tab.blockStreams(true)
	handshakes := sockets.handshakes()
	victim := workerPid(t, handshakes[len(handshakes)-1].Worker)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker %d: %v", victim, err)
	}
	tab.waitFor("disconnect noticed", noteTextsJS+`.some((n) => n.startsWith('disconnected'))`, pageStateJS, 10*time.Second)
	appendLines(t, served.app, lines("lost", 1, 3)...)
	client := served.redis.Client(t)
	stream := "tailcast:{app}:lines"
	testenv.Eventually(t, 10*time.Second, func() bool {
		last, err := client.XRevRangeN(context.Background(), stream, "+", "-", 1).Result()
		return err == nil && len(last) == 1 && strings.Contains(fmt.Sprint(last[0].Values), "lost-000003")
	}, "lost-000003 never reached stream %s", stream)
	if err := client.XTrimMaxLen(context.Background(), stream, 0).Err(); err != nil {
		t.Fatalf("trim %s: %v", stream, err)
	}
	served.serve.WaitLog(30*time.Second, func(entry map[string]any) bool {
		pid, _ := entry["pid"].(float64)
		return entry["msg"] == "child exited; restarting" && int(pid) == victim
	})
	served.serve.WaitLog(30*time.Second, func(entry map[string]any) bool {
		pid, _ := entry["pid"].(float64)
		return entry["msg"] == "child ready" && entry["role"] == "worker" && int(pid) != victim
	})

	tab.blockStreams(false)
	// The browser's online event makes the page retry at once.
	tab.do(chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event('online'))`))
	tab.waitFor("gap shown", eventTextsJS+`.some((e) => e.includes('gap'))`, pageStateJS, 30*time.Second)
	appendLines(t, served.app, "after-gap-000001")
	tab.waitForLines("after-gap-", []string{"after-gap-000001"}, 10*time.Second)
	if lost := evaluate[[]string](tab, lineTextsJS+`.filter((l) => l.startsWith('lost-'))`); len(lost) != 0 {
		t.Errorf("page shows %q, which left history before the page resumed", lost)
	}
	order := evaluate[[]string](tab, `[...document.querySelectorAll('#log .l')].map((e) => e.className).slice(-2)`)
	if !slices.Equal(order, []string{"l event", "l"}) {
		t.Errorf("last two records have classes %q, expected the gap event and then the new line", order)
	}
}

// TestViewerKeepsViewWhileTrimming checks that lines trimmed above the view
// do not move the lines that a user who scrolled up is reading.
func TestViewerKeepsViewWhileTrimming(t *testing.T) {
	served := startServe(t, "1")
	tab := startBrowser(t, 1000, 700)
	tab.navigate(served.base + "?channel=app&max=200")
	tab.waitFor("connection live", connectionJS+` === 'live'`, pageStateJS, 20*time.Second)
	appendLines(t, served.app, lines("first", 1, 200)...)
	tab.waitForLines("first-", lines("first", 1, 200), 10*time.Second)

	tab.wheel(500, 300, -1200)
	tab.waitFor("following stopped", `!document.getElementById('bottom').hidden`, pageStateJS, 5*time.Second)
	tab.waitFor("scrolling settled", `(() => {
		const top = document.getElementById('log').scrollTop;
		const settled = window.lastScrollTop === top;
		window.lastScrollTop = top;
		return settled;
	})()`, pageStateJS, 5*time.Second)
	const lineAtTopJS = `(() => {
		const box = document.getElementById('log').getBoundingClientRect();
		return document.elementFromPoint(box.left + 40, box.top + 12).closest('.l').textContent;
	})()`
	reading := evaluate[string](tab, lineAtTopJS)

	appendLines(t, served.app, lines("second", 1, 50)...)
	tab.waitFor("oldest lines trimmed", lineTextsJS+`[0] === 'first-000051' && `+lineTextsJS+`.length === 200`, pageStateJS, 10*time.Second)
	if now := evaluate[string](tab, lineAtTopJS); now != reading {
		t.Errorf("line at the top of the view went from %q to %q while older lines were trimmed", reading, now)
	}
}

// TestViewerBoundsPauseBuffer checks that a paused page buffers at most
// twice its line limit and shows the newest lines on resume.
func TestViewerBoundsPauseBuffer(t *testing.T) {
	served := startServe(t, "1")
	tab := startBrowser(t, 1000, 700)
	tab.navigate(served.base + "?channel=app&max=100")
	tab.waitFor("connection live", connectionJS+` === 'live'`, pageStateJS, 20*time.Second)
	appendLines(t, served.app, lines("shown", 1, 10)...)
	tab.waitForLines("shown-", lines("shown", 1, 10), 10*time.Second)

	tab.do(chromedp.Click(chromedp.ID("pause")))
	appendLines(t, served.app, lines("buffered", 1, 350)...)
	// The buffer never holds more than twice the limit of 100, and each of
	// the 350 lines is either buffered or counted as skipped.
	const bufferJS = `(() => {
		const text = document.getElementById('counts').textContent.replaceAll(',', '');
		const number = (re) => Number((re.exec(text) || [0, 0])[1]);
		return [number(/(\d+) new lines buffered/), number(/(\d+) lines skipped/)];
	})()`
	tab.waitFor("all lines buffered or skipped", bufferJS+`.reduce((a, b) => a + b) === 350`, pageStateJS, 10*time.Second)
	if buffer := evaluate[[]int](tab, bufferJS); buffer[0] > 200 || buffer[1] == 0 {
		t.Errorf("paused page buffers %d lines and skipped %d, expected at most 200 buffered", buffer[0], buffer[1])
	}
	if got := evaluate[[]string](tab, lineTextsJS); !slices.Equal(got, lines("shown", 1, 10)) {
		t.Errorf("paused page changed to %d lines", len(got))
	}

	tab.do(chromedp.Click(chromedp.ID("pause")))
	tab.waitForLines("buffered-", lines("buffered", 251, 100), 10*time.Second)
	if got := evaluate[int](tab, lineTextsJS+`.length`); got != 100 {
		t.Errorf("page keeps %d lines after resume, expected its limit of 100", got)
	}
}

// TestViewerFitsPhoneAndThemes checks the page at phone width and in both
// colour schemes.
func TestViewerFitsPhoneAndThemes(t *testing.T) {
	served := startServe(t, "1", strings.Repeat("a-long-token-without-spaces-", 20))
	tab := startBrowser(t, 360, 740)
	tab.navigate(served.base + "?channel=app&q=token")
	tab.waitFor("line shown", shownLinesJS+`.length === 1`, pageStateJS, 20*time.Second)

	overflow := evaluate[[]float64](tab, `[document.documentElement.scrollWidth, window.innerWidth]`)
	if overflow[0] > overflow[1] {
		t.Errorf("page is %v CSS pixels wide in a %v pixel viewport", overflow[0], overflow[1])
	}
	offscreen := evaluate[[]string](tab, `['channel', 'filter', 'regex', 'pause', 'clear', 'connection'].filter((id) => {
		const r = document.getElementById(id).getBoundingClientRect();
		return r.width === 0 || r.left < 0 || r.right > window.innerWidth;
	})`)
	if len(offscreen) > 0 {
		t.Errorf("controls outside a 360 px viewport: %q", offscreen)
	}

	tab.setColorScheme("light")
	light := evaluate[string](tab, `getComputedStyle(document.body).backgroundColor`)
	tab.setColorScheme("dark")
	dark := evaluate[string](tab, `getComputedStyle(document.body).backgroundColor`)
	if light == dark {
		t.Errorf("background is %s in both colour schemes", light)
	}

	// Keyboard focus is visible.
	tab.press("/", "Slash", 191, "/")
	if outline := evaluate[string](tab, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" {
		t.Error("the focused filter has no outline")
	}
}

// sampleLines returns log lines in the style of a web service, with ANSI
// colours, for the screenshot.
func sampleLines() []string {
	levels := []string{"\x1b[32mINFO\x1b[0m ", "\x1b[32mINFO\x1b[0m ", "\x1b[33mWARN\x1b[0m ", "\x1b[32mINFO\x1b[0m ", "\x1b[1;31mERROR\x1b[0m"}
	paths := []string{"GET /api/items/17 200", "GET /api/items?page=2 200", "POST /api/orders 429", "GET /healthz 200", "POST /api/orders 502"}
	var out []string
	for i := range 14 {
		out = append(out, fmt.Sprintf("2026-12-04T20:14:%02d.%03dZ %s %s \x1b[2m%dms\x1b[0m req=%08x",
			i*3, i*137%1000, levels[i%5], paths[i%5], 3+i*i%90, 0x5f3a17c0+i*7919))
	}
	return out
}

// stripSGR removes the "ESC [ ... m" sequences of s, as the page does.
func stripSGR(lines []string) []string {
	sgr := regexp.MustCompile("\x1b\\[[0-9;]*m")
	out := make([]string, len(lines))
	for i, line := range lines {
		out[i] = sgr.ReplaceAllString(line, "")
	}
	return out
}

// jsLiteral returns a JavaScript array literal of strings.
func jsLiteral(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = jsString(v)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}

// TestViewerRendersSGR sends lines with escape sequences through the real
// server and checks the text and the styled spans the page makes of them.
func TestViewerRendersSGR(t *testing.T) {
	cases := []struct {
		line  string
		text  string
		spans []string // "text|class|inline colour|inline background" per span
	}{
		{"\x1b[31mred\x1b[0m plain", "red plain", []string{"red|f1||"}},
		{"\x1b[92;104mbright", "bright", []string{"bright|f10 b12||"}},
		{"\x1b[38;5;208mcube", "cube", []string{"cube||rgb(255, 135, 0)|"}},
		{"\x1b[38;5;244mgrey", "grey", []string{"grey||rgb(128, 128, 128)|"}},
		{"\x1b[38;2;10;20;30mfg\x1b[48;2;1;2;3mbg", "fgbg", []string{"fg||rgb(10, 20, 30)|", "bg||rgb(10, 20, 30)|rgb(1, 2, 3)"}},
		{"\x1b[38:2::200:100:50mcolon", "colon", []string{"colon||rgb(200, 100, 50)|"}},
		{"\x1b[7minverse", "inverse", []string{"inverse|fi bi||"}},
		{"\x1b[1;4;9mx\x1b[22;24;29my", "xy", []string{"x|sb su ss||"}},
		{"\x1b]0;title\x07a\x1b[2Kb\x1b[?25lc", "abc", nil},
		{"cut \x1b[38;5", "cut ", nil},
		{"crlf\r", "crlf", nil},
	}
	served := startServe(t, "1")
	tab := startBrowser(t, 1000, 700)
	tab.navigate(served.base + "?channel=app")
	tab.waitFor("connection live", connectionJS+` === 'live'`, pageStateJS, 20*time.Second)

	var sent []string
	for i, c := range cases {
		sent = append(sent, fmt.Sprintf("sgr-%02d ", i)+c.line)
	}
	appendLines(t, served.app, sent...)
	tab.waitFor("all lines shown", lineTextsJS+fmt.Sprintf(`.length === %d`, len(cases)), pageStateJS, 10*time.Second)

	rendered := evaluate[[][]string](tab, `[...document.querySelectorAll('#log .l')].map((line) =>
		[line.textContent, ...[...line.querySelectorAll('span')].map((s) =>
			[s.textContent, s.className, s.style.color, s.style.backgroundColor].join('|'))])`)
	for i, c := range cases {
		got := rendered[i]
		prefix := fmt.Sprintf("sgr-%02d ", i)
		if got[0] != prefix+c.text {
			t.Errorf("%q shows text %q, expected %q", c.line, got[0], prefix+c.text)
		}
		if !slices.Equal(got[1:], c.spans) {
			t.Errorf("%q renders spans %q, expected %q", c.line, got[1:], c.spans)
		}
	}
}
