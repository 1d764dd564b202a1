package engine_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/cmdstream"
)

// The audit of determinism and replay: long streams of every command kind
// (internal/cmdstream) run again from nothing, through a chain of
// snapshots, and against a digest kept in testdata that every platform
// must reproduce (GOARCH=386 included).

var updateGolden = flag.Bool("update-audit-golden", false, "rewrite testdata/audit-stream.golden")

// recording is one run of a stream: its commands (sequenced), each one's
// outcome and events, and the state hash every hashEvery commands.
type recording struct {
	cmds   []engine.Command
	outs   []engine.Outcome
	evs    []engine.Event
	off    []int // command i's events are evs[off[i]:off[i+1]]
	hashes map[int][32]byte
	final  [32]byte
}

const auditHashEvery = 500

func (r *recording) events(i int) []engine.Event { return r.evs[r.off[i]:r.off[i+1]] }

// generate runs genesis and n generated commands of seed's stream on a
// new state, checking its invariants every checkEvery commands (0: never).
func generate(t testing.TB, seed uint64, n, checkEvery int) *recording {
	t.Helper()
	return generateFrom(t, cmdstream.New(seed), n, checkEvery)
}

// generateFrom is generate with the stream of g.
func generateFrom(t testing.TB, g *cmdstream.Gen, n, checkEvery int) *recording {
	t.Helper()
	return generateTimed(t, g, n, checkEvery, func(c *engine.Command) int64 { return int64(c.Seq) * 1_000_000 })
}

// generateTimed is generateFrom with the time of each command (its Seq
// set) given by timeOf instead of Seq milliseconds.
func generateTimed(t testing.TB, g *cmdstream.Gen, n, checkEvery int, timeOf func(c *engine.Command) int64) *recording {
	t.Helper()
	s := engine.NewState()
	rec := &recording{off: []int{0}, hashes: map[int][32]byte{}}
	var buf []engine.Event
	apply := func(c engine.Command) {
		i := len(rec.cmds)
		c.Seq = uint64(i + 1)
		c.Time = timeOf(&c)
		var out engine.Outcome
		out, buf = s.Apply(&c, buf[:0])
		rec.cmds = append(rec.cmds, c)
		rec.outs = append(rec.outs, out)
		rec.evs = append(rec.evs, buf...)
		rec.off = append(rec.off, len(rec.evs))
		if checkEvery > 0 && (i+1)%checkEvery == 0 {
			if err := s.Check(); err != nil {
				t.Fatalf("after command %d %+v: %v", c.Seq, c, err)
			}
		}
		if (i+1)%auditHashEvery == 0 {
			rec.hashes[i] = s.Hash()
		}
		g.Observe(&c, out)
		g.ObserveEvents(buf)
	}
	for _, c := range g.Genesis() {
		apply(c)
	}
	for range n {
		apply(g.Next())
	}
	rec.final = s.Hash()
	return rec
}

// sameOutcome fails t unless command i gave out and evs, as it did in rec.
func (rec *recording) same(t testing.TB, what string, i int, out engine.Outcome, evs []engine.Event) {
	t.Helper()
	want := rec.outs[i]
	if fmt.Sprint(out.Err) != fmt.Sprint(want.Err) || out.ID != want.ID || out.Duplicate != want.Duplicate || out.Trades != want.Trades {
		t.Fatalf("%s: command %d %s %+v: outcome %+v, first run %+v", what, i+1, rec.cmds[i].Kind, rec.cmds[i], out, want)
	}
	wevs := rec.events(i)
	if len(evs) != len(wevs) {
		t.Fatalf("%s: command %d %s: %d events, first run %d", what, i+1, rec.cmds[i].Kind, len(evs), len(wevs))
	}
	for k := range evs {
		if evs[k] != wevs[k] {
			t.Fatalf("%s: command %d %s event %d: %+v, first run %+v", what, i+1, rec.cmds[i].Kind, k, evs[k], wevs[k])
		}
	}
}

// auditLen is the length of an audit stream: 20,000 commands, or 6,000
// with -short and under the race detector, which slows these
// single-goroutine tests some ten times and has no race to find in them
// (scripts/test.sh runs the package whole without it too).
func auditLen() int {
	if testing.Short() || auditRace {
		return 6_000
	}
	return 20_000
}

