package bench

import (
	"math/bits"
	"time"
)

// Histogram bucket layout: each value below 2^histSubBits has its own
// bucket. Above that, every power of two splits into 2^(histSubBits-1)
// buckets, so a bucket is at most 1/128 (0.8 %) of its lower bound wide.
// Values are nanoseconds, clamped to [0, histMaxValue].
const (
	histSubBits  = 8
	histSubCount = 1 << histSubBits
	histHalf     = histSubCount / 2
	histMaxValue = 1<<40 - 1 // about 18 minutes in nanoseconds
	histBuckets  = (40-histSubBits+1)*histHalf + histHalf
)

// Histogram counts durations in log-linear buckets with bounded memory
// (about 34 KiB) and a relative error below 1 %, in the manner of
// HdrHistogram. The zero value is empty and ready to use. It is not safe for
// concurrent use.
type Histogram struct {
	counts []uint64 // allocated on first Record
	total  uint64
	min    int64
	max    int64
	sum    float64
}

func histBucket(v int64) int {
	if v < histSubCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits
	return shift*histHalf + int(uint64(v)>>shift)
}

// histBucketValue returns the middle of bucket i.
func histBucketValue(i int) int64 {
	if i < histSubCount {
		return int64(i)
	}
	shift := (i - histHalf) / histHalf
	mantissa := int64(i - shift*histHalf)
	return mantissa<<shift + int64(1)<<shift/2
}

// Record adds one value.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d), 0), histMaxValue)
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	h.counts[histBucket(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest recorded value exactly, or 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean of the recorded values, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the value below which the fraction q of the recorded
// values lie, within the bucket precision; 0 when empty. q=1 returns the
// exact maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(q*float64(h.total)) + 1
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			return time.Duration(min(max(histBucketValue(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Merge adds every value of other to h.
func (h *Histogram) Merge(other *Histogram) {
	if other.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, n := range other.counts {
		h.counts[i] += n
	}
	if h.total == 0 || other.min < h.min {
		h.min = other.min
	}
	h.max = max(h.max, other.max)
	h.total += other.total
	h.sum += other.sum
}

// Reset empties h and keeps its buckets allocated.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.min, h.max, h.sum = 0, 0, 0, 0
}

// histogramWire is the sparse form of a Histogram that child processes send
// to the parent.
type histogramWire struct {
	Buckets []uint16
	Counts  []uint64
	Min     int64
	Max     int64
	Sum     float64
}

func (h *Histogram) wire() histogramWire {
	w := histogramWire{Min: h.min, Max: h.max, Sum: h.sum}
	for i, n := range h.counts {
		if n != 0 {
			w.Buckets = append(w.Buckets, uint16(i))
			w.Counts = append(w.Counts, n)
		}
	}
	return w
}

// mergeWire adds the values of a histogram in sparse form to h.
func (h *Histogram) mergeWire(w histogramWire) {
	var other Histogram
	other.counts = make([]uint64, histBuckets)
	for i, bucket := range w.Buckets {
		if int(bucket) < histBuckets && i < len(w.Counts) {
			other.counts[bucket] += w.Counts[i]
			other.total += w.Counts[i]
		}
	}
	other.min, other.max, other.sum = w.Min, w.Max, w.Sum
	h.Merge(&other)
}
