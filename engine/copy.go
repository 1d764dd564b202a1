package engine

import (
	"cmp"
	"math"
	"slices"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/internal/fixed"
)

// Copy-trading (see ../shared/COPY_TRADING.md in the project): followers
// mirror every fill of a leader's orders, deterministically, inside the
// matcher, right after the command that made the fill and before the next
// one. A relation between a follower and a leader has its own wallet, an
// account of its own that no command can use directly; mirrored orders
// trade only that wallet. Mirrored orders are derived, never journaled:
// replaying the commands reproduces them.

// CopyMode is how a relation sizes the mirror of a leader's buy.
type CopyMode uint8

// Copy modes. Values are part of the log format.
const (
	// CopyProportional spends Value/1e8 × r of the relation's quote, where
	// r is the leader's spend on the fill over the leader's total quote
	// just before it.
	CopyProportional CopyMode = iota + 1
	// CopyFixedQuote spends Value quote units per leader order, spread
	// over its fills in proportion to their quantity.
	CopyFixedQuote
	// CopyMultiplier buys Value/1e8 × the leader's fill quantity.
	CopyMultiplier
)

// String returns the mode's API name.
func (m CopyMode) String() string {
	switch m {
	case CopyProportional:
		return "proportional"
	case CopyFixedQuote:
		return "fixed_quote"
	case CopyMultiplier:
		return "multiplier"
	}
	return "mode?"
}

// ClosePolicy says what an unfollow does with the relation's base assets.
type ClosePolicy uint8

// Close policies. Values are part of the log format.
const (
	// CloseKeep returns quote and base to the follower as they are.
	CloseKeep ClosePolicy = iota
	// CloseMarket sells the base with IOC orders at the slippage floor
	// under the last trade price first.
	CloseMarket
)

// ValueOne is 1.0 in the fixed point of CopySpec.Value for the
// proportional and multiplier modes.
const ValueOne = 100_000_000

// DefaultSlippageBps is the slippage a relation gets when Follow gives 0.
const DefaultSlippageBps = 50

// MaxSlippageBps and MaxProfitShareBps bound their CopySpec fields.
const (
	MaxSlippageBps    = 300
	MaxProfitShareBps = 5000
)

// Bounds on copy relations (CmdFollow). Each open relation is mirrored,
// follower by follower, on every fill of its leader, inside the command
// that made the fill, and every relation, closed ones included, keeps
// its wallet account for good: without bounds one account could make
// every fill of a leader it follows many times over cost the matcher a
// mirror (or a skip event) per relation, or grow the state without end
// by following and unfollowing in a loop.
const (
	// MaxOpenFollows is the most open (active or paused) relations one
	// account follows with at a time.
	MaxOpenFollows = 100
	// MaxFollowsEver is the most relations one account may open in all,
	// closed ones included.
	MaxFollowsEver = 10_000
	// MaxFollowers is the most open relations one leader has.
	MaxFollowers = 10_000
)

// CopySpec carries the parameters of the copy-trading commands.
type CopySpec struct {
	Leader   uint64 // CmdFollow: the account to follow
	Relation uint64 // AmendFollow, Pause/ResumeFollow, Unfollow
	// Value: for CopyProportional and CopyMultiplier a factor in units of
	// 1/ValueOne; for CopyFixedQuote quote units per leader order.
	Value int64
	// MaxOrderQuote caps the notional of one mirrored buy, in quote units
	// (0: no cap).
	MaxOrderQuote int64
	Mode          CopyMode
	Close         ClosePolicy // CmdUnfollow
	// HasMaxProfitShare: CmdFollow gives MaxProfitShareBps, the highest
	// profit share rate the follower accepts ("terms accepted"). Without
	// it MaxProfitShareBps is ignored (and not journaled) and the follow
	// takes the leader's rate whatever it is, as every log written before
	// the field existed does. A flag and not a sentinel value, so that
	// "at most 0%" is expressible and a zero CopySpec keeps its meaning.
	HasMaxProfitShare bool
	SlippageBps       int32 // 1..MaxSlippageBps; 0 means DefaultSlippageBps
	StopLossBps       int32 // 0 (none) .. 9999
	ProfitShareBps    int32 // CmdSetLeaderProfile: 0..MaxProfitShareBps, the rate of new follows
	// MaxProfitShareBps: with HasMaxProfitShare, CmdFollow is refused with
	// ErrProfitShareAboveMax if the leader's rate is above it
	// (0..MaxProfitShareBps, else ErrInvalidCopySpec).
	MaxProfitShareBps int32
}

// RelationStatus is the state of a copy relation.
type RelationStatus uint8

// Relation states.
const (
	RelationActive RelationStatus = iota + 1
	RelationPaused
	RelationClosed
)

