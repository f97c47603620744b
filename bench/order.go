package bench

import "sort"

// maxMissingRanges bounds the memory of one orderChecker when a client loses
// lines in many places.
const maxMissingRanges = 256

// seqRange is an inclusive range of sequence numbers.
type seqRange struct {
	first, last uint64
}

func (r seqRange) len() uint64 { return r.last - r.first + 1 }

// orderChecker checks that one client receives the sequence 1, 2, 3, ...
// exactly once and in order. A sequence number that it skips over is
// missing: it is lost unless it arrives later, when it counts as reordered.
// A number that arrives again counts as repeated. The zero value expects
// sequence number 1 first.
//
// An orderChecker is not safe for concurrent use. Its memory is bounded by
// maxMissingRanges; when a client has more gaps, the oldest are forgotten
// and counted as lost, and a late arrival of one of them counts as repeated.
type orderChecker struct {
	next      uint64     // next expected sequence number, minus one
	missing   []seqRange // skipped and not yet received, ascending
	forgotten uint64     // missing numbers dropped from missing

	received  uint64 // distinct sequence numbers received
	repeated  uint64
	reordered uint64
}

// observe records the arrival of sequence number seq, which must not be 0.
func (c *orderChecker) observe(seq uint64) {
	expected := c.next + 1
	switch {
	case seq == expected:
		c.next = seq
		c.received++
	case seq > expected:
		c.addMissing(seqRange{first: expected, last: seq - 1})
		c.next = seq
		c.received++
	case c.removeMissing(seq):
		c.reordered++
		c.received++
	default:
		c.repeated++
	}
}

// highest returns the highest sequence number received so far.
func (c *orderChecker) highest() uint64 { return c.next }

// lost returns how many of the sequence numbers 1 to lastSeq never arrived.
func (c *orderChecker) lost(lastSeq uint64) uint64 {
	lost := c.forgotten
	for _, r := range c.missing {
		if r.first > lastSeq {
			break
		}
		lost += min(r.last, lastSeq) - r.first + 1
	}
	if lastSeq > c.next {
		lost += lastSeq - c.next
	}
	return lost
}

// missingRanges returns up to max missing ranges that end at or before
// lastSeq, plus the tail after the highest received number, for reports.
func (c *orderChecker) missingRanges(lastSeq uint64, max int) []seqRange {
	var out []seqRange
	for _, r := range c.missing {
		if len(out) == max || r.first > lastSeq {
			return out
		}
		out = append(out, seqRange{first: r.first, last: min(r.last, lastSeq)})
	}
	if lastSeq > c.next && len(out) < max {
		out = append(out, seqRange{first: c.next + 1, last: lastSeq})
	}
	return out
}

func (c *orderChecker) addMissing(r seqRange) {
	if len(c.missing) == maxMissingRanges {
		c.forgotten += c.missing[0].len()
		c.missing = append(c.missing[:0], c.missing[1:]...)
	}
	c.missing = append(c.missing, r)
}

// removeMissing deletes seq from the missing ranges and reports whether it
// was there.
func (c *orderChecker) removeMissing(seq uint64) bool {
	i := sort.Search(len(c.missing), func(i int) bool { return c.missing[i].last >= seq })
	if i == len(c.missing) || c.missing[i].first > seq {
		return false
	}

	r := c.missing[i]
	switch {
	case r.first == r.last:
		c.missing = append(c.missing[:i], c.missing[i+1:]...)
	case seq == r.first:
		c.missing[i].first++
	case seq == r.last:
		c.missing[i].last--
	default:
		// Splitting adds a range; when that would pass the bound, the
		// oldest range goes first, which may be the one being split.
		if len(c.missing) == maxMissingRanges {
			c.forgotten += c.missing[0].len()
			c.missing = append(c.missing[:0], c.missing[1:]...)
			i--
			if i < 0 {
				// The split range itself was forgotten; seq was missing, so
				// it still counts as reordered, and no longer as lost.
				c.forgotten--
				return true
			}
		}
		c.missing = append(c.missing, seqRange{})
		copy(c.missing[i+2:], c.missing[i+1:])
		c.missing[i] = seqRange{first: r.first, last: seq - 1}
		c.missing[i+1] = seqRange{first: seq + 1, last: r.last}
	}
	return true
}
