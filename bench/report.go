package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run. Durations are in milliseconds, sizes in
// bytes, rates per second.
type Report struct {
	RunID       string    `json:"run_id"`
	URL         string    `json:"url"`
	Format      Format    `json:"format"`
	Started     time.Time `json:"started"`
	Procs       int       `json:"procs"`
	SourceAddrs int       `json:"source_addrs"`

	Connect  ConnectReport  `json:"connect"`
	Load     LoadReport     `json:"load"`
	Delivery DeliveryReport `json:"delivery"`
	Latency  LatencyReport  `json:"latency"`
	Server   *ServerReport  `json:"server,omitempty"`
	Bench    CPUReport      `json:"bench"`
	Series   []SeriesPoint  `json:"series"`

	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
}

// ConnectReport covers the dial phase.
type ConnectReport struct {
	Requested      int            `json:"requested"`
	Connected      int            `json:"connected"`
	Failed         int            `json:"failed"`
	DialP50Ms      float64        `json:"dial_p50_ms"`
	DialP99Ms      float64        `json:"dial_p99_ms"`
	HandshakeP50Ms float64        `json:"handshake_p50_ms"`
	HandshakeP99Ms float64        `json:"handshake_p99_ms"`
	DurationMs     float64        `json:"duration_ms"`
	PerSecond      float64        `json:"per_second"`
	Errors         map[string]int `json:"errors"`
}

// LoadReport describes the lines appended.
type LoadReport struct {
	Idle       bool    `json:"idle"`
	File       string  `json:"file,omitempty"`
	Rate       float64 `json:"rate"`
	LineBytes  int     `json:"line_bytes"`
	Lines      uint64  `json:"lines"`
	DurationMs float64 `json:"duration_ms"`
	Unready    int     `json:"unready_clients"`
}

// DeliveryReport is the result of the per-client order check.
type DeliveryReport struct {
	Expected     uint64         `json:"expected"`
	Delivered    uint64         `json:"delivered"`
	PerSecond    float64        `json:"per_second"`
	Lost         uint64         `json:"lost"`
	Repeated     uint64         `json:"repeated"`
	Reordered    uint64         `json:"reordered"`
	BadClients   int            `json:"bad_clients"`
	Examples     []string       `json:"examples,omitempty"`
	Frames       uint64         `json:"frames"`
	Bytes        uint64         `json:"bytes"`
	Malformed    uint64         `json:"malformed_frames"`
	Events       map[string]int `json:"events"`
	Disconnects  map[string]int `json:"disconnects"`
	DurationMs   float64        `json:"duration_ms"`
	DrainedInMs  float64        `json:"drained_in_ms"`
	DrainTimeout bool           `json:"drain_timeout"`
}

// LatencyReport is the delay from append to receipt over all lines.
type LatencyReport struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// ServerReport is the resource use of the server's process tree. Memory is
// sampled before the clients connect, once all have connected, and after
// the drain; CPU time covers the load from its start to the drain.
type ServerReport struct {
	PID                  int     `json:"pid"`
	Processes            int     `json:"processes"`
	RSSBefore            uint64  `json:"rss_before"`
	RSSConnected         uint64  `json:"rss_connected"`
	RSSAfter             uint64  `json:"rss_after"`
	RSSPerConn           float64 `json:"rss_per_conn"`
	PSSBefore            uint64  `json:"pss_before"`
	PSSConnected         uint64  `json:"pss_connected"`
	PSSPerConn           float64 `json:"pss_per_conn"`
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUPercent           float64 `json:"cpu_percent"`
	CPUPerDeliveryMicros float64 `json:"cpu_per_delivery_us"`
}

// CPUReport is the CPU time of the bench's own process tree.
type CPUReport struct {
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUPerDeliveryMicros float64 `json:"cpu_per_delivery_us"`
}

// SeriesPoint is one interval of the run, counted from the load start.
type SeriesPoint struct {
	StartSeconds float64 `json:"start_s"`
	PerSecond    float64 `json:"deliveries_per_second"`
	P50Ms        float64 `json:"p50_ms"`
	P90Ms        float64 `json:"p90_ms"`
	P99Ms        float64 `json:"p99_ms"`
	P999Ms       float64 `json:"p99_9_ms"`
	MaxMs        float64 `json:"max_ms"`
}

func newSeriesPoint(index int, interval time.Duration, bin *seriesBin) SeriesPoint {
	return SeriesPoint{
		StartSeconds: float64(index) * interval.Seconds(),
		PerSecond:    float64(bin.deliveries) / interval.Seconds(),
		P50Ms:        millis(bin.latency.Quantile(0.50)),
		P90Ms:        millis(bin.latency.Quantile(0.90)),
		P99Ms:        millis(bin.latency.Quantile(0.99)),
		P999Ms:       millis(bin.latency.Quantile(0.999)),
		MaxMs:        millis(bin.latency.Max()),
	}
}

func sortSeries(points []SeriesPoint) {
	sort.Slice(points, func(i, j int) bool { return points[i].StartSeconds < points[j].StartSeconds })
}

