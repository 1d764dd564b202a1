package engine

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/internal/seqmap"
)

// FeeAccount is the id of the account that collects trading fees. It
// exists from the start and cannot trade. Its balances leave it only by
// CmdWithdraw (the exchange taking its fee revenue out), with a window
// of withdrawal refs like any account's; deposits to it are refused
// (ErrUnknownAccount): fees come only from trades.
const FeeAccount = 0

// Event is one outcome of a command: a book event tagged with its market,
// and for trades the fees charged, in quote units.
type Event struct {
	book.Event
	Market uint32
	// CopyReason says why for EvCopySkipped and EvCopyClosed.
	CopyReason CopyReason
	TakerFee   int64 // trades: fee paid by the taker
	MakerFee   int64 // trades: fee paid by the maker
	// Relation is the copy relation of a mirrored order's events and of
	// the copy-trading events (EvCopySkipped, EvCopyClosed, EvProfitShare).
	Relation uint64
	// Amount is the quote of EvCopyClosed and EvProfitShare.
	Amount int64
}

// Outcome is the result of applying one command.
type Outcome struct {
	// Err is nil if the command was accepted, else a sentinel error of
	// this package or of package book (book.ErrPriceNotOnTick, ...),
	// some wrapped with detail (ErrInvalidSpec says which rule): test it
	// with errors.Is. A command that fails has no events of its own: the
	// book's EvRejected is not passed on, Err says why. (The expiries of
	// good-till-date orders due at its time come first among any
	// command's events, a failed one's too: see Apply.)
	//
	// An accepted order has Err nil whatever became of it: a FOK order
	// that could not fill, or the rest of an IOC or market order, ends
	// with an EvExpired event, not an error.
	Err error
	// ID is the id the command created (asset, market, account, order,
	// copy relation), the order id of a cancel or amend, the market id
	// of a halt, resume or fee change, the number of orders a CmdCancelAll cancelled;
	// 0 for the other kinds. With Err ErrDuplicateClientID it is the id
	// of the order that already has the client order id.
	ID uint64
	// Duplicate is set when the command repeated a Ref already used: the
	// command did nothing and ID is the original's. A place repeats its
	// client order id only with the original's parameters (see
	// ClientIDWindow); else it fails with ErrDuplicateClientID. A deposit
	// or withdrawal repeats its Ref only with the original's account,
	// asset and amount (see CmdDeposit and CmdWithdraw); else it fails
	// with ErrRefConflict.
	Duplicate bool
	// Trades is the number of trades the state had executed before the
	// command (State.Trades): the command's k-th trade event (book.EvTrade,
	// counting from 1 over all its events, mirrored fills included) is
	// trade number Trades+k of the state's history, a number no other
	// trade has. Set for every command, failed ones included.
	Trades uint64
}

// State is the deterministic state machine of ist: assets, markets with
// their books, accounts with balances, and live orders with their
// reservations. Apply is its only mutator. State is not safe for
// concurrent use; the engine's matcher goroutine owns it.
type State struct {
	assets       []Name // by id-1
	assetByName  map[Name]uint32
	markets      []*market // by id-1
	marketByName map[Name]uint32
	accounts     accountTable // by id; 0 is the fee account
	orders       orderTable
	clientIDs    clientIDTable // (account, client order id) → order id, live or recently done
	doneIDs      refFIFO       // client order ids of done orders, oldest first
	// deposits are the deposit refs, in the order they were made (kept
	// forever, see CmdDeposit); depositIndex finds a ref's entry.
	deposits     chunkList[depositRef]
	depositIndex map[Ref]int
	// withdrawals indexes the withdrawal refs that the accounts' windows
	// (account.withdrawals) hold, with what each withdrew.
	withdrawals map[refKey]withdrawalRef
	supply      []int64 // by asset id-1: deposits − withdrawals
	nextOrder   uint64
	seq         uint64 // last applied sequence number
	// nextExpiry is the earliest expiry time of a live good-till-date
	// order, math.MaxInt64 if there is none: the one comparison each
	// command makes (apply). Beside seq, which apply writes anyway.
	nextExpiry int64
	expiries   expiryIndex
	trades     uint64 // trades ever executed (EvTrade events)

	relations chunkList[relation] // by id-1, closed ones included
	leaders   chunkList[leader]   // by account.leader-1
	pending   []mirrorFill
	// mirroring is the index in pending of the fill mirrorPending is
	// mirroring (0 outside it): the fills before it are mirrored.
	mirroring int

	// bookCapacity is the room new books reserve (Reserve); a tuning of
	// this process, not part of the state.
	bookCapacity int

	bevs []book.Event // scratch
	ids  []uint64     // scratch
	// snapSink keeps the loads of appendOrders from being optimised away;
	// never read.
	snapSink   uint64
	relScratch []uint64 // scratch
}

