package engine

import (
	"errors"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// A rejected command changes nothing but the sequence number (State.Apply's
// doc), on an account that never held the asset it touches too: the
// zero balance the check looked at is not part of the state (before, the
// snapshot encoded it, and so the state hash changed).
func TestRejectedOnFreshAccountKeepsHash(t *testing.T) {
	cases := []struct {
		name string
		cmd  Command
		want error
	}{
		{"place buy, no funds", Command{Kind: CmdPlace, Account: 4, Market: 1,
			Order: book.Order{Side: book.Buy, Price: 100, Qty: 3}}, ErrInsufficientFunds},
		{"place sell, no funds", Command{Kind: CmdPlace, Account: 4, Market: 1,
			Order: book.Order{Side: book.Sell, Price: 100, Qty: 3}}, ErrInsufficientFunds},
		{"withdraw, no funds", Command{Kind: CmdWithdraw, Account: 4, Asset: 2, Amount: 1}, ErrInsufficientFunds},
		{"follow, no funds", Command{Kind: CmdFollow, Account: 4, Asset: 2, Amount: 1,
			Copy: CopySpec{Leader: 1, Mode: CopyProportional, Value: ValueOne}}, ErrInsufficientFunds},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScenario(t)
			sc.do(Command{Kind: CmdSetLeaderProfile, Account: 1})
			name, _ := MakeName("fresh")
			if out := sc.do(Command{Kind: CmdCreateAccount, Name: name}); out.ID != 4 {
				t.Fatalf("account %d", out.ID)
			}
			before := sc.s.Hash()
			out := sc.do(tc.cmd)
			if !errors.Is(out.Err, tc.want) {
				t.Fatalf("got %v, want %v", out.Err, tc.want)
			}
			sc.seq--
			sc.s.seq = sc.seq
			if sc.s.Hash() != before {
				t.Errorf("rejected %s changed the state hash (account 4 balances now %+v)", tc.cmd.Kind, sc.s.accounts.at(4).bal)
			}
		})
	}
}
