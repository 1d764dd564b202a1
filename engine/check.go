package engine

import (
	"fmt"
	"slices"

	"github.com/instant-social-trading/ist/book"
)

// Check verifies the state's invariants and returns the first violation:
// for every asset, the sum of available and locked balances over all
// accounts (the fee account included) equals deposits minus withdrawals;
// no balance is negative; each account's locked balance equals what its
// live orders reserve; every live order is in its book and every resting
// order has a reservation; every book passes its own Check; and the
// transfer refs are consistent (checkTransferRefs); only user accounts
// are frozen, and a frozen account has no live order; the expiry times
// are exactly those of the live good-till-date orders (checkExpiries);
// every market's price band is within 0..MaxPriceBandBps, and its limit
// on open orders within 0..MaxOpenOrdersLimit, with the counts it keeps
// for the limit those of its live orders (checkOpen); each account's
// list of live orders holds exactly them (checkOrderLists).
// It walks the whole state: use it in tests.
//
// Each live order reserves what it can still be charged, as reserve,
// trade and amend keep it (checkReserve): exactly where the engine is
// exact, within the fees' rounding where it is not.
func (s *State) Check() error { return s.check(true) }

// check is Check; with exact false it leaves out the bounds that depend on
// how a state came to be and that states restored from snapshots of
// earlier releases may not meet (see checkReserve): DecodeState checks
// snapshots with it.
func (s *State) check(exact bool) error {
	sum := make([]int64, len(s.assets))
	reserved := make(map[[2]uint64]int64) // (account, asset) → locked by orders
	// Live orders by market: its book must hold as many. Each is found
	// at its handle and every book order has one (below), so the books
	// hold each once: they keep no index by id, and their Check cannot
	// see an id given twice.
	live := make([]int, len(s.markets))
	// In slab order: no sort, no lookups (a restored snapshot of millions
	// of orders is checked before use).
	for i := range s.orders.end() {
		rec := s.orders.at(i)
		id := rec.id
		if id == 0 {
			continue // free
		}
		if !s.validAccount(rec.account) {
			return fmt.Errorf("engine: order %d of unknown account %d", id, rec.account)
		}
		if rec.locked < 0 {
			return fmt.Errorf("engine: order %d reserves %d", id, rec.locked)
		}
		if rec.filled < 0 {
			return fmt.Errorf("engine: order %d filled %d", id, rec.filled)
		}
		m, err := s.market(rec.market)
		if err != nil {
			return fmt.Errorf("engine: order %d on unknown market %d", id, rec.market)
		}
		info, inBook := m.book.OrderAt(*s.orders.handle(i), id)
		if !inBook {
			return fmt.Errorf("engine: order %d has a reservation but is not in its book", id)
		}
		live[rec.market-1]++
		if err := s.checkReserve(m, rec, &info, exact); err != nil {
			return err
		}
		reserved[[2]uint64{rec.account, uint64(s.assetOf(m, rec.side))}] += rec.locked
		if s.accounts.at(rec.account).frozen {
			return fmt.Errorf("engine: order %d of frozen account %d", id, rec.account)
		}
	}
	for id := range uint64(s.accounts.len()) {
		if s.accounts.at(id).frozen && !s.userAccount(id) {
			return fmt.Errorf("engine: account %d frozen, not a user account", id)
		}
		for i, b := range s.accounts.at(id).bal {
			if b.avail < 0 || b.locked < 0 {
				return fmt.Errorf("engine: account %d asset %d negative: %+v", id, i+1, b)
			}
			if r := reserved[[2]uint64{uint64(id), uint64(i + 1)}]; r != b.locked {
				return fmt.Errorf("engine: account %d asset %d locked %d, orders reserve %d", id, i+1, b.locked, r)
			}
			sum[i] += b.avail + b.locked
		}
	}
	if err := s.checkClientIDs(); err != nil {
		return err
	}
	if err := s.checkExpiries(); err != nil {
		return err
	}
	if err := s.checkTransferRefs(); err != nil {
		return err
	}
	for i := range sum {
		if sum[i] != s.supply[i] {
			return fmt.Errorf("engine: asset %s: balances sum to %d, deposits − withdrawals = %d", s.assets[i], sum[i], s.supply[i])
		}
	}
	if err := s.checkCopy(); err != nil {
		return err
	}
	for _, m := range s.markets {
		if err := m.book.Check(); err != nil {
			return fmt.Errorf("engine: market %s: %w", m.name, err)
		}
		if !validBand(m.spec.PriceBandBps) {
			return fmt.Errorf("engine: market %s: price band %d bps", m.name, m.spec.PriceBandBps)
		}
		for o := range m.book.All() {
			if s.orders.get(o.ID) == nil {
				return fmt.Errorf("engine: market %s order %d has no reservation", m.name, o.ID)
			}
		}
		if n := m.book.Len() + m.book.Stops(); n != live[m.id-1] {
			return fmt.Errorf("engine: market %s holds %d orders, %d are live", m.name, n, live[m.id-1])
		}
		if err := s.checkOpen(m); err != nil {
			return err
		}
	}
	return s.checkOrderLists()
}

