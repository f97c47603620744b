package supervisor

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"tailcast/relay"
)

// Child roles, passed as the hidden subcommand's argument.
const (
	RoleWorker = "worker"
	RoleTail   = "tail"
)

// Descriptors every child inherits besides stdio.
const (
	configFD   = 3 // read end of a pipe carrying the ChildConfig as JSON
	statusFD   = 4 // write end of a pipe the child reports on, one line a message
	listenerFD = 5 // workers only: the slot's listening socket
)

// Messages on the status pipe. A line is statusReady, or statusStats, a
// space and a childReport in JSON.
const (
	statusReady   = "ready"
	statusDrained = "drained" // a stopping worker closed its listener and every client
	statusStats   = "stats"
)

// statsInterval is the period of a child's counter reports, so a scrape
// shows counters at most this old.
const statsInterval = time.Second

// Tuning holds the settings the supervisor passes through to its children.
// Zero fields get the defaults of the worker and tail packages.
type Tuning struct {
	HandshakeTimeout time.Duration `json:"handshake_timeout"`
	QueueBytes       int           `json:"queue_bytes"`
	MaxConns         int           `json:"max_conns"`
	MaxBacklog       int           `json:"max_backlog"`
	PingInterval     time.Duration `json:"ping_interval"`
	AllowedOrigins   []string      `json:"allowed_origins"`

	Poll          bool          `json:"poll"`
	PollInterval  time.Duration `json:"poll_interval"`
	MaxLineBytes  int           `json:"max_line_bytes"`
	MaxBatchBytes int           `json:"max_batch_bytes"`
	MaxBatchDelay time.Duration `json:"max_batch_delay"`
}

// LogSettings selects the log handler of every process.
type LogSettings struct {
	Format string `json:"format"` // text or json
	Level  string `json:"level"`  // debug, info, warn, error
}

// ChildConfig is everything a child needs. It travels over an inherited
// pipe rather than argv or the environment because RedisURL may hold a
// password.
type ChildConfig struct {
	Role            string        `json:"role"`
	Index           int           `json:"index"`
	Listen          string        `json:"listen"`
	Files           []relay.File  `json:"files"`
	RedisURL        string        `json:"redis_url"`
	History         int64         `json:"history"`
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
	Tuning          Tuning        `json:"tuning"`
	Log             LogSettings   `json:"log"`
}

// readChildConfig reads the configuration the supervisor wrote to configFD.
func readChildConfig() (ChildConfig, error) {
	pipe := os.NewFile(configFD, "config")
	if pipe == nil {
		return ChildConfig{}, fmt.Errorf("supervisor: no configuration pipe on descriptor %d; this subcommand is started by tailcast serve", configFD)
	}
	defer pipe.Close()
	var cfg ChildConfig
	if err := json.NewDecoder(pipe).Decode(&cfg); err != nil {
		return ChildConfig{}, fmt.Errorf("supervisor: read child configuration: %w (this subcommand is started by tailcast serve)", err)
	}
	return cfg, nil
}
