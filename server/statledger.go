package server

import (
	"slices"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/fixed"
)

// The ledger of leaderStats: how results move money, and what it is worth.

// command applies the money moves and registrations of an accepted cmd.
func (ls *leaderStats) command(cmd *engine.Command, res *engine.Result) {
	st := &ls.st
	switch cmd.Kind {
	case engine.CmdCreateAsset:
		st.Assets = grow(st.Assets, int(res.ID))
		st.Assets[res.ID-1] = cmd.Name
	case engine.CmdCreateMarket:
		st.Markets = grow(st.Markets, int(res.ID))
		sp := &cmd.Spec
		st.Markets[res.ID-1] = statMarket{Base: sp.Base, Quote: sp.Quote, BaseScale: sp.BaseScale, QuoteScale: sp.QuoteScale}
		// The relations' indexes do not change: the save's copy stays
		// incremental.
		ls.indexMarkets()
		for _, l := range st.Leaders { // each on its own: the order does not matter
			if l.Val == 0 {
				ls.incept(l)
			}
		}
	case engine.CmdDeposit, engine.CmdWithdraw:
		if cmd.Account == engine.FeeAccount {
			// The exchange withdrawing fees: the ledger never credits
			// it fees, so it would hold the withdrawal as a negative
			// balance. It is no trader: no entry.
			return
		}
		amt := cmd.Amount
		if cmd.Kind == engine.CmdWithdraw {
			amt = -amt
		}
		ls.leaderFlow(cmd.Account, cmd.Asset, amt)
		ls.touch(statKey{false, cmd.Account})
	case engine.CmdSetLeaderProfile:
		if st.Leaders[cmd.Account] == nil {
			l := &statLeader{Account: cmd.Account, LastNPU: 1, Pos: map[uint32]*statPos{}}
			st.Leaders[cmd.Account] = l
			ls.incept(l)
			for _, r := range st.Relations { // none, unless it led before a restore without stats
				if r.Leader == cmd.Account {
					l.Rels = append(l.Rels, r.ID)
				}
			}
			slices.Sort(l.Rels)
			if len(l.Rels) == 0 {
				// The usual case: its index is empty, nothing else
				// changes, and the save's copy stays incremental (it
				// copies every leader).
				ls.lrels[cmd.Account] = newLeaderRels()
			} else {
				ls.indexRels()
			}
		}
	case engine.CmdFollow:
		r := &statRelation{ID: res.ID, Follower: cmd.Account, Leader: cmd.Copy.Leader, Asset: cmd.Asset,
			Units: float64(cmd.Amount), LastNPU: 1, In: cmd.Amount}
		addBal(&r.Bal, cmd.Asset, cmd.Amount)
		addBal(&ls.account(cmd.Account).Bal, cmd.Asset, -cmd.Amount)
		st.Relations[r.ID] = r
		ls.addFollowerRel(r.Follower, r.ID)
		ls.relOpened(r)
		if l := st.Leaders[r.Leader]; l != nil {
			l.Rels = append(l.Rels, r.ID)
		}
		ls.touch(statKey{true, r.ID})
	case engine.CmdAmendFollow:
		r := ls.relation(cmd.Copy.Relation)
		if r == nil || cmd.Amount <= 0 {
			return
		}
		before := ls.relNAV(r)
		addBal(&r.Bal, r.Asset, cmd.Amount)
		ls.relFlow(r, before)
		addBal(&ls.account(r.Follower).Bal, r.Asset, -cmd.Amount)
		r.In += cmd.Amount
		ls.touch(statKey{true, r.ID})
	}
}

// incept chooses l's valuation asset, if it can, and gives it its first
// units at NAV per unit 1.
func (ls *leaderStats) incept(l *statLeader) {
	if l.Val = ls.valuation(l.Account); l.Val == 0 {
		return
	}
	l.Units, l.LastNPU = float64(max(ls.leaderNAV(l), 0)), 1
	ls.touch(statKey{false, l.Account})
}

