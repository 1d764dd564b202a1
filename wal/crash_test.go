package wal

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// The crash harness runs the engine with the real log in a child process
// (this test binary, re-executed) under load from several clients, kills
// it with SIGKILL at random moments, restarts it, and checks after every
// restart:
//   - every acknowledged command is in the log at its sequence number,
//     with the tag its client gave it (nothing acknowledged is lost);
//   - no deposit is applied twice: clients resend every reference from 0
//     after each restart, and each client's balance equals the number of
//     distinct references it ever had acknowledged or may have had applied;
//   - money is conserved and every invariant holds (State.Check);
// and at the end, that the state recovered from snapshot + log has the
// same hash as a clean replay of the whole log in a fresh process.

const crashClients = 4

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash harness skipped in -short")
	}
	// keep: the whole log is kept, so every acknowledged command is
	// checked in it and a fresh process replays it from the start.
	// truncate: as istd runs, each snapshot truncates the log behind the
	// older of the two kept, so kills land around truncations too; the
	// acknowledged commands are checked in the log above its truncation
	// mark, and in every recovered state.
	for _, truncate := range []bool{false, true} {
		name := map[bool]string{false: "keep", true: "truncate"}[truncate]
		t.Run(name, func(t *testing.T) { crashRecovery(t, truncate) })
	}
}

