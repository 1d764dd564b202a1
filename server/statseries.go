package server

import (
	"sort"
	"time"
)

// statPoint is one sample of a NAV-per-unit series (a leader's or a copy
// relation's), with the cumulative counters windows are differences of:
// the values at the end of its step (the closing values), and the
// lowest, the highest and the largest fall of the NAV per unit over the
// samples of its step.
type statPoint struct {
	T     int64   // engine time, Unix ns
	NPU   float64 // NAV per unit
	PnL   int64   // cumulative PnL, in the series' valuation asset
	Trips int32   // cumulative closed round trips
	Wins  int32   // cumulative winning round trips

	Income int64 // cumulative profit share received (leaders), in the valuation asset

	Lo, Hi float64 // lowest and highest NAV per unit in the step
	DD     float64 // largest fall of the NAV per unit within the step (fall)
}

// fall returns the fall from peak to v as a fraction of peak (≥ 0).
func fall(peak, v float64) float64 {
	if peak <= 0 || v >= peak {
		return 0
	}
	return 1 - v/peak
}

// merge returns b (the later) with the range and the fall of both a and
// b: that of one step made of both.
func merge(a, b statPoint) statPoint {
	b.DD = max(a.DD, b.DD, fall(a.Hi, b.Lo))
	b.Lo, b.Hi = min(a.Lo, b.Lo), max(a.Hi, b.Hi)
	return b
}

// statTier says that points up to Age old (relative to the newest) keep
// one point per Step. Tiers are ordered by Age; the last one covers every
// older point.
type statTier struct {
	Age, Step int64 // ns
}

const (
	day  = int64(24 * time.Hour)
	hour = int64(time.Hour)
	mins = int64(time.Minute)
)

// Downsampling of the series. A step keeps one point: the closing values
// of its last sample, with the range (Lo, Hi) and the largest fall (DD)
// of all its samples, so that drawdowns within a step are seen.
//
//	leaders:   1 min up to 7 days, 5 min up to 30 days, 1 h up to a year, then 1 day
//	relations: 1 h up to 30 days, then 1 day
//
// A leader's series thus holds at most about 10,080 + 6,624 + 8,040
// points plus one a day beyond a year.
var (
	leaderTiers   = []statTier{{7 * day, mins}, {30 * day, 5 * mins}, {365 * day, hour}, {1 << 62, day}}
	relationTiers = []statTier{{30 * day, hour}, {1 << 62, day}}
)

// series is a bounded NAV-per-unit history: Origin, the first sample
// (kept as is: the "all" window starts there), and Points, samples at
// the resolution of tiers, oldest first.
type series struct {
	Origin    statPoint
	Points    []statPoint
	Compacted int64 // time of the last compaction

	// same is how many of the first Points are known to equal those of
	// the copy the statistics were last saved from (leaderStats.saved):
	// a save copies only the points after them (syncPoints). 0, the
	// zero value, copies all. Not persisted.
	same int
}

// step returns the resolution of a point age old.
func step(tiers []statTier, age int64) int64 {
	for _, t := range tiers {
		if age <= t.Age {
			return t.Step
		}
	}
	return tiers[len(tiers)-1].Step
}

// record adds sample p (p.T never before the last point's; its Lo, Hi
// and DD are set from its NPU), merged into the last point if both fall
// in the same finest step, and compacts older points at most once an
// hour of engine time.
func (s *series) record(p statPoint, tiers []statTier) {
	p.Lo, p.Hi, p.DD = p.NPU, p.NPU, 0
	if len(s.Points) == 0 {
		s.Origin, s.Compacted = p, p.T
	}
	fine := tiers[0].Step
	if n := len(s.Points); n > 0 && s.Points[n-1].T/fine == p.T/fine {
		s.Points[n-1] = merge(s.Points[n-1], p)
		s.same = min(s.same, n-1)
	} else {
		s.Points = append(s.Points, p)
	}
	if p.T-s.Compacted >= hour {
		s.compact(p.T, tiers)
	}
}

// compact merges the points of each step into its last one, each
// point's step given by its age at now.
func (s *series) compact(now int64, tiers []statTier) {
	s.Compacted = now
	pts := s.Points
	out := pts[:0]
	for i := range pts {
		if i+1 < len(pts) {
			st := step(tiers, now-pts[i].T)
			if st == step(tiers, now-pts[i+1].T) && pts[i].T/st == pts[i+1].T/st {
				pts[i+1] = merge(pts[i], pts[i+1]) // the next point closes the same step
				// The points before the first merge stay where they
				// were; from it on, they move or change.
				s.same = min(s.same, len(out))
				continue
			}
		}
		out = append(out, pts[i])
	}
	clear(pts[len(out):])
	s.Points = out
}

// at returns the sample in force at time t: the last point at or before
// t, or Origin if there is none.
func (s *series) at(t int64) statPoint {
	i := sort.Search(len(s.Points), func(i int) bool { return s.Points[i].T > t })
	if i == 0 {
		return s.Origin
	}
	return s.Points[i-1]
}

// drawdown returns the largest peak-to-trough fall, as a fraction of the
// peak, of the NAV per unit from the (closing) value in force at start
// through the points after it up to end, where the series stands at
// last. A point's step counts whole: the first point after start may
// bring samples of its step from before start (at most a step early).
//
// It is exact over the samples: a fall has its peak either in an earlier
// point (the running peak against the point's Lo) or in the same point
// (its DD).
func (s *series) drawdown(start, end int64, last float64) float64 {
	peak := s.at(start).NPU
	dd := 0.0
	i := sort.Search(len(s.Points), func(i int) bool { return s.Points[i].T > start })
	for ; i < len(s.Points) && s.Points[i].T <= end; i++ {
		p := &s.Points[i]
		dd = max(dd, p.DD, fall(peak, p.Lo))
		peak = max(peak, p.Hi)
	}
	return max(dd, fall(peak, last))
}

// ranged sets the range of points without one (persisted before points
// had it) to their closing value.
func (s *series) ranged() {
	fix := func(p *statPoint) {
		if p.Lo == 0 && p.Hi == 0 {
			p.Lo, p.Hi = p.NPU, p.NPU
		}
	}
	fix(&s.Origin)
	s.same = 0
	for i := range s.Points {
		fix(&s.Points[i])
	}
}