// String returns the status's API name.
func (s RelationStatus) String() string {
	switch s {
	case RelationActive:
		return "active"
	case RelationPaused:
		return "paused"
	case RelationClosed:
		return "closed"
	}
	return "status?"
}

// Copy-trading event kinds, after book's. Their Event has Relation set,
// Owner the follower and MakerOwner the leader.
const (
	// EvCopySkipped: a leader fill was not mirrored to Relation. CopyReason
	// says why; OrderID is the leader's order, Market, Side, Price and Qty
	// the leader's fill, Remaining the size the relation wanted (a
	// quantity, as Qty): the one its mode, remainders and caps computed,
	// before a buy is shrunk to what its wallet can pay, so that a
	// CopyInsufficientFunds skip shows what the relation could not
	// afford (RulesVersion 5 and earlier gave the shrunk size, often 0);
	// 0 for the reasons checked before sizing (CopyOtherQuote,
	// CopyAccountFrozen, CopyPaused, CopyMarketHalted, CopyNoPosition).
	EvCopySkipped book.EventKind = 32 + iota
	// EvCopyClosed: Relation closed (CopyReason CopyUnfollowed or
	// CopyStopLoss); Amount is the quote returned to the follower.
	EvCopyClosed
	// EvProfitShare: Relation paid Amount of quote to its leader.
	EvProfitShare
)

// CopyReason says why a mirror was skipped or a relation closed.
type CopyReason uint8

// Copy reasons.
const (
	CopyNone CopyReason = iota
	// CopyPaused: the relation is paused and the fill was a buy.
	CopyPaused
	// CopyOtherQuote: the market's quote asset is not the wallet's.
	CopyOtherQuote
	// CopyBelowLot: the size rounds down to less than the market's minimum
	// quantity.
	CopyBelowLot
	// CopyBelowMinNotional: the order would be below the minimum notional.
	CopyBelowMinNotional
	// CopyInsufficientFunds: the wallet cannot pay for the minimum size.
	CopyInsufficientFunds
	// CopyNoPosition: the leader sold and the relation holds none of it.
	CopyNoPosition
	// CopyMarketHalted: the market is halted.
	CopyMarketHalted
	// CopyRejected: the book refused the mirrored order.
	CopyRejected
	// CopyUnfollowed: the follower unfollowed.
	CopyUnfollowed
	// CopyStopLoss: the relation's NAV fell below its stop-loss.
	CopyStopLoss
	// CopyAccountFrozen: the follower's account is frozen (see
	// CmdSetAccountFrozen).
	CopyAccountFrozen
	numCopyReasons
)

var copyReasonNames = [numCopyReasons]string{
	CopyNone: "none", CopyPaused: "paused", CopyOtherQuote: "other_quote_asset",
	CopyBelowLot: "below_lot", CopyBelowMinNotional: "below_min_notional",
	CopyInsufficientFunds: "insufficient_funds", CopyNoPosition: "no_position",
	CopyMarketHalted: "market_halted", CopyRejected: "rejected",
	CopyUnfollowed: "unfollow", CopyStopLoss: "stop_loss", CopyAccountFrozen: "account_frozen",
}

// String returns the reason's snake_case name.
func (r CopyReason) String() string {
	if r < numCopyReasons {
		return copyReasonNames[r]
	}
	return "reason?"
}

// relation is one follower copying one leader.
type relation struct {
	id       uint64
	follower uint64
	leader   uint64
	wallet   uint64 // account id of the copy wallet
	asset    uint32 // the wallet's quote asset
	status   RelationStatus
	spec     CopySpec // Mode, Value, MaxOrderQuote, SlippageBps, StopLossBps
	// allocation is the quote moved into the wallet; hwm the high-water
	// mark of its NAV for profit share; paid the profit share paid.
	allocation, hwm, paid int64
	// shareBps is the profit share rate the relation pays (profitShare):
	// its leader's rate when it opened, lowered with the leader's (to
	// min(shareBps, new rate)) while it is open, never raised. So an open
	// relation's rate is at most its leader's.
	shareBps int32
	// carries are the rounding remainders of the relation's mirrors of
	// the leader's orders, by order id: each carries to the next fill of
	// its order and is dropped once the order is done and its last fill
	// mirrored (see State.leaderOrderDone). An open relation holds at
	// most one for each live leader order; a closed one none.
	carries []orderCarry
}

// orderCarry is the rounding remainder a relation carries to the next
// fill of one leader order: quote units for the buys of the proportional
// and fixed_quote modes, 1/ValueOne lots for the buys of the multiplier
// mode, base units for sells (a leader order has one side, and a change
// of mode drops all of them).
type orderCarry struct {
	order  uint64 // the leader's order
	amount int64  // > 0: a remainder of 0 is not kept
}

