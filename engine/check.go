package engine

import "fmt"

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
	for _, id := range s.orders.ids() {
		rec := s.orders.get(id)
		if !s.validAccount(rec.account) {
			return fmt.Errorf("engine: order %d of unknown account %d", id, rec.account)
		}
		if cid, _ := s.clientIDs.get(refKey{rec.account, rec.ref}); !rec.ref.IsZero() && cid != id {
			return fmt.Errorf("engine: order %d's client order id is not mapped to it", id)
		}
		if rec.locked < 0 {
			return fmt.Errorf("engine: order %d reserves %d", id, rec.locked)
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
	if n := s.clientIDs.len() - s.doneIDs.n; n < 0 {
		return fmt.Errorf("engine: %d client order ids, %d of done orders", s.clientIDs.len(), s.doneIDs.n)
	}
	for i := range sum {
		if sum[i] != s.supply[i] {
			return fmt.Errorf("engine: asset %s: balances sum to %d, deposits − withdrawals = %d", s.assets[i], sum[i], s.supply[i])
		}
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