// TestAuditStreamReplay: a stream of every command kind, applied again to
// a new state, gives the same outcome and events for every command and
// the same state hash every auditHashEvery commands and at the end; and
// the stream reaches what it is meant to (every kind of command and
// event, copy-trading outcomes, refused overflows, duplicates).
func TestAuditStreamReplay(t *testing.T) {
	seed := auditSeed(t, 1)
	rec := generate(t, seed, 20_000, 100) // short mode too: cheap, and some outcomes are rare
	checkReplay(t, rec)
	checkCoverage(t, rec)
}

// checkReplay applies rec's commands again to a new state: each must give
// the same outcome and events, and the state the same hashes.
func checkReplay(t *testing.T, rec *recording) {
	t.Helper()
	s := engine.NewState()
	var buf []engine.Event
	for i := range rec.cmds {
		var out engine.Outcome
		out, buf = s.Apply(&rec.cmds[i], buf[:0])
		rec.same(t, "replay", i, out, buf)
		if h, ok := rec.hashes[i]; ok && s.Hash() != h {
			t.Fatalf("replay: state hash after command %d differs", i+1)
		}
	}
	if s.Hash() != rec.final {
		t.Fatal("replay: final state hash differs")
	}
}

// TestAuditStreamFeeChanges: a stream that also changes markets' fees
// (cmdstream's FeeChanges; the other audit streams, the golden one
// included, have none) keeps the invariants, replays to the same
// outcomes, events and hashes, directly and through a chain of
// snapshots, and changes fees, refused changes included.
func TestAuditStreamFeeChanges(t *testing.T) {
	seed := auditSeed(t, 3)
	rec := generateFrom(t, cmdstream.New(seed).FeeChanges(), auditLen(), 50)
	checkReplay(t, rec)
	checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	seen := map[string]int{}
	for i, c := range rec.cmds {
		if c.Kind != engine.CmdSetMarketFees {
			continue
		}
		switch out := rec.outs[i]; {
		case errors.Is(out.Err, engine.ErrInvalidSpec):
			seen["refused: fees"]++
		case errors.Is(out.Err, engine.ErrUnknownMarket):
			seen["refused: market"]++
		case out.Err == nil:
			seen["changed"]++
		}
		for _, ev := range rec.events(i) {
			if ev.Kind != book.EvCancelled || ev.Reason != book.ReasonFeeChange {
				t.Fatalf("command %d %+v gave %+v", i+1, c, ev)
			}
			seen["cancelled"]++
		}
	}
	t.Logf("fee changes: %v", seen)
	if seen["changed"] < auditLen()/200 || seen["refused: fees"] == 0 {
		t.Fatalf("the stream has too few fee changes: %v", seen)
	}
}

// TestAuditStreamFreezes: a stream that also freezes and unfreezes
// accounts (cmdstream's Freezes, with fee changes) keeps the invariants,
// replays to the same outcomes, events and hashes, directly and through a
// chain of snapshots (versions 6 and 7 as accounts are frozen or not),
// and freezes accounts that had orders live and refuses their commands.
func TestAuditStreamFreezes(t *testing.T) {
	seed := auditSeed(t, 4)
	rec := generateFrom(t, cmdstream.New(seed).FeeChanges().Freezes(), auditLen(), 50)
	checkReplay(t, rec)
	checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	seen := map[string]int{}
	for i, c := range rec.cmds {
		out := rec.outs[i]
		if errors.Is(out.Err, engine.ErrAccountFrozen) {
			seen["refused: frozen"]++
		}
		if c.Kind != engine.CmdSetAccountFrozen {
			continue
		}
		switch {
		case errors.Is(out.Err, engine.ErrUnknownAccount):
			seen["refused: account"]++
		case out.Err == nil && c.Frozen:
			seen["frozen"]++
		case out.Err == nil:
			seen["unfrozen"]++
		}
		for _, ev := range rec.events(i) {
			if ev.Kind != book.EvCancelled || ev.Reason != book.ReasonAccountFrozen || ev.Owner != c.Account {
				t.Fatalf("command %d %+v gave %+v", i+1, c, ev)
			}
			seen["cancelled"]++
		}
	}
	t.Logf("freezes: %v", seen)
	for _, k := range []string{"frozen", "unfrozen", "cancelled", "refused: frozen", "refused: account"} {
		if seen[k] == 0 {
			t.Fatalf("the stream has no %q: %v", k, seen)
		}
	}
}

