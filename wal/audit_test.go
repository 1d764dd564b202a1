package wal

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/book"
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
// again reaches the live state's final hash. The log decodes to the
// commands journaled, and the live state passes Check every 50.
func TestAuditStreamThroughLog(t *testing.T) {
	n := 8_000
	if testing.Short() {
		n = 3_000
	}
	auditThroughLog(t, cmdstream.New(7).FeeChanges().Freezes(), 7, n, 40)
}

// TestAuditStreamThroughLogGTD is TestAuditStreamThroughLog with a stream
// that also has good-till-date orders and cancel-all causes (mask bits 19
// and 20), and twice as many snapshots: the states recovered from
// snapshots with expiries pending, and from the log alone, expire the
// same orders at the same commands (the hashes; the commands' causes,
// which change events only, by the log decoding to the commands
// journaled). It fails if the stream has no expiry, no cancel of either
// cause, or no refused expiry or cause.
func TestAuditStreamThroughLogGTD(t *testing.T) {
	n := 8_000
	if testing.Short() {
		n = 3_000
	}
	seen := auditThroughLog(t, cmdstream.New(9).FeeChanges().Freezes().GTD().Causes(), 9, n, 20)
	for _, k := range []string{"gtd placed", "expired", "refused: expiry", "cancelled cancel_all_after",
		"cancelled disconnected", "refused: cause", "snapshots with expiries pending"} {
		if seen[k] == 0 {
			t.Errorf("the stream has no %q: %v", k, seen)
		}
	}
}

// TestAuditStreamThroughLogBands is TestAuditStreamThroughLogGTD with a
// stream that also holds markets to price bands (cmdstream's PriceBands):
// the states recovered from snapshots taken while a band was set
// (version 9), and from the log alone, hold the same orders to the same
// bands (the hashes). It fails if the stream has no band set or refused,
// no order or amend refused beyond a band, no market order's rest
// expired for it, no mirror skipped for it, or no snapshot with a band.
func TestAuditStreamThroughLogBands(t *testing.T) {
	n := 8_000
	if testing.Short() {
		n = 3_000
	}
	seen := auditThroughLog(t, cmdstream.New(11).FeeChanges().Freezes().GTD().Causes().PriceBands(), 11, n, 20)
	for _, k := range []string{"band set", "band removed", "band refused", "place refused: band", "amend refused: band",
		"expired price_band", "snapshots with a band", "gtd placed", "expired"} {
		if seen[k] == 0 {
			t.Errorf("the stream has no %q: %v", k, seen)
		}
	}
}

// TestAuditStreamThroughLogOpenLimits is TestAuditStreamThroughLogBands
// with a stream that also limits the live orders an account may have in
// a market (cmdstream's OpenLimits; mask bit 22): the commands that set
// limits, at genesis (CmdCreateMarket's MarketSpec.MaxOpenOrders) and
// later (CmdSetMaxOpenOrders), decode from the log as journaled, and the
// states recovered from snapshots taken while a limit was set (version
// 10, the counts of open orders rebuilt from the orders), and from the
// log alone, refuse the same places (the hashes). It fails if the stream
// has no limit set, removed or refused, no place refused for a limit, or
// no snapshot with a limit.
func TestAuditStreamThroughLogOpenLimits(t *testing.T) {
	n := 8_000
	if testing.Short() {
		n = 3_000
	}
	seen := auditThroughLog(t, cmdstream.New(12).FeeChanges().Freezes().GTD().Causes().PriceBands().OpenLimits(), 12, n, 20)
	for _, k := range []string{"limit set", "limit removed", "limit refused", "place refused: open orders",
		"snapshots with a limit", "band set", "place refused: band", "gtd placed", "expired"} {
		if seen[k] == 0 {
			t.Errorf("the stream has no %q: %v", k, seen)
		}
	}
	if seen["place refused: open orders"] < n/100 {
		t.Errorf("%d places refused for a limit on open orders in %d commands", seen["place refused: open orders"], n)
	}
}

