package main

import (
	"errors"
	"fmt"
)

// market is a market's rules in integers, read from GET /v1/markets.
// Prices are in ticks and quantities in lots; tick and lot are their
// sizes in fixed8, so a price of p ticks is p×tick fixed8 quote per
// base, and q lots are q×lot fixed8 base.
type market struct {
	symbol      string
	base, quote string
	tick, lot   int64 // fixed8
	minNotional int64 // fixed8 quote: the smallest price × quantity of an order
	maxPrice    int64 // ticks
	maxQty      int64 // lots
	halted      bool
}

// apiMarket is a market as GET /v1/markets answers it.
type apiMarket struct {
	Symbol      string `json:"symbol"`
	Base        string `json:"base"`
	Quote       string `json:"quote"`
	TickSize    string `json:"tick_size"`
	LotSize     string `json:"lot_size"`
	MinNotional string `json:"min_notional"`
	MaxPrice    string `json:"max_price"`
	MaxQuantity string `json:"max_quantity"`
	Halted      bool   `json:"halted"`
}

// errNotOnGrid is returned for a price or quantity from the server that
// is not a whole number of ticks or lots.
var errNotOnGrid = errors.New("marketmaker: not a multiple of the tick or lot size")

// newMarket converts a market's rules to integers.
func newMarket(a *apiMarket) (market, error) {
	m := market{symbol: a.Symbol, base: a.Base, quote: a.Quote, halted: a.Halted}
	var err error
	for _, f := range []struct {
		name string
		s    string
		v    *int64
	}{{"tick_size", a.TickSize, &m.tick}, {"lot_size", a.LotSize, &m.lot}, {"min_notional", a.MinNotional, &m.minNotional}} {
		if *f.v, err = parseFixed(f.s); err != nil {
			return market{}, fmt.Errorf("market %s: %s %q: %w", a.Symbol, f.name, f.s, err)
		}
	}
	if m.tick <= 0 || m.lot <= 0 || m.minNotional < 0 {
		return market{}, fmt.Errorf("market %s: bad tick_size %q or lot_size %q", a.Symbol, a.TickSize, a.LotSize)
	}
	if m.maxPrice, err = m.ticks(a.MaxPrice); err != nil {
		return market{}, fmt.Errorf("market %s: max_price: %w", a.Symbol, err)
	}
	if m.maxQty, err = m.lots(a.MaxQuantity); err != nil {
		return market{}, fmt.Errorf("market %s: max_quantity: %w", a.Symbol, err)
	}
	return m, nil
}

// ticks parses a price that must be on the tick.
func (m *market) ticks(s string) (int64, error) { return onGrid(s, m.tick) }

// lots parses a quantity that must be a whole number of lots.
func (m *market) lots(s string) (int64, error) { return onGrid(s, m.lot) }

func onGrid(s string, step int64) (int64, error) {
	v, err := parseFixed(s)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if v%step != 0 {
		return 0, fmt.Errorf("%q: %w", s, errNotOnGrid)
	}
	return v / step, nil
}

// price formats a price in ticks as a decimal string. Prices the maker
// sends are at most maxPrice, which istd keeps within int64 in fixed8.
func (m *market) price(ticks int64) string { return formatFixed(ticks * m.tick) }

// qty formats a quantity in lots as a decimal string.
func (m *market) qty(lots int64) string { return formatFixed(lots * m.lot) }

// notional returns price × quantity in fixed8 quote, or false if it does
// not fit an int64.
func (m *market) notional(ticks, lots int64) (int64, bool) {
	return mulDiv(roundDown, fixedOne, ticks, m.tick, lots, m.lot)
}