// checkOrderLists verifies the accounts' lists of live orders
// (State.addOrder): each account's holds exactly its live orders, each
// once, linked both ways.
func (s *State) checkOrderLists() error {
	n := 0
	for id := range uint64(s.accounts.len()) {
		prev := int32(-1)
		for i := s.accounts.at(id).orders - 1; i >= 0; i = s.orders.link(i).next {
			if i >= s.orders.end() || n >= s.orders.len() {
				return fmt.Errorf("engine: account %d: list of live orders runs past them (slab entry %d)", id, i)
			}
			rec := s.orders.at(i)
			if j, ok := s.orders.index.Get(rec.id); rec.id == 0 || !ok || j != i || rec.account != id || s.orders.link(i).prev != prev {
				return fmt.Errorf("engine: account %d: slab entry %d in its list of live orders is order %d of account %d", id, i, rec.id, rec.account)
			}
			prev = i
			n++
		}
	}
	if n != s.orders.len() {
		return fmt.Errorf("engine: the accounts' lists hold %d live orders of %d", n, s.orders.len())
	}
	return nil
}

// checkOpen verifies m's limit on open orders: within range, and counts
// kept exactly while there is one (an account for each with live orders
// in m, how many it has), none while there is not. It does not require
// counts to be within the limit: lowering it leaves live orders alone.
func (s *State) checkOpen(m *market) error {
	n := m.spec.MaxOpenOrders
	switch {
	case !validOpenLimit(n):
		return fmt.Errorf("engine: market %s: max open orders %d", m.name, n)
	case n == 0 && m.open != nil:
		return fmt.Errorf("engine: market %s: open order counts without a limit", m.name)
	case n == 0:
		return nil
	case m.open == nil:
		return fmt.Errorf("engine: market %s: limit of %d open orders without counts", m.name, n)
	}
	want := s.countOpen(m)
	if len(want) != len(m.open) {
		return fmt.Errorf("engine: market %s: open orders counted for %d accounts, %d have some", m.name, len(m.open), len(want))
	}
	for a, c := range want {
		if m.open[a] != c {
			return fmt.Errorf("engine: market %s: account %d has %d open orders, %d counted", m.name, a, c, m.open[a])
		}
	}
	return nil
}

// checkReserve verifies that live order rec reserves what its book order
// o can still be charged, as reserve, trade and amend keep it:
//   - a sell locks the base of its open quantity, exactly;
//   - a buy with a limit (a limit price, or the protection price of a
//     stop-market by quantity) locks at least buyCost(limit, open), at
//     the market's highest fee now: it starts there (at placing, at each
//     amend and at each change of that fee, CmdSetMarketFees), and a
//     fill takes
//     buyCost(limit, fill), which is no more than what the fill lowers
//     buyCost(limit, open) by, fees rounding down. (exact) It locks at
//     most the notional of open plus the fee on the notional of open +
//     filled: what fills leave beyond buyCost(limit, open) is the fees'
//     rounding;
//   - a pending stop-market buy by budget locks enough for the notional
//     its book order may spend and the highest fee on it. (exact) It
//     locks its budget, the book holds the notional that pays for, fee
//     included, at the highest fee now (beforeFee, in price × quantity
//     units; releases before it was exact rounded one unit lower; a
//     change of the fee sets it anew, CmdSetMarketFees), and it has not
//     traded;
//   - no other buy stays live: a market buy by quantity without a
//     protection price, or by budget, ends within its command.
//
// (exact) Its size (origQty), if it has one, is what it filled plus what
// is open (snapshots of version 1 and 2 infer both).
func (s *State) checkReserve(m *market, rec *order, o *book.OrderInfo, exact bool) error {
	sp := &m.spec
	id := rec.id
	if o.Side != rec.side || o.Owner != rec.account {
		return fmt.Errorf("engine: order %d is %s of account %d, its book order %s of %d", id, rec.side, rec.account, o.Side, o.Owner)
	}
	if exact && rec.origQty > 0 && rec.origQty != rec.filled+o.Open {
		return fmt.Errorf("engine: order %d of size %d filled %d, open %d", id, rec.origQty, rec.filled, o.Open)
	}
	if rec.side == book.Sell {
		if need, ok := mul(o.Open, sp.BaseScale); !ok || rec.locked != need {
			return fmt.Errorf("engine: sell %d locks %d, open %d × base scale %d", id, rec.locked, o.Open, sp.BaseScale)
		}
		return nil
	}
	if o.Stop && o.QuoteBudget > 0 {
		n, ok := mul(o.QuoteBudget, sp.QuoteScale)
		if !ok || rec.limit != 0 || n > rec.locked-feeOf(n, m.maxFee) || (exact && (rec.filled != 0 ||
			rec.locked != rec.origBudget || o.QuoteBudget != beforeFee(rec.locked, m.maxFee)/sp.QuoteScale)) {
			return fmt.Errorf("engine: stop buy %d by budget %d (limit %d, filled %d) locks %d, book budget %d",
				id, rec.origBudget, rec.limit, rec.filled, rec.locked, o.QuoteBudget)
		}
		return nil
	}
	if rec.limit <= 0 || o.Price != rec.limit {
		return fmt.Errorf("engine: buy %d has limit %d, book price %d (stop %v, budget %d)", id, rec.limit, o.Price, o.Stop, o.QuoteBudget)
	}
	low, err := buyCost(m, rec.limit, o.Open)
	if err != nil || rec.locked < low {
		return fmt.Errorf("engine: buy %d locks %d, open %d at %d costs %d", id, rec.locked, o.Open, rec.limit, low)
	}
	nOpen := rec.limit * o.Open * sp.QuoteScale // buyCost computed it
	nAll, ok := mul(rec.limit, o.Open+rec.filled)
	if ok {
		nAll, ok = mul(nAll, sp.QuoteScale)
	}
	if high := nOpen + feeOf(nAll, m.maxFee); exact && ok && rec.locked > high {
		return fmt.Errorf("engine: buy %d locks %d, more than open %d and filled %d at %d can be charged (%d)",
			id, rec.locked, o.Open, rec.filled, rec.limit, high)
	}
	return nil
}

