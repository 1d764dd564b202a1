package server

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"slices"
	"time"

	"github.com/instant-social-trading/ist/engine"
)

// Persistence and reconciliation of leaderStats.

// statsKey is the metadata store key of the leader statistics.
const statsKey = "stats/leaders"

// The persisted form is a version byte and the gob of statsState.
// Version 1 (before series points had their step's range): its points
// load with the range of their closing value (series.ranged). Version 2
// adds statPoint's Lo, Hi, DD and Income, statLeader's Income and
// statRelation's Returned and OutUnknown; gob gives the fields a version
// 1 lacks their zero value.
const statsVersion = 2

// encode returns the persisted form of the statistics. It holds the read
// lock only to bring its copy of them up to date (syncSaved), since
// every result the engine delivers waits for the write lock (apply), and
// encodes the copy after. A whole copy of 1,000 relations with 30 days'
// history (a 25-MB gob; BenchmarkStatsEncode) took 19 ms, against 131
// ms to encode, which the lock covered before; bringing the copy up to
// date copies what changed since the last save.
func (ls *leaderStats) encode() ([]byte, uint64, error) {
	ls.saveMu.Lock()
	defer ls.saveMu.Unlock()
	ls.mu.RLock()
	ls.syncSaved()
	ls.mu.RUnlock()
	var b bytes.Buffer
	b.WriteByte(statsVersion)
	if err := gob.NewEncoder(&b).Encode(ls.saved); err != nil {
		return nil, 0, fmt.Errorf("server: encode leader statistics: %w", err)
	}
	return b.Bytes(), ls.saved.Seq, nil
}

// syncSaved brings ls.saved, the copy the last save encoded, up to date
// with ls.st, sharing nothing with it (ls.saveMu and the read lock held:
// apply, the only writer, waits; it writes only the bookkeeping of what
// changed, which readers do not read).
//
// The first time, and after index (wholeCopy), it copies everything
// (clone). Otherwise it copies the markets and assets (few), the
// accounts apply handed out since (changedAccts), every leader and open
// relation, their series from their first changed point (syncPoints),
// and the relations closed since (closedRels). A closed relation no
// longer changes, and most accounts and points did not change since the
// last save: with follows coming and going and a history of weeks, they
// are most of the statistics.
func (ls *leaderStats) syncSaved() {
	st := &ls.st
	for _, id := range ls.changedAccts {
		if a := st.Accounts[id]; a != nil {
			a.changed = false
		}
	}
	if ls.saved == nil || ls.wholeCopy {
		c := st.clone()
		ls.saved, ls.wholeCopy = &c, false
		for _, l := range st.Leaders {
			l.Hist.same = len(l.Hist.Points)
		}
		for _, r := range st.Relations {
			r.Hist.same = len(r.Hist.Points)
		}
		ls.changedAccts, ls.closedRels = ls.changedAccts[:0], ls.closedRels[:0]
		return
	}
	sv := ls.saved
	sv.Seq, sv.Now, sv.Sweep = st.Seq, st.Now, st.Sweep
	sv.Assets = slices.Clone(st.Assets)
	sv.Markets = slices.Clone(st.Markets)
	for _, id := range ls.changedAccts {
		if a := st.Accounts[id]; a != nil {
			c := *a
			c.Bal = slices.Clone(a.Bal)
			sv.Accounts[id] = &c
		}
	}
	for id, l := range st.Leaders {
		var old []statPoint
		if p := sv.Leaders[id]; p != nil {
			old = p.Hist.Points
		}
		sv.Leaders[id] = l.copyInto(old)
	}
	copyRel := func(r *statRelation) {
		var old []statPoint
		if p := sv.Relations[r.ID]; p != nil {
			old = p.Hist.Points
		}
		sv.Relations[r.ID] = r.copyInto(old)
	}
	for _, r := range ls.open {
		copyRel(r)
	}
	for _, id := range ls.closedRels {
		if r := st.Relations[id]; r != nil {
			copyRel(r)
		}
	}
	ls.changedAccts, ls.closedRels = ls.changedAccts[:0], ls.closedRels[:0]
}

// syncPoints returns s's points, built on old, the saved copy's (whose
// array it may reuse): the first s.same are already there. Then every
// point of s is.
func syncPoints(old []statPoint, s *series) []statPoint {
	k := min(s.same, len(old), len(s.Points))
	out := append(old[:k], s.Points[k:]...)
	s.same = len(s.Points)
	return out
}

