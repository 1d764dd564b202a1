package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"testing"
)

// transfer applies a deposit or withdrawal with a ref ("" for none).
func (sc *scenario) transfer(kind CommandKind, acct uint64, asset uint32, amount int64, ref string) Outcome {
	sc.t.Helper()
	return sc.do(Command{Kind: kind, Account: acct, Asset: asset, Amount: amount, Ref: mustRef(ref)})
}

// wantTransfer fails the test unless out is what a transfer's ref makes
// of it: "new" (applied), "duplicate" (nothing moved) or "conflict"
// (ErrRefConflict).
func (sc *scenario) wantTransfer(what string, out Outcome, want string) {
	sc.t.Helper()
	got := "new"
	switch {
	case errors.Is(out.Err, ErrRefConflict) && !out.Duplicate:
		got = "conflict"
	case out.Err != nil:
		got = out.Err.Error()
	case out.Duplicate:
		got = "duplicate"
	}
	if got != want {
		sc.t.Fatalf("%s: %s, want %s", what, got, want)
	}
}

// Deposit refs are one namespace for the whole exchange: the ref of a
// deposit made cannot credit another account, asset or amount (a deposit
// pipeline keyed by a bank transfer id that retries with a corrected
// account must not credit twice), and an identical resend moves nothing.
// A deposit that fails keeps no ref.
func TestDepositRefExchangeWide(t *testing.T) {
	sc := newScenario(t)
	sc.wantTransfer("bank-1 to 1", sc.transfer(CmdDeposit, 1, 2, 100, "bank-1"), "new")
	before := hashNoSeq(sc.s)
	for _, c := range []struct {
		acct   uint64
		asset  uint32
		amount int64
	}{{2, 2, 100}, {3, 2, 100}, {1, 1, 100}, {1, 2, 99}} {
		sc.wantTransfer(fmt.Sprintf("bank-1 again as %+v", c), sc.transfer(CmdDeposit, c.acct, c.asset, c.amount, "bank-1"), "conflict")
	}
	sc.wantTransfer("bank-1 resent", sc.transfer(CmdDeposit, 1, 2, 100, "bank-1"), "duplicate")
	if hashNoSeq(sc.s) != before {
		t.Fatal("a conflicting or duplicate deposit changed the state")
	}
	sc.wantBal(1, 2, funded+100, 0)
	sc.wantBal(2, 2, funded, 0)
	sc.wantBal(3, 2, funded, 0)
	// Genesis deposited "g1-1" to account 1: no other account can take it.
	sc.wantTransfer("g1-1 to 2", sc.transfer(CmdDeposit, 2, 1, funded, "g1-1"), "conflict")
	// A deposit that fails (here it would overflow) keeps no ref: the
	// corrected one takes it.
	if out := sc.transfer(CmdDeposit, 2, 2, math.MaxInt64, "bank-2"); !errors.Is(out.Err, ErrOverflow) {
		t.Fatalf("overflowing deposit: %+v", out)
	}
	sc.wantTransfer("bank-2 corrected", sc.transfer(CmdDeposit, 3, 2, 7, "bank-2"), "new")
	sc.wantTransfer("bank-2 to 2 again", sc.transfer(CmdDeposit, 2, 2, 7, "bank-2"), "conflict")
	sc.wantBal(2, 2, funded, 0)
	sc.wantBal(3, 2, funded+7, 0)
}

