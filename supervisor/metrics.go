package supervisor

import (
	"maps"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"tailcast/relay"
	"tailcast/worker"
)

// slotLabel identifies a slot across the processes that served it.
type slotLabel struct {
	role  string
	index int
}

// addReports returns the sum of two reports' counters. Gauges (open
// connections, queued bytes) are left out: they belong to running
// processes only.
func addReports(a, b childReport) childReport {
	var sum childReport
	if a.Worker != nil || b.Worker != nil {
		w := worker.Stats{Rejected: map[string]uint64{}}
		for _, s := range []*worker.Stats{a.Worker, b.Worker} {
			if s == nil {
				continue
			}
			w.Upgrades += s.Upgrades
			w.SlowClosed += s.SlowClosed
			w.FramesSent += s.FramesSent
			w.BytesSent += s.BytesSent
			w.BrokerErrors += s.BrokerErrors
			w.BrokerRecoveries += s.BrokerRecoveries
			w.EntriesRead += s.EntriesRead
			for reason, n := range s.Rejected {
				w.Rejected[reason] += n
			}
		}
		sum.Worker = &w
	}
	if a.Tail != nil || b.Tail != nil {
		sum.Tail = make(map[string]relay.ChannelStats)
		for _, channels := range []map[string]relay.ChannelStats{a.Tail, b.Tail} {
			for name, c := range channels {
				t := sum.Tail[name]
				t.Batches += c.Batches
				t.Lines += c.Lines
				t.Bytes += c.Bytes
				t.Rotations += c.Rotations
				t.Truncations += c.Truncations
				t.BrokerErrors += c.BrokerErrors
				t.BrokerRecoveries += c.BrokerRecoveries
				sum.Tail[name] = t
			}
		}
	}
	return sum
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// Metric descriptions. Worker metrics carry the worker index, tail metrics
// the channel name.
var (
	descWorkers            = newDesc("tailcast_workers", "Worker processes configured, as changed by SIGTTIN and SIGTTOU.")
	descWorkersReady       = newDesc("tailcast_workers_ready", "Worker slots whose process reported ready.")
	descChildRestarts      = newDesc("tailcast_child_restarts_total", "Child processes restarted after an unexpected exit.", "role", "worker")
	descChildCrashLoop     = newDesc("tailcast_child_crash_looping", "1 while a child keeps crashing and waits at least 3.2 s to restart.", "role", "worker")
	descReloads            = newDesc("tailcast_reloads_total", "Reloads (SIGHUP) by result: ok or failed.", "result")
	descConnections        = newDesc("tailcast_connections", "Open WebSocket connections.", "worker")
	descQueuedBytes        = newDesc("tailcast_queued_bytes", "Bytes waiting in client queues.", "worker")
	descUpgrades           = newDesc("tailcast_upgrades_total", "Completed WebSocket handshakes.", "worker")
	descRejected           = newDesc("tailcast_rejected_handshakes_total", "Requests answered with an error or dropped before their head was complete, by reason.", "worker", "reason")
	descMessagesSent       = newDesc("tailcast_messages_sent_total", "WebSocket frames written to clients.", "worker")
	descBytesSent          = newDesc("tailcast_sent_bytes_total", "Bytes written to WebSocket clients.", "worker")
	descSlowDisconnects    = newDesc("tailcast_slow_client_disconnects_total", "Clients closed because their queue was full (close code 4000).", "worker")
	descBatchesRead        = newDesc("tailcast_worker_batches_read_total", "Stream entries a worker read from the broker.", "worker")
	descWorkerBrokerErrors = newDesc("tailcast_worker_broker_errors_total", "Failed broker reads of a worker.", "worker")
	descWorkerReconnects   = newDesc("tailcast_worker_broker_reconnects_total", "Broker reads that succeeded again after errors.", "worker")
	descTailBatches        = newDesc("tailcast_tail_batches_total", "Batches stored by the tail process, events included.", "channel")
	descTailLines          = newDesc("tailcast_tail_lines_total", "Lines read and stored by the tail process.", "channel")
	descTailBytes          = newDesc("tailcast_tail_bytes_total", "Bytes of the lines read and stored, each line with one newline.", "channel")
	descTailRotations      = newDesc("tailcast_tail_rotations_total", "Files replaced at their path (rotated) as seen by the tail process.", "channel")
	descTailTruncations    = newDesc("tailcast_tail_truncations_total", "Files truncated in place as seen by the tail process.", "channel")
	descTailBrokerErrors   = newDesc("tailcast_tail_broker_errors_total", "Failed broker appends of the tail process.", "channel")
	descTailReconnects     = newDesc("tailcast_tail_broker_reconnects_total", "Broker appends that succeeded after failures.", "channel")
)

// collector exposes the supervisor's own counters and every child's last
// report in one scrape. Counters of a slot add up the processes that served
// it, so they stay monotonic across restarts and reloads.
type collector struct{ sup *Supervisor }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descWorkers, descWorkersReady, descChildRestarts, descChildCrashLoop, descReloads,
		descConnections, descQueuedBytes, descUpgrades, descRejected, descMessagesSent, descBytesSent,
		descSlowDisconnects, descBatchesRead, descWorkerBrokerErrors, descWorkerReconnects,
		descTailBatches, descTailLines, descTailBytes, descTailRotations, descTailTruncations,
		descTailBrokerErrors, descTailReconnects,
	} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.sup
	slots := s.slots()
	workers, ready := 0, 0
	for _, sl := range slots {
		looping, _ := sl.crashLooping()
		ch <- prometheus.MustNewConstMetric(descChildCrashLoop, prometheus.GaugeValue, boolValue(looping), sl.role, sl.label().workerValue())
		if sl.role != RoleWorker {
			continue
		}
		workers++
		if sl.isReady() {
			ready++
		}
	}
	ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(workers))
	ch <- prometheus.MustNewConstMetric(descWorkersReady, prometheus.GaugeValue, float64(ready))

	counters, gauges, restarts, reloads := s.metricsSnapshot()
	// Every slot has a restart counter from its start, zero included, so
	// that a first restart shows as an increase.
	for _, sl := range slots {
		if _, ok := restarts[sl.label()]; !ok {
			restarts[sl.label()] = 0
		}
	}
	for label, n := range restarts {
		ch <- prometheus.MustNewConstMetric(descChildRestarts, prometheus.CounterValue, float64(n), label.role, label.workerValue())
	}
	for _, result := range []string{"ok", "failed"} {
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(reloads[result]), result)
	}
	for label, report := range counters {
		if report.Worker != nil {
			collectWorker(ch, label.workerValue(), report.Worker, gauges[label])
		}
		for name, t := range report.Tail {
			collectTail(ch, name, t)
		}
	}
}

