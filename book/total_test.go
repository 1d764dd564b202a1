package book

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// With the zero Rules every positive quantity is allowed, but what a side
// of the book holds — the open quantity of its resting orders and the
// quantity of its pending GTC stop-limits — must fit in an int64, so that
// no level total wraps. A GTC Limit or StopLimit order (or an Amend) that
// would take a side past that is rejected with quantity_above_max.
func TestScenarioSideTotalFitsInt64(t *testing.T) {
	const big = 1 << 62
	runScenarios(t, []scScenario{
		{name: "a level cannot wrap", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 1, big), ev.accepted(1)),
			do.reject(ord.lim(2, bob, Sell, 1, big), ReasonQtyAboveMax),
			do.place(ord.lim(2, bob, Sell, 1, big-1), ev.accepted(2)), // the side holds MaxInt64
			is.asks(Level{1, math.MaxInt64, 2}),
			do.reject(ord.lim(3, carol, Sell, 1, 1), ReasonQtyAboveMax),
			do.reject(ord.lim(3, carol, Sell, 2, 1), ReasonQtyAboveMax),        // any level of the side
			do.reject(ord.stopLim(3, carol, Sell, 1, 1, 1), ReasonQtyAboveMax), // a stop-limit may rest
			do.place(ord.lim(3, carol, Sell, 1, 5).ioc(), // never rests: not counted
				ev.accepted(3), ev.expired(3, 5)),
			do.place(ord.stopMkt(4, carol, Sell, 1, 5), ev.accepted(4)), // never rests either
			do.cancel(4, ev.cancelled(4, 5)),
			do.place(ord.lim(5, carol, Buy, 1, big), ev.accepted(5), // the other side is apart
				ev.trade(5, 1, 1, big, 0, 0)),
			is.asks(Level{1, big - 1, 1}),
			do.place(ord.lim(6, carol, Buy, 1, 5).fok(), ev.accepted(6), // all there, none wrapped
				ev.trade(6, 2, 1, 5, 0, big-6)),
			do.place(ord.lim(7, carol, Sell, 2, big-1), ev.accepted(7)), // room for 6 more
			do.amend(7, 2, big+6, ev.rejectedOrder(7, ReasonQtyAboveMax)),
			do.amend(7, 1, big+6, ev.rejectedOrder(7, ReasonQtyAboveMax)),
			do.amend(7, 1, big+5, ev.amended(7, 1, big+5, false)), // full, at another level
			do.amend(7, 1, big, ev.amended(7, 1, big, true)),
			do.place(ord.lim(8, carol, Sell, 1, 5), ev.accepted(8)),
			is.asks(Level{1, math.MaxInt64, 3}),
		}},
		{name: "pending stop-limits count", steps: []scStep{
			// No trade yet: stops stay pending.
			do.place(ord.stopLim(1, alice, Buy, 5, 1, big), ev.accepted(1)),
			do.reject(ord.lim(2, bob, Buy, 1, big), ReasonQtyAboveMax),
			do.reject(ord.stopLim(2, bob, Buy, 5, 1, big), ReasonQtyAboveMax),
			do.place(ord.stopLim(2, bob, Buy, 5, 1, big).ioc(), ev.accepted(2)), // expires if triggered
			do.place(ord.lim(3, bob, Buy, 1, big-1), ev.accepted(3)),
			do.cancel(1, ev.cancelled(1, big)),
			do.place(ord.lim(4, bob, Buy, 1, big), ev.accepted(4)),
			is.bids(Level{1, math.MaxInt64, 2}),
		}},
	})
}

