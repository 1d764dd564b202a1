package wal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// A crash while a snapshot is written leaves its temporary file, as
// large as a snapshot: Open deletes it, and nothing else in the
// snapshots directory. (Before, each such crash left one more for good;
// an istd killed 20 times under load with a snapshot every few thousand
// commands kept one of 5 MB.)
func TestOpenDeletesSnapshotTemps(t *testing.T) {
	dir := t.TempDir()
	cmds := genesis(4)
	want := writeBlocks(t, dir, cmds, 5)
	snap := engine.NewState()
	var evs []engine.Event
	for i := range 10 {
		c := cmds[i]
		c.Seq, c.Time = uint64(i+1), int64(i+1)
		_, evs = snap.Apply(&c, evs[:0])
	}
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SaveSnapshot(10, snap.AppendSnapshot(nil)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snaps := filepath.Join(dir, "snapshots")
	// What a crash in SaveSnapshot at 15 leaves, and files not the log's.
	temp := filepath.Join(snaps, "snap-00000000000000000015.ist.tmp")
	for _, name := range []string{temp, filepath.Join(snaps, "notes.tmp"), filepath.Join(snaps, "snap-x.ist.bak")} {
		if err := os.WriteFile(name, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err = Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var names []string
	ents, err := os.ReadDir(snaps)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if wantNames := []string{"notes.tmp", "snap-00000000000000000010.ist", "snap-x.ist.bak"}; !slices.Equal(names, wantNames) {
		t.Fatalf("snapshots directory after Open: %v, want %v", names, wantNames)
	}
	got, st, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if st.SnapshotSeq != 10 || got.Hash() != want.Hash() {
		t.Fatalf("recovered %+v; same state: %v", st, got.Hash() == want.Hash())
	}
}

// A file in the snapshots directory named like a snapshot but not as the
// log names them (snap-7.ist, renamed by hand) is not taken for one: it
// was listed as snapshot 7, looked for as snap-00000000000000000007.ist,
// and its pruning failed every later SaveSnapshot. It stays as it is.
func TestStraySnapshotName(t *testing.T) {
	dir := t.TempDir()
	cmds := genesis(5)
	writeBlocks(t, dir, cmds, 5)
	state := func(n int) []byte {
		s := engine.NewState()
		var evs []engine.Event
		for i := range n {
			c := cmds[i]
			c.Seq, c.Time = uint64(i+1), int64(i+1)
			_, evs = s.Apply(&c, evs[:0])
		}
		return s.AppendSnapshot(nil)
	}
	stray := filepath.Join(dir, "snapshots", "snap-7.ist")
	if err := os.MkdirAll(filepath.Dir(stray), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stray, state(7), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, st, err := l.Recover(); err != nil || st.SnapshotSeq != 0 || st.SkippedSnapshots != 0 {
		t.Fatalf("recovery %+v: %v", st, err)
	}
	for _, n := range []int{10, 15, 16} {
		if err := l.SaveSnapshot(uint64(n), state(n)); err != nil {
			t.Fatalf("snapshot %d: %v", n, err)
		}
	}
	if _, err := os.Stat(stray); err != nil {
		t.Fatalf("the stray file: %v", err)
	}
	if seqs, err := l.snapshots(); err != nil || !slices.Equal(seqs, []uint64{16, 15}) {
		t.Fatalf("snapshots %v: %v", seqs, err)
	}
}