// market is one market. The fields a place reads (the spec, its price
// band included, the book, halted, maxFee and id) come first, within two
// cache lines (TestMarketLayout); the name, which it does not read, last.
type market struct {
	spec   MarketSpec
	book   *book.Book
	halted bool
	maxFee int32 // max(maker, taker) fee bps
	id     uint32
	name   Name
	// open counts each account's live orders (order records) in the
	// market while it has a limit on them (spec.MaxOpenOrders), nil
	// otherwise; accounts with none are not in it. Only looked up, never
	// iterated: its order cannot reach an outcome.
	open map[uint64]int32
}

type account struct {
	name Name
	bal  []balance // by asset id-1, grown on demand
	// leader is 1 + the index of the account's leader profile, or 0.
	leader int32
	// follows counts the account's open copy relations as a follower,
	// followed all it ever opened (closed ones included).
	follows, followed int32
	// orders is 1 + the slab index of the first of the account's live
	// orders (State.addOrder), 0 if it has none: a list through the
	// orders' links, so that a cancel-all or a freeze finds the
	// account's orders without walking every book.
	orders int32
	// relation is, for a copy wallet, its relation's id; such an account
	// cannot be named by commands.
	relation uint64
	// withdrawals are the refs of the account's most recent withdrawals
	// (see WithdrawalRefWindow), oldest first.
	withdrawals refWindow
	// frozen: an operator suspended the account (CmdSetAccountFrozen); it
	// has no live order. Only user accounts are ever frozen.
	frozen bool
}

type balance struct {
	avail, locked int64
}

// order is the engine's view of a live order: who pays for it and what is
// still reserved for it.
type order struct {
	id      uint64
	account uint64
	market  uint32
	side    book.Side
	amended bool // see copySpent; here, so that a record is 128 bytes
	// copied: fills of this order (a leader's) were noted for mirroring,
	// so relations may carry remainders of it: finish tells
	// State.leaderOrderDone. In the padding after amended, and in the
	// cache line finish reads anyway.
	copied bool
	// gtd: the order is good-till-date, its expiry time in
	// State.expiries, which finish tells. In the last byte of padding
	// before limit.
	gtd bool
	// limit is the price the buy reservation was computed at (0 for a
	// buy sized by budget or by the available balance).
	limit  int64
	locked int64  // quote for a buy, base for a sell
	ref    Ref    // client order id, if any
	tag    uint32 // clientIDTag of (account, ref), if ref is set
	// origQty and origBudget are the order's size (quantity as placed,
	// then filled + open after each amend; and the quote budget of a buy
	// by budget), for copy-trading sizing.
	origQty, origBudget int64
	// copySpent is the part of a fixed_quote follower's amount per
	// leader order that this order's fills have spent, in units of
	// copyWhole. Until an amend (amended), each fill spends its quantity
	// over origQty, exactly; after one, the part left times its quantity
	// over the open quantity before it, so that the order spends the
	// whole amount once filled, whatever amends changed its size.
	copySpent int64
	// link is the order's place in its account's list of live orders
	// (State.linkOrder). A mirrored order (which never rests) is in
	// none; its account is the relation's wallet, which names the
	// relation.
	link link
	// filled is the quantity traded so far, for amends by total quantity
	// (CmdAmendTotal).
	filled int64
	// fp is the fingerprint of the place command (placeFingerprint) if
	// the order has a client order id: a resend of the id must match it.
	// 0 means unknown (restored from a snapshot of version 2 or older).
	fp uint64
}

