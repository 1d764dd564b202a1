package main

// position is the maker's book-keeping of its fills since it started:
// its inventory and its realised profit and loss, by average cost. It is
// pure arithmetic on integers; its zero value is a flat position.
//
// cost is what the open inventory cost (long) or brought in (short), in
// fixed8 quote. A fill that adds to the inventory adds its notional to
// cost; one that reduces it realises the difference between its notional
// and the average cost of the part it closes; one that flips the
// inventory does both. Fees (charged in quote) are deducted from the
// realised PnL as they are paid.
type position struct {
	inv      int64 // lots; positive: long base
	cost     int64 // fixed8 quote, ≥ 0: the cost basis of |inv|
	realised int64 // fixed8 quote, fees deducted
	fees     int64 // fixed8 quote
	fills    int
	volume   int64 // lots bought and sold
}

// apply books a fill of qty lots at price ticks, which cost fee (fixed8
// quote). The arithmetic is exact while the amounts fit an int64, which
// istd's limits (max_price × max_quantity) guarantee for one fill.
func (p *position) apply(m *market, s side, price, qty, fee int64) {
	p.fills++
	p.volume += qty
	p.fees += fee
	p.realised -= fee
	dir := int64(1) // what the fill does to inv
	if s == sell {
		dir = -1
	}
	if p.inv != 0 && (p.inv > 0) != (dir > 0) { // it reduces the inventory
		closed := min(qty, abs(p.inv))
		basis, _ := mulDiv(roundNearest, abs(p.inv), p.cost, closed) // the average cost of what it closes
		n, _ := m.notional(price, closed)
		if p.inv > 0 {
			p.realised += n - basis // sold above cost: a gain
		} else {
			p.realised += basis - n // bought back below what the sale brought: a gain
		}
		p.cost -= basis
		p.inv += dir * closed
		qty -= closed
	}
	if qty > 0 { // it opens or adds to the inventory
		n, _ := m.notional(price, qty)
		p.cost += n
		p.inv += dir * qty
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
