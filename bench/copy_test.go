package bench

import (
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

var sides = [2]book.Side{book.Buy, book.Sell}

func TestCopyBench(t *testing.T) {
	res, err := CopyBench(CopyConfig{Followers: 50, Rounds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.LeaderFills != 10 || res.MirroredFills != 500 {
		t.Fatalf("%d leader fills, %d mirrored; want 10 and 500", res.LeaderFills, res.MirroredFills)
	}
	if _, err := CopyBench(CopyConfig{Followers: 1000, Rounds: 10_000}); err == nil {
		t.Fatal("rounds beyond the book's depth accepted")
	}
}

// BenchmarkCopyMirror measures mirroring one leader fill to 1,000
// followers (one op = one leader buy or sell fill and its 1,000 mirrors).
func BenchmarkCopyMirror(b *testing.B) {
	setup, err := copyState(1000)
	if err != nil {
		b.Fatal(err)
	}
	var evs []engine.Event
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%800 == 0 {
			b.StopTimer()
			if setup, err = copyState(1000); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		cmd := setup.leaderOrder(sides[i%2])
		out, e := setup.st.Apply(&cmd, evs[:0])
		evs = e
		if out.Err != nil {
			b.Fatal(out.Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/follower")
}
