package wal

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// openLog opens the log in dir with opts (quiet) and an engine on its
// recovered state, and returns them with the recovery's stats.
func openLog(t *testing.T, dir string, opts Options) (opened, *Log) {
	t.Helper()
	opts.Logger = &quiet
	l, err := Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	state, st, err := l.Recover()
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	e, err := engine.Open(&engine.Options{Journal: l, State: state, Snapshots: l})
	if err != nil {
		t.Fatal(err)
	}
	return opened{l, e, st}, l
}

// snapshotsAfter runs genesis and then, n times, 100 random commands
// followed by a snapshot, and returns the snapshots' sequence numbers,
// oldest first.
func snapshotsAfter(t *testing.T, o opened, n int) []uint64 {
	t.Helper()
	run(t, o.eng, genesis(4))
	r := rand.New(rand.NewPCG(5, 5))
	var last uint64
	var snaps []uint64
	for range n {
		randomRun(t, o.eng, r, 100, &last)
		seq, err := o.eng.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, seq)
	}
	randomRun(t, o.eng, r, 50, &last)
	return snaps
}

// recoverFrom recovers the log in dir with opts and returns the
// recovery's stats, the sequence numbers OnReplay saw and the state.
func recoverFrom(t *testing.T, dir string, opts Options) (RecoveryStats, []uint64, *engine.State) {
	t.Helper()
	var seen []uint64
	opts.Logger = &quiet
	opts.OnReplay = func(cmd *engine.Command, _ *engine.Result) { seen = append(seen, cmd.Seq) }
	l, err := Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	state, st, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	return st, seen, state
}

// seqRun reports whether seqs are from..to, each once, in order.
func seqRun(seqs []uint64, from, to uint64) bool {
	if uint64(len(seqs)) != to-from+1 {
		return false
	}
	for i, s := range seqs {
		if s != from+uint64(i) {
			return false
		}
	}
	return true
}

// With Retain, prune keeps the newest snapshot at or before what the
// read models saved, besides the newest KeepSnapshots, and the log after
// it: a recovery with ReplayAfter at their save replays every command
// after it. (Before, the log was truncated up to the older of the two
// newest snapshots, and the commands between the save and it were gone.)
func TestPruneKeepsRetainedSnapshot(t *testing.T) {
	dir := t.TempDir()
	var saved atomic.Uint64
	o, l := openLog(t, dir, Options{Retain: saved.Load})
	run(t, o.eng, genesis(4))
	s1, err := o.eng.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	saved.Store(s1 + 3) // the read models' save, a little after s1
	snaps := append([]uint64{s1}, snapshotsAfter(t, o, 4)...)
	stats, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{snaps[4], snaps[3], s1}
	if !slices.Equal(stats.Snapshots, want) || stats.FirstSeq > s1+1 {
		t.Fatalf("snapshots %v (want %v), log from %d (want at most %d)", stats.Snapshots, want, stats.FirstSeq, s1+1)
	}
	// The read models catch up: saved later, the log is truncated again.
	saved.Store(snaps[3])
	snap5, err := o.eng.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats, err = l.Stats(); err != nil {
		t.Fatal(err)
	}
	if want := []uint64{snap5, snaps[4], snaps[3]}; !slices.Equal(stats.Snapshots, want) || stats.FirstSeq <= s1+1 {
		t.Fatalf("after the read models caught up: snapshots %v (want %v), log from %d", stats.Snapshots, want, stats.FirstSeq)
	}
	wantState := o.close(t)

	// A restart from the older save: the snapshot at or before it is gone,
	// the log was truncated past it, so the nearest newer one (a gap).
	st, seen, _ := recoverFrom(t, dir, Options{ReplayAfter: s1 + 3})
	if st.SnapshotSeq != snaps[3] || !seqRun(seen, snaps[3]+1, wantState.Seq()) {
		t.Fatalf("recovery %+v replayed %d..: want from snapshot %d", st, seen[0], snaps[3])
	}
}

