package engine

import (
	"errors"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// TestAuditIDsFrom2To31: a command that names a market or an asset id
// from 2^31 up (a uint32 that a 32-bit int makes negative) is refused as
// unknown on every platform, as on amd64. Run it with GOARCH=386 too: there
// int(id) was negative, passed the bounds checks and indexed out of range,
// so the command panicked the matcher (and, journaled, every replay).
func TestAuditIDsFrom2To31(t *testing.T) {
	s := NewState()
	for i, c := range genesis(2) {
		c.Seq = uint64(i + 1)
		if out, _ := s.Apply(&c, nil); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	name, _ := MakeName("X")
	for _, id := range []uint32{1 << 31, 1<<31 + 1, 1<<32 - 1} {
		for _, tc := range []struct {
			cmd  Command
			want error
		}{
			{Command{Kind: CmdHaltMarket, Market: id}, ErrUnknownMarket},
			{Command{Kind: CmdResumeMarket, Market: id}, ErrUnknownMarket},
			{Command{Kind: CmdPlace, Account: 1, Market: id, Order: book.Order{Side: book.Buy, Price: 100, Qty: 3}}, ErrUnknownMarket},
			{Command{Kind: CmdCancelAll, Account: 1, Market: id}, ErrUnknownMarket},
			{Command{Kind: CmdDeposit, Account: 1, Asset: id, Amount: 1}, ErrUnknownAsset},
			{Command{Kind: CmdWithdraw, Account: 1, Asset: id, Amount: 1}, ErrUnknownAsset},
			{Command{Kind: CmdCreateMarket, Name: name, Spec: MarketSpec{Base: id, Quote: 2, BaseScale: 1, QuoteScale: 1}}, ErrUnknownAsset},
			{Command{Kind: CmdCreateMarket, Name: name, Spec: MarketSpec{Base: 1, Quote: id, BaseScale: 1, QuoteScale: 1}}, ErrUnknownAsset},
			{Command{Kind: CmdSetLeaderProfile, Account: 2}, nil},
			{Command{Kind: CmdFollow, Account: 1, Asset: id, Amount: 1, Copy: CopySpec{Leader: 2, Mode: CopyMultiplier, Value: ValueOne}}, ErrUnknownAsset},
		} {
			before := hashNoSeq(s)
			var out Outcome
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("id %d: %s panics: %v", id, tc.cmd.Kind, r)
					}
				}()
				tc.cmd.Seq = s.Seq() + 1
				out, _ = s.Apply(&tc.cmd, nil)
			}()
			if !errors.Is(out.Err, tc.want) || tc.want == nil && out.Err != nil {
				t.Fatalf("id %d: %s: %v, want %v", id, tc.cmd.Kind, out.Err, tc.want)
			}
			if tc.want != nil && hashNoSeq(s) != before {
				t.Fatalf("id %d: refused %s changed the state", id, tc.cmd.Kind)
			}
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
