// Package cmdstream generates long random command streams for the
// determinism and replay tests of packages engine and wal: every command
// kind, valid and not, over markets with different rules (one of them
// with amounts near the limits of int64), with copy-trading throughout.
// It is for tests only: the streams and their weights may change.
// Options add what releases added later (FeeChanges, Freezes, GTD,
// Causes, PriceBands, OpenLimits); without them a stream is what it
// always was, draw for draw.
//
// A stream depends on the outcomes of its commands (order and relation
// ids to cancel, amend and unfollow): call Next, apply the command, then
// Observe its outcome (and, for PriceBands, ObserveEvents its events).
// To replay a stream, keep its commands; the generator is for the first
// run only.
//
//	g := cmdstream.New(seed)
//	for _, c := range g.Genesis() { apply(c); g.Observe(&c, out) }
//	for range n { c := g.Next(); out, evs := apply(c); g.Observe(&c, out); g.ObserveEvents(evs) }
package cmdstream

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Accounts is the number of user accounts Genesis creates. Accounts 1
// and 2 are leaders; the others trade and follow.
const Accounts = 10

// Asset ids of Genesis.
const (
	BTC  = 1
	USDT = 2
	ETH  = 3
	BIG  = 4
)

// mkt is what the generator knows of a market to make sensible orders.
type mkt struct {
	base, quote uint32
	mid, step   int64 // prices: mid ± k·step, on tick
	lot, lots   int64 // quantities: lot·(1..lots)
	quoteScale  int64
	rules       book.Rules
	// band is the market's price band as the stream set it, and last
	// its last trade price as ObserveEvents saw it (0: none yet).
	band int32
	last int64
}

// placed is an order the stream placed.
type placed struct {
	id, account uint64
	ref         engine.Ref
	market      uint32
	side        book.Side // orders: as placed
	price       int64     // orders: as placed
}

// Gen generates one stream. It is not safe for concurrent use.
type Gen struct {
	r        *rand.Rand
	accounts []uint64 // user accounts (not copy wallets)
	markets  []mkt
	orders   []placed // the most recent, oldest first
	places   []engine.Command
	sent     []engine.Command // recent transfers
	rels     []placed         // id, follower (account)
	n        int
	fees     bool // FeeChanges
	freezes  bool // Freezes
	gtd      bool // GTD
	causes   bool // Causes
	bands    bool // PriceBands
	limits   bool // OpenLimits
	// now and step are the Time of the last command observed and the
	// difference from the one before (see GTD).
	now, step int64
}

// New returns a generator of the stream of seed.
func New(seed uint64) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, 0x15d))}
}

// FeeChanges makes the stream change markets' fees now and then
// (CmdSetMarketFees: low rates, at times the highest allowed, rarely out
// of range or of an unknown market), and returns g. A stream without it
// is the stream of earlier releases, draw for draw: package engine's
// golden digest depends on it.
func (g *Gen) FeeChanges() *Gen {
	g.fees = true
	return g
}

func (g *Gen) intn(n int64) int64 { return g.r.Int64N(n) }
func (g *Gen) pct(p int64) bool   { return g.r.Int64N(100) < p }

func name(s string) engine.Name { n, _ := engine.MakeName(s); return n }
func ref(s string) engine.Ref   { r, _ := engine.MakeRef(s); return r }

