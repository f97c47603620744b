package broker

import (
	"fmt"
	"strconv"
	"strings"
)

// ID is a parsed Redis stream entry ID, "<milliseconds>-<sequence>".
type ID struct {
	Ms, Seq uint64
}

// ParseID parses a stream ID. A bare number means sequence 0, as Redis
// reads it.
func ParseID(s string) (ID, error) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return ID{}, fmt.Errorf("invalid stream id %q: want <milliseconds>-<sequence>", s)
	}
	var seq uint64
	if hasSeq {
		seq, err = strconv.ParseUint(seqPart, 10, 64)
		if err != nil {
			return ID{}, fmt.Errorf("invalid stream id %q: want <milliseconds>-<sequence>", s)
		}
	}
	return ID{Ms: ms, Seq: seq}, nil
}

// Less reports whether id sorts before other in the stream.
func (id ID) Less(other ID) bool {
	if id.Ms != other.Ms {
		return id.Ms < other.Ms
	}
	return id.Seq < other.Seq
}

func (id ID) String() string {
	return strconv.FormatUint(id.Ms, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}
