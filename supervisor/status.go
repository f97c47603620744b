package supervisor

import (
	"fmt"
	"strings"
	"time"
)

// statusChanged wakes the status loop without waiting for it.
func (s *Supervisor) statusChanged() {
	select {
	case s.statusWake <- struct{}{}:
	default:
	}
}

// reportStatus sends systemd the status line whenever it changes, and the
// watchdog pings, until the supervisor stops. The pings come from this loop
// because it takes the locks that a stuck supervisor would hold.
func (s *Supervisor) reportStatus() {
	period := time.Second
	if s.notifier.watchdog > 0 {
		period = min(period, s.notifier.watchdog/2)
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-tick.C:
			s.notifier.ping()
		case <-s.statusWake:
		}
		s.notifier.status(s.statusText())
	}
}

// statusText returns a one-line summary for systemctl status, such as
// "serving: 4/4 workers ready, 120 connections, 2 channels", followed by
// any child that keeps crashing.
func (s *Supervisor) statusText() string {
	readyWorkers, workers := 0, 0
	var problems []string
	for _, sl := range s.slots() {
		if sl.role == RoleWorker {
			workers++
			if sl.isReady() {
				readyWorkers++
			}
		}
		if looping, restarts := sl.crashLooping(); looping {
			problems = append(problems, fmt.Sprintf("%s keeps crashing (%d restarts)", sl.name(), restarts))
		}
	}

	s.mu.Lock()
	state := "serving"
	switch {
	case s.stopping:
		state = "stopping"
	case s.reloading:
		state = "reloading"
	case !s.ready:
		state = "starting"
	}
	s.mu.Unlock()

	text := fmt.Sprintf("%s: %d/%d workers ready, %d connections, %d channels",
		state, readyWorkers, workers, s.connections(), len(s.opts.Files))
	if len(problems) > 0 {
		text += "; " + strings.Join(problems, "; ")
	}
	return text
}

// connections returns the open WebSocket connections of every running
// worker, as of their last reports.
func (s *Supervisor) connections() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	for c := range s.children {
		if report := c.latestReport(); report.Worker != nil {
			total += report.Worker.Connections
		}
	}
	return total
}