// carryAt returns where the remainder of leader order id is, or would go,
// in r.carries, and whether it is there.
func (r *relation) carryAt(id uint64) (int, bool) {
	return slices.BinarySearchFunc(r.carries, id, func(c orderCarry, id uint64) int { return cmp.Compare(c.order, id) })
}

// carry returns the remainder r carries to the next fill of leader order
// id (0 if none).
func (r *relation) carry(id uint64) int64 {
	if i, ok := r.carryAt(id); ok {
		return r.carries[i].amount
	}
	return 0
}

// setCarry makes amount the remainder r carries to the next fill of
// leader order id; 0 forgets it.
func (r *relation) setCarry(id uint64, amount int64) {
	i, ok := r.carryAt(id)
	switch {
	case ok && amount == 0:
		r.carries = slices.Delete(r.carries, i, i+1)
	case ok:
		r.carries[i].amount = amount
	case amount != 0:
		r.carries = slices.Insert(r.carries, i, orderCarry{order: id, amount: amount})
	}
}

// leader is an account others can follow.
type leader struct {
	account        uint64
	profitShareBps int32
	rels           []uint64 // open relations, ascending
	rotate         uint64   // mirrored fills so far: where the next starts
}

// leaderOf returns the leader profile of account, which must have one.
func (s *State) leaderOf(account uint64) *leader {
	return s.leaders.at(uint64(s.accounts.at(account).leader - 1))
}

// mirrorFill is a leader's fill waiting to be mirrored, with what the
// sizing needs from just before it.
type mirrorFill struct {
	leader     uint64
	order      uint64 // the leader's order
	market     uint32
	side       book.Side
	flat       bool  // sell: the leader holds less than a lot of the base after it
	price, qty int64 // the fill
	quote      int64 // price × qty in quote units
	before     int64 // buy: leader's quote total; sell: base total, before the fill
	// A fixed_quote follower spends A × qty / origQty on a fill of an
	// order sized by quantity and never amended, A × share / copyWhole
	// on one of an amended order (share > 0), and A × quote / origBudget
	// on one of a buy by quote budget (origBudget: the notional the
	// budget buys at most, fees aside).
	origQty, share, origBudget int64
	// done: the order is done and this is its last fill; the relations'
	// remainders of it are dropped once it is mirrored.
	done bool
}

// copyWhole is a fixed_quote follower's whole amount per leader order, in
// the units of order.copySpent and mirrorFill.share.
const copyWhole = 1 << 62

func (s *State) userAccount(id uint64) bool {
	return s.validAccount(id) && s.accounts.at(id).relation == 0
}

func (s *State) setLeaderProfile(cmd *Command) result {
	if !s.userAccount(cmd.Account) {
		return result{Err: ErrUnknownAccount}
	}
	a := s.accounts.at(cmd.Account)
	if a.frozen {
		return result{Err: ErrAccountFrozen}
	}
	if a.follows > 0 {
		return result{Err: ErrFollowerCannotLead}
	}
	if p := cmd.Copy.ProfitShareBps; p < 0 || p > MaxProfitShareBps {
		return result{Err: ErrInvalidCopySpec}
	}
	if a.leader == 0 {
		s.leaders.add(leader{account: cmd.Account})
		a.leader = int32(s.leaders.len())
	}
	L := s.leaders.at(uint64(a.leader - 1))
	L.profitShareBps = cmd.Copy.ProfitShareBps
	// New follows get the rate; open relations keep theirs unless this
	// one is lower: a leader may always cut what followers pay, never
	// raise it for those who followed at a lower rate. In relation id
	// order (L.rels is sorted).
	for _, id := range L.rels {
		r := s.relations.at(id - 1)
		r.shareBps = min(r.shareBps, L.profitShareBps)
	}
	return result{ID: cmd.Account}
}

// validCopySpec checks and normalizes the sizing parameters of sp.
func validCopySpec(sp *CopySpec) bool {
	if sp.SlippageBps == 0 {
		sp.SlippageBps = DefaultSlippageBps
	}
	switch {
	case sp.Mode < CopyProportional || sp.Mode > CopyMultiplier,
		sp.Value <= 0, sp.MaxOrderQuote < 0,
		sp.SlippageBps < 1 || sp.SlippageBps > MaxSlippageBps,
		sp.StopLossBps < 0 || sp.StopLossBps >= 10000:
		return false
	}
	return true
}

