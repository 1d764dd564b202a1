package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/internal/fixed"
	"github.com/instant-social-trading/ist/internal/seqmap"
)

// Snapshot encoding of a State, little-endian throughout:
//
//	+------+---------+-----+-----------+--------+--------+---------+----------+------------+----------+-------------------+---------+-----------+---------+--------+----------+--------+
//	| ISTS | version | seq | nextOrder | trades | assets | markets | accounts | client ids | done ids | transfer refs     | leaders | relations | carries | frozen | expiries | crc32c |
//	| 4 B  | u16     | u64 | u64       | u64    | ...    | ...     | ...      | (to v3)    | ...      | 1 list (to v5),   | ...     | ...       | (v5)    | (v7)   | (v8)     | u32    |
//	|      |         |     |           |        |        |         |          |            |          | 2 lists (from v6) |         |           |         |        |          |        |
//	+------+---------+-----+-----------+--------+--------+---------+----------+------------+----------+-------------------+---------+-----------+---------+--------+----------+--------+
//
// trades, the number of trades executed (State.Trades), is there from
// version 3. Each list is a u32 count followed by fixed-size entries, in
// id order or in the order commands made them (never map order): assets
// (name, supply); markets (name, spec, halted, last price, then the
// book's live orders as listed by book.All, each followed by the
// engine's record of it: limit, locked, client order id,
// from version 2 its size as placed: quantity and quote budget, and from
// version 3 its filled quantity, place fingerprint, the part of a
// fixed_quote amount its fills have spent and whether it was amended);
// accounts (name, balances, without zero ones at the end from version
// 3); up to version 3, every client order id sorted by (account, ref)
// with its order id; the done orders' client order ids in the order they
// will be forgotten (from version 3 each followed by its order's place
// fingerprint, from version 4 then by its order id); the transfer
// references: up to version 5 one list sorted by (account, ref), each
// entry (account, ref, command kind, asset, amount), and from version 6
// two: the deposit refs (ref, account, asset, amount) in the order they
// were made, then the withdrawal refs (account, ref, asset, amount) by
// account id (FeeAccount's first: it withdraws fees) and, within an
// account's window, oldest first (the order they will be forgotten in;
// see decodeTransferRefsV5 for how the lists of older versions are
// read); then (version 2) leaders (account, profit share, rotation) in
// profile order and copy relations in id order
// (up to version 4 each with one rounding remainder and the leader order
// it is of; from version 6 each ending with its own profit share rate,
// which earlier versions did not keep: a relation read from one pays its
// leader's rate as that snapshot has it, the rate it would have paid at
// that point); then (version 5) the relations' rounding remainders
// (relation, leader order, amount) in (relation, order) order. A version
// 4 remainder becomes its order's if the order is a live order of the
// relation's leader, and is dropped if not (the order is done: the rules
// of version 4 would never have used it again). Then (version 7) the
// frozen accounts: their ids, in increasing order, at least one in
// version 7 and any number (0 included) in version 8. Then (version 8)
// the expiry times of the good-till-date orders: (order id, expiry time)
// in (time, id) order, at least one, each a live order.
// Versions 1 (no sizes, no copy lists) and 2 are still read: their
// trade count is 0 (trades are counted from their sequence number on),
// their fingerprints are unknown (0: a resend of a client order id is
// taken to be the same order) and an order's filled quantity is its size as placed
// minus its open quantity (exact unless a CmdAmend changed it), and
// its fills are taken to have spent the fixed_quote part they would
// have without amends. The
// CRC-32C (Castagnoli) covers everything before it. The same bytes define
// State.Hash.

// snapshotVersion is the version AppendSnapshot writes. 2: order sizes,
// copy relations and leaders; 3: the trade count, filled quantities and
// place fingerprints; 4: no list of every client order id (the live
// orders' are in their records, and each done one carries its order id),
// which the matcher had to gather into a map and sort: with a million
// resting orders that have one, a snapshot paused it ten times longer;
// 5: a relation's rounding remainders kept for each live leader order (a
// list after the relations), not one for the leader order mirrored last;
// 6: deposit refs in one namespace for the whole exchange, withdrawal refs
// in a window of each account's last WithdrawalRefWindow withdrawals, and
// each relation's profit share rate (fixed when it opened, see
// CmdSetLeaderProfile); 7: the frozen accounts (CmdSetAccountFrozen), a
// list at the end (a snapshot of an earlier version has none frozen).
// Version 7 is written only for a state with a frozen account; the others
// are written in version 6, byte for byte as before it (their hashes
// unchanged, and releases before version 7 still read them), and a
// version 7 snapshot without a frozen account is refused (it would not
// re-encode to itself); 8: the good-till-date orders' expiry times
// (Command.ExpireAt), a list after the frozen accounts. Version 8 is
// written only while a good-till-date order is live (else 7 or 6 as
// above), and a version 8 snapshot without one is refused likewise; 9:
// the markets' price bands (MarketSpec.PriceBandBps), a list of (market
// id, band) in market id order after the expiry times, whose list may
// then be empty. Version 9 is written only while some market has a band
// (else 8, 7 or 6 as above), and a version 9 snapshot without one is
// refused likewise; 10: the markets' limits on open orders
// (MarketSpec.MaxOpenOrders), a list of (market id, limit) in market id
// order after the price bands, whose list may then be empty. Version 10
// is written only while some market has a limit (else 9, 8, 7 or 6 as
// above), and a version 10 snapshot without one is refused likewise. The
// counts of open orders the limit needs are not in it: they are counted
// from the orders restored.
const snapshotVersion = 10

var snapshotMagic = [4]byte{'I', 'S', 'T', 'S'}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptSnapshot is returned by DecodeState for bytes that are not a
// valid snapshot.
var ErrCorruptSnapshot = errors.New("engine: corrupt snapshot")

