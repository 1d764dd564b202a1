package book

import (
	"errors"
	"slices"
)

// EventKind is the kind of an Event.
type EventKind uint8

// Event kinds.
const (
	// EvAccepted: an order passed validation. Price is its limit (or
	// protection) price, Qty its quantity, Remaining its Qty, or its quote
	// budget for a pure budget buy (one with Qty 0).
	EvAccepted EventKind = iota + 1
	// EvRejected: a command was refused and changed nothing. Reason says
	// why; OrderID, Owner and Side echo the command where known.
	EvRejected
	// EvTrade: OrderID (the taker) traded Qty at Price with MakerID. Remaining
	// is what the taker has left to fill (the unspent budget for a pure
	// budget buy, one with Qty 0); MakerRemaining is the maker's open
	// quantity after the trade (visible + hidden).
	EvTrade
	// EvCancelled: an order left the book by Cancel (ReasonCancelled) or by
	// self-trade prevention (ReasonSelfTrade); a user of the book may
	// report a cancel of its own with another reason (ReasonFeeChange,
	// ReasonAccountFrozen).
	// Qty is the open quantity
	// removed (0 for a pure budget buy) and Remaining the unspent quote
	// budget (0 for an order without one).
	EvCancelled
	// EvExpired: the unfilled rest of an IOC or market order
	// (ReasonUnfilled), or a whole FOK order that could not fill
	// (ReasonFOK); a user of the book may report an expiry of its own
	// (ReasonExpired, a good-till-date order's time). Qty and Remaining
	// as for EvCancelled.
	EvExpired
	// EvAmended: a resting order now has price Price and open quantity Qty.
	// KeptPriority says whether it kept its place in the queue; if it did
	// not, trades may follow (a new price may cross).
	EvAmended
	// EvTriggered: a stop order was released by last trade price Price; the
	// events of it as a new order (trades, expiry) follow. Qty is its
	// quantity, Remaining its quote budget if it has one.
	EvTriggered
)

// String returns the lower-case name of the kind.
func (k EventKind) String() string {
	switch k {
	case EvAccepted:
		return "accepted"
	case EvRejected:
		return "rejected"
	case EvTrade:
		return "trade"
	case EvCancelled:
		return "cancelled"
	case EvExpired:
		return "expired"
	case EvAmended:
		return "amended"
	case EvTriggered:
		return "triggered"
	}
	return "event?"
}

// Event is one outcome of a command. Events are plain values written into
// a slice the caller owns; the book keeps no reference to them.
type Event struct {
	Kind   EventKind
	Side   Side   // side of OrderID
	Reason Reason // rejections, cancellations and expiries
	// KeptPriority is set on EvAmended when the order kept its queue place.
	KeptPriority bool
	// Handle is, on EvAccepted, EvTriggered and EvAmended, where the
	// order sits once its own matching is done: a pending stop, or what
	// rested of it; 0 if nothing of it is left in the book. (A stop
	// released later in the same command may still trade with it: an
	// EvTrade with MakerRemaining 0 then says that it left.) A book
	// without an index (Options.NoIndex) is given it back to find the
	// order; others may ignore it.
	Handle Handle
	// OrderID is the order the event is about; the taker of a trade.
	OrderID uint64
	// Owner is the owner of OrderID.
	Owner uint64
	// MakerID and MakerOwner identify the resting order of a trade.
	MakerID    uint64
	MakerOwner uint64
	Price      int64
	Qty        int64
	Remaining  int64
	// MakerRemaining is the maker's open quantity after a trade.
	MakerRemaining int64
}

// Reason says why an order was rejected, cancelled or expired.
type Reason uint8