// specs are the markets of Genesis and those the stream may create later.
var specs = []struct {
	name string
	spec engine.MarketSpec
	m    mkt
}{
	{"BTC-USDT", engine.MarketSpec{Base: BTC, Quote: USDT, BaseScale: 100, QuoteScale: 10, MakerFeeBps: 10, TakerFeeBps: 20,
		Rules: book.Rules{TickSize: 1, LotSize: 1, MaxPrice: 1 << 30, MaxQty: 1 << 20}},
		mkt{mid: 1000, step: 1, lot: 1, lots: 20}},
	{"ETH-BTC", engine.MarketSpec{Base: ETH, Quote: BTC, BaseScale: 1, QuoteScale: 1, TakerFeeBps: 7,
		Rules: book.Rules{TickSize: 2, LotSize: 3, MinNotional: 50, MaxPrice: 1 << 30, MaxQty: 1 << 20}},
		mkt{mid: 100, step: 2, lot: 3, lots: 20}},
	// Near the limits: MaxPrice × MaxQty × QuoteScale = 2^61 (createMarket
	// allows up to 2^62), the highest fees, a base scale of 2^30.
	{"BIG-USDT", engine.MarketSpec{Base: BIG, Quote: USDT, BaseScale: 1 << 30, QuoteScale: 4, MakerFeeBps: 1000, TakerFeeBps: 1000,
		Rules: book.Rules{TickSize: 1 << 10, LotSize: 1 << 4, MaxPrice: 1 << 39, MaxQty: 1 << 20}},
		mkt{mid: 1 << 34, step: 1 << 26, lot: 1 << 4, lots: 1 << 10}},
	// A minimum quantity of two lots, a minimum notional near the typical
	// order, a maker fee above the taker's.
	{"SOL-USDT", engine.MarketSpec{Base: ETH, Quote: USDT, BaseScale: 1000, QuoteScale: 1, MakerFeeBps: 25, TakerFeeBps: 5,
		Rules: book.Rules{TickSize: 5, LotSize: 10, MinQty: 20, MaxQty: 10_000, MinNotional: 10_000, MaxPrice: 1 << 20}},
		mkt{mid: 500, step: 5, lot: 10, lots: 50}},
	// Created later in the stream (CmdCreateMarket).
	{"BTC-ETH", engine.MarketSpec{Base: BTC, Quote: ETH, BaseScale: 3, QuoteScale: 7, MakerFeeBps: 1, TakerFeeBps: 1,
		Rules: book.Rules{TickSize: 3, LotSize: 2, MaxPrice: 1 << 24, MaxQty: 1 << 16}},
		mkt{mid: 300, step: 3, lot: 2, lots: 30}},
}

// Genesis returns the commands that start every stream: four assets, the
// first four markets, Accounts funded accounts (BIG and USDT near the
// limits of the supply) and two leader profiles. With PriceBands,
// SOL-USDT is created with a band of 3% (three steps of its prices) and
// BTC-USDT and ETH-BTC get one right after the markets (CmdSetPriceBand:
// 0.5% and 6%, five and three steps); BIG-USDT has none until the stream
// gives it one. With OpenLimits, BTC-USDT and SOL-USDT are created with
// limits of 3 and 2 open orders an account and ETH-BTC gets one of 2
// right after the markets (CmdSetMaxOpenOrders, after the bands);
// BIG-USDT has none until the stream gives it one.
func (g *Gen) Genesis() []engine.Command {
	var cmds []engine.Command
	for _, a := range []string{"BTC", "USDT", "ETH", "BIG"} {
		cmds = append(cmds, engine.Command{Kind: engine.CmdCreateAsset, Name: name(a)})
	}
	for _, s := range specs[:4] {
		c := engine.Command{Kind: engine.CmdCreateMarket, Name: name(s.name), Spec: s.spec}
		if g.bands && s.name == "SOL-USDT" {
			c.Spec.PriceBandBps = 300
		}
		if g.limits {
			c.Spec.MaxOpenOrders = map[string]int32{"BTC-USDT": 3, "SOL-USDT": 2}[s.name]
		}
		cmds = append(cmds, c)
	}
	if g.bands {
		for _, b := range []struct {
			market uint32
			bps    int32
		}{{1, 50}, {2, 600}} {
			c := engine.Command{Kind: engine.CmdSetPriceBand, Market: b.market}
			c.Spec.PriceBandBps = b.bps
			cmds = append(cmds, c)
		}
	}
	if g.limits {
		c := engine.Command{Kind: engine.CmdSetMaxOpenOrders, Market: 2}
		c.Spec.MaxOpenOrders = 2
		cmds = append(cmds, c)
	}
	for a := uint64(1); a <= Accounts; a++ {
		cmds = append(cmds, engine.Command{Kind: engine.CmdCreateAccount, Name: name(fmt.Sprint("acct", a))})
		for _, d := range []struct {
			asset  uint32
			amount int64
		}{{BTC, 1 << 40}, {USDT, 1 << 58}, {ETH, 1 << 40}, {BIG, 1 << 56}} {
			if a <= 2 && (d.asset == USDT || d.asset == BIG) {
				// Leaders hold less, so that proportional followers
				// mirror a fraction worth a lot.
				d.amount >>= 12
			}
			cmds = append(cmds, engine.Command{Kind: engine.CmdDeposit, Account: a, Asset: d.asset, Amount: d.amount,
				Ref: ref(fmt.Sprintf("g%d-%d", a, d.asset))})
		}
	}
	cmds = append(cmds,
		engine.Command{Kind: engine.CmdSetLeaderProfile, Account: 1, Copy: engine.CopySpec{ProfitShareBps: 1000}},
		engine.Command{Kind: engine.CmdSetLeaderProfile, Account: 2, Copy: engine.CopySpec{ProfitShareBps: 300}},
	)
	return cmds
}

