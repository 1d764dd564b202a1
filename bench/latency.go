package bench

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// epoch anchors Nanotime; it carries a monotonic clock reading.
var epoch = time.Now()

// Nanotime returns monotonic nanoseconds since the package was
// initialised. It is one monotonic clock read (time.Since on a monotonic
// Time), cheaper than time.Now, which also reads the wall clock.
func Nanotime() int64 { return int64(time.Since(epoch)) }

// TimerOverhead returns the median difference between two back-to-back
// Nanotime calls over n tries: the cost a per-operation measurement adds.
func TimerOverhead(n int) int64 {
	if n <= 0 {
		n = 1
	}
	d := make([]int64, n)
	for i := range d {
		t0 := Nanotime()
		t1 := Nanotime()
		d[i] = t1 - t0
	}
	slices.Sort(d)
	return d[(n-1)/2]
}

// Stalls reports how often the calling thread loses the CPU: it reads the
// clock in a tight loop for d and counts the gaps between two reads longer
// than min (interrupts, the hypervisor, other threads). It returns the
// gaps per second and their median length. Per-operation latencies cannot
// beat this floor: an operation of t ns is hit by a stall with probability
// about perSec × t / 1e9, which on a virtual machine interrupted 12,000
// times a second is 0.1% for a 90-ns operation: its p99.9.
func Stalls(d time.Duration, min int64) (perSec float64, median int64) {
	var gaps []int64
	start := Nanotime()
	last := start
	for last-start < int64(d) {
		now := Nanotime()
		if now-last > min {
			gaps = append(gaps, now-last)
		}
		last = now
	}
	slices.Sort(gaps)
	if len(gaps) > 0 {
		median = gaps[(len(gaps)-1)/2]
	}
	return float64(len(gaps)) / (float64(last-start) / 1e9), median
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted, which must be in ascending order; 0 if it is empty. p ≤ 0 gives
// the minimum.
func Percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Summary describes a set of latency samples in nanoseconds.
type Summary struct {
	N                          int
	Min, Max                   int64
	Mean                       float64
	P50, P90, P99, P999, P9999 int64
}

// Summarize sorts samples in place and returns their summary.
func Summarize(samples []int64) Summary {
	s := Summary{N: len(samples)}
	if len(samples) == 0 {
		return s
	}
	slices.Sort(samples)
	var sum float64
	for _, v := range samples {
		sum += float64(v)
	}
	s.Min, s.Max = samples[0], samples[len(samples)-1]
	s.Mean = sum / float64(len(samples))
	s.P50 = Percentile(samples, 50)
	s.P90 = Percentile(samples, 90)
	s.P99 = Percentile(samples, 99)
	s.P999 = Percentile(samples, 99.9)
	s.P9999 = Percentile(samples, 99.99)
	return s
}

// Histogram geometry: values below 2*histSub are counted exactly; above,
// each power-of-two range is split into histSub buckets, so a bucket is at
// most 1/histSub (under 1%) of its values wide.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histBuckets = 2*histSub + (63-histSubBits-1)*histSub
)

// Histogram is a fixed-size log-linear latency histogram, in the spirit of
// HDR histograms, with under 1% relative error. Record does not allocate,
// so it suits long runs where keeping every sample would not; the zero
// value is ready to use. Negative values count as 0.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

func histIndex(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	s := bits.Len64(uint64(v)) - (histSubBits + 1) // v>>s is in [histSub, 2*histSub)
	m := int(uint64(v) >> s)
	return 2*histSub + (s-1)*histSub + (m - histSub)
}

// histUpper returns the largest value that falls in bucket i.
func histUpper(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	k := i - 2*histSub
	s := k/histSub + 1
	m := uint64(k%histSub + histSub)
	return int64((m+1)<<s - 1)
}

// Record adds one value.
func (h *Histogram) Record(v int64) {
	v = max(v, 0)
	h.counts[histIndex(v)]++
	h.n++
	h.max = max(h.max, v)
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value exactly.
func (h *Histogram) Max() int64 { return h.max }

// Quantile returns an upper bound, within 1%, of the nearest-rank q-th
// quantile (0 < q ≤ 1) of the recorded values; 0 if there are none. It
// never exceeds Max.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histUpper(i), h.max)
		}
	}
	return h.max
}

// Reset forgets all recorded values.
func (h *Histogram) Reset() { *h = Histogram{} }
