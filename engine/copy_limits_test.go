package engine

import (
	"errors"
	"testing"
)

// The bounds on copy relations: MaxOpenFollows open ones per follower,
// MaxFollowsEver in all per follower, MaxFollowers open ones per leader.
// A follow over a bound fails and changes nothing; closing a relation
// frees an open slot, not a lifetime one; the counts survive a snapshot.

// followCmd is a follow of leader by follower with 1 USDT.
func followCmd(follower, leader uint64) Command {
	return Command{Kind: CmdFollow, Account: follower, Asset: usdtID, Amount: usdt,
		Copy: CopySpec{Leader: leader, Mode: CopyProportional, Value: ValueOne}}
}

// refusedFollow wants c refused with want, the state unchanged but for
// its sequence number.
func (sc *copyScenario) refusedFollow(c Command, want error) {
	sc.t.Helper()
	before := hashNoSeq(sc.s)
	if out := sc.do(c); !errors.Is(out.Err, want) || len(sc.evs) != 0 {
		sc.t.Fatalf("%+v: %v, %d events; want %v", c, out.Err, len(sc.evs), want)
	}
	if hashNoSeq(sc.s) != before {
		sc.t.Fatalf("%+v: a refused follow changed the state", c)
	}
}

func TestCopyLimitOpenFollows(t *testing.T) {
	// Accounts 1..MaxOpenFollows+1 lead; the last account follows.
	n := MaxOpenFollows + 2
	sc := newCopyScenario(t, 0, 0, n)
	fol := uint64(n)
	for l := uint64(2); l <= MaxOpenFollows+1; l++ {
		sc.ok(Command{Kind: CmdSetLeaderProfile, Account: l})
	}
	sc.noCheck = true // O(state) per command: checked at the end
	var first uint64
	for l := uint64(1); l <= MaxOpenFollows; l++ {
		id := sc.ok(followCmd(fol, l)).ID
		if first == 0 {
			first = id
		}
	}
	sc.noCheck = false
	sc.refusedFollow(followCmd(fol, MaxOpenFollows+1), ErrTooManyFollows)
	// A paused relation is open: still refused.
	sc.ok(Command{Kind: CmdPauseFollow, Account: fol, Copy: CopySpec{Relation: first}})
	sc.refusedFollow(followCmd(fol, MaxOpenFollows+1), ErrTooManyFollows)
	// Closing one frees its slot.
	sc.ok(Command{Kind: CmdUnfollow, Account: fol, Copy: CopySpec{Relation: first}})
	sc.ok(followCmd(fol, MaxOpenFollows+1))
	sc.refusedFollow(followCmd(fol, 1), ErrTooManyFollows)
	if a := sc.s.accounts.at(fol); a.follows != MaxOpenFollows || a.followed != MaxOpenFollows+1 {
		t.Fatalf("follows %d, followed %d", a.follows, a.followed)
	}
	// The counts are rebuilt from a snapshot, and it refuses the same.
	s2, err := DecodeState(sc.s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	if a := s2.accounts.at(fol); a.follows != MaxOpenFollows || a.followed != MaxOpenFollows+1 {
		t.Fatalf("restored: follows %d, followed %d", a.follows, a.followed)
	}
	sc2 := &copyScenario{&scenario{t: t, s: s2, seq: sc.seq}}
	sc2.refusedFollow(followCmd(fol, 1), ErrTooManyFollows)
}

func TestCopyLimitFollowsEver(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 commands")
	}
	sc := newCopyScenario(t, 0, 0, 4)
	sc.noCheck = true
	for range MaxFollowsEver {
		id := sc.ok(followCmd(3, leader1)).ID
		sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: id}})
	}
	sc.noCheck = false
	sc.refusedFollow(followCmd(3, leader1), ErrTooManyFollows)
	sc.ok(followCmd(4, leader1)) // another account may
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestCopyLimitFollowers(t *testing.T) {
	if shortRun() {
		t.Skip("20,000 commands: not with -short, nor under the race detector (scripts/test.sh runs it without)")
	}
	n := MaxFollowers + 4
	sc := newCopyScenario(t, 0, 0, n)
	sc.noCheck = true
	for f := uint64(3); f < MaxFollowers+3; f++ {
		sc.ok(followCmd(f, leader1))
	}
	sc.noCheck = false
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
	last := uint64(MaxFollowers + 3)
	sc.refusedFollow(followCmd(last, leader1), ErrTooManyFollowers)
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: 1}})
	sc.ok(followCmd(last, leader1))
}
