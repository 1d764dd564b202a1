package book

import "fmt"

// Restore puts a live order back into an empty or partly restored book,
// as listed by All: call it with All's orders in All's order and the
// queues, icebergs' visible slices and stops' release order come back as
// they were. It does not match and emits no events. It returns an error
// if the order is invalid, its id is live, a resting order would cross
// the book, or the order would take its side past what a side can hold
// (ErrQtyAboveMax, as Place).
func (b *Book) Restore(o OrderInfo) error {
	if o.ID == 0 || o.Side > Sell {
		return fmt.Errorf("book: restore order %d: invalid id or side", o.ID)
	}
	if _, live := b.index.get(o.ID); live {
		return fmt.Errorf("book: restore order %d: %w", o.ID, ErrDuplicateID)
	}
	if o.Stop {
		order := Order{ID: o.ID, Owner: o.Owner, Side: o.Side, Type: o.Type, TIF: o.TIF, STP: o.STP,
			Price: o.Price, StopPrice: o.StopPrice, Qty: o.Open, QuoteBudget: o.QuoteBudget,
			DisplayQty: o.DisplayQty}
		if o.Type != StopMarket && o.Type != StopLimit {
			return fmt.Errorf("book: restore stop %d: type %s", o.ID, o.Type)
		}
		if mayRest(&order) && o.Open <= 0 {
			return fmt.Errorf("book: restore stop %d: quantity %d", o.ID, o.Open)
		}
		if mayRest(&order) && o.Open > b.room(o.Side) {
			return fmt.Errorf("book: restore stop %d: quantity %d: %w", o.ID, o.Open, ErrQtyAboveMax)
		}
		b.seq++
		b.putStop(&order)
		return nil
	}
	if o.Open <= 0 || o.Visible <= 0 || o.Visible > o.Open || o.Price <= 0 ||
		(o.DisplayQty == 0 && o.Visible != o.Open) || (o.DisplayQty != 0 && o.Visible > o.DisplayQty) {
		return fmt.Errorf("book: restore order %d: inconsistent quantities %+v", o.ID, o)
	}
	if o.Open > b.room(o.Side) {
		return fmt.Errorf("book: restore order %d: quantity %d: %w", o.ID, o.Open, ErrQtyAboveMax)
	}
	if b.crosses(o.Side, o.Price) {
		return fmt.Errorf("book: restore order %d: would cross the book", o.ID)
	}
	b.seq++
	ni := b.allocNode()
	b.nodes[ni] = node{id: o.ID, owner: o.Owner, price: o.Price, open: o.Open, visible: o.Visible,
		display: o.DisplayQty, side: o.Side, stp: o.STP, postOnly: o.PostOnly}
	b.pushBack(b.levelFor(o.Side, o.Price), ni)
	b.index.put(o.ID, ni)
	b.resting++
	return nil
}

// SetLastPrice sets the last trade price, for restoring a book from a
// snapshot. It does not release stops.
func (b *Book) SetLastPrice(p int64) { b.last = p }
