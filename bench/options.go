package bench

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"time"
)

// Options configure a bench run. Zero fields take the defaults that the
// field comments name; Run validates the result.
type Options struct {
	URL             string        // ws://host:port/ws/NAME; required
	Format          Format        // wire format to request; default FormatJSON
	Conns           int           // WebSocket clients; default 1
	DialConcurrency int           // dials in flight over all processes; default 64
	DialTimeout     time.Duration // TCP connect plus upgrade; default 10 s
	Procs           int           // processes that hold clients; default: enough for ConnsPerProc
	ConnsPerProc    int           // clients per process when Procs is 0; default 8000
	SourceAddrs     int           // loopback source addresses; default one per 10,000 clients

	File      string        // file that the server follows; required unless Idle
	Rate      float64       // lines per second; default 100
	Lines     uint64        // lines to append; 0: as many as Duration allows
	Duration  time.Duration // load time, or listen time when Idle; default 10 s unless Lines is set
	LineBytes int           // line length without the newline; default 100
	Idle      bool          // only connect and listen, for memory measurements

	Drain        time.Duration // wait for the last line after the load; default 5 s
	ReadyTimeout time.Duration // wait for every client to receive a probe line; default 10 s
	Interval     time.Duration // width of one time-series point; default 1 s
	ServerPID    int           // measure this process tree; 0: no server metrics
	RunID        string        // distinguishes this run's lines; default random

	// ChildPath and ChildArgs start a child process, which must call
	// RunChild because ChildEnv is set; defaults "/proc/self/exe" and no
	// arguments.
	ChildPath string
	ChildArgs []string

	Progress *StatusLine  // live progress line; nil: none
	Stderr   io.Writer    // output of child processes; default os.Stderr
	Logger   *slog.Logger // default: discard
}

// OptionsError reports an invalid option, which the caller can fix before
// it tries again.
type OptionsError struct {
	Reason string
}

func (e *OptionsError) Error() string { return "bench: invalid options: " + e.Reason }

// withDefaults returns a copy of o with defaults filled in, or an error that
// names the first invalid option.
func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		return o, &OptionsError{Reason: "the server URL is missing"}
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return o, &OptionsError{Reason: fmt.Sprintf("URL %q does not parse: %v", o.URL, err)}
	}
	// The pollers read raw sockets, which TLS would hide.
	if u.Scheme != "ws" {
		return o, &OptionsError{Reason: fmt.Sprintf("URL %q: the scheme must be ws; wss is not supported", o.URL)}
	}

	setDefault(&o.Format, FormatJSON)
	if o.Format != FormatJSON && o.Format != FormatText {
		return o, &OptionsError{Reason: fmt.Sprintf("format %q is not json or text", o.Format)}
	}
	setDefault(&o.Conns, 1)
	setDefault(&o.DialConcurrency, 64)
	setDefault(&o.DialTimeout, 10*time.Second)
	setDefault(&o.ConnsPerProc, 8000)
	setDefault(&o.Rate, 100)
	setDefault(&o.LineBytes, 100)
	setDefault(&o.Drain, 5*time.Second)
	setDefault(&o.ReadyTimeout, 10*time.Second)
	setDefault(&o.Interval, time.Second)
	setDefault(&o.ChildPath, "/proc/self/exe")
	if o.Duration == 0 && (o.Idle || o.Lines == 0) {
		o.Duration = 10 * time.Second
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}

	switch {
	case o.Conns < 0, o.DialConcurrency < 0, o.ConnsPerProc < 0, o.Procs < 0, o.SourceAddrs < 0:
		return o, &OptionsError{Reason: "counts must not be negative"}
	case o.Rate < 0, o.LineBytes < 0, o.Duration < 0, o.Drain < 0, o.ReadyTimeout < 0, o.Interval < 0, o.DialTimeout < 0:
		return o, &OptionsError{Reason: "rates, sizes and durations must not be negative"}
	case o.Procs > o.Conns:
		return o, &OptionsError{Reason: fmt.Sprintf("%d processes for %d clients; use at most one process per client", o.Procs, o.Conns)}
	case !o.Idle && o.File == "":
		return o, &OptionsError{Reason: "the file to append to is missing; set it, or listen only with Idle"}
	}
	if o.RunID == "" {
		if o.RunID, err = NewRunID(); err != nil {
			return o, err
		}
	}
	if !validRunID(o.RunID) {
		return o, &OptionsError{Reason: fmt.Sprintf("run id %q must be 1-32 characters of 0-9 and a-z", o.RunID)}
	}
	return o, nil
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// procCount returns how many processes hold the clients.
func (o Options) procCount() int {
	if o.Procs > 0 {
		return o.Procs
	}
	return max(1, (o.Conns+o.ConnsPerProc-1)/o.ConnsPerProc)
}

// streamURL returns the URL with the format query parameter set.
func (o Options) streamURL() string {
	u, _ := url.Parse(o.URL) // validated by withDefaults
	query := u.Query()
	query.Set("format", string(o.Format))
	u.RawQuery = query.Encode()
	return u.String()
}