// Withdrawal refs are per account and apart from deposit refs: a user's
// withdrawal ref never blocks the admin's deposit of the same ref, to that
// user or anyone, nor the reverse. A withdrawal that fails keeps no ref.
func TestWithdrawalRefsApartFromDeposits(t *testing.T) {
	sc := newScenario(t)
	sc.wantTransfer("deposit d-1", sc.transfer(CmdDeposit, 1, 2, 100, "d-1"), "new")
	sc.wantTransfer("withdrawal d-2", sc.transfer(CmdWithdraw, 1, 2, 1, "d-2"), "new")
	sc.wantTransfer("deposit d-2", sc.transfer(CmdDeposit, 1, 2, 50, "d-2"), "new")
	sc.wantTransfer("withdrawal d-1", sc.transfer(CmdWithdraw, 1, 2, 2, "d-1"), "new")
	sc.wantTransfer("withdrawal d-2 of account 2", sc.transfer(CmdWithdraw, 2, 2, 3, "d-2"), "new")
	sc.wantBal(1, 2, funded+100-1+50-2, 0)
	sc.wantBal(2, 2, funded-3, 0)
	before := hashNoSeq(sc.s)
	sc.wantTransfer("withdrawal d-2 resent", sc.transfer(CmdWithdraw, 1, 2, 1, "d-2"), "duplicate")
	sc.wantTransfer("deposit d-2 resent", sc.transfer(CmdDeposit, 1, 2, 50, "d-2"), "duplicate")
	sc.wantTransfer("withdrawal d-2, another amount", sc.transfer(CmdWithdraw, 1, 2, 2, "d-2"), "conflict")
	sc.wantTransfer("withdrawal d-2, another asset", sc.transfer(CmdWithdraw, 1, 1, 1, "d-2"), "conflict")
	sc.wantTransfer("deposit d-2 to account 2", sc.transfer(CmdDeposit, 2, 2, 50, "d-2"), "conflict")
	if hashNoSeq(sc.s) != before {
		t.Fatal("a conflicting or duplicate transfer changed the state")
	}
	// A withdrawal refused for want of funds keeps no ref.
	if out := sc.transfer(CmdWithdraw, 3, 3, funded+1, "w-9"); !errors.Is(out.Err, ErrInsufficientFunds) {
		t.Fatalf("withdrawal past the balance: %+v", out)
	}
	sc.wantTransfer("w-9 within the balance", sc.transfer(CmdWithdraw, 3, 3, funded, "w-9"), "new")
	sc.wantBal(3, 3, 0, 0)
}

// Each account keeps the refs of its last WithdrawalRefWindow
// withdrawals: the next one forgets the oldest, whose resend is then a
// new withdrawal (it debits again). The window is the account's own, and
// the snapshot stops growing once it is full. A restored state forgets
// in the same order.
func TestWithdrawalRefWindow(t *testing.T) {
	sc := newScenario(t)
	sc.wantTransfer("account 2's ref", sc.transfer(CmdWithdraw, 2, 2, 1, "mine"), "new")
	ref := func(i int) string { return fmt.Sprint("w-", i) }
	sc.noCheck = true
	for i := range WithdrawalRefWindow + 1 {
		sc.wantTransfer(ref(i), sc.transfer(CmdWithdraw, 1, 2, 1, ref(i)), "new")
	}
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
	size := len(sc.s.AppendSnapshot(nil))
	sc.wantTransfer("w-1 resent", sc.transfer(CmdWithdraw, 1, 2, 1, ref(1)), "duplicate")
	sc.wantTransfer("newest resent", sc.transfer(CmdWithdraw, 1, 2, 1, ref(WithdrawalRefWindow)), "duplicate")
	sc.wantTransfer("w-1, another amount", sc.transfer(CmdWithdraw, 1, 2, 2, ref(1)), "conflict")
	sc.wantBal(1, 2, funded-WithdrawalRefWindow-1, 0)
	// w-0 was forgotten: its resend withdraws again, and forgets w-1.
	sc.wantTransfer("w-0 resent", sc.transfer(CmdWithdraw, 1, 2, 1, ref(0)), "new")
	sc.wantTransfer("w-0 resent again", sc.transfer(CmdWithdraw, 1, 2, 1, ref(0)), "duplicate")
	sc.wantTransfer("w-1 resent after w-0", sc.transfer(CmdWithdraw, 1, 2, 1, ref(1)), "new")
	sc.wantBal(1, 2, funded-WithdrawalRefWindow-3, 0)
	sc.wantTransfer("account 2's ref resent", sc.transfer(CmdWithdraw, 2, 2, 1, "mine"), "duplicate")
	for i := range 1000 {
		sc.wantTransfer("more", sc.transfer(CmdWithdraw, 1, 2, 1, ref(WithdrawalRefWindow+1+i)), "new")
	}
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
	snap := sc.s.AppendSnapshot(nil)
	if len(snap) != size {
		t.Fatalf("snapshot of %d bytes after 1,002 more withdrawals, %d before", len(snap), size)
	}
	restored, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(restored.AppendSnapshot(nil), snap) {
		t.Fatal("re-encoding differs")
	}
	rc := &scenario{t: t, s: restored, seq: sc.seq, noCheck: true}
	for i := range 40 {
		r := ref(i * (WithdrawalRefWindow / 16))
		a, b := sc.transfer(CmdWithdraw, 1, 2, 1, r), rc.transfer(CmdWithdraw, 1, 2, 1, r)
		if a != b {
			t.Fatalf("%s: %+v, restored %+v", r, a, b)
		}
	}
	if sc.s.Hash() != restored.Hash() {
		t.Fatal("the restored state forgot otherwise")
	}
}