// Observe tells the generator the outcome of command c, which it made,
// and c's Time (see GTD).
func (g *Gen) Observe(c *engine.Command, out engine.Outcome) {
	if c.Time != g.now {
		g.now, g.step = c.Time, c.Time-g.now
	}
	if out.Err != nil || out.Duplicate {
		return
	}
	switch c.Kind {
	case engine.CmdCreateAccount:
		g.accounts = append(g.accounts, out.ID)
	case engine.CmdCreateMarket:
		for _, s := range specs {
			if name(s.name) == c.Name {
				m := s.m
				m.base, m.quote, m.quoteScale, m.rules = s.spec.Base, s.spec.Quote, s.spec.QuoteScale, s.spec.Rules
				m.band = c.Spec.PriceBandBps
				g.markets = append(g.markets, m)
			}
		}
	case engine.CmdPlace:
		if len(g.orders) == 256 {
			g.orders = append(g.orders[:0], g.orders[64:]...)
		}
		g.orders = append(g.orders, placed{id: out.ID, account: c.Account, ref: c.Ref, market: c.Market,
			side: c.Order.Side, price: c.Order.Price})
	case engine.CmdFollow:
		g.rels = append(g.rels, placed{id: out.ID, account: c.Account})
	case engine.CmdSetPriceBand:
		g.markets[c.Market-1].band = c.Spec.PriceBandBps
	}
}

// ObserveEvents tells the generator the events of the command it observed
// last: PriceBands places orders around each market's last trade price,
// which it reads from the trades. Without it, or without PriceBands, it
// changes nothing; a stream with PriceBands whose events are not observed
// is still valid, with fewer orders at the bands' edges.
func (g *Gen) ObserveEvents(evs []engine.Event) {
	for i := range evs {
		if ev := &evs[i]; ev.Kind == book.EvTrade && ev.Market >= 1 && uint64(ev.Market) <= uint64(len(g.markets)) {
			g.markets[ev.Market-1].last = ev.Price
		}
	}
}

// Freezes makes the stream freeze and unfreeze accounts now and then
// (CmdSetAccountFrozen: unfreezes more often than freezes, so that a few
// accounts are frozen at a time; rarely an account that cannot be
// frozen), and returns g. Like FeeChanges, a stream without it is the
// stream of earlier releases, draw for draw.
func (g *Gen) Freezes() *Gen {
	g.freezes = true
	return g
}

// GTD makes the stream place good-till-date orders (Command.ExpireAt)
// and returns g: 40% of the GTC limit and stop-limit orders it places
// get an expiry, 2 to 61 commands ahead (35% of them), 60 to 1,060
// (40%), 1,000 to 21,000 (7%: often after the stream's end), never
// (math.MaxInt64, 2%), at a time on a coarse grid that several orders
// share (10%), or one that is refused (6%: not after the command's
// time, negative), so that many expire in the stream and others are
// filled or cancelled before; 4% of the other orders (IOC, FOK, market,
// stop-market) get one, refused too. The stream also ticks now and then
// (CmdTick, 2% of the commands), commands at which only expiries happen.
// Like FeeChanges, a stream without it is the stream of earlier
// releases, draw for draw.
//
// Expiries are absolute times: the generator reads the times of the
// commands it made in Observe, and takes the next command's time to be
// that of the last observed one plus the last step between two; a stream
// whose commands' times advance evenly (as the sequencer's do in tests:
// command n at n × a step) gets expiries that many commands ahead.
func (g *Gen) GTD() *Gen {
	g.gtd = true
	return g
}

// Causes makes the stream's cancel-alls give a cause (Command.Cause:
// book.ReasonCancelAllAfter, book.ReasonDisconnect, often none, rarely
// one that is refused: 30%, 30%, 30%, 10%), and cancel all twice as
// often (2% of the commands), and returns g.
// Like FeeChanges, a stream without it is the stream of earlier
// releases, draw for draw.
func (g *Gen) Causes() *Gen {
	g.causes = true
	return g
}