// checkCoverage fails t if rec lacks a kind of command, event or outcome
// that the audit streams are meant to hold (with IST_SEED set, it only
// logs it: a stop-loss, say, is rare enough for some streams to lack).
func checkCoverage(t *testing.T, rec *recording) {
	t.Helper()
	seen := map[string]int{}
	for i, c := range rec.cmds {
		out := rec.outs[i]
		key := c.Kind.String()
		switch {
		case out.Duplicate:
			key += " duplicate"
		case out.Err != nil:
			key += " refused"
		}
		seen[key]++
		if c.Kind == engine.CmdPlace && out.Err == nil {
			seen["type "+c.Order.Type.String()]++
			if c.Order.DisplayQty > 0 {
				seen["iceberg"]++
			}
			if c.Order.QuoteBudget > 0 {
				seen["budget"]++
			}
		}
		for _, err := range []error{engine.ErrOverflow, engine.ErrMarketHalted, engine.ErrRefConflict,
			engine.ErrDuplicateClientID, engine.ErrInsufficientFunds, book.ErrNotionalOverflow, engine.ErrProfitShareAboveMax} {
			if errors.Is(out.Err, err) {
				seen[err.Error()]++
			}
		}
		for _, ev := range rec.events(i) {
			key := "event " + eventName(ev.Kind)
			switch ev.Kind {
			case engine.EvCopySkipped, engine.EvCopyClosed:
				key += " " + ev.CopyReason.String()
			case book.EvTrade:
				if ev.Relation != 0 {
					key = "mirrored trade"
				}
				if ev.Market == 3 {
					seen["trade on BIG-USDT"]++
				}
			}
			seen[key]++
		}
	}
	t.Logf("%d commands, %d events: %v", len(rec.cmds), len(rec.evs), seen)
	for _, k := range []string{
		"place", "place refused", "place duplicate", "cancel", "cancel refused", "cancel_all", "amend", "amend_total",
		"deposit", "deposit duplicate", "withdraw", "withdraw duplicate", "halt_market", "resume_market",
		"create_market", "create_market refused", "create_account", "tick", "snapshot", "command? refused",
		"follow", "follow refused", "amend_follow", "pause_follow", "resume_follow", "unfollow", "settle",
		"set_leader_profile", "set_leader_profile refused",
		"type limit", "type market", "type stop_limit", "type stop_market", "iceberg", "budget",
		"event trade", "event triggered", "event amended", "event expired", "event cancelled",
		"mirrored trade", "trade on BIG-USDT", "event profit_share",
		"event copy_skipped paused", "event copy_skipped below_lot", "event copy_skipped other_quote_asset",
		"event copy_skipped no_position", "event copy_closed unfollow", "event copy_closed stop_loss",
		engine.ErrOverflow.Error(), engine.ErrMarketHalted.Error(), engine.ErrRefConflict.Error(),
		engine.ErrDuplicateClientID.Error(), engine.ErrInsufficientFunds.Error(), engine.ErrProfitShareAboveMax.Error(),
	} {
		switch {
		case seen[k] > 0:
		case os.Getenv("IST_SEED") != "":
			t.Logf("the stream has no %q (another seed may)", k) // some are rare
		default:
			t.Errorf("the stream has no %q", k)
		}
	}
}

// TestAuditStreamSnapshotChain: the stream applied to a state that is
// replaced, every few commands (1 to 64, at random), by the state decoded
// from its snapshot gives the same outcomes, events and hashes as the
// uninterrupted run; every snapshot re-encodes to the same bytes, its
// decoded state passes Check and has the same hash, and it is of version
// 10 exactly while some market has a limit on open orders, else of
// version 9 exactly while some market has a price band (checkChain, for
// every audit stream).
func TestAuditStreamSnapshotChain(t *testing.T) {
	seed := auditSeed(t, 2)
	checkChain(t, generate(t, seed, auditLen(), 0), rand.New(rand.NewPCG(seed, 99)))
}

// chainStats is what checkChain saw of good-till-date orders.
type chainStats struct {
	restores int
	// pending counts the restored states that had an expiry pending, and
	// expired the expiries applied by a state restored after the order
	// was placed (from a snapshot that held it).
	pending, expired int
	// banded counts the snapshots taken while some market had a price
	// band (version 9, which no other snapshot has, or 10 if some market
	// had a limit on open orders too), limited those taken while some
	// market had a limit on open orders (version 10, which no other
	// snapshot has).
	banded, limited int
}

