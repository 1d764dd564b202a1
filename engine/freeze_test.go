package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Freezing accounts (CmdSetAccountFrozen). The scenario's markets are 1
// BTC-USDT (assets 1 and 2) and 2 ETH-BTC (assets 3 and 1); every command
// is followed by State.Check (sc.do): money conserved per asset, no
// negative balance, locks equal to what live orders reserve, and no live
// order of a frozen account.

func freeze(acct uint64, frozen bool) Command {
	return Command{Kind: CmdSetAccountFrozen, Account: acct, Frozen: frozen}
}

// freezeState builds, deterministically, a state where account 2 has, in
// both markets, resting orders (one partly filled in each, one with a
// client order id) and pending stops (a stop-limit buy, a stop-market
// sell), and accounts 1 and 3 have orders of their own. It returns the
// ids of account 2's live orders, in id order. Version 6 wrote
// testdata/snapshot-v6-freeze.bin from it.
func freezeState(t *testing.T) (*scenario, []uint64) {
	t.Helper()
	sc := newScenario(t)
	var ids []uint64
	ok := func(c Command) uint64 {
		t.Helper()
		out := sc.do(c)
		if out.Err != nil {
			t.Fatalf("%v %+v: %v", c.Kind, c.Order, out.Err)
		}
		return out.ID
	}
	place := func(acct uint64, market uint32, ref string, o book.Order) uint64 {
		t.Helper()
		c := Command{Kind: CmdPlace, Account: acct, Market: market, Order: o}
		if ref != "" {
			c.Ref = mustRef(ref)
		}
		return ok(c)
	}
	ids = append(ids, place(2, 1, "", book.Order{Side: book.Sell, Price: 110, Qty: 10}))
	place(1, 1, "", book.Order{Side: book.Buy, Price: 110, Qty: 4}) // fills 4 of it
	ids = append(ids, place(2, 1, "frz-b", book.Order{Side: book.Buy, Price: 95, Qty: 5}))
	ids = append(ids, place(2, 1, "", book.Order{Side: book.Buy, Type: book.StopLimit, StopPrice: 120, Price: 121, Qty: 2}))
	ids = append(ids, place(2, 1, "", book.Order{Side: book.Sell, Type: book.StopMarket, StopPrice: 90, Qty: 1}))
	ids = append(ids, place(2, 2, "", book.Order{Side: book.Sell, Price: 100, Qty: 30}))
	place(3, 2, "", book.Order{Side: book.Buy, Price: 100, Qty: 9}) // fills 9 of it
	place(3, 2, "", book.Order{Side: book.Buy, Price: 50, Qty: 6})
	place(1, 1, "", book.Order{Side: book.Sell, Price: 130, Qty: 3})
	if got := sc.s.liveOrdersOf(2); !slices.Equal(got, ids) {
		t.Fatalf("account 2's live orders %v, want %v", got, ids)
	}
	return sc, ids
}