// PriceBands makes the stream hold markets to price bands, and returns
// g: bands from Genesis on (see it), narrow ones (one to eight steps of a
// market's prices, so that much of the stream meets them); changes of
// them (CmdSetPriceBand, 2% of the commands: 62% one to eight steps, 12%
// none, 6% 1 bps, 6% the widest, 8% out of range and 6% of an unknown
// market, refused); the markets that the stream creates later created
// with a band (30% of them out of range, under a name of their own:
// refused). On a market with a band, 60% of the limit orders and amends
// (once the market has traded) and of the stop-limits are priced around
// the band's reference (the last trade price as ObserveEvents saw it; a
// stop-limit's stop price): at the band's edge on the order's aggressive
// side (30%: allowed), one to three ticks beyond it (15%: refused),
// within the band (40%) or beyond its other edge (15%: passive,
// allowed). 10% of the amends of its orders keep the price they were
// placed at (not held to the band). Market orders and stop-markets the
// stream places as ever: the band bounds them where the book has
// liquidity beyond it, and the mirrors of the leaders' fills whose
// slippage goes beyond the band are skipped.
// Like FeeChanges, a stream without it is the stream of earlier
// releases, draw for draw.
func (g *Gen) PriceBands() *Gen {
	g.bands = true
	return g
}

// OpenLimits makes the stream limit the live orders an account may have
// in a market, and returns g: limits from Genesis on (see it), small ones
// (an account of the stream has none to a handful of live orders in a
// market, rarely more than six), so that many places of orders that could
// rest are refused with engine.ErrTooManyOpenOrders and many others fill
// the last free slots; changes of them (CmdSetMaxOpenOrders, 2% of the
// commands: 58% two to five orders, 14% none, 8% one,
// 6% engine.MaxOpenOrdersLimit, 8% out of range and 6% of an unknown
// market, refused), some of them below what accounts have; the markets
// that the stream creates later
// created with a limit of one to four (30% of them out of range, under
// a name of their own: refused).
// Like FeeChanges, a stream without it is the stream of earlier
// releases, draw for draw.
func (g *Gen) OpenLimits() *Gen {
	g.limits = true
	return g
}

// limitChange returns a CmdSetMaxOpenOrders (see OpenLimits).
func (g *Gen) limitChange() engine.Command {
	c := engine.Command{Kind: engine.CmdSetMaxOpenOrders, Market: g.market()}
	n := &c.Spec.MaxOpenOrders
	switch k := g.intn(100); {
	case k < 6:
		c.Market, *n = uint32(len(g.markets)+1+int(g.intn(3))), 4 // unknown: refused
	case k < 14:
		*n = []int32{-1, engine.MaxOpenOrdersLimit + 1, math.MinInt32, math.MaxInt32}[g.intn(4)] // refused
	case k < 28:
		*n = 0 // none
	case k < 36:
		*n = 1
	case k < 42:
		*n = engine.MaxOpenOrdersLimit
	default:
		*n = int32(2 + g.intn(4))
	}
	return c
}

// bandChange returns a CmdSetPriceBand (see PriceBands).
func (g *Gen) bandChange() engine.Command {
	c := engine.Command{Kind: engine.CmdSetPriceBand, Market: g.market()}
	bps := &c.Spec.PriceBandBps
	switch k := g.intn(100); {
	case k < 6:
		c.Market, *bps = uint32(len(g.markets)+1+int(g.intn(3))), 100 // unknown: refused
	case k < 14:
		*bps = []int32{-1, engine.MaxPriceBandBps + 1, math.MinInt32, math.MaxInt32}[g.intn(4)] // refused
	case k < 26:
		*bps = 0 // none
	case k < 32:
		*bps = 1
	case k < 38:
		*bps = engine.MaxPriceBandBps
	default:
		*bps = 100
		if uint64(c.Market) <= uint64(len(g.markets)) {
			*bps = g.narrowBand(&g.markets[c.Market-1])
		}
	}
	return c
}

// narrowBand returns a band of one to eight steps of m's prices around
// its mid, half the time exactly a whole number of them.
func (g *Gen) narrowBand(m *mkt) int32 {
	unit := max(m.step*10000/m.mid, 1) // one step, in bps
	bps := unit * (1 + g.intn(8))
	if g.pct(50) {
		bps += g.intn(unit)
	}
	return int32(min(bps, engine.MaxPriceBandBps))
}

// bandBounds returns the bounds of band bps around reference price ref >
// 0 on ticks of tick, as package engine computes them (see its doc, Price
// bands).
func bandBounds(bps int32, tick, ref int64) (lo, hi int64) {
	// ref < 2^63 and the factors ≤ 20000: the high words are below 10000.
	h, l := bits.Mul64(uint64(ref), uint64(10000+bps))
	q, _ := bits.Div64(h, l, 10000)
	hi = int64(min(q, math.MaxInt64)) / tick * tick
	h, l = bits.Mul64(uint64(ref), uint64(10000-bps))
	q, r := bits.Div64(h, l, 10000)
	if r != 0 {
		q++
	}
	lo = (int64(q) + tick - 1) / tick * tick
	return max(lo, tick), hi
}