// AppendSnapshot appends the state's snapshot encoding to dst.
func (s *State) AppendSnapshot(dst []byte) []byte {
	return sealSnapshot(s.appendSnapshotBody(dst), len(dst))
}

// sealSnapshot appends the checksum of the snapshot body b[start:]. The
// engine's snapshot goroutine seals what the matcher encoded, so that the
// matcher does not wait for it.
func sealSnapshot(b []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// appendSnapshotBody appends the snapshot encoding, without its final
// checksum, to dst.
func (s *State) appendSnapshotBody(dst []byte) []byte { return s.encodeSnapshotBody(dst, nil) }

// encodeSnapshotBody is appendSnapshotBody, and with fz, the matcher's
// part of a deferred snapshot: the resting orders, most of a big
// snapshot's work, are left as room of their exact size, and fz takes a
// copy of what they are encoded from; fz.fill writes them in, on another
// goroutine, while the state moves on.
func (s *State) encodeSnapshotBody(dst []byte, fz *snapFreeze) []byte {
	// Room for all of it at once: growing a buffer of hundreds of
	// megabytes copies it, and the matcher waits meanwhile.
	w := enc{b: slices.Grow(dst, s.snapshotSizeHint())}
	frozen := 0
	for _, a := range s.accounts.all() {
		if a.frozen {
			frozen++
		}
	}
	gtd := s.expiries.len()
	bands, limits := 0, 0
	for _, m := range s.markets {
		if m.spec.PriceBandBps != 0 {
			bands++
		}
		if m.spec.MaxOpenOrders != 0 {
			limits++
		}
	}
	w.b = append(w.b, snapshotMagic[:]...)
	switch {
	case limits > 0:
		w.u16(snapshotVersion)
	case bands > 0:
		w.u16(9) // version 9 as it was
	case gtd > 0:
		w.u16(8) // version 8 as it was
	case frozen > 0:
		w.u16(7) // version 7 as it was: see snapshotVersion
	default:
		w.u16(6) // version 6 as it was
	}
	w.u64(s.seq)
	w.u64(s.nextOrder)
	w.u64(s.trades)
	w.u32(uint32(len(s.assets)))
	for i, a := range s.assets {
		w.bytes(a[:])
		w.i64(s.supply[i])
	}
	w.u32(uint32(len(s.markets)))
	if fz != nil {
		fz.begin(s)
	}
	for _, m := range s.markets {
		w.bytes(m.name[:])
		w.spec(&m.spec)
		w.bool(m.halted)
		w.i64(m.book.LastPrice())
		w.u32(uint32(m.book.Len() + m.book.Stops()))
		if fz != nil {
			fz.reserve(&w, m)
		} else {
			appendOrders(&w, m.book.All(), &s.orders, &s.snapSink)
		}
	}
	w.u32(uint32(s.accounts.len()))
	for _, a := range s.accounts.all() {
		w.bytes(a.name[:])
		// Zero balances at the end are left out: an account's list grows
		// when a command looks at an asset, even one that then fails.
		n := len(a.bal)
		for n > 0 && a.bal[n-1] == (balance{}) {
			n--
		}
		w.u32(uint32(n))
		for _, b := range a.bal[:n] {
			w.i64(b.avail)
			w.i64(b.locked)
		}
	}
	w.u32(uint32(s.doneIDs.n))
	s.doneIDs.eachID(func(k *refKey, fp, id uint64) {
		w.u64(k.account)
		w.bytes(k.ref[:])
		w.u64(fp)
		w.u64(id)
	})
	w.u32(uint32(s.deposits.len()))
	for i := range s.deposits.len() {
		d := s.deposits.at(uint64(i))
		w.bytes(d.ref[:])
		w.u64(d.account)
		w.u32(d.asset)
		w.i64(d.amount)
	}
	n := 0
	for id := range uint64(s.accounts.len()) {
		n += s.accounts.at(id).withdrawals.len()
	}
	w.u32(uint32(n))
	for id := range uint64(s.accounts.len()) {
		win := &s.accounts.at(id).withdrawals
		for i := range win.len() {
			ref := win.at(i)
			e := s.withdrawals[refKey{uint64(id), *ref}]
			w.u64(uint64(id))
			w.bytes(ref[:])
			w.u32(e.asset)
			w.i64(e.amount)
		}
	}
	w.u32(uint32(s.leaders.len()))
	for _, L := range s.leaders.all() {
		w.u64(L.account)
		w.u32(uint32(L.profitShareBps))
		w.u64(L.rotate)
	}
	w.u32(uint32(s.relations.len()))
	carries := 0
	for i := range uint64(s.relations.len()) {
		w.relation(s.relations.at(i))
		carries += len(s.relations.at(i).carries)
	}
	w.u32(uint32(carries))
	for i := range uint64(s.relations.len()) {
		r := s.relations.at(i)
		for _, c := range r.carries {
			w.u64(r.id)
			w.u64(c.order)
			w.i64(c.amount)
		}
	}
	if frozen > 0 || gtd > 0 || bands > 0 || limits > 0 {
		w.u32(uint32(frozen))
		for id := range uint64(s.accounts.len()) {
			if s.accounts.at(id).frozen {
				w.u64(id)
			}
		}
	}
	if gtd > 0 || bands > 0 || limits > 0 {
		w.u32(uint32(gtd))
	}
	if gtd > 0 {
		s.expiries.queue.Scan(func(k expiryKey) bool {
			w.u64(k.id)
			w.i64(k.at)
			return true
		})
	}
	if bands > 0 || limits > 0 {
		w.u32(uint32(bands))
		for _, m := range s.markets {
			if m.spec.PriceBandBps != 0 {
				w.u32(m.id)
				w.u32(uint32(m.spec.PriceBandBps))
			}
		}
	}
	if limits > 0 {
		w.u32(uint32(limits))
		for _, m := range s.markets {
			if m.spec.MaxOpenOrders != 0 {
				w.u32(m.id)
				w.u32(uint32(m.spec.MaxOpenOrders))
			}
		}
	}
	if fz != nil {
		fz.end(s)
	}
	return w.b
}

// snapshotSizeHint returns at least the size of the state's snapshot.
func (s *State) snapshotSizeHint() int {
	orders := 0
	for _, m := range s.markets {
		orders += m.book.Len() + m.book.Stops()
	}
	n := 64 + len(s.assets)*(len(Name{})+8) + orders*snapshotOrderSize
	for _, m := range s.markets {
		n += len(m.name) + 256 // the spec and the market's other fields
	}
	for _, a := range s.accounts.all() {
		n += len(a.name) + 4 + 16*len(a.bal) + 8 // 8: its id, if frozen
	}
	n += s.doneIDs.n*(8+len(Ref{})+8+8) + (s.deposits.len()+len(s.withdrawals))*transferRefSize
	n += s.leaders.len()*20 + s.relations.len()*relationSize + 8 + 16*s.expiries.len()
	for i := range uint64(s.relations.len()) {
		n += len(s.relations.at(i).carries) * carrySize
	}
	return n + 64
}

// Hash returns the SHA-256 of the state's snapshot encoding. Two states
// that applied the same commands have the same hash, and a state restored
// from a snapshot has the hash of the state it was taken from.
func (s *State) Hash() [32]byte { return sha256.Sum256(s.AppendSnapshot(nil)) }

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

// DecodeState rebuilds a State from a snapshot encoding. It returns an
// error wrapping ErrCorruptSnapshot if the bytes are damaged or
// inconsistent; it never panics on bad input.
func DecodeState(data []byte) (*State, error) {
	if len(data) < 4+2+4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorruptSnapshot, len(data))
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	r := dec{b: body}
	if [4]byte(r.take(4)) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptSnapshot)
	}
	version := r.u16()
	if version < 1 || version > snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", ErrCorruptSnapshot, version)
	}
	// Bytes an order has after its client order id: none in version 1,
	// sizes from version 2, filled and fingerprint from version 3.
	sizes := snapshotOrderSize - orderInfoSize - 16 - 36
	switch version {
	case 1:
		sizes = 0
	case 2:
		sizes = 16
	}
	s := NewState()
	s.seq = r.u64()
	s.nextOrder = r.u64()
	if version >= 3 {
		s.trades = r.u64()
	}
	for n := r.count(24 + 8); n > 0; n-- {
		var name Name
		copy(name[:], r.take(len(name)))
		if _, dup := s.assetByName[name]; dup && r.err == nil {
			return nil, fmt.Errorf("%w: asset %s twice", ErrCorruptSnapshot, name)
		}
		s.assets = append(s.assets, name)
		s.supply = append(s.supply, r.i64())
		s.assetByName[name] = uint32(len(s.assets))
	}
	for n := r.count(24); n > 0 && r.err == nil; n-- {
		var name Name
		copy(name[:], r.take(len(name)))
		if _, dup := s.marketByName[name]; dup && r.err == nil {
			return nil, fmt.Errorf("%w: market %s twice", ErrCorruptSnapshot, name)
		}
		spec := r.spec()
		halted := r.bool()
		last := r.i64()
		if !s.validAsset(spec.Base) || !s.validAsset(spec.Quote) || spec.Base == spec.Quote ||
			spec.BaseScale < 1 || spec.QuoteScale < 1 {
			return nil, fmt.Errorf("%w: market %s: bad spec", ErrCorruptSnapshot, name)
		}
		// Room for the market's orders at once (the count is bounded by
		// the bytes left): tables that double as they fill copy and
		// rehash everything each time.
		k := r.count(orderInfoSize + 16 + 36 + sizes)
		b, err := book.New(spec.Rules, &book.Options{Capacity: k, NoIndex: true})
		if err != nil {
			return nil, fmt.Errorf("%w: market %s: %w", ErrCorruptSnapshot, name, err)
		}
		s.orders.reserve(s.orders.len() + k)
		if err := b.SetLastPrice(last); err != nil && r.err == nil {
			return nil, fmt.Errorf("%w: market %s: last price: %w", ErrCorruptSnapshot, name, err)
		}
		id := uint32(len(s.markets) + 1)
		listed := make([]book.OrderInfo, 0, k)
		for ; k > 0 && r.err == nil; k-- {
			o := r.orderInfo()
			rec := order{id: o.ID, account: o.Owner, market: id, side: o.Side, limit: r.i64(), locked: r.i64()}
			copy(rec.ref[:], r.take(len(rec.ref)))
			if !rec.ref.IsZero() {
				rec.tag = clientIDTag(&refKey{rec.account, rec.ref})
			}
			if sizes > 0 {
				rec.origQty, rec.origBudget = r.i64(), r.i64()
			} else {
				rec.origQty, rec.origBudget = o.Open, o.QuoteBudget
			}
			if sizes > 16 {
				rec.filled, rec.fp, rec.copySpent, rec.amended = r.i64(), r.u64(), r.i64(), r.bool()
			} else {
				rec.filled = max(rec.origQty-o.Open, 0)
				if rec.origQty > 0 {
					rec.copySpent = fixed.MulDiv(copyWhole, min(rec.filled, rec.origQty), rec.origQty)
				}
			}
			if r.err != nil {
				break
			}
			// Its books keep no index: the order table finds an id given
			// twice, in one market or two.
			if s.orders.get(o.ID) != nil {
				return nil, fmt.Errorf("%w: order %d given twice", ErrCorruptSnapshot, o.ID)
			}
			h, err := b.Restore(o)
			if err != nil {
				return nil, fmt.Errorf("%w: market %s: %w", ErrCorruptSnapshot, name, err)
			}
			*s.orders.handle(s.orders.add(&rec)) = h // linked to its account's list once accounts are read
			listed = append(listed, o)
		}
		if r.err == nil && !sameOrders(b, listed) {
			return nil, fmt.Errorf("%w: market %s: orders not as the book lists them", ErrCorruptSnapshot, name)
		}
		m := &market{id: id, name: name, spec: spec, book: b, halted: halted,
			maxFee: max(spec.MakerFeeBps, spec.TakerFeeBps)}
		s.markets = append(s.markets, m)
		s.marketByName[name] = m.id
	}
	s.accounts.reset()
	for n := r.count(24 + 4); n > 0 && r.err == nil; n-- {
		var a account
		copy(a.name[:], r.take(len(a.name)))
		k := r.count(16)
		if k > len(s.assets) {
			return nil, fmt.Errorf("%w: account with %d balances, %d assets", ErrCorruptSnapshot, k, len(s.assets))
		}
		for ; k > 0; k-- {
			a.bal = append(a.bal, balance{avail: r.i64(), locked: r.i64()})
		}
		if n := len(a.bal); n > 0 && a.bal[n-1] == (balance{}) {
			if version >= 3 {
				return nil, fmt.Errorf("%w: account %d ends with a zero balance", ErrCorruptSnapshot, s.accounts.len())
			}
			for n > 0 && a.bal[n-1] == (balance{}) { // written by an earlier release
				n--
			}
			a.bal = a.bal[:n]
		}
		s.accounts.add(a)
	}
	if r.err == nil {
		if err := s.linkOrders(); err != nil {
			return nil, err
		}
	}
	var prev *refKey
	var keys, done []refKey
	var ids, doneIDs []uint64
	if version <= 3 {
		for n := r.count(8 + 36 + 8); n > 0 && r.err == nil; n-- {
			var k refKey
			k.account = r.u64()
			copy(k.ref[:], r.take(len(k.ref)))
			if err := keyOrder(&prev, k); err != nil && r.err == nil {
				return nil, err
			}
			keys, ids = append(keys, k), append(ids, r.u64())
		}
	}
	doneSize := 8 + 36
	var doneFPs []uint64 // unknown before version 3
	if version >= 3 {
		doneSize += 8
	}
	if version >= 4 {
		doneSize += 8
	}
	n := r.count(doneSize)
	if n > ClientIDWindow {
		return nil, fmt.Errorf("%w: %d done client order ids", ErrCorruptSnapshot, n)
	}
	for ; n > 0 && r.err == nil; n-- {
		var k refKey
		k.account = r.u64()
		copy(k.ref[:], r.take(len(k.ref)))
		done = append(done, k)
		if version >= 3 {
			doneFPs = append(doneFPs, r.u64())
		}
		if version >= 4 {
			doneIDs = append(doneIDs, r.u64())
		}
	}
	if r.err == nil {
		var err error
		if version >= 4 {
			err = s.restoreClientIDsV4(done, doneFPs, doneIDs)
		} else {
			err = s.restoreClientIDs(keys, ids, done, doneFPs)
		}
		if err != nil {
			return nil, err
		}
	}
	if version >= 6 {
		if err := s.decodeTransferRefs(&r); err != nil {
			return nil, err
		}
	} else if err := s.decodeTransferRefsV5(&r); err != nil {
		return nil, err
	}
	if version >= 2 {
		if err := s.decodeCopy(&r, version); err != nil {
			return nil, err
		}
	}
	if version >= 7 {
		if err := s.decodeFrozen(&r, version); err != nil {
			return nil, err
		}
	}
	if version >= 8 {
		if err := s.decodeExpiries(&r, version); err != nil {
			return nil, err
		}
	}
	if version >= 9 {
		if err := s.decodeBands(&r, version); err != nil {
			return nil, err
		}
	}
	if version >= 10 {
		if err := s.decodeOpenLimits(&r); err != nil {
			return nil, err
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, r.err)
	}
	if s.accounts.len() == 0 {
		return nil, fmt.Errorf("%w: no fee account", ErrCorruptSnapshot)
	}
	if err := s.check(false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	return s, nil
}