func (s *State) follow(cmd *Command, dst []Event) (result, []Event) {
	if !s.userAccount(cmd.Account) {
		return result{Err: ErrUnknownAccount}, dst
	}
	f := s.accounts.at(cmd.Account)
	if f.frozen {
		return result{Err: ErrAccountFrozen}, dst
	}
	if f.leader != 0 {
		return result{Err: ErrLeaderCannotFollow}, dst
	}
	lead := cmd.Copy.Leader
	if lead == cmd.Account {
		return result{Err: ErrSelfFollow}, dst
	}
	if !s.userAccount(lead) || s.accounts.at(lead).leader == 0 {
		return result{Err: ErrNotLeader}, dst
	}
	if !s.validAsset(cmd.Asset) {
		return result{Err: ErrUnknownAsset}, dst
	}
	if cmd.Amount <= 0 {
		return result{Err: ErrInvalidAmount}, dst
	}
	sp := cmd.Copy
	if !validCopySpec(&sp) || sp.HasMaxProfitShare && (sp.MaxProfitShareBps < 0 || sp.MaxProfitShareBps > MaxProfitShareBps) {
		return result{Err: ErrInvalidCopySpec}, dst
	}
	L := s.leaderOf(lead)
	for _, id := range L.rels {
		if s.relations.at(id-1).follower == cmd.Account {
			return result{Err: ErrAlreadyFollowing}, dst
		}
	}
	if sp.HasMaxProfitShare && L.profitShareBps > sp.MaxProfitShareBps {
		return result{Err: ErrProfitShareAboveMax}, dst
	}
	switch {
	case f.follows >= MaxOpenFollows || f.followed >= MaxFollowsEver:
		return result{Err: ErrTooManyFollows}, dst
	case len(L.rels) >= MaxFollowers:
		return result{Err: ErrTooManyFollowers}, dst
	}
	b := s.bal(cmd.Account, cmd.Asset)
	if b.avail < cmd.Amount {
		return result{Err: ErrInsufficientFunds}, dst
	}
	id := uint64(s.relations.len() + 1)
	wallet := uint64(s.accounts.len())
	s.accounts.add(account{relation: id})
	b = s.bal(cmd.Account, cmd.Asset) // the account's balances may have moved
	b.avail -= cmd.Amount
	s.bal(wallet, cmd.Asset).avail += cmd.Amount
	sp.Leader, sp.Relation, sp.Close, sp.ProfitShareBps = lead, id, 0, 0
	sp.HasMaxProfitShare, sp.MaxProfitShareBps = false, 0 // terms of the follow, not of the relation
	s.relations.add(relation{
		id: id, follower: cmd.Account, leader: lead, wallet: wallet, asset: cmd.Asset,
		status: RelationActive, spec: sp, allocation: cmd.Amount, hwm: cmd.Amount,
		shareBps: L.profitShareBps, // fixed now: see setLeaderProfile
	})
	f = s.accounts.at(cmd.Account)
	f.follows++
	f.followed++
	L.rels = append(L.rels, id) // ids grow: stays sorted
	return result{ID: id}, dst
}

// ownRelation returns the open relation cmd names, if Account follows with
// it and may change it: ErrAccountFrozen if Account is frozen.
func (s *State) ownRelation(cmd *Command) (*relation, error) {
	if s.isFrozen(cmd.Account) {
		return nil, ErrAccountFrozen
	}
	id := cmd.Copy.Relation
	if id < 1 || id > uint64(s.relations.len()) || s.relations.at(id-1).follower != cmd.Account {
		return nil, ErrUnknownRelation
	}
	r := s.relations.at(id - 1)
	if r.status == RelationClosed {
		return nil, ErrRelationClosed
	}
	return r, nil
}

func (s *State) amendFollow(cmd *Command) result {
	r, err := s.ownRelation(cmd)
	if err != nil {
		return result{Err: err}
	}
	sp := cmd.Copy
	if !validCopySpec(&sp) {
		return result{Err: ErrInvalidCopySpec}
	}
	if cmd.Amount < 0 {
		return result{Err: ErrInvalidAmount}
	}
	if cmd.Amount > 0 {
		b := s.bal(r.follower, r.asset)
		if b.avail < cmd.Amount {
			return result{Err: ErrInsufficientFunds}
		}
		if r.allocation > math.MaxInt64-cmd.Amount || r.hwm > math.MaxInt64-cmd.Amount {
			return result{Err: ErrOverflow}
		}
		b.avail -= cmd.Amount
		s.bal(r.wallet, r.asset).avail += cmd.Amount
		r.allocation += cmd.Amount
		r.hwm += cmd.Amount
	}
	r.spec.Mode, r.spec.Value, r.spec.MaxOrderQuote = sp.Mode, sp.Value, sp.MaxOrderQuote
	r.spec.SlippageBps, r.spec.StopLossBps = sp.SlippageBps, sp.StopLossBps
	r.carries = r.carries[:0] // their units may have changed with the mode
	return result{ID: r.id}
}

func (s *State) pauseFollow(cmd *Command) result {
	r, err := s.ownRelation(cmd)
	if err != nil {
		return result{Err: err}
	}
	if cmd.Kind == CmdPauseFollow {
		r.status = RelationPaused
	} else {
		r.status = RelationActive
	}
	return result{ID: r.id}
}

