package bench

import (
	"strings"
	"testing"
)

func TestStampRoundTrip(t *testing.T) {
	parser := newStampParser("run42")
	for _, tc := range []struct {
		seq       uint64
		unixNano  int64
		lineBytes int
	}{
		{seq: 1, unixNano: 1733300000000000000, lineBytes: 0},
		{seq: 42, unixNano: 1733300000123456789, lineBytes: 100},
		{seq: 1<<64 - 1, unixNano: 1<<63 - 1, lineBytes: 300},
		{seq: 0, unixNano: 5, lineBytes: 10},
	} {
		line := appendStamp(nil, "run42", tc.seq, tc.unixNano, tc.lineBytes)
		if tc.lineBytes > len(line) {
			t.Errorf("seq %d: line is %d bytes, want %d", tc.seq, len(line), tc.lineBytes)
		}
		if strings.ContainsAny(string(line), "\n\"\\<>&") {
			t.Errorf("seq %d: line %q contains a byte that JSON would escape", tc.seq, line)
		}
		seq, unixNano, ok := parser.parse(line)
		if !ok {
			t.Fatalf("parse(%q) failed", line)
		}
		if seq != tc.seq {
			t.Errorf("parse(%q) seq = %d, want %d", line, seq, tc.seq)
		}
		if unixNano != tc.unixNano {
			t.Errorf("parse(%q) t = %d, want %d", line, unixNano, tc.unixNano)
		}
	}
}

func TestStampPaddingExact(t *testing.T) {
	for _, lineBytes := range []int{60, 61, 100, 1000} {
		line := appendStamp(nil, "abc", 7, 1733300000000000000, lineBytes)
		if len(line) != lineBytes {
			t.Errorf("lineBytes %d: got %d bytes: %q", lineBytes, len(line), line)
		}
	}
}

func TestStampParseRejects(t *testing.T) {
	parser := newStampParser("run42")
	for _, line := range []string{
		"",
		"an ordinary log line",
		"tcbench run=other seq=1 t=5",
		"tcbench run=run42x seq=1 t=5",
		"tcbench run=run4 seq=1 t=5",
		"tcbench run=run42 seq= t=5",
		"tcbench run=run42 seq=1",
		"tcbench run=run42 seq=1 t=",
		"tcbench run=run42 seq=1 t=5x",
		"tcbench run=run42 seq=1x t=5",
		"tcbench run=run42 seq=99999999999999999999 t=5",
		"tcbench run=run42 seq=1 t=9999999999999999999",
		" tcbench run=run42 seq=1 t=5",
	} {
		if seq, unixNano, ok := parser.parse([]byte(line)); ok {
			t.Errorf("parse(%q) = %d, %d, accepted; want rejected", line, seq, unixNano)
		}
	}
}

func TestRunIDValid(t *testing.T) {
	id, err := NewRunID()
	if err != nil {
		t.Fatal(err)
	}
	if !validRunID(id) {
		t.Errorf("NewRunID() = %q, which validRunID rejects", id)
	}
	for _, bad := range []string{"", "A1", "a b", "a=b", strings.Repeat("a", 33)} {
		if validRunID(bad) {
			t.Errorf("validRunID(%q) = true, want false", bad)
		}
	}
}
