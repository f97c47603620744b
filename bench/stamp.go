package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
)

// A bench line reads
//
//	tcbench run=<run id> seq=<n> t=<unix ns> xxxx...
//
// The run id distinguishes this run's lines from lines of earlier runs and
// of other writers. Sequence 0 is a readiness probe that the order checker
// ignores; measured lines count from 1. Every byte is ASCII without quotes,
// backslashes, '<', '>' or '&', so a JSON encoder copies a line unescaped and
// the frame parser can compare raw JSON string bytes.
const (
	stampPrefix = "tcbench run="
	probeSeq    = 0
	padByte     = 'x'
)

// NewRunID returns a random run id of 12 lowercase hex digits.
func NewRunID() (string, error) {
	var raw [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("bench: new run id: %w", err)
	}
	return hex.EncodeToString(raw[:]), nil
}

// validRunID reports whether id is 1 to 32 characters from [0-9a-z], so it
// can never contain the separator that ends it in a line.
func validRunID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// appendStamp appends one bench line without its newline to dst. Padding of
// 'x' bytes, after a space, extends the line to lineBytes when the stamp is
// shorter; a longer stamp is kept whole.
func appendStamp(dst []byte, runID string, seq uint64, unixNano int64, lineBytes int) []byte {
	start := len(dst)
	dst = append(dst, stampPrefix...)
	dst = append(dst, runID...)
	dst = append(dst, " seq="...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, " t="...)
	dst = strconv.AppendInt(dst, unixNano, 10)
	if pad := lineBytes - (len(dst) - start) - 1; pad > 0 {
		dst = append(dst, ' ')
		for range pad {
			dst = append(dst, padByte)
		}
	}
	return dst
}

// stampParser finds the sequence number and append time of this run's bench
// lines.
type stampParser struct {
	head []byte // "tcbench run=<id> seq="
}

func newStampParser(runID string) stampParser {
	return stampParser{head: []byte(stampPrefix + runID + " seq=")}
}

// parse returns the sequence number and append time of line. ok is false for
// a line of another run, another writer, or a malformed stamp.
func (p stampParser) parse(line []byte) (seq uint64, unixNano int64, ok bool) {
	if !bytes.HasPrefix(line, p.head) {
		return 0, 0, false
	}
	rest := line[len(p.head):]

	seq, n, ok := parseDecimal(rest)
	if !ok || len(rest) < n+3 || string(rest[n:n+3]) != " t=" {
		return 0, 0, false
	}
	rest = rest[n+3:]

	t, n, ok := parseDecimal(rest)
	if !ok || (n < len(rest) && rest[n] != ' ') || t > 1<<63-1 {
		return 0, 0, false
	}
	return seq, int64(t), true
}

// parseDecimal reads the leading decimal digits of b without allocating. It
// rejects an empty number and one that overflows uint64.
func parseDecimal(b []byte) (value uint64, n int, ok bool) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		digit := uint64(b[n] - '0')
		if value > (1<<64-1-digit)/10 {
			return 0, 0, false
		}
		value = value*10 + digit
		n++
	}
	return value, n, n > 0
}
