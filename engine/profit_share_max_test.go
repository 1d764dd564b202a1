package engine

import (
	"errors"
	"testing"
)

// A follower's maximum profit share rate ("terms accepted"): a leader
// that raised its rate after the follower saw it gets no follow above the
// maximum, and nothing changes; at or below it, or with no maximum given
// (every log written before the field), the follow takes the leader's
// current rate.
func TestFollowMaxProfitShare(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 7)
	// The follower saw 10% (newCopyScenario); the leader raises to 50%
	// just before the follow is applied.
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: 5000}})
	capped := func(follower uint64, max int32) Command {
		return Command{Kind: CmdFollow, Account: follower, Asset: usdtID, Amount: 1000 * usdt,
			Copy: CopySpec{Leader: leader1, Mode: CopyMultiplier, Value: ValueOne, HasMaxProfitShare: true, MaxProfitShareBps: max}}
	}
	for _, max := range []int32{0, 1000, 4999} {
		if out := sc.do(capped(3, max)); !errors.Is(out.Err, ErrProfitShareAboveMax) {
			t.Fatalf("max %d, leader at 5000: %v, want ErrProfitShareAboveMax", max, out.Err)
		}
	}
	if n := sc.s.relations.len(); n != 0 || sc.s.accounts.at(3).follows != 0 {
		t.Fatalf("after refused follows: %d relations, follower follows %d", n, sc.s.accounts.at(3).follows)
	}
	if b := sc.s.bal(3, usdtID); b.avail != 100_000*usdt || b.locked != 0 {
		t.Fatalf("follower's balance %+v after refused follows, want all 100,000 USDT available", *b)
	}
	for _, max := range []int32{-1, MaxProfitShareBps + 1} {
		if out := sc.do(capped(3, max)); !errors.Is(out.Err, ErrInvalidCopySpec) {
			t.Fatalf("max %d: %v, want ErrInvalidCopySpec", max, out.Err)
		}
	}

	// At the maximum: accepted at the leader's rate.
	at := sc.ok(capped(3, 5000)).ID
	// Not given, whatever MaxProfitShareBps holds without the flag.
	anyRate := sc.follow(4, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	ignored := sc.follow(5, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne, MaxProfitShareBps: 1})
	wantRates := func(rates map[uint64]int32) {
		t.Helper()
		for id, want := range rates {
			v, err := sc.s.RelationView(id)
			if err != nil || v.ProfitShareBps != want {
				t.Fatalf("relation %d: %+v, %v: want rate %d", id, v, err, want)
			}
			// The maximum is a term of the follow, not kept by the relation.
			if v.Spec.HasMaxProfitShare || v.Spec.MaxProfitShareBps != 0 {
				t.Fatalf("relation %d keeps the follow's maximum: %+v", id, v.Spec)
			}
		}
	}
	wantRates(map[uint64]int32{at: 5000, anyRate: 5000, ignored: 5000})
	// Below the maximum: the leader's rate, not the maximum; and "at most
	// 0%" is a maximum too.
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: 2000}})
	below := sc.ok(capped(6, 3000)).ID
	if out := sc.do(capped(7, 0)); !errors.Is(out.Err, ErrProfitShareAboveMax) {
		t.Fatalf("max 0, leader at 2000: %v, want ErrProfitShareAboveMax", out.Err)
	}
	wantRates(map[uint64]int32{at: 2000, anyRate: 2000, ignored: 2000, below: 2000})
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: 0}})
	zero := sc.ok(capped(7, 0)).ID
	wantRates(map[uint64]int32{zero: 0})
	sc.wantFollowers(5, 5)
}