// Freezing cancels every live order of the account, resting or pending
// stop, partly filled or not, in both markets, in order id order, each
// with reason account_frozen and its reservation released; the others'
// orders stay. A second freeze changes nothing; an unfreeze restores
// trading, the cancelled orders staying cancelled.
func TestFreezeCancelsEverything(t *testing.T) {
	sc, ids := freezeState(t)
	before := totals(sc.s)
	others := sc.s.orders.len() - len(ids)
	out := sc.do(freeze(2, true))
	if out.Err != nil || out.ID != uint64(len(ids)) {
		t.Fatalf("freeze: %+v", out)
	}
	var got []uint64
	for _, e := range sc.evs {
		if e.Kind != book.EvCancelled || e.Reason != book.ReasonAccountFrozen || e.Owner != 2 {
			t.Fatalf("freeze gave %+v", e)
		}
		got = append(got, e.OrderID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("cancelled %v, want %v in id order", got, ids)
	}
	if n := sc.s.orders.len(); n != others {
		t.Fatalf("%d live orders, want the others' %d", n, others)
	}
	for asset := uint32(1); asset <= 3; asset++ {
		if _, locked := sc.bal(2, asset); locked != 0 {
			t.Fatalf("asset %d: %d still locked", asset, locked)
		}
	}
	if !slices.Equal(totals(sc.s), before) {
		t.Fatalf("totals %v, were %v", totals(sc.s), before)
	}
	v, _ := sc.s.AccountView(2)
	if !v.Frozen {
		t.Fatal("view: not frozen")
	}

	h := hashNoSeq(sc.s)
	if out := sc.do(freeze(2, true)); out.Err != nil || out.ID != 0 || len(sc.evs) != 0 {
		t.Fatalf("freeze again: %+v %+v", out, sc.evs)
	}
	if hashNoSeq(sc.s) != h {
		t.Fatal("a second freeze changed the state")
	}
	if out := sc.do(freeze(1, false)); out.Err != nil || len(sc.evs) != 0 {
		t.Fatalf("unfreeze of an account not frozen: %+v", out)
	}
	if hashNoSeq(sc.s) != h {
		t.Fatal("unfreezing an account not frozen changed the state")
	}

	if out := sc.do(freeze(2, false)); out.Err != nil || out.ID != 0 || len(sc.evs) != 0 {
		t.Fatalf("unfreeze: %+v %+v", out, sc.evs)
	}
	if v, _ := sc.s.AccountView(2); v.Frozen {
		t.Fatal("view: still frozen")
	}
	for _, id := range ids {
		if sc.s.orders.get(id) != nil {
			t.Fatalf("order %d live again", id)
		}
	}
	if out := sc.do(Command{Kind: CmdCancel, Account: 2, OrderID: ids[0]}); !errors.Is(out.Err, ErrUnknownOrder) {
		t.Fatalf("cancel of a cancelled order: %v", out.Err)
	}
	if out := sc.place(2, book.Order{Side: book.Buy, Price: 100, Qty: 1}); out.Err != nil {
		t.Fatalf("place after unfreeze: %v", out.Err)
	}
}

// Unknown accounts, the fee account and copy wallets cannot be frozen.
func TestFreezeUnknownAccount(t *testing.T) {
	sc := newCopyScenario(t, 10, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	h := hashNoSeq(sc.s)
	for _, acct := range []uint64{FeeAccount, 4 + 1, 99, sc.rel(rel).wallet} {
		if out := sc.do(freeze(acct, true)); !errors.Is(out.Err, ErrUnknownAccount) {
			t.Fatalf("freeze %d: %v", acct, out.Err)
		}
	}
	if hashNoSeq(sc.s) != h {
		t.Fatal("a refused freeze changed the state")
	}
}

// While frozen, every command the account may not make fails with
// ErrAccountFrozen and leaves the state exactly as it was; cancels,
// deposits and reads still work, and a resend of a client order id or a
// withdrawal ref made before the freeze answers the original.
func TestFrozenRefusals(t *testing.T) {
	sc := newCopyScenario(t, 10, 0, 5)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	placed := sc.ok(Command{Kind: CmdPlace, Account: 3, Market: 1, Ref: mustRef("c1"),
		Order: book.Order{Side: book.Buy, Price: px(1000), Qty: 1}})
	sc.ok(Command{Kind: CmdWithdraw, Account: 3, Asset: usdtID, Amount: usdt, Ref: mustRef("w1")})
	sc.ok(freeze(3, true))
	sc.ok(freeze(4, true)) // neither leads nor follows
	sc.ok(freeze(leader1, true))
	h := hashNoSeq(sc.s)
	for _, c := range []Command{
		{Kind: CmdPlace, Account: 3, Market: 1, Order: book.Order{Side: book.Buy, Price: px(1000), Qty: 1}},
		{Kind: CmdPlace, Account: 3, Market: 1, Ref: mustRef("c2"), Order: book.Order{Side: book.Sell, Type: book.Market, Qty: 1}},
		{Kind: CmdPlace, Account: leader1, Market: 1, Order: book.Order{Side: book.Buy, Price: px(1000), Qty: 1}},
		{Kind: CmdAmend, Account: 3, OrderID: placed.ID, Order: book.Order{Price: px(999), Qty: 1}},
		{Kind: CmdAmendTotal, Account: 3, OrderID: placed.ID, Order: book.Order{Qty: 2}},
		{Kind: CmdAmendTotal, Account: 3, Ref: mustRef("c1"), Order: book.Order{Qty: 2}},
		{Kind: CmdWithdraw, Account: 3, Asset: usdtID, Amount: usdt},
		{Kind: CmdWithdraw, Account: 3, Asset: usdtID, Amount: 2 * usdt, Ref: mustRef("w2")},
		{Kind: CmdFollow, Account: 4, Asset: usdtID, Amount: usdt, Copy: CopySpec{Leader: leader1, Mode: CopyProportional, Value: ValueOne}},
		{Kind: CmdAmendFollow, Account: 3, Amount: usdt, Copy: CopySpec{Relation: rel, Mode: CopyProportional, Value: ValueOne}},
		{Kind: CmdPauseFollow, Account: 3, Copy: CopySpec{Relation: rel}},
		{Kind: CmdResumeFollow, Account: 3, Copy: CopySpec{Relation: rel}},
		{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: rel, Close: CloseMarket}},
		{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: 500}},
		{Kind: CmdSetLeaderProfile, Account: 4, Copy: CopySpec{ProfitShareBps: 500}},
	} {
		out := sc.do(c)
		if !errors.Is(out.Err, ErrAccountFrozen) || len(sc.evs) != 0 {
			t.Errorf("%v of account %d: %+v %v, want ErrAccountFrozen", c.Kind, c.Account, out, sc.evs)
		}
		if hashNoSeq(sc.s) != h {
			t.Fatalf("%v of account %d changed the state", c.Kind, c.Account)
		}
	}
	// Nor can the follower trade through its copy wallet: no command
	// names a wallet.
	w := sc.rel(rel).wallet
	for _, c := range []Command{
		{Kind: CmdPlace, Account: w, Market: 1, Order: book.Order{Side: book.Buy, Price: px(1000), Qty: 1}},
		{Kind: CmdWithdraw, Account: w, Asset: usdtID, Amount: 1},
		{Kind: CmdFollow, Account: w, Asset: usdtID, Amount: 1, Copy: CopySpec{Leader: leader1, Mode: CopyProportional, Value: ValueOne}},
		{Kind: CmdSetLeaderProfile, Account: w},
	} {
		if out := sc.do(c); !errors.Is(out.Err, ErrUnknownAccount) || hashNoSeq(sc.s) != h {
			t.Errorf("%v of the frozen follower's wallet %d: %+v", c.Kind, w, out)
		}
	}
	// Resends of what was done before the freeze answer the original.
	if out := sc.do(Command{Kind: CmdPlace, Account: 3, Market: 1, Ref: mustRef("c1"),
		Order: book.Order{Side: book.Buy, Price: px(1000), Qty: 1}}); out.Err != nil || !out.Duplicate || out.ID != placed.ID {
		t.Fatalf("resend of c1: %+v", out)
	}
	if out := sc.do(Command{Kind: CmdWithdraw, Account: 3, Asset: usdtID, Amount: usdt, Ref: mustRef("w1")}); out.Err != nil || !out.Duplicate {
		t.Fatalf("resend of w1: %+v", out)
	}
	if hashNoSeq(sc.s) != h {
		t.Fatal("a resend changed the state")
	}
	// Still allowed: cancels (of nothing), deposits, views.
	if out := sc.do(Command{Kind: CmdCancel, Account: 3, OrderID: placed.ID}); !errors.Is(out.Err, ErrUnknownOrder) {
		t.Fatalf("cancel: %v", out.Err)
	}
	if out := sc.do(Command{Kind: CmdCancelAll, Account: 3, Market: 1}); out.Err != nil || out.ID != 0 {
		t.Fatalf("cancel all: %+v", out)
	}
	sc.ok(Command{Kind: CmdDeposit, Account: 3, Asset: usdtID, Amount: 5 * usdt})
	if _, err := sc.s.RelationView(rel); err != nil {
		t.Fatal(err)
	}
	// A withdrawal by the fee account is no frozen account's.
	if a, _ := sc.bal(FeeAccount, usdtID); a > 0 {
		sc.ok(Command{Kind: CmdWithdraw, Account: FeeAccount, Asset: usdtID, Amount: a})
	}
	// Unfrozen, the same commands work again.
	sc.ok(freeze(3, false))
	sc.ok(Command{Kind: CmdWithdraw, Account: 3, Asset: usdtID, Amount: 2 * usdt, Ref: mustRef("w2")})
	sc.ok(Command{Kind: CmdPauseFollow, Account: 3, Copy: CopySpec{Relation: rel}})
	sc.ok(Command{Kind: CmdPlace, Account: 3, Market: 1, Order: book.Order{Side: book.Buy, Price: px(1000), Qty: 1}})
}

