package engine

import (
	"bytes"

	"github.com/instant-social-trading/ist/book"
)

// CommandKind is the kind of a Command.
type CommandKind uint8

// Command kinds. Values are part of the log format: append, never renumber.
const (
	CmdNone CommandKind = iota
	// CmdCreateAsset registers asset Name; the result carries its id.
	CmdCreateAsset
	// CmdCreateMarket opens market Name trading Spec.Base against
	// Spec.Quote; the result carries its id.
	CmdCreateMarket
	// CmdHaltMarket stops new orders and amends on Market; cancels still
	// work.
	CmdHaltMarket
	// CmdResumeMarket lifts a halt.
	CmdResumeMarket
	// CmdCreateAccount opens an account named Name; the result carries its
	// id.
	CmdCreateAccount
	// CmdDeposit credits Amount of Asset to Account. Its optional Ref
	// (e.g. the bank transfer's id) is the deposit's key for the whole
	// exchange, kept forever: a deposit that repeats it with the same
	// Account, Asset and Amount does nothing (Outcome.Duplicate), and
	// one with another account, asset or amount fails with
	// ErrRefConflict, so a retried deposit is never credited twice.
	// Deposit refs and withdrawal refs are apart. A deposit that fails
	// (ErrOverflow) keeps no Ref: a resend is tried anew.
	CmdDeposit
	// CmdWithdraw debits Amount of Asset from Account's available
	// balance. Its optional Ref is the withdrawal's key within Account,
	// apart from deposit refs: a withdrawal that repeats one of the
	// account's last WithdrawalRefWindow refs with the same Asset and
	// Amount does nothing (Outcome.Duplicate), and with another asset or
	// amount fails with ErrRefConflict; an older ref is forgotten, and
	// its resend is a new withdrawal. A withdrawal that fails
	// (ErrInsufficientFunds) keeps no Ref: a resend is tried anew.
	// Account is a user account or FeeAccount (the exchange withdrawing
	// its fee revenue, with a window of refs of its own); CmdDeposit
	// takes user accounts only.
	CmdWithdraw
	// CmdPlace places Order for Account on Market; Ref is the optional
	// client order id. The result carries the order id, which the state
	// assigns (1, 2, ... over all markets): Order.ID and Order.Owner are
	// ignored, the owner being Account. A non-zero ExpireAt makes the
	// order good-till-date: a GTC limit or stop-limit order (post-only
	// or iceberg allowed) that expires by itself at ExpireAt, which must
	// be after the command's Time (else ErrInvalidExpiry); an expiry on
	// any other order (IOC, FOK, market, stop-market) fails with
	// book.ErrInvalidTIF. See the package doc, Good-till-date orders. On
	// a market with a price band a limit or stop-limit price beyond it
	// fails with ErrPriceOutOfBand, and a market order or stop-market is
	// bounded by it (see the package doc, Price bands).
	CmdPlace
	// CmdCancel cancels order OrderID of Account, or with OrderID 0 the
	// order whose client order id is Ref. Market is ignored. An order of
	// another account, or one no longer live (filled, cancelled,
	// expired), fails with ErrUnknownOrder.
	CmdCancel
	// CmdCancelAll cancels every live order of Account on Market, pending
	// stops included, oldest (lowest id) first; the result's ID is the
	// number of orders cancelled (0 is no error). Cause, if set, is the
	// reason its cancels report (see Command.Cause). It costs the
	// account's live orders, not the market's: the engine keeps each
	// account's list of them.
	CmdCancelAll
	// CmdAmend sets the price of order OrderID (or, with OrderID 0, of the
	// order whose client order id is Ref) to Order.Price and its open
	// (remaining) quantity to Order.Qty, both required (book.Book.Amend
	// has the rules on queue priority). Market is ignored; an order of
	// another account fails with ErrUnknownOrder. Logs hold it with this
	// meaning; the server amends with CmdAmendTotal. A new price beyond
	// the market's price band, more aggressive than the order's, fails
	// with ErrPriceOutOfBand.
	CmdAmend
	// CmdSnapshot changes nothing; the engine snapshots its state at this
	// command's sequence number.
	CmdSnapshot
	// CmdTick changes nothing by itself; the engine submits one to
	// publish views that are owed when no command comes, and at the next
	// expiry time of a good-till-date order, so that the orders due
	// expire (as before any command) when no command comes.
	CmdTick
	// CmdSetLeaderProfile makes Account a leader others can follow, or
	// updates its profile: Copy.ProfitShareBps, the profit share rate of
	// follows made from now on. Open relations keep the rate they have
	// (fixed when they opened), unless the new rate is lower: each then
	// pays min(its rate, the new rate) at once. A leader may always cut
	// what followers pay but never raise it for those already following.
	// An account that follows someone cannot lead.
	CmdSetLeaderProfile
	// CmdFollow opens a copy relation of Account on leader Copy.Leader:
	// Amount of quote asset Asset moves from Account's available balance
	// into the relation's own wallet, sized and limited by Copy. The
	// relation pays the leader's profit share rate at this command, for
	// as long as it is open, whatever later raises (a cut lowers it: see
	// CmdSetLeaderProfile; Copy.ProfitShareBps is ignored). With
	// Copy.HasMaxProfitShare, a leader's rate above Copy.MaxProfitShareBps
	// refuses the follow with ErrProfitShareAboveMax. The result
	// carries the relation id. A leader cannot follow. An account follows
	// with at most MaxOpenFollows open relations at a time and
	// MaxFollowsEver in all (ErrTooManyFollows), and a leader has at most
	// MaxFollowers open ones (ErrTooManyFollowers).
	CmdFollow
	// CmdAmendFollow changes the parameters of relation Copy.Relation to
	// Copy's and adds Amount (≥ 0) of its quote asset to its wallet.
	CmdAmendFollow
	// CmdPauseFollow stops mirroring buys on relation Copy.Relation; sells
	// are still mirrored.
	CmdPauseFollow
	// CmdResumeFollow lifts a pause.
	CmdResumeFollow
	// CmdUnfollow closes relation Copy.Relation: with Copy.Close ==
	// CloseMarket its base is sold first; then profit share is settled and
	// everything left returns to the follower's available balance.
	CmdUnfollow
	// CmdSettle settles profit share and checks the stop-loss of every
	// open relation (of leader Account, or of all leaders with Account 0).
	CmdSettle
	// CmdAmendTotal amends order OrderID (or, with OrderID 0, the order
	// whose client order id is Ref) like CmdAmend, but Order.Qty is the
	// order's new total quantity: its open quantity becomes Order.Qty
	// minus what it has filled when the command is applied, and a total
	// not above that is refused with ErrAmendBelowFilled, a total above
	// the market's Rules.MaxQty (as a new order's quantity) with
	// book.ErrQtyAboveMax. Order.Price 0 keeps the price and Order.Qty 0
	// keeps the open quantity.
	CmdAmendTotal
	// CmdSetMarketFees sets the fees of Market, halted or not, to
	// Spec.MakerFeeBps and Spec.TakerFeeBps (each 0..1000, as
	// CmdCreateMarket requires; the rest of Spec is ignored); the result
	// carries the market id. Fees of trades from the next command on are
	// charged at the new rates. When the higher of the two rates changes,
	// every live buy of the market is brought to the reservation the new
	// rate requires, in order id order (see the package doc, Money): a buy
	// with a limit price (a pending stop-limit or stop-market with a
	// protection price included) locks the cost of its open quantity at
	// the new rate, what a lower rate frees going back to the available
	// balance and what a higher one adds coming out of it; a pending
	// stop-market buy by budget keeps its budget locked, and the notional
	// it buys once released becomes what that budget pays for at the new
	// rate. Orders that need nothing more are adjusted first; then one
	// whose account cannot pay the increase from its available balance,
	// or a stop whose budget no longer buys the least the market allows,
	// is cancelled: EvCancelled with reason book.ReasonFeeChange
	// (fee_change), its reservation released. Sells, which lock base, are
	// untouched.
	CmdSetMarketFees
	// CmdSetAccountFrozen freezes (suspends) Account with Frozen true and
	// lifts the freeze with Frozen false; the result carries the number
	// of orders it cancelled. Freezing cancels every live order of the
	// account, pending stops included, in every market, in order id
	// order: each an EvCancelled with reason book.ReasonAccountFrozen
	// (account_frozen), its reservation released. While frozen, the
	// account's CmdPlace, CmdAmend, CmdAmendTotal, CmdWithdraw, CmdFollow,
	// CmdAmendFollow, CmdPauseFollow, CmdResumeFollow, CmdUnfollow and
	// CmdSetLeaderProfile fail with ErrAccountFrozen and change nothing
	// (a resend of a client order id or withdrawal ref made before the
	// freeze still answers Outcome.Duplicate with the original); its
	// relations skip the leader's fills (EvCopySkipped, reason
	// CopyAccountFrozen), and their stop-losses and profit share still
	// run. Cancels, deposits and every read still work. Freezing a frozen
	// account, or unfreezing one that is not, succeeds and changes
	// nothing; Account must be a user account (not FeeAccount nor a copy
	// wallet), else ErrUnknownAccount. Orders cancelled stay cancelled
	// after an unfreeze.
	CmdSetAccountFrozen
	// CmdSetPriceBand sets the price band of Market, halted or not, to
	// Spec.PriceBandBps (0 for none, else 1..MaxPriceBandBps, as
	// CmdCreateMarket requires; the rest of Spec is ignored); the result
	// carries the market id. Orders from the next command on are held to
	// the new band; live orders are untouched (a pending stop-market keeps
	// the protection price the band gave it when it was placed). See the
	// package doc, Price bands.
	CmdSetPriceBand
	// CmdSetMaxOpenOrders sets the limit of Market, halted or not, on
	// the live orders one account may have in it to
	// Spec.MaxOpenOrders (0 for none, else 1..MaxOpenOrdersLimit, as
	// CmdCreateMarket requires; the rest of Spec is ignored); the result
	// carries the market id. Places from the next command on are held to
	// it; live orders are untouched, even where an account now has more
	// than the new limit (it cannot place another that could rest until
	// it has fewer). See MarketSpec.MaxOpenOrders.
	CmdSetMaxOpenOrders
	numCommandKinds
)

