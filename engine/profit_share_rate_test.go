package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Each relation pays the profit share rate its leader had when the follow
// was made; a later raise applies to new follows only, a cut applies to
// every open relation at once (min of the two). These tests fail when a
// relation pays its leader's current rate (before: a leader who raised
// the rate from 0 to 50% took half of what followers had made at 0%).

// setShare sets the leader's profit share rate.
func (sc *copyScenario) setShare(bps int32) {
	sc.t.Helper()
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: bps}})
}

// wantRates checks the profit share rate of relations 1.. in the state
// and in their views.
func (sc *copyScenario) wantRates(want ...int32) {
	sc.t.Helper()
	for i, bps := range want {
		v, err := sc.s.RelationView(uint64(i + 1))
		if err != nil || sc.rel(uint64(i+1)).shareBps != bps || v.ProfitShareBps != bps {
			sc.t.Fatalf("relation %d pays %d bps (view %+v, %v), want %d", i+1, sc.rel(uint64(i+1)).shareBps, v, err, bps)
		}
	}
}

// settleFees settles every relation and returns the profit share each
// paid, by relation id - 1.
func (sc *copyScenario) settleFees(n int) []int64 {
	sc.t.Helper()
	sc.ok(Command{Kind: CmdSettle})
	fees := make([]int64, n)
	for _, ev := range sc.events(EvProfitShare) {
		fees[ev.Relation-1] += ev.Amount
	}
	return fees
}

// leaderBuy makes the leader buy 10 lots at 2,000 from the maker: a
// fixed_quote relation of 500 USDT buys 25 lots. The maker's liquidity
// is cancelled after.
func (sc *copyScenario) leaderBuy() {
	sc.t.Helper()
	sc.lim(maker, book.Sell, px(2000), 1000)
	sc.lim(leader1, book.Buy, px(2000), 10)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
}