// linkOrders puts every live order read from a snapshot in its account's
// list of live orders (State.addOrder), in slab order: the orders come
// before the accounts in a snapshot.
func (s *State) linkOrders() error {
	for i := range s.orders.end() {
		rec := s.orders.at(i)
		if rec.id == 0 {
			continue
		}
		if !s.validAccount(rec.account) {
			return fmt.Errorf("%w: order %d of unknown account %d", ErrCorruptSnapshot, rec.id, rec.account)
		}
		s.linkOrder(i, rec.account)
	}
	return nil
}

// sameOrders reports whether the book lists exactly the orders restored
// into it, field for field and in the same order: Restore ignores fields
// that do not apply (a resting order's type or a stop's visible quantity)
// and accepts orders out of All's order, and such a snapshot would not
// re-encode to the same bytes.
func sameOrders(b *book.Book, listed []book.OrderInfo) bool {
	i := 0
	for o := range b.All() {
		if i == len(listed) || o != listed[i] {
			return false
		}
		i++
	}
	return i == len(listed)
}

// keyOrder checks that reference keys come strictly increasing, as
// AppendSnapshot writes them.
func keyOrder(prev **refKey, k refKey) error {
	if *prev != nil && cmpRefKey(**prev, k) >= 0 {
		return fmt.Errorf("%w: references out of order", ErrCorruptSnapshot)
	}
	*prev = &k
	return nil
}