// valuation returns the asset to value account acct's NAV in (0 while no
// market exists): of the assets some market quotes, the first by
//
//  1. the account's own (it holds some, or its last trade was quoted in
//     it) that is not the base of a market quoted in another of its own
//     (USDT before BTC for an account holding both, with BTC-USDT);
//  2. the base of no market (USDT before BTC, with BTC-USDT);
//  3. the most markets quoted;
//  4. the lowest id.
func (ls *leaderStats) valuation(acct uint64) uint32 {
	st := &ls.st
	a := ls.account(acct)
	own := func(asset uint32) bool {
		return asset == a.LastQuote || (int(asset) <= len(a.Bal) && a.Bal[asset-1] != 0)
	}
	quotes := make([]int, len(st.Assets)+1) // by asset: markets it quotes
	isBase := make([]bool, len(st.Assets)+1)
	dominated := make([]bool, len(st.Assets)+1) // base of a market quoted in another own asset
	for _, m := range st.Markets {
		if m.Base == 0 || int(max(m.Base, m.Quote)) >= len(quotes) {
			continue
		}
		quotes[m.Quote]++
		isBase[m.Base] = true
		if own(m.Quote) && m.Quote != m.Base {
			dominated[m.Base] = true
		}
	}
	var best uint32
	var bestKey [3]int
	for id := 1; id < len(quotes); id++ {
		if quotes[id] == 0 {
			continue
		}
		key := [3]int{0, 0, quotes[id]}
		if own(uint32(id)) && !dominated[id] {
			key[0] = 1
		}
		if !isBase[id] {
			key[1] = 1
		}
		if best == 0 || slices.Compare(key[:], bestKey[:]) > 0 {
			best, bestKey = uint32(id), key
		}
	}
	return best
}

// rescale returns the units of a NAV that a flow (a deposit, a
// withdrawal, income: not a return) moved from before to after, so that
// the NAV per unit stays as it was: units × after ÷ before, computed from
// the integer NAVs, so that no cancellation loses precision. Without
// units or NAV before, units are issued at lastNPU, the NAV per unit in
// force when they were last positive; without NAV after, there are none.
func rescale(units float64, before, after int64, lastNPU float64) float64 {
	switch {
	case after <= 0:
		return 0
	case units > 0 && before > 0:
		return units * (float64(after) / float64(before))
	}
	return float64(after) / max(lastNPU, 1e-9)
}

// leaderFlow adds v of asset to account acct's holdings; if the account
// leads, its units follow (rescale), so that its NAV per unit does not
// move.
func (ls *leaderStats) leaderFlow(acct uint64, asset uint32, v int64) {
	a := ls.account(acct)
	l := ls.st.Leaders[acct]
	if l == nil || l.Val == 0 {
		addBal(&a.Bal, asset, v)
		return
	}
	before := ls.leaderNAV(l)
	addBal(&a.Bal, asset, v)
	ls.leaderRescale(l, before)
	if v < 0 {
		ls.capPositions(l, asset)
	}
}

