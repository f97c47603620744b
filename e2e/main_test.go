package e2e

import (
	"os"
	"testing"
)

// TestMain gives every tailcast serve of this suite a free admin port:
// the default, 127.0.0.1:9090, may be taken on a shared machine, and tests
// that need the port pass --admin 127.0.0.1:0 and read it from the log.
func TestMain(m *testing.M) {
	os.Setenv("TAILCAST_ADMIN", "127.0.0.1:0")
	os.Exit(m.Run())
}
