package supervisor

import (
	"errors"
	"time"
)

// operation is a change that the supervisor carries out one at a time.
type operation int

const (
	operationReload operation = iota
	operationAddWorker
	operationRemoveWorker
)

// operate carries out operations one at a time until the supervisor stops.
func (s *Supervisor) operate(operations <-chan operation) {
	for {
		select {
		case <-s.stopped:
			return
		case op := <-operations:
			switch op {
			case operationReload:
				s.reload()
			case operationAddWorker:
				s.addWorker()
			case operationRemoveWorker:
				s.removeWorker()
			}
		}
	}
}

// reload replaces every child, one at a time, with a fresh process of the
// binary on disk. It stops at the first replacement that fails, and the
// old processes keep serving the remaining slots.
func (s *Supervisor) reload() {
	s.mu.Lock()
	slots := append([]*slot(nil), s.workers...)
	if s.tailSlot != nil {
		slots = append(slots, s.tailSlot)
	}
	s.reloading = true
	s.mu.Unlock()
	s.notifier.reloading()
	s.statusChanged()
	s.log.Info("reloading", "children", len(slots), "executable", s.executable)

	started := time.Now()
	result := "ok"
	for _, sl := range slots {
		if err := sl.command(commandReplace); err != nil {
			if errors.Is(err, errStopping) {
				return
			}
			result = "failed"
			s.log.Error("reload failed; the remaining old processes keep serving", "role", sl.role, "index", sl.index, "err", err)
			break
		}
	}

	s.mu.Lock()
	s.reloading = false
	s.reloadRuns[result]++
	startedUp := s.ready
	s.mu.Unlock()
	if result == "ok" {
		s.log.Info("reloaded", "children", len(slots), "duration", time.Since(started))
	}
	// READY=1 ends systemd's reloading state whatever the result. Before
	// the first start-up completed, childReady sends it instead.
	if startedUp {
		s.notifier.ready(s.statusText())
	}
}

// addWorker starts one more worker on a new socket of the shared port.
func (s *Supervisor) addWorker() {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	index := len(s.workers)
	if _, err := s.listeners.open(index); err != nil {
		s.mu.Unlock()
		s.log.Error("add worker failed", "index", index, "err", err)
		return
	}
	s.workers = append(s.workers, s.startSlotLocked(RoleWorker, index))
	count := len(s.workers)
	s.mu.Unlock()
	s.log.Info("worker added", "index", index, "workers", count)
	s.statusChanged()
}

// removeWorker stops the newest worker, never the last one.
func (s *Supervisor) removeWorker() {
	s.mu.Lock()
	if len(s.workers) <= 1 {
		s.mu.Unlock()
		s.log.Warn("not removing the last worker", "workers", len(s.workers))
		return
	}
	last := s.workers[len(s.workers)-1]
	s.mu.Unlock()

	if err := last.command(commandRetire); err != nil {
		return // stopping
	}
	s.mu.Lock()
	s.workers = s.workers[:len(s.workers)-1]
	count := len(s.workers)
	s.mu.Unlock()
	s.log.Info("worker removed", "index", last.index, "workers", count)
	s.statusChanged()
}