// goldenRefState builds, deterministically, a state with transfer
// references as version 5 kept them (one namespace per account, kept
// forever): deposit ref "bank-1" credited to accounts 2 and 1 with other
// amounts and "bank-2" to accounts 3 and 2 with the same amount (the bug
// version 6 fixes: both were credited), withdrawal refs of account 1 made
// out of their byte order, "w-a" withdrawn by two accounts, and account 3
// withdrawing with ref "bank-1" (a deposit ref of others); a failed
// withdrawal whose ref is not kept and one without a ref. Version 5 wrote
// testdata/snapshot-v5-refs.bin from it.
func goldenRefState(t *testing.T) *State {
	sc := newScenario(t)
	for _, c := range []Command{
		{Kind: CmdDeposit, Account: 2, Asset: 2, Amount: 100, Ref: mustRef("bank-1")},
		{Kind: CmdDeposit, Account: 1, Asset: 2, Amount: 70, Ref: mustRef("bank-1")},
		{Kind: CmdDeposit, Account: 3, Asset: 1, Amount: 5, Ref: mustRef("bank-2")},
		{Kind: CmdDeposit, Account: 2, Asset: 1, Amount: 5, Ref: mustRef("bank-2")},
		{Kind: CmdWithdraw, Account: 1, Asset: 2, Amount: 1, Ref: mustRef("w-b")},
		{Kind: CmdWithdraw, Account: 1, Asset: 2, Amount: 2, Ref: mustRef("w-a")},
		{Kind: CmdWithdraw, Account: 1, Asset: 2, Amount: 3, Ref: mustRef("w-c")},
		{Kind: CmdWithdraw, Account: 2, Asset: 1, Amount: 1, Ref: mustRef("w-a")},
		{Kind: CmdWithdraw, Account: 3, Asset: 2, Amount: 4, Ref: mustRef("bank-1")},
		{Kind: CmdWithdraw, Account: 3, Asset: 3, Amount: funded + 1, Ref: mustRef("w-fail")},
		{Kind: CmdWithdraw, Account: 2, Asset: 3, Amount: 6},
	} {
		sc.do(c)
	}
	return sc.s
}

// A version 5 snapshot (transfer references in one namespace per
// account) restores under the rules of version 6: every deposit ref joins
// the exchange's, "bank-1" and "bank-2" for the lowest account that had
// them; the withdrawal refs join their account's window in ref byte
// order; balances are as they were. IST_WRITE_SNAPSHOT_V5=1 with the
// release that wrote version 5 writes the file.
func TestSnapshotVersion5Refs(t *testing.T) {
	restored := golden(t, "testdata/snapshot-v5-refs.bin", 5, "IST_WRITE_SNAPSHOT_V5", goldenRefState(t))
	if restored == nil {
		return
	}
	if err := restored.Check(); err != nil {
		t.Fatal(err)
	}
	v6 := restored.AppendSnapshot(nil)
	if again, err := DecodeState(v6); err != nil || !bytes.Equal(again.AppendSnapshot(nil), v6) {
		t.Fatalf("re-encoded as version %d: %v, or re-encodes otherwise", snapshotVersion, err)
	}
	sc := &scenario{t: t, s: restored, seq: restored.Seq()}
	for _, b := range []struct {
		acct          uint64
		asset         uint32
		avail, locked int64
	}{{1, 2, funded + 70 - 6, 0}, {2, 2, funded + 100, 0}, {2, 1, funded + 5 - 1, 0}, {3, 1, funded + 5, 0},
		{3, 2, funded - 4, 0}, {2, 3, funded - 6, 0}, {3, 3, funded, 0}} {
		sc.wantBal(b.acct, b.asset, b.avail, b.locked)
	}
	for _, c := range []struct {
		kind   CommandKind
		acct   uint64
		asset  uint32
		amount int64
		ref    string
		want   string
	}{
		{CmdDeposit, 1, 2, 70, "bank-1", "duplicate"},
		{CmdDeposit, 2, 2, 100, "bank-1", "conflict"}, // account 2's deposit of it was dropped
		{CmdDeposit, 2, 1, 5, "bank-2", "duplicate"},
		{CmdDeposit, 3, 1, 5, "bank-2", "conflict"},
		{CmdDeposit, 3, 3, funded, "g3-3", "duplicate"},
		{CmdDeposit, 1, 3, funded, "g3-3", "conflict"},
		{CmdWithdraw, 3, 2, 4, "bank-1", "duplicate"},
		{CmdWithdraw, 1, 2, 2, "w-a", "duplicate"},
		{CmdWithdraw, 2, 1, 1, "w-a", "duplicate"},
		{CmdWithdraw, 1, 2, 1, "w-b", "duplicate"},
		{CmdWithdraw, 1, 2, 9, "w-c", "conflict"},
		{CmdWithdraw, 3, 3, 1, "w-fail", "new"},
	} {
		sc.wantTransfer(fmt.Sprintf("%s %d %s", c.kind, c.acct, c.ref), sc.transfer(c.kind, c.acct, c.asset, c.amount, c.ref), c.want)
	}
	// Account 1's window is w-a, w-b, w-c (ref order, not the order of
	// the withdrawals): filling it forgets w-a first.
	sc.noCheck = true
	for i := range WithdrawalRefWindow - 2 {
		sc.wantTransfer("filler", sc.transfer(CmdWithdraw, 1, 2, 1, fmt.Sprint("f-", i)), "new")
	}
	sc.wantTransfer("w-b after the window filled", sc.transfer(CmdWithdraw, 1, 2, 1, "w-b"), "duplicate")
	sc.wantTransfer("w-a after the window filled", sc.transfer(CmdWithdraw, 1, 2, 2, "w-a"), "new")
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
}

