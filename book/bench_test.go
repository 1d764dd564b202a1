package book_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/instant-social-trading/ist/bench"
	"github.com/instant-social-trading/ist/book"
)

// benchMid is the price the benchmark books are built around.
const benchMid = 1_000_000

// reportOps adds an ops/s metric: one operation per b.N iteration.
func reportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// newBenchBook returns a book holding perSide resting orders on each side,
// spread over levels prices per side starting one tick from benchMid, and
// the next free order id.
func newBenchBook(b *testing.B, perSide, levels, capacity int) (*book.Book, uint64) {
	b.Helper()
	bk, err := book.New(book.Rules{}, &book.Options{Capacity: capacity})
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]book.Event, 0, 16)
	id := uint64(1)
	for i := range perSide {
		k := int64(i%levels) + 1
		for _, o := range [2]book.Order{
			{ID: id, Owner: id, Side: book.Buy, Price: benchMid - k, Qty: 10},
			{ID: id + 1, Owner: id + 1, Side: book.Sell, Price: benchMid + k, Qty: 10},
		} {
			if evs, err = bk.Place(evs[:0], &o); err != nil {
				b.Fatal(err)
			}
		}
		id += 2
	}
	return bk, id
}

// BenchmarkPlace rests non-crossing orders, alternating sides, on prices
// spread over levels per side of a book holding 4 orders a level. Every
// 16384 orders the timer stops and they are cancelled, so the book keeps
// its size.
func BenchmarkPlace(b *testing.B) {
	for _, levels := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("levels=%d", levels), func(b *testing.B) {
			const batch = 1 << 14
			bk, id := newBenchBook(b, 4*levels, levels, 8*levels+batch+1024)
			evs := make([]book.Event, 0, 16)
			placed := make([]uint64, 0, batch)
			var err error
			o := book.Order{Qty: 5}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(placed) == batch {
					b.StopTimer()
					for _, pid := range placed {
						if evs, err = bk.Cancel(evs[:0], pid); err != nil {
							b.Fatal(err)
						}
					}
					placed = placed[:0]
					b.StartTimer()
				}
				k := int64(uint(i)*7919%uint(levels)) + 1
				o.ID, o.Owner = id, id
				if i&1 == 0 {
					o.Side, o.Price = book.Buy, benchMid-k
				} else {
					o.Side, o.Price = book.Sell, benchMid+k
				}
				if evs, err = bk.Place(evs[:0], &o); err != nil {
					b.Fatal(err)
				}
				placed = append(placed, id)
				id++
			}
			b.StopTimer()
			reportOps(b)
		})
	}
}

// BenchmarkCancel cancels resting orders in random order from a book of
// depth orders (10 a level). Batches of orders to cancel are placed with
// the timer stopped.
func BenchmarkCancel(b *testing.B) {
	for _, depth := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			levels := max(depth/20, 1)
			batch := min(depth, 1<<14)
			bk, id := newBenchBook(b, depth/2, levels, depth+batch+1024)
			rng := rand.New(rand.NewPCG(1, 2))
			evs := make([]book.Event, 0, 16)
			ids := make([]uint64, 0, batch)
			var err error
			refill := func() {
				ids = ids[:0]
				for j := range batch {
					k := int64(rng.IntN(levels)) + 1
					o := book.Order{ID: id, Owner: id, Side: book.Buy, Price: benchMid - k, Qty: 3}
					if j&1 == 1 {
						o.Side, o.Price = book.Sell, benchMid+k
					}
					if evs, err = bk.Place(evs[:0], &o); err != nil {
						b.Fatal(err)
					}
					ids = append(ids, id)
					id++
				}
				rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			}
			refill()
			next := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if next == len(ids) {
					b.StopTimer()
					refill()
					next = 0
					b.StartTimer()
				}
				if evs, err = bk.Cancel(evs[:0], ids[next]); err != nil {
					b.Fatal(err)
				}
				next++
			}
			b.StopTimer()
			reportOps(b)
		})
	}
}