// ClientIDWindow is how many done orders keep their client order id: a
// resend of one of them with the same parameters (market and every field
// of the order as placed) returns the original order (Outcome.Duplicate),
// and with other parameters fails with ErrDuplicateClientID. Ids of live
// orders are always kept. Beyond the window, counted over all accounts,
// the oldest are forgotten, so memory stays bounded: a resend of a
// forgotten id places a new order. The order of forgetting is part of
// the state.
const ClientIDWindow = 1 << 16

// WithdrawalRefWindow is how many withdrawal refs each account keeps: a
// resend of one of its last WithdrawalRefWindow withdrawals (with a Ref)
// with the same asset and amount does nothing (Outcome.Duplicate), and
// with another asset or amount fails with ErrRefConflict. Beyond the
// window, counted per account in the order the withdrawals were applied,
// the oldest ref is forgotten, so that what an account can make the state
// remember stays bounded: a resend of a forgotten ref is a new withdrawal
// and debits the account again. The order of forgetting is part of the
// state. Deposit refs are all kept: deposits are the operator's, each
// one money that arrived, so their number is not the users' to grow,
// and a retried deposit must never be credited twice (see CmdDeposit).
const WithdrawalRefWindow = 4096

// refFIFO is a bounded first-in first-out queue of client order ids (see
// State.retireClientID).
type refFIFO struct {
	keys []refKey // ring of ClientIDWindow entries, allocated on first use
	tags []uint32 // clientIDTag of each key
	fps  []uint64 // fingerprint of each key's order (order.fp)
	ids  []uint64 // each key's order id
	head int      // oldest
	n    int
}

// alloc allocates the ring.
func (q *refFIFO) alloc() {
	q.keys, q.tags, q.fps = make([]refKey, ClientIDWindow), make([]uint32, ClientIDWindow), make([]uint64, ClientIDWindow)
	q.ids = make([]uint64, ClientIDWindow)
}

// eachID calls fn for every key with its order's fingerprint and id,
// oldest first.
func (q *refFIFO) eachID(fn func(k *refKey, fp, id uint64)) {
	for i := range q.n {
		p := (q.head + i) % len(q.keys)
		fn(&q.keys[p], q.fps[p], q.ids[p])
	}
}

type refKey struct {
	account uint64
	ref     Ref
}

// depositRef is a deposit made with a Ref: the exchange-wide key of
// CmdDeposit, and what it credited.
type depositRef struct {
	ref     Ref
	account uint64
	asset   uint32
	amount  int64
}

// withdrawalRef is what a withdrawal with a Ref debited.
type withdrawalRef struct {
	asset  uint32
	amount int64
}

// refWindow is a ring of an account's most recent withdrawal refs,
// oldest first: it grows on demand up to WithdrawalRefWindow entries,
// then each new ref takes the place of the oldest.
type refWindow struct {
	refs []Ref
	head int // the oldest once the ring is full; 0 until then
}

func (w *refWindow) len() int { return len(w.refs) }

// at returns the i-th oldest ref, 0 ≤ i < w.len().
func (w *refWindow) at(i int) *Ref { return &w.refs[(w.head+i)%len(w.refs)] }

// push appends r; if the window was full, it returns the oldest ref,
// which r replaced.
func (w *refWindow) push(r Ref) (old Ref, evicted bool) {
	if len(w.refs) < WithdrawalRefWindow {
		w.refs = append(w.refs, r)
		return old, false
	}
	old = w.refs[w.head]
	w.refs[w.head] = r
	w.head = (w.head + 1) % len(w.refs)
	return old, true
}

// NewState returns an empty state with only the fee account.
func NewState() *State {
	return &State{
		assetByName:  make(map[Name]uint32),
		marketByName: make(map[Name]uint32),
		accounts:     newAccountTable(),
		orders:       newOrderTable(),
		clientIDs:    newClientIDTable(),
		depositIndex: make(map[Ref]int),
		withdrawals:  make(map[refKey]withdrawalRef),
		nextExpiry:   math.MaxInt64,
	}
}