// appendRefV5 appends a transfer reference as versions 1 to 5 wrote it:
// account, ref, command kind, asset, amount.
func appendRefV5(b []byte, acct uint64, ref string, kind CommandKind, asset uint32, amount int64) []byte {
	b = binary.LittleEndian.AppendUint64(b, acct)
	r := mustRef(ref)
	b = append(b, r[:]...)
	b = append(b, byte(kind))
	b = binary.LittleEndian.AppendUint32(b, asset)
	return binary.LittleEndian.AppendUint64(b, uint64(amount))
}

// snapshotV5 returns s's snapshot as version 5 with refs (a count and
// entries by appendRefV5) as its transfer references; s must have no
// transfer reference, leader or relation.
func snapshotV5(s *State, refs []byte) []byte {
	snap := s.AppendSnapshot(nil)
	// From the end: checksum, rounding remainders, relations, leaders,
	// then (version 6) the withdrawal and deposit refs, or (version 5)
	// the transfer references: here all empty lists.
	tail := 4 + 3*4 + 4
	if snapshotVersion >= 6 {
		tail += 4
	}
	v5 := bytes.Clone(snap[:len(snap)-tail])
	binary.LittleEndian.PutUint16(v5[4:], 5)
	v5 = append(v5, refs...)
	v5 = append(v5, make([]byte, 3*4)...)
	return binary.LittleEndian.AppendUint32(v5, crc32.Checksum(v5, crcTable))
}

// Reading the transfer references of a version 5 snapshot: a deposit ref
// of several accounts is kept for the lowest account id; of an account
// with more than WithdrawalRefWindow withdrawal refs, the last in ref
// byte order are kept; a reference of an unknown account, of another
// command kind or out of order is refused.
func TestSnapshotVersion5RefsConverted(t *testing.T) {
	// Assets, markets and three accounts, funded without refs.
	s := NewState()
	for _, c := range append(genesis(1)[:6], Command{Kind: CmdCreateAccount, Name: Name{'b'}},
		Command{Kind: CmdCreateAccount, Name: Name{'c'}},
		Command{Kind: CmdDeposit, Account: 1, Asset: 1, Amount: 100}, Command{Kind: CmdDeposit, Account: 2, Asset: 1, Amount: 100}) {
		if out := s.applyFast(c); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	ref := func(i int) string { return fmt.Sprintf("w-%05d", i) }
	var refs []byte
	refs = appendRefV5(refs, 1, "dup", CmdDeposit, 1, 1)
	for i := range WithdrawalRefWindow + 1 {
		refs = appendRefV5(refs, 1, ref(i), CmdWithdraw, 1, 1)
	}
	refs = appendRefV5(refs, 2, "dup", CmdDeposit, 1, 2)
	refs = appendRefV5(refs, 2, ref(0), CmdWithdraw, 1, 1)
	list := binary.LittleEndian.AppendUint32(nil, WithdrawalRefWindow+4)
	restored, err := DecodeState(snapshotV5(s, append(list, refs...)))
	if err != nil {
		t.Fatal(err)
	}
	rc := &scenario{t: t, s: restored, seq: restored.Seq()}
	rc.wantTransfer("dup to 1", rc.transfer(CmdDeposit, 1, 1, 1, "dup"), "duplicate")
	rc.wantTransfer("dup to 2", rc.transfer(CmdDeposit, 2, 1, 2, "dup"), "conflict")
	rc.wantTransfer("account 2's w-00000", rc.transfer(CmdWithdraw, 2, 1, 1, ref(0)), "duplicate")
	rc.wantTransfer("w-00001", rc.transfer(CmdWithdraw, 1, 1, 1, ref(1)), "duplicate")
	rc.wantTransfer("newest", rc.transfer(CmdWithdraw, 1, 1, 1, ref(WithdrawalRefWindow)), "duplicate")
	rc.wantTransfer("w-00000, first in ref order", rc.transfer(CmdWithdraw, 1, 1, 1, ref(0)), "new")
	rc.wantTransfer("w-00001 after it", rc.transfer(CmdWithdraw, 1, 1, 1, ref(1)), "new")

	one := func(acct uint64, ref string, kind CommandKind) []byte {
		return appendRefV5(binary.LittleEndian.AppendUint32(nil, 1), acct, ref, kind, 1, 1)
	}
	for name, refs := range map[string][]byte{
		"unknown account": one(9, "x", CmdDeposit),
		"fee account":     one(FeeAccount, "x", CmdDeposit),
		"kind place":      one(1, "x", CmdPlace),
		"out of order":    appendRefV5(one(2, "x", CmdDeposit), 1, "y", CmdDeposit, 1, 1),
	} {
		if name == "out of order" {
			binary.LittleEndian.PutUint32(refs, 2)
		}
		if _, err := DecodeState(snapshotV5(s, refs)); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", name, err)
		}
	}
}