func crashRecovery(t *testing.T, truncate bool) {
	kills := 20
	if v := os.Getenv("IST_CRASH_KILLS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := map[uint64]uint64{} // seq → tag
	maxRef := make([]int, crashClients+1)
	ackedRefs := make([]map[int]bool, crashClients+1)
	for i := range ackedRefs {
		ackedRefs[i] = map[int]bool{}
	}
	var last childReport
	// With truncation, runs go on past kills until a snapshot has
	// truncated the log (at most 3 × kills runs, each 2 s long): on a slow
	// machine, under the race detector, 20 short runs may not reach the
	// snapshots that truncate it.
	for k := 0; ; k++ {
		final := k >= kills && (!truncate || k >= 3*kills || truncationMark(t, dir) > 0)
		mode := "run"
		if final {
			mode = "final" // recover and check, no load
		}
		child := startChild(t, dir, mode, truncate)
		rep := child.waitReady(t)
		checkRecovered(t, k, rep, acked, ackedRefs, maxRef)
		last = rep
		if final {
			kills = k
			child.stop(t)
			break
		}
		pause := time.Duration(30+r.IntN(250)) * time.Millisecond
		if k >= kills {
			// Runs past kills, for a truncation: a run must place
			// SnapshotEvery commands for its engine to take a snapshot,
			// which a short one under load may never do.
			pause = 2 * time.Second
		}
		time.Sleep(pause)
		child.kill()
		for _, a := range child.acks() {
			acked[a.seq] = a.tag
			if a.ref >= 0 {
				ackedRefs[a.client][a.ref] = true
			}
		}
		for c, n := range child.sent() {
			maxRef[c] = max(maxRef[c], n)
		}
		verifyLog(t, dir, acked, truncate)
	}
	if len(acked) < 100 {
		t.Fatalf("only %d commands acknowledged across %d runs: the harness did not load the engine", len(acked), kills)
	}
	if truncate {
		mark := truncationMark(t, dir)
		if mark == 0 {
			t.Fatal("the log was never truncated: the harness does not exercise truncation")
		}
		t.Logf("%d kills, %d acknowledged commands, final seq %d, log truncated up to %d", kills, len(acked), last.seq, mark)
		return
	}
	// A fresh process replays the whole log from the start.
	replay := startChild(t, dir, "replay", false)
	rep := replay.waitReady(t)
	replay.stop(t)
	if rep.hash != last.hash || rep.seq != last.seq {
		t.Fatalf("clean replay: seq %d hash %s; recovery gave seq %d hash %s", rep.seq, rep.hash, last.seq, last.hash)
	}
	if last.mirrored == 0 {
		t.Fatal("no copy wallet ever traded: the harness does not exercise mirroring")
	}
	t.Logf("%d kills, %d acknowledged commands, final seq %d, %d copy wallets traded", kills, len(acked), last.seq, last.mirrored)
}

func checkRecovered(t *testing.T, run int, rep childReport, acked map[uint64]uint64, ackedRefs []map[int]bool, maxRef []int) {
	t.Helper()
	if !rep.checkOK {
		t.Fatalf("run %d: invariants broken after recovery: %s", run, rep.checkErr)
	}
	for seq := range acked {
		if seq > rep.seq {
			t.Fatalf("run %d: command %d was acknowledged but recovery stops at %d", run, seq, rep.seq)
		}
	}
	for c := 1; c <= crashClients; c++ {
		bal := rep.balances[c]
		if bal < int64(len(ackedRefs[c])) {
			t.Fatalf("run %d: client %d balance %d < %d acknowledged deposits", run, c, bal, len(ackedRefs[c]))
		}
		if bal > int64(maxRef[c]) {
			t.Fatalf("run %d: client %d balance %d > %d distinct references ever sent: a deposit was applied twice", run, c, bal, maxRef[c])
		}
	}
}

// verifyLog opens the log of the killed child and checks every
// acknowledged command against it.
func verifyLog(t *testing.T, dir string, acked map[uint64]uint64, truncated bool) {
	t.Helper()
	var mark uint64
	if truncated {
		mark = truncationMark(t, dir)
	}
	db := openDB(t, dir)
	defer db.Close()
	logged := logCommands(t, db)
	for seq, tag := range acked {
		if seq <= mark {
			continue // a snapshot covers it
		}
		cmd, ok := logged[seq]
		if !ok {
			t.Fatalf("acknowledged command %d missing from the log", seq)
		}
		if cmd.Tag != tag {
			t.Fatalf("log record %d has tag %d, the client was acknowledged tag %d", seq, cmd.Tag, tag)
		}
	}
}

type ack struct {
	seq, tag uint64
	client   int
	ref      int // deposit reference number, -1 for other commands
}

type childReport struct {
	seq      uint64
	hash     string
	balances map[int]int64
	checkOK  bool
	checkErr string
	mirrored int // copy wallets that traded
}

type child struct {
	cmd   *exec.Cmd
	out   *bufio.Scanner
	mu    sync.Mutex
	acked []ack
	sentN map[int]int
	done  chan struct{}
}

// truncationMark returns how far the log in dir is truncated.
func truncationMark(t *testing.T, dir string) uint64 {
	t.Helper()
	l, err := Open(dir, &Options{Logger: &quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mark, err := l.truncatedTo()
	if err != nil {
		t.Fatal(err)
	}
	return mark
}

func startChild(t *testing.T, dir, mode string, truncate bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), "IST_CRASH_DIR="+dir, "IST_CRASH_MODE="+mode,
		"IST_CRASH_TRUNCATE="+strconv.FormatBool(truncate))
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	return &child{cmd: cmd, out: sc, sentN: map[int]int{}, done: make(chan struct{})}
}

// waitReady reads the child's recovery report, then keeps reading its
// acknowledgements in the background.
func (c *child) waitReady(t *testing.T) childReport {
	t.Helper()
	rep := childReport{balances: map[int]int64{}}
	for c.out.Scan() {
		f := strings.Fields(c.out.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "RECOVERED":
			rep.seq, _ = strconv.ParseUint(f[1], 10, 64)
			rep.hash = f[2]
		case "BAL":
			cl, _ := strconv.Atoi(f[1])
			rep.balances[cl], _ = strconv.ParseInt(f[2], 10, 64)
		case "MIRRORED":
			rep.mirrored, _ = strconv.Atoi(f[1])
		case "CHECK":
			rep.checkOK = f[1] == "ok"
			rep.checkErr = strings.Join(f[1:], " ")
		case "READY":
			go c.readAcks()
			return rep
		}
	}
	t.Fatalf("child exited before it was ready: %v", c.out.Err())
	return rep
}

func (c *child) readAcks() {
	defer close(c.done)
	for c.out.Scan() {
		f := strings.Fields(c.out.Text())
		if len(f) == 5 && f[0] == "ACK" {
			var a ack
			a.seq, _ = strconv.ParseUint(f[1], 10, 64)
			a.tag, _ = strconv.ParseUint(f[2], 10, 64)
			a.client, _ = strconv.Atoi(f[3])
			a.ref, _ = strconv.Atoi(f[4])
			c.mu.Lock()
			c.acked = append(c.acked, a)
			c.mu.Unlock()
		} else if len(f) == 3 && f[0] == "SENT" {
			cl, _ := strconv.Atoi(f[1])
			n, _ := strconv.Atoi(f[2])
			c.mu.Lock()
			c.sentN[cl] = max(c.sentN[cl], n)
			c.mu.Unlock()
		}
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
	<-c.done
}

func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

func (c *child) acks() []ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}

func (c *child) sent() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentN
}

