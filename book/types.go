package book

import "math"

// Side is the side of an order: Buy or Sell.
type Side uint8

// The two sides of a book.
const (
	Buy  Side = 0
	Sell Side = 1
)

// Opposite returns the other side.
func (s Side) Opposite() Side { return s ^ 1 }

// String returns "buy" or "sell".
func (s Side) String() string {
	switch s {
	case Buy:
		return "buy"
	case Sell:
		return "sell"
	}
	return "side?"
}

// OrderType is the kind of an order.
type OrderType uint8

// Order types. The zero value is Limit.
const (
	// Limit is a priced order; what does not match rests (GTC) or expires
	// (IOC, FOK).
	Limit OrderType = iota
	// Market matches at any price (or up to its protection price) and never
	// rests; its unfilled remainder expires.
	Market
	// StopMarket waits outside the book until the last trade price reaches
	// StopPrice, then becomes a Market order.
	StopMarket
	// StopLimit waits outside the book until the last trade price reaches
	// StopPrice, then becomes a Limit order at Price.
	StopLimit
)

// String returns the lower-case name of the type.
func (t OrderType) String() string {
	switch t {
	case Limit:
		return "limit"
	case Market:
		return "market"
	case StopMarket:
		return "stop_market"
	case StopLimit:
		return "stop_limit"
	}
	return "type?"
}

// TimeInForce says how long an order may stay in the book.
type TimeInForce uint8

// Time-in-force values. The zero value is GTC.
const (
	// GTC rests until filled or cancelled. Market orders never rest: for
	// them GTC means IOC.
	GTC TimeInForce = iota
	// IOC fills what it can at once; the remainder expires.
	IOC
	// FOK fills its whole quantity at once or expires without trading.
	FOK
)

// String returns the upper-case name of the time in force.
func (t TimeInForce) String() string {
	switch t {
	case GTC:
		return "GTC"
	case IOC:
		return "IOC"
	case FOK:
		return "FOK"
	}
	return "TIF?"
}

// STPMode is a taker's self-trade prevention mode. When an incoming order
// would trade with a resting order of the same Owner, the taker's mode
// decides what happens.
type STPMode uint8

// Self-trade prevention modes. The zero value, STPNone, lets an owner trade
// with itself.
const (
	// STPNone trades with the owner's own resting orders like any others.
	STPNone STPMode = iota
	// STPCancelTaker cancels the rest of the incoming order; trades it made
	// before stand and the resting order is untouched.
	STPCancelTaker
	// STPCancelMaker cancels the resting order (all of it) and goes on
	// matching.
	STPCancelMaker
	// STPCancelBoth cancels the resting order and the rest of the incoming
	// order.
	STPCancelBoth
)

// String returns the API name of the mode.
func (m STPMode) String() string {
	switch m {
	case STPNone:
		return "none"
	case STPCancelTaker:
		return "cancel_taker"
	case STPCancelMaker:
		return "cancel_maker"
	case STPCancelBoth:
		return "cancel_both"
	}
	return "stp?"
}

// Order is a new order as submitted to Place. Prices are integers in the
// market's price unit and quantities integers in its quantity unit; Rules
// say which of them are allowed. The book copies what it needs: the caller
// keeps ownership of the Order.
type Order struct {
	// ID identifies the order; it must be non-zero and not belong to an
	// order that is still live in this book (resting or a pending stop).
	ID uint64
	// Owner is the account that placed the order; it is used only for
	// self-trade prevention and is echoed in events.
	Owner uint64
	// Side is Buy or Sell.
	Side Side
	// Type is Limit, Market, StopMarket or StopLimit.
	Type OrderType
	// TIF is the time in force. Market and StopMarket orders accept GTC
	// (meaning IOC), IOC and FOK.
	TIF TimeInForce
	// STP is the self-trade prevention mode used when this order takes.
	STP STPMode
	// PostOnly rejects the order (ReasonWouldCross) if it would trade on
	// arrival. Only for GTC Limit orders.
	PostOnly bool
	// Price is the limit price of Limit and StopLimit orders. For Market
	// and StopMarket orders it is an optional protection price (0: none):
	// a buy does not trade above it, a sell not below it.
	Price int64
	// StopPrice is the trigger of StopMarket and StopLimit orders: a buy
	// stop triggers when the last trade price is >= StopPrice, a sell stop
	// when it is <= StopPrice.
	StopPrice int64
	// Qty is the order quantity. It is zero only for a market buy by quote
	// budget.
	Qty int64
	// QuoteBudget, for a Market or StopMarket buy, is the most quote
	// (price × quantity) the order may spend. With Qty == 0 the budget alone
	// sizes the order, and must reach Rules.MinNotional; with Qty > 0 the
	// order is one by quantity that buys up to Qty within the budget, and,
	// like every market order by quantity, is not bound by MinNotional
	// (however small the budget).
	QuoteBudget int64
	// DisplayQty, if non-zero, makes a GTC Limit or StopLimit order an
	// iceberg: at most DisplayQty of it is visible at a time, and each
	// refreshed slice goes to the back of its price level. An iceberg
	// has at most MaxIcebergParts slices: Qty ≤ MaxIcebergParts ×
	// DisplayQty.
	DisplayQty int64
}