// Reasons. Each rejection reason has a sentinel error (Reason.Err).
const (
	ReasonNone Reason = iota
	// Rejections.
	ReasonInvalidID        // ID is zero
	ReasonDuplicateID      // ID belongs to a live order
	ReasonInvalidSide      // Side is neither Buy nor Sell
	ReasonInvalidType      // unknown Type
	ReasonInvalidTIF       // unknown TIF, or one the type does not allow
	ReasonInvalidSTP       // unknown STP mode
	ReasonInvalidPrice     // price missing, not positive or above MaxPrice
	ReasonPriceNotOnTick   // price not a multiple of TickSize
	ReasonInvalidQty       // quantity missing or not positive
	ReasonQtyNotOnLot      // quantity not a multiple of LotSize
	ReasonQtyBelowMin      // quantity below MinQty
	ReasonQtyAboveMax      // quantity above MaxQty, or above its side's room (see the package doc)
	ReasonBelowMinNotional // price × quantity (or a budget without Qty) below MinNotional
	ReasonNotionalOverflow // price × quantity does not fit in an int64
	ReasonInvalidStop      // stop price missing, not positive or off tick
	ReasonInvalidDisplay   // display quantity invalid or not allowed
	ReasonInvalidBudget    // quote budget invalid or not allowed
	ReasonPostOnlyInvalid  // post-only on an order that is not a GTC limit
	ReasonWouldCross       // post-only order would trade
	ReasonUnknownOrder     // no live order with that ID
	ReasonNotAmendable     // the order cannot be amended (pending stop)
	// Cancellations and expiries.
	ReasonCancelled // cancelled on request
	ReasonSelfTrade // cancelled by self-trade prevention
	ReasonUnfilled  // rest of an IOC or market order expired
	ReasonFOK       // FOK order could not fill entirely
	// ReasonFeeChange: cancelled because its owner could not pay what a
	// raise of the market's fees adds to its reservation. Book never
	// gives it: the engine, which keeps the reservations, cancels with
	// Cancel and reports this reason instead.
	ReasonFeeChange
	// ReasonAccountFrozen: cancelled because an operator froze (suspended)
	// its owner's account. Book never gives it: the engine cancels with
	// Cancel and reports this reason instead.
	ReasonAccountFrozen
	// ReasonExpired: a good-till-date order reached its expiry time
	// (reported with EvExpired). Book never gives it: the engine, which
	// keeps the expiry times, cancels with Cancel and reports an
	// EvExpired with this reason instead.
	ReasonExpired
	// ReasonCancelAllAfter and ReasonDisconnect: cancelled on request, by
	// a cancel-all that istd sends for the owner when its dead man's
	// switch ran out or when a stream that asked to cancel on disconnect
	// ended. Book never gives them: the engine cancels with Cancel and
	// reports the cancel-all's cause instead.
	ReasonCancelAllAfter
	ReasonDisconnect
	// ReasonPriceBand: the unfilled rest of a market order expired
	// (EvExpired) because the market's price band, not the order's own
	// protection price nor a lack of liquidity, kept it from trading
	// further. Book never gives it: the engine, which keeps the bands,
	// passes the book the band's bound as the order's protection price
	// and reports this reason instead of ReasonUnfilled.
	ReasonPriceBand
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:             "none",
	ReasonInvalidID:        "invalid_id",
	ReasonDuplicateID:      "duplicate_id",
	ReasonInvalidSide:      "invalid_side",
	ReasonInvalidType:      "invalid_type",
	ReasonInvalidTIF:       "invalid_time_in_force",
	ReasonInvalidSTP:       "invalid_stp",
	ReasonInvalidPrice:     "invalid_price",
	ReasonPriceNotOnTick:   "price_not_on_tick",
	ReasonInvalidQty:       "invalid_quantity",
	ReasonQtyNotOnLot:      "quantity_not_on_lot",
	ReasonQtyBelowMin:      "quantity_below_min",
	ReasonQtyAboveMax:      "quantity_above_max",
	ReasonBelowMinNotional: "below_min_notional",
	ReasonNotionalOverflow: "notional_overflow",
	ReasonInvalidStop:      "invalid_stop_price",
	ReasonInvalidDisplay:   "invalid_display_quantity",
	ReasonInvalidBudget:    "invalid_quote_budget",
	ReasonPostOnlyInvalid:  "post_only_not_allowed",
	ReasonWouldCross:       "post_only_would_cross",
	ReasonUnknownOrder:     "unknown_order",
	ReasonNotAmendable:     "not_amendable",
	ReasonCancelled:        "cancelled",
	ReasonSelfTrade:        "self_trade_prevented",
	ReasonUnfilled:         "unfilled",
	ReasonFOK:              "fill_or_kill",
	ReasonFeeChange:        "fee_change",
	ReasonAccountFrozen:    "account_frozen",
	ReasonExpired:          "expired_time",
	ReasonCancelAllAfter:   "cancel_all_after",
	ReasonDisconnect:       "disconnected",
	ReasonPriceBand:        "price_band",
}