// checkCopy verifies the copy-trading state: each relation's wallet is its
// own and holds nothing once closed, its profit share rate is within
// 0..MaxProfitShareBps and, while it is open, at most its leader's (a
// raise of the leader's rate leaves it below, a cut brings it down), its
// rounding remainders are those of live orders of its leader
// (checkCarries), mirrored orders never outlive their command, follower
// counts and leaders' relation lists match the open relations, and no
// account both leads and follows, nor is a copy wallet with a leader
// profile.
func (s *State) checkCopy() error {
	follows := make([]int32, s.accounts.len())
	followed := make([]int32, s.accounts.len())
	open := make([][]uint64, s.leaders.len())
	for i := range uint64(s.relations.len()) {
		r := s.relations.at(i)
		if r.id != uint64(i+1) || !s.validAccount(r.wallet) || s.accounts.at(r.wallet).relation != r.id {
			return fmt.Errorf("engine: relation %d: wallet %d not linked", i+1, r.wallet)
		}
		if !s.userAccount(r.follower) || !s.userAccount(r.leader) || s.accounts.at(r.leader).leader == 0 {
			return fmt.Errorf("engine: relation %d: follower %d or leader %d invalid", r.id, r.follower, r.leader)
		}
		for j, b := range s.accounts.at(r.wallet).bal {
			if b.locked != 0 || (r.status == RelationClosed && b.avail != 0) {
				return fmt.Errorf("engine: relation %d (%s) wallet asset %d holds %+v", r.id, r.status, j+1, b)
			}
		}
		if err := s.checkCarries(r); err != nil {
			return err
		}
		followed[r.follower]++
		if r.shareBps < 0 || r.shareBps > MaxProfitShareBps {
			return fmt.Errorf("engine: relation %d: profit share %d", r.id, r.shareBps)
		}
		if r.status == RelationClosed {
			continue
		}
		sp := r.spec
		if !validCopySpec(&sp) || sp != r.spec {
			return fmt.Errorf("engine: relation %d: invalid parameters %+v", r.id, r.spec)
		}
		follows[r.follower]++
		l := s.accounts.at(r.leader).leader - 1
		open[l] = append(open[l], r.id)
		if lead := s.leaders.at(uint64(l)).profitShareBps; r.shareBps > lead {
			return fmt.Errorf("engine: relation %d: profit share %d above its leader's %d", r.id, r.shareBps, lead)
		}
	}
	for id := range uint64(s.accounts.len()) {
		a := s.accounts.at(id)
		if a.follows != follows[id] || a.followed != followed[id] {
			return fmt.Errorf("engine: account %d follows %d of %d, %d open relations of %d", id, a.follows, a.followed, follows[id], followed[id])
		}
		if a.follows > 0 && a.leader != 0 {
			return fmt.Errorf("engine: account %d leads and follows", id)
		}
		if a.leader != 0 && a.relation != 0 {
			// Fills of mirrored orders are never mirrored because of
			// this (noteFill).
			return fmt.Errorf("engine: copy wallet %d has a leader profile", id)
		}
		if a.leader != 0 && (int(a.leader) > s.leaders.len() || s.leaders.at(uint64(a.leader-1)).account != uint64(id)) {
			return fmt.Errorf("engine: account %d: leader profile %d not linked", id, a.leader)
		}
	}
	for i, L := range s.leaders.all() {
		if !slices.Equal(L.rels, open[i]) {
			return fmt.Errorf("engine: leader %d lists relations %v, open %v", L.account, L.rels, open[i])
		}
		if L.profitShareBps < 0 || L.profitShareBps > MaxProfitShareBps {
			return fmt.Errorf("engine: leader %d profit share %d", L.account, L.profitShareBps)
		}
	}
	for i := range s.orders.end() {
		if rec := s.orders.at(i); rec.id != 0 && s.accounts.at(rec.account).relation != 0 {
			return fmt.Errorf("engine: mirrored order %d outlived its command", rec.id)
		}
	}
	if len(s.pending) != 0 {
		return fmt.Errorf("engine: %d leader fills not mirrored", len(s.pending))
	}
	return nil
}

