package tail

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// CutMarker is appended to a line that was longer than Options.MaxLineBytes
// after the line was cut at that limit.
const CutMarker = " [tailcast: line cut]"

// splitter turns a byte stream into complete lines. It keeps the unfinished
// last line between writes, so the lines depend only on the bytes and never
// on how the writes cut them.
//
// A line is the bytes before '\n', with one trailing '\r' removed. Its bytes
// beyond maxLine are counted but not kept, so memory stays bounded while a
// long line is read, and the line still leaves as one line once its '\n'
// arrives.
type splitter struct {
	maxLine int
	prefix  []byte // first bytes of the unfinished line, at most maxLine+1
	pending int64  // all bytes of the unfinished line, kept or not
}

func newSplitter(maxLine int) *splitter {
	return &splitter{maxLine: maxLine}
}

// write consumes p and calls onLine for each line that p completes, with
// end, the index in p just past the line's '\n'. An error from onLine stops
// the split and is returned, and the rest of p is not consumed.
func (s *splitter) write(p []byte, onLine func(line string, end int) error) error {
	start := 0
	for start < len(p) {
		i := bytes.IndexByte(p[start:], '\n')
		if i < 0 {
			s.keep(p[start:])
			return nil
		}
		var line string
		if s.pending == 0 {
			segment := p[start : start+i]
			line = s.finish(segment, int64(len(segment)))
		} else {
			s.keep(p[start : start+i])
			line = s.finish(s.prefix, s.pending)
			s.reset()
		}
		start += i + 1
		if err := onLine(line, start); err != nil {
			return err
		}
	}
	return nil
}

// unfinished returns the number of bytes consumed that belong to no complete
// line yet.
func (s *splitter) unfinished() int64 {
	return s.pending
}

// flushUnfinished returns the unfinished line as if its '\n' had arrived,
// and whether there was one.
func (s *splitter) flushUnfinished() (string, bool) {
	if s.pending == 0 {
		return "", false
	}
	line := s.finish(s.prefix, s.pending)
	s.reset()
	return line, true
}

func (s *splitter) reset() {
	s.prefix = s.prefix[:0]
	s.pending = 0
}

func (s *splitter) keep(b []byte) {
	s.pending += int64(len(b))
	room := s.maxLine + 1 - len(s.prefix)
	if room <= 0 {
		return
	}
	s.prefix = append(s.prefix, b[:min(room, len(b))]...)
}

// finish converts a line to a string. prefix holds its first bytes and total
// is its full length without the '\n'. maxLine+1 bytes are kept so that a
// line of exactly maxLine bytes followed by "\r\n" is not cut.
func (s *splitter) finish(prefix []byte, total int64) string {
	if total == int64(len(prefix)) && len(prefix) > 0 && prefix[len(prefix)-1] == '\r' {
		prefix = prefix[:len(prefix)-1]
		total--
	}
	if total <= int64(s.maxLine) {
		return validString(prefix)
	}
	return validString(prefix[:cutIndex(prefix, s.maxLine)]) + CutMarker
}

// cutIndex returns limit, or less when limit would split a multibyte UTF-8
// character, so a cut line does not end in a U+FFFD that the writer never
// wrote.
func cutIndex(b []byte, limit int) int {
	for i := limit; i > 0 && i > limit-utf8.UTFMax; i-- {
		if !utf8.RuneStart(b[i-1]) {
			continue
		}
		if utf8.FullRune(b[i-1 : limit]) {
			return limit
		}
		return i - 1
	}
	return limit
}

// validString returns b as a string with every byte that is not part of a
// valid UTF-8 sequence replaced by U+FFFD, the same rule that ranging over a
// Go string applies.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	out.Grow(len(b) + 2*utf8.UTFMax)
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			out.WriteByte(b[0])
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out.WriteRune(utf8.RuneError)
		} else {
			out.Write(b[:size])
		}
		b = b[size:]
	}
	return out.String()
}
