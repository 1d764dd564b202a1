package server

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Leader statistics (COPY_TRADING.md, "Leader statistics"), computed from
// the engine's results alone, so that replaying the log rebuilds them:
// time is Result.Time, never the clock.
//
// Ledger. leaderStats keeps its own copy of what it needs of the engine's
// state: asset names and market specs, last trade prices, every user
// account's holdings (available + locked, by asset) and every copy
// relation's wallet. Results do not carry their command, so the commands
// that move money outside trades (deposits, withdrawals, follows, amends
// of a follow, leader profiles, new assets and markets) come from the
// journal (statsTap) on the live path and from wal.Options.OnReplay at
// start-up.
//
// Valuation. Each leader's NAV is valued in one asset, chosen when it
// becomes a leader and never changed (its NAV-per-unit series must stay
// comparable; with no market yet, when the first market is created or at
// its first trade): of the assets some market quotes, first one of its
// own (it holds some, or its last trade was quoted in it) that is not the
// base of a market quoted in another of its own, then one that is the
// base of no market, then the one quoting the most markets, then the
// lowest id (valuation). Rows give it (Valuation). An asset is converted
// into another along the shortest path of markets between them, each hop
// at the market's last trade price, base to quote or quote to base
// (conversionPaths: a base is valued in its quote through the first
// market, by id, trading the pair, as the engine values relations); it
// is worth 0 without a path or while a market on it has no price. A
// relation is valued in its wallet's asset; the AUM and the copier PnL of
// a leader add its relations' NAV and PnL converted into the leader's
// valuation asset at the last trade prices.
//
// Units. A leader's NAV is divided into units, like a fund's: it gets
// NAV units (NAV per unit 1) when it becomes a leader. A flow, that is a
// deposit, a withdrawal or income, issues or redeems units so that the
// NAV per unit stays what it was just before: units × NAV after ÷ NAV
// before (rescale), from the integer NAVs, so that no cancellation loses
// precision however large the flow or small what it leaves. Once there
// are no units (everything withdrawn), what comes in gets units at the
// NAV per unit in force when they were last positive. Profit share
// received from followers is such a flow: it issues units at the NAV per
// unit then, so ROI measures trading alone (and cannot be raised by
// income into a small NAV); rows report it apart (ProfitShare, converted
// into the valuation asset when received). A relation gets units for its
// allocation (follow, and amounts added by an amend); profit share it
// pays is an expense: it lowers its NAV per unit. ROI over a window is
// the NAV per unit at its end over the one at its start, minus one.
//
// An asset without a price (no trade yet in a market that values it)
// counts as 0; when that market's first trade gives it a price, the
// leaders and relations whose NAV that changes get units for it as if
// they deposited it then (firstPrice).
//
// PnL is trading PnL since the account became a leader: per market, with
// average cost (buy fees included in the cost, sell fees deducted from the
// proceeds), realized plus unrealized at the last trade price, converted
// into the valuation asset. Base the leader held before (or deposits) has
// no cost basis and adds no PnL when sold. A position never holds more
// base than the leader does: base that leaves otherwise than by a sale
// the position covers (withdrawn, sold in another market, paid as a
// quote) leaves the positions with its share of their cost, as if sold
// at the market's last trade price without a fee: what it gained or lost
// since it was bought is realized (capPositions). A round trip is a
// market position going from flat back to flat, by a sale or by base
// leaving so; it wins if its realized PnL is positive.
//
// Sampling. After each result, the series of every leader and relation
// whose NAV per unit it changed (its trades, deposits, withdrawals,
// profit share, follows) gets a sample, and every one of them does at
// the last result of each minute of engine time with results (sweep:
// prices move with others' trades), so that the values a series holds
// through a quiet spell, when no result comes for days, are those in
// force when it began, not those of the minute's first result. Samples
// are downsampled with age (statseries.go), so memory is bounded: a step
// keeps its closing values and the lowest, the highest and the largest
// fall of the NAV per unit of its samples, so that the max drawdown is
// that of every sample, falls within a step included.
//
// A closed relation keeps its NAV at close (Out: what was returned,
// valued at the last trade prices then) and the quote returned
// (Returned), for the closed follows of GET /v1/social/follows.
//
// Windows end at the time of the last applied result; "7d" and "30d"
// start that long before, "all" at the leader's first sample. Values at
// a window's start are those of the last point at or before it: those
// in force then, exactly, if the start falls in a quiet spell longer
// than the step of the points there (NAV is valued at the last trade
// prices, which only results move, and the sweep samples every series
// at the last result before the spell); else they may be those of up to
// a step earlier (statseries.go).
//
// Persistence. The state (statsState) is saved in the metadata store,
// a record per account, leader and relation and the series in chunks of
// points, each save writing what changed (statpersist.go), whenever the
// order history is (Server.saveHistory: periodically, on Backup and on
// Shutdown), and restored by Open; the log replay then applies what
// came after its Seq (apply ignores the rest), so that a crash loses
// nothing. If the
// statistics are still behind the recovered engine (no save yet, or one
// older than the snapshot the log was replayed from), reconcile takes
// the holdings from the engine's views.
//
// apply runs on the engine's output goroutine; the readers (row, board)
// and the saver take the read lock.
type leaderStats struct {
	mu sync.RWMutex
	st statsState

	pairs map[[2]uint32]uint32 // (base, quote) → the first market trading them
	// byFollower: each follower's relations, open and closed, ascending
	// (GET /v1/social/follows reads them without walking every relation
	// ever made).
	byFollower map[uint64][]uint64
	// lrels: each leader's relations by state (leaderRels); open: every
	// open relation, for the sweep of each minute. Derived, like
	// byFollower.
	lrels map[uint64]*leaderRels
	open  map[uint64]*statRelation
	paths map[[2]uint32][]statHop // (asset, valuation asset) → conversion path
	dirty []statKey               // scratch of apply: series to sample
	mark  map[statKey]bool        // scratch of apply

	// The save's copy (statpersist.go, save). saveMu: one save at a
	// time, which owns saved, the copy the last one wrote from (nil:
	// none yet), chg, what its update found changed, and stored, what
	// the store holds. What changed since the copy was taken:
	// changedAccts, the accounts apply handed out (account); closedRels,
	// the relations closed; every leader and open relation is copied
	// again, their series from the first point that changed
	// (series.same); wholeCopy (set by index, which follows a restore, a
	// reconciliation or a new leader or market) makes the next copy a
	// whole one.
	saveMu       sync.Mutex
	saved        *statsState
	chg          statChanges
	stored       statStored
	changedAccts []uint64
	closedRels   []uint64
	wholeCopy    bool

	tapMu sync.Mutex
	tap   map[uint64]engine.Command // by Seq: commands seen by the journal, not yet applied
}