// capPositions keeps leader l's positions in the markets whose base is
// asset within its holdings of it, after they fell otherwise than by a
// sale the position covers (a withdrawal, a sale in another market of
// the base, a purchase paid with it): without it, a position would keep base the leader no longer
// has, and its PnL would move with a price the leader is not exposed to.
// The excess leaves the positions, lowest market id first, with its
// share of their cost, as if sold at its market's last price without a
// fee: what it gained or lost since it was bought is realized, so the
// leader's PnL does not jump when base leaves, and a position left flat
// that way ends its round trip, counted as a sale would count it (a
// leader who withdrew a losing position's coins would otherwise drop the
// loss from its PnL and its win rate).
func (ls *leaderStats) capPositions(l *statLeader, asset uint32) {
	held := int64(0)
	if bal := ls.account(l.Account).Bal; int(asset) <= len(bal) {
		held = bal[asset-1]
	}
	excess := -max(held, 0)
	for id, p := range l.Pos {
		if ls.st.Markets[id-1].Base == asset {
			excess += p.Units
		}
	}
	for i := range ls.st.Markets {
		p := l.Pos[uint32(i+1)]
		if excess <= 0 {
			return
		}
		if p == nil || p.Units == 0 || ls.st.Markets[i].Base != asset {
			continue
		}
		m := &ls.st.Markets[i]
		out := min(p.Units, excess)
		cost := fixed.MulDiv(p.Cost, out, p.Units)
		realized := fixed.MulDiv(out, fixed.MulSat(m.Last, m.QuoteScale), m.BaseScale) - cost
		p.Units -= out
		p.Cost -= cost
		p.Realized += realized
		p.Trip += realized
		excess -= out
		if p.Units == 0 {
			l.Trips++
			if p.Trip > 0 {
				l.Wins++
			}
			p.Trip = 0
		}
	}
}

// leaderRescale rescales the units of leader l, whose NAV was before,
// for a flow.
func (ls *leaderStats) leaderRescale(l *statLeader, before int64) {
	if l.Units > 0 && before > 0 {
		l.LastNPU = float64(before) / l.Units
	}
	l.Units = rescale(l.Units, before, ls.leaderNAV(l), l.LastNPU)
}

// income adds profit share v of asset, received by account acct: if it
// leads, a flow (leaderFlow), counted in its Income at its value then.
func (ls *leaderStats) income(acct uint64, asset uint32, v int64) {
	if l := ls.st.Leaders[acct]; l != nil {
		l.Income += ls.value(asset, v, l.Val)
	}
	ls.leaderFlow(acct, asset, v)
}

// relFlow rescales the units of open relation r, whose NAV was before,
// for a flow into its wallet.
func (ls *leaderStats) relFlow(r *statRelation, before int64) {
	if r.Units > 0 && before > 0 {
		r.LastNPU = float64(before) / r.Units
	}
	r.Units = rescale(r.Units, before, ls.relNAV(r), r.LastNPU)
}

// trade applies one fill to both sides' holdings, and to the position of
// a side that leads.
func (ls *leaderStats) trade(ev *engine.Event) {
	st := &ls.st
	if ev.Market == 0 || int(ev.Market) > len(st.Markets) {
		return
	}
	m := &st.Markets[ev.Market-1]
	if m.Last == 0 && ls.pairs[[2]uint32{m.Base, m.Quote}] == ev.Market {
		ls.firstPrice(m, ev.Price)
	}
	m.Last = ev.Price
	base := ev.Qty * m.BaseScale
	n := ev.Price * ev.Qty * m.QuoteScale // bounded by the market's rules
	// The taker: a relation's wallet for a mirrored order (which never
	// rests, so is never the maker).
	if r := ls.relation(ev.Relation); ev.Relation != 0 && r != nil {
		moveTrade(&r.Bal, m, ev.Side, base, n, ev.TakerFee)
		ls.touch(statKey{true, r.ID})
	} else if ev.Relation == 0 {
		ls.side(ev.Owner, ev.Market, ev.Side, base, n, ev.TakerFee)
	}
	ls.side(ev.MakerOwner, ev.Market, ev.Side.Opposite(), base, n, ev.MakerFee)
}

// firstPrice sets the first price of m, which values assets (it is the
// first market trading its pair): what it values was worth 0 so far, so
// every leader and open relation whose NAV it changes gets units for the
// change (rescale), as if it deposited it then: an asset that gets a
// price makes no return.
func (ls *leaderStats) firstPrice(m *statMarket, price int64) {
	st := &ls.st
	type change struct {
		l      *statLeader
		r      *statRelation
		before int64
	}
	var changes []change
	for _, l := range st.Leaders {
		if l.Val != 0 {
			changes = append(changes, change{l: l, before: ls.leaderNAV(l)})
		}
	}
	for _, r := range st.Relations {
		if !r.Closed {
			changes = append(changes, change{r: r, before: ls.relNAV(r)})
		}
	}
	m.Last = price
	for _, c := range changes {
		switch {
		case c.l != nil && ls.leaderNAV(c.l) != c.before:
			ls.leaderRescale(c.l, c.before)
		case c.r != nil && ls.relNAV(c.r) != c.before:
			ls.relFlow(c.r, c.before)
		}
	}
}

