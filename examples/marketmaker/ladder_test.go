package main

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// ladderString shows quotes as "99.9×1 99.8×1 | 100.1×1 100.2×1", "-"
// for a side without quotes.
func ladderString(m *market, bids, asks []quote) string {
	var sides [2]string
	for i, qs := range [][]quote{bids, asks} {
		var b strings.Builder
		for j, q := range qs {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s×%s", m.price(q.price), m.qty(q.qty))
		}
		sides[i] = cmp.Or(b.String(), "-")
	}
	return sides[0] + " | " + sides[1]
}

func TestLadder(t *testing.T) {
	m := testMarket()
	// 3 levels of 1 MM, 20 bps wide, 10 bps apart, 10 bps of skew at 10 MM.
	base := ladderSpec{levels: 3, spreadBps: 20, stepBps: 10, skewBps: 10, size: 1000, maxInv: 10_000, market: m}
	for _, tc := range []struct {
		name string
		edit func(*ladderSpec)
		mid  int64 // ticks
		inv  int64 // lots
		t    touch
		want string
	}{
		{name: "flat", mid: 10_000,
			want: "99.9×1 99.8×1 99.7×1 | 100.1×1 100.2×1 100.3×1"},
		{name: "short 1: up a tick", mid: 10_000, inv: -1000,
			want: "99.91×1 99.81×1 99.71×1 | 100.11×1 100.21×1 100.31×1"},
		{name: "long 5: down 5 ticks", mid: 10_000, inv: 5000,
			want: "99.85×1 99.75×1 99.65×1 | 100.05×1 100.15×1 100.25×1"},
		{name: "long past the cap: no bids, skew capped", mid: 10_000, inv: 12_000,
			want: "- | 100×1 100.1×1 100.2×1"},
		{name: "long at the cap: no bids", mid: 10_000, inv: 10_000,
			want: "- | 100×1 100.1×1 100.2×1"},
		{name: "short at the cap: no asks, up 10 ticks", mid: 10_000, inv: -10_000,
			want: "100×1 99.9×1 99.8×1 | -"},
		{name: "long 8.5: bids up to the cap, the last one partial; 8.5 ticks round to 9", mid: 10_000, inv: 8500,
			want: "99.81×1 99.71×0.5 | 100.01×1 100.11×1 100.21×1"},
		{name: "short 9.25: asks up to the cap", mid: 10_000, inv: -9250,
			want: "99.99×1 99.89×1 99.79×1 | 100.19×0.75"},
		{name: "mid rounds the offsets up, away from it", mid: 10_001,
			want: "99.9×1 99.8×1 99.7×1 | 100.12×1 100.22×1 100.32×1"},
		{name: "a tiny spread is still a tick a side, levels a tick apart", mid: 10_000,
			edit: func(sp *ladderSpec) { sp.spreadBps, sp.stepBps = 0, 0 },
			want: "99.99×1 99.98×1 99.97×1 | 100.01×1 100.02×1 100.03×1"},
		{name: "behind the others' ask", mid: 10_000, t: touch{bid: 9000, ask: 9985},
			want: "99.84×1 99.8×1 99.7×1 | 100.1×1 100.2×1 100.3×1"},
		{name: "behind the others' bid", mid: 10_000, t: touch{bid: 10_025},
			want: "99.9×1 99.8×1 99.7×1 | 100.26×1 100.27×1 100.3×1"},
		{name: "below one tick is left out", mid: 2,
			edit: func(sp *ladderSpec) { sp.size, sp.maxInv = 1_000_000, 10_000_000 }, // 1000 MM at 0.01: notional 10
			want: "0.01×1000 | 0.03×1000 0.04×1000 0.05×1000"},
		{name: "below the minimum notional is left out", mid: 100, // 1 USDT
			edit: func(sp *ladderSpec) { sp.spreadBps = 2000 },
			want: "- | 1.1×1 1.11×1 1.12×1"},
		{name: "above the maximum price is left out", mid: 99_999_990,
			edit: func(sp *ladderSpec) { sp.spreadBps, sp.stepBps = 0, 1 },
			want: "999999.89×1 999899.9×1 999799.9×1 | 999999.91×1"},
		{name: "short near the maximum price: bids held at or below it", mid: 99_999_990, inv: -10_000,
			edit: func(sp *ladderSpec) { sp.spreadBps, sp.stepBps = 0, 1 },
			want: "1000000×1 999999.99×1 999999.98×1 | -"},
		{name: "no skew", mid: 10_000, inv: 5000,
			edit: func(sp *ladderSpec) { sp.skewBps = 0 },
			want: "99.9×1 99.8×1 99.7×1 | 100.1×1 100.2×1 100.3×1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := base
			if tc.edit != nil {
				tc.edit(&sp)
			}
			bids, asks := sp.quotes(tc.mid, tc.inv, tc.t)
			if got := ladderString(m, bids, asks); got != tc.want {
				t.Errorf("quotes(mid %s, inv %s, %+v)\n got %s\nwant %s", m.price(tc.mid), m.qty(tc.inv), tc.t, got, tc.want)
			}
		})
	}
}

