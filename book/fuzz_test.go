package book

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fuzzRules are the rule sets a fuzz input can pick with its first byte.
var fuzzRules = []Rules{
	diffRules,
	{},
	{TickSize: 2, LotSize: 3, MinQty: 6, MaxQty: 300, MinNotional: 100, MaxPrice: 250},
}

// fuzzOpLen is the number of input bytes per decoded command.
const fuzzOpLen = 6

// fuzzMaxOps bounds the commands decoded from one input.
const fuzzMaxOps = 2000

// decodeFuzzOps turns fuzz input into rules and commands. data[0] picks the
// rules; then each command takes 6 bytes c a p q s x:
//
//	c: low 4 bits the command (0-9 place, 10-12 cancel, 13-15 amend),
//	   high 4 bits the order id (0 is invalid; ids 1-15 collide often)
//	a: bit 0 side, bits 1-2 type, bits 3-4 TIF (3 invalid), bits 5-6 STP,
//	   bit 7 post-only
//	p: low 6 bits price offset in ticks from mid (-32..31); high 2 bits:
//	   0 price (none for market types), 1 zero, 2 price (also for market
//	   types: protection), 3 off tick
//	q: low 6 bits quantity in lots; high 2 bits: 0-1 as is, 2 off lot,
//	   3 quote budget of 50 × low bits instead of a quantity (or as well,
//	   then of s's low 5 bits in lots, if bit 4 of x is set)
//	s: low 5 bits stop offset in ticks from mid (-16..15), used by stop
//	   types; high 3 bits 5-7 give an iceberg DisplayQty of 1-3 lots
//	x: low 2 bits owner 1-4; high 6 bits, when 56-63, break one field
//	   (or, for the quantity with an odd owner, make it as big as the
//	   rules and the notional allow)
func decodeFuzzOps(data []byte) (Rules, []diffOp) {
	if len(data) == 0 {
		return fuzzRules[0], nil
	}
	rules := fuzzRules[int(data[0])%len(fuzzRules)]
	ru := rules.withDefaults()
	tick, lot := ru.TickSize, ru.LotSize
	mid := 100 * tick
	data = data[1:]
	var ops []diffOp
	for len(data) >= fuzzOpLen && len(ops) < fuzzMaxOps {
		c, a, p, q, s, x := data[0], data[1], data[2], data[3], data[4], data[5]
		data = data[fuzzOpLen:]
		id := uint64(c >> 4)
		price := mid + tick*int64(int(p&63)-32)
		qty := lot * int64(q&63)
		switch p >> 6 {
		case 1:
			price = 0
		case 3:
			price++
			if tick == 1 {
				price = -price
			}
		}
		if q>>6 == 2 {
			qty++
			if lot == 1 {
				qty = -qty
			}
		}
		switch kind := c & 15; {
		case kind >= 13:
			ops = append(ops, diffOp{kind: opAmend, id: id, price: price, qty: qty})
			continue
		case kind >= 10:
			ops = append(ops, diffOp{kind: opCancel, id: id})
			continue
		}
		o := Order{
			ID: id, Owner: uint64(1 + x&3), Side: Side(a & 1), Type: OrderType(a >> 1 & 3),
			TIF: TimeInForce(a >> 3 & 3), STP: STPMode(a >> 5 & 3), PostOnly: a>>7 == 1,
			Price: price, Qty: qty,
		}
		if (o.Type == Market || o.Type == StopMarket) && p>>6 == 0 {
			o.Price = 0
		}
		if q>>6 == 3 {
			o.Qty, o.QuoteBudget = 0, 50*int64(q&63)
			if x>>4&1 == 1 {
				o.Qty = lot * int64(s&31)
			}
		}
		if o.Type == StopMarket || o.Type == StopLimit {
			o.StopPrice = mid + tick*int64(int(s&31)-16)
		}
		if s>>5 >= 5 {
			o.DisplayQty = lot * int64(s>>5-4)
		}
		if x>>2 >= 56 {
			switch x >> 2 & 7 {
			case 0:
				o.Side = Side(2 + x&3)
			case 1:
				o.Type = OrderType(4 + x&3)
			case 2:
				o.STP = STPMode(4 + x&3)
			case 3:
				o.StopPrice = mid
				if o.StopPrice != 0 && (o.Type == StopMarket || o.Type == StopLimit) {
					o.StopPrice = 0
				}
			case 4:
				o.Qty = ru.MaxQty + lot
				if x&1 == 1 && price > 0 {
					// The most that fits the notional: under the zero
					// Rules a hundred of these fill a side.
					o.Qty = min(ru.MaxQty, math.MaxInt64/price) / lot * lot
				}
			case 5:
				o.Price = ru.MaxPrice / tick * tick
			case 6:
				o.QuoteBudget = -o.QuoteBudget - 1
			case 7:
				o.DisplayQty = -lot
			}
		}
		ops = append(ops, diffOp{kind: opPlace, order: o})
	}
	return rules, ops
}