var commandNames = [numCommandKinds]string{
	CmdNone: "none", CmdCreateAsset: "create_asset", CmdCreateMarket: "create_market",
	CmdHaltMarket: "halt_market", CmdResumeMarket: "resume_market",
	CmdCreateAccount: "create_account", CmdDeposit: "deposit", CmdWithdraw: "withdraw",
	CmdPlace: "place", CmdCancel: "cancel", CmdCancelAll: "cancel_all", CmdAmend: "amend",
	CmdSnapshot: "snapshot", CmdTick: "tick",
	CmdSetLeaderProfile: "set_leader_profile", CmdFollow: "follow", CmdAmendFollow: "amend_follow",
	CmdPauseFollow: "pause_follow", CmdResumeFollow: "resume_follow", CmdUnfollow: "unfollow",
	CmdSettle: "settle", CmdAmendTotal: "amend_total", CmdSetMarketFees: "set_market_fees",
	CmdSetAccountFrozen: "set_account_frozen", CmdSetPriceBand: "set_price_band",
	CmdSetMaxOpenOrders: "set_max_open_orders",
}

// String returns the snake_case name of the kind.
func (k CommandKind) String() string {
	if k < numCommandKinds {
		return commandNames[k]
	}
	return "command?"
}

// Name is a short fixed-size name: an asset ("BTC"), a market symbol
// ("BTC-USDT") or an account name. Unused bytes are zero.
type Name [24]byte