// A frozen follower's relation skips every fill of its leader, buys and
// sells, with reason account_frozen, and its wallet trades nothing; the
// other followers mirror as before. Its stop-loss still closes it (at a
// Settle) and profit share is still paid. Unfrozen, it mirrors again.
func TestFrozenFollower(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	frozen := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne, StopLossBps: 500})
	other := sc.follow(4, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	// The frozen follower holds ETH from before its freeze.
	sc.lim(maker, book.Sell, px(2000), 300)
	sc.lim(leader1, book.Buy, px(2000), 250)
	q0, b0 := sc.wallet(frozen)
	if b0 == 0 {
		t.Fatal("setup: the follower bought nothing")
	}
	sc.ok(freeze(3, true))
	if len(sc.evs) != 0 {
		t.Fatalf("freezing a follower with nothing live gave %+v", sc.evs)
	}

	// The leader sells half: the frozen relation skips, the other sells.
	sc.lim(maker, book.Buy, px(2000), 500)
	oq, ob := sc.wallet(other)
	sc.lim(leader1, book.Sell, px(2000), 125)
	skipped := sc.events(EvCopySkipped)
	if len(skipped) != 1 || skipped[0].Relation != frozen || skipped[0].CopyReason != CopyAccountFrozen ||
		skipped[0].Side != book.Sell || skipped[0].Owner != 3 {
		t.Fatalf("skipped %+v, want one sell of relation %d with account_frozen", skipped, frozen)
	}
	if CopyAccountFrozen.String() != "account_frozen" {
		t.Fatalf("reason named %q", CopyAccountFrozen)
	}
	sc.wantWallet(frozen, q0, b0)
	if q, b := sc.wallet(other); q <= oq || b >= ob {
		t.Fatalf("the other follower did not sell: %d %d, was %d %d", q, b, oq, ob)
	}
	// A buy is skipped as well.
	sc.lim(maker, book.Sell, px(2100), 10)
	sc.lim(leader1, book.Buy, px(2100), 10)
	if s := sc.events(EvCopySkipped); len(s) == 0 || s[0].Relation != frozen || s[0].CopyReason != CopyAccountFrozen || s[0].Side != book.Buy {
		t.Fatalf("skipped %+v", s)
	}
	sc.wantWallet(frozen, q0, b0)

	// The price falls 15%: at the next Settle the frozen follower's
	// stop-loss (5%) sells its ETH and closes the relation.
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Buy, px(1700), 1)
	sc.lim(leader1, book.Sell, px(1700), 1)
	sc.lim(maker, book.Buy, px(1695), 100) // a bid for the close to sell to (at most 0.5% below)
	sc.ok(Command{Kind: CmdSettle})
	closed := sc.events(EvCopyClosed)
	if len(closed) != 1 || closed[0].Relation != frozen || closed[0].CopyReason != CopyStopLoss {
		t.Fatalf("closed %+v, want relation %d by stop_loss", closed, frozen)
	}
	if sc.rel(frozen).status != RelationClosed {
		t.Fatal("relation still open")
	}
	sc.wantWallet(frozen, 0, 0)
	sc.wantBal(3, ethID, 0, 0) // sold, not returned as ETH

	// Unfrozen, account 3 follows again and mirrors.
	sc.ok(freeze(3, false))
	again := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	sc.lim(maker, book.Sell, px(1800), 100)
	sc.lim(leader1, book.Buy, px(1800), 10)
	if _, b := sc.wallet(again); b == 0 {
		t.Fatalf("relation %d mirrored nothing after the unfreeze: %+v", again, sc.evs)
	}
}

