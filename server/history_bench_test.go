package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

// tempStore opens a store in a temporary directory, closed with the test.
func tempStore(tb testing.TB) *store {
	tb.Helper()
	nop := zerolog.Nop()
	st, err := openStore(tb.TempDir(), &nop)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.close() })
	return st
}

// tradePair applies two results to m: a sell of account 1+k%accounts
// resting, then a buy of another account taking it (two done orders, two
// fills, a trade: the engine's trade number k+1, k from 0 up by one a
// call). A result's time is its sequence number in milliseconds.
func tradePair(m *readModel, seq *uint64, k, accounts int) {
	tradePairEvery(m, seq, k, accounts, time.Millisecond)
}

// tradePairEvery is tradePair with a result's time its sequence number
// times step.
func tradePairEvery(m *readModel, seq *uint64, k, accounts int, step time.Duration) {
	seller, buyer := uint64(1+k%accounts), uint64(1+(k+1)%accounts)
	sell, buy := uint64(2*k+1), uint64(2*k+2)
	*seq++
	m.apply(&engine.Result{Seq: *seq, Time: int64(*seq) * int64(step), Kind: engine.CmdPlace,
		Outcome: engine.Outcome{ID: sell, Trades: uint64(k)}, Events: []engine.Event{{Market: 1, Event: book.Event{Kind: book.EvAccepted,
			OrderID: sell, Owner: seller, Side: book.Sell, Price: 100, Qty: 1}}}})
	*seq++
	m.apply(&engine.Result{Seq: *seq, Time: int64(*seq) * int64(step), Kind: engine.CmdPlace,
		Outcome: engine.Outcome{ID: buy, Trades: uint64(k)}, Events: []engine.Event{
			{Market: 1, Event: book.Event{Kind: book.EvAccepted, OrderID: buy, Owner: buyer, Side: book.Buy, Price: 100, Qty: 1}},
			{Market: 1, Event: book.Event{Kind: book.EvTrade, OrderID: buy, Owner: buyer, MakerID: sell, MakerOwner: seller,
				Side: book.Buy, Price: 100, Qty: 1}}}})
}

// BenchmarkHistorySave measures a save of the changes of 1000 trades on
// top of a history of n trades: lock-ns is how long the read model's lock
// is held (the engine's output waits that long), against the baseline of
// the whole-history save it replaced, which copied the whole history
// under the lock (whole-copy-ns, measured here as a copy of the orders
// and fills kept).
func BenchmarkHistorySave(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			st := tempStore(b)
			m := newReadModel()
			m.keepOrders, m.keepFills = -1, -1 // as the old history: everything
			var seq uint64
			k := 0
			for ; k < n; k++ {
				tradePair(m, &seq, k, 64)
			}
			c, s := m.takeChanges()
			if err := st.writeChanges(c, s, false); err != nil {
				b.Fatal(err)
			}
			var lock, whole time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				for range 1000 {
					tradePair(m, &seq, k, 64)
					k++
				}
				t0 := time.Now()
				m.mu.RLock()
				orders := make([]orderRec, 0, m.Orders.len())
				m.Orders.each(func(o *orderRec) { orders = append(orders, *o) })
				fills := 0
				for _, a := range m.accts {
					fills += len(append([]fillRec(nil), a.fills...))
				}
				m.mu.RUnlock()
				whole += time.Since(t0)
				_, _ = orders, fills
				b.StartTimer()
				t0 = time.Now()
				c, s := m.takeChanges()
				lock += time.Since(t0)
				if err := st.writeChanges(c, s, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(lock.Nanoseconds())/float64(b.N), "lock-ns/save")
			b.ReportMetric(float64(whole.Nanoseconds())/float64(b.N), "whole-copy-ns/save")
		})
	}
}

// BenchmarkHistoryWrite measures writeChanges alone on saves of the size
// the saver reaches under load (maxUnsaved changes): ns/trade is the cost
// of persisting one trade with its two orders and two fills.
func BenchmarkHistoryWrite(b *testing.B) {
	const trades = maxUnsaved / 4
	st := tempStore(b)
	m := newReadModel()
	var seq uint64
	k := 0
	var write time.Duration
	for range b.N {
		for range trades {
			tradePair(m, &seq, k, 64)
			k++
		}
		c, s := m.takeChanges()
		t0 := time.Now()
		if err := st.writeChanges(c, s, false); err != nil {
			b.Fatal(err)
		}
		write += time.Since(t0)
		c.release() // as the server does after a save
	}
	b.ReportMetric(float64(write.Nanoseconds())/float64(b.N*trades), "ns/trade")
}

// BenchmarkHistoryBase measures writing a base of a history of n trades
// (2n orders, 2n fills, all kept): ns/order is the base's cost per order,
// and max-lock-us the longest the read model's lock was held for one chunk
// (the engine's output waits at most that long).
func BenchmarkHistoryBase(b *testing.B) {
	for _, n := range []int{100_000, 500_000} {
		b.Run(fmt.Sprintf("trades=%d", n), func(b *testing.B) {
			st := tempStore(b)
			m := newReadModel()
			m.keepOrders, m.keepFills = -1, -1
			var seq uint64
			for k := range n {
				tradePair(m, &seq, k, 64)
			}
			var longest time.Duration
			for b.Loop() {
				if err := st.writeBase(m, func() error { return nil }); err != nil {
					b.Fatal(err)
				}
				st.pendingBase = 0
				longest = max(longest, st.bw.maxHold)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*n), "ns/order")
			b.ReportMetric(float64(longest.Microseconds()), "max-lock-us")
		})
	}
}