// fuzzEnc encodes one command for seed inputs (see decodeFuzzOps).
func fuzzEnc(c, a, p, q, s, x byte) []byte { return []byte{c, a, p, q, s, x} }

// fuzzSeeds returns the seed corpus: a few hand-made scenarios and some
// pseudo-random inputs.
func fuzzSeeds() [][]byte {
	cat := func(rules byte, ops ...[]byte) []byte {
		b := []byte{rules}
		for _, op := range ops {
			b = append(b, op...)
		}
		return b
	}
	const (
		buy, sell = 0, 1
		lim, mkt  = 0 << 1, 1 << 1
		stopM     = 2 << 1
		stopL     = 3 << 1
		ioc, fok  = 1 << 3, 2 << 3
		cTaker    = 1 << 5
		cMaker    = 2 << 5
		cBoth     = 3 << 5
		post      = 1 << 7
		px        = 32 // price offset 0 (at mid)
	)
	seeds := [][]byte{
		// Rest, cross, partial fill, cancel, amend.
		cat(0,
			fuzzEnc(1<<4, sell|lim, px, 5, 0, 1),
			fuzzEnc(2<<4, sell|lim, px+1, 5, 7<<5, 1),
			fuzzEnc(3<<4, buy|lim|ioc, px+1, 8, 0, 2),
			fuzzEnc(4<<4, buy|lim|post, px-1, 4, 0, 3),
			fuzzEnc(4<<4|13, 0, px+1, 4, 0, 0),
			fuzzEnc(2<<4|10, 0, 0, 0, 0, 0),
			fuzzEnc(2<<4|10, 0, 0, 0, 0, 0)),
		// Icebergs and self-trade prevention of every mode.
		cat(1,
			fuzzEnc(1<<4, sell|lim, px, 10, 6<<5, 1),
			fuzzEnc(2<<4, sell|lim, px, 3, 0, 2),
			fuzzEnc(3<<4, buy|lim|cMaker, px, 9, 0, 2),
			fuzzEnc(4<<4, buy|lim|cTaker, px, 9, 0, 1),
			fuzzEnc(5<<4, buy|lim|cBoth|fok, px, 2, 0, 1),
			fuzzEnc(6<<4, buy|mkt|cBoth, 0, 3<<6|9, 0, 1)),
		// Stop cascade: stops on both sides, then trades through them.
		cat(0,
			fuzzEnc(1<<4, buy|stopM, 0, 4, 17, 1),
			fuzzEnc(2<<4, buy|stopL, 2<<6|px+3, 4, 16, 2),
			fuzzEnc(3<<4, sell|stopM, 0, 3<<6|20, 14, 3),
			fuzzEnc(4<<4, sell|lim, px, 8, 0, 0),
			fuzzEnc(5<<4, sell|lim, px+2, 8, 0, 0),
			fuzzEnc(6<<4, buy|lim, px-3, 8, 0, 1),
			fuzzEnc(7<<4, buy|lim|ioc, px, 2, 0, 2),
			fuzzEnc(8<<4, sell|mkt|fok, 2<<6|px-3, 4, 0, 3)),
		// Tight rules with MaxPrice in range, and broken fields.
		cat(2,
			fuzzEnc(1<<4, sell|lim, px+20, 2, 0, 0),
			fuzzEnc(2<<4, sell|lim, 3<<6|px, 2, 0, 0),
			fuzzEnc(3<<4, buy|mkt, 0, 3<<6|3, 0, 63<<2),
			fuzzEnc(4<<4, buy|lim, px, 2<<6|4, 0, 56<<2),
			fuzzEnc(0, buy|lim, px, 4, 0, 0),
			fuzzEnc(1<<4|14, 0, px, 0, 0, 0)),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 6 {
		b := make([]byte, 1+fuzzOpLen*(20+40*n))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzBook decodes the input into commands (decodeFuzzOps), runs them
// through Book and refBook, and requires identical events and state, and a
// passing Check, after every command.
func FuzzBook(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, ops := decodeFuzzOps(data)
		p := newDiffPair(t, rules, 30)
		for _, op := range ops {
			if msg := p.apply(op); msg != "" {
				t.Fatalf("rules %+v\n%s\n%s", rules, msg, reproduction(t, rules, ops))
			}
			if msg := p.compareState(true); msg != "" {
				t.Fatalf("rules %+v\n%s\n%s", rules, p.report(op, "state differs after it: "+msg), reproduction(t, rules, ops))
			}
		}
	})
}
