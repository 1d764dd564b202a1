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
		ls.index()
	case engine.CmdDeposit, engine.CmdWithdraw:
		amt := cmd.Amount
		if cmd.Kind == engine.CmdWithdraw {
			amt = -amt
		}
		if l := st.Leaders[cmd.Account]; l != nil {
			v := ls.value(cmd.Asset, amt, l.Val)
			l.Units = flow(l.Units, ls.npu(l), float64(v))
		}
		addBal(&ls.account(cmd.Account).Bal, cmd.Asset, amt)
		if l := st.Leaders[cmd.Account]; l != nil && (l.Units <= 0 || ls.leaderNAV(l) <= 0) {
			l.Units = 0
		}
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
		}
	case engine.CmdFollow:
		r := &statRelation{ID: res.ID, Follower: cmd.Account, Leader: cmd.Copy.Leader, Asset: cmd.Asset,
			Units: float64(cmd.Amount), LastNPU: 1, In: cmd.Amount}
		addBal(&r.Bal, cmd.Asset, cmd.Amount)
		addBal(&ls.account(cmd.Account).Bal, cmd.Asset, -cmd.Amount)
		st.Relations[r.ID] = r
		if l := st.Leaders[r.Leader]; l != nil {
			l.Rels = append(l.Rels, r.ID)
		}
		ls.touch(statKey{true, r.ID})
	case engine.CmdAmendFollow:
		r := st.Relations[cmd.Copy.Relation]
		if r == nil || cmd.Amount <= 0 {
			return
		}
		r.Units = flow(r.Units, ls.relNPU(r), float64(cmd.Amount))
		addBal(&r.Bal, r.Asset, cmd.Amount)
		addBal(&ls.account(r.Follower).Bal, r.Asset, -cmd.Amount)
		r.In += cmd.Amount
		ls.touch(statKey{true, r.ID})
	}
}

// incept chooses l's valuation asset, if it can, and gives it its first
// units at NAV per unit 1.
func (ls *leaderStats) incept(l *statLeader) {
	st := &ls.st
	if q := ls.account(l.Account).LastQuote; q != 0 {
		l.Val = q
	} else if id := slices.Index(st.Assets, mustName("USDT")); id >= 0 {
		l.Val = uint32(id + 1)
	} else if len(st.Markets) > 0 {
		l.Val = st.Markets[0].Quote
	}
	if l.Val == 0 {
		return
	}
	l.Units, l.LastNPU = float64(max(ls.leaderNAV(l), 0)), 1
	ls.touch(statKey{false, l.Account})
}

// flow returns units after value (negative: out) moves in or out at npu.
func flow(units, npu, value float64) float64 {
	units += value / max(npu, 1e-9)
	return max(units, 0)
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
	if r := st.Relations[ev.Relation]; ev.Relation != 0 && r != nil {
		moveTrade(&r.Bal, m, ev.Side, base, n, ev.TakerFee)
		ls.touch(statKey{true, r.ID})
	} else if ev.Relation == 0 {
		ls.side(ev.Owner, ev.Market, ev.Side, base, n, ev.TakerFee)
	}
	ls.side(ev.MakerOwner, ev.Market, ev.Side.Opposite(), base, n, ev.MakerFee)
}

// firstPrice gives the holders of m's base, valued in m's quote and at 0
// so far, units for it at price, as if they deposited it: an asset that
// gets a price makes no return.
func (ls *leaderStats) firstPrice(m *statMarket, price int64) {
	value := func(bal []int64) float64 {
		if int(m.Base) > len(bal) {
			return 0
		}
		return float64(signed(bal[m.Base-1], func(u int64) int64 {
			return fixed.MulDiv(u, fixed.MulSat(price, m.QuoteScale), m.BaseScale)
		}))
	}
	for _, l := range ls.st.Leaders {
		if l.Val == m.Quote {
			if v := value(ls.account(l.Account).Bal); v != 0 {
				l.Units = flow(l.Units, ls.npu(l), v)
			}
		}
	}
	for _, r := range ls.st.Relations {
		if r.Asset == m.Quote && !r.Closed {
			if v := value(r.Bal); v != 0 {
				r.Units = flow(r.Units, ls.relNPU(r), v)
			}
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
		return
	}
	covered := min(base, p.Units)
	if covered == 0 {
		return // no cost basis: no PnL
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

// close ends relation id: its NAV is what the follower got back, and the
// wallet's holdings move to the follower.
func (ls *leaderStats) close(id uint64) {
	r := ls.st.Relations[id]
	if r == nil || r.Closed {
		return
	}
	nav := ls.relNAV(r)
	r.LastNPU = ls.relNPU(r)
	r.Out += nav
	r.Hist.record(statPoint{T: ls.st.Now, NPU: r.LastNPU, PnL: r.Out - r.In}, relationTiers)
	f := ls.account(r.Follower)
	for i, v := range r.Bal {
		addBal(&f.Bal, uint32(i+1), v)
	}
	r.Bal, r.Units, r.Closed, r.ClosedAt = nil, 0, true, ls.st.Now
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
			l.Hist.record(statPoint{T: now, NPU: npu, PnL: ls.pnl(l), Trips: l.Trips, Wins: l.Wins}, leaderTiers)
		}
	}
	ls.dirty = ls.dirty[:0]
}

// account returns the holdings of account id, created if need be.
func (ls *leaderStats) account(id uint64) *statAccount {
	a := ls.st.Accounts[id]
	if a == nil {
		a = &statAccount{}
		ls.st.Accounts[id] = a
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

// value returns units of asset in asset val at the last trade price of
// the first market trading them (0 without one).
func (ls *leaderStats) value(asset uint32, units int64, val uint32) int64 {
	if units == 0 || val == 0 {
		return 0
	}
	if asset == val {
		return units
	}
	id, ok := ls.pairs[[2]uint32{asset, val}]
	if !ok {
		return 0
	}
	m := &ls.st.Markets[id-1]
	return signed(units, func(u int64) int64 { return fixed.MulDiv(u, fixed.MulSat(m.Last, m.QuoteScale), m.BaseScale) })
}

// nav values holdings in asset val.
func (ls *leaderStats) nav(bal []int64, val uint32) int64 {
	var nav int64
	for i, v := range bal {
		nav += ls.value(uint32(i+1), v, val)
	}
	return nav
}

func (ls *leaderStats) leaderNAV(l *statLeader) int64 {
	return ls.nav(ls.account(l.Account).Bal, l.Val)
}

func (ls *leaderStats) relNAV(r *statRelation) int64 { return ls.nav(r.Bal, r.Asset) }

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
