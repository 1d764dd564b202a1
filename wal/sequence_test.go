package wal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// assetCmds returns commands that create the assets named.
func assetCmds(names ...string) []engine.Command {
	cmds := make([]engine.Command, len(names))
	for i, n := range names {
		cmds[i].Kind = engine.CmdCreateAsset
		cmds[i].Name, _ = engine.MakeName(n)
	}
	return cmds
}

// An engine restarted on a log without the recovered state numbers its
// commands from 1 again: the log refuses them (the engine stops
// acknowledging, or refuses to open), and the acknowledged commands stay
// as they were.
func TestRestartWithoutStateRefused(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{})
	run(t, o.eng, assetCmds("AAA", "BBB", "CCC"))
	want := o.close(t)

	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.LastSeq(); got != 3 {
		t.Fatalf("LastSeq %d after reopening a log of 3 commands", got)
	}
	e, err := engine.Open(&engine.Options{Journal: l, Snapshots: l}) // no State
	if err == nil {
		c := assetCmds("DDD")[0]
		res, err := e.Do(context.Background(), &c, nil)
		if err == nil {
			err = res.Err
		}
		if !errors.Is(err, ErrOutOfSequence) {
			t.Errorf("command %d on a log whose last is 3: got %v, want ErrOutOfSequence", res.Seq, err)
		}
		_ = e.Close() // reports the journal's error
	} else {
		t.Logf("engine.Open refused: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	o = open(t, dir, nil, engine.Options{})
	if o.st.Replayed != 3 || o.st.LastSeq != 3 {
		t.Errorf("recovery %+v: want the 3 acknowledged commands", o.st)
	}
	if got := o.close(t); got.Hash() != want.Hash() {
		t.Fatal("the recovered state differs from the acknowledged one")
	}
}

// Append takes only the command after LastSeq (any first one on an empty
// log), never one that would write over the log or leave a gap.
func TestAppendInSequence(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	if l.LastSeq() != 0 {
		t.Fatalf("LastSeq %d on an empty log", l.LastSeq())
	}
	cmds := assetCmds("A1", "A2", "A3", "A4", "A5", "A6")
	appendSeq := func(l *Log, i int, seq uint64) error {
		c := cmds[i]
		c.Seq = seq
		return l.Append(&c)
	}
	if err := appendSeq(l, 0, 0); !errors.Is(err, ErrOutOfSequence) {
		t.Fatalf("seq 0 on an empty log: %v", err)
	}
	// A state built elsewhere: the log starts at its next command.
	for i, seq := range []uint64{5, 6} {
		if err := appendSeq(l, i, seq); err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range []uint64{8, 6, 1} {
		if err := appendSeq(l, 2, seq); !errors.Is(err, ErrOutOfSequence) || !contains(fmt.Sprint(err), "Log.Recover") {
			t.Fatalf("seq %d after 6: %v", seq, err)
		}
	}
	if err := appendSeq(l, 2, 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	if l.LastSeq() != 7 {
		t.Fatalf("LastSeq %d, want 7", l.LastSeq())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastSeq() != 7 {
		t.Fatalf("reopened: LastSeq %d, want 7", l.LastSeq())
	}
	for _, seq := range []uint64{1, 7, 9} {
		if err := appendSeq(l, 3, seq); !errors.Is(err, ErrOutOfSequence) {
			t.Fatalf("reopened, seq %d after 7: %v", seq, err)
		}
	}
	if err := appendSeq(l, 3, 8); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	s, err := l.Stats()
	if err != nil || s.FirstSeq != 5 || s.LastSeq != 8 {
		t.Fatalf("stats %+v, %v: want the log to hold 5..8", s, err)
	}
}

// A log truncated up to its snapshot may hold no entry: its last command
// is then the snapshot's (or, without it, the truncation mark's).
func TestLastSeqOfTruncatedLog(t *testing.T) {
	dir := t.TempDir()
	cmds := genesis(4) // 15 commands, in blocks of 5
	want := writeBlocks(t, dir, cmds, 5)
	n := want.Seq()
	l, err := Open(dir, &Options{Logger: &quiet, KeepSnapshots: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SaveSnapshot(n, want.AppendSnapshot(nil)); err != nil {
		t.Fatal(err)
	}
	if s, err := l.Stats(); err != nil || s.FirstSeq != 0 || s.LastSeq != 0 || l.LastSeq() != n {
		t.Fatalf("after truncation: %+v, %v, LastSeq %d: want no entry left, LastSeq %d", s, err, l.LastSeq(), n)
	}
	l.Close()

	l, err = Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	if l.LastSeq() != n {
		t.Fatalf("reopened: LastSeq %d, want %d", l.LastSeq(), n)
	}
	state, st, err := l.Recover()
	if err != nil || st.Replayed != 0 || state.Seq() != n || l.LastSeq() != n {
		t.Fatalf("recovery %+v, %v, LastSeq %d", st, err, l.LastSeq())
	}
	c := cmds[0]
	c.Seq = 1
	if err := l.Append(&c); !errors.Is(err, ErrOutOfSequence) {
		t.Fatalf("seq 1 on a log truncated up to %d: %v", n, err)
	}
	c.Seq = n + 1
	if err := l.Append(&c); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// Without its snapshot, the truncation mark still says where it is.
	if err := os.Remove(filepath.Join(dir, "snapshots", fmt.Sprintf("snap-%020d.ist", n))); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, dir)
	if err := db.DeleteRange(commandKey(nil, 0), commandKey(nil, n+2), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l, err = Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastSeq() != n {
		t.Fatalf("no entry nor snapshot: LastSeq %d, want the truncation mark %d", l.LastSeq(), n)
	}
}

// A torn entry that Recover discards is no longer part of the log: the
// next command takes its place.
func TestLastSeqAfterTornTail(t *testing.T) {
	dir := t.TempDir()
	want := writeBlocks(t, dir, genesis(4), 5)
	n := want.Seq()
	db := openDB(t, dir)
	key, v := entryAt(t, db, n)
	v[len(v)-1] ^= 0xff
	if err := db.Set(commandKey(nil, key), v, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastSeq() != n {
		t.Fatalf("before recovery: LastSeq %d, want %d", l.LastSeq(), n)
	}
	state, st, err := l.Recover()
	if err != nil || st.DiscardedTail != 1 {
		t.Fatalf("%+v, %v", st, err)
	}
	if l.LastSeq() != state.Seq() || state.Seq() >= n {
		t.Fatalf("after discarding the torn tail: LastSeq %d, state at %d", l.LastSeq(), state.Seq())
	}
}