// checkCarries verifies relation r's rounding remainders: none once the
// relation is closed; else positive, in increasing order id, each of a
// live order of the relation's leader that is marked as copied (so that
// its end drops them: nothing is kept of a done order).
func (s *State) checkCarries(r *relation) error {
	if r.status == RelationClosed && len(r.carries) > 0 {
		return fmt.Errorf("engine: closed relation %d keeps %d rounding remainders", r.id, len(r.carries))
	}
	for i, c := range r.carries {
		if c.amount <= 0 || (i > 0 && c.order <= r.carries[i-1].order) {
			return fmt.Errorf("engine: relation %d: rounding remainders %v", r.id, r.carries)
		}
		rec := s.orders.get(c.order)
		if rec == nil || rec.account != r.leader || !rec.copied { // a leader is no wallet: its orders are no mirrors
			return fmt.Errorf("engine: relation %d keeps a remainder of order %d, not a live copied order of its leader %d", r.id, c.order, r.leader)
		}
	}
	return nil
}

// checkTransferRefs verifies the deposit and withdrawal refs: each deposit
// ref is set, once, of a user account, a valid asset and a positive
// amount, and its index finds it; each account's window of withdrawal
// refs (only user accounts and FeeAccount have one) holds at most
// WithdrawalRefWindow refs, set and distinct, as a ring that has wrapped
// only if full; and the index of withdrawal refs holds exactly the
// windows' refs, each with a valid asset and a positive amount. It walks
// the refs in the order the state keeps them, never in map order.
func (s *State) checkTransferRefs() error {
	if len(s.depositIndex) != s.deposits.len() {
		return fmt.Errorf("engine: %d deposit refs, %d indexed", s.deposits.len(), len(s.depositIndex))
	}
	for i := range s.deposits.len() {
		d := s.deposits.at(uint64(i))
		if j, ok := s.depositIndex[d.ref]; !ok || j != i {
			return fmt.Errorf("engine: deposit ref %q (%d) indexed as %d, %v", d.ref.String(), i, j, ok)
		}
		if d.ref.IsZero() || !s.userAccount(d.account) || !s.validAsset(d.asset) || d.amount <= 0 {
			return fmt.Errorf("engine: deposit ref %q: account %d asset %d amount %d", d.ref.String(), d.account, d.asset, d.amount)
		}
	}
	n := 0
	for id := range uint64(s.accounts.len()) {
		w := &s.accounts.at(id).withdrawals
		if w.len() == 0 && w.head == 0 {
			continue
		}
		if !s.userAccount(uint64(id)) && id != FeeAccount || w.len() > WithdrawalRefWindow || w.head < 0 || w.head >= max(w.len(), 1) ||
			(w.head != 0 && w.len() < WithdrawalRefWindow) {
			return fmt.Errorf("engine: account %d: window of %d withdrawal refs from %d", id, w.len(), w.head)
		}
		seen := make(map[Ref]struct{}, w.len())
		for i := range w.len() {
			ref := w.at(i)
			if _, dup := seen[*ref]; dup || ref.IsZero() {
				return fmt.Errorf("engine: account %d: withdrawal ref %q empty or twice in its window", id, ref.String())
			}
			seen[*ref] = struct{}{}
			e, ok := s.withdrawals[refKey{uint64(id), *ref}]
			if !ok || !s.validAsset(e.asset) || e.amount <= 0 {
				return fmt.Errorf("engine: account %d: withdrawal ref %q indexed %v: %+v", id, ref.String(), ok, e)
			}
		}
		n += w.len()
	}
	if n != len(s.withdrawals) {
		return fmt.Errorf("engine: windows hold %d withdrawal refs, %d indexed", n, len(s.withdrawals))
	}
	return nil
}
