package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

const (
	probeEvery = 100 * time.Millisecond
	// reportEvery is how often groups report progress. It bounds how fast
	// the parent notices that all clients connected or became ready.
	reportEvery = 250 * time.Millisecond
	// stopGrace bounds the wait for groups beyond their own time limits;
	// a child that exceeds it is killed.
	stopGrace = 30 * time.Second
)

// runner carries the state of one Run between its phases.
type runner struct {
	opts     Options
	logger   *slog.Logger
	state    *runState
	groups   []groupHandle
	appender *appender
	report   *Report

	loadStart time.Time
	loadEnd   time.Time
	drainedAt time.Time
	problems  []string // failures of the machinery, such as a dead child
}

// Run connects opts.Conns clients, appends lines to opts.File while they
// listen, checks that every client receives every line once and in order,
// and returns the report. It blocks until the clients are closed. When ctx
// ends, Run stops the load early, still drains and closes the clients, and
// returns the report so far.
//
// The error is non-nil only when the run could not take place: invalid
// options, a file that cannot be opened, a child process that cannot
// start, a server pid that does not exist. Failed clients and lost lines
// are in Report.Problems instead.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	addrs, err := loopbackSourceAddrs(opts.URL, opts.Conns, opts.SourceAddrs)
	if err != nil {
		return nil, err
	}
	procs := opts.procCount()
	r := &runner{
		opts:   opts,
		logger: opts.Logger,
		state:  newRunState(procs, opts.Interval),
		report: &Report{
			RunID:       opts.RunID,
			URL:         opts.streamURL(),
			Format:      opts.Format,
			Started:     time.Now(),
			Procs:       procs,
			SourceAddrs: len(addrs),
		},
	}

	if !opts.Idle {
		if r.appender, err = openAppender(opts.File, opts.RunID, opts.LineBytes); err != nil {
			return nil, err
		}
		defer r.appender.close()
	}
	benchBefore, err := sampleProcessTree(os.Getpid())
	if err != nil {
		return nil, err
	}
	var server serverSamples
	if opts.ServerPID > 0 {
		if server.before, err = sampleProcessTree(opts.ServerPID); err != nil {
			return nil, fmt.Errorf("bench: server pid: %w", err)
		}
	}

	reports := make(chan taggedReport, 16)
	var groupsDone sync.WaitGroup
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		r.state.collect(reports)
	}()
	stopProgress := r.startProgress()
	defer stopProgress()

	startErr := r.startGroups(ctx, procs, addrs, reports, &groupsDone)
	if startErr == nil {
		r.drive(ctx, &server)
	}
	r.closeGroups()
	groupsDone.Wait()
	close(reports)
	<-collected
	if startErr != nil {
		return nil, startErr
	}

	benchAfter, err := sampleProcessTree(os.Getpid())
	if err != nil {
		return nil, err
	}
	r.buildReport(&server, benchAfter.CPU-benchBefore.CPU)
	return r.report, nil
}

// serverSamples are the measurements of the server's process tree.
type serverSamples struct {
	before, connected, loadStart, drained procSample
}

// drive runs the phases between connecting and closing: wait for the
// clients, then either listen (Idle) or warm up, append and drain.
func (r *runner) drive(ctx context.Context, server *serverSamples) {
	opts := r.opts
	r.logger.Info("bench connecting", "conns", opts.Conns, "procs", len(r.groups), "url", r.report.URL)
	if !r.waitConnected(ctx) {
		return
	}
	sum, _, _ := r.state.totals()
	r.logger.Info("bench connected", "connected", sum.Connected, "failed", sum.Failed)
	if sum.Connected == 0 {
		return
	}
	r.sampleServer(&server.connected)

	if opts.Idle {
		r.state.waitFor(ctx, opts.Duration, func() bool { return false })
		r.finish(ctx, 0)
		r.sampleServer(&server.drained)
		return
	}

	r.warmUp(ctx)
	r.sampleServer(&server.loadStart)
	r.loadStart = time.Now()
	r.state.startSeries(r.loadStart)
	if err := r.appender.run(ctx, opts.Rate, opts.Lines, opts.Duration); err != nil {
		r.problems = append(r.problems, err.Error())
	}
	r.loadEnd = time.Now()
	r.logger.Info("bench load done", "lines", r.appender.seq, "seconds", r.loadEnd.Sub(r.loadStart).Seconds())

	r.finish(ctx, r.appender.seq)
	r.sampleServer(&server.drained)
}