func (s *State) unfollow(cmd *Command, dst []Event) (result, []Event) {
	r, err := s.ownRelation(cmd)
	if err != nil {
		return result{Err: err}, dst
	}
	if cmd.Copy.Close > CloseMarket {
		return result{Err: ErrInvalidCopySpec}, dst
	}
	dst = s.closeRelation(r.id, cmd.Copy.Close, CopyUnfollowed, dst)
	return result{ID: cmd.Copy.Relation}, s.mirrorPending(dst)
}

func (s *State) settleCopy(cmd *Command, dst []Event) (result, []Event) {
	var rels []uint64
	switch {
	case cmd.Account == 0:
		// Every open relation, by id: each leader lists exactly its open
		// ones (checked by Check), so this costs what is open, not every
		// relation ever made, inside the matcher.
		for i := range uint64(s.leaders.len()) {
			rels = append(rels, s.leaders.at(i).rels...)
		}
		slices.Sort(rels)
	case s.userAccount(cmd.Account) && s.accounts.at(cmd.Account).leader != 0:
		rels = slices.Clone(s.leaderOf(cmd.Account).rels)
	default:
		return result{Err: ErrNotLeader}, dst
	}
	for _, id := range rels {
		r := s.relations.at(id - 1)
		if r.status == RelationClosed {
			continue // closed by a stop-loss sale of an earlier one
		}
		dst = s.profitShare(r, dst)
		dst = s.stopLoss(id, dst)
	}
	return result{ID: uint64(len(rels))}, s.mirrorPending(dst)
}

// noteFill records a fill of a leader's own order for mirroring,
// whatever the order traded with (a mirrored order of another leader's
// follower included). It runs in trade, before the balances move: the
// sizing reads the leader's holdings just before the fill. Fills of
// mirrored orders are never mirrored: their account is a copy wallet,
// which cannot lead.
func (s *State) noteFill(rec *order, m *market, ev *book.Event, n int64) {
	a := s.accounts.at(rec.account)
	if a.leader == 0 {
		return
	}
	f := mirrorFill{leader: rec.account, order: rec.id, market: m.id, side: rec.side,
		price: ev.Price, qty: ev.Qty, quote: n}
	if open := rec.origQty - rec.filled; rec.origQty > 0 && open > 0 {
		q := min(ev.Qty, open)
		if rec.amended {
			// Rounded up, so that the fill that completes the order
			// spends all that is left.
			f.share = fixed.MulDivCeil(copyWhole-rec.copySpent, q, open)
			rec.copySpent += f.share
		} else {
			f.origQty = rec.origQty
			rec.copySpent += fixed.MulDiv(copyWhole, q, rec.origQty)
		}
	} else {
		// The notional the budget buys at most: the highest fee is
		// left out of it (reserve), so an order that spends all of it
		// spends A.
		f.origBudget = beforeFee(rec.origBudget, m.maxFee) / m.spec.QuoteScale * m.spec.QuoteScale
	}
	if len(s.leaders.at(uint64(a.leader-1)).rels) == 0 {
		// mirror would do nothing: followers come with commands. The
		// part spent above is kept for those who follow before the
		// order's next fill.
		return
	}
	if rec.side == book.Buy {
		q := s.bal(rec.account, m.spec.Quote)
		f.before = q.avail + q.locked
	} else {
		b := s.bal(rec.account, m.spec.Base)
		f.before = b.avail + b.locked
		// Flat: what the leader holds after the fill is less than a lot,
		// which it cannot sell (dust of a deposit, say): its followers
		// sell everything, as COPY_TRADING.md says, not all but their
		// share of the dust.
		f.flat = f.before-ev.Qty*m.spec.BaseScale < fixed.MulSat(m.book.Rules().LotSize, m.spec.BaseScale)
	}
	rec.copied = true
	s.pending = append(s.pending, f)
}

// mirrorPending mirrors the leader fills noted so far, and those the
// mirrors themselves cause (a leader's stop triggered by a mirrored
// trade, a leader's order filled by another leader's follower), in the
// order they happened. After the last fill of a done order, the
// relations' remainders of it are dropped.
func (s *State) mirrorPending(dst []Event) []Event {
	for i := 0; i < len(s.pending); i++ {
		s.mirroring = i
		f := s.pending[i]
		dst = s.mirror(&f, dst)
		if s.pending[i].done { // read again: the order may end in its mirror
			s.dropCarries(f.leader, f.order)
		}
	}
	s.pending = s.pending[:0]
	s.mirroring = 0
	return dst
}