// MakeName returns s as a Name; ok is false if s is empty, longer than 24
// bytes or contains a zero byte.
func MakeName(s string) (n Name, ok bool) {
	if s == "" || len(s) > len(n) || bytes.IndexByte([]byte(s), 0) >= 0 {
		return n, false
	}
	copy(n[:], s)
	return n, true
}

// String returns the name without its zero padding.
func (n Name) String() string {
	if i := bytes.IndexByte(n[:], 0); i >= 0 {
		return string(n[:i])
	}
	return string(n[:])
}

// Ref is an idempotency key of up to 36 bytes: a client order id (per
// account), a deposit reference (one namespace for the whole exchange)
// or a withdrawal reference (per account, apart from deposit
// references). The zero Ref means none.
type Ref [36]byte

// MakeRef returns s as a Ref; ok is false if s is longer than 36 bytes or
// contains a zero byte. The empty string gives the zero Ref.
func MakeRef(s string) (r Ref, ok bool) {
	if len(s) > len(r) || bytes.IndexByte([]byte(s), 0) >= 0 {
		return r, false
	}
	copy(r[:], s)
	return r, true
}

// IsZero reports whether r is empty. A Ref made by MakeRef has no zero
// byte, so its first byte says it.
func (r *Ref) IsZero() bool { return r[0] == 0 }

// String returns the reference without its zero padding.
func (r Ref) String() string {
	if i := bytes.IndexByte(r[:], 0); i >= 0 {
		return string(r[:i])
	}
	return string(r[:])
}

