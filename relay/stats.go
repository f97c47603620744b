package relay

import (
	"sync"

	"tailcast/tail"
)

// ChannelStats are one channel's counters since the tail process started.
type ChannelStats struct {
	Batches     uint64 // batches stored, events included
	Lines       uint64
	Bytes       uint64 // bytes of the lines stored, each line with one newline
	Rotations   uint64
	Truncations uint64
	// BrokerErrors counts failed append attempts; BrokerRecoveries counts
	// appends that succeeded after one or more failures.
	BrokerErrors     uint64
	BrokerRecoveries uint64
}

// Stats collects every channel's counters. It is safe for concurrent use;
// the zero value is ready.
type Stats struct {
	mu       sync.Mutex
	channels map[string]*ChannelStats
}

// Snapshot returns a copy of every channel's counters.
func (s *Stats) Snapshot() map[string]ChannelStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]ChannelStats, len(s.channels))
	for name, counters := range s.channels {
		out[name] = *counters
	}
	return out
}

func (s *Stats) update(channel string, change func(*ChannelStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channels == nil {
		s.channels = make(map[string]*ChannelStats)
	}
	counters := s.channels[channel]
	if counters == nil {
		counters = &ChannelStats{}
		s.channels[channel] = counters
	}
	change(counters)
}

// countStored records one batch stored after failed attempts.
func (s *Stats) countStored(channel string, batch tail.Batch, failed int) {
	s.update(channel, func(c *ChannelStats) {
		c.Batches++
		switch batch.Event {
		case tail.EventRotated:
			c.Rotations++
		case tail.EventTruncated:
			c.Truncations++
		}
		c.Lines += uint64(len(batch.Lines))
		for _, line := range batch.Lines {
			c.Bytes += uint64(len(line)) + 1
		}
		if failed > 0 {
			c.BrokerRecoveries++
		}
	})
}

func (s *Stats) countBrokerError(channel string) {
	s.update(channel, func(c *ChannelStats) { c.BrokerErrors++ })
}
