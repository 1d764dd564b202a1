package server

import (
	"sort"
	"time"
)

// statPoint is one sample of a NAV-per-unit series (a leader's or a copy
// relation's), with the cumulative counters windows are differences of.
type statPoint struct {
	T     int64   // engine time, Unix ns
	NPU   float64 // NAV per unit
	PnL   int64   // cumulative PnL, in the series' valuation asset
	Trips int32   // cumulative closed round trips
	Wins  int32   // cumulative winning round trips
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

// Downsampling of the series. Within a step the last point wins (the
// closing value): drawdowns within one step are not seen.
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

// record adds p (p.T never before the last point's), replacing the last
// point if both fall in the same finest step, and compacts older points
// at most once an hour of engine time.
func (s *series) record(p statPoint, tiers []statTier) {
	if len(s.Points) == 0 {
		s.Origin, s.Compacted = p, p.T
	}
	fine := tiers[0].Step
	if n := len(s.Points); n > 0 && s.Points[n-1].T/fine == p.T/fine {
		s.Points[n-1] = p
	} else {
		s.Points = append(s.Points, p)
	}
	if p.T-s.Compacted >= hour {
		s.compact(p.T, tiers)
	}
}

// compact keeps the last point of each step, each point's step given by
// its age at now.
func (s *series) compact(now int64, tiers []statTier) {
	s.Compacted = now
	pts := s.Points
	out := pts[:0]
	for i := range pts {
		if i+1 < len(pts) {
			st := step(tiers, now-pts[i].T)
			if st == step(tiers, now-pts[i+1].T) && pts[i].T/st == pts[i+1].T/st {
				continue // the next point closes the same step
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
// peak, of the NAV per unit from the value in force at start through the
// points after it up to end, where the series stands at last.
func (s *series) drawdown(start, end int64, last float64) float64 {
	peak := s.at(start).NPU
	dd := 0.0
	see := func(v float64) {
		if v > peak {
			peak = v
		} else if peak > 0 {
			dd = max(dd, 1-v/peak)
		}
	}
	i := sort.Search(len(s.Points), func(i int) bool { return s.Points[i].T > start })
	for ; i < len(s.Points) && s.Points[i].T <= end; i++ {
		see(s.Points[i].NPU)
	}
	see(last)
	return dd
}