// statsState is what leaderStats persists (gob).
type statsState struct {
	Seq       uint64 // of the last result applied
	Now       int64  // time of the last result applied
	Sweep     int64  // minute (Now / 1 min) of the last sample of everything (sweep: the close of that minute)
	Assets    []engine.Name
	Markets   []statMarket // by id-1
	Accounts  map[uint64]*statAccount
	Leaders   map[uint64]*statLeader
	Relations map[uint64]*statRelation
}

type statMarket struct {
	Base, Quote           uint32
	BaseScale, QuoteScale int64
	Last                  int64 // last trade price (steps)
}

// statAccount is a user account's holdings.
type statAccount struct {
	Bal       []int64 // by asset id-1: available + locked
	LastQuote uint32  // quote asset of its last trade

	changed bool // since the last save's copy (leaderStats.changedAccts); not persisted
}

type statLeader struct {
	Account uint64
	Val     uint32 // valuation asset (0: not chosen yet)
	Units   float64
	LastNPU float64 // NAV per unit while Units was last positive
	Pos     map[uint32]*statPos
	Trips   int32
	Wins    int32
	Income  int64    // profit share received, in Val when received
	Rels    []uint64 // its relations, open and closed, ascending
	Hist    series
}

// statPos is a leader's position in one market (quote units of the
// market's quote).
type statPos struct {
	Units    int64 // base units
	Cost     int64 // cost of Units, buy fees included
	Realized int64
	Trip     int64 // realized PnL of the round trip in progress
}

