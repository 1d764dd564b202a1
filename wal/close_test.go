package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/engine"
)

// Every method of a closed log returns ErrClosed; a second Close returns
// nil.
func TestUseAfterClose(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := assetCmds("BTC")[0]
	c.Seq = 1
	if err := l.Append(&c); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	c.Seq = 2
	if err := l.Append(&c); err != nil { // left in the block: dropped by Close
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c.Seq = 3
	calls := map[string]func() error{
		"Append": func() error { return l.Append(&c) },
		"Commit": l.Commit,
		"CommitAsync": func() error {
			wait, err := l.CommitAsync()
			if wait != nil {
				t.Error("CommitAsync returned a wait")
			}
			return err
		},
		"Recover":      func() error { _, _, err := l.Recover(); return err },
		"SaveSnapshot": func() error { return l.SaveSnapshot(1, engine.NewState().AppendSnapshot(nil)) },
		"Backup":       func() error { return l.Backup(filepath.Join(t.TempDir(), "b")) },
		"BackupWith": func() error {
			return l.BackupWith(filepath.Join(t.TempDir(), "b"), func(uint64) error { return nil })
		},
		"Stats":     func() error { _, err := l.Stats(); return err },
		"SyncStats": func() error { _, err := l.SyncStats(); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if l.LastSeq() != 2 {
		t.Errorf("LastSeq after Close: %d, want 2", l.LastSeq())
	}

	l, err = Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, st, err := l.Recover(); err != nil || st.Replayed != 1 {
		t.Fatalf("reopened: %+v, %v: want the committed command only", st, err)
	}
}

// A CommitAsync's wait called after Close returns ErrClosed.
func TestCommitAsyncWaitAfterClose(t *testing.T) {
	l, err := Open(t.TempDir(), &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := assetCmds("BTC")[0]
	c.Seq = 1
	if err := l.Append(&c); err != nil {
		t.Fatal(err)
	}
	wait, err := l.CommitAsync()
	if err != nil || wait == nil {
		t.Fatalf("CommitAsync: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("wait after Close: %v, want ErrClosed", err)
	}
}

// Close may run while the journal, snapshot and backup goroutines use the
// log: each call either works or returns ErrClosed, none reaches the
// closed database, and what was committed is recovered.
func TestCloseConcurrentWithUse(t *testing.T) {
	for round := range 5 {
		dir := t.TempDir()
		l, err := Open(dir, &Options{Logger: &quiet, NoTruncate: true})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var committed atomic.Uint64 // by the journal goroutine
		errs := make(chan error, 4)
		check := func(what string, err error) bool {
			if err != nil && !errors.Is(err, ErrClosed) {
				errs <- fmt.Errorf("%s: %w", what, err)
			}
			return err == nil
		}
		wg.Add(3)
		go func() { // the journal goroutine, alternating Commit and CommitAsync
			defer wg.Done()
			c := assetCmds("ETH")[0]
			for seq := uint64(1); ; seq++ {
				c.Seq = seq
				if !check("Append", l.Append(&c)) {
					return
				}
				if seq%8 != 0 {
					continue
				}
				if seq%16 == 0 {
					if !check("Commit", l.Commit()) {
						return
					}
				} else {
					wait, err := l.CommitAsync()
					if !check("CommitAsync", err) || !check("wait", wait()) {
						return
					}
				}
				committed.Store(seq)
			}
		}()
		go func() { // the snapshot goroutine
			defer wg.Done()
			// At what was committed, as the engine's snapshots are: a
			// snapshot moves the log's last command up to it, and one
			// ahead of the journal would make its next Append out of
			// sequence.
			data := engine.NewState().AppendSnapshot(nil)
			for {
				seq := committed.Load()
				if seq == 0 {
					if _, err := l.Stats(); !check("Stats", err) {
						return
					}
					runtime.Gosched()
					continue
				}
				if !check("SaveSnapshot", l.SaveSnapshot(seq, data)) {
					return
				}
			}
		}()
		go func() { // readers and backups
			defer wg.Done()
			backups := t.TempDir()
			for i := 0; ; i++ {
				_, err := l.Stats()
				if !check("Stats", err) {
					return
				}
				_, err = l.SyncStats()
				if !check("SyncStats", err) {
					return
				}
				if i%4 == 0 {
					b := filepath.Join(backups, fmt.Sprint(i))
					if !check("Backup", l.Backup(b)) {
						return
					}
					_ = os.RemoveAll(b)
				}
			}
		}()
		time.Sleep(time.Duration(5+5*round) * time.Millisecond)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		l, err = Open(dir, &Options{Logger: &quiet, IgnoreSnapshots: true})
		if err != nil {
			t.Fatal(err)
		}
		state, _, err := l.Recover()
		if err != nil || state.Seq() < committed.Load() {
			t.Fatalf("round %d: recovered to %d (%v), but %d was committed", round, state.Seq(), err, committed.Load())
		}
		l.Close()
	}
}
