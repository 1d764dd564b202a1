package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// goldenCopyState builds, deterministically, a copy-trading state with
// rounding remainders: one leader whose first order (a buy) and second
// (a sell) filled in two parts each and are done, and whose third (a
// buy) filled in part and rests; a proportional, a fixed_quote and a
// ×1.5 multiplier relation, the last paused before the third order (its
// remainder is of the done sell), and a relation closed by an unfollow.
// Only one leader order with fills is live at a time, and no leader
// trades with a mirrored order: up to snapshot version 4 the state held
// one remainder per relation, and these states are the same under the
// rules of every version.
func goldenCopyState(t *testing.T) *State {
	sc := newCopyScenario(t, 10, 0, 6)
	sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	sc.follow(4, 10_000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1030 * usdt})
	multi := sc.follow(5, 10_000*usdt, CopySpec{Mode: CopyMultiplier, Value: 3 * ValueOne / 2})
	gone := sc.follow(6, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	// Order 1: buys 3 lots as a maker, 1 then 2.
	sc.lim(maker, book.Sell, px(2000), 1000) // for the mirrored buys
	sc.lim(leader1, book.Buy, px(1995), 3)
	sc.lim(maker, book.Sell, px(1995), 1)
	sc.lim(maker, book.Sell, px(1995), 2)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	// Order 2: sells 2 of the 3 lots, 1 then 1.
	sc.lim(maker, book.Buy, px(1990), 1000) // for the mirrored sells
	sc.lim(leader1, book.Sell, px(2000), 2)
	sc.lim(maker, book.Buy, px(2000), 1)
	sc.lim(maker, book.Buy, px(2000), 1)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.ok(Command{Kind: CmdPauseFollow, Account: 5, Copy: CopySpec{Relation: multi}})
	sc.ok(Command{Kind: CmdUnfollow, Account: 6, Copy: CopySpec{Relation: gone, Close: CloseKeep}})
	// Order 3: buys 2 of 5 lots and rests.
	sc.lim(maker, book.Sell, px(2000), 1000)
	sc.lim(leader1, book.Buy, px(1995), 5)
	sc.lim(maker, book.Sell, px(1995), 2)
	return sc.s
}

// A version 4 snapshot (one rounding remainder per relation, with the
// leader order it is of) restores the state it was taken from under the
// current rules: a remainder of a live order becomes that order's, one of
// a done order is dropped. IST_WRITE_SNAPSHOT_V4=1 with the release that
// wrote version 4 writes the file.
func TestSnapshotVersion4Carry(t *testing.T) {
	s := goldenCopyState(t)
	restored := golden(t, "testdata/snapshot-v4-copy.bin", 4, "IST_WRITE_SNAPSHOT_V4", s)
	if restored == nil {
		return
	}
	if restored.Hash() != s.Hash() {
		t.Fatal("the version 4 snapshot restored another state")
	}
	// The file has remainders of the live order (relations 1 and 2) and
	// of the done sell (relation 3): both cases were read.
	for i, want := range []int{1, 1, 0, 0} {
		if n := len(restored.relations.at(uint64(i)).carries); n != want {
			t.Fatalf("relation %d restored with %d remainders, want %d", i+1, n, want)
		}
	}
}