// Capacity is the size a State pre-allocates room for (see
// State.Reserve). A table that outgrows its size allocates a larger one
// and moves its entries over a few at a time, with each later order, so
// no single command pays for copying it (a million orders would pause the
// matcher for tens of milliseconds at once), and the Engine's matcher has
// the larger arrays allocated on another goroutine shortly before they
// are needed; but the memory, the move and the lookups into both tables
// while it lasts still cost, and reserving the room up front avoids them.
type Capacity struct {
	// Orders is the number of live orders, over all markets.
	Orders int
	// BookOrders is the number of resting orders in each market's book
	// (size it for the largest market: every book reserves it).
	BookOrders int
}

// Reserve makes room for c now, in the order tables and in the book of
// every market, present and future, so that the state does not grow (and
// pause) before it reaches that size. It changes nothing observable: the
// same commands give the same events and hash with or without it. It is
// itself a growth if the state is large: call it at start-up (the engine
// does, with Options.Capacity). Like Apply, it is for the state's owner.
func (s *State) Reserve(c Capacity) {
	if c.Orders > 0 {
		s.orders.reserve(c.Orders)
		s.clientIDs.reserve(c.Orders + ClientIDWindow)
	}
	if c.BookOrders > 0 {
		s.bookCapacity = max(s.bookCapacity, c.BookOrders)
		for _, m := range s.markets {
			m.book.Reserve(c.BookOrders)
		}
	}
}

// growAhead passes to start the functions that make, on another
// goroutine, the arrays the next growths of the order index, the client
// order id table and the books of markets will take, where such a growth
// is near (book.Book.GrowAhead). Each table takes its array if it is ready
// when it grows and makes its own otherwise: nothing observable depends
// on it. The matcher calls it after each batch with the markets the batch
// touched, so that it does not wait for large arrays to be made; within
// is the most commands it may apply before it calls again (a batch), so
// that it asks before the growth comes.
func (s *State) growAhead(markets []uint32, within int, start func(func())) {
	if f := s.orders.index.GrowAhead(within); f != nil {
		start(f)
	}
	if f := s.clientIDs.growAhead(within); f != nil {
		start(f)
	}
	for _, id := range markets {
		if m, err := s.market(id); err == nil {
			if f := m.book.GrowAhead(within); f != nil {
				start(f)
			}
		}
	}
}

// goStart runs f on a new goroutine: growAhead's start in the engine.
func goStart(f func()) { go f() }

// Seq returns the sequence number of the last applied command.
func (s *State) Seq() uint64 { return s.seq }

// Trades returns the number of trades executed so far: every EvTrade
// event Apply has emitted, mirrored copy-trading fills included. It is
// part of the state (snapshots keep it; a state restored from a snapshot
// of version 2 or older counts from 0 at its sequence number).
func (s *State) Trades() uint64 { return s.trades }

// Apply executes one command and appends its events to dst. It returns the
// command's outcome and the extended slice. Before the command, the
// good-till-date orders whose expiry time is at or before the command's
// Time expire (an EvExpired each, reason book.ReasonExpired, first among
// its events), whatever the command is and whether it succeeds. A command
// that fails changes nothing else but the last applied sequence number,
// and appends no events of its own (Outcome.Err says why).
func (s *State) Apply(cmd *Command, dst []Event) (Outcome, []Event) {
	var out Outcome
	_, dst = s.applyTo(cmd, dst, &out)
	return out, dst
}

// applyTo is Apply writing the outcome to *out, field by field. The
// matcher calls it with the outcome's place in its slot: an Outcome is too
// big for the compiler to keep in registers, and a copy of one returned by
// value reads it back from the stack with wider loads than the stores that
// put it there, which makes the CPU wait until every earlier store,
// cache misses included, has reached the cache.
//
// It returns the outcome (but for Trades) too, in registers: the matcher
// reads it from there, not from *out (a load from what was just stored
// there waited for the stores before it, 12% of the matcher's time in a
// profile).
func (s *State) applyTo(cmd *Command, dst []Event, out *Outcome) (result, []Event) {
	trades := s.trades
	r, dst := s.apply(cmd, dst)
	out.Err = r.Err
	out.ID = r.ID
	out.Duplicate = r.Duplicate
	out.Trades = trades
	return r, dst
}

// result is what a command's handler returns: an Outcome without Trades,
// which Apply fills in. It is small enough (at most four words) for the
// compiler to return it in registers all the way.
type result struct {
	Err       error
	ID        uint64
	Duplicate bool
}

