package supervisor

import (
	"os/exec"
	"runtime"
)

// spawner starts every child from one goroutine locked to its OS thread for
// the supervisor's whole life. A parent-death signal fires when the thread
// that forked the child exits, not the process (prctl(2), PR_SET_PDEATHSIG;
// golang/go#27505), so forking from an arbitrary goroutine could kill a
// healthy child when the Go runtime retires that thread.
type spawner struct {
	requests chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func newSpawner() *spawner {
	s := &spawner{requests: make(chan spawnRequest)}
	go func() {
		// Never unlocked: the thread must outlive every child.
		runtime.LockOSThread()
		for req := range s.requests {
			req.done <- req.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	s.requests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
