package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
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
	for _, id := range s.orders.ids() {
		rec := s.orders.get(id)
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

// Hash returns a SHA-256 digest of the whole state, computed over a
// deterministic encoding (ids in order, never map order). Two states that
// applied the same commands have the same hash.
func (s *State) Hash() [32]byte {
	h := sha256.New()
	s.encode(h)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// encode writes the state deterministically to h.
func (s *State) encode(h hash.Hash) {
	var buf [8]byte
	u := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	i := func(v int64) { u(uint64(v)) }
	u(s.seq)
	u(s.nextOrder)
	u(uint64(len(s.assets)))
	for k, a := range s.assets {
		h.Write(a[:])
		i(s.supply[k])
	}
	u(uint64(len(s.markets)))
	for _, m := range s.markets {
		h.Write(m.name[:])
		fmt.Fprintf(h, "%+v|%v|%d\n", m.spec, m.halted, m.book.LastPrice())
		for o := range m.book.All() {
			fmt.Fprintf(h, "%+v\n", o)
		}
	}
	u(uint64(len(s.accounts)))
	for _, a := range s.accounts {
		h.Write(a.name[:])
		u(uint64(len(a.bal)))
		for _, b := range a.bal {
			i(b.avail)
			i(b.locked)
		}
	}
	for _, id := range s.orders.ids() {
		fmt.Fprintf(h, "%+v\n", *s.orders.get(id))
	}
	keys := make([]refKey, 0, len(s.clientIDs)+len(s.refs))
	for k := range s.clientIDs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmpRefKey)
	for _, k := range keys {
		fmt.Fprintf(h, "c%d|%s|%d\n", k.account, k.ref, s.clientIDs[k])
	}
	keys = keys[:0]
	for k := range s.refs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmpRefKey)
	for _, k := range keys {
		fmt.Fprintf(h, "r%d|%s|%+v\n", k.account, k.ref, s.refs[k])
	}
}

func cmpRefKey(a, b refKey) int {
	if a.account != b.account {
		if a.account < b.account {
			return -1
		}
		return 1
	}
	for i := range a.ref {
		if a.ref[i] != b.ref[i] {
			return int(a.ref[i]) - int(b.ref[i])
		}
	}
	return 0
}
