package worker

// Stats are a worker's counters since it started, and two gauges.
type Stats struct {
	Connections int64 // open WebSocket connections
	QueuedBytes int64 // bytes waiting in client queues, live and catch-up
	Upgrades    uint64
	// Rejected counts, by reason, the requests that got an error response
	// or were dropped before they were complete.
	Rejected         map[string]uint64
	SlowClosed       uint64 // clients closed with CloseSlowClient
	FramesSent       uint64
	BytesSent        uint64
	BrokerErrors     uint64
	BrokerRecoveries uint64 // reads that succeeded again after errors
	EntriesRead      uint64
}

// RejectedTotal returns the sum of Rejected over every reason.
func (s Stats) RejectedTotal() uint64 {
	var total uint64
	for _, n := range s.Rejected {
		total += n
	}
	return total
}

// rejectReason is the cause of a rejected request.
type rejectReason int

const (
	rejectMalformed rejectReason = iota
	rejectHeadTooLarge
	rejectAborted
	rejectMethod
	rejectNotFound
	rejectUnknownChannel
	rejectNotWebSocket
	rejectInvalidQuery
	rejectUpgradeFailed
	rejectAtCapacity
	rejectOrigin
	rejectReasons // number of reasons
)

// Reasons as they appear in Stats.Rejected and in metric labels.
var rejectReasonNames = [rejectReasons]string{
	rejectMalformed:      "malformed",       // 400: unreadable request head
	rejectHeadTooLarge:   "head_too_large",  // 431
	rejectAborted:        "aborted",         // closed or timed out before the head was complete
	rejectMethod:         "method",          // 405
	rejectNotFound:       "not_found",       // 404: unknown path
	rejectUnknownChannel: "unknown_channel", // 404 on /ws/NAME
	rejectNotWebSocket:   "not_websocket",   // 426: /ws/NAME without an Upgrade header
	rejectInvalidQuery:   "invalid_query",   // 400: format, backlog or since
	rejectUpgradeFailed:  "upgrade_failed",  // the WebSocket handshake headers were invalid
	rejectAtCapacity:     "at_capacity",     // closed with 1013 at MaxConns
	rejectOrigin:         "origin",          // closed with 1008: Origin not allowed
}

func (h *hub) countReject(reason rejectReason) { h.rejected[reason].Add(1) }

func (h *hub) stats() Stats {
	rejected := make(map[string]uint64, rejectReasons)
	for reason, name := range rejectReasonNames {
		rejected[name] = h.rejected[reason].Load()
	}
	return Stats{
		Connections:      h.connections.Load(),
		QueuedBytes:      h.queuedBytes(),
		Upgrades:         h.upgrades.Load(),
		Rejected:         rejected,
		SlowClosed:       h.slowClosed.Load(),
		FramesSent:       h.framesSent.Load(),
		BytesSent:        h.bytesSent.Load(),
		BrokerErrors:     h.brokerErrors.Load(),
		BrokerRecoveries: h.brokerRecoveries.Load(),
		EntriesRead:      h.entriesRead.Load(),
	}
}

// queuedBytes sums every subscribed client's queue. It takes each client's
// lock in turn instead of keeping a shared counter, so the fan-out path
// pays nothing for the gauge.
func (h *hub) queuedBytes() int64 {
	var total int64
	h.forEachClient(func(c *client) {
		c.mu.Lock()
		total += int64(c.queued + c.pendingBytes)
		c.mu.Unlock()
	})
	return total
}
