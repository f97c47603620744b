package supervisor

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// fdOverhead estimates the descriptors a worker uses besides its client
// sockets: listener, epoll, pipes, broker connections and the Go runtime's.
const fdOverhead = 64

// raiseFileLimit sets the soft open-file limit to the hard limit and
// returns the result. Go raises its own soft limit at start-up too, but
// restores the old one in children it starts unless the program sets the
// limit itself (syscall.Setrlimit), as done here.
func raiseFileLimit() (uint64, error) {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return 0, err
	}
	limit.Cur = limit.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return limit.Cur, err
	}
	return limit.Cur, nil
}

// checkCapacity logs how many connections the workers can hold and warns
// when the configured capacity does not fit the open-file limits. maxConns
// 0 means no per-worker limit, so the file limit alone sets the capacity.
func checkCapacity(log *slog.Logger, workers, maxConns int, fileLimit uint64) {
	perWorker := int64(fileLimit) - fdOverhead
	if maxConns > 0 {
		if need := uint64(maxConns) + fdOverhead; need > fileLimit {
			log.Warn("connection limit exceeds the open-file limit",
				"max_conns", maxConns, "open_file_limit", fileLimit, "needed", need,
				"effect", "accept fails with EMFILE before a worker reaches --max-conns",
				"fix", "raise LimitNOFILE (systemd) or ulimit -n, or lower --max-conns")
		} else {
			perWorker = int64(maxConns)
		}
	}
	total := int64(workers) * max(perWorker, 0)
	log.Info("connection capacity", "workers", workers, "per_worker", perWorker, "total", total, "open_file_limit", fileLimit)

	if perWorker < 1024 {
		log.Warn("open-file limit leaves room for few connections per worker",
			"per_worker", perWorker, "open_file_limit", fileLimit, "fix", "raise LimitNOFILE (systemd) or ulimit -n")
	}
	if systemMax, ok := readSystemFileMax(); ok && uint64(total) > systemMax {
		log.Warn("connection capacity exceeds the system-wide open-file limit",
			"total", total, "fs_file_max", systemMax, "fix", "raise sysctl fs.file-max or set --max-conns")
	}
}

// readSystemFileMax returns fs.file-max, the kernel's limit on open files
// for all processes together.
func readSystemFileMax() (uint64, bool) {
	data, err := os.ReadFile("/proc/sys/fs/file-max")
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	return n, err == nil
}