// banded returns the price of an order on side of market m held to its
// band around ref (see PriceBands): often one at or near the band's
// edges, else p.
func (g *Gen) banded(m *mkt, side book.Side, ref, p int64) int64 {
	if !g.bands || m.band == 0 || ref <= 0 || !g.pct(60) {
		return p
	}
	tick := m.rules.TickSize
	lo, hi := bandBounds(m.band, tick, ref)
	if hi < lo {
		return p
	}
	edge, out := hi, int64(1) // the aggressive edge, and beyond it
	if side == book.Sell {
		edge, out = lo, -1
	}
	switch k := g.intn(100); {
	case k < 30:
		return edge
	case k < 45:
		return edge + out*tick*(1+g.intn(3)) // refused
	case k < 85:
		return lo + g.intn((hi-lo)/tick+1)*tick
	default:
		return edge - out*(hi-lo) - out*m.step*(1+g.intn(10)) // passive
	}
}

// Next returns the stream's next command, Seq and Time unset.
func (g *Gen) Next() engine.Command {
	g.n++
	if g.fees && g.pct(2) {
		return g.feeChange()
	}
	if g.freezes && g.pct(1) {
		return g.freeze()
	}
	if g.gtd && g.pct(2) {
		return engine.Command{Kind: engine.CmdTick} // expiries only
	}
	if g.causes && g.pct(1) {
		return g.cancelAll()
	}
	if g.bands && g.pct(2) {
		return g.bandChange()
	}
	if g.limits && g.pct(2) {
		return g.limitChange()
	}
	if g.pct(1) && g.intn(2) == 0 {
		// The market moves: its orders center on another price, up to
		// 40% away from where it started, so that positions lose and
		// stop-losses trigger.
		i := g.intn(int64(len(g.markets)))
		m := &g.markets[i]
		base := specs[min(i, int64(len(specs)-1))].m.mid
		m.mid = base / 10 * (6 + g.intn(9)) / m.rules.TickSize * m.rules.TickSize
		m.mid = max(m.mid, 21*m.step)
	}
	k := g.intn(1000)
	switch {
	case k < 560:
		return g.place()
	case k < 660:
		return g.cancel()
	case k < 750:
		return g.amend()
	case k < 760:
		return g.cancelAll()
	case k < 800:
		return g.transfer(engine.CmdDeposit)
	case k < 840:
		return g.transfer(engine.CmdWithdraw)
	case k < 852:
		kind := engine.CmdResumeMarket
		if g.pct(10) {
			kind = engine.CmdHaltMarket
		}
		return engine.Command{Kind: kind, Market: g.market()}
	case k < 980:
		return g.copy()
	default:
		return g.misc()
	}
}

// feeChange returns a CmdSetMarketFees (see FeeChanges).
func (g *Gen) feeChange() engine.Command {
	c := engine.Command{Kind: engine.CmdSetMarketFees, Market: g.market()}
	sp := &c.Spec
	sp.MakerFeeBps, sp.TakerFeeBps = int32(g.intn(50)), int32(g.intn(80))
	switch g.intn(20) {
	case 0, 1:
		sp.TakerFeeBps = engine.MaxFeeBps
	case 2:
		sp.MakerFeeBps = engine.MaxFeeBps
	case 3:
		sp.TakerFeeBps = []int32{-1, engine.MaxFeeBps + 1}[g.intn(2)] // refused
	}
	return c
}

// cancelAll returns a CmdCancelAll, with a cause if Causes.
func (g *Gen) cancelAll() engine.Command {
	c := engine.Command{Kind: engine.CmdCancelAll, Account: g.account(), Market: g.market()}
	if !g.causes {
		return c
	}
	switch k := g.intn(20); {
	case k < 6: // none: on request
	case k < 12:
		c.Cause = book.ReasonCancelAllAfter
	case k < 18:
		c.Cause = book.ReasonDisconnect
	default: // refused
		c.Cause = []book.Reason{book.ReasonCancelled, book.ReasonExpired, book.ReasonSelfTrade,
			book.ReasonAccountFrozen, 200}[g.intn(5)]
	}
	return c
}