// side applies one side of a trade to a user account.
func (ls *leaderStats) side(acct uint64, market uint32, side book.Side, base, n, fee int64) {
	m := &ls.st.Markets[market-1]
	a := ls.account(acct)
	moveTrade(&a.Bal, m, side, base, n, fee)
	a.LastQuote = m.Quote
	l := ls.st.Leaders[acct]
	if l == nil {
		return
	}
	if l.Val == 0 {
		ls.incept(l)
	}
	ls.touch(statKey{false, acct})
	p := l.Pos[market]
	if p == nil {
		p = &statPos{}
		l.Pos[market] = p
	}
	if side == book.Buy {
		p.Units += base
		p.Cost += n + fee
		ls.capPositions(l, m.Quote) // the quote paid may be the base of other positions
		return
	}
	covered := min(base, p.Units)
	if covered == 0 {
		ls.capPositions(l, m.Base) // no cost basis here: no PnL, but maybe in other markets
		return
	}
	cost := p.Cost
	if covered < p.Units {
		cost = fixed.MulDiv(p.Cost, covered, p.Units)
	}
	realized := fixed.MulDiv(n-fee, covered, base) - cost
	p.Units -= covered
	p.Cost -= cost
	p.Realized += realized
	p.Trip += realized
	if p.Units == 0 {
		l.Trips++
		if p.Trip > 0 {
			l.Wins++
		}
		p.Trip = 0
	}
	ls.capPositions(l, m.Base) // positions in other markets of the base
}

// moveTrade moves base and quote (n notional, fee) of one trade side.
func moveTrade(bal *[]int64, m *statMarket, side book.Side, base, n, fee int64) {
	if side == book.Buy {
		addBal(bal, m.Base, base)
		addBal(bal, m.Quote, -n-fee)
	} else {
		addBal(bal, m.Base, -base)
		addBal(bal, m.Quote, n-fee)
	}
}

// close ends relation id, for reason, returned its quote returned: its
// NAV is what the follower got back, and the wallet's holdings move to
// the follower.
func (ls *leaderStats) close(id uint64, returned int64, reason engine.CopyReason) {
	r := ls.st.Relations[id]
	if r == nil || r.Closed {
		return
	}
	nav := ls.relNAV(r)
	r.LastNPU = ls.relNPU(r)
	r.Out += nav
	r.Returned = returned
	r.Hist.record(statPoint{T: ls.st.Now, NPU: r.LastNPU, PnL: r.Out - r.In}, relationTiers)
	f := ls.account(r.Follower)
	for i, v := range r.Bal {
		addBal(&f.Bal, uint32(i+1), v)
	}
	r.ReturnedBal, r.ReturnedKnown, r.CloseReason = r.Bal, true, reason
	r.Bal, r.Units, r.Closed, r.ClosedAt = nil, 0, true, ls.st.Now
	ls.relClosed(r)
}

// touch marks series k for sampling at the end of the result.
func (ls *leaderStats) touch(k statKey) {
	if !ls.mark[k] {
		ls.mark[k] = true
		ls.dirty = append(ls.dirty, k)
	}
}

