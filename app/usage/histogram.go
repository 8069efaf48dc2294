package usage

import "time"

// LatencyBuckets are the upper bounds of the fixed latency buckets kept per
// roll-up; a last, unbounded bucket follows them. They are stored as arrays
// in control.usage_hourly: append new bounds only at the end, never change
// existing ones, or stored roll-ups lose their meaning.
var LatencyBuckets = [...]time.Duration{
	1 * time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	1 * time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// numBuckets counts the buckets including the unbounded last one.
const numBuckets = len(LatencyBuckets) + 1

// Histogram counts requests per latency bucket: Histogram[i] counts those
// at most LatencyBuckets[i], the last element those slower than every bound.
type Histogram []int64

func bucketOf(d time.Duration) int {
	for i, b := range LatencyBuckets {
		if d <= b {
			return i
		}
	}
	return len(LatencyBuckets)
}

// Add adds o's counts to h, growing h when o is longer.
func (h *Histogram) Add(o Histogram) {
	for len(*h) < len(o) {
		*h = append(*h, 0)
	}
	for i, n := range o {
		(*h)[i] += n
	}
}

// Count returns the number of requests in h.
func (h Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Percentile returns the upper bound of the bucket holding the p-th
// percentile (0 < p <= 100): an estimate that errs on the slow side. It
// returns 0 for an empty histogram, and for requests beyond the last bound
// twice that bound.
func (h Histogram) Percentile(p float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := int64(float64(total)*p/100 + 0.999999)
	var seen int64
	for i, c := range h {
		seen += c
		if seen >= rank {
			if i < len(LatencyBuckets) {
				return LatencyBuckets[i]
			}
			break
		}
	}
	return 2 * LatencyBuckets[len(LatencyBuckets)-1]
}