// expiry draws the expiry of place c (see GTD): usually none, else one
// some commands ahead of the last observed time, rarely one that is
// refused.
func (g *Gen) expiry(c *engine.Command) {
	step := max(g.step, 1)
	o := &c.Order
	if o.TIF != book.GTC || (o.Type != book.Limit && o.Type != book.StopLimit) {
		if g.pct(4) {
			c.ExpireAt = g.now + step*(1+g.intn(1000)) // refused: book.ErrInvalidTIF
		}
		return
	}
	if !g.pct(40) {
		return
	}
	// ahead(n) expires at the nth command after the last observed one
	// (n > 1: the place itself is the first), half the time at exactly
	// its time.
	ahead := func(n int64) int64 {
		at := g.now + step*n
		if g.pct(50) {
			at -= g.intn(step)
		}
		return at
	}
	switch k := g.intn(100); {
	case k < 35:
		c.ExpireAt = ahead(2 + g.intn(60))
	case k < 75:
		c.ExpireAt = ahead(60 + g.intn(1000))
	case k < 82:
		c.ExpireAt = ahead(1000 + g.intn(20_000)) // often after the stream's end
	case k < 84:
		c.ExpireAt = math.MaxInt64 // never
	case k < 94:
		// On a coarse grid: orders placed near each other share the
		// time, and expire at one command in order of id.
		grid := 1024 * step
		c.ExpireAt = (g.now/grid + 1 + g.intn(2)) * grid
		if c.ExpireAt <= g.now+step {
			c.ExpireAt += grid
		}
	case k < 96:
		c.ExpireAt = g.now - step*g.intn(3) // past: refused
	case k < 98:
		c.ExpireAt = g.now + step // the command's own time (if times advance evenly): refused
	default:
		c.ExpireAt = []int64{-1, -g.now - step*100, math.MinInt64}[g.intn(3)] // refused
	}
}

// freeze returns a CmdSetAccountFrozen (see Freezes).
func (g *Gen) freeze() engine.Command {
	c := engine.Command{Kind: engine.CmdSetAccountFrozen, Account: g.account(), Frozen: g.pct(30)}
	if g.pct(5) {
		c.Account = uint64(len(g.accounts) + 100) // unknown: refused
	}
	return c
}

// account returns a user account, a leader more often than the others.
func (g *Gen) account() uint64 {
	if g.pct(35) {
		return uint64(1 + g.intn(2))
	}
	return g.accounts[g.intn(int64(len(g.accounts)))]
}

// market returns a market id, at times one that does not exist.
func (g *Gen) market() uint32 {
	if g.pct(1) {
		if g.pct(30) {
			return 1<<31 + uint32(g.intn(3)) // negative as a 32-bit int
		}
		return uint32(len(g.markets) + 1 + int(g.intn(3)))
	}
	return uint32(1 + g.intn(int64(len(g.markets))))
}

func (g *Gen) price(m *mkt) int64 {
	p := m.mid + (g.intn(41)-20)*m.step
	if g.pct(1) {
		p = m.rules.MaxPrice / m.rules.TickSize * m.rules.TickSize // the highest
	}
	return p
}

func (g *Gen) qty(m *mkt) int64 {
	q := m.lot * (1 + g.intn(m.lots))
	if g.pct(1) {
		q = m.rules.MaxQty / m.lot * m.lot // the largest
	}
	return q
}