func (r *runner) sampleServer(sample *procSample) {
	if r.opts.ServerPID == 0 {
		return
	}
	var err error
	if *sample, err = sampleProcessTree(r.opts.ServerPID); err != nil {
		r.problems = append(r.problems, err.Error())
	}
}

// startGroups starts the clients in this process when there is one group,
// and in child processes otherwise.
func (r *runner) startGroups(ctx context.Context, procs int, addrs []string,
	reports chan<- taggedReport, done *sync.WaitGroup) error {
	opts := r.opts
	dialConcurrency := max(1, (opts.DialConcurrency+procs-1)/procs)
	childLogLevel := slog.LevelWarn
	if r.logger.Enabled(ctx, slog.LevelDebug) {
		childLogLevel = slog.LevelDebug
	}
	first := 0
	for id := range procs {
		conns := opts.Conns / procs
		if id < opts.Conns%procs {
			conns++
		}
		cfg := groupConfig{
			URL:             r.report.URL,
			Format:          opts.Format,
			RunID:           opts.RunID,
			FirstIndex:      first,
			Conns:           conns,
			DialConcurrency: dialConcurrency,
			DialTimeout:     opts.DialTimeout,
			SourceAddrs:     addrs,
			ReportInterval:  reportEvery,
			LogLevel:        childLogLevel,
		}
		first += conns

		if procs == 1 {
			// Like a child process, the group ends by the close command, so
			// that a cancelled run still drains and closes in order.
			r.groups = append(r.groups, startLocalGroup(context.WithoutCancel(ctx), id, cfg, r.logger, reports, done))
			continue
		}
		child, err := startChildGroup(id, cfg, &opts, reports, done)
		if err != nil {
			return err
		}
		r.groups = append(r.groups, child)
	}
	return nil
}

// waitConnected waits until every client connected or failed, and returns
// false when ctx ended first.
func (r *runner) waitConnected(ctx context.Context) bool {
	return r.state.waitFor(ctx, 0, func() bool {
		sum, _, final := r.state.totals()
		return sum.Connected+sum.Failed >= r.opts.Conns || final == len(r.groups)
	})
}

// warmUp appends probe lines until every connected client has received
// one, so that no measured line goes to a client that the server has not
// subscribed yet. It gives up after ReadyTimeout; clients that are still
// not ready are reported.
func (r *runner) warmUp(ctx context.Context) {
	allReady := func() bool {
		sum, _, _ := r.state.totals()
		return sum.Ready+sum.Disconnected >= sum.Connected
	}
	deadline := time.Now().Add(r.opts.ReadyTimeout)
	for {
		if err := r.appender.appendProbe(); err != nil {
			r.problems = append(r.problems, err.Error())
			return
		}
		if r.state.waitFor(ctx, probeEvery, allReady) {
			return
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			sum, _, _ := r.state.totals()
			r.logger.Warn("bench clients not ready, starting the load anyway",
				"ready", sum.Ready, "connected", sum.Connected, "timeout", r.opts.ReadyTimeout)
			return
		}
	}
}

// finish sends the last sequence number to the groups and waits until each
// reports that it drained.
func (r *runner) finish(ctx context.Context, lastSeq uint64) {
	drain := r.opts.Drain
	if lastSeq == 0 {
		drain = 0
	}
	for _, group := range r.groups {
		group.send(command{Kind: commandFinish, LastSeq: lastSeq, Drain: drain})
	}
	// The groups bound the drain themselves; the grace only covers a group
	// that stopped responding. A cancelled ctx must not cut the drain short.
	r.state.waitFor(context.WithoutCancel(ctx), drain+stopGrace, func() bool {
		_, drained, _ := r.state.totals()
		return drained == len(r.groups)
	})
	r.drainedAt = time.Now()
}

// closeGroups closes every client and waits for the final reports; a
// child that does not send its report in time is killed.
func (r *runner) closeGroups() {
	for _, group := range r.groups {
		group.send(command{Kind: commandClose})
	}
	done := r.state.waitFor(context.Background(), stopGrace, func() bool {
		_, _, final := r.state.totals()
		return final == len(r.groups)
	})
	if done {
		return
	}
	r.problems = append(r.problems, fmt.Sprintf("some groups sent no final report within %s", stopGrace))
	for _, group := range r.groups {
		group.kill()
	}
}
