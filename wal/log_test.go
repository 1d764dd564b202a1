package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

var quiet = zerolog.Nop()

// genesis creates two assets, a market and n funded accounts.
func genesis(n int) []engine.Command {
	name := func(s string) engine.Name { v, _ := engine.MakeName(s); return v }
	cmds := []engine.Command{
		{Kind: engine.CmdCreateAsset, Name: name("BTC")},
		{Kind: engine.CmdCreateAsset, Name: name("USDT")},
		{Kind: engine.CmdCreateMarket, Name: name("BTC-USDT"), Spec: engine.MarketSpec{Base: 1, Quote: 2,
			BaseScale: 10, QuoteScale: 1, MakerFeeBps: 10, TakerFeeBps: 20,
			Rules: book.Rules{MaxPrice: 1 << 30, MaxQty: 1 << 20}}},
	}
	for a := 1; a <= n; a++ {
		ref, _ := engine.MakeRef(fmt.Sprint("g", a))
		cmds = append(cmds,
			engine.Command{Kind: engine.CmdCreateAccount, Name: name(fmt.Sprint("a", a))},
			engine.Command{Kind: engine.CmdDeposit, Account: uint64(a), Asset: 1, Amount: 1 << 40, Ref: ref},
			engine.Command{Kind: engine.CmdDeposit, Account: uint64(a), Asset: 2, Amount: 1 << 40})
	}
	return cmds
}

// trading returns a random trading command for accounts 1..n.
func trading(r *rand.Rand, n int, lastOrder uint64) engine.Command {
	c := engine.Command{Kind: engine.CmdPlace, Account: uint64(1 + r.IntN(n)), Market: 1}
	if r.IntN(4) == 0 && lastOrder > 0 {
		c.Kind = engine.CmdCancel
		c.OrderID = lastOrder - uint64(r.IntN(int(min(lastOrder, 20))))
		return c
	}
	side := book.Side(r.IntN(2))
	off := int64(r.IntN(20)) - 3
	price := 1000 - off
	if side == book.Sell {
		price = 1000 + off
	}
	c.Order = book.Order{Side: side, Price: price, Qty: 1 + int64(r.IntN(50))}
	return c
}

type opened struct {
	log *Log
	eng *engine.Engine
	st  RecoveryStats
}