// checkChain applies rec's commands to a state that is replaced, every
// 1 to 64 commands (drawn from r), by the state decoded from its
// snapshot: see TestAuditStreamSnapshotChain.
func checkChain(t *testing.T, rec *recording, r *rand.Rand) chainStats {
	t.Helper()
	placedAt := map[uint64]int{} // good-till-date orders: the command that placed each
	for i, c := range rec.cmds {
		if out := rec.outs[i]; c.Kind == engine.CmdPlace && c.ExpireAt != 0 && out.Err == nil && !out.Duplicate {
			placedAt[out.ID] = i
		}
	}
	s := engine.NewState()
	var buf []engine.Event
	var snap []byte
	var st chainStats
	lastRestore := -1 // the last command before it
	next := 1 + r.IntN(64)
	banded, limited := bandedAfter(rec), limitedAfter(rec)
	for i := range rec.cmds {
		var out engine.Outcome
		out, buf = s.Apply(&rec.cmds[i], buf[:0])
		rec.same(t, fmt.Sprintf("chain (%d restores)", st.restores), i, out, buf)
		for _, ev := range buf {
			if p, ok := placedAt[ev.OrderID]; ok && ev.Kind == book.EvExpired && ev.Reason == book.ReasonExpired && p <= lastRestore {
				st.expired++
			}
		}
		if i+1 < next && i+1 < len(rec.cmds) {
			continue
		}
		next = i + 1 + 1 + r.IntN(64)
		snap = s.AppendSnapshot(snap[:0])
		switch v := binary.LittleEndian.Uint16(snap[4:]); {
		case (v == 10) != limited[i]:
			t.Fatalf("after command %d: snapshot version %d, with a limit on open orders set: %v", i+1, v, limited[i])
		case !limited[i] && (v == 9) != banded[i]:
			t.Fatalf("after command %d: snapshot version %d, with a price band set: %v", i+1, v, banded[i])
		}
		if banded[i] {
			st.banded++
		}
		if limited[i] {
			st.limited++
		}
		s2, err := engine.DecodeState(snap)
		if err != nil {
			t.Fatalf("after command %d: %v", i+1, err)
		}
		if again := s2.AppendSnapshot(nil); !bytes.Equal(again, snap) {
			t.Fatalf("after command %d: the decoded state encodes to other bytes (%d, %d)", i+1, len(again), len(snap))
		}
		if s2.Hash() != s.Hash() {
			t.Fatalf("after command %d: the decoded state has another hash", i+1)
		}
		if h, ok := rec.hashes[i]; ok && s2.Hash() != h {
			t.Fatalf("after command %d: hash differs from the first run's", i+1)
		}
		if err := s2.Check(); err != nil {
			t.Fatalf("after command %d: the decoded state: %v", i+1, err)
		}
		a1, ok1 := s.NextExpiry()
		a2, ok2 := s2.NextExpiry()
		if a1 != a2 || ok1 != ok2 {
			t.Fatalf("after command %d: the decoded state's next expiry is %d %v, the state's %d %v", i+1, a2, ok2, a1, ok1)
		}
		if ok2 {
			st.pending++
		}
		s = s2
		st.restores++
		lastRestore = i
	}
	if s.Hash() != rec.final {
		t.Fatal("final state hash differs")
	}
	t.Logf("%d commands, %d restores from snapshots", len(rec.cmds), st.restores)
	if st.pending > 0 {
		t.Logf("%d restored states had expiries pending; %d expiries after a restore", st.pending, st.expired)
	}
	if st.banded > 0 {
		t.Logf("%d snapshots with a price band set (version 9 or 10)", st.banded)
	}
	if st.limited > 0 {
		t.Logf("%d snapshots with a limit on open orders set (version 10)", st.limited)
	}
	return st
}

