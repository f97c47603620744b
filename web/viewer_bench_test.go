package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tailcast/internal/testenv"
)

// framesProbeJS runs before the page's own script. It wraps
// requestAnimationFrame to time the page's frame callbacks (DOM updates and
// the layout they force), and records the interval between frames and the
// long tasks (over 50 ms) that the Long Tasks API reports.
const framesProbeJS = `(() => {
	const probe = {recording: false, work: new Map(), intervals: [], longTasks: []};
	window.framesProbe = probe;
	const request = window.requestAnimationFrame.bind(window);
	window.requestAnimationFrame = (callback) => request((time) => {
		const start = performance.now();
		try {
			callback(time);
		} finally {
			if (probe.recording) probe.work.set(time, (probe.work.get(time) || 0) + performance.now() - start);
		}
	});
	new PerformanceObserver((list) => {
		if (probe.recording) for (const entry of list.getEntries()) probe.longTasks.push(entry.duration);
	}).observe({type: 'longtask'});
	let last = 0;
	const tick = (time) => {
		if (probe.recording && last) probe.intervals.push(time - last);
		last = time;
		request(tick);
	};
	request(tick);
})();`

const framesStartJS = `(() => {
	const probe = window.framesProbe;
	probe.work.clear();
	probe.intervals.length = 0;
	probe.longTasks.length = 0;
	probe.recording = true;
})()`

// framesReportJS stops the recording and returns the statistics, in
// milliseconds.
const framesReportJS = `(() => {
	const probe = window.framesProbe;
	probe.recording = false;
	const stats = (values) => {
		const sorted = values.slice().sort((a, b) => a - b);
		const at = (q) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
		return {count: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) || 0};
	};
	return {
		interval: stats(probe.intervals),
		work: stats([...probe.work.values()]),
		longTasks: probe.longTasks.length,
		longTaskMs: probe.longTasks.reduce((a, b) => a + b, 0),
	};
})()`

type frameStats struct {
	Count, P50, P95, P99, Max float64
}

type framesReport struct {
	Interval   frameStats
	Work       frameStats
	LongTasks  float64
	LongTaskMs float64
}

// BenchmarkViewerAt5000LinesPerSecond streams 5,000 lines/s through
// tailcast serve into the page, which keeps its default 10,000 lines, and
// reports how the page's animation frames fare: without a filter, and with a
// filter that one line in five matches. One iteration is one second of
// streaming; run it with -benchtime=10x for ten seconds.
//
// Metrics: frame-interval and frame-work percentiles (ms), frames and long
// tasks per second, and the lines per second that reached the page.
func BenchmarkViewerAt5000LinesPerSecond(b *testing.B) {
	for _, bench := range []struct{ name, query string }{
		{"unfiltered", ""},
		{"filtered", "&q=WARN"},
	} {
		b.Run(bench.name, func(b *testing.B) { benchmarkViewerAtRate(b, 5000, bench.query) })
	}
}

func benchmarkViewerAtRate(b *testing.B, linesPerSecond int, query string) {
	const tick = 10 * time.Millisecond
	linesPerTick := linesPerSecond * int(tick) / int(time.Second)
	served := startServeBinary(b, buildBinary(b))
	tab := startBrowser(b, 1280, 800)
	tab.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument,
			cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: framesProbeJS})
		return err
	}))
	tab.navigate(served.base + "?channel=app" + query)
	tab.waitFor("connection live", connectionJS+` === 'live'`, pageStateJS, 20*time.Second)

	// Fill the page to its 10,000 lines first, so that every measured frame
	// also trims, and stream for b.N seconds more.
	warmUp := 3 * time.Second
	writer := startRateWriter(b, served.app, linesPerTick, tick, warmUp+time.Duration(b.N)*time.Second)
	tab.waitFor("page full", `document.querySelectorAll('#log .l').length >= 10000`, pageStateJS, 30*time.Second)

	firstLine := newestLineNumber(tab)
	tab.do(chromedp.Evaluate[chromedp.Void](framesStartJS))
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		// The writer paces itself, so an iteration is a window of one second
		// in which the page works at the given rate.
		time.Sleep(time.Second)
	}
	b.StopTimer()
	report := evaluate[framesReport](tab, framesReportJS)
	elapsed := time.Since(start).Seconds()
	delivered := float64(newestLineNumber(tab)-firstLine) / elapsed
	<-writer

	b.ReportMetric(report.Interval.P50, "interval-p50-ms")
	b.ReportMetric(report.Interval.P99, "interval-p99-ms")
	b.ReportMetric(report.Interval.Max, "interval-max-ms")
	b.ReportMetric(report.Work.P50, "work-p50-ms")
	b.ReportMetric(report.Work.P99, "work-p99-ms")
	b.ReportMetric(report.Work.Max, "work-max-ms")
	b.ReportMetric(report.Interval.Count/elapsed, "frames/s")
	b.ReportMetric(report.LongTasks/elapsed, "longtasks/s")
	b.ReportMetric(report.LongTaskMs/elapsed, "longtask-ms/s")
	b.ReportMetric(delivered, "lines/s")
}

// newestLineNumber returns the sequence number, as written by
// startRateWriter, of the newest line that the filter shows. With a filter
// that one line in five matches, it is up to four lines behind.
func newestLineNumber(tab *browserTab) int {
	tab.t.Helper()
	last := evaluate[string](tab, shownLinesJS+`.at(-1) || ''`)
	var n int
	if _, err := fmt.Sscanf(last, "rate-%d", &n); err != nil {
		tab.t.Fatalf("newest line %q is not a numbered rate- line", last)
	}
	return n
}

// startRateWriter appends perTick numbered lines to path every tick, as one
// write, for duration. One line in five carries SGR colours. The returned
// channel is closed when it stops.
func startRateWriter(t testing.TB, path string, perTick int, tick, duration time.Duration) <-chan struct{} {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		deadline := time.Now().Add(duration)
		var batch strings.Builder
		for n := 1; time.Now().Before(deadline); <-ticker.C {
			batch.Reset()
			for range perTick {
				level := "INFO"
				if n%5 == 0 {
					level = "\x1b[33mWARN\x1b[0m"
				}
				fmt.Fprintf(&batch, "rate-%09d %s GET /api/items/%d status=200 duration=%dms user-agent=benchmark/1.0\n", n, level, n%997, n%113)
				n++
			}
			if _, err := f.WriteString(batch.String()); err != nil {
				return
			}
		}
	}()
	return done
}

// buildBinary builds tailcast without the race detector, which would slow
// the server down and measure it instead of the page.
func buildBinary(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tailcast")
	build := exec.Command("go", "build", "-o", path, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return path
}

// startServeBinary runs binary as `tailcast serve` with one worker, like
// startServe does with the test build.
func startServeBinary(t testing.TB, binary string) *servedFiles {
	t.Helper()
	return serveFiles(t, func(args ...string) *testenv.Serve {
		serve := testenv.StartServeCmd(t, exec.Command(binary, append([]string{
			"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--workers", "1"}, args...)...))
		serve.WaitLog(60*time.Second, func(entry map[string]any) bool { return entry["msg"] == "ready" })
		for _, entry := range serve.Logs() {
			if entry["msg"] == "ready" {
				serve.Addr, _ = entry["listen"].(string)
			}
		}
		return serve
	})
}
