package wal

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// verifyDir builds a log of random trading with two snapshots and a tail
// after them, and returns the snapshots' sequence numbers and the last.
func verifyDir(t *testing.T, dir string, opts Options) (s1, s2, last uint64) {
	t.Helper()
	l, err := Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	state, _, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(&engine.Options{Journal: l, State: state, Snapshots: l})
	if err != nil {
		t.Fatal(err)
	}
	o := opened{l, e, RecoveryStats{}}
	run(t, e, genesis(8))
	r := rand.New(rand.NewPCG(7, 7))
	var lastOrder uint64
	randomRun(t, e, r, 1500, &lastOrder)
	if s1, err = e.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	randomRun(t, e, r, 1500, &lastOrder)
	if s2, err = e.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	randomRun(t, e, r, 500, &lastOrder)
	return s1, s2, o.close(t).Seq()
}

// verify opens dir and verifies it.
func verify(t *testing.T, dir string) (VerifyStats, error) {
	t.Helper()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Verify()
}

// Verify replays the log from its start when it holds every command,
// else from the oldest snapshot it continues, and finds each later
// snapshot's state on the way; it changes nothing (a second run gives the
// same result, and Recover after it the same state).
func TestVerify(t *testing.T) {
	for _, whole := range []bool{true, false} {
		dir := t.TempDir()
		s1, s2, last := verifyDir(t, dir, Options{Logger: &quiet, NoTruncate: whole})
		for range 2 {
			st, err := verify(t, dir)
			if err != nil {
				t.Fatalf("whole log %v: %v (%+v)", whole, err, st)
			}
			want := VerifyStats{FromSnapshot: s1, Replayed: int(last - s1), LastSeq: last, Matched: []uint64{s2}}
			if whole {
				want.FromSnapshot, want.Replayed, want.Matched = 0, int(last), []uint64{s1, s2}
			}
			if st.FromSnapshot != want.FromSnapshot || st.Replayed != want.Replayed || st.LastSeq != want.LastSeq ||
				!slices.Equal(st.Matched, want.Matched) || st.TornTail || len(st.Unreadable) != 0 {
				t.Fatalf("whole log %v: %+v, want %+v", whole, st, want)
			}
		}
	}
}

// A snapshot that holds another state than the log replays to fails
// Verify with ErrMismatch naming it; one that does not decode fails it
// with ErrCorrupt.
func TestVerifyMismatch(t *testing.T) {
	dir := t.TempDir()
	s1, s2, _ := verifyDir(t, dir, Options{Logger: &quiet, NoTruncate: true})
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.snapPath(s2))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	st, err := engine.DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	// The same sequence number, one more deposit.
	st.Apply(&engine.Command{Seq: s2, Kind: engine.CmdDeposit, Account: 1, Asset: 1, Amount: 1}, nil)
	if err := os.WriteFile(l.snapPath(s2), st.AppendSnapshot(nil), 0o600); err != nil {
		t.Fatal(err)
	}
	vs, err := verify(t, dir)
	if !errors.Is(err, ErrMismatch) || !slices.Equal(vs.Matched, []uint64{s1}) {
		t.Fatalf("%v %+v", err, vs)
	}
	if err := os.WriteFile(l.snapPath(s2), data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	vs, err = verify(t, dir)
	if !errors.Is(err, ErrCorrupt) || !slices.Equal(vs.Unreadable, []uint64{s2}) || !slices.Equal(vs.Matched, []uint64{s1}) {
		t.Fatalf("%v %+v", err, vs)
	}
}