// transferRefSize is the bytes of a deposit ref (ref, account, asset,
// amount) or a withdrawal ref (account, ref, asset, amount) in a
// snapshot; up to version 5 a transfer reference had one more, its
// command kind.
const transferRefSize = 8 + 36 + 4 + 8

// decodeTransferRefs reads the deposit refs and the accounts' windows of
// withdrawal refs of a snapshot of version 6 or later. It refuses what
// would not re-encode to the same bytes (a ref twice, an account's refs
// not together, a window past WithdrawalRefWindow); Check verifies the
// rest.
func (s *State) decodeTransferRefs(r *dec) error {
	for n := r.count(transferRefSize); n > 0 && r.err == nil; n-- {
		var d depositRef
		copy(d.ref[:], r.take(len(d.ref)))
		d.account, d.asset, d.amount = r.u64(), r.u32(), r.i64()
		if r.err != nil {
			break
		}
		if _, dup := s.depositIndex[d.ref]; dup {
			return fmt.Errorf("%w: deposit ref %q twice", ErrCorruptSnapshot, d.ref.String())
		}
		s.addDepositRef(d)
	}
	var prev uint64
	for n := r.count(transferRefSize); n > 0 && r.err == nil; n-- {
		k := refKey{account: r.u64()}
		copy(k.ref[:], r.take(len(k.ref)))
		e := withdrawalRef{asset: r.u32(), amount: r.i64()}
		if r.err != nil {
			break
		}
		if k.account >= uint64(s.accounts.len()) { // FeeAccount's included: it withdraws fees
			return fmt.Errorf("%w: withdrawal ref of account %d", ErrCorruptSnapshot, k.account)
		}
		if k.account < prev {
			return fmt.Errorf("%w: withdrawal refs of account %d out of order", ErrCorruptSnapshot, k.account)
		}
		prev = k.account
		if _, dup := s.withdrawals[k]; dup || s.accounts.at(k.account).withdrawals.len() == WithdrawalRefWindow {
			return fmt.Errorf("%w: account %d: withdrawal ref %q twice or past the window", ErrCorruptSnapshot, k.account, k.ref.String())
		}
		s.addWithdrawalRef(k.account, k.ref, e)
	}
	return nil
}

