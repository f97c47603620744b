package tail

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Events of an event batch.
const (
	// EventRotated means that a different file now sits at the path: it was
	// renamed away, replaced or deleted and created again. The old file was
	// read to its end before this event, and the new file's lines follow.
	EventRotated = "rotated"
	// EventTruncated means that the file was cut shorter or rewritten in
	// place, and its lines follow again from byte 0.
	EventTruncated = "truncated"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxLineBytes  = 64 << 10
	DefaultMaxBatchBytes = 256 << 10
	DefaultMaxBatchDelay = 5 * time.Millisecond
	// DefaultPollInterval is the polling period when Options.Poll is set.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultSafetyInterval is the period of the safety-net check under
	// inotify, which catches what inotify cannot see (a directory created
	// after the start, a file behind a symbolic link in another directory).
	DefaultSafetyInterval = time.Second
)

// readBufferBytes is the size of one read from the file.
const readBufferBytes = 128 << 10

// Batch is a group of lines from one file, or one event.
type Batch struct {
	// Event is "" for lines, or EventRotated or EventTruncated for an event
	// batch, whose Lines is empty.
	Event string
	// Lines are complete lines without their "\n" (and without a "\r"
	// before it), always valid UTF-8: each invalid byte is replaced by
	// U+FFFD.
	Lines []string
	// Position is the byte where reading resumes after this batch: just
	// past the last line's "\n", or byte 0 of the file that an event
	// announces.
	Position Position
}

// Options configures Follow. The zero value of each field but Path selects
// its documented default.
type Options struct {
	Path string
	// Start is a Position saved from an earlier batch. Nil starts at the end
	// of the file now at Path, or more exactly after its last "\n", so that
	// a line still being written when Follow starts arrives whole. A file
	// that appears only later is read from byte 0.
	Start *Position
	// Poll selects pure stat polling instead of inotify, for network file
	// systems such as NFS.
	Poll bool
	// PollInterval is the polling period (default DefaultPollInterval) with
	// Poll, and the period of the safety-net check under inotify (default
	// DefaultSafetyInterval).
	PollInterval time.Duration
	// MaxLineBytes limits a line's length in bytes read from the file,
	// without its "\n" (default DefaultMaxLineBytes). A longer line is
	// emitted once, as its first MaxLineBytes bytes (less up to 3 bytes when
	// the cut would split a UTF-8 character) followed by CutMarker.
	MaxLineBytes int
	// MaxBatchBytes bounds the sum of the lengths of a batch's lines
	// (default DefaultMaxBatchBytes). A single line longer than that leaves
	// alone in its batch.
	MaxBatchBytes int
	// MaxBatchDelay is the least time between two batches of lines, and so
	// the most a line waits for others to join it (default
	// DefaultMaxBatchDelay). After a quiet spell a line leaves at once.
	// Lines already written are read at once, whatever the delay.
	MaxBatchDelay time.Duration
	// Logger receives the follower's log records (default slog.Default()).
	Logger *slog.Logger

	// afterRead, when set by a test, is called after each read with the
	// offset where the next read starts.
	afterRead func(readOff int64)
	// releaseDeletedAfter is how long a deleted file must stay without
	// growth before it is closed (default defaultReleaseDeletedAfter).
	releaseDeletedAfter time.Duration
}

// defaultReleaseDeletedAfter is long enough for a writer that logs rarely
// to append to its deleted file before reopening, and short enough to free
// a deleted file's disk space within minutes.
const defaultReleaseDeletedAfter = 5 * time.Minute

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultSafetyInterval
		if o.Poll {
			o.PollInterval = DefaultPollInterval
		}
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.MaxBatchDelay <= 0 {
		o.MaxBatchDelay = DefaultMaxBatchDelay
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.releaseDeletedAfter == 0 {
		o.releaseDeletedAfter = defaultReleaseDeletedAfter
	}
	return o
}

