package bench

import (
	"math/rand/v2"

	"github.com/instant-social-trading/ist/book"
)

// GenParams shape the workload of Generate. DefaultGenParams gives the mix
// used by GenerateBook.
type GenParams struct {
	Seed       int64 // random seed; the same parameters give the same stream
	SeedOrders int   // non-crossing limit orders in the #seed section
	Ops        int   // operations in the #replay section

	Mid        int64 // initial mid price in ticks
	SeedWidth  int64 // seed orders rest within SeedWidth ticks of Mid
	LimitPct   int   // % of replay ops that are new limit orders
	CancelPct  int   // % that cancel a resting order; the rest are markets
	CrossPct   int   // % of limit orders priced to cross the spread
	NearPct    int   // % of passive limits within 8 ticks of the touch
	FarMax     int64 // other passive limits rest up to FarMax ticks away
	SmallQty   int64 // most quantities are uniform in [1, SmallQty]
	LargePct   int   // % of orders with a quantity in (SmallQty, LargeQty]
	LargeQty   int64 // largest order quantity
	MarketQty  int64 // market quantities are uniform in [1, MarketQty]
	CrossTicks int64 // crossing limits reach up to CrossTicks-1 past the touch
	// TargetLive keeps the book's size stable: a would-be cancel happens
	// with probability min(1, resting/TargetLive) and is otherwise a new
	// limit order. 0 means max(SeedOrders, 1000).
	TargetLive int
}

// DefaultGenParams returns ist's default workload: 58% limit orders (a
// fifth of them crossing), 32% cancels of random resting orders (fewer
// when the book is below its target size) and 10% market orders, around
// a starting mid of 50,000 ticks.
func DefaultGenParams() GenParams {
	return GenParams{
		Seed:       1,
		SeedOrders: 10_000,
		Ops:        1_000_000,
		Mid:        50_000,
		SeedWidth:  150,
		LimitPct:   58,
		CancelPct:  32,
		CrossPct:   20,
		NearPct:    70,
		FarMax:     400,
		SmallQty:   60,
		LargePct:   8,
		LargeQty:   600,
		MarketQty:  120,
		CrossTicks: 4,
	}
}

// GenerateBook returns ist's own deterministic workload with the default
// mix (DefaultGenParams): seedOrders non-crossing seed orders, then n
// replay operations, and the expected end state in End.
func GenerateBook(seed int64, seedOrders, n int) *LOBFile {
	p := DefaultGenParams()
	p.Seed, p.SeedOrders, p.Ops = seed, seedOrders, n
	return Generate(p)
}

// Generate returns the workload described by p. Cancels always name an
// order that is resting at that point, which the generator knows by
// running every operation through a small reference matcher of its own;
// the matcher's final state becomes the stream's #end expectations.
func Generate(p GenParams) *LOBFile {
	g := &generator{
		p:   p,
		rng: rand.New(rand.NewPCG(uint64(p.Seed), 0x9e3779b97f4a7c15)),
		ref: newRefBook(),
		mid: p.Mid,
	}
	g.target = p.TargetLive
	if g.target <= 0 {
		g.target = max(p.SeedOrders, 1000)
	}
	f := &LOBFile{
		Seed:   make([]Op, 0, p.SeedOrders),
		Replay: make([]Op, 0, p.Ops),
	}
	for range p.SeedOrders {
		op := g.seedOp()
		g.ref.apply(&op)
		f.Seed = append(f.Seed, op)
	}
	for range p.Ops {
		op := g.replayOp()
		g.ref.apply(&op)
		f.Replay = append(f.Replay, op)
	}
	f.End = g.ref.end()
	return f
}

type generator struct {
	p      GenParams
	rng    *rand.Rand
	ref    *refBook
	nextID uint64
	mid    int64 // last known mid, used when a side is empty
	target int   // TargetLive with its default applied
}

func (g *generator) id() uint64 {
	g.nextID++
	return g.nextID
}

func (g *generator) side() book.Side {
	return book.Side(g.rng.Uint32() & 1)
}

func (g *generator) qty() int64 {
	if g.rng.IntN(100) < g.p.LargePct && g.p.LargeQty > g.p.SmallQty {
		return g.p.SmallQty + 1 + g.rng.Int64N(g.p.LargeQty-g.p.SmallQty)
	}
	return 1 + g.rng.Int64N(g.p.SmallQty)
}

func (g *generator) seedOp() Op {
	s := g.side()
	d := 1 + g.rng.Int64N(g.p.SeedWidth)
	price := g.p.Mid - d
	if s == book.Sell {
		price = g.p.Mid + d
	}
	return Op{Kind: OpLimit, Side: s, ID: g.id(), Price: max(price, 1), Qty: g.qty()}
}

func (g *generator) replayOp() Op {
	bid, hasBid := g.ref.best(book.Buy)
	ask, hasAsk := g.ref.best(book.Sell)
	if hasBid && hasAsk {
		g.mid = bid + (ask-bid)/2
	}
	r := g.rng.IntN(100)
	live := len(g.ref.live)
	if r >= g.p.LimitPct && r < g.p.LimitPct+g.p.CancelPct && g.rng.IntN(g.target) >= live {
		r = 0 // too few resting orders to cancel one: place one instead
	}
	switch {
	case r < g.p.LimitPct:
		s := g.side()
		var price int64
		if g.rng.IntN(100) < g.p.CrossPct {
			// Marketable: at or through the opposite touch.
			k := g.rng.Int64N(g.p.CrossTicks)
			switch {
			case s == book.Buy && hasAsk:
				price = ask + k
			case s == book.Sell && hasBid:
				price = bid - k
			default:
				price = g.mid
			}
		} else {
			// Passive: behind the opposite touch (or the mid), mostly
			// close to it.
			var d int64
			if g.rng.IntN(100) < g.p.NearPct {
				d = 1 + g.rng.Int64N(8)
			} else {
				d = 1 + g.rng.Int64N(g.p.FarMax)
			}
			if s == book.Buy {
				ref := g.mid + 1
				if hasAsk {
					ref = ask
				}
				price = ref - d
			} else {
				ref := g.mid - 1
				if hasBid {
					ref = bid
				}
				price = ref + d
			}
		}
		return Op{Kind: OpLimit, Side: s, ID: g.id(), Price: max(price, 1), Qty: g.qty()}
	case r < g.p.LimitPct+g.p.CancelPct:
		o := g.ref.live[g.rng.IntN(live)]
		return Op{Kind: OpCancel, ID: o.id}
	default:
		return Op{Kind: OpMarket, Side: g.side(), ID: g.id(), Qty: 1 + g.rng.Int64N(g.p.MarketQty)}
	}
}
