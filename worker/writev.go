package worker

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// iovecPool holds scratch iovec arrays, so a flush allocates nothing;
// unix.Writev would allocate one per call, and flushes run once per client
// per batch.
var iovecPool = sync.Pool{New: func() any { return new([maxIovecs]unix.Iovec) }}

// writeFrames writes frames, skipping the first sent bytes of frames[0],
// with one writev of at most maxIovecs frames. It returns the bytes
// written.
func writeFrames(fd int, frames [][]byte, sent int) (int, error) {
	if len(frames) == 1 {
		return unix.Write(fd, frames[0][sent:])
	}
	iovecs := iovecPool.Get().(*[maxIovecs]unix.Iovec)
	defer iovecPool.Put(iovecs)

	count := min(len(frames), maxIovecs)
	for i := range count {
		frame := frames[i]
		if i == 0 {
			frame = frame[sent:]
		}
		iovecs[i].Base = unsafe.SliceData(frame)
		iovecs[i].SetLen(len(frame))
	}
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iovecs[0])), uintptr(count))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