type statRelation struct {
	ID, Follower, Leader uint64
	Asset                uint32
	Bal                  []int64 // the wallet, by asset id-1
	Units                float64
	LastNPU              float64
	In, Out              int64 // allocated; NAV returned at close
	Returned             int64 // quote returned at close (EvCopyClosed)
	// ReturnedBal: what the wallet held at close, by asset id-1, which
	// went back to the follower's main balance (known if ReturnedKnown:
	// not for a relation closed before a release kept it).
	ReturnedBal   []int64
	ReturnedKnown bool
	Closed        bool
	OutUnknown    bool // closed without its close event (reconcile): Out and Returned are not known
	ClosedAt      int64
	// CloseReason is why it closed (engine.CopyUnfollowed or
	// CopyStopLoss); CopyNone if not known (closed before a release kept
	// it, or without its close event).
	CloseReason engine.CopyReason
	Paused      bool // open but paused: not among the followers nor the AUM
	Hist        series
}

// statKey names a series: a leader account or (rel) a relation id.
type statKey struct {
	rel bool
	id  uint64
}

// newLeaderStats returns empty statistics.
func newLeaderStats() *leaderStats {
	ls := &leaderStats{mark: map[statKey]bool{}, tap: map[uint64]engine.Command{}}
	ls.st = statsState{Accounts: map[uint64]*statAccount{}, Leaders: map[uint64]*statLeader{},
		Relations: map[uint64]*statRelation{}}
	ls.index()
	return ls
}

// index rebuilds the derived fields.
func (ls *leaderStats) index() {
	ls.indexMarkets()
	ls.byFollower = map[uint64][]uint64{}
	for id, r := range ls.st.Relations {
		ls.byFollower[r.Follower] = append(ls.byFollower[r.Follower], id)
	}
	for _, ids := range ls.byFollower {
		slices.Sort(ids)
	}
	ls.indexRels()
}

// indexMarkets rebuilds the derived fields of the markets: the market of
// each pair of assets, and the conversion paths between assets.
func (ls *leaderStats) indexMarkets() {
	ls.pairs = map[[2]uint32]uint32{}
	for i, m := range ls.st.Markets {
		k := [2]uint32{m.Base, m.Quote}
		if _, ok := ls.pairs[k]; !ok && m.Base != 0 {
			ls.pairs[k] = uint32(i + 1)
		}
	}
	ls.paths = conversionPaths(ls.st.Markets)
}

// addFollowerRel indexes relation id of follower (ls.mu held).
func (ls *leaderStats) addFollowerRel(follower, id uint64) {
	ids := ls.byFollower[follower]
	if i, found := slices.BinarySearch(ids, id); !found {
		ls.byFollower[follower] = slices.Insert(ids, i, id)
	}
}

// followerRelations returns the ids of follower's relations, open and
// closed, ascending.
func (ls *leaderStats) followerRelations(follower uint64) []uint64 {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	return slices.Clone(ls.byFollower[follower])
}

// tapKinds are the commands whose parameters apply needs.
func tapKind(k engine.CommandKind) bool {
	switch k {
	case engine.CmdCreateAsset, engine.CmdCreateMarket, engine.CmdDeposit, engine.CmdWithdraw,
		engine.CmdSetLeaderProfile, engine.CmdFollow, engine.CmdAmendFollow:
		return true
	}
	return false
}

// note keeps a copy of cmd, if apply will need it, until its result
// comes. The journal calls it (statsTap), on the engine's output stage,
// before the result is delivered.
func (ls *leaderStats) note(cmd *engine.Command) {
	if !tapKind(cmd.Kind) {
		return
	}
	ls.tapMu.Lock()
	ls.tap[cmd.Seq] = *cmd
	ls.tapMu.Unlock()
}

