package server

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/instant-social-trading/ist/bench"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// applyStream is the result stream BenchmarkReadModelApply folds into a
// read model: the order flow of istbench's HTTP phases (limit orders of
// 64 accounts on both sides of one price, within ten ticks, so that about
// half of them trade and the rest rest), applied once to an engine state,
// each result with a copy of its events.
var applyStream = sync.OnceValue(func() []engine.Result {
	const accounts, n = 64, 300_000
	st := engine.NewState()
	var evs []engine.Event
	for _, c := range bench.Genesis(accounts) {
		_, evs = st.Apply(&c, evs[:0])
	}
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]engine.Result, 0, n)
	for i := range n {
		c := engine.Command{Kind: engine.CmdPlace, Account: uint64(1 + r.IntN(accounts)), Market: 1,
			Order: book.Order{Side: book.Side(r.IntN(2)), Price: 6_499_000 + int64(r.IntN(2_000)), Qty: 1 + int64(r.IntN(100))},
			Tag:   uint64(i + 1)}
		res := engine.Result{Seq: uint64(1000 + i), Time: int64(i) * 1000, Kind: c.Kind, Tag: c.Tag}
		res.Outcome, evs = st.Apply(&c, evs[:0])
		res.Events = append([]engine.Event(nil), evs...)
		out = append(out, res)
	}
	return out
})

// BenchmarkReadModelApply measures what the engine's output goroutine
// does for each result under a stream of orders (istbench http's batch
// phase): readModel.apply with the server's default history limits, each
// order registered first as a batch registers its orders, and the changes
// taken every 8,192 results as the saver takes them. ns/result is the
// deliverer's cost of one order, on a model that has already applied
// 100,000 results.
func BenchmarkReadModelApply(b *testing.B) {
	results := applyStream()
	metas := make([]orderRec, 100)
	pend := make([]pendingOrder, 100)
	tags := make([]uint64, 100)
	var outs [100]placedOut
	for i := range pend {
		pend[i] = pendingOrder{meta: &metas[i], out: &outs[i]}
	}
	apply := func(m *readModel, from, to int) {
		for i := from; i < to; i++ {
			if i%100 == 0 {
				for j := range tags {
					tags[j] = uint64(i + j + 1)
				}
				m.expectAll(tags, pend)
			}
			m.apply(&results[i])
			if i%8192 == 8191 {
				c, _ := m.takeChanges()
				c.release()
			}
		}
	}
	// The first third warms a fresh model up (its tables grown, its
	// accounts' histories full), untimed; the rest is measured.
	warm := len(results) / 3
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		b.StopTimer()
		m := newReadModel()
		m.keepOrders, m.keepFills = DefaultHistoryOrders, DefaultHistoryFills
		apply(m, 0, warm)
		b.StartTimer()
		apply(m, warm, len(results))
		total += len(results) - warm
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/result")
}