// sample records a point in every touched series.
func (ls *leaderStats) sample() {
	now := ls.st.Now
	for _, k := range ls.dirty {
		delete(ls.mark, k)
		if k.rel {
			if r := ls.st.Relations[k.id]; r != nil && !r.Closed {
				npu := ls.relNPU(r)
				r.LastNPU = npu
				r.Hist.record(statPoint{T: now, NPU: npu, PnL: ls.relNAV(r) + r.Out - r.In}, relationTiers)
			}
			continue
		}
		if l := ls.st.Leaders[k.id]; l != nil && l.Val != 0 {
			npu := ls.npu(l)
			if l.Units > 0 {
				l.LastNPU = npu
			}
			l.Hist.record(statPoint{T: now, NPU: npu, PnL: ls.pnl(l), Trips: l.Trips, Wins: l.Wins, Income: l.Income}, leaderTiers)
		}
	}
	ls.dirty = ls.dirty[:0]
}

// relation returns relation id (nil if unknown) for apply to change. A
// closed relation does not change, but if the caller changes one, the
// next save copies it again (closedRels).
func (ls *leaderStats) relation(id uint64) *statRelation {
	r := ls.st.Relations[id]
	if r != nil && r.Closed {
		ls.closedRels = append(ls.closedRels, id)
	}
	return r
}

// account returns the holdings of account id, created if need be.
func (ls *leaderStats) account(id uint64) *statAccount {
	a := ls.st.Accounts[id]
	if a == nil {
		a = &statAccount{}
		ls.st.Accounts[id] = a
	}
	if !a.changed { // the caller may change it: the next save copies it
		a.changed = true
		ls.changedAccts = append(ls.changedAccts, id)
	}
	return a
}

// addBal adds v to the holding of asset in bal.
func addBal(bal *[]int64, asset uint32, v int64) {
	if asset == 0 {
		return
	}
	*bal = grow(*bal, int(asset))
	(*bal)[asset-1] += v
}

// grow returns s with at least n elements.
func grow[T any](s []T, n int) []T {
	if len(s) < n {
		s = append(s, make([]T, n-len(s))...)
	}
	return s
}

// value returns units of asset in asset val at the last trade prices
// along the conversion path from asset to val (convert); 0 without one,
// or while a market on it has no price.
func (ls *leaderStats) value(asset uint32, units int64, val uint32) int64 {
	v, _ := ls.convert(asset, units, val)
	return v
}

// convert returns units of asset in asset val and whether it could: a
// path from asset to val exists (statHop) and every market on it has a
// price.
func (ls *leaderStats) convert(asset uint32, units int64, val uint32) (int64, bool) {
	switch {
	case asset == val:
		return units, true
	case units == 0:
		return 0, true
	case val == 0 || asset == 0:
		return 0, false
	}
	path, ok := ls.paths[[2]uint32{asset, val}]
	if !ok {
		return 0, false
	}
	for _, h := range path {
		m := &ls.st.Markets[h.market-1]
		if m.Last == 0 {
			return 0, false
		}
		if h.rev { // quote → base
			units = signed(units, func(u int64) int64 { return fixed.MulDiv(u, m.BaseScale, fixed.MulSat(m.Last, m.QuoteScale)) })
		} else { // base → quote
			units = signed(units, func(u int64) int64 { return fixed.MulDiv(u, fixed.MulSat(m.Last, m.QuoteScale), m.BaseScale) })
		}
	}
	return units, true
}

// statHop is one step of a conversion path: through a market, from its
// base to its quote at its last price, or (rev) back.
type statHop struct {
	market uint32
	rev    bool
}

