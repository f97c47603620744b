package tail

import (
	"log/slog"
	"time"
)

// logRepeatInterval is the minimum time between two log records of the same
// ongoing problem, so a file that stays missing does not flood the log at
// every poll.
const logRepeatInterval = time.Minute

// problemLog logs recurring problems, such as a missing file, at most once
// per logRepeatInterval each, and counts the repeats it held back. It is used
// from the follower's goroutine only.
type problemLog struct {
	logger   *slog.Logger
	problems map[string]*problemState
}

type problemState struct {
	lastLogged time.Time
	suppressed int
}

func newProblemLog(logger *slog.Logger) *problemLog {
	return &problemLog{logger: logger, problems: make(map[string]*problemState)}
}

// warn logs msg unless the problem key was logged less than
// logRepeatInterval ago.
func (p *problemLog) warn(key, msg string, args ...any) {
	now := time.Now()
	state, seen := p.problems[key]
	if seen && now.Sub(state.lastLogged) < logRepeatInterval {
		state.suppressed++
		return
	}
	if seen {
		args = append(args, "repeats", state.suppressed)
	} else {
		state = &problemState{}
		p.problems[key] = state
	}
	state.lastLogged = now
	state.suppressed = 0
	p.logger.Warn(msg, args...)
}

// resolved clears the problem key, so that the next occurrence is logged at
// once.
func (p *problemLog) resolved(key string) {
	delete(p.problems, key)
}
