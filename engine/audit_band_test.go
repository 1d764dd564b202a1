package engine_test

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/cmdstream"
)

// The audit streams with price bands (cmdstream's PriceBands): replayed,
// through a chain of snapshots, with Check after every command (every
// auditCheckEvery), and against a model of the bands that the commands'
// outcomes and events make (the engine publishes no band): what each
// order met of its market's band, counted so that the coverage cannot
// silently vanish.

// TestAuditStreamPriceBands: a stream with price bands keeps the
// invariants after every command, replays to the same outcomes, events
// and hashes, directly and through a chain of snapshots (the bands
// survive each restore: version 9 snapshots, written exactly while some
// market has a band); its orders, amends and mirrors meet the bands as
// the model says (checkBands), and it holds every outcome of a band.
func TestAuditStreamPriceBands(t *testing.T) {
	seed := auditSeed(t, 10)
	rec := generateFrom(t, cmdstream.New(seed).PriceBands(), auditLen(), auditCheckEvery)
	checkReplay(t, rec)
	st := checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	if st.banded == 0 {
		t.Fatalf("no snapshot while a price band was set: %+v", st)
	}
	checkBands(t, rec)
}

// bandedAfter returns, for each command of rec, whether some market has
// a price band after it, as the commands' outcomes say.
func bandedAfter(rec *recording) []bool {
	bands := map[uint64]int32{}
	n := 0 // markets with a band
	set := func(m uint64, bps int32) {
		if (bands[m] != 0) != (bps != 0) {
			n += map[bool]int{true: 1, false: -1}[bps != 0]
		}
		bands[m] = bps
	}
	after := make([]bool, len(rec.cmds))
	for i, c := range rec.cmds {
		if out := rec.outs[i]; out.Err == nil {
			switch c.Kind {
			case engine.CmdCreateMarket:
				set(out.ID, c.Spec.PriceBandBps)
			case engine.CmdSetPriceBand:
				set(uint64(c.Market), c.Spec.PriceBandBps)
			}
		}
		after[i] = n > 0
	}
	return after
}

// bandBounds is the model of a band: [lo, hi] around ref > 0, hi = ref ×
// (10000 + bps) / 10000 rounded down to the tick, lo = ref × (10000 −
// bps) / 10000 rounded up to it and at least one tick (package engine's
// doc, Price bands), computed with math/big.
func bandBounds(bps int32, tick, ref int64) (lo, hi int64) {
	bt := big.NewInt(tick)
	x := new(big.Int).Mul(big.NewInt(ref), big.NewInt(10000+int64(bps)))
	x.Quo(x, big.NewInt(10000)).Quo(x, bt).Mul(x, bt)
	hi = x.Int64()
	if !x.IsInt64() {
		hi = 1<<63 - 1
	}
	num := new(big.Int).Mul(big.NewInt(ref), big.NewInt(10000-int64(bps)))
	den := new(big.Int).Mul(big.NewInt(10000), bt)
	// Rounded up: (num + den − 1) / den ticks.
	num.Add(num, den).Sub(num, big.NewInt(1)).Quo(num, den).Mul(num, bt)
	return max(num.Int64(), tick), hi
}

// bandMarket is what the model knows of a market.
type bandMarket struct {
	band int32
	tick int64
	last int64 // last trade price, 0 before the first
}

// beyond reports whether a limit price on side lies beyond m's band
// around ref on the aggressive side, and returns the band's edge on that
// side.
func (m *bandMarket) beyond(side book.Side, price, ref int64) (out bool, edge int64) {
	lo, hi := bandBounds(m.band, m.tick, ref)
	if side == book.Buy {
		return price > hi, hi
	}
	return price < lo, lo
}

// towardsPassive reports whether an order on side moved from price from
// to price to moves away from the other side (a buy lower, a sell
// higher): such an amend is not held to the band.
func towardsPassive(side book.Side, from, to int64) bool {
	if side == book.Buy {
		return to < from
	}
	return to > from
}

