package engine

import (
	"fmt"
	"slices"

	"github.com/instant-social-trading/ist/book"
)

// errFeeRange is the error of a CmdSetMarketFees whose fees are out of
// range. One value, not one made per command: outcomes of the same
// command compare equal.
var errFeeRange = fmt.Errorf("%w: maker and taker fees must be 0..%d bps", ErrInvalidSpec, MaxFeeBps)

// setMarketFees applies CmdSetMarketFees: the market's new fees, and, if
// its highest fee changed, the reservations of its live buys brought to
// the new rate (rereserve).
func (s *State) setMarketFees(cmd *Command, dst []Event) (result, []Event) {
	m, err := s.market(cmd.Market)
	if err != nil {
		return result{Err: err}, dst
	}
	maker, taker := cmd.Spec.MakerFeeBps, cmd.Spec.TakerFeeBps
	if !validFees(maker, taker) {
		return result{Err: errFeeRange}, dst
	}
	m.spec.MakerFeeBps, m.spec.TakerFeeBps = maker, taker
	if top := max(maker, taker); top != m.maxFee {
		m.maxFee = top
		dst = s.rereserve(m, dst)
	}
	return result{ID: uint64(m.id)}, dst
}

// rereserve brings the reservation of every live buy of m to what m's
// highest fee (m.maxFee, just changed) requires, as reserve and amend
// would lock it now:
//   - a buy with a limit (rec.limit: a resting limit buy, a pending
//     stop-limit, a pending stop-market by quantity with a protection
//     price) locks buyCost(limit, open) at the new rate: the cost of its
//     open quantity, highest fee included. What fills left above that
//     (the fees' rounding, see checkReserve) is released with the rest
//     of a decrease;
//   - a pending stop-market buy by budget keeps its budget locked (what
//     its owner said to spend, fees included), and its book order's
//     notional becomes what that pays for at the new rate (beforeFee), as
//     reserve computes it at placing (book.Book.SetStopBudget).
//
// The buys are visited in order id order, twice: first every one that
// needs no more than it locks (its surplus goes back to the available
// balance at once, so that it may pay for another's increase); then the
// others, each taking its increase from its owner's available balance,
// or, if that is short (or a stop's budget no longer buys what the market
// accepts), cancelled with reason book.ReasonFeeChange and its
// reservation released. Sells lock base, which fees do not touch; market
// and IOC buys never outlive their command, so none is live here.
func (s *State) rereserve(m *market, dst []Event) []Event {
	var ids []uint64 // a rare command: allocating here is fine
	for o := range m.book.All() {
		if o.Side == book.Buy {
			ids = append(ids, o.ID)
		}
	}
	slices.Sort(ids) // the book's order is by price; the order id is the age
	quote := m.spec.Quote
	short := ids[:0] // those that need more, or a cancel, in id order
	for _, id := range ids {
		rec := s.orders.get(id)
		if rec.limit == 0 {
			// A pending stop-market buy by budget (checkReserve).
			budget := beforeFee(rec.locked, m.maxFee) / m.spec.QuoteScale
			if m.book.SetStopBudgetAt(s.handleOf(id), id, budget) != nil {
				short = append(short, id)
			}
			continue
		}
		need := s.feeNeed(m, rec)
		if need > rec.locked {
			short = append(short, id)
			continue
		}
		b := s.bal(rec.account, quote)
		b.locked -= rec.locked - need
		b.avail += rec.locked - need
		rec.locked = need
	}
	for _, id := range short {
		rec := s.orders.get(id)
		if rec.limit > 0 {
			need := s.feeNeed(m, rec)
			if b := s.bal(rec.account, quote); b.avail >= need-rec.locked {
				b.avail -= need - rec.locked
				b.locked += need - rec.locked
				rec.locked = need
				continue
			}
		}
		bevs, _ := s.bookCancel(m, id) // live: in the book (Check)
		for i := range bevs {
			if bevs[i].Kind == book.EvCancelled {
				bevs[i].Reason = book.ReasonFeeChange
			}
		}
		s.bevs = bevs
		dst = s.settle(m, bevs, dst)
	}
	return dst
}

// feeNeed returns what buy rec, which has a limit, must lock at m's
// current highest fee: the cost of its open quantity at its limit. It
// cannot overflow: CmdCreateMarket bounds every notional to half an
// int64, and fees are at most MaxFeeBps.
func (s *State) feeNeed(m *market, rec *order) int64 {
	o, _ := s.bookOrder(m, rec.id)
	need, _ := buyCost(m, rec.limit, o.Open)
	return need
}
