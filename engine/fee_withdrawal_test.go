package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// feeScenario is a scenario whose fee account holds the fees of one
// trade of qty lots at 100 on BTC-USDT (taker 20 bps, maker 10 bps of
// 1,000 quote per lot): 3 × qty of USDT (asset 2).
func feeScenario(t *testing.T, qty int64) *scenario {
	sc := newScenario(t)
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: qty})
	if out := sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: qty}); out.Err != nil {
		t.Fatal(out.Err)
	}
	sc.wantBal(FeeAccount, 2, 3*qty, 0)
	return sc
}

// The fee account withdraws its fees as a user account withdraws: the
// balance and the asset's supply (deposits − withdrawals) go down; a
// resend of its ref moves nothing, a reuse with another asset or amount
// is a conflict; more than it holds is refused and keeps no ref; and
// nothing is ever deposited to it. Its refs are its own, apart from the
// users' withdrawal refs and from deposit refs. Copy wallets still
// cannot transfer.
func TestFeeWithdrawal(t *testing.T) {
	sc := feeScenario(t, 4) // 12 USDT of fees
	supply := sc.s.supply[1]
	sc.wantTransfer("fw-1", sc.transfer(CmdWithdraw, FeeAccount, 2, 5, "fw-1"), "new")
	sc.wantBal(FeeAccount, 2, 7, 0)
	if got := sc.s.supply[1]; got != supply-5 {
		t.Fatalf("USDT supply %d after the fee withdrawal, want %d", got, supply-5)
	}
	if v, err := sc.s.AccountView(FeeAccount); err != nil || len(v.Balances) != 1 || v.Balances[0].Available != 7 {
		t.Fatalf("fee account view %+v, %v", v, err)
	}

	before := hashNoSeq(sc.s)
	sc.wantTransfer("fw-1 resent", sc.transfer(CmdWithdraw, FeeAccount, 2, 5, "fw-1"), "duplicate")
	sc.wantTransfer("fw-1, another amount", sc.transfer(CmdWithdraw, FeeAccount, 2, 4, "fw-1"), "conflict")
	sc.wantTransfer("fw-1, another asset", sc.transfer(CmdWithdraw, FeeAccount, 1, 5, "fw-1"), "conflict")
	for _, c := range []struct {
		what string
		cmd  Command
		want error
	}{
		{"more than the fees", Command{Kind: CmdWithdraw, Account: FeeAccount, Asset: 2, Amount: 8, Ref: mustRef("fw-2")}, ErrInsufficientFunds},
		{"an asset without fees", Command{Kind: CmdWithdraw, Account: FeeAccount, Asset: 1, Amount: 1, Ref: mustRef("fw-3")}, ErrInsufficientFunds},
		{"nothing", Command{Kind: CmdWithdraw, Account: FeeAccount, Asset: 2, Amount: 0, Ref: mustRef("fw-4")}, ErrInvalidAmount},
		{"no asset", Command{Kind: CmdWithdraw, Account: FeeAccount, Asset: 9, Amount: 1, Ref: mustRef("fw-5")}, ErrUnknownAsset},
		{"a deposit to the fee account", Command{Kind: CmdDeposit, Account: FeeAccount, Asset: 2, Amount: 1, Ref: mustRef("fd-1")}, ErrUnknownAccount},
		{"a deposit to the fee account without a ref", Command{Kind: CmdDeposit, Account: FeeAccount, Asset: 2, Amount: 1}, ErrUnknownAccount},
	} {
		if out := sc.do(c.cmd); !errors.Is(out.Err, c.want) || out.Duplicate {
			t.Fatalf("%s: %+v, want %v", c.what, out, c.want)
		}
	}
	if hashNoSeq(sc.s) != before {
		t.Fatal("a duplicate, conflicting or refused transfer of the fee account changed the state")
	}
	// The refused fw-2 kept no ref: within the balance it is new.
	sc.wantTransfer("fw-2 within the fees", sc.transfer(CmdWithdraw, FeeAccount, 2, 6, "fw-2"), "new")
	// Without a ref, as any withdrawal.
	if out := sc.transfer(CmdWithdraw, FeeAccount, 2, 1, ""); out.Err != nil || out.Duplicate {
		t.Fatalf("fee withdrawal without a ref: %+v", out)
	}
	sc.wantBal(FeeAccount, 2, 0, 0)
	// Apart from the users' withdrawal refs and from deposit refs.
	sc.wantTransfer("account 1's fw-1", sc.transfer(CmdWithdraw, 1, 2, 5, "fw-1"), "new")
	sc.wantTransfer("deposit fw-9", sc.transfer(CmdDeposit, 1, 2, 3, "fw-9"), "new")
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: 4})
	sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: 4})
	sc.wantTransfer("fee fw-9", sc.transfer(CmdWithdraw, FeeAccount, 2, 3, "fw-9"), "new")
	sc.wantTransfer("account 1's fw-1 resent", sc.transfer(CmdWithdraw, 1, 2, 5, "fw-1"), "duplicate")
	sc.wantTransfer("fee fw-1 resent", sc.transfer(CmdWithdraw, FeeAccount, 2, 5, "fw-1"), "duplicate")
	sc.wantBal(FeeAccount, 2, 9, 0)
	// A copy wallet still cannot transfer: the fee account is the only
	// account beside the users' that withdraws.
	sc.do(Command{Kind: CmdSetLeaderProfile, Account: 1})
	out := sc.do(Command{Kind: CmdFollow, Account: 2, Asset: 2, Amount: 1000, Copy: CopySpec{Leader: 1, Mode: CopyMultiplier, Value: ValueOne}})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	wallet := sc.s.relations.at(out.ID - 1).wallet
	for _, kind := range []CommandKind{CmdWithdraw, CmdDeposit} {
		if out := sc.transfer(kind, wallet, 2, 1, "x"); !errors.Is(out.Err, ErrUnknownAccount) {
			t.Fatalf("%s of copy wallet %d: %+v", kind, wallet, out)
		}
	}
}