// copyInto returns a deep copy of l whose points are built on old
// (syncPoints).
func (l *statLeader) copyInto(old []statPoint) *statLeader {
	c := l.copyButPoints()
	c.Hist.Points = syncPoints(old, &l.Hist)
	return c
}

// copyButPoints returns a copy of l that shares nothing with it but the
// array of its series' points, which the caller replaces.
func (l *statLeader) copyButPoints() *statLeader {
	c := *l
	if l.Pos != nil {
		c.Pos = make(map[uint32]*statPos, len(l.Pos))
		for m, p := range l.Pos {
			pc := *p
			c.Pos[m] = &pc
		}
	}
	c.Rels = slices.Clone(l.Rels)
	return &c
}

// copyInto returns a deep copy of r whose points are built on old
// (syncPoints).
func (r *statRelation) copyInto(old []statPoint) *statRelation {
	c := r.copyButPoints()
	c.Hist.Points = syncPoints(old, &r.Hist)
	return c
}

// copyButPoints is statLeader.copyButPoints for a relation.
func (r *statRelation) copyButPoints() *statRelation {
	c := *r
	c.Bal = slices.Clone(r.Bal)
	c.ReturnedBal = slices.Clone(r.ReturnedBal)
	return &c
}

// clone returns a deep copy of st: nothing it holds is shared with st.
func (st *statsState) clone() statsState {
	c := *st
	c.Assets = slices.Clone(st.Assets)
	c.Markets = slices.Clone(st.Markets)
	c.Accounts = make(map[uint64]*statAccount, len(st.Accounts))
	for k, a := range st.Accounts {
		ac := *a
		ac.Bal = slices.Clone(a.Bal)
		c.Accounts[k] = &ac
	}
	c.Leaders = make(map[uint64]*statLeader, len(st.Leaders))
	for k, l := range st.Leaders {
		lc := l.copyButPoints()
		lc.Hist.Points = slices.Clone(l.Hist.Points)
		c.Leaders[k] = lc
	}
	c.Relations = make(map[uint64]*statRelation, len(st.Relations))
	for k, r := range st.Relations {
		rc := r.copyButPoints()
		rc.Hist.Points = slices.Clone(r.Hist.Points)
		c.Relations[k] = rc
	}
	return c
}

// decode replaces the statistics with the encoded ones.
func (ls *leaderStats) decode(data []byte) error {
	if len(data) == 0 || data[0] < 1 || data[0] > statsVersion {
		return fmt.Errorf("server: leader statistics: unknown version")
	}
	st := statsState{}
	if err := gob.NewDecoder(bytes.NewReader(data[1:])).Decode(&st); err != nil {
		return fmt.Errorf("server: decode leader statistics: %w", err)
	}
	if st.Accounts == nil {
		st.Accounts = map[uint64]*statAccount{}
	}
	if st.Leaders == nil {
		st.Leaders = map[uint64]*statLeader{}
	}
	if st.Relations == nil {
		st.Relations = map[uint64]*statRelation{}
	}
	for _, l := range st.Leaders {
		if l.Pos == nil {
			l.Pos = map[uint32]*statPos{}
		}
		if data[0] < 2 {
			l.Hist.ranged()
		}
	}
	for _, r := range st.Relations {
		if data[0] < 2 {
			r.Hist.ranged()
		}
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.st = st
	ls.index()
	return nil
}

// seq returns the sequence number of the last result applied.
func (ls *leaderStats) seq() uint64 {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	return ls.st.Seq
}

// loadStats restores the statistics from the metadata store.
func (s *Server) loadStats() error {
	s.stats = newLeaderStats()
	data, err := s.store.get([]byte(statsKey))
	if err != nil || data == nil {
		return err
	}
	if err := s.stats.decode(data); err != nil {
		return err
	}
	s.statsSaved.Store(s.stats.seq())
	return nil
}

// saveStats writes the statistics to the metadata store if they changed
// since the last save. Unless forced, it does so only once statsSaveGap
// times the last save's duration has passed since it, so that saving
// large statistics (their whole gob each time) takes at most about 5% of
// a core: with small ones, at every history save; with a 32-MB gob,
// every 12 s or so. Until saved, the log keeps the commands after their
// last save (Retain), which a restart replays into them.
func (s *Server) saveStats(force bool) error {
	if s.stats.seq() == s.statsSaved.Load() || !force && time.Now().Before(s.statsDue) {
		return nil
	}
	t0 := time.Now()
	data, seq, err := s.stats.encode()
	if err != nil {
		return err
	}
	if err := s.store.set([]byte(statsKey), data); err != nil {
		return err
	}
	s.statsSaved.Store(seq)
	took := time.Since(t0)
	s.statsDue = t0.Add(statsSaveGap * took)
	return nil
}

// statsSaveGap is the time between periodic saves of the leader
// statistics, in multiples of the last save's duration (saveStats).
const statsSaveGap = 20

// syncPaused takes which open relations are paused from the engine's
// views, published for the recovered state by engine.Open: statistics
// saved before the ledger tracked pauses hold none. From then on, apply
// follows pauses and resumes.
func (ls *leaderStats) syncPaused(e *engine.Engine) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	e.Relations(func(v *engine.RelationView) bool {
		if r := ls.st.Relations[v.ID]; r != nil {
			r.Paused = v.Status == engine.RelationPaused
		}
		return true
	})
}