func (g *Gen) place() engine.Command {
	if len(g.places) > 0 && g.pct(3) {
		// A resend of a recent place, client order id and all: a
		// duplicate if it still has its id, else a new order.
		return g.places[g.intn(int64(len(g.places)))]
	}
	mi := g.market()
	c := engine.Command{Kind: engine.CmdPlace, Account: g.account(), Market: mi}
	if uint64(mi) > uint64(len(g.markets)) {
		c.Order = book.Order{Side: book.Buy, Price: 100, Qty: 1}
		return c
	}
	m := &g.markets[mi-1]
	side := book.Side(g.intn(2))
	o := book.Order{Side: side, Price: g.price(m), Qty: g.qty(m), STP: book.STPMode(g.intn(4))}
	k := g.intn(100)
	switch {
	case k < 55:
		o.TIF = book.TimeInForce(g.intn(3))
		if g.pct(60) {
			o.TIF = book.GTC
		}
		if o.TIF == book.GTC {
			o.PostOnly = g.pct(8)
			if g.pct(12) {
				o.DisplayQty = max(o.Qty/(2+g.intn(4))/m.lot*m.lot, m.lot) // an iceberg
			}
		}
		o.Price = g.banded(m, side, m.last, o.Price)
	case k < 72:
		o.Type, o.Price = book.Market, 0
		if g.pct(30) {
			o.Price = g.price(m) // protection price
		}
		if g.pct(20) {
			o.TIF = book.FOK
		}
		if side == book.Buy && g.pct(50) {
			o.QuoteBudget = m.mid * m.quoteScale * m.lot * (1 + g.intn(m.lots))
			if g.pct(60) && o.TIF != book.FOK {
				o.Qty = 0
			}
		}
	case k < 84:
		o.Type, o.StopPrice = book.StopLimit, g.price(m)
		if g.pct(20) {
			o.TIF = book.IOC
		}
		if g.pct(10) {
			o.DisplayQty = min(m.lot, o.Qty)
		}
		o.Price = g.banded(m, side, o.StopPrice, o.Price)
	case k < 92:
		o.Type, o.StopPrice, o.Price = book.StopMarket, g.price(m), 0
		switch {
		case side == book.Buy && g.pct(50):
			o.QuoteBudget, o.Qty = m.mid*m.quoteScale*m.lot*(1+g.intn(m.lots)), 0
		case side == book.Buy && g.pct(80):
			o.Price = g.price(m) // a protection price (else refused: no limit)
		}
	default: // invalid in some way
		switch g.intn(6) {
		case 0:
			o.Price += m.rules.TickSize / 2
			if m.rules.TickSize == 1 {
				o.Price = -1
			}
		case 1:
			o.Qty = 0
		case 2:
			o.Qty = -m.lot
		case 3:
			o.Side = 2
		case 4:
			o.Type = 9
		default:
			o.DisplayQty = o.Qty + m.lot
		}
	}
	c.Order = o
	if g.pct(30) {
		c.Ref = ref(fmt.Sprint("o", g.intn(1000)))
	}
	if g.gtd && k < 92 {
		g.expiry(&c)
	}
	if len(g.places) == 64 {
		g.places = append(g.places[:0], g.places[16:]...)
	}
	g.places = append(g.places, c)
	return c
}

// order returns a recent order (its account, at times another's) or an
// id none has.
func (g *Gen) order() placed {
	if len(g.orders) == 0 || g.pct(3) {
		return placed{id: uint64(1 + g.intn(1<<20)), account: g.account()}
	}
	p := g.orders[len(g.orders)-1-int(g.intn(int64(len(g.orders))))]
	if g.pct(5) {
		p.account = g.account()
	}
	return p
}

func (g *Gen) cancel() engine.Command {
	p := g.order()
	c := engine.Command{Kind: engine.CmdCancel, Account: p.account, OrderID: p.id}
	if !p.ref.IsZero() && g.pct(40) {
		c.OrderID, c.Ref = 0, p.ref // by client order id
	}
	return c
}

func (g *Gen) amend() engine.Command {
	p := g.order()
	c := engine.Command{Kind: engine.CmdAmend, Account: p.account, OrderID: p.id}
	if !p.ref.IsZero() && g.pct(30) {
		c.OrderID, c.Ref = 0, p.ref
	}
	if p.market < 1 || uint64(p.market) > uint64(len(g.markets)) {
		p.market = 1
	}
	m := &g.markets[p.market-1]
	c.Order.Price, c.Order.Qty = g.price(m), g.qty(m)
	if g.bands {
		c.Order.Price = g.banded(m, p.side, m.last, c.Order.Price)
		if p.price > 0 && g.pct(10) {
			c.Order.Price = p.price // as placed: not held to the band
		}
	}
	if g.pct(50) {
		c.Kind = engine.CmdAmendTotal
		switch g.intn(4) {
		case 0:
			c.Order.Price = 0 // keep the price
		case 1:
			c.Order.Qty = 0 // keep the open quantity
		}
	}
	return c
}

func (g *Gen) transfer(kind engine.CommandKind) engine.Command {
	if len(g.sent) > 0 && g.pct(10) {
		return g.sent[g.intn(int64(len(g.sent)))] // a resend
	}
	c := engine.Command{Kind: kind, Account: g.account(), Asset: uint32(1 + g.intn(4))}
	if g.pct(1) {
		c.Asset = 1 << 31
	}
	switch k := g.intn(100); {
	case k < 60:
		c.Amount = 1000
	case k < 90:
		c.Amount = g.intn(1 << 40)
	case k < 97:
		c.Amount = math.MaxInt64 - g.intn(1<<20) // a deposit overflows
	default:
		c.Amount = -g.intn(10)
	}
	if g.pct(75) {
		c.Ref = ref(fmt.Sprint("t", g.intn(60)))
	}
	if kind == engine.CmdWithdraw && g.pct(10) {
		c.Account = engine.FeeAccount
	}
	if len(g.sent) == 32 {
		g.sent = append(g.sent[:0], g.sent[8:]...)
	}
	g.sent = append(g.sent, c)
	return c
}