// Follow follows opts.Path until ctx ends, calling emit for each batch from
// the goroutine that called Follow. It reads nothing further until emit
// returns.
//
// A non-nil error from emit ends Follow with that error. Problems with the
// file (missing, permission denied, read errors) are logged, rate-limited,
// and retried, and they never end Follow. Follow returns ctx.Err() when ctx
// ends, and an error without calling emit when opts.Path is empty.
//
// Lines read but not yet emitted when ctx ends are dropped, and a restart
// with the last emitted Position reads them again.
func Follow(ctx context.Context, opts Options, emit func(context.Context, Batch) error) error {
	if opts.Path == "" {
		return errors.New("tail: follow: Options.Path is empty")
	}
	fl := newFollower(opts.withDefaults(), emit)
	defer fl.closeFile()

	wake := make(chan struct{}, 1)
	fl.watcher = pollWatcher{}
	if !fl.opts.Poll {
		w, err := newInotifyWatcher(fl.dir, fl.base, wake, fl.log)
		if err != nil {
			fl.log.Warn("inotify unavailable, polling instead",
				"path", fl.opts.Path, "interval", fl.opts.PollInterval, "err", err)
		} else {
			fl.watcher = w
		}
	}
	defer fl.watcher.close()

	ticker := time.NewTicker(fl.opts.PollInterval)
	defer ticker.Stop()
	batchTimer := time.NewTimer(time.Hour)
	batchTimer.Stop()
	defer batchTimer.Stop()

	for {
		if err := fl.pass(ctx); err != nil {
			return err
		}
		if fl.batch.pending() {
			wait, err := fl.flushIfDue(ctx)
			if err != nil {
				return err
			}
			if wait > 0 {
				batchTimer.Reset(wait)
			}
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-ticker.C:
		case <-batchTimer.C:
		}
	}
}

// follower is the state of one Follow call. It is used from that call's
// goroutine only.
type follower struct {
	opts     Options
	log      *slog.Logger
	problems *problemLog
	emit     func(context.Context, Batch) error
	watcher  watcher
	dir      string
	base     string

	// started is false until opts.Start, or the end of the file when Start
	// is nil, has been resolved to a file or to waiting for one.
	started bool
	// endAtStart is the file's identity and size when Follow started without
	// a Start but could not open it (permission denied, say). Once it opens,
	// reading begins there, so lines written while access was denied are
	// not skipped.
	endAtStart *sizeMark
	// lastEmit is when the previous batch of lines was emitted.
	lastEmit time.Time
	// waitingForNext is set while an empty new file sits at the path and
	// the old one is still followed.
	waitingForNext bool
	// announce is the event to emit before the first batch of the next file
	// opened, when the saved file is gone.
	announce string
	cur      *trackedFile // nil while no file is open
	split    *splitter
	batch    batch
	buf      []byte // read buffer
	header   []byte // buffer for fingerprint checks
}

// sizeMark is a file's identity and size at one moment.
type sizeMark struct {
	id   fileID
	size int64
}

func newFollower(opts Options, emit func(context.Context, Batch) error) *follower {
	return &follower{
		opts:     opts,
		log:      opts.Logger,
		problems: newProblemLog(opts.Logger),
		emit:     emit,
		dir:      filepath.Dir(opts.Path),
		base:     filepath.Base(opts.Path),
		split:    newSplitter(opts.MaxLineBytes),
		buf:      make([]byte, readBufferBytes),
		header:   make([]byte, fingerprintMaxBytes),
	}
}

func (fl *follower) closeFile() {
	if fl.cur != nil {
		fl.cur.close()
		fl.cur = nil
	}
}

// pass reads what is new in the current file, then checks whether another
// file now sits at the path. Each wake-up and each tick runs one pass.
func (fl *follower) pass(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fl.watcher.refresh()
	if !fl.started {
		if err := fl.resolveStart(ctx); err != nil || !fl.started {
			return err
		}
	}
	if fl.cur == nil {
		if err := fl.openAppeared(ctx); err != nil || fl.cur == nil {
			return err
		}
	}
	if err := fl.readAvailable(ctx); err != nil {
		return err
	}
	return fl.checkPath(ctx)
}