// The ladder's invariants, on random markets, shapes and inputs.
func TestLadderInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 0))
	for i := range 5000 {
		m := &market{symbol: "X-Y", tick: []int64{1, 100, 1_000_000, fixedOne}[r.IntN(4)],
			lot: []int64{1, 100_000, fixedOne}[r.IntN(3)], maxPrice: 1 + r.Int64N(1e9), maxQty: 1 + r.Int64N(1e9)}
		m.minNotional = r.Int64N(10 * fixedOne)
		sp := ladderSpec{levels: 1 + r.IntN(maxLevels), spreadBps: r.Int64N(500), stepBps: r.Int64N(100),
			skewBps: r.Int64N(200), size: 1 + r.Int64N(1000), maxInv: 1 + r.Int64N(10_000), market: m}
		mid := 1 + r.Int64N(m.maxPrice)
		inv := r.Int64N(3*sp.maxInv) - r.Int64N(3*sp.maxInv)
		var tch touch
		if r.IntN(2) == 0 {
			tch.bid = r.Int64N(m.maxPrice)
		}
		if r.IntN(2) == 0 {
			tch.ask = r.Int64N(m.maxPrice)
		}
		bids, asks := sp.quotes(mid, inv, tch)
		fail := func(format string, args ...any) {
			t.Fatalf("case %d: %+v mid %d inv %d %+v: %s\nbids %v\nasks %v", i, sp, mid, inv, tch, fmt.Sprintf(format, args...), bids, asks)
		}
		var bought, sold int64
		for _, qs := range [][]quote{bids, asks} {
			if len(qs) > sp.levels {
				fail("more than %d levels", sp.levels)
			}
			for j, q := range qs {
				n, ok := m.notional(q.price, q.qty)
				switch {
				case q.price < 1 || q.price > m.maxPrice:
					fail("price %d out of range", q.price)
				case q.qty < 1 || q.qty > sp.size:
					fail("quantity %d", q.qty)
				case !ok || n < m.minNotional:
					fail("notional %d below %d", n, m.minNotional)
				case j > 0 && q.side == buy && q.price >= qs[j-1].price:
					fail("bids not strictly descending")
				case j > 0 && q.side == sell && q.price <= qs[j-1].price:
					fail("asks not strictly ascending")
				case q.side == buy && tch.ask > 0 && q.price >= tch.ask:
					fail("a bid would cross the others' ask")
				case q.side == sell && tch.bid > 0 && q.price <= tch.bid:
					fail("an ask would cross the others' bid")
				}
				if q.side == buy {
					bought += q.qty
				} else {
					sold += q.qty
				}
			}
		}
		if len(bids) > 0 && len(asks) > 0 && bids[0].price >= asks[0].price {
			fail("crossed")
		}
		if inv+bought > max(sp.maxInv, inv) || inv-sold < min(-sp.maxInv, inv) {
			fail("fills could take the inventory past ±%d", sp.maxInv)
		}
	}
}

// Holding more base never raises a quote: the skew is monotonic.
func TestLadderSkewMonotonic(t *testing.T) {
	m := testMarket()
	sp := ladderSpec{levels: 1, spreadBps: 20, stepBps: 10, skewBps: 50, size: 1, maxInv: 10_000, market: m}
	var lastBid, lastAsk int64 = 1 << 62, 1 << 62
	for inv := int64(-12_000); inv <= 12_000; inv += 250 {
		bids, asks := sp.quotes(10_000, inv, touch{})
		if len(bids) > 0 {
			if bids[0].price > lastBid {
				t.Fatalf("inventory %d raised the bid to %d from %d", inv, bids[0].price, lastBid)
			}
			lastBid = bids[0].price
		}
		if len(asks) > 0 {
			if asks[0].price > lastAsk {
				t.Fatalf("inventory %d raised the ask to %d from %d", inv, asks[0].price, lastAsk)
			}
			lastAsk = asks[0].price
		}
	}
}

func TestTouchMid(t *testing.T) {
	for _, tc := range []struct {
		t        touch
		fallback int64
		want     int64
	}{
		{touch{9990, 10_010}, 5, 10_000},
		{touch{9990, 10_011}, 5, 10_000}, // rounded down to a tick
		{touch{9990, 0}, 5, 5},           // one side only: the fallback
		{touch{0, 10_010}, 5, 5},
		{touch{10_010, 9990}, 5, 5}, // crossed (a stale read): the fallback
		{touch{}, 7, 7},
	} {
		if got := tc.t.mid(tc.fallback); got != tc.want {
			t.Errorf("%+v.mid(%d) = %d; want %d", tc.t, tc.fallback, got, tc.want)
		}
	}
}