// decodeTransferRefsV5 reads the transfer references of a snapshot of
// version 1 to 5: one list sorted by (account, ref), each with its command
// kind, in one namespace per account. A deposit ref joins the exchange's
// deposit refs; one that several accounts had (which those versions
// allowed) is kept for the lowest account id only, so a resend of it to
// the others is then a conflict. A withdrawal ref joins its account's
// window, in ref byte order (the order of the withdrawals is not in the
// snapshot): of an account with more than WithdrawalRefWindow, the last
// WithdrawalRefWindow in that order are kept.
func (s *State) decodeTransferRefsV5(r *dec) error {
	var prev *refKey
	for n := r.count(transferRefSize + 1); n > 0 && r.err == nil; n-- {
		var k refKey
		k.account = r.u64()
		copy(k.ref[:], r.take(len(k.ref)))
		kind, asset, amount := CommandKind(r.u8()), r.u32(), r.i64()
		if r.err != nil {
			break
		}
		if err := keyOrder(&prev, k); err != nil {
			return err
		}
		if !s.validAccount(k.account) {
			return fmt.Errorf("%w: transfer reference of account %d", ErrCorruptSnapshot, k.account)
		}
		switch kind {
		case CmdDeposit:
			if _, dup := s.depositIndex[k.ref]; !dup {
				s.addDepositRef(depositRef{ref: k.ref, account: k.account, asset: asset, amount: amount})
			}
		case CmdWithdraw:
			s.addWithdrawalRef(k.account, k.ref, withdrawalRef{asset: asset, amount: amount})
		default:
			return fmt.Errorf("%w: transfer reference of a %s", ErrCorruptSnapshot, kind)
		}
	}
	return nil
}

// enc appends little-endian values.
type enc struct{ b []byte }

