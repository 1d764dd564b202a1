package server

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"github.com/tidwall/btree"
)

// leaderRels indexes one leader's relations by state, so that its row
// walks its open relations and only the closed ones its window needs,
// not every relation ever made (with follows coming and going, closed
// relations are most of them and keep growing).
//
// A closed relation no longer changes: its PnL (Out − In) and NAV per
// unit are fixed at its close. For the "all" window, which measures it
// from its first sample (series.Origin), its contribution is therefore
// fixed as well, and is kept added up: its PnL summed by asset
// (converted into the leader's valuation asset once per asset, at the
// prices of the row), its ROI in a sorted tree (the copy gap takes the
// median of all relations' ROIs). The 7d and 30d windows take the closed
// relations closed within them, from the list by close time.
//
// It is derived state (leaderStats.index rebuilds it) and is not saved.
type leaderRels struct {
	open   []*statRelation // open relations, ascending ids
	closed []*statRelation // closed relations, by close time (then id)
	allPnL []assetAmount   // window "all": closed relations' PnL, by asset
	allROI *btree.BTreeG[relROI]
}

// assetAmount is an amount of one asset.
type assetAmount struct {
	asset uint32
	amt   int64
}

// relROI is a closed relation's ROI over the "all" window.
type relROI struct {
	roi float64
	id  uint64
}

func newLeaderRels() *leaderRels {
	return &leaderRels{allROI: btree.NewBTreeGOptions(func(a, b relROI) bool {
		if a.roi != b.roi {
			return a.roi < b.roi
		}
		return a.id < b.id
	}, btree.Options{NoLocks: true})}
}

// indexRels rebuilds ls.lrels and ls.open from the relations (ls.mu held
// for writing).
func (ls *leaderStats) indexRels() {
	ls.wholeCopy = true // relations may have been closed or added without relClosed
	ls.lrels = make(map[uint64]*leaderRels, len(ls.st.Leaders))
	ls.open = map[uint64]*statRelation{}
	for id := range ls.st.Leaders {
		ls.lrels[id] = newLeaderRels()
	}
	var closed []*statRelation
	for _, r := range ls.st.Relations {
		if !r.Closed {
			ls.open[r.ID] = r
		}
		lr := ls.lrels[r.Leader]
		switch {
		case lr == nil:
		case r.Closed:
			closed = append(closed, r)
		default:
			lr.open = append(lr.open, r)
		}
	}
	for _, lr := range ls.lrels {
		slices.SortFunc(lr.open, func(a, b *statRelation) int { return cmp.Compare(a.ID, b.ID) })
	}
	slices.SortFunc(closed, func(a, b *statRelation) int {
		return cmp.Or(cmp.Compare(a.ClosedAt, b.ClosedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, r := range closed {
		ls.lrels[r.Leader].addClosed(r)
	}
}

// relOpened indexes new open relation r (ls.mu held for writing).
func (ls *leaderStats) relOpened(r *statRelation) {
	ls.open[r.ID] = r
	if lr := ls.lrels[r.Leader]; lr != nil {
		i, _ := slices.BinarySearchFunc(lr.open, r.ID, func(o *statRelation, id uint64) int { return cmp.Compare(o.ID, id) })
		lr.open = slices.Insert(lr.open, i, r)
	}
}

// relClosed moves relation r, just closed (its ClosedAt at least that of
// any relation closed before), to the closed ones (ls.mu held for
// writing).
func (ls *leaderStats) relClosed(r *statRelation) {
	delete(ls.open, r.ID)
	ls.closedRels = append(ls.closedRels, r.ID)
	lr := ls.lrels[r.Leader]
	if lr == nil {
		return
	}
	if i, ok := slices.BinarySearchFunc(lr.open, r.ID, func(o *statRelation, id uint64) int { return cmp.Compare(o.ID, id) }); ok {
		lr.open = slices.Delete(lr.open, i, i+1)
	}
	lr.addClosed(r)
}

// addClosed appends closed relation r, the latest closed, and adds its
// contribution to the "all" window.
func (lr *leaderRels) addClosed(r *statRelation) {
	lr.closed = append(lr.closed, r)
	if len(r.Hist.Points) == 0 { // no sample: in no window (rowLocked)
		return
	}
	s := r.Hist.at(math.MinInt64) // the Origin
	pnl := r.Out - r.In - s.PnL
	i := slices.IndexFunc(lr.allPnL, func(a assetAmount) bool { return a.asset == r.Asset })
	if i < 0 {
		lr.allPnL = append(lr.allPnL, assetAmount{asset: r.Asset})
		i = len(lr.allPnL) - 1
	}
	lr.allPnL[i].amt += pnl // as rowLocked adds them
	if s.NPU > 0 {
		lr.allROI.Set(relROI{roi: r.LastNPU/s.NPU - 1, id: r.ID})
	}
}

// closedRelations returns the ids of leader's closed relations, ascending
// (nil if it does not lead).
func (ls *leaderStats) closedRelations(leader uint64) []uint64 {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	lr := ls.lrels[leader]
	if lr == nil {
		return nil
	}
	ids := make([]uint64, len(lr.closed))
	for i, r := range lr.closed {
		ids[i] = r.ID
	}
	slices.Sort(ids)
	return ids
}

// closedSince returns the closed relations closed at or after t.
func (lr *leaderRels) closedSince(t int64) []*statRelation {
	i := sort.Search(len(lr.closed), func(i int) bool { return lr.closed[i].ClosedAt >= t })
	return lr.closed[i:]
}

// kth returns the k-th smallest (from 0) of the union of sorted a and
// sorted b (b's i-th given by at, n values), 0 ≤ k < len(a)+n, in
// O(log len(a) × the cost of at): the row's open relations' ROIs are
// few, the closed ones many.
func kth(a []float64, at func(int) float64, n, k int) float64 {
	// Take i from a and j = k+1−i from b: the k+1 smallest are a[:i]
	// and b[:j] when a[i−1] ≤ b[j] and b[j−1] ≤ a[i].
	lo, hi := max(0, k+1-n), min(len(a), k+1)
	for {
		i := lo + (hi-lo)/2
		j := k + 1 - i
		switch {
		case i < len(a) && j > 0 && at(j-1) > a[i]:
			lo = i + 1 // too few from a
		case i > 0 && j < n && a[i-1] > at(j):
			hi = i - 1 // too many from a
		default:
			switch {
			case i == 0:
				return at(j - 1)
			case j == 0:
				return a[i-1]
			}
			return max(a[i-1], at(j-1))
		}
	}
}