func newLatencyReport(h *Histogram) LatencyReport {
	return LatencyReport{
		Count:  h.Count(),
		MeanMs: millis(h.Mean()),
		P50Ms:  millis(h.Quantile(0.50)),
		P90Ms:  millis(h.Quantile(0.90)),
		P99Ms:  millis(h.Quantile(0.99)),
		P999Ms: millis(h.Quantile(0.999)),
		MaxMs:  millis(h.Max()),
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ExitCode returns 0 for a clean run and 1 when Problems is not empty.
func (r *Report) ExitCode() int {
	if r.OK {
		return 0
	}
	return 1
}

// judge fills Problems and OK: a run is clean when every client connected,
// stayed connected and received every line exactly once and in order, and
// every frame parsed.
func (r *Report) judge() {
	r.Problems = []string{}
	add := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	if r.Connect.Failed > 0 {
		add("%d of %d clients failed to connect", r.Connect.Failed, r.Connect.Requested)
	}
	if d := r.Delivery; d.Lost > 0 || d.Repeated > 0 || d.Reordered > 0 {
		add("%d lines lost, %d repeated, %d reordered, over %d clients", d.Lost, d.Repeated, d.Reordered, d.BadClients)
	}
	if n := sumCounts(r.Delivery.Disconnects); n > 0 {
		add("%d clients disconnected before the end", n)
	}
	if r.Delivery.Malformed > 0 {
		add("%d frames were malformed", r.Delivery.Malformed)
	}
	if r.Load.Unready > 0 {
		add("%d clients received no line of this run", r.Load.Unready)
	}
	r.OK = len(r.Problems) == 0
}

func sumCounts(counts map[string]int) int {
	sum := 0
	for _, n := range counts {
		sum += n
	}
	return sum
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	encoder := json.NewEncoder(w)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(r); err != nil {
		return fmt.Errorf("bench: write JSON report: %w", err)
	}
	return nil
}

// WriteText writes the report as a table for people.
func (r *Report) WriteText(w io.Writer) error {
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(table, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}

	row("run", "%s  %s  format=%s  procs=%d  source addresses=%d", r.RunID, r.URL, r.Format, r.Procs, r.SourceAddrs)
	c := r.Connect
	row("clients", "%d connected, %d failed of %d", c.Connected, c.Failed, c.Requested)
	row("connect", "dial p50 %.2f ms  p99 %.2f ms;  handshake p50 %.2f ms  p99 %.2f ms", c.DialP50Ms, c.DialP99Ms, c.HandshakeP50Ms, c.HandshakeP99Ms)
	row("connect rate", "%.0f clients/s over %.2f s", c.PerSecond, c.DurationMs/1000)
	if len(c.Errors) > 0 {
		row("dial errors", "%s", formatCounts(c.Errors))
	}

	if r.Load.Idle {
		row("load", "idle for %.1f s", r.Load.DurationMs/1000)
	} else {
		l, d := r.Load, r.Delivery
		row("load", "%d lines of %d bytes at %g lines/s over %.2f s", l.Lines, l.LineBytes, l.Rate, l.DurationMs/1000)
		row("delivered", "%d of %d expected, %.0f lines/s;  %d frames, %.1f MB", d.Delivered, d.Expected, d.PerSecond, d.Frames, float64(d.Bytes)/1e6)
		row("order check", "lost %d  repeated %d  reordered %d  (clients affected: %d)", d.Lost, d.Repeated, d.Reordered, d.BadClients)
		drain := fmt.Sprintf("%.0f ms", d.DrainedInMs)
		if d.DrainTimeout {
			drain += " (drain time ran out)"
		}
		row("drain", "%s", drain)
		lat := r.Latency
		row("latency", "p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f ms  (%d lines)",
			lat.P50Ms, lat.P90Ms, lat.P99Ms, lat.P999Ms, lat.MaxMs, lat.MeanMs, lat.Count)
	}
	if len(r.Delivery.Events) > 0 {
		row("events", "%s", formatCounts(r.Delivery.Events))
	}
	if len(r.Delivery.Disconnects) > 0 {
		row("disconnects", "%s", formatCounts(r.Delivery.Disconnects))
	}

	if s := r.Server; s != nil {
		row("server", "pid %d, %d processes", s.PID, s.Processes)
		row("server memory", "RSS %s before, %s connected, %s after;  %.0f B/conn RSS, %.0f B/conn PSS",
			formatBytes(s.RSSBefore), formatBytes(s.RSSConnected), formatBytes(s.RSSAfter), s.RSSPerConn, s.PSSPerConn)
		if !r.Load.Idle {
			row("server CPU", "%.2f s (%.0f %% of one core), %.2f µs per delivery", s.CPUSeconds, s.CPUPercent, s.CPUPerDeliveryMicros)
		}
	}
	if r.Load.Idle {
		row("bench CPU", "%.2f s", r.Bench.CPUSeconds)
	} else {
		row("bench CPU", "%.2f s, %.2f µs per delivery", r.Bench.CPUSeconds, r.Bench.CPUPerDeliveryMicros)
	}

	if r.OK {
		row("result", "OK")
	} else {
		row("result", "FAILED: %s", strings.Join(r.Problems, "; "))
	}
	for _, example := range r.Delivery.Examples {
		row("", "%s", example)
	}
	if err := table.Flush(); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}

func formatCounts(counts map[string]int) string {
	parts := make([]string, 0, len(counts))
	for _, key := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s: %d", key, counts[key]))
	}
	return strings.Join(parts, ", ")
}

func formatBytes(n uint64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
