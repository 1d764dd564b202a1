package wal

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/engine"
)

// newestPebbleLog returns the path and size of the newest file of
// Pebble's own write-ahead log in the data directory dir.
func newestPebbleLog(t *testing.T, dir string) (string, int64) {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "log", "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no Pebble log files: %v", err)
	}
	sort.Strings(logs)
	fi, err := os.Stat(logs[len(logs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return logs[len(logs)-1], fi.Size()
}

// A byte damaged in the middle of Pebble's own write-ahead log, where the
// commands not yet flushed to tables are, stops start-up with an error:
// the acknowledged commands after it are not silently dropped as a torn
// tail. This holds for the first log file of a fresh data directory too.
func TestPebbleLogDamageRefused(t *testing.T) {
	for _, reopened := range []bool{false, true} {
		dir := t.TempDir()
		if reopened { // created by an earlier start
			open(t, dir, vfs.Default, engine.Options{}).close(t)
		}
		o := open(t, dir, vfs.Default, engine.Options{})
		run(t, o.eng, genesis(200))
		o.close(t)
		path, size := newestPebbleLog(t, dir)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, size/2); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, size/2); err != nil {
			t.Fatal(err)
		}
		f.Close()

		l, err := Open(dir, &Options{Logger: &quiet})
		if err == nil {
			state, st, rerr := l.Recover()
			l.Close()
			t.Fatalf("reopened=%v: a damaged Pebble log opened: recovered to %d (%+v, %v)", reopened, state.Seq(), st, rerr)
		}
		if !pebble.IsCorruptionError(err) || !strings.Contains(err.Error(), "after command ") {
			t.Fatalf("reopened=%v: %v: want a corruption error naming the last intact command", reopened, err)
		}
		t.Logf("reopened=%v: %v", reopened, err)
	}
}

// A write cut short at the end of Pebble's log (a crash before its sync
// returned: never acknowledged) is dropped, and the rest recovers.
func TestPebbleLogTornTail(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, vfs.Default, engine.Options{})
	run(t, o.eng, genesis(200))
	final := o.close(t).Seq()
	path, size := newestPebbleLog(t, dir)
	// Into the last record, past the end-of-log trailer a clean close writes.
	if err := os.Truncate(path, size-40); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	state, _, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if state.Seq() >= final || state.Seq() < final-8 {
		t.Fatalf("recovered to %d of %d: want all but the last block", state.Seq(), final)
	}
}