// apply is Apply without Outcome.Trades.
func (s *State) apply(cmd *Command, dst []Event) (result, []Event) {
	s.seq = cmd.Seq
	if cmd.Time >= s.nextExpiry {
		dst = s.expire(cmd.Time, dst)
	}
	switch cmd.Kind {
	case CmdCreateAsset:
		return s.createAsset(cmd), dst
	case CmdCreateMarket:
		return s.createMarket(cmd), dst
	case CmdHaltMarket, CmdResumeMarket:
		m, err := s.market(cmd.Market)
		if err != nil {
			return result{Err: err}, dst
		}
		m.halted = cmd.Kind == CmdHaltMarket
		return result{ID: uint64(m.id)}, dst
	case CmdCreateAccount:
		if cmd.Name == (Name{}) {
			return result{Err: ErrInvalidName}, dst
		}
		return result{ID: s.accounts.add(account{name: cmd.Name})}, dst
	case CmdDeposit, CmdWithdraw:
		return s.transfer(cmd), dst
	case CmdPlace:
		out, dst := s.place(cmd, dst)
		if len(s.pending) > 0 {
			dst = s.mirrorPending(dst)
		}
		return out, dst
	case CmdCancel:
		return s.cancel(cmd, dst)
	case CmdCancelAll:
		return s.cancelAll(cmd, dst)
	case CmdAmend, CmdAmendTotal:
		out, dst := s.amend(cmd, dst)
		if len(s.pending) > 0 {
			dst = s.mirrorPending(dst)
		}
		return out, dst
	case CmdSnapshot, CmdTick:
		return result{}, dst
	case CmdSetLeaderProfile:
		return s.setLeaderProfile(cmd), dst
	case CmdFollow:
		return s.follow(cmd, dst)
	case CmdAmendFollow:
		return s.amendFollow(cmd), dst
	case CmdPauseFollow, CmdResumeFollow:
		return s.pauseFollow(cmd), dst
	case CmdUnfollow:
		return s.unfollow(cmd, dst)
	case CmdSettle:
		return s.settleCopy(cmd, dst)
	case CmdSetMarketFees:
		return s.setMarketFees(cmd, dst)
	case CmdSetAccountFrozen:
		return s.setAccountFrozen(cmd, dst)
	case CmdSetPriceBand:
		return s.setPriceBand(cmd), dst
	case CmdSetMaxOpenOrders:
		return s.setMaxOpenOrders(cmd), dst
	}
	return result{Err: ErrInvalidCommand}, dst
}

func (s *State) createAsset(cmd *Command) result {
	if cmd.Name == (Name{}) {
		return result{Err: ErrInvalidName}
	}
	if _, ok := s.assetByName[cmd.Name]; ok {
		return result{Err: ErrDuplicateName}
	}
	s.assets = append(s.assets, cmd.Name)
	s.supply = append(s.supply, 0)
	id := uint32(len(s.assets))
	s.assetByName[cmd.Name] = id
	return result{ID: uint64(id)}
}

