package tail

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dirEvents are the directory events that can mean a different file now
// sits at the followed name, or that the file became readable (IN_ATTRIB
// after a chmod). IN_MODIFY reports the first write to a new, still empty
// file at the name, which the follower waits for after a rotation; writes
// to the open file are watched on the file itself.
const dirEvents = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// fileEvents are the events of the open file: IN_MODIFY for writes and
// truncation, IN_ATTRIB for a change of permissions or link count.
const fileEvents = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// inotifyWatcher watches the directory of the followed path for names that
// come and go, and the open file for writes.
type inotifyWatcher struct {
	inotify *os.File // non-blocking, so Read waits in the runtime poller and Close ends it
	// inotifyFD is the descriptor of inotify, kept because calling Fd on a
	// pollable os.File would switch it to blocking mode.
	inotifyFD int
	dir       string
	base      string
	wake      chan<- struct{}
	done      chan struct{}
	log       *slog.Logger

	mu     sync.Mutex
	dirWD  int // -1 while the directory is not watched
	fileWD int // -1 while no file is watched
}

func newInotifyWatcher(dir, base string, wake chan<- struct{}, logger *slog.Logger) (*inotifyWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tail: inotify init: %w", err)
	}
	w := &inotifyWatcher{
		inotify:   os.NewFile(uintptr(fd), "inotify"),
		inotifyFD: fd,
		dir:       dir,
		base:      base,
		wake:      wake,
		done:      make(chan struct{}),
		log:       logger,
		dirWD:     -1,
		fileWD:    -1,
	}
	w.refresh()
	go w.run()
	return w, nil
}

// refresh adds the directory watch if it is missing. A directory that does
// not exist yet is retried at the next refresh.
func (w *inotifyWatcher) refresh() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirWD >= 0 {
		return
	}
	wd, err := unix.InotifyAddWatch(w.inotifyFD, w.dir, dirEvents)
	if err != nil {
		return
	}
	w.dirWD = wd
}

// watchFile watches f through /proc/self/fd, which names the open file
// itself: a watch added by path could land on a newer file that replaced f
// in the meantime.
func (w *inotifyWatcher) watchFile(f *os.File) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fileWD >= 0 {
		// EINVAL means the kernel already dropped the watch because the
		// file was deleted, so nothing is left to remove.
		_, _ = unix.InotifyRmWatch(w.inotifyFD, uint32(w.fileWD))
		w.fileWD = -1
	}
	if f == nil {
		return
	}
	err := errors.New("no descriptor")
	wd := -1
	if conn, connErr := f.SyscallConn(); connErr == nil {
		_ = conn.Control(func(fd uintptr) {
			wd, err = unix.InotifyAddWatch(w.inotifyFD, "/proc/self/fd/"+strconv.Itoa(int(fd)), fileEvents)
		})
	}
	if err != nil {
		wd, err = unix.InotifyAddWatch(w.inotifyFD, f.Name(), fileEvents)
	}
	if err == nil {
		w.fileWD = wd
	}
}

func (w *inotifyWatcher) close() {
	w.inotify.Close()
	<-w.done
}

// run reads events until close and turns the relevant ones into wake-ups.
func (w *inotifyWatcher) run() {
	defer close(w.done)
	buf := make([]byte, 64*1024)
	for {
		n, err := w.inotify.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.log.Warn("inotify read failed, relying on the periodic check",
					"dir", w.dir, "err", err)
			}
			return
		}
		if w.handle(buf[:n]) {
			notify(w.wake)
		}
	}
}

// handle parses a buffer of inotify events and reports whether any of them
// concerns the followed file.
func (w *inotifyWatcher) handle(buf []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	relevant := false
	for len(buf) >= unix.SizeofInotifyEvent {
		event := (*unix.InotifyEvent)(unsafe.Pointer(&buf[0]))
		end := unix.SizeofInotifyEvent + int(event.Len)
		if end > len(buf) {
			break
		}
		name := nameOf(buf[unix.SizeofInotifyEvent:end])
		buf = buf[end:]

		wd := int(event.Wd)
		switch {
		case event.Mask&unix.IN_Q_OVERFLOW != 0:
			relevant = true
		case wd == w.dirWD:
			if event.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
				// The watch no longer names the directory at w.dir, which a
				// later refresh watches again once it exists.
				if event.Mask&unix.IN_IGNORED == 0 {
					_, _ = unix.InotifyRmWatch(w.inotifyFD, uint32(w.dirWD))
				}
				w.dirWD = -1
				relevant = true
			} else if name == w.base {
				relevant = true
			}
		case wd == w.fileWD:
			if event.Mask&unix.IN_IGNORED != 0 {
				w.fileWD = -1
			}
			relevant = true
		}
	}
	return relevant
}

// nameOf returns the NUL-padded name that follows an inotify event.
func nameOf(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