// take removes and returns the command noted for seq, if any.
func (ls *leaderStats) take(seq uint64) *engine.Command {
	ls.tapMu.Lock()
	defer ls.tapMu.Unlock()
	c, ok := ls.tap[seq]
	if len(ls.tap) > 1024 { // results never delivered (journal failure)
		for k := range ls.tap {
			if k < seq {
				delete(ls.tap, k)
			}
		}
	}
	if !ok {
		return nil
	}
	delete(ls.tap, seq)
	return &c
}

// onResult applies a live result, with its command from the journal.
func (ls *leaderStats) onResult(res *engine.Result) {
	var cmd *engine.Command
	if tapKind(res.Kind) {
		cmd = ls.take(res.Seq)
	}
	ls.apply(cmd, res)
}

// statsTap is the engine's journal with a tap: it shows every command to
// the leader statistics, and deposits and withdrawals to the read model
// (noteTransfer), before the journal gets it.
type statsTap struct {
	timedJournal
	ls *leaderStats
	rm *readModel
	// fault is Server.journalFault: if it holds a function (tests), Append
	// calls it with each command, and an error it returns stands for the
	// journal's (the command is not journaled).
	fault *atomic.Pointer[func(*engine.Command) error]
}

// Append implements engine.Journal.
func (j statsTap) Append(cmd *engine.Command) error {
	j.ls.note(cmd)
	if cmd.Kind == engine.CmdDeposit || cmd.Kind == engine.CmdWithdraw {
		j.rm.noteTransfer(cmd)
	}
	if f := j.fault.Load(); f != nil {
		if err := (*f)(cmd); err != nil {
			return err
		}
	}
	return j.timedJournal.Append(cmd)
}

// apply folds one result into the statistics. cmd is the result's
// command, needed for the kinds of tapKind (nil otherwise). Results at or
// below the last applied sequence number are ignored.
func (ls *leaderStats) apply(cmd *engine.Command, res *engine.Result) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	st := &ls.st
	if res.Seq <= st.Seq {
		return
	}
	if st.Seq > 0 && res.Time/mins > st.Now/mins {
		ls.sweep() // the minute of the last result is over
	}
	st.Seq, st.Now = res.Seq, max(st.Now, res.Time)
	if res.Err == nil && !res.Duplicate && cmd != nil {
		ls.command(cmd, res)
	}
	for i := range res.Events {
		ev := &res.Events[i]
		switch ev.Kind {
		case book.EvTrade:
			ls.trade(ev)
		case engine.EvProfitShare:
			r := ls.relation(ev.Relation)
			if r == nil {
				continue
			}
			addBal(&r.Bal, r.Asset, -ev.Amount) // an expense of the relation: no units
			ls.income(ev.MakerOwner, r.Asset, ev.Amount)
			ls.touch(statKey{true, r.ID})
			ls.touch(statKey{false, ev.MakerOwner})
		case engine.EvCopyClosed:
			ls.close(ev.Relation, ev.Amount, ev.CopyReason)
		}
	}
	if res.Err == nil && (res.Kind == engine.CmdPauseFollow || res.Kind == engine.CmdResumeFollow) {
		if r := ls.relation(res.ID); r != nil { // res.ID: the relation
			r.Paused = res.Kind == engine.CmdPauseFollow
		}
	}
	ls.sample()
}

// sweep samples every leader and open relation at the time of the last
// result applied, with their values after it: the close of its minute
// of engine time, which apply calls when a result of a later minute
// comes, before applying it. Others' trades move the prices a series is
// valued at without sampling it (only the series a result changes
// directly are); the sweep records what that left in force, at the time
// it came into force, or within the minute: if the next result comes
// days later, the values in force over the quiet spell are the ones
// that held when it began, as a window starting in it must read them
// (series.at), and the move of the next result is its own.
func (ls *leaderStats) sweep() {
	st := &ls.st
	st.Sweep = st.Now / mins
	for id := range st.Leaders {
		ls.touch(statKey{false, id})
	}
	for id := range ls.open {
		ls.touch(statKey{true, id})
	}
	ls.sample()
}

