package bench

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for v := 1; v <= 10000; v++ {
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5000 * time.Microsecond},
		{0.9, 9000 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{0.999, 9990 * time.Microsecond},
	} {
		got := h.Quantile(tc.q)
		if relative := math.Abs(float64(got-tc.want)) / float64(tc.want); relative > 0.01 {
			t.Errorf("Quantile(%v) = %v, want %v within 1 %%", tc.q, got, tc.want)
		}
	}
	if h.Max() != 10*time.Millisecond {
		t.Errorf("Max = %v, want 10ms", h.Max())
	}
	if h.Quantile(1) != h.Max() {
		t.Errorf("Quantile(1) = %v, want the maximum %v", h.Quantile(1), h.Max())
	}
	if h.Count() != 10000 {
		t.Errorf("Count = %d, want 10000", h.Count())
	}
}

func TestHistogramBucketsCoverRange(t *testing.T) {
	previous := -1
	for v := int64(0); v < histMaxValue; v = v*9/8 + 1 {
		bucket := histBucket(v)
		if bucket < previous || bucket >= histBuckets {
			t.Fatalf("histBucket(%d) = %d after %d, want ascending below %d", v, bucket, previous, histBuckets)
		}
		middle := histBucketValue(bucket)
		if v >= histSubCount && math.Abs(float64(middle-v))/float64(v) > 1.0/128 {
			t.Fatalf("bucket middle %d is more than 1/128 from %d", middle, v)
		}
		previous = bucket
	}
	if bucket := histBucket(histMaxValue); bucket != histBuckets-1 {
		t.Errorf("histBucket(max) = %d, want %d", bucket, histBuckets-1)
	}
}

func TestHistogramClampsAndMerges(t *testing.T) {
	var a, b Histogram
	a.Record(-time.Second)
	a.Record(time.Hour)
	b.Record(time.Millisecond)

	var merged Histogram
	merged.mergeWire(a.wire())
	merged.Merge(&b)
	if merged.Count() != 3 {
		t.Errorf("Count = %d, want 3", merged.Count())
	}
	if merged.Quantile(0) != 0 {
		t.Errorf("minimum = %v, want 0 (negative values clamp)", merged.Quantile(0))
	}
	if merged.Max() != time.Duration(histMaxValue) {
		t.Errorf("Max = %v, want the clamp %v", merged.Max(), time.Duration(histMaxValue))
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram returns non-zero values")
	}
}