func (g *Gen) copy() engine.Command {
	acct := g.accounts[2+g.intn(int64(len(g.accounts)-2))]
	rel := uint64(1 + g.intn(int64(len(g.rels))+1))
	if len(g.rels) > 0 && g.pct(85) {
		p := g.rels[len(g.rels)-1-int(g.intn(int64(min(len(g.rels), 12))))]
		rel, acct = p.id, p.account
	}
	sp := engine.CopySpec{Relation: rel, Leader: uint64(1 + g.intn(3)), Mode: engine.CopyMode(1 + g.intn(3)),
		SlippageBps: int32(g.intn(310)), StopLossBps: int32(g.intn(5)) * 1500,
		Close: engine.ClosePolicy(g.intn(2)), ProfitShareBps: int32(g.intn(3000))}
	switch sp.Mode {
	case engine.CopyProportional:
		sp.Value = 1 + g.intn(2*engine.ValueOne)
	case engine.CopyFixedQuote:
		sp.Value = g.intn(1 << 40)
	case engine.CopyMultiplier:
		sp.Value = g.intn(3 * engine.ValueOne)
	}
	if g.pct(25) {
		sp.MaxOrderQuote = g.intn(1 << 36)
	}
	c := engine.Command{Account: acct, Asset: USDT, Copy: sp}
	switch k := g.intn(100); {
	case k < 30:
		c.Kind, c.Amount = engine.CmdFollow, g.intn(1<<44)
		if g.pct(10) {
			c.Asset = BTC // mirrors only on ETH-BTC
		}
		if g.pct(30) {
			c.Copy.HasMaxProfitShare, c.Copy.MaxProfitShareBps = true, int32(g.intn(5200))
		}
	case k < 40:
		c.Kind, c.Amount = engine.CmdAmendFollow, g.intn(1<<36)
	case k < 52:
		c.Kind = engine.CmdPauseFollow
	case k < 66:
		c.Kind = engine.CmdResumeFollow
	case k < 78:
		c.Kind = engine.CmdUnfollow
		if g.pct(3) {
			c.Copy.Close = 2 // invalid
		}
	case k < 92:
		c.Kind, c.Account = engine.CmdSettle, 0
		if g.pct(30) {
			c.Account = uint64(1 + g.intn(4)) // 3 and 4: not leaders
		}
	default:
		c.Kind, c.Account = engine.CmdSetLeaderProfile, uint64(1+g.intn(2))
		if g.pct(10) {
			c.Account = acct // a follower: refused; else a new leader
		}
	}
	return c
}

func (g *Gen) misc() engine.Command {
	switch g.intn(8) {
	case 0:
		return engine.Command{Kind: engine.CmdCreateAccount, Name: name(fmt.Sprint("new", g.intn(1000)))}
	case 1:
		s := specs[4]
		if g.pct(30) {
			s = specs[g.intn(4)] // a duplicate name
		}
		if g.pct(20) {
			s.spec.QuoteScale = 1 << 30 // overflows: refused
		}
		if g.bands {
			s.spec.PriceBandBps = g.narrowBand(&s.m)
			if g.pct(30) {
				// Refused for the band, not as a duplicate.
				s.name, s.spec.PriceBandBps = "BAND-ETH", []int32{-1, engine.MaxPriceBandBps + 1}[g.intn(2)]
			}
		}
		if g.limits {
			s.spec.MaxOpenOrders = int32(1 + g.intn(4))
			if g.pct(30) {
				// Refused for the limit, not as a duplicate.
				s.name, s.spec.MaxOpenOrders = "OPEN-ETH", []int32{-1, engine.MaxOpenOrdersLimit + 1}[g.intn(2)]
			}
		}
		return engine.Command{Kind: engine.CmdCreateMarket, Name: name(s.name), Spec: s.spec}
	case 2:
		return engine.Command{Kind: engine.CmdTick}
	case 3:
		return engine.Command{Kind: engine.CmdSnapshot}
	case 4:
		return engine.Command{Kind: engine.CommandKind(200)} // unknown kind
	case 5:
		return engine.Command{Kind: engine.CmdCreateAsset, Name: name("BTC")} // a duplicate
	default:
		// An account that does not exist.
		return engine.Command{Kind: engine.CmdPlace, Account: 1 << 40, Market: 1,
			Order: book.Order{Side: book.Buy, Price: 1000, Qty: 1}}
	}
}
