package main

import (
	"math/rand/v2"
	"testing"
)

func TestPosition(t *testing.T) {
	m := testMarket() // tick 0.01, lot 0.001
	type fill struct {
		s          side
		price, qty string
		fee        string
	}
	for _, tc := range []struct {
		name     string
		fills    []fill
		inv      string
		realised string
		fees     string
	}{
		{name: "flat", inv: "0", realised: "0", fees: "0"},
		{name: "round trip long",
			fills: []fill{{buy, "99.9", "1", "0"}, {sell, "100.1", "1", "0"}},
			inv:   "0", realised: "0.2", fees: "0"},
		{name: "round trip short, fees deducted",
			fills: []fill{{sell, "100.1", "2", "0.2002"}, {buy, "99.9", "2", "0.1998"}},
			inv:   "0", realised: "0", fees: "0.4"}, // 0.4 earned, 0.4 paid
		{name: "average cost",
			fills: []fill{{buy, "100", "1", "0"}, {buy, "102", "1", "0"}, {sell, "103", "1", "0"}},
			inv:   "1", realised: "2", fees: "0"}, // sold at 103 what cost 101 on average
		{name: "a loss",
			fills: []fill{{buy, "100", "1.5", "0"}, {sell, "99", "0.5", "0"}},
			inv:   "1", realised: "-0.5", fees: "0"},
		{name: "flip from long to short",
			fills: []fill{{buy, "100", "1", "0"}, {sell, "101", "3", "0"}, {buy, "100.5", "2", "0"}},
			inv:   "0", realised: "2", fees: "0"}, // 1 on the long, 2 × 0.5 on the short
		{name: "partial close of a short",
			fills: []fill{{sell, "100", "2", "0"}, {buy, "99", "0.5", "0"}},
			inv:   "-1.5", realised: "0.5", fees: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p position
			for _, f := range tc.fills {
				price, _ := m.ticks(f.price)
				qty, _ := m.lots(f.qty)
				fee, _ := parseFixed(f.fee)
				p.apply(m, f.s, price, qty, fee)
			}
			if got := m.qty(p.inv); got != tc.inv {
				t.Errorf("inventory %s; want %s", got, tc.inv)
			}
			if got := formatFixed(p.realised); got != tc.realised {
				t.Errorf("realised %s; want %s", got, tc.realised)
			}
			if got := formatFixed(p.fees); got != tc.fees {
				t.Errorf("fees %s; want %s", got, tc.fees)
			}
			if p.fills != len(tc.fills) {
				t.Errorf("fills %d; want %d", p.fills, len(tc.fills))
			}
			if p.inv == 0 && p.cost != 0 {
				t.Errorf("flat with a cost basis of %d", p.cost)
			}
		})
	}
}

// Whatever the fills, once flat again the realised PnL is what was sold
// minus what was bought minus the fees, up to the rounding of the average
// cost (at most one 10^-8 unit per fill).
func TestPositionConserves(t *testing.T) {
	m := testMarket()
	r := rand.New(rand.NewPCG(testSeed(t), 0))
	for i := range 2000 {
		var p position
		var cash int64 // quote in minus quote out, fees included
		for range 1 + r.IntN(20) {
			s, price, qty, fee := side(r.IntN(2)), 9000+r.Int64N(2000), 1+r.Int64N(5000), r.Int64N(1e6)
			p.apply(m, s, price, qty, fee)
			n, _ := m.notional(price, qty)
			if s == buy {
				cash -= n
			} else {
				cash += n
			}
			cash -= fee
		}
		// Close at a random price.
		price := 9000 + r.Int64N(2000)
		n, _ := m.notional(price, abs(p.inv))
		if p.inv > 0 {
			cash += n
			p.apply(m, sell, price, p.inv, 0)
		} else if p.inv < 0 {
			cash -= n
			p.apply(m, buy, price, -p.inv, 0)
		}
		if d := abs(p.realised - cash); p.inv != 0 || d > int64(p.fills) {
			t.Fatalf("case %d: inventory %d, realised %d, cash %d", i, p.inv, p.realised, cash)
		}
	}
}