// String returns the snake_case name of the reason, as used in APIs.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason?"
}

// Sentinel errors, one per rejection reason. Place, Cancel and Amend return
// them; errors.Is works on them.
var (
	ErrInvalidID        = errors.New("book: invalid order id")
	ErrDuplicateID      = errors.New("book: duplicate order id")
	ErrInvalidSide      = errors.New("book: invalid side")
	ErrInvalidType      = errors.New("book: invalid order type")
	ErrInvalidTIF       = errors.New("book: invalid time in force")
	ErrInvalidSTP       = errors.New("book: invalid self-trade prevention mode")
	ErrInvalidPrice     = errors.New("book: invalid price")
	ErrPriceNotOnTick   = errors.New("book: price not on tick")
	ErrInvalidQty       = errors.New("book: invalid quantity")
	ErrQtyNotOnLot      = errors.New("book: quantity not on lot")
	ErrQtyBelowMin      = errors.New("book: quantity below minimum")
	ErrQtyAboveMax      = errors.New("book: quantity above maximum")
	ErrBelowMinNotional = errors.New("book: notional below minimum")
	ErrNotionalOverflow = errors.New("book: notional overflows int64")
	ErrInvalidStop      = errors.New("book: invalid stop price")
	ErrInvalidDisplay   = errors.New("book: invalid display quantity")
	ErrInvalidBudget    = errors.New("book: invalid quote budget")
	ErrPostOnlyInvalid  = errors.New("book: post-only not allowed for this order")
	ErrWouldCross       = errors.New("book: post-only order would cross")
	ErrUnknownOrder     = errors.New("book: unknown order")
	ErrNotAmendable     = errors.New("book: order cannot be amended")
)

var reasonErrs = [numReasons]error{
	ReasonInvalidID:        ErrInvalidID,
	ReasonDuplicateID:      ErrDuplicateID,
	ReasonInvalidSide:      ErrInvalidSide,
	ReasonInvalidType:      ErrInvalidType,
	ReasonInvalidTIF:       ErrInvalidTIF,
	ReasonInvalidSTP:       ErrInvalidSTP,
	ReasonInvalidPrice:     ErrInvalidPrice,
	ReasonPriceNotOnTick:   ErrPriceNotOnTick,
	ReasonInvalidQty:       ErrInvalidQty,
	ReasonQtyNotOnLot:      ErrQtyNotOnLot,
	ReasonQtyBelowMin:      ErrQtyBelowMin,
	ReasonQtyAboveMax:      ErrQtyAboveMax,
	ReasonBelowMinNotional: ErrBelowMinNotional,
	ReasonNotionalOverflow: ErrNotionalOverflow,
	ReasonInvalidStop:      ErrInvalidStop,
	ReasonInvalidDisplay:   ErrInvalidDisplay,
	ReasonInvalidBudget:    ErrInvalidBudget,
	ReasonPostOnlyInvalid:  ErrPostOnlyInvalid,
	ReasonWouldCross:       ErrWouldCross,
	ReasonUnknownOrder:     ErrUnknownOrder,
	ReasonNotAmendable:     ErrNotAmendable,
}

// Err returns the sentinel error of a rejection reason, or nil for reasons
// that are not rejections.
func (r Reason) Err() error {
	if r < numReasons {
		return reasonErrs[r]
	}
	return nil
}

// addEvent appends a zero event to dst and returns the longer slice and
// the event, for the caller to fill in place. An event built as a
// composite literal and appended is copied through the stack with loads
// wider than some of the stores that built it; such a load cannot take
// its bytes from the stores and waits until every earlier store, cache
// misses included, has reached the cache. The hot paths (accept, trade,
// cancel, the end of a taker) use addEvent.
func addEvent(dst []Event) ([]Event, *Event) {
	n := len(dst)
	if n == cap(dst) {
		dst = slices.Grow(dst, 1)
	}
	dst = dst[:n+1]
	ev := &dst[n]
	*ev = Event{}
	return dst, ev
}