// digest returns a SHA-256 over every command's outcome and events and the
// state hashes of rec, in a platform-independent encoding.
func (rec *recording) digest() [32]byte {
	h := sha256.New()
	var b []byte
	for i := range rec.cmds {
		out := rec.outs[i]
		b = b[:0]
		b = binary.LittleEndian.AppendUint64(b, rec.cmds[i].Seq)
		b = append(b, uint8(rec.cmds[i].Kind))
		b = append(b, fmt.Sprint(out.Err)...)
		b = binary.LittleEndian.AppendUint64(b, out.ID)
		b = binary.LittleEndian.AppendUint64(b, out.Trades)
		if out.Duplicate {
			b = append(b, 1)
		}
		for _, ev := range rec.events(i) {
			b = append(b, uint8(ev.Kind), uint8(ev.Side), uint8(ev.Reason), uint8(ev.CopyReason))
			if ev.KeptPriority {
				b = append(b, 1)
			}
			for _, v := range []uint64{ev.OrderID, ev.Owner, ev.MakerID, ev.MakerOwner, uint64(ev.Price), uint64(ev.Qty),
				uint64(ev.Remaining), uint64(ev.MakerRemaining), uint64(ev.Market), uint64(ev.TakerFee), uint64(ev.MakerFee),
				ev.Relation, uint64(ev.Amount)} {
				b = binary.LittleEndian.AppendUint64(b, v)
			}
		}
		if sh, ok := rec.hashes[i]; ok {
			b = append(b, sh[:]...)
		}
		h.Write(b)
	}
	h.Write(rec.final[:])
	return [32]byte(h.Sum(nil))
}

const goldenPath = "testdata/audit-stream.golden"

// TestAuditStreamGolden: one fixed stream (the same in short mode) gives
// the final state hash and the digest of every outcome and event written
// in testdata/audit-stream.golden, on every platform: run it with
// GOARCH=386 too (go test ./engine -run TestAuditStreamGolden). Int-sized
// arithmetic, map order or anything else that differs between runs or
// platforms changes it. Rewrite the file with -update-audit-golden only
// for a change that is meant to change what commands do, and raise
// RulesVersion with it (the file records the version: an update that
// changes the digest under the same version is refused, since old logs
// would then replay differently without istd knowing), or for a change
// of the snapshot encoding, which changes only the state hash.
func TestAuditStreamGolden(t *testing.T) {
	rec := generate(t, 20260101, 8_000, 0)
	got := fmt.Sprintf("rules %d\nstate %x\ndigest %x\n", engine.RulesVersion, rec.final, rec.digest())
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var wantRules int
	var wantState, wantDigest string
	if _, err := fmt.Sscanf(string(want), "rules %d\nstate %s\ndigest %s\n", &wantRules, &wantState, &wantDigest); err != nil ||
		len(wantState) != 64 || len(wantDigest) != 64 {
		t.Fatalf("bad golden file %q: %v", want, err)
	}
	digestChanged := wantDigest != fmt.Sprintf("%x", rec.digest())
	if digestChanged && wantRules == engine.RulesVersion {
		t.Fatalf("the stream's outcomes and events differ from %s under the same rules version %d (GOOS/GOARCH of this run: %s): "+
			"a change that makes commands do something else must raise engine.RulesVersion (then update the file with "+
			"-update-audit-golden); anything else that changes them is a bug:\ngot\n%swant\n%s",
			filepath.Base(goldenPath), engine.RulesVersion, runtimeArch(), got, want)
	}
	if *updateGolden {
		if err := os.WriteFile(goldenPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != string(want) {
		t.Fatalf("the stream's results differ from %s (GOOS/GOARCH of this run: %s); if the snapshot encoding or "+
			"RulesVersion changed on purpose, update it with -update-audit-golden:\ngot\n%swant\n%s",
			filepath.Base(goldenPath), runtimeArch(), got, want)
	}
}

// auditSeed returns the seed from IST_SEED, or def.
func auditSeed(t testing.TB, def uint64) uint64 {
	if v := os.Getenv("IST_SEED"); v != "" {
		if _, err := fmt.Sscan(v, &def); err != nil {
			t.Fatalf("IST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set IST_SEED to repeat)", def)
	return def
}

func runtimeArch() string { return runtime.GOOS + "/" + runtime.GOARCH }

// eventName names an event kind, the engine's copy-trading kinds included.
func eventName(k book.EventKind) string {
	switch k {
	case engine.EvCopySkipped:
		return "copy_skipped"
	case engine.EvCopyClosed:
		return "copy_closed"
	case engine.EvProfitShare:
		return "profit_share"
	}
	return k.String()
}
