package engine

import (
	"encoding/binary"
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

// TestAuditSnapshotCountOverflow: a snapshot list length whose entries
// cannot fit in the bytes left is refused on every platform. Under
// GOARCH=386 the check multiplied in a 32-bit int: 2^27 entries of 32
// bytes wrapped to 0 and passed, and DecodeState looped over 2^27 assets.
func TestAuditSnapshotCountOverflow(t *testing.T) {
	for _, tc := range []struct {
		n   uint32
		min int
	}{{1 << 27, 32}, {1 << 26, 64}, {1<<31 - 1, 163}, {1 << 31, 1}, {1<<32 - 1, 2}} {
		b := binary.LittleEndian.AppendUint32(nil, tc.n)
		r := dec{b: append(b, make([]byte, 100)...)}
		if n := r.count(tc.min); n != 0 || r.err == nil {
			t.Errorf("count %d of %d bytes each in 100 bytes: %d, %v", tc.n, tc.min, n, r.err)
		}
	}
	r := dec{b: binary.LittleEndian.AppendUint32(nil, 3)}
	r.b = append(r.b, make([]byte, 96)...)
	if n := r.count(32); n != 3 || r.err != nil {
		t.Fatalf("count 3 of 32 bytes in 96: %d, %v", n, r.err)
	}
	// A whole snapshot: the asset count of a state with none, made 2^27,
	// with a valid checksum.
	snap := NewState().AppendSnapshot(nil)
	body := snap[:len(snap)-4]
	const at = 4 + 2 + 8*3 // magic, version, seq, nextOrder, trades
	binary.LittleEndian.PutUint32(body[at:], 1<<27)
	if _, err := DecodeState(sealSnapshot(body, 0)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("asset count 2^27: %v", err)
	}
}