// resolveStart opens the file to start from: the file that opts.Start names
// or, when Start is nil, the file at the path from its last line on.
func (fl *follower) resolveStart(ctx context.Context) error {
	path := fl.opts.Path
	start := fl.opts.Start
	if start == nil {
		t, err := openTracked(path)
		if errors.Is(err, fs.ErrNotExist) {
			// The file is read from byte 0 once it appears.
			fl.started = true
			fl.problems.warn("missing", "file not found, waiting for it", "path", path)
			return nil
		}
		if err != nil {
			fl.problems.warn("open", "open failed, retrying", "path", path, "err", err)
			if fl.endAtStart == nil {
				// stat needs no read permission on the file itself.
				if info, statErr := os.Stat(path); statErr == nil {
					fl.endAtStart = &sizeMark{id: fileIDOf(info), size: info.Size()}
				}
			}
			return nil
		}
		fl.problems.resolved("open")
		end := int64(-1)
		if mark := fl.endAtStart; mark != nil {
			info, statErr := t.f.Stat()
			if statErr == nil && fileIDOf(info) == mark.id && info.Size() >= mark.size {
				end = mark.size
			} else {
				end = 0 // another file took the path meanwhile: all of it is new
			}
			fl.endAtStart = nil
		}
		off, err := lastLineEnd(t.f, end, fl.opts.MaxLineBytes)
		if err != nil {
			t.close()
			fl.problems.warn("read", "read failed, retrying", "path", path, "err", err)
			return nil
		}
		t.readOff = off
		fl.started = true
		fl.adopt(t)
		return nil
	}

	info, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fl.problems.warn("stat", "stat failed, retrying", "path", path, "err", err)
		return nil
	}
	fl.problems.resolved("stat")
	if err == nil && fileIDOf(info) == (fileID{dev: start.Dev, ino: start.Inode}) {
		return fl.resumeAtPath(ctx, *start)
	}

	// The saved file is no longer at the path. If it was renamed within the
	// directory, its rest is read before the file now at the path.
	if t := findRotated(fl.dir, *start); t != nil {
		fl.started = true
		fl.log.Info("resuming rotated file", "path", path, "file", t.f.Name(), "offset", t.readOff)
		fl.adopt(t)
		return nil
	}
	fl.started = true
	fl.announce = EventRotated
	fl.log.Info("saved file is gone, reading the file at the path from its start",
		"path", path, "inode", start.Inode, "offset", start.Offset)
	return nil
}

// resumeAtPath opens the file at the path, whose inode is the saved one, and
// resumes at the saved offset if the fingerprint still matches. Otherwise
// the file was truncated or rewritten, or the inode number was reused, and
// it is read again from byte 0.
func (fl *follower) resumeAtPath(ctx context.Context, start Position) error {
	path := fl.opts.Path
	t, err := openTracked(path)
	if err != nil {
		fl.problems.warn("open", "open failed, retrying", "path", path, "err", err)
		return nil
	}
	fl.problems.resolved("open")

	ok, err := t.matchesStart(start, fl.header)
	if err != nil {
		t.close()
		fl.problems.warn("read", "read failed, retrying", "path", path, "err", err)
		return nil
	}
	if t.id != (fileID{dev: start.Dev, ino: start.Inode}) {
		// Replaced between the stat and the open: resolve again next pass.
		t.close()
		return nil
	}

	fl.started = true
	if ok {
		t.readOff = start.Offset
		fl.adopt(t)
		return nil
	}
	if !sameBirth(t.birth, start.Birth) {
		fl.log.Info("saved file replaced by a new file with the same inode number, reading it from its start",
			"path", path, "inode", start.Inode, "offset", start.Offset)
		fl.adopt(t)
		return fl.emitEvent(ctx, EventRotated)
	}
	fl.log.Info("file truncated while not followed, reading from its start",
		"path", path, "offset", start.Offset)
	fl.adopt(t)
	return fl.emitEvent(ctx, EventTruncated)
}

