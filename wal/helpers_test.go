package wal

import (
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/engine"
)

// corruptFile flips a byte of a file.
func corruptFile(path string, at int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		return err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, at)
	return err
}

// writeBlocks journals cmds, sequenced from 1, to the log in dir, per
// commits of per commands (one block each), as the engine would, and
// returns the state they give.
func writeBlocks(t *testing.T, dir string, cmds []engine.Command, per int) *engine.State {
	t.Helper()
	l, err := Open(dir, &Options{Logger: &quiet, NoTruncate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st := engine.NewState()
	var evs []engine.Event
	for i := range cmds {
		c := cmds[i]
		c.Seq, c.Time = uint64(i+1), int64(i+1)
		if err := l.Append(&c); err != nil {
			t.Fatal(err)
		}
		_, evs = st.Apply(&c, evs[:0])
		if (i+1)%per == 0 {
			if err := l.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	return st
}

// openDB opens the Pebble database of the log in dir.
func openDB(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir+"/log", &pebble.Options{Logger: quietLogger{&quiet}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// entryAt returns the key and a copy of the value of the log entry that
// holds sequence number seq (the first whose key is not below it).
func entryAt(t *testing.T, db *pebble.DB, seq uint64) (uint64, []byte) {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: commandKey(nil, seq), UpperBound: []byte{keyPrefix + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.First() {
		t.Fatalf("no log entry holds seq %d", seq)
	}
	key, ok := keySeq(it.Key())
	if !ok {
		t.Fatalf("bad key %q", it.Key())
	}
	return key, append([]byte(nil), it.Value()...)
}

// logCommands decodes every entry of the log db, by sequence number.
func logCommands(t *testing.T, db *pebble.DB) map[uint64]engine.Command {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyPrefix}, UpperBound: []byte{keyPrefix + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[uint64]engine.Command{}
	var cmds []engine.Command
	for valid := it.First(); valid; valid = it.Next() {
		key, ok := keySeq(it.Key())
		if !ok {
			t.Fatalf("bad key %q", it.Key())
		}
		if cmds, err = decodeEntry(key, it.Value(), cmds[:0]); err != nil {
			t.Fatalf("log entry %d: %v", key, err)
		}
		for _, c := range cmds {
			out[c.Seq] = c
		}
	}
	return out
}