func open(t testing.TB, dir string, fs vfs.FS, eopts engine.Options) opened {
	t.Helper()
	l, err := Open(dir, &Options{FS: fs, Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	state, st, err := l.Recover()
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	eopts.Journal, eopts.State, eopts.Snapshots = l, state, l
	e, err := engine.Open(&eopts)
	if err != nil {
		t.Fatal(err)
	}
	return opened{l, e, st}
}

func (o opened) close(t testing.TB) *engine.State {
	t.Helper()
	if err := o.eng.Close(); err != nil {
		t.Fatal(err)
	}
	st := o.eng.State()
	if err := o.log.Close(); err != nil {
		t.Fatal(err)
	}
	return st
}

func run(t testing.TB, e *engine.Engine, cmds []engine.Command) {
	t.Helper()
	for i := range cmds {
		if _, err := e.Do(context.Background(), &cmds[i], nil); err != nil {
			t.Fatal(err)
		}
	}
}

func randomRun(t testing.TB, e *engine.Engine, r *rand.Rand, n int, last *uint64) {
	t.Helper()
	for range n {
		c := trading(r, 8, *last)
		res, err := e.Do(context.Background(), &c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Kind == engine.CmdPlace && res.Err == nil {
			*last = res.ID
		}
	}
}

// Reopening replays the log: the state hash is the same as before.
func TestRecoverReplaysLog(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{})
	run(t, o.eng, genesis(8))
	r := rand.New(rand.NewPCG(1, 1))
	var last uint64
	randomRun(t, o.eng, r, 3000, &last)
	want := o.close(t)

	o = open(t, dir, nil, engine.Options{})
	if o.st.SnapshotSeq != 0 || o.st.LastSeq != want.Seq() || o.st.Replayed != int(want.Seq()) {
		t.Fatalf("recovery stats %+v, want %d replayed", o.st, want.Seq())
	}
	got := o.close(t)
	if got.Hash() != want.Hash() {
		t.Fatal("recovered state differs")
	}
}

// Snapshots cover the log, truncate it, and recovery starts from the
// newest one and replays only what follows.
func TestSnapshotsAndTruncation(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{SnapshotEvery: 500})
	run(t, o.eng, genesis(8))
	r := rand.New(rand.NewPCG(2, 2))
	var last uint64
	randomRun(t, o.eng, r, 2000, &last)
	seq, err := o.eng.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	randomRun(t, o.eng, r, 300, &last)
	stats, err := o.log.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// Blocks go whole: the log starts within one journal batch (at most
	// 4,096 commands) before the older snapshot's next command.
	if len(stats.Snapshots) != 2 || stats.Snapshots[0] != seq ||
		stats.FirstSeq > stats.Snapshots[1]+1 || stats.FirstSeq+4096 <= stats.Snapshots[1]+1 {
		t.Fatalf("after snapshot at %d: %+v (want 2 snapshots kept, log from the older one)", seq, stats)
	}
	want := o.close(t)

	o = open(t, dir, nil, engine.Options{})
	if o.st.SnapshotSeq < seq || o.st.Replayed >= 1000 || o.st.LastSeq != want.Seq() {
		t.Fatalf("recovery %+v: want a start from snapshot ≥ %d and a short replay", o.st, seq)
	}
	if got := o.close(t); got.Hash() != want.Hash() {
		t.Fatal("state recovered from snapshot + log differs")
	}
}

// A damaged entry at the very end of the log is a torn write: it is
// discarded, whole. The same damage before the end stops recovery with an
// error that names the entry. The entries are blocks of five commands.
func TestTornTailAndMidLogCorruption(t *testing.T) {
	for _, mid := range []bool{false, true} {
		dir := t.TempDir()
		want := writeBlocks(t, dir, genesis(4), 5)
		n := want.Seq()
		target := n
		if mid {
			target = n / 2
		}
		db := openDB(t, dir)
		key, v := entryAt(t, db, target)
		first, count, err := blockBounds(key, v)
		if err != nil || count < 2 {
			t.Fatalf("entry %d: %d commands from %d, %v: want a block", key, count, first, err)
		}
		at := len(v) / 2
		spans := recordSpans(v)
		v[at] ^= 0xff
		hit := first // the command whose record holds byte at
		for _, span := range spans {
			if span[1] > at {
				break
			}
			hit++
		}
		if err := db.Set(commandKey(nil, key), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		db.Close()

		l, err := Open(dir, &Options{Logger: &quiet})
		if err != nil {
			t.Fatal(err)
		}
		state, st, err := l.Recover()
		if mid {
			if err == nil || !errors.Is(err, ErrCorrupt) || !containsSeq(err, key) || !contains(err.Error(), fmt.Sprintf("seq %d ", hit)) {
				t.Fatalf("mid-log corruption in command %d: got %v", hit, err)
			}
		} else {
			if err != nil {
				t.Fatal(err)
			}
			if st.DiscardedTail != 1 || state.Seq() != first-1 {
				t.Fatalf("torn tail: %+v, state at %d, want %d", st, state.Seq(), first-1)
			}
			// The next start is clean.
			if _, st, err := l.Recover(); err != nil || st.DiscardedTail != 0 {
				t.Fatalf("second recovery: %+v %v", st, err)
			}
		}
		l.Close()
	}
}

// A log written before blocks (one record per key) is read as it is, and
// blocks appended after it follow on.
func TestRecordsThenBlocks(t *testing.T) {
	dir := t.TempDir()
	cmds := genesis(4)
	const old = 7
	db, err := pebble.Open(filepath.Join(dir, "log"), &pebble.Options{Logger: quietLogger{&quiet}})
	if err != nil {
		t.Fatal(err)
	}
	want := engine.NewState()
	var evs []engine.Event
	for i := range old {
		c := cmds[i]
		c.Seq, c.Time = uint64(i+1), int64(i+1)
		if err := db.Set(commandKey(nil, c.Seq), appendRecord(nil, &c), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		_, evs = want.Apply(&c, evs[:0])
	}
	db.Close()
	appendRest(t, dir, cmds, old, want)
}

// appendRest opens the log in dir, whose entries hold cmds[:from] (with
// sequence numbers and times 1, 2, ...; want is the state after them),
// appends and commits the rest the same way, and checks that recovery
// replays every command to the same state.
func appendRest(t *testing.T, dir string, cmds []engine.Command, from int, want *engine.State) {
	t.Helper()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var evs []engine.Event
	for i := from; i < len(cmds); i++ {
		c := cmds[i]
		c.Seq, c.Time = uint64(i+1), int64(i+1)
		if err := l.Append(&c); err != nil {
			t.Fatal(err)
		}
		_, evs = want.Apply(&c, evs[:0])
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	got, st, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if st.Replayed != len(cmds) || got.Hash() != want.Hash() {
		t.Fatalf("replayed %d of %d commands; same state: %v", st.Replayed, len(cmds), got.Hash() == want.Hash())
	}
	if s, err := l.Stats(); err != nil || s.FirstSeq != 1 || s.LastSeq != uint64(len(cmds)) {
		t.Fatalf("stats %+v, %v", s, err)
	}
}

// A log whose first blocks an earlier release wrote (version 2 or 3),
// followed by the blocks this one writes (version 4): recovery reads
// both, in order.
func TestOlderBlocksThenCurrent(t *testing.T) {
	for _, enc := range []func([]engine.Command) (uint64, []byte){encodeBlockV2, encodeBlockV3} {
		dir := t.TempDir()
		cmds := genesis(4)
		const old = 9 // commands in older blocks of 3
		db, err := pebble.Open(filepath.Join(dir, "log"), &pebble.Options{Logger: quietLogger{&quiet}})
		if err != nil {
			t.Fatal(err)
		}
		want := engine.NewState()
		var evs []engine.Event
		var block []engine.Command
		for i := range old {
			c := cmds[i]
			c.Seq, c.Time = uint64(i+1), int64(i+1)
			_, evs = want.Apply(&c, evs[:0])
			if block = append(block, c); len(block) == 3 {
				key, v := enc(block)
				if err := db.Set(commandKey(nil, key), v, pebble.Sync); err != nil {
					t.Fatal(err)
				}
				block = block[:0]
			}
		}
		db.Close()
		appendRest(t, dir, cmds, old, want)
	}
}

// A snapshot may end inside a block: recovery replays the block's
// commands after it, and truncation keeps that block.
func TestSnapshotInsideBlock(t *testing.T) {
	dir := t.TempDir()
	cmds := genesis(4)
	want := writeBlocks(t, dir, cmds, 5)
	const at = 7 // inside the block of 6..10
	snap := engine.NewState()
	var evs []engine.Event
	for i := range at {
		c := cmds[i]
		c.Seq, c.Time = uint64(i+1), int64(i+1)
		_, evs = snap.Apply(&c, evs[:0])
	}
	l, err := Open(dir, &Options{Logger: &quiet, KeepSnapshots: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.SaveSnapshot(at, snap.AppendSnapshot(nil)); err != nil {
		t.Fatal(err)
	}
	if s, err := l.Stats(); err != nil || s.FirstSeq != 6 {
		t.Fatalf("after truncation: %+v, %v; want the log to start at 6", s, err)
	}
	got, st, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if st.SnapshotSeq != at || st.Replayed != len(cmds)-at || got.Hash() != want.Hash() {
		t.Fatalf("%+v; same state: %v", st, got.Hash() == want.Hash())
	}
}

// A missing block is a gap: recovery stops with ErrGap.
func TestGapBetweenBlocks(t *testing.T) {
	dir := t.TempDir()
	writeBlocks(t, dir, genesis(4), 5)
	db := openDB(t, dir)
	key, _ := entryAt(t, db, 8)
	if err := db.Delete(commandKey(nil, key), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := l.Recover(); !errors.Is(err, ErrGap) {
		t.Fatalf("got %v, want ErrGap", err)
	}
}

func containsSeq(err error, seq uint64) bool {
	return err != nil && (fmt.Sprint(err) != "" && contains(err.Error(), fmt.Sprint(seq)))
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// An online backup taken under load starts as is and passes every
// invariant; one taken at rest has the exact state hash.
func TestBackupRestores(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{SnapshotEvery: 300})
	run(t, o.eng, genesis(8))
	r := rand.New(rand.NewPCG(4, 4))
	var last uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		rr := rand.New(rand.NewPCG(5, 5))
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := trading(rr, 8, 0)
			c.Kind = engine.CmdPlace
			if _, err := o.eng.Do(context.Background(), &c, nil); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	randomRun(t, o.eng, r, 500, &last)
	online := filepath.Join(t.TempDir(), "online")
	if err := o.log.Backup(online); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	want := o.close(t)

	b := open(t, online, nil, engine.Options{})
	st := b.close(t)
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	if st.Seq() == 0 || st.Seq() > want.Seq() {
		t.Fatalf("online backup at seq %d, original at %d", st.Seq(), want.Seq())
	}

	// At rest: the exact state.
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	atRest := filepath.Join(t.TempDir(), "rest")
	if err := l.Backup(atRest); err != nil {
		t.Fatal(err)
	}
	l.Close()
	b = open(t, atRest, nil, engine.Options{})
	if got := b.close(t); got.Hash() != want.Hash() {
		t.Fatal("backup restores a different state")
	}
}

// A failing fsync stops acknowledgements; reopening recovers every
// acknowledged command and nothing that was not.
func TestSyncFailureStopsAcks(t *testing.T) {
	dir := t.TempDir()
	var failing atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData ||
			op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileSyncTo) {
			return errorfs.ErrInjected
		}
		return nil
	})
	fs := errorfs.Wrap(vfs.Default, inj)
	o := open(t, dir, fs, engine.Options{})
	run(t, o.eng, genesis(4))
	var acked []uint64 // sequence numbers of acknowledged commands
	r := rand.New(rand.NewPCG(6, 6))
	for i := range 400 {
		if i == 200 {
			failing.Store(true)
		}
		c := trading(r, 4, 0)
		c.Kind = engine.CmdPlace
		res, err := o.eng.Do(context.Background(), &c, nil)
		if err == nil && res.Err == nil {
			acked = append(acked, res.Seq)
		} else if err == nil && !errors.Is(res.Err, engine.ErrJournal) && i >= 200 {
			t.Fatalf("command %d after the failure: %+v", i, res)
		}
	}
	if len(acked) < 200 || len(acked) >= 400 {
		t.Fatalf("%d commands acknowledged; want the 200 before the failure and none after", len(acked))
	}
	if err := o.eng.Close(); err == nil {
		t.Fatal("Close reported no journal error")
	}
	func() {
		defer func() { _ = recover() }() // pebble may refuse to close cleanly after a failed sync
		o.log.Close()
	}()

	// Reopen on the real filesystem.
	o = open(t, dir, nil, engine.Options{})
	st := o.close(t)
	if lastAcked := acked[len(acked)-1]; st.Seq() < lastAcked {
		t.Fatalf("recovered up to %d, but %d was acknowledged", st.Seq(), lastAcked)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

// SyncStats counts the log's fsyncs: every acknowledged Do waited for
// one, and the buckets are cumulative up to Count.
func TestSyncStats(t *testing.T) {
	o := open(t, t.TempDir(), nil, engine.Options{})
	defer o.close(t)
	st0, err := o.log.SyncStats()
	if err != nil {
		t.Fatal(err)
	}
	run(t, o.eng, genesis(2)) // one Do at a time: one sync each
	// Pebble counts a sync just after it wakes the sync's waiters: the
	// last one may show a moment after its Do returned.
	n := len(genesis(2))
	var st SyncStats
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if st, err = o.log.SyncStats(); err != nil {
			t.Fatal(err)
		}
		if st.Count >= st0.Count+uint64(n) || time.Now().After(deadline) {
			break
		}
	}
	if st.Count < st0.Count+uint64(n) || st.Sum <= st0.Sum {
		t.Fatalf("after %d synced commands: %+v (before: count %d)", n, st, st0.Count)
	}
	if len(st.Buckets) == 0 || st.Buckets[len(st.Buckets)-1].Count > st.Count {
		t.Fatalf("buckets %v of %d syncs", st.Buckets, st.Count)
	}
	for i := 1; i < len(st.Buckets); i++ {
		if b, p := st.Buckets[i], st.Buckets[i-1]; b.Le <= p.Le || b.Count < p.Count {
			t.Fatalf("buckets not cumulative: %v then %v", p, b)
		}
	}
}

// A truncated log whose snapshots are all unreadable is refused, never
// taken for a fresh one, even when its one remaining entry is damaged
// (which would otherwise pass for a torn tail and be discarded): by the
// truncation mark, and for logs of earlier releases (no mark) by the
// damaged entry's header, or, when that is damaged too, by the skipped
// snapshots. The log is left as it was.
func TestTruncatedLogWithoutSnapshotRefused(t *testing.T) {
	for _, tc := range []struct {
		name             string
		dropMark, header bool
	}{{"marked", false, true}, {"no mark, header intact", true, false}, {"no mark, header damaged", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, nil, engine.Options{})
			run(t, o.eng, genesis(4))
			r := rand.New(rand.NewPCG(5, 5))
			var last uint64
			randomRun(t, o.eng, r, 100, &last)
			s, err := o.eng.Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			randomRun(t, o.eng, r, 5, &last) // more blocks after the snapshot
			o.close(t)

			db := openDB(t, dir)
			if v, closer, err := db.Get(truncKey); err != nil || binary.BigEndian.Uint64(v) != s {
				t.Fatalf("truncation mark: %v", err)
			} else {
				closer.Close()
			}
			if tc.dropMark {
				if err := db.Delete(truncKey, pebble.Sync); err != nil {
					t.Fatal(err)
				}
			}
			key, v := entryAt(t, db, s+1)
			// The first entry holds s+1; it may start before it, in a
			// block that the snapshot ends inside.
			if first, _, err := blockBounds(key, v); err != nil || first > s+1 || first == 1 {
				t.Fatalf("the log's first entry %d starts at %d (%v): want a truncated log holding %d", key, first, err, s+1)
			}
			at := len(v) - 2 // in the last record's CRC
			if tc.header {
				at = 3 // in the first seq
			}
			v[at] ^= 0xff
			if err := db.Set(commandKey(nil, key), v, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if err := corruptFile(filepath.Join(dir, "snapshots", fmt.Sprintf("snap-%020d.ist", s)), 100); err != nil {
				t.Fatal(err)
			}

			l, err := Open(dir, &Options{Logger: &quiet})
			if err != nil {
				t.Fatal(err)
			}
			state, st, err := l.Recover()
			if !errors.Is(err, ErrNoSnapshot) {
				t.Fatalf("recovered state at %d (%+v), err %v: want ErrNoSnapshot", state.Seq(), st, err)
			}
			if st.SkippedSnapshots != 1 {
				t.Fatalf("skipped %d snapshots, want 1", st.SkippedSnapshots)
			}
			l.Close()
			db = openDB(t, dir)
			if _, got := entryAt(t, db, s+1); !bytes.Equal(got, v) {
				t.Fatal("the damaged entry was changed")
			}
			db.Close()
		})
	}
}

// A corrupt newest snapshot is skipped for the previous one, and set
// aside, not kept as one of the snapshots truncation relies on: after the
// next snapshot the two kept are readable, and the log still reaches back
// to the older one, so that damage to the newest leaves a way to start.
func TestCorruptSnapshotFallsBack(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{})
	run(t, o.eng, genesis(4))
	r := rand.New(rand.NewPCG(3, 3))
	var last uint64
	randomRun(t, o.eng, r, 200, &last)
	s1, _ := o.eng.Snapshot(context.Background())
	randomRun(t, o.eng, r, 200, &last)
	s2, _ := o.eng.Snapshot(context.Background())
	o.close(t)
	bad := filepath.Join(dir, "snapshots", fmt.Sprintf("snap-%020d.ist", s2))
	if err := corruptFile(bad, 100); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, nil, engine.Options{})
	if o.st.SnapshotSeq != s1 || o.st.SkippedSnapshots != 1 {
		t.Fatalf("recovered from %d skipping %d: want %d skipping 1", o.st.SnapshotSeq, o.st.SkippedSnapshots, s1)
	}
	if _, err := os.Stat(bad + ".corrupt"); err != nil {
		t.Fatalf("the unreadable snapshot was not set aside: %v", err)
	}
	randomRun(t, o.eng, r, 200, &last)
	s3, _ := o.eng.Snapshot(context.Background())
	st, err := o.log.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Snapshots, []uint64{s3, s1}) || st.FirstSeq > s1+1 {
		t.Fatalf("after snapshot %d: snapshots %v, log from %d: want [%d %d], log from at most %d",
			s3, st.Snapshots, st.FirstSeq, s3, s1, s1+1)
	}
	want := o.close(t)
	if err := corruptFile(filepath.Join(dir, "snapshots", fmt.Sprintf("snap-%020d.ist", s3)), 100); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, nil, engine.Options{})
	if o.st.SnapshotSeq != s1 {
		t.Fatalf("with the newest damaged too, recovered from %d, want %d", o.st.SnapshotSeq, s1)
	}
	if got := o.close(t); got.Hash() != want.Hash() {
		t.Fatal("state differs")
	}
}

