package bench

import (
	"time"
)

// buildReport fills r.report from the final group results and the samples.
func (r *runner) buildReport(server *serverSamples, benchCPU time.Duration) {
	report := r.report
	opts := r.opts
	problems := append([]string(nil), r.problems...)

	var dial, handshake Histogram
	var firstDial, lastConnected, lastDelivery time.Time
	connect := &report.Connect
	delivery := &report.Delivery
	connect.Requested = opts.Conns
	connect.Errors = map[string]int{}
	delivery.Events = map[string]int{}
	delivery.Disconnects = map[string]int{}
	drainTimeout := false

	for _, group := range r.state.groups {
		connect.Connected += group.last.Connected
		connect.Failed += group.last.Failed
		delivery.Delivered += group.last.Deliveries
		drainTimeout = drainTimeout || group.timeout
		if group.err != "" {
			problems = append(problems, group.err)
		}
		res := group.result
		if res == nil {
			continue
		}

		dial.mergeWire(res.Dial)
		handshake.mergeWire(res.Handshake)
		firstDial = earliest(firstDial, res.FirstDial)
		lastConnected = latest(lastConnected, res.LastConnected)
		lastDelivery = latest(lastDelivery, res.LastDelivery)
		mergeCounts(connect.Errors, res.DialErrors)
		mergeCounts(delivery.Events, res.Events)
		mergeCounts(delivery.Disconnects, res.Disconnects)
		delivery.Malformed += res.Malformed
		delivery.Frames += res.Frames
		delivery.Bytes += res.Bytes
		delivery.Lost += res.Lost
		delivery.Repeated += res.Repeated
		delivery.Reordered += res.Reordered
		delivery.BadClients += res.BadClients
		report.Load.Unready += res.Unready
		for _, example := range res.Examples {
			if len(delivery.Examples) < maxExamples {
				delivery.Examples = append(delivery.Examples, example)
			}
		}
	}

	connect.DialP50Ms = millis(dial.Quantile(0.50))
	connect.DialP99Ms = millis(dial.Quantile(0.99))
	connect.HandshakeP50Ms = millis(handshake.Quantile(0.50))
	connect.HandshakeP99Ms = millis(handshake.Quantile(0.99))
	if !firstDial.IsZero() && lastConnected.After(firstDial) {
		elapsed := lastConnected.Sub(firstDial)
		connect.DurationMs = millis(elapsed)
		connect.PerSecond = float64(connect.Connected) / elapsed.Seconds()
	}

	report.Load.Idle = opts.Idle
	report.Load.LineBytes = opts.LineBytes
	report.Load.Rate = opts.Rate
	if opts.Idle {
		report.Load.Rate = 0
		report.Load.LineBytes = 0
	}
	if r.appender != nil {
		report.Load.File = opts.File
		report.Load.Lines = r.appender.seq
	}
	if !r.loadStart.IsZero() {
		report.Load.DurationMs = millis(r.loadEnd.Sub(r.loadStart))
		delivery.DrainedInMs = millis(r.drainedAt.Sub(r.loadEnd))
	} else if opts.Idle {
		report.Load.DurationMs = millis(opts.Duration)
	}
	delivery.DrainTimeout = drainTimeout
	delivery.Expected = report.Load.Lines * uint64(connect.Connected)
	if lastDelivery.After(r.loadStart) && !r.loadStart.IsZero() {
		elapsed := lastDelivery.Sub(r.loadStart)
		delivery.DurationMs = millis(elapsed)
		delivery.PerSecond = float64(delivery.Delivered) / elapsed.Seconds()
	}

	r.state.mu.Lock()
	report.Latency = newLatencyReport(&r.state.latency)
	r.state.mu.Unlock()
	report.Series = r.state.series()

	if opts.ServerPID > 0 {
		report.Server = newServerReport(opts, server, connect.Connected, delivery.Delivered, r.drainedAt.Sub(r.loadStart))
	}
	report.Bench.CPUSeconds = benchCPU.Seconds()
	if delivery.Delivered > 0 {
		report.Bench.CPUPerDeliveryMicros = float64(benchCPU.Microseconds()) / float64(delivery.Delivered)
	}

	report.judge()
	report.Problems = append(problems, report.Problems...)
	report.OK = len(report.Problems) == 0
}

func newServerReport(opts Options, s *serverSamples, connected int, delivered uint64, window time.Duration) *ServerReport {
	server := &ServerReport{
		PID:          opts.ServerPID,
		Processes:    s.connected.Processes,
		RSSBefore:    s.before.RSS,
		RSSConnected: s.connected.RSS,
		RSSAfter:     s.drained.RSS,
		PSSBefore:    s.before.PSS,
		PSSConnected: s.connected.PSS,
	}
	if connected > 0 {
		server.RSSPerConn = (float64(s.connected.RSS) - float64(s.before.RSS)) / float64(connected)
		server.PSSPerConn = (float64(s.connected.PSS) - float64(s.before.PSS)) / float64(connected)
	}
	if !opts.Idle && !s.loadStart.Time.IsZero() && !s.drained.Time.IsZero() {
		cpu := s.drained.CPU - s.loadStart.CPU
		server.CPUSeconds = cpu.Seconds()
		if window > 0 {
			server.CPUPercent = 100 * cpu.Seconds() / window.Seconds()
		}
		if delivered > 0 {
			server.CPUPerDeliveryMicros = float64(cpu.Microseconds()) / float64(delivered)
		}
	}
	return server
}

func mergeCounts(into, from map[string]int) {
	for kind, n := range from {
		into[kind] += n
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