// leaderOrderDone is called by finish for a leader order that had fills
// noted for mirroring (order.copied), as it leaves. All its fills are
// noted by then: if some are still to mirror, the last one is marked done
// (and mirrorPending drops the order's remainders after it); else they
// are dropped now. It walks the pending fills from the newest, so it
// finds a fill just noted (the usual case) at once.
func (s *State) leaderOrderDone(rec *order) {
	for i := len(s.pending) - 1; i >= s.mirroring; i-- {
		if s.pending[i].order == rec.id {
			s.pending[i].done = true
			return
		}
	}
	s.dropCarries(rec.account, rec.id)
}

// dropCarries forgets the remainders of leader order id in every open
// relation of its leader (closed relations hold none).
func (s *State) dropCarries(leaderAccount, id uint64) {
	for _, rel := range s.leaderOf(leaderAccount).rels {
		if r := s.relations.at(rel - 1); len(r.carries) > 0 {
			r.setCarry(id, 0)
		}
	}
}

// mirror copies one leader fill to each open relation of the leader, in
// relation id order starting at a point that rotates with every fill.
func (s *State) mirror(f *mirrorFill, dst []Event) []Event {
	L := s.leaderOf(f.leader)
	n := len(L.rels)
	if n == 0 {
		return dst
	}
	start := int(L.rotate % uint64(n))
	L.rotate++
	rels := append(s.relScratch[:0], L.rels[start:]...)
	rels = append(rels, L.rels[:start]...)
	s.relScratch = rels[:0]
	m := s.markets[f.market-1]
	for _, id := range rels {
		if s.relations.at(id-1).status == RelationClosed {
			continue
		}
		dst = s.mirrorOne(id, m, f, dst)
	}
	return dst
}

// mirrorOne sizes and places the mirror of fill f for relation id.
func (s *State) mirrorOne(id uint64, m *market, f *mirrorFill, dst []Event) []Event {
	r := s.relations.at(id - 1)
	skip := func(reason CopyReason, size int64) []Event {
		return append(dst, Event{Event: book.Event{Kind: EvCopySkipped, Side: f.side, OrderID: f.order,
			Owner: r.follower, MakerOwner: r.leader, Price: f.price, Qty: f.qty, Remaining: size},
			Market: m.id, Relation: r.id, CopyReason: reason})
	}
	if m.spec.Quote != r.asset {
		return skip(CopyOtherQuote, 0)
	}
	if s.accounts.at(r.follower).frozen {
		// Buys and sells alike: the follower trades nothing while frozen.
		// Its stop-loss still closes the relation (stopLoss, settleCopy).
		return skip(CopyAccountFrozen, 0)
	}
	if f.side == book.Buy && r.status == RelationPaused {
		return skip(CopyPaused, 0)
	}
	if m.halted {
		return skip(CopyMarketHalted, 0)
	}
	rules := m.book.Rules()
	sp := &m.spec
	lot := rules.LotSize
	carry := r.carry(f.order)
	var qty, limit int64
	wanted := int64(-1) // the size before a buy shrunk to the wallet's means (-1: not shrunk)
	if f.side == book.Buy {
		wq := s.bal(r.wallet, r.asset).avail
		step, _ := mul(f.price, sp.QuoteScale) // quote per lot at the leader's price
		if step <= 0 {
			return skip(CopyRejected, 0)
		}
		switch r.spec.Mode {
		case CopyProportional, CopyFixedQuote:
			var budget int64
			if r.spec.Mode == CopyProportional {
				budget = fixed.MulDiv(fixed.MulDiv(wq, f.quote, f.before), r.spec.Value, ValueOne)
			} else if f.share > 0 {
				budget = fixed.MulDiv(r.spec.Value, f.share, copyWhole)
			} else if f.origQty > 0 {
				budget = fixed.MulDiv(r.spec.Value, f.qty, f.origQty)
			} else {
				budget = fixed.MulDiv(r.spec.Value, f.quote, f.origBudget)
			}
			budget = fixed.SatAdd(budget, carry)
			qty = budget / step / lot * lot
			r.setCarry(f.order, budget-qty*step)
		case CopyMultiplier:
			q8 := fixed.SatAdd(fixed.MulSat(f.qty, r.spec.Value), carry)
			qty = q8 / ValueOne / lot * lot
			r.setCarry(f.order, q8-qty*ValueOne)
		}
		if c := r.spec.MaxOrderQuote; c > 0 {
			qty = min(qty, c/step/lot*lot)
		}
		if rules.MaxQty > 0 {
			qty = min(qty, rules.MaxQty)
		}
		if qty < rules.MinQty {
			return skip(CopyBelowLot, qty)
		}
		limit = fixed.CeilDiv(fixed.MulSat(f.price, int64(10000+r.spec.SlippageBps)), 10000)
		limit = fixed.CeilDiv(limit, rules.TickSize) * rules.TickSize
		if rules.MaxPrice > 0 {
			limit = min(limit, rules.MaxPrice/rules.TickSize*rules.TickSize)
		}
		if n, ok := mul(limit, qty); !ok || n < rules.MinNotional {
			return skip(CopyBelowMinNotional, qty)
		}
		// Fit the reservation at the limit price (notional + the highest
		// fee) in the wallet. A skip reports the size wanted, not what
		// the wallet could pay (often 0).
		fits := beforeFee(wq, m.maxFee) / fixed.MulSat(limit, sp.QuoteScale) / lot * lot
		if fits < qty {
			if fits < rules.MinQty {
				return skip(CopyInsufficientFunds, qty)
			}
			if n, _ := mul(limit, fits); n < rules.MinNotional {
				return skip(CopyInsufficientFunds, qty)
			}
			wanted, qty = qty, fits
		}
	} else {
		held := s.bal(r.wallet, sp.Base).avail
		if held < sp.BaseScale*lot {
			return skip(CopyNoPosition, 0)
		}
		units := held
		if !f.flat {
			units = fixed.SatAdd(fixed.MulDiv(held, fixed.MulSat(f.qty, sp.BaseScale), f.before), carry)
			units = min(units, held)
		}
		qty = units / sp.BaseScale / lot * lot
		if !f.flat {
			r.setCarry(f.order, units-qty*sp.BaseScale)
		}
		if rules.MaxQty > 0 {
			qty = min(qty, rules.MaxQty)
		}
		if qty < rules.MinQty {
			return skip(CopyBelowLot, qty)
		}
		limit = fixed.MulSat(f.price, int64(10000-r.spec.SlippageBps)) / 10000
		limit = max(limit/rules.TickSize*rules.TickSize, rules.TickSize)
		if n, ok := mul(limit, qty); !ok || n < rules.MinNotional {
			return skip(CopyBelowMinNotional, qty)
		}
	}
	dst, traded, reason := s.placeMirror(r, m, r.leader, f.side, limit, qty, dst)
	if reason != CopyNone {
		if wanted >= 0 {
			qty = wanted
		}
		return skip(reason, qty)
	}
	if traded {
		dst = s.stopLoss(id, dst)
	}
	return dst
}