// Price bands are journaled: a market created with one, band changes (to
// 0 too) and the orders they refuse or bound replay to the same state.
func TestRecoverReplaysPriceBands(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{})
	cmds := genesis(8)
	cmds[2].Spec.PriceBandBps = 100
	run(t, o.eng, cmds)
	r := rand.New(rand.NewPCG(3, 3))
	var last uint64
	refused, banded := 0, 0
	do := func(c engine.Command) engine.Result {
		t.Helper()
		res, err := o.eng.Do(context.Background(), &c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range 20 {
		randomRun(t, o.eng, r, 150, &last)
		band := []int32{0, 50, 100, 2000}[i%4]
		if res := do(engine.Command{Kind: engine.CmdSetPriceBand, Market: 1, Spec: engine.MarketSpec{PriceBandBps: band}}); res.Err != nil {
			t.Fatal(res.Err)
		}
		res := do(engine.Command{Kind: engine.CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 2000, Qty: 1}})
		if errors.Is(res.Err, engine.ErrPriceOutOfBand) {
			refused++
		}
		res = do(engine.Command{Kind: engine.CmdPlace, Account: 2, Market: 1,
			Order: book.Order{Side: book.Side(i % 2), Type: book.Market, Qty: 400}})
		for _, ev := range res.Events {
			if ev.Kind == book.EvExpired && ev.Reason == book.ReasonPriceBand {
				banded++
			}
		}
	}
	want := o.close(t)
	t.Logf("%d orders refused beyond a band, %d market orders stopped by one", refused, banded)
	if refused == 0 || banded == 0 {
		t.Fatalf("the bands refused %d orders and stopped %d: too few to test", refused, banded)
	}

	o = open(t, dir, nil, engine.Options{})
	if o.st.SnapshotSeq != 0 || o.st.Replayed != int(want.Seq()) {
		t.Fatalf("recovery stats %+v, want %d replayed", o.st, want.Seq())
	}
	if got := o.close(t); got.Hash() != want.Hash() {
		t.Fatal("recovered state differs")
	}
}