// A recovery after a crash that followed snapshots newer than the read
// models' save replays every command after the save.
func TestRetainRecoverAfterSave(t *testing.T) {
	dir := t.TempDir()
	var saved atomic.Uint64
	o, _ := openLog(t, dir, Options{Retain: saved.Load})
	snaps := snapshotsAfter(t, o, 2)
	saved.Store(snaps[1] - 10) // between the two
	// Three snapshots more, none at or before the save.
	r := rand.New(rand.NewPCG(6, 6))
	var last uint64
	for range 3 {
		randomRun(t, o.eng, r, 100, &last)
		if _, err := o.eng.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	randomRun(t, o.eng, r, 30, &last)
	want := o.close(t)
	st, seen, got := recoverFrom(t, dir, Options{ReplayAfter: saved.Load()})
	if st.SnapshotSeq != snaps[0] || !seqRun(seen, snaps[0]+1, want.Seq()) {
		t.Fatalf("recovery %+v: want a replay from snapshot %d to %d", st, snaps[0], want.Seq())
	}
	if got.Hash() != want.Hash() {
		t.Fatal("recovered state differs")
	}
}

// With no snapshot at or before Retain(), the log is not truncated at all
// (the read models need it from its start), and a recovery with
// ReplayAfter before every snapshot, or with ReplayFromStart and nothing
// saved, replays from sequence 1. (Before, the log was truncated at the
// first snapshots, and the replay started at the oldest snapshot.)
func TestPruneWithoutRetainedSnapshot(t *testing.T) {
	dir := t.TempDir()
	var saved atomic.Uint64 // nothing saved yet
	o, l := openLog(t, dir, Options{Retain: saved.Load})
	snaps := snapshotsAfter(t, o, 4)
	stats, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// The two newest and the oldest, the nearest to the save.
	if want := []uint64{snaps[3], snaps[2], snaps[0]}; !slices.Equal(stats.Snapshots, want) || stats.FirstSeq != 1 {
		t.Fatalf("snapshots %v (want %v), log from %d (want 1)", stats.Snapshots, want, stats.FirstSeq)
	}
	want := o.close(t)
	for _, opts := range []Options{{ReplayFromStart: true}, {ReplayAfter: 2}, {ReplayAfter: snaps[0] - 1}} {
		st, seen, got := recoverFrom(t, dir, opts)
		if st.SnapshotSeq != 0 || !seqRun(seen, 1, want.Seq()) {
			t.Fatalf("recovery with %+v: %+v, want a replay of 1..%d", opts, st, want.Seq())
		}
		if got.Hash() != want.Hash() {
			t.Fatal("recovered state differs")
		}
	}
	// Without ReplayFromStart, 0 is the newest snapshot.
	if st, _, _ := recoverFrom(t, dir, Options{}); st.SnapshotSeq != snaps[3] {
		t.Fatalf("recovery without ReplayAfter: %+v, want from the newest snapshot %d", st, snaps[3])
	}
}

// ReplayAfter before every snapshot on a log that was never truncated
// replays from sequence 1, so OnReplay sees every command. (Before, it
// started at the oldest snapshot.)
func TestReplayAfterBeforeEverySnapshotUntruncated(t *testing.T) {
	dir := t.TempDir()
	o, _ := openLog(t, dir, Options{NoTruncate: true})
	snaps := snapshotsAfter(t, o, 3)
	want := o.close(t)
	st, seen, got := recoverFrom(t, dir, Options{ReplayAfter: snaps[0] - 5})
	if st.SnapshotSeq != 0 || !seqRun(seen, 1, want.Seq()) {
		t.Fatalf("recovery %+v: want a replay of 1..%d through OnReplay", st, want.Seq())
	}
	if got.Hash() != want.Hash() {
		t.Fatal("recovered state differs")
	}
	// At or after a snapshot: from the newest at or before it.
	st, seen, _ = recoverFrom(t, dir, Options{ReplayAfter: snaps[1] + 1})
	if st.SnapshotSeq != snaps[1] || !seqRun(seen, snaps[1]+1, want.Seq()) {
		t.Fatalf("recovery %+v: want a replay from snapshot %d", st, snaps[1])
	}
}

// On a truncated log, ReplayAfter before every snapshot still starts from
// the oldest readable snapshot: the log no longer starts at 1.
func TestReplayAfterBeforeEverySnapshotTruncated(t *testing.T) {
	dir := t.TempDir()
	o, _ := openLog(t, dir, Options{})
	snaps := snapshotsAfter(t, o, 3) // keeps the two newest
	want := o.close(t)
	st, seen, got := recoverFrom(t, dir, Options{ReplayAfter: snaps[0]})
	if st.SnapshotSeq != snaps[1] || !seqRun(seen, snaps[1]+1, want.Seq()) {
		t.Fatalf("recovery %+v: want a replay from the oldest kept snapshot %d", st, snaps[1])
	}
	if got.Hash() != want.Hash() {
		t.Fatal("recovered state differs")
	}
}

// A snapshot saved into an empty log (a state built elsewhere) is not
// replaced by a new state: the log does not hold its commands.
func TestReplayAfterEmptyLogWithSnapshot(t *testing.T) {
	src := t.TempDir()
	o, _ := openLog(t, src, Options{NoTruncate: true})
	run(t, o.eng, genesis(4))
	want := o.close(t)

	dir := t.TempDir()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SaveSnapshot(want.Seq(), want.AppendSnapshot(nil)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	st, seen, got := recoverFrom(t, dir, Options{ReplayAfter: 1})
	if st.SnapshotSeq != want.Seq() || len(seen) != 0 || got.Hash() != want.Hash() {
		t.Fatalf("recovery %+v, %d replayed: want the snapshot at %d", st, len(seen), want.Seq())
	}
}
