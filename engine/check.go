package engine

import (
	"fmt"
	"slices"
)

// Check verifies the state's invariants and returns the first violation:
// for every asset, the sum of available and locked balances over all
// accounts (the fee account included) equals deposits minus withdrawals;
// no balance is negative; each account's locked balance equals what its
// live orders reserve; every live order is in its book and every resting
// order has a reservation; and every book passes its own Check. It walks
// the whole state: use it in tests.
func (s *State) Check() error {
	sum := make([]int64, len(s.assets))
	reserved := make(map[[2]uint64]int64) // (account, asset) → locked by orders
	// In slab order: no sort, no lookups (a restored snapshot of millions
	// of orders is checked before use).
	for i := range s.orders.slab {
		rec := &s.orders.slab[i]
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
		if _, live := m.book.Order(id); !live {
			return fmt.Errorf("engine: order %d has a reservation but is not in its book", id)
		}
		reserved[[2]uint64{rec.account, uint64(s.assetOf(m, rec.side))}] += rec.locked
	}
	for id := range s.accounts {
		for i, b := range s.accounts[id].bal {
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
		for o := range m.book.All() {
			if s.orders.get(o.ID) == nil {
				return fmt.Errorf("engine: market %s order %d has no reservation", m.name, o.ID)
			}
		}
	}
	return nil
}

// checkCopy verifies the copy-trading state: each relation's wallet is its
// own and holds nothing once closed, its rounding remainders are those of
// live orders of its leader (checkCarries), mirrored orders never outlive
// their command, follower counts and leaders' relation lists match the
// open relations, and no account both leads and follows, nor is a copy
// wallet with a leader profile.
func (s *State) checkCopy() error {
	follows := make([]int32, len(s.accounts))
	open := make([][]uint64, len(s.leaders))
	for i := range s.relations {
		r := &s.relations[i]
		if r.id != uint64(i+1) || !s.validAccount(r.wallet) || s.accounts[r.wallet].relation != r.id {
			return fmt.Errorf("engine: relation %d: wallet %d not linked", i+1, r.wallet)
		}
		if !s.userAccount(r.follower) || !s.userAccount(r.leader) || s.accounts[r.leader].leader == 0 {
			return fmt.Errorf("engine: relation %d: follower %d or leader %d invalid", r.id, r.follower, r.leader)
		}
		for j, b := range s.accounts[r.wallet].bal {
			if b.locked != 0 || (r.status == RelationClosed && b.avail != 0) {
				return fmt.Errorf("engine: relation %d (%s) wallet asset %d holds %+v", r.id, r.status, j+1, b)
			}
		}
		if err := s.checkCarries(r); err != nil {
			return err
		}
		if r.status == RelationClosed {
			continue
		}
		sp := r.spec
		if !validCopySpec(&sp) || sp != r.spec {
			return fmt.Errorf("engine: relation %d: invalid parameters %+v", r.id, r.spec)
		}
		follows[r.follower]++
		l := s.accounts[r.leader].leader - 1
		open[l] = append(open[l], r.id)
	}
	for id := range s.accounts {
		a := &s.accounts[id]
		if a.follows != follows[id] {
			return fmt.Errorf("engine: account %d follows %d, %d open relations", id, a.follows, follows[id])
		}
		if a.follows > 0 && a.leader != 0 {
			return fmt.Errorf("engine: account %d leads and follows", id)
		}
		if a.leader != 0 && a.relation != 0 {
			// Fills of mirrored orders are never mirrored because of
			// this (noteFill).
			return fmt.Errorf("engine: copy wallet %d has a leader profile", id)
		}
		if a.leader != 0 && (int(a.leader) > len(s.leaders) || s.leaders[a.leader-1].account != uint64(id)) {
			return fmt.Errorf("engine: account %d: leader profile %d not linked", id, a.leader)
		}
	}
	for i := range s.leaders {
		L := &s.leaders[i]
		if !slices.Equal(L.rels, open[i]) {
			return fmt.Errorf("engine: leader %d lists relations %v, open %v", L.account, L.rels, open[i])
		}
		if L.profitShareBps < 0 || L.profitShareBps > MaxProfitShareBps {
			return fmt.Errorf("engine: leader %d profit share %d", L.account, L.profitShareBps)
		}
	}
	for i := range s.orders.slab {
		if rec := &s.orders.slab[i]; rec.id != 0 && (rec.relation != 0 || s.accounts[rec.account].relation != 0) {
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
		if rec == nil || rec.account != r.leader || rec.relation != 0 || !rec.copied {
			return fmt.Errorf("engine: relation %d keeps a remainder of order %d, not a live copied order of its leader %d", r.id, c.order, r.leader)
		}
	}
	return nil
}
