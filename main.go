// Command tailcast follows log files once and streams every new line over
// WebSocket to any number of clients, through Redis.
//
//	tailcast serve --file app=/var/log/app.log    supervisor, tail process and workers
//	tailcast tail  --file app=... --redis URL     the follower alone, for a log host
//	tailcast bench --url ws://... --file ...      load generator and delivery checker
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"tailcast/broker"
	"tailcast/relay"
	"tailcast/supervisor"
	"tailcast/tail"
)

const usage = `tailcast follows log files once and streams every new line over WebSocket.

Usage:
  tailcast serve --file NAME=PATH [flags]   run the supervisor, tail process and workers
  tailcast tail --file NAME=PATH --redis URL [flags]
                                            run the follower alone, for a host that serves no clients
  tailcast bench [flags]                    load-test a server and check delivery

Run "tailcast COMMAND --help" for a command's flags. Every flag of serve and
tail can also come from the environment: --max-conns from TAILCAST_MAX_CONNS,
and so on. A flag given on the command line wins over the environment.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	args := os.Args[2:]
	var code int
	switch os.Args[1] {
	case "serve":
		code = runServe(args)
	case "tail":
		code = runTail(args)
	case "bench":
		code = runBench(args)
	case "child":
		// Hidden: the supervisor starts its children this way.
		code = runChild(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "tailcast: unknown command %q\n\n%s", os.Args[1], usage)
		code = 2
	}
	os.Exit(code)
}

// originFlags collects repeated --allowed-origin values.
type originFlags []string

func (o *originFlags) String() string { return strings.Join(*o, ",") }

func (o *originFlags) Set(value string) error {
	if value != "*" {
		u, err := url.Parse(value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("invalid --allowed-origin %q: use scheme://host[:port], such as https://dash.example.com, or *", value)
		}
	}
	*o = append(*o, value)
	return nil
}

// fileFlags collects repeated --file NAME=PATH values.
type fileFlags []relay.File

var channelName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func (f *fileFlags) String() string {
	parts := make([]string, 0, len(*f))
	for _, file := range *f {
		parts = append(parts, file.Name+"="+file.Path)
	}
	return strings.Join(parts, ",")
}

func (f *fileFlags) Set(value string) error {
	name, path, ok := strings.Cut(value, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("invalid --file %q: use NAME=PATH, such as app=/var/log/app.log", value)
	}
	if !channelName.MatchString(name) {
		return fmt.Errorf("invalid channel name %q in --file: use letters, digits, '.', '_' and '-'", name)
	}
	for _, file := range *f {
		if file.Name == name {
			return fmt.Errorf("channel %q is given twice in --file: every file needs its own name", name)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("invalid path in --file %q: %w", value, err)
	}
	*f = append(*f, relay.File{Name: name, Path: abs})
	return nil
}

// tailFlags registers the follower settings shared by serve and tail.
func tailFlags(fs *flag.FlagSet, tuning *supervisor.Tuning) {
	fs.BoolVar(&tuning.Poll, "poll", false, "watch files by polling with stat only, without inotify (for NFS and similar)")
	fs.DurationVar(&tuning.PollInterval, "poll-interval", 0, "stat period when polling, and of the safety-net stat under inotify (0: the follower's default)")
	fs.IntVar(&tuning.MaxLineBytes, "max-line-bytes", 0, "longest line in bytes; a longer line is cut there and marked (0: 65536)")
	fs.IntVar(&tuning.MaxBatchBytes, "batch-bytes", 0, "largest batch of lines in bytes (0: the follower's default)")
	fs.DurationVar(&tuning.MaxBatchDelay, "batch-delay", 0, "least time between two batches of lines, so the longest a line waits for others to join it; after a quiet spell a line leaves at once (0: 5ms)")
}

func logFlags(fs *flag.FlagSet, settings *supervisor.LogSettings) {
	fs.StringVar(&settings.Format, "log-format", "text", "log format: text or json")
	fs.StringVar(&settings.Level, "log-level", "info", "log level: debug, info, warn or error")
}

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var opts supervisor.Options
	var files fileFlags
	fs.StringVar(&opts.Listen, "listen", ":8080", "address the workers share, host:port (port 0 picks a free port)")
	fs.IntVar(&opts.Workers, "workers", runtime.NumCPU(), "number of worker processes")
	fs.Var(&files, "file", "follow PATH as channel NAME, given as NAME=PATH; repeat for more files")
	fs.StringVar(&opts.RedisURL, "redis", "", "Redis URL: redis://[:password@]host:port/db, rediss://... or unix:///path/redis.sock (default: an embedded broker on loopback)")
	fs.Int64Var(&opts.History, "history", broker.DefaultHistory, "batches kept per channel for backlog and resume")
	fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "time allowed to close clients and stop children on SIGTERM")
	fs.BoolVar(&opts.NoTail, "no-tail", false, "run workers only; another host's tailcast tail writes the channels")
	fs.DurationVar(&opts.Tuning.HandshakeTimeout, "handshake-timeout", 5*time.Second, "time a client has to send its HTTP request and complete the upgrade")
	fs.IntVar(&opts.Tuning.QueueBytes, "client-queue-bytes", 1<<20, "bytes queued for one client before it is closed as too slow (close code 4000)")
	fs.IntVar(&opts.Tuning.MaxConns, "max-conns", 0, "WebSocket connections per worker; more are closed with code 1013 (0: no limit)")
	fs.IntVar(&opts.Tuning.MaxBacklog, "max-backlog", 10000, "largest backlog=N a client may ask for, in lines")
	fs.DurationVar(&opts.Tuning.PingInterval, "ping-interval", 30*time.Second, "period of the server's WebSocket pings")
	var origins originFlags
	fs.Var(&origins, "allowed-origin", "browser origin, such as https://dash.example.com, that may open streams besides the server's own (* allows any); repeat for more")
	fs.StringVar(&opts.Admin, "admin", "127.0.0.1:9090", "address of the HTTP endpoint for /metrics, /healthz and /readyz; \"\" or off disables it")
	tailFlags(fs, &opts.Tuning)
	logFlags(fs, &opts.Log)
	if err := parseFlags(fs, args); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "tailcast serve: %v\n", err)
		}
		return 2
	}
	if opts.Admin == "off" {
		opts.Admin = ""
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tailcast serve: unexpected argument %q: every setting is a flag, such as --file NAME=PATH\n", fs.Arg(0))
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "tailcast serve: no file to follow: give --file NAME=PATH, such as --file app=/var/log/app.log")
		return 2
	}
	if opts.Workers < 1 {
		fmt.Fprintf(os.Stderr, "tailcast serve: invalid --workers %d: use 1 or more\n", opts.Workers)
		return 2
	}
	if opts.History < 1 {
		fmt.Fprintf(os.Stderr, "tailcast serve: invalid --history %d: use 1 or more batches\n", opts.History)
		return 2
	}
	opts.Files = files
	opts.Tuning.AllowedOrigins = origins

	log, err := supervisor.NewLogger(os.Stderr, opts.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tailcast serve:", err)
		return 2
	}
	opts.Logger = log
	if err := supervisor.Run(context.Background(), opts); err != nil {
		log.Error("serve failed", "err", err)
		fmt.Fprintln(os.Stderr, "tailcast serve:", err)
		return 1
	}
	return 0
}

func runTail(args []string) int {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	var files fileFlags
	var tuning supervisor.Tuning
	var logSettings supervisor.LogSettings
	var redisURL string
	var history int64
	fs.Var(&files, "file", "follow PATH as channel NAME, given as NAME=PATH; repeat for more files")
	fs.StringVar(&redisURL, "redis", "", "Redis URL the workers read: redis://[:password@]host:port/db, rediss://... or unix:///path/redis.sock (required)")
	fs.Int64Var(&history, "history", broker.DefaultHistory, "batches kept per channel for backlog and resume")
	tailFlags(fs, &tuning)
	logFlags(fs, &logSettings)
	if err := parseFlags(fs, args); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "tailcast tail: %v\n", err)
		}
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "tailcast tail: no file to follow: give --file NAME=PATH")
		return 2
	}
	if redisURL == "" {
		fmt.Fprintln(os.Stderr, "tailcast tail: no --redis given: the follower writes to the Redis your workers read, such as --redis redis://127.0.0.1:6379/0")
		return 2
	}
	log, err := supervisor.NewLogger(os.Stderr, logSettings)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tailcast tail:", err)
		return 2
	}
	client, err := broker.Connect(redisURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tailcast tail:", err)
		return 2
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("following files", "files", len(files))
	err = relay.Run(ctx, relay.Options{
		Files:  files,
		Broker: broker.New(client, broker.Options{History: history}),
		Tail: tail.Options{
			Poll:          tuning.Poll,
			PollInterval:  tuning.PollInterval,
			MaxLineBytes:  tuning.MaxLineBytes,
			MaxBatchBytes: tuning.MaxBatchBytes,
			MaxBatchDelay: tuning.MaxBatchDelay,
		},
		Logger: log,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("tail failed", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// envPrefix starts the environment variable of every flag: --max-conns
// comes from TAILCAST_MAX_CONNS.
const envPrefix = "TAILCAST_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// errUsage reports a command line that package flag already explained on
// stderr, or a request for --help.
var errUsage = errors.New("invalid command line")

// parseFlags parses args, then sets every flag absent from them from its
// environment variable, so the command line wins. TAILCAST_FILE holds a
// comma-separated list of NAME=PATH values.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " (env " + envName(f.Name) + ")"
	})
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		value, ok := os.LookupEnv(envName(f.Name))
		if envErr != nil || given[f.Name] || !ok {
			return
		}
		values := []string{value}
		if f.Name == "file" || f.Name == "allowed-origin" {
			values = strings.Split(value, ",")
		}
		for _, v := range values {
			if err := fs.Set(f.Name, strings.TrimSpace(v)); err != nil {
				envErr = fmt.Errorf("invalid %s=%q: %w", envName(f.Name), value, err)
				return
			}
		}
	})
	return envErr
}

func runChild(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "tailcast child: this subcommand is started by tailcast serve")
		return 2
	}
	if err := supervisor.RunChild(args[0]); err != nil {
		fmt.Fprintln(os.Stderr, "tailcast child:", err)
		return 1
	}
	return 0
}