func (s *State) createMarket(cmd *Command) result {
	sp := cmd.Spec
	if cmd.Name == (Name{}) {
		return result{Err: ErrInvalidName}
	}
	if _, ok := s.marketByName[cmd.Name]; ok {
		return result{Err: ErrDuplicateName}
	}
	if !s.validAsset(sp.Base) || !s.validAsset(sp.Quote) {
		return result{Err: ErrUnknownAsset}
	}
	if err := checkSpec(&sp); err != nil {
		return result{Err: err}
	}
	b, err := book.New(sp.Rules, &book.Options{Capacity: s.bookCapacity, NoIndex: true})
	if err != nil {
		return result{Err: fmt.Errorf("%w: %w", ErrInvalidSpec, err)}
	}
	// Every amount a trade or reservation can produce must fit in an
	// int64 with room for fees: bound the rules so that it does (see
	// MarketSpec). b.Rules has the defaults: a zero bound is MaxInt64.
	r := b.Rules()
	notional, ok1 := mul(r.MaxPrice, r.MaxQty)
	notional, ok2 := mul(notional, sp.QuoteScale)
	if !ok1 || !ok2 || notional > math.MaxInt64/2 {
		return result{Err: fmt.Errorf("%w: max_price %d × max_qty %d × quote_scale %d overflows int64/2 (0 is no limit): set Rules.MaxPrice and Rules.MaxQty",
			ErrInvalidSpec, sp.Rules.MaxPrice, sp.Rules.MaxQty, sp.QuoteScale)}
	}
	if _, ok := mul(r.MaxQty, sp.BaseScale); !ok {
		return result{Err: fmt.Errorf("%w: max_qty %d × base_scale %d overflows int64: lower Rules.MaxQty",
			ErrInvalidSpec, sp.Rules.MaxQty, sp.BaseScale)}
	}
	m := &market{id: uint32(len(s.markets) + 1), name: cmd.Name, spec: sp, book: b,
		maxFee: max(sp.MakerFeeBps, sp.TakerFeeBps)}
	if sp.MaxOpenOrders != 0 {
		m.open = make(map[uint64]int32)
	}
	s.markets = append(s.markets, m)
	s.marketByName[cmd.Name] = m.id
	return result{ID: uint64(m.id)}
}

// checkSpec returns an error wrapping ErrInvalidSpec, saying which, if
// the assets, scales, fees, price band or limit on open orders of sp
// break a rule of MarketSpec.
func checkSpec(sp *MarketSpec) error {
	switch {
	case sp.Base == sp.Quote:
		return fmt.Errorf("%w: base and quote are the same asset %d", ErrInvalidSpec, sp.Base)
	case sp.BaseScale < 1 || sp.QuoteScale < 1:
		return fmt.Errorf("%w: base_scale %d and quote_scale %d must be at least 1", ErrInvalidSpec, sp.BaseScale, sp.QuoteScale)
	case !validFees(sp.MakerFeeBps, sp.TakerFeeBps):
		return fmt.Errorf("%w: maker fee %d and taker fee %d bps must be 0..%d", ErrInvalidSpec, sp.MakerFeeBps, sp.TakerFeeBps, MaxFeeBps)
	case !validBand(sp.PriceBandBps):
		return fmt.Errorf("%w: price band %d bps must be 0..%d", ErrInvalidSpec, sp.PriceBandBps, MaxPriceBandBps)
	case !validOpenLimit(sp.MaxOpenOrders):
		return fmt.Errorf("%w: max open orders %d must be 0..%d", ErrInvalidSpec, sp.MaxOpenOrders, MaxOpenOrdersLimit)
	}
	return nil
}

// MaxFeeBps is the highest maker or taker fee a market may charge, in
// basis points (10%).
const MaxFeeBps = 1000

// validFees reports whether both fees are within 0..MaxFeeBps.
func validFees(maker, taker int32) bool {
	return maker >= 0 && maker <= MaxFeeBps && taker >= 0 && taker <= MaxFeeBps
}

// validAsset reports whether asset id exists. The comparisons are in
// uint64, never int: on a 32-bit platform int(id) of an id from 2^31 up
// is negative, and such an id would pass and index out of range.
func (s *State) validAsset(id uint32) bool { return id >= 1 && uint64(id) <= uint64(len(s.assets)) }

// market returns market id, or ErrUnknownMarket (compared in uint64, as
// validAsset).
func (s *State) market(id uint32) (*market, error) {
	if id < 1 || uint64(id) > uint64(len(s.markets)) {
		return nil, ErrUnknownMarket
	}
	return s.markets[id-1], nil
}

func (s *State) validAccount(id uint64) bool { return id >= 1 && id < uint64(s.accounts.len()) }

// bal returns account id's balance of asset, growing the account's table.
func (s *State) bal(id uint64, asset uint32) *balance {
	a := s.accounts.at(id)
	for len(a.bal) < int(asset) {
		a.bal = append(a.bal, balance{})
	}
	return &a.bal[asset-1]
}