// BenchmarkMatch sends takers that each fill exactly one maker at the best
// ask of a book holding depth other orders. The makers are replenished in
// batches with the timer stopped.
func BenchmarkMatch(b *testing.B) {
	for _, depth := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			const batch = 1 << 14
			levels := max(depth/20, 1)
			bk, id := newBenchBook(b, depth/2, levels, depth+batch+1024)
			evs := make([]book.Event, 0, 16)
			var err error
			const touch = benchMid // one tick inside the resting asks
			refill := func() {
				for range batch {
					o := book.Order{ID: id, Owner: id, Side: book.Sell, Price: touch, Qty: 7}
					if evs, err = bk.Place(evs[:0], &o); err != nil {
						b.Fatal(err)
					}
					id++
				}
			}
			refill()
			left := batch
			taker := book.Order{Side: book.Buy, Price: touch, Qty: 7}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if left == 0 {
					b.StopTimer()
					refill()
					left = batch
					b.StartTimer()
				}
				taker.ID, taker.Owner = id, id
				id++
				if evs, err = bk.Place(evs[:0], &taker); err != nil {
					b.Fatal(err)
				}
				if len(evs) != 2 || evs[1].Kind != book.EvTrade {
					b.Fatalf("taker events %+v", evs)
				}
				left--
			}
			b.StopTimer()
			reportOps(b)
		})
	}
}

var lobStreams sync.Map // replay length → *bench.LOBFile

// lobStream returns ist's generated stream with ops replay operations,
// generating it once per process (the benchmark function runs several
// times).
func lobStream(ops int) *bench.LOBFile {
	if f, ok := lobStreams.Load(ops); ok {
		return f.(*bench.LOBFile)
	}
	f, _ := lobStreams.LoadOrStore(ops, bench.GenerateBook(1, 10_000, ops))
	return f.(*bench.LOBFile)
}

// BenchmarkLOB replays a stream from ist's own generator (bench.Generate),
// one operation per iteration; when the stream runs out the timer stops
// and a fresh book is seeded.
func BenchmarkLOB(b *testing.B) {
	for _, ops := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", ops), func(b *testing.B) {
			f := lobStream(ops)
			capacity := f.MaxLive() + 1024
			evs := make([]book.Event, 0, 1024)
			var bk *book.Book
			var err error
			reset := func() {
				bk = nil
				if bk, err = book.New(book.Rules{}, &book.Options{Capacity: capacity}); err != nil {
					b.Fatal(err)
				}
				for i := range f.Seed {
					if evs, err = bench.Apply(bk, evs[:0], &f.Seed[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			reset()
			next := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if next == len(f.Replay) {
					b.StopTimer()
					reset()
					next = 0
					b.StartTimer()
				}
				if evs, err = bench.Apply(bk, evs[:0], &f.Replay[next]); err != nil {
					b.Fatal(err)
				}
				next++
			}
			b.StopTimer()
			reportOps(b)
		})
	}
}

// BenchmarkAmend amends resting orders of a book holding depth orders, a
// market maker's quote updates: each to a random price on its own side
// (it never crosses) and a random quantity, so that some keep their
// queue place (same price, no more quantity) and most move.
func BenchmarkAmend(b *testing.B) {
	for _, depth := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			levels := max(depth/20, 1)
			bk, end := newBenchBook(b, depth/2, levels, depth+1024)
			type amend struct {
				id         uint64
				price, qty int64
			}
			rng := rand.New(rand.NewPCG(3, 4))
			ops := make([]amend, 1<<16)
			for i := range ops {
				id := 1 + rng.Uint64N(end-1)
				k := int64(rng.IntN(levels)) + 1
				price := benchMid - k // ids are odd for buys (newBenchBook)
				if id%2 == 0 {
					price = benchMid + k
				}
				ops[i] = amend{id, price, 1 + rng.Int64N(10)}
			}
			evs := make([]book.Event, 0, 16)
			var err error
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				op := &ops[i&(len(ops)-1)]
				if evs, err = bk.Amend(evs[:0], op.id, op.price, op.qty); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportOps(b)
		})
	}
}
