package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// TestDeferredSnapshotMatches checks the engine's deferred snapshot: the
// body the matcher writes, with room left for the resting orders, filled
// in from the frozen copies after the state has moved on, is byte for
// byte the snapshot of the state when the body was written. One
// snapFreeze serves every round, as in the engine, while markets are
// added.
func TestDeferredSnapshotMatches(t *testing.T) {
	// With and without room reserved for orders.
	for _, reserve := range []int{0, 100_000} {
		t.Run(fmt.Sprint("reserve=", reserve), func(t *testing.T) { deferredSnapshotMatches(t, reserve) })
	}
}

func deferredSnapshotMatches(t *testing.T, reserve int) {
	r := rand.New(rand.NewPCG(testSeed(t, 13), 0))
	s := NewState()
	s.Reserve(Capacity{Orders: reserve})
	seq := uint64(0)
	apply := func(c Command) {
		seq++
		c.Seq = seq
		s.Apply(&c, nil)
	}
	for _, c := range genesis(6) {
		apply(c)
	}
	// Many resting orders (buys far below the market).
	for i := range 4000 {
		apply(Command{Kind: CmdPlace, Account: uint64(1 + i%6), Market: 1,
			Order: book.Order{Side: book.Buy, Price: 10, Qty: 3}})
	}
	var fz snapFreeze
	var buf []byte
	for round := range 12 {
		for range 1500 {
			apply(randomCommand(r, s, 6))
		}
		if round == 4 { // a third market, with an empty book
			name, _ := MakeName("ETH-USDT")
			apply(Command{Kind: CmdCreateMarket, Name: name, Spec: MarketSpec{Base: 3, Quote: 2,
				BaseScale: 1, QuoteScale: 1, Rules: book.Rules{TickSize: 1, LotSize: 1, MaxPrice: 1 << 30, MaxQty: 1 << 20}}})
		}
		want := s.AppendSnapshot(nil)
		buf = s.encodeSnapshotBody(buf[:0], &fz)
		for range 300 { // the state moves on before the orders are written
			apply(randomCommand(r, s, 6))
		}
		fz.fill(buf)
		if got := sealSnapshot(buf, 0); !bytes.Equal(got, want) {
			t.Fatalf("round %d: deferred snapshot of %d bytes differs from the state's (%d bytes)", round, len(got), len(want))
		}
		buf = buf[:0]
	}
	if fz.n != 3 || len(s.markets) != 3 {
		t.Fatalf("%d markets frozen, %d in the state", fz.n, len(s.markets))
	}
}