// transfer applies a deposit or a withdrawal. A Ref already known (see
// transferRef) makes it a duplicate or a conflict; a transfer that fails
// (ErrInsufficientFunds, ErrOverflow, ...) records nothing, so that a
// resend of its Ref may succeed later.
func (s *State) transfer(cmd *Command) result {
	if !s.transferAccount(cmd) {
		return result{Err: ErrUnknownAccount}
	}
	if !s.validAsset(cmd.Asset) {
		return result{Err: ErrUnknownAsset}
	}
	if cmd.Amount <= 0 {
		return result{Err: ErrInvalidAmount}
	}
	if !cmd.Ref.IsZero() {
		if same, known := s.transferRef(cmd); known {
			if !same {
				return result{Err: ErrRefConflict}
			}
			return result{Duplicate: true}
		}
	}
	if cmd.Kind == CmdWithdraw && s.accounts.at(cmd.Account).frozen {
		return result{Err: ErrAccountFrozen} // before bal, which may add an empty balance
	}
	b := s.bal(cmd.Account, cmd.Asset)
	sup := &s.supply[cmd.Asset-1]
	if cmd.Kind == CmdDeposit {
		if b.avail > math.MaxInt64-cmd.Amount || *sup > math.MaxInt64-cmd.Amount {
			return result{Err: ErrOverflow}
		}
		b.avail += cmd.Amount
		*sup += cmd.Amount
	} else {
		if b.avail < cmd.Amount {
			return result{Err: ErrInsufficientFunds}
		}
		b.avail -= cmd.Amount
		*sup -= cmd.Amount
	}
	if cmd.Ref.IsZero() {
		return result{}
	}
	if cmd.Kind == CmdDeposit {
		s.addDepositRef(depositRef{ref: cmd.Ref, account: cmd.Account, asset: cmd.Asset, amount: cmd.Amount})
	} else {
		s.addWithdrawalRef(cmd.Account, cmd.Ref, withdrawalRef{asset: cmd.Asset, amount: cmd.Amount})
	}
	return result{}
}

// transferAccount reports whether deposit or withdrawal cmd may move
// money of its Account: a user account (not a copy wallet, whose money
// moves by its relation's commands), or for a withdrawal also
// FeeAccount, whose fees are the exchange's revenue to take out. Nothing
// is ever deposited to FeeAccount: its balances are the fees charged and
// not withdrawn.
func (s *State) transferAccount(cmd *Command) bool {
	return s.userAccount(cmd.Account) || cmd.Kind == CmdWithdraw && cmd.Account == FeeAccount
}

// transferRef looks up the Ref of deposit or withdrawal cmd: a deposit's
// among all deposits, a withdrawal's among its account's window. known
// reports whether the Ref is there; same, whether with cmd's account,
// asset and amount.
func (s *State) transferRef(cmd *Command) (same, known bool) {
	if cmd.Kind == CmdDeposit {
		i, ok := s.depositIndex[cmd.Ref]
		if !ok {
			return false, false
		}
		d := s.deposits.at(uint64(i))
		return d.account == cmd.Account && d.asset == cmd.Asset && d.amount == cmd.Amount, true
	}
	w, ok := s.withdrawals[refKey{cmd.Account, cmd.Ref}]
	return ok && w.asset == cmd.Asset && w.amount == cmd.Amount, ok
}

// addDepositRef records deposit d, whose ref is new.
func (s *State) addDepositRef(d depositRef) {
	s.depositIndex[d.ref] = int(s.deposits.add(d))
}

// addWithdrawalRef records a withdrawal of account with ref, new in its
// window, and forgets the window's oldest ref if it was full.
func (s *State) addWithdrawalRef(account uint64, ref Ref, w withdrawalRef) {
	if old, evicted := s.accounts.at(account).withdrawals.push(ref); evicted {
		delete(s.withdrawals, refKey{account, old})
	}
	s.withdrawals[refKey{account, ref}] = w
}