func (w *enc) u8(v uint8)     { w.b = append(w.b, v) }
func (w *enc) u16(v uint16)   { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *enc) u32(v uint32)   { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *enc) u64(v uint64)   { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *enc) i64(v int64)    { w.u64(uint64(v)) }
func (w *enc) bytes(p []byte) { w.b = append(w.b, p...) }
func (w *enc) bool(v bool)    { w.u8(b2u(v)) }
func b2u(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// snapChunk is how many orders appendOrders looks up at a time.
const snapChunk = 128

// appendOrders writes the orders all yields (a book's, in All's order),
// each with its record in t (every live order has its reservation). The
// book gives them in queue order, which is not the order table's: each
// record is a cache miss, twice (the index, then the record). Looking a
// chunk up in one loop, then touching the chunk's records in another,
// lets the processor wait for those misses together rather than one after
// the other: encoding a big snapshot is mostly these misses. sink keeps
// the touching loads from being optimised away.
func appendOrders(w *enc, all iter.Seq[book.OrderInfo], t *orderTable, sink *uint64) {
	var infos [snapChunk]book.OrderInfo
	var recs [snapChunk]*order
	flush := func(n int) {
		for i := range infos[:n] {
			recs[i] = t.get(infos[i].ID)
		}
		var sum uint64
		for _, rec := range recs[:n] {
			sum += rec.account
		}
		*sink += sum
		for i := range infos[:n] {
			w.order(&infos[i], recs[i])
		}
	}
	n := 0
	for o := range all {
		infos[n] = o
		if n++; n == snapChunk {
			flush(n)
			n = 0
		}
	}
	flush(n)
}

// snapFreeze is what a deferred snapshot encodes its resting orders from,
// off the matcher (Engine's snapshots): a copy of each market's book and
// of the order records, taken by memory copies while the matcher waits
// (indexing the records, the lookups and the encoding, most of a big
// snapshot's cost, are fill's), and where each market's orders go in the
// body. The engine keeps one and reuses its memory from one snapshot to
// the next; it costs about as much memory again as the books and the
// order table.
//
// The copies are memory bandwidth, so two cores make them sooner than
// one: begin starts a helper goroutine copying the records' chunks while
// the matcher freezes the books, and end has the matcher copy the index
// and then claim chunks too, until none is left, and wait for the helper.
// Both only read the state, which nothing changes in between.
type snapFreeze struct {
	books []book.Frozen // by market index
	offs  []int         // where each market's orders start in the body
	n     int           // markets frozen for the body being written
	slab  orderTable    // a copy of the order table's records (its index: index)
	index seqmap.Map    // slab's index: a copy of the table's
	sink  uint64

	chunks int          // chunks of the slab to copy
	next   atomic.Int64 // next chunk to claim
	helper sync.WaitGroup
}

// begin starts copying s's order records; end copies their index (4
// bytes an id of the index's pages, against 128 a record) and finishes
// the records.
func (fz *snapFreeze) begin(s *State) {
	t := &s.orders
	for len(fz.slab.chunks) < len(t.chunks) {
		fz.slab.chunks = append(fz.slab.chunks, nil) // made by the copier
	}
	fz.slab.n = t.n
	fz.chunks = (int(t.n) + slabChunk - 1) / slabChunk
	fz.next.Store(0)
	fz.n = 0
	if fz.chunks > 1 {
		fz.helper.Add(1)
		go func() {
			defer fz.helper.Done()
			fz.copyChunks(t)
		}()
	}
}

// copyChunks copies the slab's chunks that no one has claimed yet.
func (fz *snapFreeze) copyChunks(t *orderTable) {
	for {
		c := int(fz.next.Add(1) - 1)
		if c >= fz.chunks {
			return
		}
		if fz.slab.chunks[c] == nil {
			fz.slab.chunks[c] = make([]order, slabChunk)
		}
		n := min(slabChunk, int(t.n)-c*slabChunk)
		copy(fz.slab.chunks[c][:n], t.chunks[c][:n])
	}
}

// end finishes what begin started: the index, and the chunks the helper
// has not claimed; it returns once every copy is made.
func (fz *snapFreeze) end(s *State) {
	fz.index.CopyFrom(s.orders.index)
	fz.copyChunks(&s.orders)
	fz.helper.Wait()
}

// reserve freezes m's book and leaves room in w for its orders.
func (fz *snapFreeze) reserve(w *enc, m *market) {
	if fz.n == len(fz.books) {
		fz.books = append(fz.books, book.Frozen{})
		fz.offs = append(fz.offs, 0)
	}
	f := &fz.books[fz.n]
	m.book.FreezeInto(f)
	size := f.Len() * snapshotOrderSize
	off := len(w.b)
	w.b = slices.Grow(w.b, size)[:off+size]
	fz.offs[fz.n] = off
	fz.n++
}

// fill encodes the frozen orders into the room reserve left in body.
func (fz *snapFreeze) fill(body []byte) {
	t := &fz.slab
	t.index = &fz.index
	for i, off := range fz.offs[:fz.n] {
		f := &fz.books[i]
		size := f.Len() * snapshotOrderSize
		w := enc{b: body[off : off : off+size]}
		appendOrders(&w, f.All(), t, &fz.sink)
		if len(w.b) != size || size > 0 && &w.b[0] != &body[off] {
			panic("engine: a frozen book's orders do not fit their room")
		}
	}
}

// order writes resting order o with its record rec: the orderInfo
// fields, then the record's. One bounds check and one length update for
// the whole order, not one a field: a snapshot writes millions.
func (w *enc) order(o *book.OrderInfo, rec *order) {
	n := len(w.b)
	w.b = slices.Grow(w.b, snapshotOrderSize)[:n+snapshotOrderSize]
	b := w.b[n : n+snapshotOrderSize]
	le := binary.LittleEndian
	le.PutUint64(b[0:], o.ID)
	le.PutUint64(b[8:], o.Owner)
	b[16], b[17], b[18], b[19], b[20] = uint8(o.Side), uint8(o.Type), uint8(o.TIF), uint8(o.STP), b2u(o.PostOnly)
	le.PutUint64(b[21:], uint64(o.Price))
	le.PutUint64(b[29:], uint64(o.StopPrice))
	le.PutUint64(b[37:], uint64(o.Open))
	le.PutUint64(b[45:], uint64(o.Visible))
	le.PutUint64(b[53:], uint64(o.DisplayQty))
	le.PutUint64(b[61:], uint64(o.QuoteBudget))
	b[69] = b2u(o.Stop)
	le.PutUint64(b[70:], uint64(rec.limit))
	le.PutUint64(b[78:], uint64(rec.locked))
	copy(b[86:122], rec.ref[:])
	le.PutUint64(b[122:], uint64(rec.origQty))
	le.PutUint64(b[130:], uint64(rec.origBudget))
	le.PutUint64(b[138:], uint64(rec.filled))
	le.PutUint64(b[146:], rec.fp)
	le.PutUint64(b[154:], uint64(rec.copySpent))
	b[162] = b2u(rec.amended)
}

func (w *enc) spec(sp *MarketSpec) {
	w.u32(sp.Base)
	w.u32(sp.Quote)
	w.i64(sp.BaseScale)
	w.i64(sp.QuoteScale)
	w.rules(&sp.Rules)
	w.u32(uint32(sp.MakerFeeBps))
	w.u32(uint32(sp.TakerFeeBps))
}

func (w *enc) rules(r *book.Rules) {
	w.i64(r.TickSize)
	w.i64(r.LotSize)
	w.i64(r.MinQty)
	w.i64(r.MaxQty)
	w.i64(r.MinNotional)
	w.i64(r.MaxPrice)
}

const orderInfoSize = 8 + 8 + 1 + 1 + 1 + 1 + 1 + 8*6 + 1

// snapshotOrderSize is the bytes of a resting order in a snapshot: its
// book fields, limit and locked, client order id, original quantity and
// budget, filled, fingerprint, copySpent and amended.
const snapshotOrderSize = orderInfoSize + 16 + 36 + 16 + 8 + 8 + 8 + 1

// relationSize is the bytes of a relation in a snapshot; up to version 5
// a relation had 4 fewer (no profit share rate), and up to version 4 then
// 16 more: its rounding remainder and the order of it.
const relationSize = 8*4 + 4 + 1 + 8*2 + 1 + 4*2 + 8*3 + 4

// carrySize is the bytes of a rounding remainder in a snapshot: relation,
// order, amount.
const carrySize = 8 * 3

func (w *enc) relation(r *relation) {
	w.u64(r.id)
	w.u64(r.follower)
	w.u64(r.leader)
	w.u64(r.wallet)
	w.u32(r.asset)
	w.u8(uint8(r.status))
	w.i64(r.spec.Value)
	w.i64(r.spec.MaxOrderQuote)
	w.u8(uint8(r.spec.Mode))
	w.u32(uint32(r.spec.SlippageBps))
	w.u32(uint32(r.spec.StopLossBps))
	w.i64(r.allocation)
	w.i64(r.hwm)
	w.i64(r.paid)
	w.u32(uint32(r.shareBps))
}

// decodeCopy reads the leaders, the relations and (version 5) their
// rounding remainders, and links them to their accounts and orders; Check
// verifies the rest.
func (s *State) decodeCopy(r *dec, version uint16) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorruptSnapshot}, args...)...)
	}
	for n := r.count(8 + 4 + 8); n > 0 && r.err == nil; n-- {
		L := leader{account: r.u64(), profitShareBps: int32(r.u32()), rotate: r.u64()}
		if r.err != nil {
			break
		}
		if !s.validAccount(L.account) || s.accounts.at(L.account).leader != 0 {
			return bad("leader %d", L.account)
		}
		s.leaders.add(L)
		s.accounts.at(L.account).leader = int32(s.leaders.len())
	}
	size := relationSize
	if version <= 5 {
		size -= 4
	}
	if version <= 4 {
		size += 16
	}
	for n := r.count(size); n > 0 && r.err == nil; n-- {
		var x relation
		x.id, x.follower, x.leader, x.wallet = r.u64(), r.u64(), r.u64(), r.u64()
		x.asset, x.status = r.u32(), RelationStatus(r.u8())
		x.spec.Value, x.spec.MaxOrderQuote, x.spec.Mode = r.i64(), r.i64(), CopyMode(r.u8())
		x.spec.SlippageBps, x.spec.StopLossBps = int32(r.u32()), int32(r.u32())
		x.allocation, x.hwm, x.paid = r.i64(), r.i64(), r.i64()
		if version <= 4 {
			// The remainder of the leader order mirrored last: kept
			// while that order lives.
			order, amount := r.u64(), r.i64()
			if rec := s.orders.get(order); rec != nil && rec.account == x.leader &&
				amount > 0 && x.status != RelationClosed {
				x.carries = []orderCarry{{order: order, amount: amount}}
				rec.copied = true
			}
		}
		if version >= 6 {
			x.shareBps = int32(r.u32())
		}
		if r.err != nil {
			break
		}
		x.spec.Leader, x.spec.Relation = x.leader, x.id
		if x.id != uint64(s.relations.len()+1) || !s.validAccount(x.follower) || !s.validAccount(x.wallet) ||
			!s.validAccount(x.leader) || s.accounts.at(x.leader).leader == 0 || s.accounts.at(x.wallet).relation != 0 ||
			x.status < RelationActive || x.status > RelationClosed || !s.validAsset(x.asset) {
			return bad("relation %d", x.id)
		}
		if version <= 5 {
			// The rate was the leader's at each settlement: the one it
			// has now is what the relation would have paid next.
			x.shareBps = s.leaderOf(x.leader).profitShareBps
		}
		s.relations.add(x)
		s.accounts.at(x.wallet).relation = x.id
		s.accounts.at(x.follower).followed++
		if x.status != RelationClosed {
			s.accounts.at(x.follower).follows++
			L := s.leaderOf(x.leader)
			L.rels = append(L.rels, x.id)
		}
	}
	if version <= 4 {
		return nil
	}
	var prevRel, prevOrder uint64
	for n := r.count(carrySize); n > 0 && r.err == nil; n-- {
		id, order, amount := r.u64(), r.u64(), r.i64()
		if r.err != nil {
			break
		}
		if id < 1 || id > uint64(s.relations.len()) || id < prevRel || (id == prevRel && order <= prevOrder) {
			return bad("rounding remainder of relation %d order %d out of order", id, order)
		}
		prevRel, prevOrder = id, order
		x := s.relations.at(id - 1)
		x.carries = append(x.carries, orderCarry{order: order, amount: amount})
		if rec := s.orders.get(order); rec != nil {
			rec.copied = true // Check verifies it is the leader's
		}
	}
	return nil
}

