package book

import (
	"errors"
	"fmt"
)

// ErrCorrupt: Restore was given an order that the book cannot hold as it
// stands (a damaged snapshot, or orders out of All's order): an invalid
// id, side, type or quantities, an id that is live, a resting price that
// would cross the book, or a quantity past its side's room. The error
// wraps it with the detail, and also wraps ErrDuplicateID or
// ErrQtyAboveMax where those apply.
var ErrCorrupt = errors.New("book: corrupt order")

// Restore puts a live order back into an empty or partly restored book,
// as listed by All: call it with All's orders in All's order and the
// queues, icebergs' visible slices and stops' release order come back as
// they were. It does not match and emits no events. If the order cannot
// be restored it returns an error wrapping ErrCorrupt and changes nothing.
// It returns the order's Handle (see Options.NoIndex).
func (b *Book) Restore(o OrderInfo) (Handle, error) {
	if o.ID == 0 || o.Side > Sell {
		return 0, fmt.Errorf("%w: restore order %d: invalid id or side", ErrCorrupt, o.ID)
	}
	if _, live := b.index.get(o.ID); live {
		return 0, fmt.Errorf("%w: restore order %d: %w", ErrCorrupt, o.ID, ErrDuplicateID)
	}
	if o.Stop {
		order := Order{ID: o.ID, Owner: o.Owner, Side: o.Side, Type: o.Type, TIF: o.TIF, STP: o.STP,
			Price: o.Price, StopPrice: o.StopPrice, Qty: o.Open, QuoteBudget: o.QuoteBudget,
			DisplayQty: o.DisplayQty}
		if o.Type != StopMarket && o.Type != StopLimit {
			return 0, fmt.Errorf("%w: restore stop %d: type %s", ErrCorrupt, o.ID, o.Type)
		}
		if mayRest(&order) && o.Open <= 0 {
			return 0, fmt.Errorf("%w: restore stop %d: quantity %d", ErrCorrupt, o.ID, o.Open)
		}
		if mayRest(&order) && o.Open > b.room(o.Side) {
			return 0, fmt.Errorf("%w: restore stop %d: quantity %d: %w", ErrCorrupt, o.ID, o.Open, ErrQtyAboveMax)
		}
		b.seq++
		return handleOf(b.putStop(&order)), nil
	}
	if o.Open <= 0 || o.Visible <= 0 || o.Visible > o.Open || o.Price <= 0 ||
		(o.DisplayQty == 0 && o.Visible != o.Open) || (o.DisplayQty != 0 && o.Visible > o.DisplayQty) {
		return 0, fmt.Errorf("%w: restore order %d: inconsistent quantities %+v", ErrCorrupt, o.ID, o)
	}
	if o.Open > b.room(o.Side) {
		return 0, fmt.Errorf("%w: restore order %d: quantity %d: %w", ErrCorrupt, o.ID, o.Open, ErrQtyAboveMax)
	}
	if b.crosses(o.Side, o.Price) {
		return 0, fmt.Errorf("%w: restore order %d: would cross the book", ErrCorrupt, o.ID)
	}
	b.seq++
	if b.nodesFull() {
		b.growNodes()
	}
	ni := b.allocNode()
	n := b.node(ni)
	*n = node{id: o.ID, owner: o.Owner, price: o.Price, open: o.Open, visible: o.Visible,
		display: o.DisplayQty, side: o.Side, stp: o.STP, postOnly: o.PostOnly}
	b.pushBack(b.levelFor(o.Side, o.Price), ni, n)
	if !b.noIndex {
		b.index.put(o.ID, ni)
	}
	b.resting++
	return handleOf(ni), nil
}

// SetLastPrice sets the last trade price, for restoring a book from a
// snapshot. It does not release stops. p must be 0 (no trade yet, as in a
// new book) or a price the book could trade at: positive, at most
// MaxPrice and on tick. Any other is refused with an error wrapping
// ErrInvalidPrice or ErrPriceNotOnTick, and the last price is unchanged.
func (b *Book) SetLastPrice(p int64) error {
	if p < 0 || p > b.rules.MaxPrice {
		return fmt.Errorf("%w: last price %d", ErrInvalidPrice, p)
	}
	if p%b.rules.TickSize != 0 {
		return fmt.Errorf("%w: last price %d, tick %d", ErrPriceNotOnTick, p, b.rules.TickSize)
	}
	b.last = p
	return nil
}