// Limits on open orders are journaled: a market created with one, limit
// changes (to 0 too) and the places they refuse replay to the same
// state, from the log alone and from a snapshot taken while a limit was
// set.
func TestRecoverReplaysOpenLimits(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{})
	cmds := genesis(8)
	cmds[2].Spec.MaxOpenOrders = 5
	run(t, o.eng, cmds)
	r := rand.New(rand.NewPCG(4, 4))
	var last uint64
	refused := 0
	do := func(c engine.Command) engine.Result {
		t.Helper()
		res, err := o.eng.Do(context.Background(), &c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range 20 {
		randomRun(t, o.eng, r, 150, &last)
		limit := []int32{0, 3, 1, 40}[i%4]
		if res := do(engine.Command{Kind: engine.CmdSetMaxOpenOrders, Market: 1, Spec: engine.MarketSpec{MaxOpenOrders: limit}}); res.Err != nil {
			t.Fatal(res.Err)
		}
		for range 3 {
			res := do(engine.Command{Kind: engine.CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 1, Qty: 1}})
			if errors.Is(res.Err, engine.ErrTooManyOpenOrders) {
				refused++
			}
		}
	}
	want := o.close(t)
	t.Logf("%d orders refused over a limit", refused)
	if refused == 0 {
		t.Fatal("no order refused over a limit: too few to test")
	}
	o = open(t, dir, nil, engine.Options{})
	if o.st.SnapshotSeq != 0 || o.st.Replayed != int(want.Seq()) {
		t.Fatalf("recovery stats %+v, want %d replayed", o.st, want.Seq())
	}
	// A snapshot while a limit of 1 holds orders over it, then more.
	do(engine.Command{Kind: engine.CmdSetMaxOpenOrders, Market: 1, Spec: engine.MarketSpec{MaxOpenOrders: 1}})
	if _, err := o.eng.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	randomRun(t, o.eng, r, 150, &last)
	want = o.close(t)
	o = open(t, dir, nil, engine.Options{})
	if o.st.SnapshotSeq == 0 {
		t.Fatalf("recovery stats %+v: no snapshot", o.st)
	}
	if got := o.close(t); got.Hash() != want.Hash() {
		t.Fatal("state recovered from the snapshot differs")
	}
}