// MaxIcebergParts is the most slices an iceberg may be cut into: its
// quantity (at placing, and its open quantity after an amend that raises
// it) is at most MaxIcebergParts times its DisplayQty, as exchanges'
// iceberg parts filters require. Each slice a taker meets is a trade of
// its own, so without the bound one order of a huge quantity showing a
// lot at a time made a taker that swept it produce a trade per lot:
// millions of events in one command, which stalled matching for seconds
// and took gigabytes. With it, an iceberg makes at most as many trades
// as MaxIcebergParts plain orders would.
const MaxIcebergParts = 100

// icebergTooLong reports whether qty > 0 is more than MaxIcebergParts
// slices of display > 0 (without overflow).
func icebergTooLong(qty, display int64) bool {
	return (qty-1)/MaxIcebergParts+1 > display
}

// Rules are a market's trading rules, all integers. The zero value accepts
// every positive price and quantity.
type Rules struct {
	// TickSize: prices must be multiples of it. 0 means 1.
	TickSize int64
	// LotSize: quantities must be multiples of it. 0 means 1.
	LotSize int64
	// MinQty is the smallest order quantity. 0 means LotSize.
	MinQty int64
	// MaxQty is the largest order quantity. 0 means no limit.
	MaxQty int64
	// MinNotional is the smallest price × quantity of a priced order
	// (Limit, StopLimit) and the smallest quote budget of a market buy by
	// budget alone (Qty 0). Market orders by quantity, with or without a
	// budget, are not bound by it. 0 means none.
	MinNotional int64
	// MaxPrice is the highest allowed price, a multiple of TickSize. 0
	// means no limit.
	MaxPrice int64
}

// withDefaults returns r with zero fields replaced by their defaults.
func (r Rules) withDefaults() Rules {
	if r.TickSize == 0 {
		r.TickSize = 1
	}
	if r.LotSize == 0 {
		r.LotSize = 1
	}
	if r.MinQty == 0 {
		r.MinQty = r.LotSize
	}
	if r.MaxQty == 0 {
		r.MaxQty = math.MaxInt64
	}
	if r.MaxPrice == 0 {
		r.MaxPrice = math.MaxInt64
	}
	return r
}

// Level is one aggregated price level, as returned by Depth.
type Level struct {
	Price  int64 // the level's price
	Qty    int64 // visible quantity at the level
	Orders int   // number of orders at the level
}

// OrderInfo describes a live order, as returned by Order and All.
type OrderInfo struct {
	ID        uint64
	Owner     uint64
	Side      Side
	Type      OrderType // Limit for resting orders
	TIF       TimeInForce
	STP       STPMode
	PostOnly  bool
	Price     int64 // limit price (or protection price of a stop-market)
	StopPrice int64 // pending stops only
	// Open is the quantity still to fill: visible + hidden for an iceberg.
	// For a pending stop it is the order quantity.
	Open int64
	// Visible is the quantity shown in the book (pending stops: 0).
	Visible int64
	// DisplayQty is the iceberg slice size (0: not an iceberg).
	DisplayQty int64
	// QuoteBudget is the budget of a pending stop-market buy by quote.
	QuoteBudget int64
	// Stop is true for a stop order that has not triggered yet.
	Stop bool
}
