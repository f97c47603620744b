package bench

import (
	"context"
	"sync"
	"time"
)

// groupState is the parent's view of one group.
type groupState struct {
	last    groupReport // latest report, without latency
	drained bool
	timeout bool // drained only because the drain time ran out
	final   bool
	result  *groupResult
	err     string
}

// seriesBin collects one interval of the time series.
type seriesBin struct {
	deliveries uint64
	latency    Histogram
}

// runState merges the reports of all groups. The parent's phases wait on it
// with waitFor; the collector goroutine feeds it with apply.
type runState struct {
	mu       sync.Mutex
	changed  chan struct{} // one slot: wakes waitFor after a change
	groups   []groupState
	latency  Histogram // every line since the load started
	origin   time.Time // load start; zero before it
	interval time.Duration
	bins     map[int]*seriesBin // open intervals
	points   []SeriesPoint      // closed intervals, in order
}

func newRunState(groups int, interval time.Duration) *runState {
	return &runState{
		changed:  make(chan struct{}, 1),
		groups:   make([]groupState, groups),
		interval: interval,
		bins:     map[int]*seriesBin{},
	}
}

// collect applies reports until the channel is closed.
func (s *runState) collect(reports <-chan taggedReport) {
	for tagged := range reports {
		s.apply(tagged.group, tagged.report)
	}
}

func (s *runState) apply(id int, report groupReport) {
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}()

	group := &s.groups[id]
	previous := group.last.Deliveries
	if report.Err != "" {
		group.err = report.Err
		group.final = true
		group.drained = true
		return
	}

	if len(report.Latency.Buckets) > 0 || report.Deliveries > previous {
		var latency Histogram
		latency.mergeWire(report.Latency)
		s.latency.Merge(&latency)
		if !s.origin.IsZero() {
			bin := s.bin(report.Time)
			bin.deliveries += report.Deliveries - previous
			bin.latency.Merge(&latency)
		}
	}

	report.Latency = histogramWire{}
	group.last = report
	switch report.Kind {
	case reportDrained:
		group.drained = true
		group.timeout = report.DrainTimeout
	case reportFinal:
		group.drained = true
		group.final = true
		group.result = report.Result
	}
}

// bin returns the open interval that contains t, and closes intervals that
// lie more than two intervals before it, so that memory stays bounded.
// The caller holds s.mu.
func (s *runState) bin(t time.Time) *seriesBin {
	index := max(int(t.Sub(s.origin)/s.interval), 0)
	for open := range s.bins {
		if open < index-2 {
			s.closeBinLocked(open)
		}
	}
	bin, ok := s.bins[index]
	if !ok {
		bin = &seriesBin{}
		s.bins[index] = bin
	}
	return bin
}

func (s *runState) closeBinLocked(index int) {
	bin := s.bins[index]
	delete(s.bins, index)
	s.points = append(s.points, newSeriesPoint(index, s.interval, bin))
}

// startSeries sets the load start, from which the time series counts, and
// discards latency recorded before it (there should be none, because probe
// lines carry no latency).
func (s *runState) startSeries(origin time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.origin = origin
	s.latency.Reset()
}

// series closes every interval and returns the time series in order.
func (s *runState) series() []SeriesPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	for index := range s.bins {
		s.closeBinLocked(index)
	}
	points := append([]SeriesPoint(nil), s.points...)
	sortSeries(points)
	return points
}

// totals sums the latest reports of all groups.
func (s *runState) totals() (sum groupReport, drained, final int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, group := range s.groups {
		sum.Connected += group.last.Connected
		sum.Failed += group.last.Failed
		sum.Ready += group.last.Ready
		sum.Disconnected += group.last.Disconnected
		sum.Deliveries += group.last.Deliveries
		if group.drained {
			drained++
		}
		if group.final {
			final++
		}
	}
	return sum, drained, final
}

// waitFor returns true when done returns true, or false when ctx ends or
// timeout passes (0: no timeout). done is called after every change.
func (s *runState) waitFor(ctx context.Context, timeout time.Duration, done func() bool) bool {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	for !done() {
		select {
		case <-s.changed:
		case <-expired:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}
