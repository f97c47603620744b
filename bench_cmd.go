package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"tailcast/bench"
)

// runBench runs the bench subcommand and returns the process exit code: 0
// for a clean run, 1 when the run failed or found a problem, 2 for invalid
// flags. In a child process of a bench run it serves the parent instead.
func runBench(args []string) int {
	if bench.IsChild() {
		return bench.RunChild()
	}

	var opts bench.Options
	var format, jsonPath, plotPath string
	var verbose bool
	flags := flag.NewFlagSet("tailcast bench", flag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "Usage: tailcast bench --url ws://HOST:PORT/ws/NAME --file PATH [flags]\n\n"+
			"Connects WebSocket clients to a tailcast server, appends numbered lines to the\n"+
			"file it follows, and checks that every client receives each line once and in\n"+
			"order. Exits 0 for a clean run, 1 for a failed run, 2 for invalid flags.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	flags.StringVar(&opts.URL, "url", "", "WebSocket `URL` of the channel, ws://HOST:PORT/ws/NAME (required)")
	flags.StringVar(&format, "format", "json", "wire `format` to request: json or text")
	flags.IntVar(&opts.Conns, "conns", 100, "number of WebSocket clients")
	flags.IntVar(&opts.DialConcurrency, "dial-concurrency", 64, "maximum dials in flight, over all processes")
	flags.DurationVar(&opts.DialTimeout, "dial-timeout", 0, "time limit of one TCP connect plus upgrade (default 10s)")
	flags.IntVar(&opts.Procs, "procs", 0, "processes that hold the clients; 1 keeps them in this process (default: one per --conns-per-proc clients)")
	flags.IntVar(&opts.ConnsPerProc, "conns-per-proc", 8000, "clients per process when --procs is not set")
	flags.IntVar(&opts.SourceAddrs, "source-addrs", 0, "loopback source addresses 127.0.0.1 to 127.0.0.N to dial from, for an IPv4 loopback URL (default: one per 10,000 clients)")

	flags.StringVar(&opts.File, "file", "", "`path` of the file that the server follows; lines are appended to it (required unless --idle)")
	flags.Float64Var(&opts.Rate, "rate", 100, "lines appended per second")
	flags.Uint64Var(&opts.Lines, "lines", 0, "lines to append; the load ends at --lines or --duration, whichever comes first")
	flags.DurationVar(&opts.Duration, "duration", 0, "load time, or listen time with --idle (default 10s, or unlimited when --lines is set)")
	flags.IntVar(&opts.LineBytes, "line-bytes", 100, "length of each line in bytes, without the newline; padding extends the stamp")
	flags.BoolVar(&opts.Idle, "idle", false, "append nothing: connect, listen for --duration, close; for memory measurements")

	flags.DurationVar(&opts.Drain, "drain", 0, "time to wait after the load for the last line to reach every client (default 5s)")
	flags.DurationVar(&opts.ReadyTimeout, "ready-timeout", 0, "time to wait for every client to receive a probe line before the load (default 10s)")
	flags.DurationVar(&opts.Interval, "interval", 0, "width of one time-series point in the report and plot (default 1s)")
	flags.IntVar(&opts.ServerPID, "server-pid", 0, "`pid` of the server; its process tree's memory and CPU time are measured")
	flags.StringVar(&opts.RunID, "run-id", "", "run id stamped on each line, 1-32 characters of 0-9 and a-z (default random)")

	flags.StringVar(&jsonPath, "json", "", "write the report as JSON to `file`; - writes it to standard output and the table to standard error")
	flags.StringVar(&plotPath, "plot", "", "draw latency percentiles and deliveries per second over time into an SVG `file`")
	flags.BoolVar(&verbose, "v", false, "log debug messages, such as every failed dial")

	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(flags.Output(), "tailcast bench: unexpected argument %q; all options are flags\n", flags.Arg(0))
		return 2
	}
	opts.Format = bench.Format(format)
	opts.ChildArgs = []string{"bench"}

	var logOutput io.Writer = os.Stderr
	if isTerminal(os.Stderr) {
		opts.Progress = bench.NewStatusLine(os.Stderr)
		logOutput = opts.Progress
		opts.Stderr = opts.Progress
	}
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(logOutput, &slog.HandlerOptions{Level: level}))
	opts.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	report, err := bench.Run(ctx, opts)
	stop()
	var optionsErr *bench.OptionsError
	if errors.As(err, &optionsErr) {
		fmt.Fprintf(flags.Output(), "tailcast bench: %s\nRun tailcast bench -h for the flags.\n", optionsErr.Reason)
		return 2
	}
	if err != nil {
		logger.Error("bench failed", "err", err)
		return 1
	}

	table := io.Writer(os.Stdout)
	if jsonPath == "-" {
		table = os.Stderr
	}
	if err := report.WriteText(table); err != nil {
		logger.Error("bench report failed", "err", err)
		return 1
	}
	if jsonPath != "" {
		if err := writeJSONReport(report, jsonPath); err != nil {
			logger.Error("bench JSON report failed", "path", jsonPath, "err", err)
			return 1
		}
	}
	if plotPath != "" {
		if err := report.WritePlot(plotPath); err != nil {
			logger.Error("bench plot failed", "path", plotPath, "err", err)
			return 1
		}
	}
	return report.ExitCode()
}

func writeJSONReport(report *bench.Report, path string) error {
	if path == "-" {
		return report.WriteJSON(os.Stdout)
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: create JSON report: %w", err)
	}
	if err := report.WriteJSON(file); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("bench: close JSON report: %w", err)
	}
	return nil
}

// isTerminal reports whether file is a terminal, where a live status line
// makes sense.
func isTerminal(file *os.File) bool {
	_, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS)
	return err == nil
}