// Profit share is settled for a frozen follower, and paid to a frozen
// leader; a frozen leader's relations stay open and mirror nothing, as it
// cannot trade.
func TestFrozenProfitShare(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 275)
	sc.lim(leader1, book.Buy, px(2000), 250) // and the mirror, 25
	// The price rises: the relation's NAV is above its high-water mark.
	sc.lim(maker, book.Sell, px(2400), 1)
	sc.lim(leader1, book.Buy, px(2400), 1)
	sc.ok(freeze(3, true))
	sc.ok(freeze(leader1, true))
	la, _ := sc.bal(leader1, usdtID)
	sc.ok(Command{Kind: CmdSettle})
	paid := sc.events(EvProfitShare)
	if len(paid) != 1 || paid[0].Relation != rel || paid[0].Amount <= 0 {
		t.Fatalf("profit share %+v", paid)
	}
	if a, _ := sc.bal(leader1, usdtID); a != la+paid[0].Amount {
		t.Fatalf("leader available %d, want %d", a, la+paid[0].Amount)
	}
	if sc.rel(rel).status != RelationActive {
		t.Fatal("the relation closed")
	}
}

// The flag is part of the state: its snapshot round trip keeps it, its
// hash depends on it, and a replay of the commands reaches the same hash.
func TestFreezeSnapshotReplay(t *testing.T) {
	sc, _ := freezeState(t)
	var cmds []Command
	do := func(c Command) {
		sc.do(c)
		c.Seq = sc.seq
		cmds = append(cmds, c)
	}
	h0 := sc.s.Hash()
	do(freeze(2, true))
	do(freeze(3, true))
	do(freeze(3, false))
	do(freeze(1, true))
	snap := sc.s.AppendSnapshot(nil)
	restored, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Check(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(restored.AppendSnapshot(nil), snap) || restored.Hash() != sc.s.Hash() {
		t.Fatal("the restored state differs")
	}
	for id, want := range map[uint64]bool{1: true, 2: true, 3: false} {
		v, _ := restored.AccountView(id)
		if v.Frozen != want {
			t.Fatalf("account %d frozen %v, want %v", id, v.Frozen, want)
		}
	}
	var evs []Event
	if out, _ := restored.Apply(&Command{Kind: CmdPlace, Seq: sc.seq + 1, Account: 2, Market: 1,
		Order: book.Order{Side: book.Buy, Price: 100, Qty: 1}}, evs); !errors.Is(out.Err, ErrAccountFrozen) {
		t.Fatalf("restored: place by a frozen account: %v", out.Err)
	}
	// The hash tells frozen from not frozen.
	sc.do(freeze(1, false))
	sc.do(freeze(2, false))
	unfrozen := hashNoSeq(sc.s)
	sc.do(freeze(2, true))
	if hashNoSeq(sc.s) == unfrozen {
		t.Fatal("the hash does not depend on the flag")
	}
	// Replay: the state before the freezes plus the same commands.
	sc2, _ := freezeState(t)
	if sc2.s.Hash() != h0 {
		t.Fatal("freezeState is not deterministic")
	}
	for _, c := range cmds {
		sc2.do(c)
	}
	if sc2.s.Hash() != sha256.Sum256(snap) {
		t.Fatal("the replay reached another state")
	}
}

// A version 6 snapshot (before the flag) restores with no account frozen.
// IST_WRITE_SNAPSHOT_V6=1 with the release that wrote version 6 writes
// the file.
func TestSnapshotVersion6Freeze(t *testing.T) {
	sc, _ := freezeState(t)
	restored := golden(t, "testdata/snapshot-v6-freeze.bin", 6, "IST_WRITE_SNAPSHOT_V6", sc.s)
	if restored == nil {
		return
	}
	if err := restored.Check(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(restored.AppendSnapshot(nil), sc.s.AppendSnapshot(nil)) {
		t.Fatal("the version 6 snapshot restored another state")
	}
	for id := range uint64(restored.accounts.len()) {
		if restored.accounts.at(id).frozen {
			t.Fatalf("account %d frozen", id)
		}
	}
}

// A state with a frozen account is written in version 7, with the list of
// frozen accounts; one without, in version 6 as before. A version 7
// snapshot whose list is empty, out of order, or names an account that
// cannot be frozen is refused.
func TestSnapshotFrozenVersions(t *testing.T) {
	sc, _ := freezeState(t)
	if v := binary.LittleEndian.Uint16(sc.s.AppendSnapshot(nil)[4:]); v != 6 {
		t.Fatalf("nothing frozen: version %d, want 6", v)
	}
	sc.do(freeze(1, true))
	sc.do(freeze(3, true))
	snap := sc.s.AppendSnapshot(nil)
	if v := binary.LittleEndian.Uint16(snap[4:]); v != 7 {
		t.Fatalf("frozen: version %d, want 7", v)
	}
	// The list ends the body: a count, then the ids 1 and 3.
	body := snap[:len(snap)-4]
	list := body[len(body)-4-16:]
	want := binary.LittleEndian.AppendUint32(nil, 2)
	want = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(want, 1), 3)
	if !bytes.Equal(list, want) {
		t.Fatalf("frozen list % x, want % x", list, want)
	}
	head := body[:len(body)-len(list)]
	seal := func(list []byte) []byte {
		b := append(bytes.Clone(head), list...)
		return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	}
	ids := func(ids ...uint64) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(ids)))
		for _, id := range ids {
			b = binary.LittleEndian.AppendUint64(b, id)
		}
		return b
	}
	if st, err := DecodeState(seal(ids(1, 3))); err != nil || st.Hash() != sc.s.Hash() {
		t.Fatalf("resealed: %v", err)
	}
	for name, l := range map[string][]byte{
		"empty":        ids(),
		"out of order": ids(3, 1),
		"twice":        ids(1, 1),
		"fee account":  ids(FeeAccount, 1),
		"unknown":      ids(1, 99),
		"cut short":    ids(1, 3)[:12],
	} {
		if _, err := DecodeState(seal(l)); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", name, err)
		}
	}
	// Frozen with a live order: Check refuses it.
	sc2, _ := freezeState(t)
	snap2 := sc2.s.AppendSnapshot(nil)
	b := bytes.Clone(snap2[:len(snap2)-4])
	binary.LittleEndian.PutUint16(b[4:], 7)
	b = append(b, ids(2)...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("frozen account with live orders: %v", err)
	}
}
