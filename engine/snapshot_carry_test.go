package engine

import (
	"os"
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
	const file = "testdata/snapshot-v4-copy.bin"
	s := goldenCopyState(t)
	if os.Getenv("IST_WRITE_SNAPSHOT_V4") != "" {
		if err := os.WriteFile(file, s.AppendSnapshot(nil), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if v := int(data[4]) | int(data[5])<<8; v != 4 {
		t.Fatalf("%s is version %d", file, v)
	}
	restored, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Hash() != s.Hash() {
		t.Fatal("the version 4 snapshot restored another state")
	}
}
