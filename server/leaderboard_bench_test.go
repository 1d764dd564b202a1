package server

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// boardFeed is 100 leaders with 1,000 open relations each.
func boardFeed() *statFeed {
	f := newStatFeed(nil)
	f.price(10)
	id := uint64(0)
	for l := uint64(1); l <= 100; l++ {
		f.deposit(l, usdt, 1_000_000)
		f.lead(l)
		for range 1000 {
			id++
			acct := 10_000 + id
			f.deposit(acct, usdt, 1000)
			f.do(engine.Command{Kind: engine.CmdFollow, Account: acct, Asset: usdt, Amount: 100,
				Copy: engine.CopySpec{Leader: l}}, id)
			ev := tradeEv(1_000_000+id, book.Buy, 10, 1, 0)
			ev.Relation = id
			f.do(engine.Command{Kind: engine.CmdPlace, Account: l}, 0, ev)
		}
	}
	f.price(11)
	return f
}

// BenchmarkLeaderBoard is the leaderboard (GET /v1/social/leaders) of 100
// leaders with 1,000 open relations each.
func BenchmarkLeaderBoard(b *testing.B) {
	f := boardFeed()
	for b.Loop() {
		f.ls.board("roi", windowAll, 50)
	}
}

// BenchmarkApplyDuringBoard applies results (a trade each, 200 µs apart)
// while another goroutine asks for the leaderboard of boardFeed in a
// loop, and reports how long apply took, which every result the engine
// delivers waits for: p50_ns and p99_ns.
func BenchmarkApplyDuringBoard(b *testing.B) {
	f := boardFeed()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			f.ls.board("roi", windowAll, 50)
		}
	}()
	var d []time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		f.do(engine.Command{Kind: engine.CmdPlace}, 0, tradeEv(5, book.Buy, 10+int64(i%3), 1, 0))
		d = append(d, time.Since(t0))
		i++
		time.Sleep(200 * time.Microsecond)
	}
	stop.Store(true)
	<-done
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2]), "p50_ns")
	b.ReportMetric(float64(d[len(d)*99/100]), "p99_ns")
}
