package engine

import (
	"fmt"

	"github.com/instant-social-trading/ist/book"
)

// MaxOpenOrdersLimit is the highest limit on one account's live orders a
// market may set (MarketSpec.MaxOpenOrders).
const MaxOpenOrdersLimit = 1_000_000

// errOpenLimitRange is the error of a CmdCreateMarket or
// CmdSetMaxOpenOrders whose limit is out of range. One value, not one
// made per command: outcomes of the same command compare equal.
var errOpenLimitRange = fmt.Errorf("%w: max open orders must be 0..%d", ErrInvalidSpec, MaxOpenOrdersLimit)

// validOpenLimit reports whether n is a limit on open orders a market
// may have.
func validOpenLimit(n int32) bool { return n >= 0 && n <= MaxOpenOrdersLimit }

// setMaxOpenOrders applies CmdSetMaxOpenOrders: the market's new limit,
// for places from the next command on. Live orders are untouched.
func (s *State) setMaxOpenOrders(cmd *Command) result {
	m, err := s.market(cmd.Market)
	if err != nil {
		return result{Err: err}
	}
	n := cmd.Spec.MaxOpenOrders
	if !validOpenLimit(n) {
		return result{Err: errOpenLimitRange}
	}
	m.spec.MaxOpenOrders = n
	switch {
	case n == 0:
		m.open = nil
	case m.open == nil:
		m.open = s.countOpen(m)
	}
	return result{ID: uint64(m.id)}
}

// countOpen returns the number of live orders of each account that has
// any in m's book, stops included: the counts a market with a limit on
// open orders keeps (market.open), made when it gets one and when a
// snapshot is restored. The orders' records name their accounts (the
// book's owner of a copy mirror is its leader, for self-trade
// prevention, though no mirror outlives its command).
func (s *State) countOpen(m *market) map[uint64]int32 {
	open := make(map[uint64]int32)
	for o := range m.book.All() {
		if rec := s.orders.get(o.ID); rec != nil {
			open[rec.account]++
		}
	}
	return open
}

// mayRest reports whether order o could stay live after its place: a
// GTC limit order (good-till-date ones included) or a stop order, whose
// TIF applies only once it is triggered. Market orders and IOC and FOK
// limits never do. An order of an unknown type is left to the book,
// which refuses it.
func mayRest(o *book.Order) bool {
	switch o.Type {
	case book.Limit:
		return o.TIF == book.GTC
	case book.StopMarket, book.StopLimit:
		return true
	}
	return false
}

// tooManyOpen reports whether account may not place o in m: m has a
// limit on open orders, o could rest, and the account has that many live
// orders in m already.
func tooManyOpen(m *market, account uint64, o *book.Order) bool {
	return m.open != nil && mayRest(o) && m.open[account] >= m.spec.MaxOpenOrders
}

// openAdded counts a new live order of account in m, which has a limit
// on open orders; openDone forgets one. Every order record of a market
// with a limit is counted from its creation (IOC and mirrored orders
// too, for the command that places them) to its finish.
func (m *market) openAdded(account uint64) { m.open[account]++ }

func (m *market) openDone(account uint64) {
	if n := m.open[account] - 1; n > 0 {
		m.open[account] = n
	} else {
		delete(m.open, account)
	}
}
