package wal

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/cmdstream"
)

// TestAuditStreamThroughLog journals a stream of every command kind
// (internal/cmdstream: copy-trading, stops, icebergs, amends, refs,
// halts, fee changes, freezes, amounts near the limits of int64) in
// blocks of random size, with snapshots now and then, as the engine
// would, and
// recovers it: from the newest snapshot and the log after it, from an
// older snapshot and a longer tail, from the log alone, and after the
// last block was torn.
// Each recovered state has the hash the live state had at the same
// sequence number; after the torn tail, journaling the lost commands
// again reaches the live state's final hash.
func TestAuditStreamThroughLog(t *testing.T) {
	n := 8_000
	if testing.Short() {
		n = 3_000
	}
	dir := t.TempDir()
	l, err := Open(dir, &Options{Logger: &quiet, NoTruncate: true, KeepSnapshots: 100})
	if err != nil {
		t.Fatal(err)
	}
	g := cmdstream.New(7).FeeChanges().Freezes()
	r := rand.New(rand.NewPCG(7, 8))
	s := engine.NewState()
	var cmds []engine.Command
	hashAt := map[uint64][32]byte{} // at each block's end
	var snaps []uint64
	var evs []engine.Event
	pending, block := 0, 1
	apply := func(c engine.Command) {
		c.Seq, c.Time = uint64(len(cmds)+1), int64(len(cmds)+1)*1000
		cmds = append(cmds, c)
		if err := l.Append(&c); err != nil {
			t.Fatal(err)
		}
		var out engine.Outcome
		out, evs = s.Apply(&c, evs[:0])
		g.Observe(&c, out)
		if pending++; pending < block {
			return
		}
		if err := l.Commit(); err != nil {
			t.Fatal(err)
		}
		hashAt[s.Seq()] = s.Hash()
		pending, block = 0, 1+r.IntN(40)
		if r.IntN(40) == 0 {
			if err := l.SaveSnapshot(s.Seq(), s.AppendSnapshot(nil)); err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, s.Seq())
		}
	}
	for _, c := range g.Genesis() {
		apply(c)
	}
	for range n {
		apply(g.Next())
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	last := s.Seq()
	hashAt[last] = s.Hash()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(snaps) < 3 {
		t.Fatalf("only %d snapshots", len(snaps))
	}
	t.Logf("%d commands, snapshots at %v", last, snaps)

	recoverAt := func(what string, opts Options, wantSnap uint64) {
		t.Helper()
		opts.Logger, opts.NoTruncate, opts.KeepSnapshots = &quiet, true, 100
		l, err := Open(dir, &opts)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		got, st, err := l.Recover()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if st.SnapshotSeq != wantSnap || got.Seq() != last || got.Hash() != hashAt[last] {
			t.Fatalf("%s: from snapshot %d (want %d), at %d (want %d): hash %v the live state's",
				what, st.SnapshotSeq, wantSnap, got.Seq(), last, map[bool]string{true: "is", false: "is not"}[got.Hash() == hashAt[last]])
		}
		if err := got.Check(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	recoverAt("newest snapshot and the log after it", Options{}, snaps[len(snaps)-1])
	recoverAt("oldest snapshot and the log after it", Options{ReplayAfter: snaps[0]}, snaps[0])
	recoverAt("an older snapshot and the log after it", Options{ReplayAfter: snaps[len(snaps)/2]}, snaps[len(snaps)/2])
	recoverAt("the log alone", Options{IgnoreSnapshots: true}, 0)

	// A crash tore the last block: recovery drops it whole and ends at
	// the block before, with the live state's hash there.
	db := openDB(t, dir)
	key, v := entryAt(t, db, last)
	first, count, err := blockBounds(key, v)
	if err != nil {
		t.Fatal(err)
	}
	v[len(v)/2] ^= 0xff
	if err := db.Set(commandKey(nil, key), v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l, err = Open(dir, &Options{Logger: &quiet, NoTruncate: true, KeepSnapshots: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, st, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	want, ok := hashAt[first-1]
	if !ok || st.DiscardedTail != 1 || got.Seq() != first-1 || got.Hash() != want {
		t.Fatalf("torn block %d-%d (%d commands): %+v, at %d: hash %v the live state's at %d",
			first, key, count, st, got.Seq(), got.Hash() == want, first-1)
	}
	// The lost commands again, journaled after the recovered state.
	for i := first - 1; i < last; i++ {
		c := cmds[i]
		if err := l.Append(&c); err != nil {
			t.Fatal(err)
		}
		_, evs = got.Apply(&c, evs[:0])
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	if got.Hash() != hashAt[last] {
		t.Fatal("after the torn tail, the lost commands again: hash is not the live state's")
	}
	l.Close()
	recoverAt("after the torn tail was journaled again", Options{}, snaps[len(snaps)-1])
}