// reconcile brings the ledger up to the engine's state at seq, for when
// the statistics missed results: a first start on an older data
// directory, or a save older than the engine snapshot the log was
// replayed from. Markets, prices, holdings, leaders and relations are
// taken from the engine's views (published for the recovered state by
// engine.Open); holdings that changed move in or out at the NAV per unit
// in force, so that what was missed shows in no return. What was missed
// is also missing from the series, positions and round trips.
func (ls *leaderStats) reconcile(e *engine.Engine, seq uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	st := &ls.st
	dir := e.Directory()
	st.Assets = append(st.Assets[:0], dir.Assets...)
	for _, mi := range dir.Markets {
		st.Markets = grow(st.Markets, int(mi.ID))
		m := &st.Markets[mi.ID-1]
		m.Base, m.Quote, m.BaseScale, m.QuoteScale = mi.Spec.Base, mi.Spec.Quote, mi.Spec.BaseScale, mi.Spec.QuoteScale
		if v, ok := e.Market(mi.ID); ok {
			m.Last = v.Last
		}
	}
	ls.index()
	holdings := func(id uint64) []int64 {
		var bal []int64
		if v, ok := e.Account(id); ok {
			for _, b := range v.Balances {
				addBal(&bal, b.Asset, b.Available+b.Locked)
			}
		}
		return bal
	}
	wallets := map[uint64]bool{}
	e.Relations(func(v *engine.RelationView) bool {
		wallets[v.Wallet] = true
		r := st.Relations[v.ID]
		if r == nil {
			r = &statRelation{ID: v.ID, Follower: v.Follower, Leader: v.Leader, Asset: v.Asset,
				Units: float64(v.Allocation), LastNPU: 1, In: v.Allocation}
			st.Relations[v.ID] = r
			ls.addFollowerRel(v.Follower, v.ID)
		}
		if v.Status == engine.RelationClosed {
			if !r.Closed {
				r.LastNPU = ls.relNPU(r)
				r.Bal, r.Units, r.Closed, r.ClosedAt, r.OutUnknown = nil, 0, true, st.Now, true
			}
			return true
		}
		npu := ls.relNPU(r)
		r.Bal = holdings(v.Wallet)
		r.In = max(r.In, v.Allocation)
		r.Units = float64(ls.relNAV(r)) / max(npu, 1e-9)
		ls.touch(statKey{true, r.ID})
		return true
	})
	for id := uint64(1); ; id++ {
		if _, ok := e.Account(id); !ok {
			break
		}
		if wallets[id] {
			continue
		}
		a := ls.account(id)
		l := st.Leaders[id]
		var npu float64
		if l != nil {
			npu = ls.npu(l)
		}
		a.Bal = holdings(id)
		if l != nil && l.Val != 0 {
			l.Units = float64(max(ls.leaderNAV(l), 0)) / max(npu, 1e-9)
			ls.touch(statKey{false, id})
		}
	}
	e.Leaders(func(v *engine.LeaderView) bool {
		if st.Leaders[v.Account] == nil {
			l := &statLeader{Account: v.Account, LastNPU: 1, Pos: map[uint32]*statPos{}}
			st.Leaders[v.Account] = l
			ls.incept(l)
		}
		return true
	})
	for _, l := range st.Leaders {
		l.Rels = l.Rels[:0]
	}
	for id, r := range st.Relations {
		if l := st.Leaders[r.Leader]; l != nil {
			l.Rels = append(l.Rels, id)
		}
	}
	for _, l := range st.Leaders {
		slices.Sort(l.Rels)
	}
	ls.indexRels()
	st.Seq = seq
	ls.sample()
}