// Restore refuses an order that would take its side past an int64, as
// Place does.
func TestRestoreSideTotal(t *testing.T) {
	b, _ := New(Rules{}, nil)
	if _, err := b.Restore(OrderInfo{ID: 1, Side: Sell, Type: Limit, Price: 1, Open: 1 << 62, Visible: 1 << 62}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restore(OrderInfo{ID: 2, Side: Sell, Type: Limit, Price: 2, Open: 1 << 62, Visible: 1 << 62}); err == nil {
		t.Fatal("restored an order past the side's total")
	}
	if _, err := b.Restore(OrderInfo{ID: 3, Side: Sell, Type: StopLimit, TIF: GTC, StopPrice: 2, Price: 2, Open: 1 << 62, Stop: true}); err == nil {
		t.Fatal("restored a stop-limit past the side's total")
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

// Check finds level and side totals that are negative, wrapped or do not
// add up.
func TestCheckFindsBadTotals(t *testing.T) {
	setup := func() *Book {
		b, _ := New(Rules{}, nil)
		b.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Price: 10, Qty: 5})
		b.Place(nil, &Order{ID: 2, Owner: 1, Side: Sell, Price: 10, Qty: 7})
		b.Place(nil, &Order{ID: 3, Owner: 1, Side: Buy, Type: StopLimit, StopPrice: 20, Price: 20, Qty: 4})
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	ask := func(b *Book) *level { return &b.levels[b.sides[Sell].best] }
	for _, tc := range []struct {
		name, want string
		corrupt    func(b *Book)
	}{
		{"negative level total", "not positive", func(b *Book) {
			lv := ask(b)
			lv.open, lv.vis = -lv.open, -lv.vis
			b.held[Sell] = lv.open
		}},
		{"level total off", "orders give", func(b *Book) { ask(b).open++; b.held[Sell]++ }},
		{"side total off", "levels hold", func(b *Book) { b.held[Sell]-- }},
		{"stop total off", "stop-limits 4", func(b *Book) { b.held[Buy]++ }},
		{"orders wrap their level", "total overflows", func(b *Book) {
			// Two orders whose sum wraps to the level's (wrapped) total:
			// what three sells of 2^62 did before sides were bounded.
			lv := ask(b)
			for ni := lv.head; ni != nilIdx; ni = b.node(ni).next {
				b.node(ni).open, b.node(ni).visible = 1<<62+1<<61, 1<<62+1<<61
			}
			lv.open, lv.vis = -(1 << 62), -(1 << 62)
			b.held[Sell] = lv.open
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup()
			tc.corrupt(b)
			err := b.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestDifferentialSideRoom runs Book and refBook side by side on a stream
// of orders of huge quantities under the zero Rules, where sides fill up:
// the two must agree on every quantity_above_max, and Check must pass.
func TestDifferentialSideRoom(t *testing.T) {
	seed := diffSeed(t, 9)
	rng := rand.New(rand.NewPCG(seed, 0))
	p := newDiffPair(t, Rules{}, 20)
	var reasons [numReasons]int
	trades := 0
	n := 20_000
	if testing.Short() {
		n = 5_000
	}
	for i := range n {
		id := uint64(1 + rng.IntN(60))
		var op diffOp
		switch k := rng.IntN(20); {
		case k < 15:
			// Buys at 1-2, sells at 2-3: they meet at 2 only.
			side := Side(rng.IntN(2))
			o := Order{ID: id, Owner: uint64(1 + rng.IntN(3)), Side: side,
				Price: int64(1 + int(side) + rng.IntN(2)), Qty: 1 + rng.Int64N(1<<uint(56+rng.IntN(6)))}
			switch rng.IntN(12) {
			case 0:
				o.TIF = TimeInForce(1 + rng.IntN(2))
			case 1:
				o.Type, o.StopPrice, o.TIF = StopLimit, int64(1+rng.IntN(3)), TimeInForce(rng.IntN(3))
			case 2:
				o.Type, o.Price = Market, 0
			}
			op = diffOp{kind: opPlace, order: o}
		case k < 19:
			op = diffOp{kind: opAmend, id: id, price: int64(1 + rng.IntN(3)), qty: 1 + rng.Int64N(1<<uint(56+rng.IntN(6)))}
		default:
			op = diffOp{kind: opCancel, id: id}
		}
		if msg := p.apply(op); msg != "" {
			t.Fatalf("IST_SEED=%d op %d: %s", seed, i, msg)
		}
		for _, e := range p.evR {
			reasons[e.Reason]++
			if e.Kind == EvTrade {
				trades++
			}
		}
		if i%16 == 0 {
			if msg := p.compareState(i%256 == 0); msg != "" {
				t.Fatalf("IST_SEED=%d op %d: state differs: %s", seed, i, msg)
			}
		}
	}
	t.Logf("trades %d, quantity_above_max %d, notional_overflow %d", trades, reasons[ReasonQtyAboveMax], reasons[ReasonNotionalOverflow])
	if reasons[ReasonQtyAboveMax] < n/100 || trades < n/100 {
		t.Fatalf("the stream did not fill the sides (%d quantity_above_max) or trade (%d)", reasons[ReasonQtyAboveMax], trades)
	}
}