// openAppeared opens a file that appeared at the path while none was open
// and reads it from byte 0.
func (fl *follower) openAppeared(ctx context.Context) error {
	path := fl.opts.Path
	t, err := openTracked(path)
	if errors.Is(err, fs.ErrNotExist) {
		fl.problems.warn("missing", "file not found, waiting for it", "path", path)
		return nil
	}
	fl.problems.resolved("missing")
	if err != nil {
		fl.problems.warn("open", "open failed, retrying", "path", path, "err", err)
		return nil
	}
	fl.problems.resolved("open")
	fl.adopt(t)
	if fl.announce != "" {
		event := fl.announce
		fl.announce = ""
		return fl.emitEvent(ctx, event)
	}
	return nil
}

// adopt makes t the current file.
func (fl *follower) adopt(t *trackedFile) {
	fl.cur = t
	fl.split.reset()
	fl.watcher.watchFile(t.f)
	fl.log.Info("file opened", "path", fl.opts.Path, "inode", t.id.ino, "offset", t.readOff)
}

// readAvailable reads the current file to its end, splitting lines into
// batches. Each chunk is checked against the fingerprint after it was read
// and before its lines are used: a file truncated and rewritten past the
// read offset would otherwise yield the middle of the new content.
func (fl *follower) readAvailable(ctx context.Context) error {
	cur := fl.cur
	info, err := cur.f.Stat()
	if err != nil {
		fl.problems.warn("read", "read failed, retrying", "path", fl.opts.Path, "err", err)
		return nil
	}
	if info.Size() < cur.readOff {
		if err := fl.truncated(ctx); err != nil {
			return err
		}
	}

	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunkStart := cur.readOff
		n, readErr := cur.f.ReadAt(fl.buf, chunkStart)
		if n > 0 {
			same, err := cur.verify(fl.header)
			if err != nil {
				fl.problems.warn("read", "read failed, retrying", "path", fl.opts.Path, "err", err)
				return nil
			}
			if !same {
				if err := fl.truncated(ctx); err != nil {
					return err
				}
				continue
			}
			cur.readOff += int64(n)
			cur.lastGrowth = time.Now()
			err = fl.split.write(fl.buf[:n], func(line string, end int) error {
				return fl.addLine(ctx, line, chunkStart+int64(end))
			})
			if err != nil {
				return err
			}
			if fl.opts.afterRead != nil {
				fl.opts.afterRead(cur.readOff)
			}
			if _, err := fl.flushIfDue(ctx); err != nil {
				return err
			}
		}
		if readErr == io.EOF {
			fl.problems.resolved("read")
			return nil
		}
		if readErr != nil {
			fl.problems.warn("read", "read failed, retrying", "path", fl.opts.Path, "err", readErr)
			return nil
		}
	}
}

// truncated handles a file that was cut shorter or rewritten in place: the
// lines read before are emitted, the unfinished line is dropped because its
// bytes are gone, and the file is read again from byte 0.
func (fl *follower) truncated(ctx context.Context) error {
	if err := fl.recoverFromCopy(ctx); err != nil {
		return err
	}
	if err := fl.flush(ctx); err != nil {
		return err
	}
	fl.split.reset()
	header, err := readHeader(fl.cur.f, fl.header)
	if err != nil {
		header = nil
	}
	fl.cur.fp = fingerprintOf(header)
	fl.cur.readOff = 0
	fl.log.Info("file truncated", "path", fl.opts.Path, "inode", fl.cur.id.ino)
	return fl.emitEvent(ctx, EventTruncated)
}

