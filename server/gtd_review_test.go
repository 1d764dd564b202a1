package server

import (
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// The release before good-till-date orders (the one that introduced
// cancel_reason, 59ce19c) wrote every cancelled or expired order as
// version 3 of the order record: version 1's fields to updated, the
// display quantity (a varint, 0 if none), the reason (a byte), then the
// client order id. Histories it wrote hold many such records (every
// cancel, every IOC with a rest): this release must still read them, as
// they were.
func TestOrderRecordV3OfCancelReasonRelease(t *testing.T) {
	// Version 1 of TestOrderRecordDisplayVersion: a partly filled sell
	// of 9 at 650, client order id "abc".
	v1 := []byte{1, 1, 0, 0, byte(book.STPCancelTaker), 0, statusPartial, 3, 1, 0x94, 0x0a, 0, 0x12, 0, 4, 0xa8, 0x14, 2, 4, 3, 'a', 'b', 'c'}
	for _, c := range []struct {
		status  uint8
		reason  book.Reason
		display int64
		id      string
	}{
		{statusCancelled, book.ReasonCancelled, 0, "abc"},
		{statusCancelled, book.ReasonCancelled, 0, ""},
		{statusExpired, book.ReasonUnfilled, 0, "ab"},
		{statusCancelled, book.ReasonFeeChange, 2500, "abc"},
	} {
		// As 59ce19c's appendOrder wrote it.
		old := append([]byte{3}, v1[1:19]...)
		old[6] = c.status
		old = append(old, byte(2*c.display), byte(2*c.display>>7)) // zigzag varint, 2 bytes for 2500
		if c.display < 64 {
			old = old[:len(old)-1]
		} else {
			old[len(old)-2] |= 0x80
		}
		old = append(old, byte(c.reason), byte(len(c.id)))
		old = append(old, c.id...)
		want := orderRec{ID: 7, Account: 3, Market: 1, Side: book.Sell, Type: book.Limit, TIF: book.GTC, STP: book.STPCancelTaker,
			Price: 650, Qty: 9, Filled: 2, Notional: 1300, Status: c.status, Reason: c.reason, DisplayQty: c.display,
			Created: 1, Updated: 2}
		copy(want.ClientID[:], c.id)
		got, err := decodeOrderRec(7, old)
		if err != nil || got != want {
			t.Errorf("%v %q: the previous release's record %x read as %+v, %v; want %+v", c.reason, c.id, old, got, err, want)
		}
	}
}