func collectWorker(ch chan<- prometheus.Metric, index string, w *worker.Stats, gauges worker.Stats) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{index}, labels...)...)
	}
	ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(gauges.Connections), index)
	ch <- prometheus.MustNewConstMetric(descQueuedBytes, prometheus.GaugeValue, float64(gauges.QueuedBytes), index)
	counter(descUpgrades, w.Upgrades)
	for reason, n := range w.Rejected {
		counter(descRejected, n, reason)
	}
	counter(descMessagesSent, w.FramesSent)
	counter(descBytesSent, w.BytesSent)
	counter(descSlowDisconnects, w.SlowClosed)
	counter(descBatchesRead, w.EntriesRead)
	counter(descWorkerBrokerErrors, w.BrokerErrors)
	counter(descWorkerReconnects, w.BrokerRecoveries)
}

func collectTail(ch chan<- prometheus.Metric, channel string, t relay.ChannelStats) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), channel)
	}
	counter(descTailBatches, t.Batches)
	counter(descTailLines, t.Lines)
	counter(descTailBytes, t.Bytes)
	counter(descTailRotations, t.Rotations)
	counter(descTailTruncations, t.Truncations)
	counter(descTailBrokerErrors, t.BrokerErrors)
	counter(descTailReconnects, t.BrokerRecoveries)
}

// metricsSnapshot returns, by slot, the counters of exited and running
// processes added up and the gauges of running ones, with the restart and
// reload counts, all read under one lock so a process that exits meanwhile
// is counted once.
func (s *Supervisor) metricsSnapshot() (counters map[slotLabel]childReport, gauges map[slotLabel]worker.Stats, restarts map[slotLabel]uint64, reloads map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	counters = maps.Clone(s.retired)
	gauges = make(map[slotLabel]worker.Stats)
	for c := range s.children {
		label := c.slot.label()
		report := c.latestReport()
		counters[label] = addReports(counters[label], report)
		if report.Worker != nil {
			g := gauges[label]
			g.Connections += report.Worker.Connections
			g.QueuedBytes += report.Worker.QueuedBytes
			gauges[label] = g
		}
	}
	return counters, gauges, maps.Clone(s.restarts), maps.Clone(s.reloadRuns)
}

// workerValue is the worker label: the index for a worker, empty for the
// tail process.
func (l slotLabel) workerValue() string {
	if l.role == RoleWorker {
		return strconv.Itoa(l.index)
	}
	return ""
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
