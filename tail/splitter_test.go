package tail

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// splitLine is a line and the offset just past its "\n".
type splitLine struct {
	line string
	end  int64
}

// splitAll feeds writes to a new splitter and returns the lines with their
// end offsets in the whole stream, plus the unfinished byte count.
func splitAll(t testing.TB, maxLine int, writes ...[]byte) ([]splitLine, int64) {
	s := newSplitter(maxLine)
	var out []splitLine
	var base int64
	for _, w := range writes {
		err := s.write(w, func(line string, end int) error {
			out = append(out, splitLine{line, base + int64(end)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		base += int64(len(w))
	}
	return out, s.unfinished()
}

func TestSplitterLines(t *testing.T) {
	cut := func(s string) string { return s + CutMarker }
	cases := []struct {
		name    string
		maxLine int
		writes  []string
		want    []string
		ends    []int64
	}{
		{"two lines", 10, []string{"ab\ncd\n"}, []string{"ab", "cd"}, []int64{3, 6}},
		{"empty lines", 10, []string{"\n\n"}, []string{"", ""}, []int64{1, 2}},
		{"partial waits", 10, []string{"ab\ncd"}, []string{"ab"}, []int64{3}},
		{"line across writes", 10, []string{"a", "b", "c\n"}, []string{"abc"}, []int64{4}},
		{"crlf stripped", 10, []string{"ab\r\n"}, []string{"ab"}, []int64{4}},
		{"crlf across writes", 10, []string{"ab\r", "\n"}, []string{"ab"}, []int64{4}},
		{"only crlf", 10, []string{"\r\n"}, []string{""}, []int64{2}},
		{"inner cr kept", 10, []string{"a\rb\n"}, []string{"a\rb"}, []int64{4}},
		{"one cr stripped", 10, []string{"a\r\r\n"}, []string{"a\r"}, []int64{4}},
		{"exactly max", 5, []string{"abcde\n"}, []string{"abcde"}, []int64{6}},
		{"max with crlf", 5, []string{"abcde\r\n"}, []string{"abcde"}, []int64{7}},
		{"one over max", 5, []string{"abcdef\n"}, []string{cut("abcde")}, []int64{7}},
		{"long line across writes", 5, []string{"abc", "defgh", "ijk\nz\n"}, []string{cut("abcde"), "z"}, []int64{12, 14}},
		{"long line with crlf", 5, []string{"abcdefgh\r\n"}, []string{cut("abcde")}, []int64{10}},
		{"cut before split character", 5, []string{"abcd\u00e9f\n"}, []string{cut("abcd")}, []int64{8}},
		{"cut keeps whole character", 5, []string{"abc\u00e9f\n"}, []string{cut("abc\u00e9")}, []int64{7}},
		{"cut before 4-byte character", 5, []string{"ab\U0001F600c\n"}, []string{cut("ab")}, []int64{8}},
		{"invalid bytes", 10, []string{"a\xffb\xfe\n"}, []string{"a\uFFFDb\uFFFD"}, []int64{5}},
		{"truncated character", 10, []string{"a\xc3\n"}, []string{"a\uFFFD"}, []int64{3}},
		{"character across writes", 10, []string{"\xc3", "\xa9\n"}, []string{"\u00e9"}, []int64{3}},
		{"4-byte character across writes", 10, []string{"\xf0\x9f", "\x98", "\x80\n"}, []string{"\U0001F600"}, []int64{5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writes := make([][]byte, len(c.writes))
			for i, w := range c.writes {
				writes[i] = []byte(w)
			}
			got, _ := splitAll(t, c.maxLine, writes...)
			if len(got) != len(c.want) {
				t.Fatalf("got %d lines %+v, want %q", len(got), got, c.want)
			}
			for i := range got {
				if got[i].line != c.want[i] {
					t.Errorf("line %d is %q, want %q", i, got[i].line, c.want[i])
				}
				if got[i].end != c.ends[i] {
					t.Errorf("line %d ends at %d, want %d", i, got[i].end, c.ends[i])
				}
			}
		})
	}
}

func TestSplitterUnfinished(t *testing.T) {
	s := newSplitter(4)
	if err := s.write([]byte("ab\ncdefgh"), func(string, int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := s.unfinished(); got != 6 {
		t.Errorf("unfinished %d bytes, want 6", got)
	}
	line, ok := s.flushUnfinished()
	if !ok || line != "cdef"+CutMarker {
		t.Errorf("flushUnfinished returned %q, %v; want %q, true", line, ok, "cdef"+CutMarker)
	}
	if _, ok := s.flushUnfinished(); ok {
		t.Error("second flushUnfinished returned a line")
	}
	if got := s.unfinished(); got != 0 {
		t.Errorf("unfinished %d bytes after flush, want 0", got)
	}
}

// FuzzSplitter checks that any byte sequence, cut into writes anywhere,
// yields the same lines and offsets as when written at once, and that every
// line is valid UTF-8 within the length limit.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("ab\ncd\r\nef"), []byte{1, 3}, uint8(4))
	f.Add([]byte("caf\xc3\xa9\n\xff\xfe\n"), []byte{4}, uint8(3))
	f.Fuzz(func(t *testing.T, data, cuts []byte, maxLineSeed uint8) {
		maxLine := 1 + int(maxLineSeed)%64
		whole, wholeRest := splitAll(t, maxLine, data)

		var writes [][]byte
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			writes = append(writes, rest[:n])
			rest = rest[n:]
		}
		writes = append(writes, rest)
		pieces, piecesRest := splitAll(t, maxLine, writes...)

		if len(whole) != len(pieces) {
			t.Fatalf("written at once: %d lines %+v; in %d writes: %d lines %+v",
				len(whole), whole, len(writes), len(pieces), pieces)
		}
		for i := range whole {
			if whole[i] != pieces[i] {
				t.Fatalf("line %d: written at once %+v, in writes %+v", i, whole[i], pieces[i])
			}
		}
		if wholeRest != piecesRest {
			t.Fatalf("unfinished bytes: written at once %d, in writes %d", wholeRest, piecesRest)
		}
		if want := int64(len(data)) - int64(bytes.LastIndexByte(data, '\n')+1); wholeRest != want {
			t.Fatalf("unfinished bytes %d, want %d", wholeRest, want)
		}

		prevEnd := int64(0)
		for i, l := range whole {
			if !utf8.ValidString(l.line) {
				t.Fatalf("line %d is not valid UTF-8: %q", i, l.line)
			}
			if strings.Contains(l.line, "\n") {
				t.Fatalf("line %d contains a newline: %q", i, l.line)
			}
			if data[l.end-1] != '\n' {
				t.Fatalf("line %d ends at %d, which does not follow a newline", i, l.end)
			}
			raw := bytes.TrimSuffix(data[prevEnd:l.end-1], []byte("\r"))
			if len(raw) <= maxLine {
				if want := validString(raw); l.line != want {
					t.Fatalf("line %d is %q, want %q", i, l.line, want)
				}
			} else {
				if !strings.HasSuffix(l.line, CutMarker) {
					t.Fatalf("line %d of %d bytes lacks the cut marker: %q", i, len(raw), l.line)
				}
				// The cut falls at the limit or up to 3 bytes before it.
				kept := strings.TrimSuffix(l.line, CutMarker)
				found := false
				for k := max(0, maxLine-3); k <= maxLine; k++ {
					found = found || validString(raw[:k]) == kept
				}
				if !found {
					t.Fatalf("line %d kept %q of %q, limit %d", i, kept, raw, maxLine)
				}
			}
			prevEnd = l.end
		}
	})
}