// row returns the statistics of leader over window w.
func (ls *leaderStats) row(leader uint64, w statWindow) leaderRow {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	return ls.rowLocked(leader, w)
}

// windowStart returns the start of window w ending now.
func windowStart(w statWindow, now int64) int64 {
	switch w {
	case window7d:
		return now - 7*day
	case window30d:
		return now - 30*day
	}
	return math.MinInt64
}

func (ls *leaderStats) rowLocked(leader uint64, w statWindow) leaderRow {
	row := leaderRow{Leader: leader}
	l := ls.st.Leaders[leader]
	if l == nil {
		return row
	}
	row.Valuation = l.Val
	now := ls.st.Now
	start := windowStart(w, now)
	if l.Val != 0 && len(l.Hist.Points) > 0 {
		s := l.Hist.at(start)
		npu := ls.npu(l)
		if s.NPU > 0 {
			row.ROI = npu/s.NPU - 1
		}
		row.PnL = ls.pnl(l) - s.PnL
		row.ProfitShare = l.Income - s.Income
		row.RoundTrips = int(l.Trips - s.Trips)
		if row.RoundTrips > 0 {
			row.WinRate = float64(l.Wins-s.Wins) / float64(row.RoundTrips)
		}
		row.MaxDrawdown = l.Hist.drawdown(start, now, npu)
	}
	var rois []float64
	add := func(r *statRelation) {
		if len(r.Hist.Points) == 0 {
			return
		}
		if !r.Closed && !r.Paused {
			row.Followers++
			row.AUM += ls.value(r.Asset, ls.relNAV(r), l.Val)
		}
		s := r.Hist.at(start)
		pnl := r.Out - r.In
		if !r.Closed {
			pnl += ls.relNAV(r)
		}
		row.CopierPnL += ls.value(r.Asset, pnl-s.PnL, l.Val)
		if s.NPU > 0 {
			rois = append(rois, ls.relNPU(r)/s.NPU-1)
		}
	}
	lr := ls.lrels[leader]
	if lr == nil { // not indexed (a bug): an empty index rather than a panic
		lr = newLeaderRels()
	}
	for _, r := range lr.open {
		add(r)
	}
	closedROIs := 0 // ROIs in lr.allROI, besides rois
	if start == math.MinInt64 {
		for _, a := range lr.allPnL {
			row.CopierPnL += ls.value(a.asset, a.amt, l.Val)
		}
		closedROIs = lr.allROI.Len()
	} else {
		for _, r := range lr.closedSince(start) {
			add(r)
		}
	}
	if n := len(rois) + closedROIs; n > 0 {
		slices.Sort(rois)
		at := func(i int) float64 {
			v, _ := lr.allROI.GetAt(i)
			return v.roi
		}
		med := kth(rois, at, closedROIs, n/2)
		if n%2 == 0 {
			med = (kth(rois, at, closedROIs, n/2-1) + med) / 2
		}
		row.CopyGap = row.ROI - med
	}
	return row
}