// checkPath finds out whether another file now sits at the path, and if so
// drains the current file and switches to the new one.
func (fl *follower) checkPath(ctx context.Context) error {
	path := fl.opts.Path
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Renamed or deleted: keep reading the open file, which a writer
		// may still append to, until a new file appears.
		return fl.releaseIfDeleted(ctx)
	}
	if err != nil {
		fl.problems.warn("stat", "stat failed, retrying", "path", path, "err", err)
		return nil
	}
	fl.problems.resolved("stat")
	if fileIDOf(info) == fl.cur.id {
		return nil
	}

	next, err := openTracked(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			fl.problems.warn("open", "open failed, retrying", "path", path, "err", err)
		}
		return nil
	}
	fl.problems.resolved("open")
	if next.id == fl.cur.id {
		next.close()
		return nil
	}

	// An empty new file usually means its writer has not reopened yet: with
	// logrotate's create mode, lines go to the renamed file until the
	// postrotate command makes the writer reopen. Stay on the old file until
	// the new one receives its first byte, so those lines are not lost.
	if nextInfo, err := next.f.Stat(); err == nil && nextInfo.Size() == 0 {
		next.close()
		if !fl.waitingForNext {
			fl.waitingForNext = true
			fl.log.Info("new file at the path is empty; following the old file until it gets data", "path", path)
		}
		return nil
	}
	fl.waitingForNext = false

	// The new file is open, so the old one can be drained now: whatever
	// its writer appended up to this moment is read before the switch.
	if err := fl.drain(ctx); err != nil {
		next.close()
		return err
	}

	fl.log.Info("file rotated", "path", path, "old_inode", fl.cur.id.ino, "inode", next.id.ino)
	fl.cur.close()
	fl.adopt(next)
	if err := fl.emitEvent(ctx, EventRotated); err != nil {
		return err
	}
	return fl.readAvailable(ctx)
}

// drain reads the current file to its end and emits all its lines, the
// unfinished last line included, before the follower leaves the file.
func (fl *follower) drain(ctx context.Context) error {
	if err := fl.readAvailable(ctx); err != nil {
		return err
	}
	if line, ok := fl.split.flushUnfinished(); ok {
		// The old file ends without a final "\n", so its end finishes the line.
		if err := fl.addLine(ctx, line, fl.cur.readOff); err != nil {
			return err
		}
	}
	return fl.flush(ctx)
}

// releaseIfDeleted closes the current file once it is deleted (no links
// left) and has not grown for opts.releaseDeletedAfter, so that a deleted
// log that is never replaced does not keep its disk space allocated. A
// file that appears later at the path is read from byte 0 after an
// EventRotated batch.
func (fl *follower) releaseIfDeleted(ctx context.Context) error {
	info, err := fl.cur.f.Stat()
	if err != nil {
		return nil
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink > 0 || time.Since(fl.cur.lastGrowth) < fl.opts.releaseDeletedAfter {
		return nil
	}
	if err := fl.drain(ctx); err != nil {
		return err
	}

	// NOTE: a writer that still appends to the deleted file after this
	// point, slower than once per releaseDeletedAfter, loses those lines.
	fl.log.Info("deleted file released", "path", fl.opts.Path, "inode", fl.cur.id.ino,
		"idle", fl.opts.releaseDeletedAfter)
	fl.watcher.watchFile(nil)
	fl.closeFile()
	fl.announce = EventRotated
	return nil
}

// emitEvent flushes the pending lines, then emits an event batch positioned
// at the current file's read offset.
func (fl *follower) emitEvent(ctx context.Context, event string) error {
	if err := fl.flush(ctx); err != nil {
		return err
	}
	return fl.emit(ctx, Batch{Event: event, Position: fl.cur.position(fl.cur.readOff)})
}

// lastLineEnd returns the offset just past the last "\n" before size in f,
// looking back at most maxLine+1 bytes; a negative size means the file's
// current size. Without "\n" in that range it returns 0 when size is
// shorter, or size.
func lastLineEnd(f *os.File, size int64, maxLine int) (int64, error) {
	if size < 0 {
		info, err := f.Stat()
		if err != nil {
			return 0, err
		}
		size = info.Size()
	}
	window := min(size, int64(maxLine)+1)
	buf := make([]byte, window)
	n, err := f.ReadAt(buf, size-window)
	if err != nil && err != io.EOF {
		return 0, err
	}
	buf = buf[:n]
	for i := len(buf) - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			return size - window + int64(i) + 1, nil
		}
	}
	if size < int64(maxLine)+1 {
		return 0, nil
	}
	return size, nil
}
