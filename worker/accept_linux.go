package worker

import (
	"errors"

	"golang.org/x/sys/unix"
)

// isTemporaryAcceptError reports errors after which accept may succeed
// again: descriptor or memory exhaustion, and a connection aborted before it
// was accepted.
func isTemporaryAcceptError(err error) bool {
	for _, errno := range []unix.Errno{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}
