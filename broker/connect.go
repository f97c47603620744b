package broker

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Connect returns a client for a redis://, rediss:// or unix:// URL. It
// does not dial: go-redis connects on first use, so a Redis that is down at
// start shows up as errors from the first commands, which callers retry.
func Connect(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("broker: invalid redis url (want redis://[:password@]host:port/db, rediss://... or unix:///path/to/redis.sock): %w", err)
	}
	// Fail fast and let the callers' loops back off, instead of go-redis
	// retrying inside one call while a batch waits.
	opts.MaxRetries = -1
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 5 * time.Second
	opts.WriteTimeout = 5 * time.Second
	return redis.NewClient(opts), nil
}