// board returns every leader's row over w, sorted by sortKey (roi, pnl,
// followers or aum; unknown keys sort by roi), descending, ties by leader
// id; at most limit rows (≤ 0: all).
//
// PnL and AUM are in each leader's valuation asset: they sort converted
// (convert) into a common one, the valuation asset of the most leaders
// (ties: the lowest asset id). Rows that cannot be converted (no path
// from their asset, or a market on it without a price yet) sort after
// the others, by leader id. A leader without a valuation asset yet has
// no PnL nor AUM: 0.
//
// Each row is computed under its own read lock: apply, which every
// result the engine delivers waits for, waits for one row at most, not
// for the whole board (100 leaders with 1,000 followers each take about
// 7 ms; an anonymous client asking for the board in a loop held every
// result up by 2 ms at the median). Rows may therefore be a few results
// apart; the sort converts them at the prices of its end.
func (ls *leaderStats) board(sortKey string, w statWindow, limit int) []leaderRow {
	type keyed struct {
		row leaderRow
		key float64
		ok  bool
	}
	ls.mu.RLock()
	ids := make([]uint64, 0, len(ls.st.Leaders))
	for id := range ls.st.Leaders {
		ids = append(ids, id)
	}
	ls.mu.RUnlock()
	rows := make([]keyed, 0, len(ids))
	for _, id := range ids {
		ls.mu.RLock()
		rows = append(rows, keyed{row: ls.rowLocked(id, w), ok: true})
		ls.mu.RUnlock()
	}
	ls.mu.RLock()
	common := commonAsset(rows, func(k *keyed) uint32 { return k.row.Valuation })
	for i := range rows {
		k := &rows[i]
		switch sortKey {
		case "pnl", "aum":
			v := k.row.PnL
			if sortKey == "aum" {
				v = k.row.AUM
			}
			if k.row.Valuation != 0 {
				v, k.ok = ls.convert(k.row.Valuation, v, common)
			}
			k.key = float64(v)
		case "followers":
			k.key = float64(k.row.Followers)
		default:
			k.key = k.row.ROI
		}
	}
	ls.mu.RUnlock()
	slices.SortFunc(rows, func(a, b keyed) int {
		if a.ok != b.ok {
			if a.ok {
				return -1
			}
			return 1
		}
		if a.ok {
			if c := cmp.Compare(b.key, a.key); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.row.Leader, b.row.Leader)
	})
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	out := make([]leaderRow, len(rows))
	for i := range rows {
		out[i] = rows[i].row
	}
	return out
}

// commonAsset returns the asset of the most of items (asset 0 aside),
// ties to the lowest id; 0 for none.
func commonAsset[T any](items []T, asset func(*T) uint32) uint32 {
	n := map[uint32]int{}
	var best uint32
	for i := range items {
		a := asset(&items[i])
		if a == 0 {
			continue
		}
		n[a]++
		if best == 0 || n[a] > n[best] || (n[a] == n[best] && a < best) {
			best = a
		}
	}
	return best
}

// statWindow is a statistics window: the last 7 days, the last 30 days,
// or everything since the account became a leader.
type statWindow int

// Statistics windows.
const (
	window7d statWindow = iota
	window30d
	windowAll
)

// parseWindow parses "7d", "30d" or "all".
func parseWindow(s string) (statWindow, bool) {
	switch s {
	case "7d":
		return window7d, true
	case "30d":
		return window30d, true
	case "all":
		return windowAll, true
	}
	return 0, false
}

// leaderRow is one leader's statistics over a window. Amounts are in the
// leader's valuation asset (AUM and CopierPnL converted into it from the
// relations' assets at the last trade prices), in 10^-8 units; ratios are
// fractions (0.05 is 5%).
type leaderRow struct {
	Leader      uint64
	ROI         float64 // NAV per unit at the end over at the start, − 1
	PnL         int64   // trading PnL, realized + unrealized, net of fees
	WinRate     float64 // winning ÷ closed round trips (0 without any)
	RoundTrips  int     // round trips closed in the window
	MaxDrawdown float64 // largest fall of NAV per unit from a peak (≥ 0)
	AUM         int64   // NAV of the active relations, now
	Followers   int     // active relations (not paused, not closed), now
	CopierPnL   int64   // the followers' PnL over the window
	CopyGap     float64 // ROI − median ROI of the relations over the window (0 without any)
	Valuation   uint32  // the leader's valuation asset (0: none yet)
	ProfitShare int64   // profit share received over the window
}

// closed returns what closed relation id gave back, in its asset: its NAV
// at close (the quote returned, plus any base returned at the last trade
// prices then) and the quote returned; ok is false if the statistics do
// not know it (not closed yet for them, or closed while they missed it).
func (ls *leaderStats) closed(id uint64) (nav, quote int64, ok bool) {
	nav, quote, _, ok = ls.closedBal(id)
	return nav, quote, ok
}