// A raise does not reach relations opened at a lower rate: a follower at
// 0% who made 100 USDT pays nothing after the leader goes to 50%, then or
// later; a follow made after the raise pays 50%.
func TestProfitShareRaiseNotRetroactive(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	sc.setShare(0)
	old := sc.follow(3, 2000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.leaderBuy()
	sc.wantWallet(old, 1500*usdt, 25*ethLot)
	sc.trade(px(2400)) // NAV 2,100
	sc.setShare(5000)
	sc.wantRates(0)
	if v, _ := sc.s.LeaderView(leader1); v.ProfitShareBps != 5000 {
		t.Fatalf("leader view %+v: want the new rate, 5000", v)
	}
	if fees := sc.settleFees(1); fees[0] != 0 || sc.rel(old).hwm != 2100*usdt || sc.rel(old).paid != 0 {
		t.Fatalf("paid %d (mark %d) after the rate was raised 0 -> 50%%, want 0 (mark 2,100)", fees[0], sc.rel(old).hwm/usdt)
	}
	// A new follow pays the new rate; the old one still 0, on new gains too.
	fresh := sc.follow(4, 2000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.wantRates(0, 5000)
	sc.leaderBuy() // both buy 500 USDT at 2,000 (the last price was 2,400)
	sc.trade(px(2600))
	// old: 1,000 USDT and 50 lots at 2,600 = 2,300 over its mark 2,100;
	// fresh: 1,500 + 25 lots at 2,600 = 2,150 over 2,000: half of 150.
	if fees := sc.settleFees(2); fees[0] != 0 || fees[1] != 75*usdt {
		t.Fatalf("paid %v, want [0 75 USDT]", fees)
	}
	if sc.rel(old).hwm != 2300*usdt || sc.rel(fresh).hwm != 2075*usdt {
		t.Fatalf("marks %d %d, want 2,300 and 2,075", sc.rel(old).hwm/usdt, sc.rel(fresh).hwm/usdt)
	}
}

// A cut applies to every open relation at once, each to min(its rate, the
// new rate); a raise after it leaves them at the cut; a closed relation
// keeps the rate it closed with. The relations' views are rebuilt with
// the command.
func TestProfitShareCutAppliesAtOnce(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 6)
	sc.setShare(2000)
	a := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.setShare(3000)
	sc.follow(4, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	gone := sc.follow(5, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.ok(Command{Kind: CmdUnfollow, Account: 5, Copy: CopySpec{Relation: gone}})
	sc.wantRates(2000, 3000, 3000)
	cut := func(bps int32) {
		t.Helper()
		c := Command{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: bps}}
		tr := newTouched(sc.s)
		out := sc.ok(c)
		tr.command(&c, resultOf(out), sc.evs)
		if !slices.Equal(tr.relations, []uint64{1, 2}) {
			t.Fatalf("rate %d touched relations %v, want the open ones [1 2]", bps, tr.relations)
		}
	}
	cut(2500) // above relation 1's: only relation 2 comes down
	sc.wantRates(2000, 2500, 3000)
	cut(500)
	sc.wantRates(500, 500, 3000)
	sc.setShare(4000)
	sc.wantRates(500, 500, 3000)
	sc.follow(6, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.wantRates(500, 500, 3000, 4000)
	// Relation 1 pays 5% of its 100 USDT gain at the next settlement.
	sc.leaderBuy()
	sc.trade(px(2400))
	if fees := sc.settleFees(4); fees[0] != 5*usdt || fees[1] != 5*usdt || fees[3] != 40*usdt {
		t.Fatalf("paid %v, want 5, 5, 0 and 40 USDT", fees)
	}
	if sc.rel(a).hwm != 1095*usdt {
		t.Fatalf("mark %d, want 1,095", sc.rel(a).hwm/usdt)
	}
}

// Unfollow settles at the relation's rate too: nothing after a raise from
// 0, the cut rate after a cut.
func TestProfitShareRateAtUnfollow(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	sc.setShare(0)
	zero := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.setShare(2000)
	cut := sc.follow(4, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.leaderBuy()
	sc.trade(px(2400)) // both NAVs 1,100
	sc.setShare(5000)
	sc.setShare(1000) // relation 2: 2000 -> 1000; relation 1 stays at 0
	sc.wantRates(0, 1000)
	for _, c := range []struct {
		rel, follower uint64
		fee           int64
	}{{zero, 3, 0}, {cut, 4, 10 * usdt}} {
		sc.ok(Command{Kind: CmdUnfollow, Account: c.follower, Copy: CopySpec{Relation: c.rel, Close: CloseKeep}})
		var fee int64
		for _, ev := range sc.events(EvProfitShare) {
			fee += ev.Amount
		}
		if fee != c.fee {
			t.Fatalf("unfollow of relation %d paid %d, want %d", c.rel, fee, c.fee)
		}
		sc.wantBal(c.follower, usdtID, 99_500*usdt-c.fee, 0)
		sc.wantBal(c.follower, ethID, 25*ethLot, 0)
	}
}

// rateState is a state whose leader raised its rate after a follow and
// cut it after another: relation 1 pays 0, relation 2 1000 bps, the
// leader's rate is 3000, and the wallets gained 100 USDT each since their
// marks.
func rateState(t *testing.T) *copyScenario {
	sc := newCopyScenario(t, 0, 0, 4)
	sc.setShare(0)
	sc.follow(3, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.setShare(2000)
	sc.follow(4, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.setShare(1000)
	sc.setShare(3000)
	sc.leaderBuy()
	sc.trade(px(2400))
	sc.wantRates(0, 1000)
	if c := sc.rel(1).carries; len(c) != 0 {
		t.Fatalf("remainders %v: the tests below take the list to be empty", c)
	}
	return sc
}

// A snapshot keeps each relation's rate: the restored state hashes the
// same and settles at the same rates, not at the leader's.
func TestProfitShareRateSnapshotRoundTrip(t *testing.T) {
	sc := rateState(t)
	snap := sc.s.AppendSnapshot(nil)
	s2, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Hash() != sc.s.Hash() || !bytes.Equal(s2.AppendSnapshot(nil), snap) {
		t.Fatal("restored state hashes differently")
	}
	rc := &copyScenario{&scenario{t: t, s: s2, seq: s2.Seq()}}
	rc.wantRates(0, 1000)
	want := sc.settleFees(2)
	if got := rc.settleFees(2); !slices.Equal(got, want) || !slices.Equal(want, []int64{0, 10 * usdt}) {
		t.Fatalf("restored state paid %v, the original %v; want [0 10 USDT]", got, want)
	}
	if s2.Hash() != sc.s.Hash() {
		t.Fatal("restored state diverges at settlement")
	}
}

// A snapshot whose relation rate breaks the rules is refused: above
// MaxProfitShareBps, negative, or (open relation) above its leader's.
func TestProfitShareRateSnapshotRefused(t *testing.T) {
	sc := rateState(t)
	snap := sc.s.AppendSnapshot(nil)
	body := snap[:len(snap)-4]
	// From the end: no remainders, then relations 1 and 2, each ending
	// with its rate.
	le := binary.LittleEndian
	rate := func(rel int) int { return len(body) - 4 - (2-rel)*relationSize - 4 }
	if le.Uint32(body[len(body)-4:]) != 0 || le.Uint32(body[rate(1):]) != 0 || le.Uint32(body[rate(2):]) != 1000 {
		t.Fatal("relation rates not found")
	}
	for name, v := range map[string]uint32{
		"above the maximum":  MaxProfitShareBps + 1,
		"negative":           1<<32 - 1,
		"above the leader's": 3001,
	} {
		b := bytes.Clone(body)
		le.PutUint32(b[rate(2):], v)
		b = le.AppendUint32(b, crc32.Checksum(b, crcTable))
		if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", name, err)
		}
	}
}

// A relation read from a snapshot of version 5 or older, which kept no
// rate per relation, pays its leader's rate as the snapshot has it: what
// the rules of those versions would have charged it next. Here relation 1,
// followed at 0 (as the rules of version 6 would say), pays the 3000 of
// its leader.
func TestProfitShareRateFromVersion5(t *testing.T) {
	sc := rateState(t)
	snap := sc.s.AppendSnapshot(nil)
	body := snap[:len(snap)-4]
	// From the end: remainders (none), the relations, the leader (one),
	// the withdrawal refs and deposit refs (none). Version 5 had one list
	// of transfer references and no rate at the end of a relation.
	le := binary.LittleEndian
	rels := len(body) - 4 - 2*relationSize
	leaders := rels - 4 - (8 + 4 + 8)
	if le.Uint32(body[rels-4:]) != 2 || le.Uint32(body[leaders-4:]) != 1 || le.Uint64(body[leaders-12:]) != 0 {
		t.Fatal("layout not as expected")
	}
	v5 := bytes.Clone(body[:leaders-8]) // one empty list of transfer references
	le.PutUint16(v5[4:], 5)
	v5 = append(v5, body[leaders-4:rels]...) // the leaders and the count of relations
	for i := range 2 {
		at := rels + i*relationSize
		v5 = append(v5, body[at:at+relationSize-4]...)
	}
	v5 = append(v5, 0, 0, 0, 0) // no remainders
	s5, err := DecodeState(le.AppendUint32(v5, crc32.Checksum(v5, crcTable)))
	if err != nil {
		t.Fatal(err)
	}
	rc := &copyScenario{&scenario{t: t, s: s5, seq: s5.Seq()}}
	rc.wantRates(3000, 3000)
	if fees := rc.settleFees(2); !slices.Equal(fees, []int64{30 * usdt, 30 * usdt}) {
		t.Fatalf("paid %v, want 30 USDT each", fees)
	}
	// Written back as version 6 with the rates: a cut still applies.
	s6, err := DecodeState(s5.AppendSnapshot(nil))
	if err != nil || s6.Hash() != s5.Hash() {
		t.Fatalf("re-encoded: %v, or hashes otherwise", err)
	}
	rc.setShare(100)
	rc.wantRates(100, 100)
}

// The version 4 golden snapshot (relations of a leader at 1000 bps)
// decodes with each relation at its leader's rate.
func TestProfitShareRateFromVersion4(t *testing.T) {
	data, err := os.ReadFile("testdata/snapshot-v4-copy.bin")
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(data[4:]); v != 4 {
		t.Fatalf("version %d", v)
	}
	s, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.relations.len() != 4 {
		t.Fatalf("%d relations, want 4", s.relations.len())
	}
	for i := range uint64(s.relations.len()) {
		r := s.relations.at(i)
		lead := s.leaderOf(r.leader).profitShareBps
		v, _ := s.RelationView(r.id)
		if lead != 1000 || r.shareBps != lead || v.ProfitShareBps != lead {
			t.Fatalf("relation %d (%s) pays %d (view %d), its leader's rate %d: want 1000", r.id, r.status, r.shareBps, v.ProfitShareBps, lead)
		}
	}
}

// Replaying the commands, from the start or from a snapshot taken after
// a raise, reproduces every event and the state hash, and the relations
// pay their own rates throughout: relation 1 (followed at 0) never pays,
// relation 2 (followed at 2000, cut to 1000) pays 20% then 10%.
func TestProfitShareRateReplay(t *testing.T) {
	cmds := genesis(4)
	buy := func(acct uint64, side book.Side, price, qty int64) Command {
		return Command{Kind: CmdPlace, Account: acct, Market: 1, Order: book.Order{Side: side, Price: price, Qty: qty}}
	}
	share := func(bps int32) Command {
		return Command{Kind: CmdSetLeaderProfile, Account: 1, Copy: CopySpec{ProfitShareBps: bps}}
	}
	follow := func(acct uint64) Command {
		return Command{Kind: CmdFollow, Account: acct, Asset: 2, Amount: 1_000_000,
			Copy: CopySpec{Leader: 1, Mode: CopyMultiplier, Value: ValueOne}}
	}
	trade := func(price int64) []Command {
		return []Command{{Kind: CmdCancelAll, Account: 2, Market: 1}, buy(2, book.Buy, price, 1), buy(2, book.Sell, price, 1)}
	}
	cmds = append(cmds, share(0), follow(3), buy(2, book.Sell, 100, 50), buy(1, book.Buy, 100, 20), share(5000))
	half := len(cmds)
	cmds = append(cmds, trade(150)...)
	cmds = append(cmds, Command{Kind: CmdSettle}, share(2000), follow(4), buy(2, book.Sell, 150, 100), buy(1, book.Buy, 150, 10))
	cmds = append(cmds, trade(200)...)
	cmds = append(cmds, Command{Kind: CmdSettle}, share(1000))
	cmds = append(cmds, trade(250)...)
	cmds = append(cmds, Command{Kind: CmdUnfollow, Account: 4, Copy: CopySpec{Relation: 2}}, Command{Kind: CmdSettle})
	for i := range cmds {
		cmds[i].Seq = uint64(i + 1)
	}
	run := func(s *State, from int) ([]Event, []int64) {
		var all, evs []Event
		paid := make([]int64, 2)
		for i := from; i < len(cmds); i++ {
			var out Outcome
			out, evs = s.Apply(&cmds[i], evs[:0])
			if out.Err != nil {
				t.Fatalf("command %d %v: %v", i+1, cmds[i].Kind, out.Err)
			}
			if err := s.Check(); err != nil {
				t.Fatalf("after command %d %v: %v", i+1, cmds[i].Kind, err)
			}
			for _, ev := range evs {
				if ev.Kind == EvProfitShare {
					paid[ev.Relation-1] += ev.Amount
				}
			}
			all = append(all, evs...)
		}
		return all, paid
	}
	s1 := NewState()
	for i := range half {
		s1.Apply(&cmds[i], nil)
	}
	if s1.relations.at(0).shareBps != 0 || s1.leaders.at(0).profitShareBps != 5000 {
		t.Fatal("setup: relation 1 should pay 0 under a leader at 5000")
	}
	snap := s1.AppendSnapshot(nil)
	evs1, paid := run(s1, half)
	if paid[0] != 0 || paid[1] == 0 || s1.relations.at(1).shareBps != 1000 {
		t.Fatalf("paid %v, relation 2 at %d bps: want [0 >0], 1000", paid, s1.relations.at(1).shareBps)
	}
	s2, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	evs2, _ := run(s2, half)
	s3 := NewState()
	evs3, _ := run(s3, 0)
	if s2.Hash() != s1.Hash() || s3.Hash() != s1.Hash() {
		t.Fatal("replays reached another state hash")
	}
	if !slices.Equal(evs2, evs1) || !slices.Equal(evs3[len(evs3)-len(evs1):], evs1) {
		t.Fatal("replays made other events")
	}
}