// mul returns a × b for non-negative a and b; ok is false on overflow.
func mul(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// feeOf returns floor(n × bps / 10000) without overflow.
func feeOf(n int64, bps int32) int64 {
	return n/10000*int64(bps) + n%10000*int64(bps)/10000
}

// beforeFee returns the largest x with x + feeOf(x, bps) ≤ b, for b ≥ 0
// and bps ≥ 0: the most notional that b pays for, fee included.
//
// With D = 10000, k = bps and f(x) = x + ⌊x·k/D⌋ (increasing), it starts
// from x0 = ⌊b·D/(D+k)⌋, which fits: x0·(D+k) ≤ b·D gives f(x0) ≤
// x0 + x0·k/D ≤ b. It is not always the largest (b = 10, k = 20: x0 = 9,
// f(10) = 10), but it is at most one short: the largest x* has
// x* + x*·k/D < f(x*) + 1 ≤ b + 1, so x* < (b+1)·D/(D+k) ≤ b·D/(D+k) + 1
// < x0 + 2. Hence a single step up.
func beforeFee(b int64, bps int32) int64 {
	hi, lo := bits.Mul64(uint64(b), 10000)
	q, _ := bits.Div64(hi, lo, uint64(10000+int64(bps)))
	x := int64(q)
	if x < b && x+1 <= b-feeOf(x+1, bps) {
		x++
	}
	return x
}

// orderTable holds the live orders in a slab indexed by a seqmap, so that
// placing and finishing orders does not allocate. The slab is a list of
// fixed-size chunks: it grows by a chunk, never by copying what it holds
// (a slab of a million records is 128 MB; doubling it copied them while
// matching waited, and held both copies meanwhile).
type orderTable struct {
	chunks [][]order // slabChunk records each; a free entry has id 0
	// hands holds, beside each record, where its order sits in its book
	// (its books keep no index by id: book.Options.NoIndex). Apart from
	// the records, which fill their two cache lines.
	hands [][]book.Handle
	n     int32 // entries used or freed: the slab's indexes are [0, n)
	free  []int32
	index *seqmap.Map
}

// link is a live order's place in its account's list of live orders:
// the slab indexes of the orders before and after it (-1: none), or prev
// notLinked for an order in no list (State.linkOrder).
type link struct{ prev, next int32 }

// notLinked is link.prev of an order in no account's list.
const notLinked = -2

// The slab's chunks hold 8,192 records (1 MiB) each.
const (
	slabChunkBits = 13
	slabChunk     = 1 << slabChunkBits
)

func newOrderTable() orderTable { return orderTable{index: seqmap.New()} }

// at returns slab entry i, which must be below end.
func (t *orderTable) at(i int32) *order {
	return &t.chunks[i>>slabChunkBits][i&(slabChunk-1)]
}

// handle returns where the order of slab entry i, which must be below
// end, sits in its book.
func (t *orderTable) handle(i int32) *book.Handle {
	return &t.hands[i>>slabChunkBits][i&(slabChunk-1)]
}

// addChunk adds a chunk of records and their handles.
func (t *orderTable) addChunk() {
	t.chunks = append(t.chunks, make([]order, slabChunk))
	t.hands = append(t.hands, make([]book.Handle, slabChunk))
}

// link returns the list links of slab entry i, which must be below end.
func (t *orderTable) link(i int32) *link { return &t.at(i).link }

// end returns the number of slab entries, used or free.
func (t *orderTable) end() int32 { return t.n }

// capacity returns the number of records the slab holds without growing.
func (t *orderTable) capacity() int { return len(t.chunks) * slabChunk }

// get returns the live order id, or nil.
func (t *orderTable) get(id uint64) *order {
	if i, ok := t.index.Get(id); ok {
		return t.at(i)
	}
	return nil
}

// add stores rec and returns its index in the slab, where it stays until
// it is freed.
func (t *orderTable) add(rec *order) int32 {
	var i int32
	if k := len(t.free); k > 0 {
		i = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		i = t.n
		if int(i>>slabChunkBits) == len(t.chunks) {
			t.addChunk()
		}
		t.n++
	}
	r := t.at(i)
	*r = *rec
	r.link.prev = notLinked
	t.index.Put(rec.id, i)
	return i
}

// reserve makes room for n orders.
func (t *orderTable) reserve(n int) {
	for len(t.chunks)*slabChunk < n {
		t.addChunk()
	}
	t.index.Reserve(n)
}

// free1 clears slab entry i, whose id has left the index (Take), for
// reuse.
func (t *orderTable) free1(i int32) {
	*t.at(i) = order{}
	*t.handle(i) = 0
	t.free = append(t.free, i)
}

func (t *orderTable) len() int { return t.index.Len() }