// closeInfo returns why and when relation id closed, if the statistics
// know (its close event applied).
func (ls *leaderStats) closeInfo(id uint64) (reason engine.CopyReason, at int64, ok bool) {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	r := ls.st.Relations[id]
	if r == nil || !r.Closed || r.CloseReason == engine.CopyNone {
		return engine.CopyNone, 0, false
	}
	return r.CloseReason, r.ClosedAt, true
}

// closedBal is closed, with what the wallet returned by asset id-1 (a
// copy; nil if not known).
func (ls *leaderStats) closedBal(id uint64) (nav, quote int64, bal []int64, ok bool) {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	r := ls.st.Relations[id]
	if r == nil || !r.Closed || r.OutUnknown {
		return 0, 0, nil, false
	}
	if r.ReturnedKnown {
		bal = append([]int64{}, r.ReturnedBal...)
	}
	return r.Out, r.Returned, bal, true
}

// relationNAV returns the NAV of open relation id in its own asset at
// the last trade prices of the results applied (relValue: the engine's
// valuation of a relation, engine.RelationView.NAV, on the ledger's
// holdings), so that it moves with others' trades as the statistics do;
// ok is false if the statistics do not know the relation open.
func (ls *leaderStats) relationNAV(id uint64) (nav int64, ok bool) {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	r := ls.st.Relations[id]
	if r == nil || r.Closed {
		return 0, false
	}
	return ls.relValue(r), true
}

// waitStats waits, up to RequestTimeout, until the statistics have
// applied command seq (the engine delivers a command's result to them
// just after the command is durable), for answers that read them after a
// command.
func (s *Server) waitStats(seq uint64) {
	deadline := time.Now().Add(s.opts.RequestTimeout)
	for s.stats.seq() < seq && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
}

// leaderRow returns the statistics of leader over w (zero for an unknown
// leader). Safe for concurrent use.
func (s *Server) leaderRow(leader uint64, w statWindow) leaderRow {
	return s.stats.row(leader, w)
}

// leaderBoard returns the leaders' statistics over w sorted by sortKey
// (roi, pnl, followers or aum), descending, ties by leader id; at most
// limit rows, which the caller must not modify. Safe for concurrent use.
//
// Without Options.LeaderboardTTL it computes the board after the
// statistics applied the last durable command. With it, it keeps each
// board (sort and window, its first maxListLimit rows) for that long and
// answers from it: a board walks every leader's open relations (7–8 ms of
// CPU at 100,000 of them, BenchmarkLeaderBoard), which clients polling it
// would otherwise pay for on every request. Requests for a board being
// computed wait for it rather than compute it again.
func (s *Server) leaderBoard(sortKey string, w statWindow, limit int) []leaderRow {
	ttl := s.opts.LeaderboardTTL
	if ttl <= 0 {
		s.waitStats(s.eng.DurableSeq())
		return s.stats.board(sortKey, w, limit)
	}
	e := s.boards.entry(boardKey{sortKey, w})
	e.mu.Lock()
	defer e.mu.Unlock()
	if now := time.Now(); e.rows == nil || now.Sub(e.at) >= ttl || now.Before(e.at) {
		s.waitStats(s.eng.DurableSeq())
		e.rows, e.at = s.stats.board(sortKey, w, maxListLimit), now
	}
	n := min(limit, len(e.rows))
	return e.rows[:n:n] // shared with other requests: an append copies
}

// boardKey names a leaderboard: its sort and window.
type boardKey struct {
	sort   string
	window statWindow
}

// boardCache holds the leaderboards computed last (Server.leaderBoard).
type boardCache struct {
	mu sync.Mutex
	m  map[boardKey]*boardEntry
}

// boardEntry is one leaderboard and when it was computed; mu is held
// while it is computed.
type boardEntry struct {
	mu   sync.Mutex
	at   time.Time
	rows []leaderRow
}

// entry returns the entry of k, created if need be.
func (c *boardCache) entry(k boardKey) *boardEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[boardKey]*boardEntry{}
	}
	e := c.m[k]
	if e == nil {
		e = &boardEntry{}
		c.m[k] = e
	}
	return e
}
