package bench

import (
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
)

// ChildEnv is the environment variable that marks a child process of the
// bench. A program that calls Run must call RunChild early in main when
// IsChild returns true, because Run re-executes the program's own binary
// (Options.ChildPath) to spread clients over processes.
const ChildEnv = "TAILCAST_BENCH_CHILD"

// reportsFD is the descriptor on which a child writes its reports; stdin
// carries the parent's commands.
const reportsFD = 3

// IsChild reports whether this process is a child process of a bench run.
func IsChild() bool { return os.Getenv(ChildEnv) == "1" }

// RunChild runs the clients of one child process. It reads gob-encoded
// commands from stdin and writes gob-encoded reports to descriptor 3, and it
// returns the process exit code. It ends after the parent's close command or
// when stdin reaches EOF because the parent went away.
func RunChild() int {
	// The parent handles Ctrl-C and then closes the clients in order; the
	// terminal sends SIGINT to the whole process group.
	signal.Ignore(os.Interrupt)

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
	decoder := gob.NewDecoder(os.Stdin)
	var start command
	if err := decoder.Decode(&start); err != nil {
		logger.Error("bench child: read start command failed", "err", err)
		return 1
	}
	if start.Kind != commandStart {
		logger.Error("bench child: first command is not start", "kind", start.Kind)
		return 1
	}
	logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: start.Config.LogLevel})).
		With("pid", os.Getpid(), "first_client", start.Config.FirstIndex)

	commands := make(chan command)
	go func() {
		defer close(commands)
		for {
			var cmd command
			if err := decoder.Decode(&cmd); err != nil {
				if err != io.EOF {
					logger.Error("bench child: read command failed", "err", err)
				}
				return
			}
			commands <- cmd
		}
	}()

	reports := os.NewFile(reportsFD, "bench-reports")
	encoder := gob.NewEncoder(reports)
	var mu sync.Mutex
	var writeErr error
	emit := func(report groupReport) {
		mu.Lock()
		defer mu.Unlock()
		if writeErr == nil {
			writeErr = encoder.Encode(report)
		}
	}

	newGroup(start.Config, logger, emit).run(context.Background(), commands)

	if writeErr != nil {
		logger.Error("bench child: write report failed", "err", writeErr)
		return 1
	}
	if err := reports.Close(); err != nil {
		logger.Error("bench child: close report pipe failed", "err", err)
		return 1
	}
	return 0
}

// taggedReport is a report and the index of the group that sent it.
type taggedReport struct {
	group  int
	report groupReport
}

// groupHandle is the parent's side of a group, in this process or in a
// child.
type groupHandle interface {
	// send delivers a command; errors show up as a final report with Err.
	send(command)
	// kill ends a child process that stopped responding.
	kill()
}

// localGroup runs a group in the parent process.
type localGroup struct {
	commands chan command
}

func startLocalGroup(ctx context.Context, id int, cfg groupConfig, logger *slog.Logger,
	reports chan<- taggedReport, done *sync.WaitGroup) *localGroup {
	handle := &localGroup{commands: make(chan command, 4)}
	emit := func(report groupReport) { reports <- taggedReport{group: id, report: report} }
	done.Add(1)
	go func() {
		defer done.Done()
		newGroup(cfg, logger, emit).run(ctx, handle.commands)
	}()
	return handle
}

func (l *localGroup) send(cmd command) { l.commands <- cmd }

// kill does nothing: a group in this process ends by its own time limits.
func (l *localGroup) kill() {}

// childGroup runs a group in a child process: the bench binary executed
// again with ChildEnv set.
type childGroup struct {
	cmd     *exec.Cmd
	mu      sync.Mutex // serializes encoder
	encoder *gob.Encoder
	stdin   io.WriteCloser
	logger  *slog.Logger
}

func startChildGroup(id int, cfg groupConfig, opts *Options,
	reports chan<- taggedReport, done *sync.WaitGroup) (*childGroup, error) {
	reportsRead, reportsWrite, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("bench: start child %d: report pipe: %w", id, err)
	}

	cmd := exec.Command(opts.ChildPath, opts.ChildArgs...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.ExtraFiles = []*os.File{reportsWrite} // becomes descriptor 3
	cmd.Stdout = opts.Stderr
	cmd.Stderr = opts.Stderr
	// A child must not outlive a parent that was killed, because its
	// clients would hold server connections that no process closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		reportsRead.Close()
		reportsWrite.Close()
		return nil, fmt.Errorf("bench: start child %d: command pipe: %w", id, err)
	}
	if err := cmd.Start(); err != nil {
		reportsRead.Close()
		reportsWrite.Close()
		return nil, fmt.Errorf("bench: start child %d: %w", id, err)
	}
	reportsWrite.Close()

	child := &childGroup{
		cmd:     cmd,
		encoder: gob.NewEncoder(stdin),
		stdin:   stdin,
		logger:  opts.Logger.With("child", id, "pid", cmd.Process.Pid),
	}
	child.send(command{Kind: commandStart, Config: cfg})

	done.Add(1)
	go func() {
		defer done.Done()
		child.forwardReports(id, reportsRead, reports)
	}()
	return child, nil
}

func (c *childGroup) send(cmd command) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.encoder.Encode(cmd); err != nil {
		// The report side notices the exit and reports it.
		c.logger.Warn("bench: send command to child failed", "err", err)
		return
	}
	if cmd.Kind == commandClose {
		_ = c.stdin.Close()
	}
}

func (c *childGroup) kill() {
	if err := c.cmd.Process.Kill(); err != nil {
		c.logger.Warn("bench: kill child failed", "err", err)
	}
}

// forwardReports decodes the child's reports until its pipe closes, waits
// for the process, and makes sure a final report arrives even when the
// child died.
func (c *childGroup) forwardReports(id int, pipe *os.File, reports chan<- taggedReport) {
	defer pipe.Close()
	decoder := gob.NewDecoder(pipe)
	sawFinal := false
	var readErr error
	for {
		var report groupReport
		if readErr = decoder.Decode(&report); readErr != nil {
			break
		}
		sawFinal = sawFinal || report.Kind == reportFinal
		reports <- taggedReport{group: id, report: report}
	}

	waitErr := c.cmd.Wait()
	if sawFinal && waitErr == nil {
		return
	}
	reason := fmt.Sprintf("child process %d ended without a final report", c.cmd.Process.Pid)
	switch {
	case waitErr != nil:
		reason = fmt.Sprintf("child process %d: %v", c.cmd.Process.Pid, waitErr)
	case readErr != io.EOF:
		reason = fmt.Sprintf("child process %d: read reports: %v", c.cmd.Process.Pid, readErr)
	}
	c.logger.Error("bench: child failed", "err", reason)
	if !sawFinal {
		reports <- taggedReport{group: id, report: groupReport{Kind: reportFinal, Err: reason}}
	}
}