// MarketSpec describes a market for CmdCreateMarket. Its fees may change
// later (CmdSetMarketFees), its price band (CmdSetPriceBand) and its
// limit on open orders (CmdSetMaxOpenOrders); the rest is fixed.
//
// Prices and quantities in orders are integers: a quantity of q lots is
// q × BaseScale units of the base asset, and a price of p means p ×
// QuoteScale units of the quote asset per lot, so an order of q lots at p
// is worth p × q × QuoteScale quote units. The server converts decimal
// strings to these integers once, at the boundary.
//
// Every amount a trade or reservation can produce must fit in an int64
// with room for fees: CmdCreateMarket requires Rules.MaxPrice ×
// Rules.MaxQty × QuoteScale ≤ MaxInt64/2 and Rules.MaxQty × BaseScale ≤
// MaxInt64, a zero MaxPrice or MaxQty (no limit, for book.Rules) counting
// as MaxInt64. So a market needs both bounds: the zero book.Rules, which
// a book alone accepts, is refused. A spec that breaks a rule fails with
// an error that wraps ErrInvalidSpec and says which rule.
//
// Fees are paid in the quote asset, per trade and per side: a trade of
// notional n (price × quantity × QuoteScale) costs the taker
// ⌊n × TakerFeeBps / 10000⌋ and the maker ⌊n × MakerFeeBps / 10000⌋,
// rounded down, so a small trade may pay none (Event.TakerFee and
// Event.MakerFee say what each paid). A buyer pays its fee on top of the
// notional, a seller out of its proceeds.
type MarketSpec struct {
	Base, Quote uint32     // asset ids
	BaseScale   int64      // base units per lot (≥ 1)
	QuoteScale  int64      // quote units per price step per lot (≥ 1)
	Rules       book.Rules // in lots and price steps
	MakerFeeBps int32      // fee on the maker's notional, 0..1000
	TakerFeeBps int32      // fee on the taker's notional, 0..1000
	// PriceBandBps is the market's price band, in basis points of the
	// reference price (0, the default: none; else 1..MaxPriceBandBps).
	// It may change later (CmdSetPriceBand). See the package doc, Price
	// bands.
	PriceBandBps int32
	// MaxOpenOrders is the most live orders one account may have in
	// the market (0, the default: no limit; else 1..MaxOpenOrdersLimit):
	// resting limit orders and stop orders not yet triggered, icebergs
	// counting one each. A place of an order that could stay live (a
	// GTC or good-till-date limit order, post-only or iceberg included,
	// or a stop order) by an account that has that many already fails
	// with ErrTooManyOpenOrders, before its funds or fields are checked;
	// market, IOC and FOK orders, which never stay live, are not held to
	// it, nor are copy mirrors. It may change later
	// (CmdSetMaxOpenOrders). It bounds what one account can make the
	// market's book and the engine hold, as exchanges' per-account
	// open order limits do.
	MaxOpenOrders int32
}

// Command is one input to the state machine. It is a fixed-size value
// with no pointers, so that it can live in ring slots and be encoded to the
// log field by field. Seq and Time are set by the sequencer; the state
// machine never reads a clock.
//
// The fields of trading commands come first: a place, cancel or amend
// reads only the first three of the value's five cache lines, which
// travel from the submitting goroutine's core to the matcher's.
type Command struct {
	Kind CommandKind
	// Frozen is CmdSetAccountFrozen's flag: true freezes Account, false
	// lifts the freeze. Here, in the padding between Kind and refTag: it
	// costs the slot no room.
	Frozen bool
	// Cause is why a CmdCancelAll cancels, reported as the reason of its
	// EvCancelled events: 0 (book.ReasonCancelled, on request),
	// book.ReasonCancelAllAfter or book.ReasonDisconnect (istd's dead
	// man's switch and cancel on disconnect); any other is refused. In
	// the padding too.
	Cause book.Reason
	// refTag is clientIDTag of (Account, Ref), computed by Engine.Submit
	// on the submitting goroutine so that the matcher does not hash; 0
	// means not computed (decoded and directly applied commands). It is
	// never encoded and changes no outcome.
	refTag  uint32
	Seq     uint64 // sequence number, from the sequencer
	Time    int64  // Unix nanoseconds, from the sequencer
	Account uint64 // acting account
	Market  uint32
	Asset   uint32
	Amount  int64  // deposits and withdrawals
	OrderID uint64 // cancel and amend
	// Tag is an opaque value of the submitter, echoed in the Result (e.g.
	// a request id or a send timestamp). The state machine ignores it.
	Tag   uint64
	Ref   Ref // client order id, deposit or withdrawal reference (see CmdDeposit, CmdWithdraw)
	Order book.Order
	// ExpireAt is the expiry time (Unix nanoseconds) of a good-till-date
	// CmdPlace, 0 for none (see CmdPlace); other kinds ignore it. Right
	// after Order, so that a place's fields stay within three cache
	// lines; the ring slot keeps its size (TestSlotLayout).
	ExpireAt int64
	Name     Name // asset, market or account name
	Spec     MarketSpec
	Copy     CopySpec // copy-trading commands
}