// placeMirror places an IOC limit order for relation r's wallet, owned in
// the book by owner: the leader for a mirror, so that self-trade
// prevention expires it where it would meet the leader's own orders (the
// copy group); the wallet for the sale that closes the relation, which
// sells to the best bids whoever placed them, the leader's included (in
// the copy group, a leader's best bid stopped the sale, and a stop-loss,
// with better bids under it). Its events name the wallet. On a
// market with a price band, a limit beyond the band around the last
// trade price is held to the band's bound instead (the mirror trades
// within the band, as a market order does): a follow whose slippage is
// wider than the band still mirrors, at prices the band allows.
func (s *State) placeMirror(r *relation, m *market, owner uint64, side book.Side, limit, qty int64, dst []Event) ([]Event, bool, CopyReason) {
	// Field by field, not composite literals (see place).
	var o book.Order
	o.ID, o.Owner, o.Side, o.Type, o.TIF = s.nextOrder+1, owner, side, book.Limit, book.IOC
	o.STP, o.Price, o.Qty = book.STPCancelTaker, limit, qty
	if m.spec.PriceBandBps != 0 {
		if b := bandBound(m, side, limit, m.book.LastPrice()); b != 0 {
			o.Price = b
		}
	}
	var rec order
	rec.id, rec.account, rec.market, rec.side, rec.origQty = o.ID, r.wallet, m.id, side, qty
	if err := s.reserve(m, &o, &rec); err != nil {
		return dst, false, CopyInsufficientFunds
	}
	bevs, err := m.book.Place(s.bevs[:0], &o)
	s.bevs = bevs
	if err != nil {
		s.unreserve(m, &rec)
		return dst, false, CopyRejected
	}
	s.nextOrder++
	s.orders.add(&rec) // never rests: in no account's list
	if m.open != nil {
		m.openAdded(r.wallet) // until settle finishes it: it cannot rest
	}
	start := len(dst)
	dst = s.settle(m, bevs, dst)
	traded := false
	for i := start; i < len(dst); i++ {
		ev := &dst[i]
		if ev.OrderID == o.ID {
			ev.Owner, ev.Relation = r.wallet, r.id
			traded = traded || ev.Kind == book.EvTrade
		}
	}
	return dst, traded, CopyNone
}