// TestCrashChild is the child process of TestCrashRecovery; it does
// nothing unless IST_CRASH_DIR is set.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("IST_CRASH_DIR")
	if dir == "" {
		t.Skip("child of TestCrashRecovery")
	}
	mode := os.Getenv("IST_CRASH_MODE")
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush() // each line reaches the parent before the next command
		outMu.Unlock()
	}
	l, err := Open(dir, &Options{Logger: &quiet, NoTruncate: os.Getenv("IST_CRASH_TRUNCATE") != "true",
		IgnoreSnapshots: mode == "replay"})
	if err != nil {
		t.Fatal(err)
	}
	state, _, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	h := state.Hash()
	say("RECOVERED %d %s", state.Seq(), hex.EncodeToString(h[:]))
	if err := state.Check(); err != nil {
		say("CHECK %s", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		say("CHECK ok")
	}
	for c := 1; c <= crashClients; c++ {
		var bal int64
		if v, err := state.AccountView(uint64(c)); err == nil {
			for _, b := range v.Balances {
				if b.Asset == 3 { // deposits only: never traded
					bal += b.Available + b.Locked
				}
			}
		}
		say("BAL %d %d", c, bal)
	}
	// How many copy wallets ever traded: their NAV moved off the
	// allocation (the follows are in the genesis).
	mirrored := 0
	for id := uint64(1); ; id++ {
		v, err := state.RelationView(id)
		if err != nil {
			break
		}
		if v.NAV != v.Allocation || v.Status == engine.RelationClosed {
			mirrored++
		}
	}
	say("MIRRORED %d", mirrored)
	e, err := engine.Open(&engine.Options{Journal: l, State: state, Snapshots: l, SnapshotEvery: 700, RingSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if state.Seq() == 0 {
		name := func(s string) engine.Name { v, _ := engine.MakeName(s); return v }
		gen := []engine.Command{
			{Kind: engine.CmdCreateAsset, Name: name("BTC")},
			{Kind: engine.CmdCreateAsset, Name: name("USDT")},
			{Kind: engine.CmdCreateAsset, Name: name("POINTS")},
			{Kind: engine.CmdCreateMarket, Name: name("BTC-USDT"), Spec: engine.MarketSpec{Base: 1, Quote: 2,
				BaseScale: 1, QuoteScale: 1, TakerFeeBps: 20, Rules: book.Rules{MaxPrice: 1 << 30, MaxQty: 1 << 20}}},
		}
		for c := 1; c <= crashClients; c++ {
			gen = append(gen,
				engine.Command{Kind: engine.CmdCreateAccount, Name: name(fmt.Sprint("c", c))},
				engine.Command{Kind: engine.CmdDeposit, Account: uint64(c), Asset: 1, Amount: 1_000_000},
				engine.Command{Kind: engine.CmdDeposit, Account: uint64(c), Asset: 2, Amount: 1_000_000})
		}
		// Copy-trading: client 1 leads, clients 3 and 4 follow it with
		// wallets of their own; mirrors are derived on every replay.
		gen = append(gen, engine.Command{Kind: engine.CmdSetLeaderProfile, Account: 1, Copy: engine.CopySpec{ProfitShareBps: 1000}})
		gen = append(gen,
			engine.Command{Kind: engine.CmdFollow, Account: 3, Asset: 2, Amount: 100_000,
				Copy: engine.CopySpec{Leader: 1, Mode: engine.CopyMultiplier, Value: engine.ValueOne, StopLossBps: 5000}},
			engine.Command{Kind: engine.CmdFollow, Account: 4, Asset: 2, Amount: 100_000,
				Copy: engine.CopySpec{Leader: 1, Mode: engine.CopyFixedQuote, Value: 500, StopLossBps: 5000}})
		for i := range gen {
			if res, err := e.Do(ctx, &gen[i], nil); err != nil || res.Err != nil {
				t.Fatalf("genesis %v: %v %v", gen[i].Kind, err, res.Err)
			}
		}
	}
	if mode != "run" {
		e.Close()
		say("READY")
		return
	}
	say("READY")
	var wg sync.WaitGroup
	for c := 1; c <= crashClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(c)))
			for n := 0; ; n++ {
				tag := uint64(c)<<40 | uint64(n)
				cmd := engine.Command{Kind: engine.CmdPlace, Account: uint64(c), Market: 1, Tag: tag}
				ref := -1
				if n%2 == 0 {
					// Deposits resend references from 0 after every restart:
					// the engine must apply each one once.
					ref = n / 2
					cmd = engine.Command{Kind: engine.CmdDeposit, Account: uint64(c), Asset: 3, Amount: 1, Tag: tag}
					cmd.Ref, _ = engine.MakeRef(fmt.Sprintf("c%d-%d", c, ref))
					say("SENT %d %d", c, ref+1)
				} else {
					side := book.Side(r.IntN(2))
					cmd.Order = book.Order{Side: side, Price: int64(95 + r.IntN(10)), Qty: int64(1 + r.IntN(5)), TIF: book.TimeInForce(r.IntN(2))}
					switch {
					case c == 2 && n%50 == 1:
						cmd = engine.Command{Kind: engine.CmdSettle, Tag: tag}
					case c == 4 && n%80 == 1:
						cmd = engine.Command{Kind: engine.CmdPauseFollow, Account: 4, Copy: engine.CopySpec{Relation: 2}, Tag: tag}
					case c == 4 && n%80 == 41:
						cmd = engine.Command{Kind: engine.CmdResumeFollow, Account: 4, Copy: engine.CopySpec{Relation: 2}, Tag: tag}
					}
				}
				res, err := e.Do(ctx, &cmd, nil)
				if err != nil {
					return
				}
				if res.Err == nil || cmd.Kind != engine.CmdDeposit {
					say("ACK %d %d %d %d", res.Seq, tag, c, ref)
				}
			}
		}()
	}
	wg.Wait()
}