// auditThroughLog journals n commands of g's stream after its genesis
// and recovers them: see TestAuditStreamThroughLog; seed draws the
// blocks and snapshots, one after a block in snapEvery. It checks the live state's invariants every 50
// commands, and that the log decodes to the commands journaled, and
// returns counts of what the stream held of good-till-date orders,
// cancel-all causes, price bands and limits on open orders
// (countStream), and of the snapshots with expiries pending, a band set
// (version 9) or a limit set (version 10).
func auditThroughLog(t *testing.T, g *cmdstream.Gen, seed uint64, n, snapEvery int) map[string]int {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, &Options{Logger: &quiet, NoTruncate: true, KeepSnapshots: 100})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 8))
	seen := map[string]int{}
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
		g.ObserveEvents(evs)
		countStream(seen, &c, out, evs)
		if len(cmds)%50 == 0 {
			if err := s.Check(); err != nil {
				t.Fatalf("after command %d %+v: %v", c.Seq, c, err)
			}
		}
		if pending++; pending < block {
			return
		}
		if err := l.Commit(); err != nil {
			t.Fatal(err)
		}
		hashAt[s.Seq()] = s.Hash()
		pending, block = 0, 1+r.IntN(40)
		if r.IntN(snapEvery) == 0 {
			snap := s.AppendSnapshot(nil)
			if err := l.SaveSnapshot(s.Seq(), snap); err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, s.Seq())
			if _, ok := s.NextExpiry(); ok {
				seen["snapshots with expiries pending"]++
			}
			switch binary.LittleEndian.Uint16(snap[4:]) { // after the magic: see engine's snapshotVersion
			case 9:
				seen["snapshots with a band"]++
			case 10:
				seen["snapshots with a limit"]++
			}
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
	t.Logf("%d commands, snapshots at %v; %v", last, snaps, seen)

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
	inLog := logCommands(t, db)
	if len(inLog) != len(cmds) {
		t.Fatalf("%d commands in the log, %d journaled", len(inLog), len(cmds))
	}
	for i := range cmds {
		if c := inLog[uint64(i+1)]; c != cmds[i] {
			t.Fatalf("command %d: %+v in the log, %+v journaled", i+1, c, cmds[i])
		}
	}
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
	return seen
}

// countStream counts in seen what command c, with outcome out and events
// evs, did of good-till-date orders, cancel-all causes, price bands and
// limits on open orders.
func countStream(seen map[string]int, c *engine.Command, out engine.Outcome, evs []engine.Event) {
	switch {
	case c.Kind == engine.CmdPlace && c.ExpireAt != 0 && out.Err == nil && !out.Duplicate:
		seen["gtd placed"]++
	case c.Kind == engine.CmdPlace && errors.Is(out.Err, engine.ErrInvalidExpiry):
		seen["refused: expiry"]++
	case c.Kind == engine.CmdCancelAll && errors.Is(out.Err, engine.ErrInvalidCommand):
		seen["refused: cause"]++
	case c.Kind == engine.CmdPlace && errors.Is(out.Err, engine.ErrPriceOutOfBand):
		seen["place refused: band"]++
	case (c.Kind == engine.CmdAmend || c.Kind == engine.CmdAmendTotal) && errors.Is(out.Err, engine.ErrPriceOutOfBand):
		seen["amend refused: band"]++
	case c.Kind == engine.CmdSetPriceBand && out.Err == nil && c.Spec.PriceBandBps == 0:
		seen["band removed"]++
	case c.Kind == engine.CmdSetPriceBand && out.Err == nil:
		seen["band set"]++
	case c.Kind == engine.CmdSetPriceBand:
		seen["band refused"]++
	case c.Kind == engine.CmdPlace && errors.Is(out.Err, engine.ErrTooManyOpenOrders):
		seen["place refused: open orders"]++
	case c.Kind == engine.CmdSetMaxOpenOrders && out.Err == nil && c.Spec.MaxOpenOrders == 0:
		seen["limit removed"]++
	case c.Kind == engine.CmdSetMaxOpenOrders && out.Err == nil:
		seen["limit set"]++
	case c.Kind == engine.CmdSetMaxOpenOrders:
		seen["limit refused"]++
	}
	for _, ev := range evs {
		switch {
		case ev.Kind == book.EvExpired && ev.Reason == book.ReasonExpired:
			seen["expired"]++
		case ev.Kind == book.EvCancelled && (ev.Reason == book.ReasonCancelAllAfter || ev.Reason == book.ReasonDisconnect):
			seen["cancelled "+ev.Reason.String()]++
		case ev.Kind == book.EvExpired && ev.Reason == book.ReasonPriceBand:
			seen["expired price_band"]++
		}
	}
}