// stopLoss closes relation id at market if its NAV is below its stop.
func (s *State) stopLoss(id uint64, dst []Event) []Event {
	r := s.relations.at(id - 1)
	if r.status == RelationClosed || r.spec.StopLossBps == 0 {
		return dst
	}
	// Rounded up: an integer NAV is below allocation × (1 − bps/10000)
	// exactly when it is below its ceiling.
	floor := fixed.MulDivCeil(r.allocation, int64(10000-r.spec.StopLossBps), 10000)
	if s.nav(r) >= floor {
		return dst
	}
	return s.closeRelation(id, CloseMarket, CopyStopLoss, dst)
}

// closeRelation sells the wallet's base if policy says so, settles profit
// share, returns everything to the follower and closes the relation. The
// sale's limit is held to the market's price band (no lower than its
// lower bound): a sale at market trades within the band, as a market
// order does. It is not in its leader's copy group: it may sell to the
// leader's bids (a fill of the leader's, mirrored to its other
// relations).
func (s *State) closeRelation(id uint64, policy ClosePolicy, reason CopyReason, dst []Event) []Event {
	r := s.relations.at(id - 1)
	if policy == CloseMarket {
		for _, m := range s.markets {
			sp := &m.spec
			if sp.Quote != r.asset || m.halted || m.book.LastPrice() == 0 {
				continue
			}
			rules := m.book.Rules()
			held := s.bal(r.wallet, sp.Base).avail
			qty := held / sp.BaseScale / rules.LotSize * rules.LotSize
			if rules.MaxQty > 0 {
				qty = min(qty, rules.MaxQty)
			}
			if qty < rules.MinQty || qty == 0 {
				continue
			}
			limit := fixed.MulSat(m.book.LastPrice(), int64(10000-r.spec.SlippageBps)) / 10000
			limit = max(limit/rules.TickSize*rules.TickSize, rules.TickSize)
			if m.spec.PriceBandBps != 0 {
				// A sale at market, held to the band as a market order
				// is: its limit no lower than the band's lower bound.
				lo, _ := bandBounds(m, m.book.LastPrice())
				limit = max(limit, lo)
			}
			dst, _, _ = s.placeMirror(r, m, r.wallet, book.Sell, limit, qty, dst)
			r = s.relations.at(id - 1)
		}
	}
	dst = s.profitShare(r, dst)
	var returned int64
	w := s.accounts.at(r.wallet)
	for i := range w.bal {
		b := &w.bal[i]
		if b.avail == 0 {
			continue
		}
		if uint32(i+1) == r.asset {
			returned = b.avail
		}
		s.bal(r.follower, uint32(i+1)).avail += b.avail
		w = s.accounts.at(r.wallet)
		w.bal[i].avail = 0
	}
	r.status = RelationClosed
	r.carries = nil
	s.accounts.at(r.follower).follows--
	L := s.leaderOf(r.leader)
	if i, ok := slices.BinarySearch(L.rels, id); ok {
		L.rels = slices.Delete(L.rels, i, i+1)
	}
	return append(dst, Event{Event: book.Event{Kind: EvCopyClosed, Owner: r.follower, MakerOwner: r.leader},
		Relation: id, CopyReason: reason, Amount: returned})
}

// profitShare pays the leader its share of the NAV above the high-water
// mark at the relation's own rate (relation.shareBps, not the leader's
// current one), if the wallet has the quote for it, and raises the mark.
func (s *State) profitShare(r *relation, dst []Event) []Event {
	nav := s.nav(r)
	if nav <= r.hwm {
		return dst
	}
	fee := feeOf(nav-r.hwm, r.shareBps)
	w := s.bal(r.wallet, r.asset)
	if fee > w.avail {
		return dst // skipped: the wallet cannot pay
	}
	r.hwm = nav - fee
	if fee == 0 {
		return dst
	}
	w.avail -= fee
	s.bal(r.leader, r.asset).avail += fee
	r.paid += fee
	return append(dst, Event{Event: book.Event{Kind: EvProfitShare, Owner: r.follower, MakerOwner: r.leader},
		Relation: r.id, Amount: fee})
}

// nav is the relation's net asset value in quote units: its quote plus
// each base it holds at the last trade price of that base's market in its
// quote.
func (s *State) nav(r *relation) int64 {
	var nav int64
	for i, b := range s.accounts.at(r.wallet).bal {
		units := b.avail + b.locked
		if units == 0 {
			continue
		}
		asset := uint32(i + 1)
		if asset == r.asset {
			nav = fixed.SatAdd(nav, units)
			continue
		}
		for _, m := range s.markets {
			if m.spec.Base == asset && m.spec.Quote == r.asset {
				nav = fixed.SatAdd(nav, baseValue(units, m.book.LastPrice(), &m.spec))
				break
			}
		}
	}
	return nav
}

// baseValue is units of a market's base asset at price, in quote units.
func baseValue(units, price int64, sp *MarketSpec) int64 {
	return fixed.MulDiv(units, fixed.MulSat(price, sp.QuoteScale), sp.BaseScale)
}