// The fee account keeps the refs of its last WithdrawalRefWindow
// withdrawals as any account does, in a window of its own: the oldest is
// forgotten first, and its resend withdraws again. Its window round-trips
// through a snapshot (the first in the list by account id), with the
// same hash, and the restored state forgets in the same order.
func TestFeeWithdrawalRefWindow(t *testing.T) {
	sc := feeScenario(t, 3000) // 9,000 USDT of fees
	sc.wantTransfer("account 1's w-0", sc.transfer(CmdWithdraw, 1, 2, 1, "w-0"), "new")
	ref := func(i int) string { return fmt.Sprint("w-", i) }
	sc.noCheck = true
	for i := range WithdrawalRefWindow + 1 {
		sc.wantTransfer(ref(i), sc.transfer(CmdWithdraw, FeeAccount, 2, 1, ref(i)), "new")
	}
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
	if n := sc.s.accounts.at(FeeAccount).withdrawals.len(); n != WithdrawalRefWindow {
		t.Fatalf("fee account's window holds %d refs", n)
	}
	sc.wantTransfer("w-1 resent", sc.transfer(CmdWithdraw, FeeAccount, 2, 1, ref(1)), "duplicate")
	sc.wantTransfer("w-1, another amount", sc.transfer(CmdWithdraw, FeeAccount, 2, 2, ref(1)), "conflict")
	sc.wantBal(FeeAccount, 2, 9000-WithdrawalRefWindow-1, 0)
	// w-0 was forgotten: its resend withdraws again and forgets w-1.
	sc.wantTransfer("w-0 resent", sc.transfer(CmdWithdraw, FeeAccount, 2, 1, ref(0)), "new")
	sc.wantTransfer("w-1 resent after w-0", sc.transfer(CmdWithdraw, FeeAccount, 2, 1, ref(1)), "new")
	sc.wantBal(FeeAccount, 2, 9000-WithdrawalRefWindow-3, 0)
	sc.wantTransfer("account 1's w-0 resent", sc.transfer(CmdWithdraw, 1, 2, 1, "w-0"), "duplicate")
	for i := range 100 {
		sc.wantTransfer("more", sc.transfer(CmdWithdraw, FeeAccount, 2, 1, ref(WithdrawalRefWindow+1+i)), "new")
	}
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
	snap := sc.s.AppendSnapshot(nil)
	restored, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(restored.AppendSnapshot(nil), snap) || restored.Hash() != sc.s.Hash() {
		t.Fatal("re-encoding or hash differs")
	}
	rc := &scenario{t: t, s: restored, seq: sc.seq, noCheck: true}
	for i := range 40 {
		r := ref(i * (WithdrawalRefWindow / 16))
		a, b := sc.transfer(CmdWithdraw, FeeAccount, 2, 1, r), rc.transfer(CmdWithdraw, FeeAccount, 2, 1, r)
		if a != b {
			t.Fatalf("%s: %+v, restored %+v", r, a, b)
		}
	}
	if sc.s.Hash() != restored.Hash() {
		t.Fatal("the restored state forgot otherwise")
	}
}

// A snapshot keeps the fee account's withdrawal refs (account 0, first in
// the list): the restored state has the same hash, answers a resend as a
// duplicate and a reuse as a conflict, and a snapshot taken before the
// withdrawal differs (the refs are part of the state hash).
func TestFeeWithdrawalSnapshot(t *testing.T) {
	sc := feeScenario(t, 4)
	sc.wantTransfer("account 1's w-1", sc.transfer(CmdWithdraw, 1, 2, 1, "w-1"), "new")
	beforeFee := sc.s.Hash()
	sc.wantTransfer("fw-1", sc.transfer(CmdWithdraw, FeeAccount, 2, 5, "fw-1"), "new")
	sc.wantTransfer("fw-2", sc.transfer(CmdWithdraw, FeeAccount, 2, 2, "fw-2"), "new")
	snap := sc.s.AppendSnapshot(nil)
	// Account 0's refs, oldest first, then account 1's.
	at := func(acct uint64, ref string) int {
		r := mustRef(ref)
		return bytes.Index(snap, append(binary.LittleEndian.AppendUint64(nil, acct), r[:]...))
	}
	if a, b, c := at(FeeAccount, "fw-1"), at(FeeAccount, "fw-2"), at(1, "w-1"); a < 0 || !(a < b && b < c) {
		t.Fatalf("withdrawal refs at %d, %d, %d of the snapshot: want the fee account's first, oldest first", a, b, c)
	}
	restored, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Hash() != sc.s.Hash() || !bytes.Equal(restored.AppendSnapshot(nil), snap) {
		t.Fatal("restored state differs")
	}
	if restored.Hash() == beforeFee {
		t.Fatal("the fee withdrawals left the hash as it was")
	}
	rc := &scenario{t: t, s: restored, seq: sc.seq}
	rc.wantTransfer("fw-1 resent", rc.transfer(CmdWithdraw, FeeAccount, 2, 5, "fw-1"), "duplicate")
	rc.wantTransfer("fw-2, another amount", rc.transfer(CmdWithdraw, FeeAccount, 2, 3, "fw-2"), "conflict")
	rc.wantBal(FeeAccount, 2, 5, 0)
}