// decodeFrozen reads the frozen accounts (from version 7): user
// accounts, in strictly increasing id order, as AppendSnapshot writes
// them. Check verifies that none has a live order.
func (s *State) decodeFrozen(r *dec, version uint16) error {
	var prev uint64
	n := r.count(8)
	if n == 0 && r.err == nil && version == 7 {
		return fmt.Errorf("%w: version 7 without a frozen account", ErrCorruptSnapshot)
	}
	for ; n > 0 && r.err == nil; n-- {
		id := r.u64()
		if r.err != nil {
			break
		}
		if !s.userAccount(id) || id <= prev {
			return fmt.Errorf("%w: frozen account %d not a user account or out of order", ErrCorruptSnapshot, id)
		}
		prev = id
		s.accounts.at(id).frozen = true
	}
	return nil
}

// decodeExpiries reads the good-till-date orders' expiry times (from
// version 8): live orders, in strictly increasing (time, id) order, as
// AppendSnapshot writes them, at least one in version 8 and any number
// (0 included) in version 9. Check verifies that each is a GTC limit or
// stop-limit order.
func (s *State) decodeExpiries(r *dec, version uint16) error {
	var prev expiryKey
	n := r.count(16)
	if n == 0 && r.err == nil && version == 8 {
		return fmt.Errorf("%w: version 8 without a good-till-date order", ErrCorruptSnapshot)
	}
	for ; n > 0 && r.err == nil; n-- {
		k := expiryKey{id: r.u64()}
		k.at = r.i64()
		if r.err != nil {
			break
		}
		rec := s.orders.get(k.id)
		if rec == nil || rec.gtd || k.at <= 0 || !expiryLess(prev, k) {
			return fmt.Errorf("%w: expiry of order %d at %d: not a live order, twice or out of order", ErrCorruptSnapshot, k.id, k.at)
		}
		prev = k
		rec.gtd = true
		s.addExpiry(k.id, k.at)
	}
	return nil
}