// A version 6 snapshot is refused if its transfer refs would not re-encode
// to the same bytes or break the rules: a deposit ref twice, withdrawal
// refs of accounts out of order or twice in a window, a deposit ref of
// the fee account, a zero amount.
func TestSnapshotTransferRefsRefused(t *testing.T) {
	sc := newScenario(t)
	sc.transfer(CmdWithdraw, 1, 2, 1, "w-1")
	sc.transfer(CmdWithdraw, 1, 2, 1, "w-2")
	sc.transfer(CmdWithdraw, 2, 2, 1, "w-3")
	snap := sc.s.AppendSnapshot(nil)
	if _, err := DecodeState(snap); err != nil {
		t.Fatal(err)
	}
	find := func(b []byte) int {
		at := bytes.Index(snap, b)
		if at < 0 || bytes.Contains(snap[at+1:], b) {
			t.Fatalf("%q not once in the snapshot", b)
		}
		return at
	}
	wref := func(acct uint64, ref string) int {
		r := mustRef(ref)
		return find(append(binary.LittleEndian.AppendUint64(nil, acct), r[:]...))
	}
	g22 := mustRef("g2-2")
	dep := find(g22[:]) // ref, account, asset, amount
	body := snap[:len(snap)-4]
	for name, mutate := range map[string]func(b []byte){
		"deposit ref twice":        func(b []byte) { copy(b[dep:], "g2-1") },
		"deposit of the fee acct":  func(b []byte) { binary.LittleEndian.PutUint64(b[dep+36:], 0) },
		"deposit of no account":    func(b []byte) { binary.LittleEndian.PutUint64(b[dep+36:], 99) },
		"deposit of no asset":      func(b []byte) { binary.LittleEndian.PutUint32(b[dep+36+8:], 9) },
		"deposit of 0":             func(b []byte) { binary.LittleEndian.PutUint64(b[dep+36+8+4:], 0) },
		"withdrawal ref twice":     func(b []byte) { copy(b[wref(1, "w-2")+8:], "w-1") },
		"accounts out of order":    func(b []byte) { binary.LittleEndian.PutUint64(b[wref(2, "w-3"):], 0) },
		"withdrawal of 0":          func(b []byte) { binary.LittleEndian.PutUint64(b[wref(1, "w-1")+8+36+4:], 0) },
		"withdrawal ref empty":     func(b []byte) { copy(b[wref(1, "w-1")+8:], make([]byte, 36)) },
		"withdrawal of no account": func(b []byte) { binary.LittleEndian.PutUint64(b[wref(2, "w-3"):], 7) },
	} {
		b := bytes.Clone(body)
		mutate(b)
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
		if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", name, err)
		} else if testing.Verbose() {
			t.Logf("%s: %v", name, strings.TrimPrefix(err.Error(), ErrCorruptSnapshot.Error()+": "))
		}
	}
}