// conversionPaths returns the path from every asset that has one to
// every asset some market quotes (the assets NAVs are valued in), found
// breadth first: the fewest hops; among paths as short, the one whose
// last hops are found first, base → quote hops before quote → base ones
// and markets by id. A one-hop path from a base to its quote is thus
// through the first market trading the pair, as the engine values
// relations.
func conversionPaths(markets []statMarket) map[[2]uint32][]statHop {
	// into[asset]: the hops into asset, by market id, each hop's from
	// asset with it.
	type edge struct {
		from uint32
		hop  statHop
	}
	into := map[uint32][]edge{}
	for i, m := range markets {
		if m.Base != 0 && m.Base != m.Quote {
			into[m.Quote] = append(into[m.Quote], edge{m.Base, statHop{uint32(i + 1), false}})
			into[m.Base] = append(into[m.Base], edge{m.Quote, statHop{uint32(i + 1), true}})
		}
	}
	paths := map[[2]uint32][]statHop{}
	done := map[uint32]bool{}
	for _, t := range markets {
		val := t.Quote
		if t.Base == 0 || done[val] {
			continue
		}
		done[val] = true
		for reached := []uint32{val}; len(reached) > 0; {
			var next []uint32
			for _, rev := range []bool{false, true} {
				for _, to := range reached {
					for _, e := range into[to] {
						if e.hop.rev != rev || e.from == val {
							continue
						}
						if _, ok := paths[[2]uint32{e.from, val}]; ok {
							continue
						}
						paths[[2]uint32{e.from, val}] = append([]statHop{e.hop}, paths[[2]uint32{to, val}]...)
						next = append(next, e.from)
					}
				}
			}
			reached = next
		}
	}
	return paths
}

// nav values holdings in asset val.
func (ls *leaderStats) nav(bal []int64, val uint32) int64 {
	var nav int64
	for i, v := range bal {
		nav += ls.value(uint32(i+1), v, val)
	}
	return nav
}

// leaderNAV returns leader l's NAV in its valuation asset. Readers call
// it (rowLocked): it looks the account up without account, which may
// add it and marks it changed.
func (ls *leaderStats) leaderNAV(l *statLeader) int64 {
	var bal []int64
	if a := ls.st.Accounts[l.Account]; a != nil {
		bal = a.Bal
	}
	return ls.nav(bal, l.Val)
}

func (ls *leaderStats) relNAV(r *statRelation) int64 { return ls.nav(r.Bal, r.Asset) }

// relValue is relation r's NAV as the engine values a relation (its
// State.nav, engine.RelationView.NAV): its asset, plus each other asset
// it holds at the last trade price of the first market, by id, with that
// asset as base and r's asset as quote (0 without one or without a
// price), rounded down, the sum saturated.
func (ls *leaderStats) relValue(r *statRelation) int64 {
	var nav int64
	for i, units := range r.Bal {
		asset := uint32(i + 1)
		switch {
		case units == 0:
		case asset == r.Asset:
			nav = fixed.SatAdd(nav, units)
		default:
			if id, ok := ls.pairs[[2]uint32{asset, r.Asset}]; ok {
				m := &ls.st.Markets[id-1]
				nav = fixed.SatAdd(nav, fixed.MulDiv(units, fixed.MulSat(m.Last, m.QuoteScale), m.BaseScale))
			}
		}
	}
	return nav
}

// npu returns a leader's NAV per unit.
func (ls *leaderStats) npu(l *statLeader) float64 {
	if l.Units <= 0 {
		return l.LastNPU
	}
	return float64(ls.leaderNAV(l)) / l.Units
}

// relNPU returns a relation's NAV per unit.
func (ls *leaderStats) relNPU(r *statRelation) float64 {
	if r.Closed || r.Units <= 0 {
		return r.LastNPU
	}
	return float64(ls.relNAV(r)) / r.Units
}

// pnl returns a leader's cumulative trading PnL in its valuation asset.
func (ls *leaderStats) pnl(l *statLeader) int64 {
	var sum int64
	for id, p := range l.Pos {
		m := &ls.st.Markets[id-1]
		v := fixed.MulDiv(p.Units, fixed.MulSat(m.Last, m.QuoteScale), m.BaseScale)
		sum += ls.value(m.Quote, p.Realized+v-p.Cost, l.Val)
	}
	return sum
}

// signed applies f, defined for non-negative values, to |v| with v's sign.
func signed(v int64, f func(int64) int64) int64 {
	if v < 0 {
		return -f(-v)
	}
	return f(v)
}

// mustName returns s as an engine name.
func mustName(s string) engine.Name {
	n, _ := engine.MakeName(s)
	return n
}
