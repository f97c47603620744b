package tail

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxRecoverBytes bounds how much of a copy recoverFromCopy reads. Only the
// bytes written between the follower's last read and the truncation are
// missing, normally a few lines.
const maxRecoverBytes = 16 << 20

// recoverFromCopy runs when the followed file was truncated in place. With
// copytruncate, logrotate first copies the file to a name that starts with
// the followed one (app.log.1, app.log-20261204) and then truncates it, so
// lines written after the follower's last read are still in the copy. It
// finds that copy by its first bytes and emits those lines, so only lines
// written between the copy and the truncation stay lost, as logrotate's
// manual warns for copytruncate.
func (fl *follower) recoverFromCopy(ctx context.Context) error {
	cur := fl.cur
	if cur.readOff == 0 || cur.fp.n == 0 {
		return nil
	}
	copyFile := fl.findCopy(cur.fp, cur.readOff)
	if copyFile == nil {
		return nil
	}
	defer copyFile.Close()

	start := cur.readOff
	reader := io.NewSectionReader(copyFile, start, maxRecoverBytes)
	recovered := 0
	for {
		n, readErr := reader.Read(fl.buf)
		if n > 0 {
			chunkStart := start
			start += int64(n)
			err := fl.split.write(fl.buf[:n], func(line string, end int) error {
				recovered++
				return fl.addLine(ctx, line, chunkStart+int64(end))
			})
			if err != nil {
				return err
			}
		}
		if readErr != nil {
			break
		}
	}
	if recovered > 0 {
		fl.log.Info("read lines missed before the truncation from the copy", "path", fl.opts.Path,
			"copy", copyFile.Name(), "lines", recovered)
	}
	return nil
}

// findCopy returns an open file in the followed file's directory, other
// than the followed file, whose name starts with the followed name, whose
// first bytes match fp and which is longer than offset; or nil.
func (fl *follower) findCopy(fp fingerprint, offset int64) *os.File {
	entries, err := os.ReadDir(fl.dir)
	if err != nil {
		return nil
	}
	for _, entry := range entries {
		if !entry.Type().IsRegular() || entry.Name() == fl.base || !strings.HasPrefix(entry.Name(), fl.base) {
			continue
		}
		info, err := entry.Info()
		if err != nil || info.Size() <= offset || fileIDOf(info) == fl.cur.id {
			continue
		}
		f, err := os.Open(filepath.Join(fl.dir, entry.Name()))
		if err != nil {
			continue
		}
		header, err := readHeader(f, fl.header)
		if err == nil && fp.matches(header) {
			return f
		}
		f.Close()
	}
	return nil
}
