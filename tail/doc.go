// Package tail follows one log file by path and hands its new lines to a
// caller in batches, each with the Position where reading resumes.
//
// Follow reads from one goroutine and calls emit for each batch, and it
// reads nothing further until emit returns. The caller stores each batch
// together with its Position, for example in one Redis transaction, and
// restarts Follow with the last stored Position as Options.Start. It then
// gets every line exactly once across restarts. The Position of a batch is
// the byte just past its last line's "\n", so an unfinished line or a batch
// that was not stored is read again.
//
// # Lines
//
// A line is the bytes before "\n". One "\r" right before the "\n" is
// removed, so CRLF files yield the same lines as LF files. Any other "\r"
// stays. An unfinished last line waits for its "\n", except in a file that
// was rotated away: there the end of the file ends the line. Bytes that are
// not valid UTF-8 become U+FFFD, one per byte, after the line is complete,
// so a character split across two writes arrives intact. A line longer than
// Options.MaxLineBytes is emitted once, when its "\n" arrives, cut at the
// limit (or up to 3 bytes before it, so as not to split a character) and
// followed by CutMarker. The bytes past the limit are read and dropped, so
// such a line holds neither memory nor the file.
//
// # Watching
//
// Under inotify (the default) the follower watches the file's directory for
// names created, deleted, renamed or changed in mode (IN_ATTRIB), and the
// open file itself for writes. The file watch is added through
// /proc/self/fd, so it stays on the open file after a rename or delete.
// Every Options.PollInterval a check runs anyway, as a safety net for
// anything inotify cannot report, such as a directory that does not exist
// yet. With Options.Poll, that periodic check is all there is. Wake-ups go
// through a channel with one slot, so a burst of events becomes one read,
// and each read continues to the end of the file: reading never depends on
// one event per write.
//
// Each check runs fstat on the open file, reads from the read offset to the
// end, and runs stat on the path. A file is identified by device, inode,
// birth time (statx, where the file system reports it) and a fingerprint:
// a hash of its first bytes, up to 1 KiB, that grows with a short file.
//
// # How each change to the file is detected
//
//   - Append: the file grows past the read offset, and the new bytes are read.
//   - Rename rotation (app.log renamed to app.log.1, a new app.log created):
//     stat on the path shows another inode. The new file is opened first,
//     then the old one, still open, is read to its end, then a batch with
//     Event EventRotated is emitted and the new file is read from byte 0,
//     including what was written before the follower noticed it. While no
//     file is at the path, or the new file is still empty, the old file is
//     still followed, because its writer may not have reopened yet (as with
//     logrotate's create mode before the postrotate command runs).
//   - Atomic replace (a temporary file renamed over the path), and delete
//     and recreate: the same as rename rotation. The open descriptor keeps
//     the old file readable until it is drained. A deleted file that no new
//     file replaces is closed after five minutes without growth, which
//     frees its disk space. A file created at the path later is then read
//     from byte 0 after an EventRotated batch.
//   - Copytruncate, or any truncation: fstat shows a size below the read
//     offset, or, when the file was truncated and at once written past the
//     read offset, the fingerprint no longer matches the file's first bytes.
//     The fingerprint is checked after every read and before the bytes read
//     are used, so no bytes of the new content are taken for old ones.
//     Lines written after the last read and before the truncation are read
//     from the copy that copytruncate made, when a file in the directory
//     whose name starts with the followed one has the old first bytes. A
//     batch with Event EventTruncated is emitted and the file is read again
//     from byte 0.
//   - File missing at start: logged and checked again at each wake-up (the
//     directory watch reports its creation) and tick. Once it appears it is
//     read from byte 0, also while its writer keeps it open.
//   - Permission denied or another open or read error: logged at most once a
//     minute per kind of problem and retried at each wake-up and tick. A
//     chmod on the file is an IN_ATTRIB event on the directory.
//
// # Resuming from a saved Position
//
// When Options.Start names the file at the path, reading resumes at its
// Offset if the fingerprint still matches and the file is at least that
// long. Otherwise an EventTruncated batch comes first and the file is read
// from byte 0. The event is EventRotated instead when the birth time shows
// a new file that reuses the inode number. When the saved file is no longer at the path,
// the other files in the same directory are searched for its device, inode
// and fingerprint (a rotated name such as app.log.1): if found, it is read
// from the saved offset to its end before the file at the path, as in a
// rename rotation. If it is gone, an EventRotated batch comes first and the
// file at the path is read from byte 0.
//
// # Limits
//
// A truncated file whose new first bytes equal the old ones (up to the
// fingerprint's length) is detected only when its size drops below the
// read offset at a check. Copytruncate loses the lines written between the
// copy and the truncation, as it does for any reader. Rotated files that
// were renamed more than once between two checks, or while Follow was not
// running, are skipped except for the newest. Lines written to a rotated
// file after the follower switched to the new file are not read.
//
// The package is Linux-only: it uses inotify, statx and /proc/self/fd.
package tail
