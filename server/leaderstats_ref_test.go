package server

import (
	"math"
	"math/big"
	"slices"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// refStats is a naive reference model of the leader statistics
// (COPY_TRADING.md, "Leader statistics", and the doc comment of
// leaderStats), written from the spec and not from leaderstats.go, for
// TestLeaderStatsDifferential. It keeps its own ledger of every account
// (wallets included, by account id), checked against the engine's
// views, every sample of every series (no downsampling), and computes a
// window's figures by brute force over them.
//
// It supports what the differential stream makes: leaders valued in one
// asset (val), conversions of one hop (through the first market, by id,
// trading the pair), each pair traded by one market.
type refStats struct {
	val     uint32 // the valuation asset of every leader
	now     int64
	markets map[uint32]*refMarket
	mids    []uint32                    // market ids, ascending
	bal     map[uint64]map[uint32]int64 // by account: available + locked
	leaders map[uint64]*refLeader
	rels    map[uint64]*refRel
	order   []uint64 // relation ids, ascending
	wallet  func(rel uint64) uint64
}

type refMarket struct {
	base, quote uint32
	bs, qs      int64
	last        int64
}

type refLeader struct {
	acct           uint64
	units, lastNPU float64
	pos            map[uint32]*refPos
	trips, wins    int
	income         int64
	samples        []refSample
	touched        bool
}

type refPos struct{ units, cost, realized, trip int64 }

// refSample is one sample of a series, with the cumulative counters.
type refSample struct {
	t           int64
	npu         float64
	pnl         int64
	trips, wins int
	income      int64
}

type refRel struct {
	id, follower, leader, wallet uint64
	asset                        uint32
	units, lastNPU               float64
	in, out                      int64
	closed, paused               bool
	closedAt                     int64
	samples                      []refSample
	touched                      bool
}

func newRefStats(val uint32, wallet func(uint64) uint64) *refStats {
	return &refStats{val: val, markets: map[uint32]*refMarket{}, bal: map[uint64]map[uint32]int64{},
		leaders: map[uint64]*refLeader{}, rels: map[uint64]*refRel{}, wallet: wallet}
}

// mulDiv is ⌊a × b ÷ c⌋ for a ≥ 0, computed with big integers.
func mulDiv(a, b, c int64) int64 {
	x := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	return x.Quo(x, big.NewInt(c)).Int64()
}

func (m *refStats) add(acct uint64, asset uint32, v int64) {
	b := m.bal[acct]
	if b == nil {
		b = map[uint32]int64{}
		m.bal[acct] = b
	}
	b[asset] += v
}

// worth is v units of asset in asset to, at the last prices (one market
// hop, rounded toward zero), and whether it has a price at all.
func (m *refStats) worth(asset uint32, v int64, to uint32) int64 {
	if asset == to || v == 0 {
		return v
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var r int64
	for _, id := range m.mids {
		k := m.markets[id]
		if k.last == 0 && (k.base == asset || k.quote == asset) {
			continue // no price yet: worth nothing through it
		}
		if k.base == asset && k.quote == to {
			r = mulDiv(v, k.last*k.qs, k.bs)
			break
		}
		if k.base == to && k.quote == asset {
			r = mulDiv(v, k.bs, k.last*k.qs)
			break
		}
	}
	if neg {
		return -r
	}
	return r
}

// nav values account acct's holdings in asset to.
func (m *refStats) nav(acct uint64, to uint32) int64 {
	var n int64
	for a, v := range m.bal[acct] {
		n += m.worth(a, v, to)
	}
	return n
}

func (m *refStats) leaderNAV(l *refLeader) int64 { return m.nav(l.acct, m.val) }
func (m *refStats) relNAV(r *refRel) int64       { return m.nav(r.wallet, r.asset) }

// flow re-issues units around a flow that moved a NAV from before to
// after, keeping the NAV per unit (the last one while units were
// positive, when there are none).
func flow(units, lastNPU *float64, before, after int64) {
	if *units > 0 && before > 0 {
		*lastNPU = float64(before) / *units
	}
	*units = float64(after) / *lastNPU
	if after <= 0 {
		*units = 0
	}
}

func (m *refStats) leaderNPU(l *refLeader) float64 {
	if l.units <= 0 {
		return l.lastNPU
	}
	return float64(m.leaderNAV(l)) / l.units
}

func (m *refStats) relNPU(r *refRel) float64 {
	if r.closed || r.units <= 0 {
		return r.lastNPU
	}
	return float64(m.relNAV(r)) / r.units
}

// leaderPnL is the leader's trading PnL: per market, realized plus the
// position at the last price minus its cost.
func (m *refStats) leaderPnL(l *refLeader) int64 {
	var s int64
	for id, p := range l.pos {
		k := m.markets[id]
		s += m.worth(k.quote, p.realized+mulDiv(p.units, k.last*k.qs, k.bs)-p.cost, m.val)
	}
	return s
}

// leaderCash adds v of asset to acct, a flow for a leader's units.
func (m *refStats) leaderCash(acct uint64, asset uint32, v int64) {
	l := m.leaders[acct]
	if l == nil {
		m.add(acct, asset, v)
		return
	}
	before := m.leaderNAV(l)
	m.add(acct, asset, v)
	flow(&l.units, &l.lastNPU, before, m.leaderNAV(l))
	l.touched = true
	m.trim(l)
}

// apply folds one result (with its command) into the model.
func (m *refStats) apply(cmd *engine.Command, res *engine.Result) {
	// Every series is sampled at the last result of each minute of
	// engine time with results, with its values after it (the doc of
	// leaderStats, "Sampling"): what others' trades left in force holds
	// until the next result, however much later it comes.
	if m.now != 0 && res.Time/mins > m.now/mins {
		m.sampleAll(true)
	}
	m.now = max(m.now, res.Time)
	if res.Err == nil && !res.Duplicate {
		m.command(cmd, res)
	}
	for i := range res.Events {
		ev := &res.Events[i]
		switch ev.Kind {
		case book.EvTrade:
			m.trade(ev)
		case engine.EvProfitShare:
			r := m.rels[ev.Relation]
			m.add(r.wallet, r.asset, -ev.Amount)
			r.touched = true
			if l := m.leaders[r.leader]; l != nil {
				l.income += m.worth(r.asset, ev.Amount, m.val)
			}
			m.leaderCash(r.leader, r.asset, ev.Amount)
		case engine.EvCopyClosed:
			r := m.rels[ev.Relation]
			nav := m.relNAV(r)
			r.lastNPU = m.relNPU(r)
			r.out += nav
			r.samples = append(r.samples, refSample{t: m.now, npu: r.lastNPU, pnl: r.out - r.in})
			for a, v := range m.bal[r.wallet] {
				m.add(r.follower, a, v)
			}
			delete(m.bal, r.wallet)
			r.closed, r.closedAt, r.units = true, m.now, 0
		}
	}
	if res.Err == nil && (res.Kind == engine.CmdPauseFollow || res.Kind == engine.CmdResumeFollow) {
		m.rels[res.ID].paused = res.Kind == engine.CmdPauseFollow
	}
	// The series the result changed get a sample.
	m.sampleAll(false)
}

// sampleAll samples, at the time of the last result, every series (all)
// or those the result changed.
func (m *refStats) sampleAll(all bool) {
	for _, l := range m.leaders {
		if all || l.touched {
			npu := m.leaderNPU(l)
			if l.units > 0 {
				l.lastNPU = npu
			}
			l.samples = append(l.samples, refSample{t: m.now, npu: npu, pnl: m.leaderPnL(l), trips: l.trips, wins: l.wins, income: l.income})
		}
		l.touched = false
	}
	for _, r := range m.rels {
		if !r.closed && (all || r.touched) {
			r.lastNPU = m.relNPU(r)
			r.samples = append(r.samples, refSample{t: m.now, npu: r.lastNPU, pnl: m.relNAV(r) + r.out - r.in})
		}
		r.touched = false
	}
}

func (m *refStats) command(cmd *engine.Command, res *engine.Result) {
	switch cmd.Kind {
	case engine.CmdCreateMarket:
		sp := &cmd.Spec
		m.markets[uint32(res.ID)] = &refMarket{base: sp.Base, quote: sp.Quote, bs: sp.BaseScale, qs: sp.QuoteScale}
		m.mids = append(m.mids, uint32(res.ID))
	case engine.CmdDeposit:
		m.leaderCash(cmd.Account, cmd.Asset, cmd.Amount)
	case engine.CmdWithdraw:
		if cmd.Account != engine.FeeAccount {
			m.leaderCash(cmd.Account, cmd.Asset, -cmd.Amount)
		}
	case engine.CmdSetLeaderProfile:
		if m.leaders[cmd.Account] == nil {
			l := &refLeader{acct: cmd.Account, lastNPU: 1, pos: map[uint32]*refPos{}, touched: true}
			l.units = float64(m.leaderNAV(l))
			m.leaders[cmd.Account] = l
		}
	case engine.CmdFollow:
		r := &refRel{id: res.ID, follower: cmd.Account, leader: cmd.Copy.Leader, wallet: m.wallet(res.ID),
			asset: cmd.Asset, units: float64(cmd.Amount), lastNPU: 1, in: cmd.Amount, touched: true}
		m.rels[r.id] = r
		m.order = append(m.order, r.id)
		m.add(cmd.Account, cmd.Asset, -cmd.Amount)
		m.add(r.wallet, cmd.Asset, cmd.Amount)
	case engine.CmdAmendFollow:
		if cmd.Amount > 0 {
			r := m.rels[cmd.Copy.Relation]
			before := m.relNAV(r)
			m.add(r.follower, r.asset, -cmd.Amount)
			m.add(r.wallet, r.asset, cmd.Amount)
			flow(&r.units, &r.lastNPU, before, m.relNAV(r))
			r.in += cmd.Amount
			r.touched = true
		}
	}
}

// trade moves one fill's money and updates a leader side's position.
func (m *refStats) trade(ev *engine.Event) {
	k := m.markets[ev.Market]
	if k.last == 0 {
		m.firstPrice(k, ev.Price)
	}
	k.last = ev.Price
	base, n := ev.Qty*k.bs, ev.Price*ev.Qty*k.qs
	buyer, seller, buyFee, sellFee := ev.Owner, ev.MakerOwner, ev.TakerFee, ev.MakerFee
	if ev.Side == book.Sell {
		buyer, seller, buyFee, sellFee = seller, buyer, sellFee, buyFee
	}
	m.add(buyer, k.base, base)
	m.add(buyer, k.quote, -n-buyFee)
	m.add(seller, k.base, -base)
	m.add(seller, k.quote, n-sellFee)
	if r := m.rels[ev.Relation]; ev.Relation != 0 && r != nil {
		r.touched = true
	}
	if l := m.leaders[buyer]; l != nil {
		p := l.position(ev.Market)
		p.units += base
		p.cost += n + buyFee
		l.touched = true
	}
	if l := m.leaders[seller]; l != nil {
		l.touched = true
		p := l.position(ev.Market)
		covered := min(base, p.units) // base without a cost basis makes no PnL
		if covered > 0 {
			m.sell(l, p, covered, base, n-sellFee)
		}
	}
	for _, a := range []uint64{buyer, seller} {
		if l := m.leaders[a]; l != nil {
			m.trim(l)
		}
	}
}

// firstPrice gives market k its first price: what it values was worth
// nothing so far, and its new worth comes as if deposited (units, no
// return) to every leader and open relation whose NAV it changes.
func (m *refStats) firstPrice(k *refMarket, price int64) {
	lnav, rnav := map[uint64]int64{}, map[uint64]int64{}
	for a, l := range m.leaders {
		lnav[a] = m.leaderNAV(l)
	}
	for id, r := range m.rels {
		if !r.closed {
			rnav[id] = m.relNAV(r)
		}
	}
	k.last = price
	for a, l := range m.leaders {
		if after := m.leaderNAV(l); after != lnav[a] {
			flow(&l.units, &l.lastNPU, lnav[a], after)
		}
	}
	for id, before := range rnav {
		r := m.rels[id]
		if after := m.relNAV(r); after != before {
			flow(&r.units, &r.lastNPU, before, after)
		}
	}
}

// sell realizes the covered part of a sale of base for proceeds.
func (m *refStats) sell(l *refLeader, p *refPos, covered, base, proceeds int64) {
	cost := mulDiv(p.cost, covered, p.units)
	gain := mulDiv(proceeds, covered, base) - cost
	p.units -= covered
	p.cost -= cost
	p.realized += gain
	p.trip += gain
	if p.units == 0 {
		l.trips++
		if p.trip > 0 {
			l.wins++
		}
		p.trip = 0
	}
}

// trim keeps a leader's positions within its holdings: a position
// cannot hold base the leader no longer has (withdrawn, sold in another
// market, paid as quote). Each base's excess leaves its markets' positions
// lowest id first, with its share of the cost, sold at the market's last
// price without a fee: its gain or loss is realized, and a position so
// emptied ends its round trip, counted.
func (m *refStats) trim(l *refLeader) {
	for _, k := range m.markets { // each base (twice if two markets trade it: no matter)
		base := k.base
		excess := -m.bal[l.acct][base]
		for _, id := range m.mids {
			if p := l.pos[id]; p != nil && m.markets[id].base == base {
				excess += p.units
			}
		}
		for _, id := range m.mids {
			p := l.pos[id]
			if excess <= 0 || p == nil || m.markets[id].base != base || p.units == 0 {
				continue
			}
			out := min(excess, p.units)
			k := m.markets[id]
			m.sell(l, p, out, out, mulDiv(out, k.last*k.qs, k.bs))
			excess -= out
		}
	}
}

func (l *refLeader) position(market uint32) *refPos {
	p := l.pos[market]
	if p == nil {
		p = &refPos{}
		l.pos[market] = p
	}
	return p
}

// refSpan is the range a figure may take: the statistics read a window's
// start from a downsampled series (see refStats.starts).
type refSpan struct{ lo, hi float64 }

func point(v float64) refSpan { return refSpan{v, v} }

func (s refSpan) with(v float64) refSpan { return refSpan{min(s.lo, v), max(s.hi, v)} }

func (s refSpan) plus(o refSpan) refSpan { return refSpan{s.lo + o.lo, s.hi + o.hi} }

// contains reports whether v is in s, give or take eps (relative to the
// magnitude, at least absolute eps).
func (s refSpan) contains(v, eps float64) bool {
	e := eps * max(1, math.Abs(s.lo), math.Abs(s.hi))
	return v >= s.lo-e && v <= s.hi+e
}

// starts returns the indexes of the samples a window starting at start
// may start from, the statistics reading the sample in force at some
// time in [start − tol, start] (their series merge the samples of a step
// into its last one, so the first point after start may hold samples of
// its step before start: leaderStats' doc, "Windows", and
// series.drawdown, "at most a step early"). Before the first sample, it
// is the first one (the "all" window's Origin).
func starts(s []refSample, start, tol int64) []int {
	if start == math.MinInt64 {
		return []int{0}
	}
	lo := start - tol
	i := 0
	for j := range s {
		if s[j].t <= lo {
			i = j
		}
	}
	out := []int{i}
	for j := i + 1; j < len(s); j++ {
		if s[j].t > lo && s[j].t <= start {
			out = append(out, j)
		}
	}
	return out
}

// drawdown is the largest fall of the NAV per unit from a peak over
// samples s[from:] and then last.
func drawdown(s []refSample, from int, last float64) float64 {
	peak, dd := 0.0, 0.0
	for j := from; j <= len(s); j++ {
		v := last
		if j < len(s) {
			v = s[j].npu
		}
		peak = max(peak, v)
		if peak > 0 {
			dd = max(dd, 1-v/peak)
		}
	}
	return dd
}

// refRow is the span of each figure of a leader's row over a window.
type refRow struct {
	roi, pnl, share, trips, winRate, dd refSpan
	aum, followers                      int64
	copierPnL, gap                      refSpan
	terms                               int // amounts converted into the valuation asset (±1 each)
	rels                                int // relations in the window
}

// tolerances: how early a window's start may be read, by the age of the
// points there (series tiers: leaders 1 min up to 7 days, 5 min up to
// 30 days, 1 h beyond; relations 1 h up to 30 days, 1 day beyond;
// compaction runs at most once an hour, so a point may keep the finer
// step of its age up to an hour earlier). For the "all" window there is
// none: it starts at the Origin, kept as is.
func windowTol(w statWindow, rel bool) int64 {
	switch {
	case w == windowAll:
		return 0
	case rel && w == window7d:
		return hour
	case rel:
		return day
	case w == window7d:
		return 5 * mins
	}
	return hour
}

// row computes leader l's row over w by brute force.
func (m *refStats) row(acct uint64, w statWindow) refRow {
	l := m.leaders[acct]
	start := windowStart(w, m.now)
	var row refRow
	npu := m.leaderNPU(l)
	pnl := m.leaderPnL(l)
	first := true
	for _, i := range starts(l.samples, start, windowTol(w, false)) {
		s := l.samples[i]
		roi := 0.0
		if s.npu > 0 {
			roi = npu/s.npu - 1
		}
		wr := 0.0
		if n := l.trips - s.trips; n > 0 {
			wr = float64(l.wins-s.wins) / float64(n)
		}
		dd := drawdown(l.samples, i, npu)
		if first {
			row.roi, row.pnl, row.share = point(roi), point(float64(pnl-s.pnl)), point(float64(l.income-s.income))
			row.trips, row.winRate, row.dd = point(float64(l.trips-s.trips)), point(wr), point(dd)
			first = false
			continue
		}
		row.roi, row.pnl, row.share = row.roi.with(roi), row.pnl.with(float64(pnl-s.pnl)), row.share.with(float64(l.income-s.income))
		row.trips, row.winRate, row.dd = row.trips.with(float64(l.trips-s.trips)), row.winRate.with(wr), row.dd.with(dd)
	}
	var los, his []float64
	for _, id := range m.order {
		r := m.rels[id]
		if r.leader != acct || len(r.samples) == 0 || (r.closed && r.closedAt < start) {
			continue
		}
		row.rels++
		if !r.closed && !r.paused {
			row.followers++
			row.aum += m.worth(r.asset, m.relNAV(r), m.val)
			if r.asset != m.val {
				row.terms++
			}
		}
		now := r.out - r.in
		if !r.closed {
			now += m.relNAV(r)
		}
		rnpu := m.relNPU(r)
		var pnlSpan, roiSpan refSpan
		first, hasROI := true, false
		for _, i := range starts(r.samples, start, windowTol(w, true)) {
			s := r.samples[i]
			p := float64(m.worth(r.asset, now-s.pnl, m.val))
			if first {
				pnlSpan = point(p)
			} else {
				pnlSpan = pnlSpan.with(p)
			}
			first = false
			if s.npu > 0 {
				roi := rnpu/s.npu - 1
				if !hasROI {
					roiSpan = point(roi)
				} else {
					roiSpan = roiSpan.with(roi)
				}
				hasROI = true
			}
		}
		row.copierPnL = row.copierPnL.plus(pnlSpan)
		if r.asset != m.val {
			row.terms++
		}
		if hasROI {
			los, his = append(los, roiSpan.lo), append(his, roiSpan.hi)
		}
	}
	if len(los) > 0 {
		// The median is monotone in each value: the medians of the
		// lowest and of the highest ROIs bound it.
		lo, hi := median(los), median(his)
		row.gap = refSpan{row.roi.lo - hi, row.roi.hi - lo}
	}
	return row
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
