package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	s := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want int64
	}{{0, 1}, {10, 1}, {11, 2}, {50, 5}, {90, 9}, {99, 10}, {100, 10}} {
		if got := Percentile(s, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %d, want %d", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty")
	}
	sum := Summarize([]int64{5, 1, 3})
	if sum.N != 3 || sum.Min != 1 || sum.Max != 5 || sum.P50 != 3 || sum.Mean != 3 {
		t.Errorf("Summarize = %+v", sum)
	}
}

func TestHistogram(t *testing.T) {
	// Bucket boundaries are contiguous and cover int64.
	prev := int64(-1)
	for i := range histBuckets {
		u := histUpper(i)
		if u <= prev || histIndex(prev+1) != i || histIndex(u) != i {
			t.Fatalf("bucket %d: upper %d, prev %d", i, u, prev)
		}
		prev = u
	}
	if prev != 1<<63-1 {
		t.Fatalf("last upper %d", prev)
	}
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Error("empty quantile")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100_000)
	for i := range vals {
		vals[i] = int64(rng.ExpFloat64() * 5000)
		h.Record(vals[i])
	}
	h.Record(-5)
	vals = append(vals, 0)
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := Percentile(vals, q*100)
		got := h.Quantile(q)
		if got < exact || float64(got) > float64(exact)*1.01+1 {
			t.Errorf("q%v = %d, exact %d", q, got, exact)
		}
	}
	if h.Count() != uint64(len(vals)) || h.Max() != vals[len(vals)-1] {
		t.Errorf("count %d max %d", h.Count(), h.Max())
	}
	h.Reset()
	if h.Count() != 0 {
		t.Error("reset")
	}
}

func TestTimer(t *testing.T) {
	a := Nanotime()
	b := Nanotime()
	if b < a {
		t.Fatal("not monotonic")
	}
	if o := TimerOverhead(1000); o < 0 || o > 10_000 {
		t.Errorf("timer overhead %d ns", o)
	}
}

func TestStalls(t *testing.T) {
	// Every read is a gap longer than -1 ns: as many per second as reads,
	// and the median is a read's cost.
	perSec, med := Stalls(10*time.Millisecond, -1)
	if perSec < 1e5 || med < 0 || med > 10_000 {
		t.Errorf("min -1: %.0f gaps/s, median %d ns", perSec, med)
	}
	// No read takes an hour.
	if perSec, med := Stalls(10*time.Millisecond, int64(time.Hour)); perSec != 0 || med != 0 {
		t.Errorf("min 1h: %.0f gaps/s, median %d ns", perSec, med)
	}
}

func TestPacer(t *testing.T) {
	for _, rate := range []float64{50_000, 1e6} { // sleeping, and yielding
		epoch := time.Now()
		p := newPacer(rate, epoch)
		t0 := p.start()
		const n = 2000
		for i := range n {
			intended := p.wait(i)
			if now := time.Since(epoch); now < intended {
				t.Fatalf("rate %v: command %d released at %v, before its time %v", rate, i, now, intended)
			}
			if want := t0 + time.Duration(float64(i)*1e9/rate); intended != want {
				t.Fatalf("rate %v: command %d due at %v, want %v", rate, i, intended, want)
			}
		}
		if el, min := time.Since(epoch)-t0, time.Duration(float64(n-1)*1e9/rate); el < min {
			t.Fatalf("rate %v: %d commands in %v, under %v", rate, n, el, min)
		}
	}
}

func TestOpenLoopBaselines(t *testing.T) {
	for name, r := range map[string]EngineResult{
		"floor":   FloorOpenLoop(100_000, 3000),
		"channel": ChannelOpenLoop(100_000, 3000),
		"spin":    SpinOpenLoop(100_000, 3000),
	} {
		if r.Commands != 3000 || r.P50 < 1 || r.P50 > r.P99 || r.P99 > r.P999 || r.P999 > r.P9999 || r.P9999 > r.Max {
			t.Errorf("%s: %+v", name, r)
		}
	}
}