// decodeBands reads the markets' price bands (from version 9): (market
// id, band) of markets in strictly increasing id order, each band within
// 1..MaxPriceBandBps, as AppendSnapshot writes them, at least one in
// version 9 and any number (0 included) in version 10.
func (s *State) decodeBands(r *dec, version uint16) error {
	n := r.count(8)
	if n == 0 && r.err == nil && version == 9 {
		return fmt.Errorf("%w: version 9 without a price band", ErrCorruptSnapshot)
	}
	var prev uint32
	for ; n > 0 && r.err == nil; n-- {
		id, bps := r.u32(), r.u32()
		if r.err != nil {
			break
		}
		m, err := s.market(id)
		if err != nil || id <= prev || bps == 0 || bps > MaxPriceBandBps {
			return fmt.Errorf("%w: price band %d of market %d: no such market, out of order or out of range", ErrCorruptSnapshot, bps, id)
		}
		prev = id
		m.spec.PriceBandBps = int32(bps)
	}
	return nil
}

// decodeOpenLimits reads the markets' limits on open orders (version
// 10): (market id, limit) of markets in strictly increasing id order,
// each limit within 1..MaxOpenOrdersLimit, at least one, as
// AppendSnapshot writes them. Each such market's counts of open orders
// are counted from its orders, restored before.
func (s *State) decodeOpenLimits(r *dec) error {
	n := r.count(8)
	if n == 0 && r.err == nil {
		return fmt.Errorf("%w: version 10 without a limit on open orders", ErrCorruptSnapshot)
	}
	var prev uint32
	for ; n > 0 && r.err == nil; n-- {
		id, lim := r.u32(), r.u32()
		if r.err != nil {
			break
		}
		m, err := s.market(id)
		if err != nil || id <= prev || lim == 0 || lim > MaxOpenOrdersLimit {
			return fmt.Errorf("%w: limit of %d open orders of market %d: no such market, out of order or out of range", ErrCorruptSnapshot, lim, id)
		}
		prev = id
		m.spec.MaxOpenOrders = int32(lim)
		m.open = s.countOpen(m)
	}
	return nil
}

// dec reads little-endian values; after the first short read every read
// returns zero and err is set.
type dec struct {
	b   []byte
	err error
}

func (r *dec) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		if r.err == nil {
			r.err = errors.New("truncated")
		}
		return make([]byte, n)
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *dec) u8() uint8   { return r.take(1)[0] }
func (r *dec) u16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *dec) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *dec) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *dec) i64() int64  { return int64(r.u64()) }

// bool reads a byte that must be 0 or 1, as enc.bool writes it.
func (r *dec) bool() bool {
	v := r.u8()
	if v > 1 && r.err == nil {
		r.err = fmt.Errorf("bool byte %d", v)
	}
	return v == 1
}

// count reads a list length and checks that that many entries of at least
// min bytes each can follow. The product is in uint64: in a 32-bit int it
// wraps (2^27 entries of 32 bytes make 0), and a damaged length would pass
// and make the decoder loop and allocate for each of them.
func (r *dec) count(min int) int {
	n := r.u32()
	if r.err == nil && (n > math.MaxInt32 || uint64(n)*uint64(min) > uint64(len(r.b))) {
		r.err = fmt.Errorf("list of %d entries in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *dec) spec() MarketSpec {
	sp := MarketSpec{Base: r.u32(), Quote: r.u32(), BaseScale: r.i64(), QuoteScale: r.i64()}
	sp.Rules = book.Rules{TickSize: r.i64(), LotSize: r.i64(), MinQty: r.i64(), MaxQty: r.i64(),
		MinNotional: r.i64(), MaxPrice: r.i64()}
	sp.MakerFeeBps = int32(r.u32())
	sp.TakerFeeBps = int32(r.u32())
	return sp
}

func (r *dec) orderInfo() book.OrderInfo {
	return book.OrderInfo{ID: r.u64(), Owner: r.u64(), Side: book.Side(r.u8()), Type: book.OrderType(r.u8()),
		TIF: book.TimeInForce(r.u8()), STP: book.STPMode(r.u8()), PostOnly: r.bool(), Price: r.i64(),
		StopPrice: r.i64(), Open: r.i64(), Visible: r.i64(), DisplayQty: r.i64(), QuoteBudget: r.i64(),
		Stop: r.bool()}
}