// carryState builds a state whose relations carry remainders of two live
// leader orders at once (×1.5 and ×2.5 relations, a lot of each order
// filled), with a closed relation; it returns the leader's two orders.
func carryState(t *testing.T) (sc *copyScenario, o1, o2 uint64) {
	sc = newCopyScenario(t, 0, 0, 5)
	sc.follow(3, 10_000*usdt, CopySpec{Mode: CopyMultiplier, Value: 3 * ValueOne / 2})
	sc.follow(4, 10_000*usdt, CopySpec{Mode: CopyMultiplier, Value: 5 * ValueOne / 2})
	gone := sc.follow(5, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.ok(Command{Kind: CmdUnfollow, Account: 5, Copy: CopySpec{Relation: gone}})
	sc.lim(maker, book.Sell, px(2005), 100) // for the mirrors
	o1 = sc.lim(leader1, book.Buy, px(1999), 3).ID
	sc.lim(maker, book.Sell, px(1999), 1)
	o2 = sc.lim(leader1, book.Buy, px(2000), 3).ID
	sc.lim(maker, book.Sell, px(2000), 1)
	for _, rel := range []uint64{1, 2} {
		if n := len(sc.rel(rel).carries); n != 2 {
			t.Fatalf("relation %d carries %v, want remainders of 2 orders", rel, sc.rel(rel).carries)
		}
	}
	return sc, o1, o2
}

// A snapshot keeps each relation's remainders of each live leader order:
// the restored state hashes the same and goes on identically, mirroring
// the orders' next fills with them.
func TestSnapshotCarriesRoundTrip(t *testing.T) {
	sc, _, _ := carryState(t)
	s2, err := DecodeState(sc.s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s2.Hash() != sc.s.Hash() {
		t.Fatal("restored state hashes differently")
	}
	var evs [2][]Event
	for i, st := range []*State{sc.s, s2} {
		for _, c := range []Command{
			{Kind: CmdPlace, Seq: 1000, Account: maker, Market: 1, Order: book.Order{Side: book.Sell, Price: px(2000), Qty: 2}},
			{Kind: CmdPlace, Seq: 1001, Account: maker, Market: 1, Order: book.Order{Side: book.Sell, Price: px(1999), Qty: 1}},
		} {
			_, evs[i] = st.Apply(&c, evs[i])
		}
		if err := st.Check(); err != nil {
			t.Fatal(err)
		}
	}
	if s2.Hash() != sc.s.Hash() || len(evs[0]) != len(evs[1]) || !slices.Equal(evs[0], evs[1]) {
		t.Fatal("restored state diverges on the orders' next fills")
	}
	// Order 2 is done; order 1's 0.5 and 1.5 lots made 2: nothing left.
	if c := s2.relations.at(0).carries; len(c) != 0 {
		t.Fatalf("remainders %v, want none", c)
	}
}

// A version 5 snapshot whose remainders contradict the state is refused:
// out of order, of an unknown relation, of a closed relation, of a done
// order or another account's, or of 0.
func TestSnapshotCarriesRefused(t *testing.T) {
	sc, o1, _ := carryState(t)
	snap := sc.s.AppendSnapshot(nil)
	if _, err := DecodeState(snap); err != nil {
		t.Fatal(err)
	}
	// The remainders are the last list: 4 of them before the checksum,
	// relation 1's then relation 2's, each (relation, order, amount).
	body := snap[:len(snap)-4]
	at := len(body) - 4*carrySize
	le := binary.LittleEndian
	if le.Uint32(body[at-4:]) != 4 || le.Uint64(body[at:]) != 1 || le.Uint64(body[at+8:]) != o1 {
		t.Fatal("remainders not found")
	}
	field := func(entry, f int) []byte { return body[at+entry*carrySize+8*f:] }
	live := sc.lim(maker, book.Buy, px(1000), 1).ID // the maker's: not the leader's
	for name, mutate := range map[string]func(b []byte){
		"out of order":        func(b []byte) { copy(b[at:], field(1, 0)[:carrySize]) },
		"unknown relation":    func(b []byte) { le.PutUint64(b[at+3*carrySize:], 9) },
		"closed relation":     func(b []byte) { le.PutUint64(b[at+3*carrySize:], 3) },
		"done order":          func(b []byte) { le.PutUint64(b[at+8:], o1+100) },
		"another's order":     func(b []byte) { le.PutUint64(b[at+8:], live) },
		"zero":                func(b []byte) { le.PutUint64(b[at+16:], 0) },
		"negative":            func(b []byte) { le.PutUint64(b[at+16:], 1<<63) },
		"relations backwards": func(b []byte) { le.PutUint64(b[at:], 2); le.PutUint64(b[at+3*carrySize:], 1) },
	} {
		b := bytes.Clone(body)
		mutate(b)
		b = le.AppendUint32(b, crc32.Checksum(b, crcTable))
		if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", name, err)
		}
	}
}

// A snapshot in which a copy wallet has a leader profile is refused: the
// fills of mirrored orders are never mirrored because wallets never lead.
func TestSnapshotWalletLeaderRefused(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: 4})
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	wallet := sc.rel(rel).wallet
	body := sc.s.AppendSnapshot(nil)
	body = body[:len(body)-4]
	// From the end: no remainders, one relation, then the second of two
	// leaders (account, profit share, rotation).
	at := len(body) - 4 - relationSize - 4 - (8 + 4 + 8)
	le := binary.LittleEndian
	if le.Uint64(body[at:]) != 4 || le.Uint32(body[at-20-4:]) != 2 {
		t.Fatal("leader profile of account 4 not found")
	}
	b := bytes.Clone(body)
	le.PutUint64(b[at:], wallet)
	b = le.AppendUint32(b, crc32.Checksum(b, crcTable))
	if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("wallet %d as a leader: %v, want ErrCorruptSnapshot", wallet, err)
	}
}