// bandOrder is an order of the stream, as the model knows it.
type bandOrder struct {
	market uint32
	side   book.Side
	price  int64 // its limit price now (EvAmended), 0 for a market order
	// bound is a stop-market's protection price as its band made it at
	// placing (0: none): it never trades beyond.
	bound int64
}

// checkBands follows the price bands of rec's markets through its
// commands, and its last trade prices through its trades (checked
// against MarketView.Last on a replay), and fails t if an order,
// amend or mirror met a band otherwise than the package doc says:
//   - ErrPriceOutOfBand refuses exactly the limit orders, stop-limits
//     (around their stop price) and price-changing amends priced beyond
//     the band on their aggressive side, none without a band or before
//     the market's first trade; no order or amend is accepted beyond it;
//   - a market order trades within the band around the last price at its
//     arrival, a stop-market within the band around its stop price at
//     placing; only a market order's rest expires with
//     book.ReasonPriceBand, and only on a market with a band;
//   - a mirror's limit is never beyond the band around the last price
//     (one that would be is held to the band's edge), and it trades
//     within the band around the last price before its first fill;
//   - a band change has no events of its own (but expiries due);
//
// and if the stream lacks one of these outcomes (with IST_SEED set, rare
// ones are only logged). It returns the counts.
func checkBands(t *testing.T, rec *recording) map[string]int {
	t.Helper()
	seen := map[string]int{}
	markets := map[uint32]*bandMarket{}
	orders := map[uint64]*bandOrder{}
	type refKey struct {
		account uint64
		ref     engine.Ref
	}
	byRef := map[refKey]uint64{}
	mirrorRef := map[uint64]int64{} // mirrors: the last price before their first fill
	s := engine.NewState()
	var buf []engine.Event
	for i := range rec.cmds {
		c, out, evs := &rec.cmds[i], rec.outs[i], rec.events(i)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("command %d %s %+v (%+v): "+format, append([]any{i + 1, c.Kind, *c, out}, args...)...)
		}
		m := markets[c.Market]
		banded := m != nil && m.band != 0
		var last int64 // the market's last price before the command
		if m != nil {
			last = m.last
		}
		refused := errors.Is(out.Err, engine.ErrPriceOutOfBand)
		if refused && (c.Kind != engine.CmdPlace && c.Kind != engine.CmdAmend && c.Kind != engine.CmdAmendTotal) {
			fail("refused beyond the band")
		}
		switch c.Kind {
		case engine.CmdCreateMarket:
			switch {
			case out.Err == nil:
				markets[uint32(out.ID)] = &bandMarket{band: c.Spec.PriceBandBps, tick: c.Spec.Rules.TickSize}
				if c.Spec.PriceBandBps != 0 && seen["places"] > 0 {
					seen["market created later with a band"]++
				}
			case c.Spec.PriceBandBps < 0 || c.Spec.PriceBandBps > engine.MaxPriceBandBps:
				if out.Err == nil {
					fail("a band out of range")
				}
				if errors.Is(out.Err, engine.ErrInvalidSpec) {
					seen["create refused: band"]++
				}
			}
		case engine.CmdSetPriceBand:
			for _, ev := range evs {
				if ev.Kind != book.EvExpired || ev.Reason != book.ReasonExpired {
					fail("event %+v", ev)
				}
			}
			bps := c.Spec.PriceBandBps
			switch {
			case m == nil:
				if !errors.Is(out.Err, engine.ErrUnknownMarket) {
					fail("an unknown market")
				}
				seen["band refused: market"]++
			case bps < 0 || bps > engine.MaxPriceBandBps:
				if !errors.Is(out.Err, engine.ErrInvalidSpec) {
					fail("a band out of range")
				}
				seen["band refused: range"]++
			case out.Err != nil || out.ID != uint64(c.Market):
				fail("a valid band")
			default:
				m.band = bps
				seen["band set"]++
				switch bps {
				case 0:
					seen["band removed"]++
				case 1:
					seen["band of 1 bps"]++
				case engine.MaxPriceBandBps:
					seen["band widest"]++
				}
			}
		case engine.CmdPlace:
			if out.Duplicate {
				break
			}
			o := &c.Order
			if out.Err == nil {
				p := &bandOrder{market: c.Market, side: o.Side, price: o.Price}
				orders[out.ID] = p
				if !c.Ref.IsZero() {
					byRef[refKey{c.Account, c.Ref}] = out.ID
				}
				if banded {
					seen["placed on a market with a band"]++
				}
				if o.Type == book.StopMarket && banded && (o.Side == book.Sell || o.Price != 0 || o.QuoteBudget != 0) {
					lo, hi := bandBounds(m.band, m.tick, o.StopPrice)
					switch {
					case o.Side == book.Buy && (o.Price == 0 || hi < o.Price):
						p.bound = hi
					case o.Side == book.Sell && lo > o.Price:
						p.bound = lo
					}
				}
			}
			if !banded {
				if refused {
					fail("ErrPriceOutOfBand without a band")
				}
				break
			}
			ref := last
			if o.Type == book.StopLimit {
				ref = o.StopPrice
			}
			limit := (o.Type == book.Limit || o.Type == book.StopLimit) && o.Price > 0 && ref > 0
			if !limit {
				if refused {
					fail("ErrPriceOutOfBand: not a priced limit, or no trade yet")
				}
				break
			}
			beyond, edge := m.beyond(o.Side, o.Price, ref)
			switch {
			case refused && !beyond:
				fail("ErrPriceOutOfBand within the band (edge %d)", edge)
			case refused:
				seen["place refused: band"]++
				seen["place refused: band, "+o.Type.String()]++
			case out.Err == nil && beyond:
				fail("placed beyond the band (edge %d)", edge)
			case out.Err == nil && o.Price == edge:
				seen["placed at the edge"]++
				seen["placed at the edge, "+o.Type.String()]++
			case out.Err == nil:
				seen["placed within the band"]++
			}
		case engine.CmdAmend, engine.CmdAmendTotal:
			id := c.OrderID
			if id == 0 {
				id = byRef[refKey{c.Account, c.Ref}]
			}
			p := orders[id]
			if refused {
				if p == nil || markets[p.market] == nil || markets[p.market].band == 0 {
					fail("ErrPriceOutOfBand: order %d %+v without a band", id, p)
				}
				pm := markets[p.market]
				if c.Order.Price == 0 || c.Order.Price == p.price || pm.last == 0 {
					fail("ErrPriceOutOfBand for an amend that keeps the price (%+v), or before a trade", p)
				}
				if b, edge := pm.beyond(p.side, c.Order.Price, pm.last); !b {
					fail("ErrPriceOutOfBand within the band (edge %d)", edge)
				}
				if towardsPassive(p.side, p.price, c.Order.Price) {
					fail("ErrPriceOutOfBand for an amend from %d to %d, towards the passive side", p.price, c.Order.Price)
				}
				seen["amend refused: band"]++
			}
			if out.Err != nil || p == nil {
				break
			}
			pm := markets[p.market]
			for _, ev := range evs {
				if ev.Kind != book.EvAmended || ev.OrderID != out.ID {
					continue
				}
				if pm.band != 0 && pm.last > 0 {
					b, edge := pm.beyond(p.side, ev.Price, pm.last)
					switch {
					case b && ev.Price != p.price && !towardsPassive(p.side, p.price, ev.Price):
						fail("amended from %d to %d, beyond the band (edge %d)", p.price, ev.Price, edge)
					case b && ev.Price != p.price:
						seen["amend towards the passive side, still beyond the band"]++
					case b:
						seen["amend keeping a price beyond the band"]++
					case ev.Price != p.price && ev.Price == edge:
						seen["amended to the edge"]++
					}
				}
				p.price = ev.Price
			}
		}
		// Trades: within the bands of market orders and stop-markets;
		// each sets its market's last price.
		for _, ev := range evs {
			switch {
			case ev.Kind == book.EvTrade:
				mm := markets[ev.Market]
				prev := mm.last
				mm.last = ev.Price // m's after the checks: a market order's band is around last
				if ev.Relation != 0 && mm.band != 0 {
					// A mirror: its limit within the band around the
					// last price before its first fill.
					ref, ok := mirrorRef[ev.OrderID]
					if !ok {
						ref = prev
						mirrorRef[ev.OrderID] = ref
					}
					if ref > 0 {
						b, edge := mm.beyond(ev.Side, ev.Price, ref)
						if b {
							fail("mirror %d traded at %d beyond the band (edge %d) around %d: %+v", ev.OrderID, ev.Price, edge, ref, ev)
						}
						seen["mirror traded within a band"]++
						if ev.Price == edge {
							seen["mirror traded at the edge"]++
						}
					}
				}
				p := orders[ev.OrderID]
				if p == nil {
					break
				}
				if p.bound != 0 {
					if p.side == book.Buy && ev.Price > p.bound || p.side == book.Sell && ev.Price < p.bound {
						fail("stop-market %d traded at %d beyond its band's bound %d: %+v", ev.OrderID, ev.Price, p.bound, ev)
					}
					seen["stop-market traded within its band"]++
					if ev.Price == p.bound {
						seen["stop-market traded at its band's bound"]++
					}
				}
				if c.Kind == engine.CmdPlace && ev.OrderID == out.ID && c.Order.Type == book.Market && banded && last > 0 {
					b, edge := m.beyond(c.Order.Side, ev.Price, last)
					if b {
						fail("market order traded at %d beyond the band (edge %d): %+v", ev.Price, edge, ev)
					}
					if ev.Price == edge {
						seen["market order traded at the edge"]++
					}
				}
			case ev.Kind == book.EvExpired && ev.Reason == book.ReasonPriceBand:
				if c.Kind != engine.CmdPlace || c.Order.Type != book.Market || ev.OrderID != out.ID || !banded || last == 0 {
					fail("%+v: not the rest of a market order on a market with a band", ev)
				}
				seen["expired price_band"]++
				if c.Order.QuoteBudget != 0 {
					seen["expired price_band, by budget"]++
				}
			case ev.Kind == book.EvAccepted && ev.Relation != 0:
				// A mirror's limit: never beyond the band around the
				// last price (a wider one is held to the band's edge).
				if mm := markets[ev.Market]; mm != nil && mm.band != 0 && mm.last > 0 {
					b, edge := mm.beyond(ev.Side, ev.Price, mm.last)
					if b {
						fail("mirror %d placed at %d beyond the band (edge %d) around %d: %+v", ev.OrderID, ev.Price, edge, mm.last, ev)
					}
					if ev.Price == edge {
						seen["mirror held to the band's edge"]++
					}
				}
			}
		}
		if out.Err == nil && !out.Duplicate && c.Kind == engine.CmdPlace && banded && last > 0 {
			seen["placed on a market with a band and a price"]++
		}
		_, buf = s.Apply(c, buf[:0])
		for _, ev := range evs {
			if ev.Kind != book.EvTrade {
				continue
			}
			if v, err := s.MarketView(ev.Market, 0); err != nil || v.Last != markets[ev.Market].last {
				fail("market %d: last price %+v, the trades say %d (%v)", ev.Market, v, markets[ev.Market].last, err)
			}
		}
		if c.Kind == engine.CmdPlace && !out.Duplicate {
			seen["places"]++
		}
	}
	t.Logf("price bands: %v", seen)
	for _, k := range []string{"band set", "band removed", "band of 1 bps", "band widest", "band refused: range",
		"band refused: market", "market created later with a band", "create refused: band",
		"place refused: band", "place refused: band, limit", "place refused: band, stop_limit", "amend refused: band",
		"placed at the edge", "placed at the edge, limit", "placed at the edge, stop_limit", "amended to the edge",
		"market order traded at the edge", "expired price_band",
		"expired price_band, by budget", "stop-market traded within its band", "mirror held to the band's edge",
		"mirror traded within a band"} {
		if seen[k] == 0 {
			gtdMissing(t, k, seen)
		}
	}
	// A good share of the stream meets the bands.
	if places := seen["places"]; seen["placed on a market with a band and a price"] < places/8 || seen["place refused: band"] < places/50 {
		t.Errorf("of %d orders placed, %d on a market with a band and a price, %d refused beyond it", places,
			seen["placed on a market with a band and a price"], seen["place refused: band"])
	}
	return seen
}
