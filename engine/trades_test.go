package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// countTrades returns the number of EvTrade events in evs.
func countTrades(evs []Event) uint64 {
	n := uint64(0)
	for i := range evs {
		if evs[i].Kind == book.EvTrade {
			n++
		}
	}
	return n
}

// On random streams with copy-trading, every command's Outcome.Trades is
// the count before it, the count advances by the command's trade events
// (mirrored fills included) and not at all for a command that fails, and
// snapshots and replays keep it.
func TestTradeCount(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 5_000
	}
	seed := testSeed(t, 5)
	cmds, _, hash := copyRun(t, seed, n, false)
	s := NewState()
	var evs []Event
	outs := make([]Outcome, len(cmds))
	var snap []byte
	mirrored, failed := 0, 0
	for i := range cmds {
		before := s.Trades()
		outs[i], evs = s.Apply(&cmds[i], evs[:0])
		out := outs[i]
		if out.Trades != before {
			t.Fatalf("command %d: Outcome.Trades %d, count before %d", i+1, out.Trades, before)
		}
		if got, want := s.Trades()-before, countTrades(evs); got != want {
			t.Fatalf("command %d (%v): count advanced by %d for %d trade events", i+1, cmds[i].Kind, got, want)
		}
		if out.Err != nil {
			failed++
			if s.Trades() != before {
				t.Fatalf("command %d failed (%v) and changed the count", i+1, out.Err)
			}
		}
		for _, ev := range evs {
			if ev.Kind == book.EvTrade && ev.Relation != 0 {
				mirrored++
			}
		}
		if i == len(cmds)/2 {
			snap = s.AppendSnapshot(nil)
		}
	}
	if s.Hash() != hash {
		t.Fatal("replay reached a different state hash")
	}
	if s.Trades() == 0 || mirrored == 0 || failed == 0 {
		t.Fatalf("%d trades, %d mirrored, %d failed commands: the stream does not exercise the count", s.Trades(), mirrored, failed)
	}
	t.Logf("%d commands, %d trades (%d mirrored), %d failed", len(cmds), s.Trades(), mirrored, failed)
	// A state restored midway has the count and gives every later command
	// the same Outcome.Trades.
	r, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if r.Trades() != outs[len(cmds)/2+1].Trades {
		t.Fatalf("restored count %d, want %d", r.Trades(), outs[len(cmds)/2+1].Trades)
	}
	for i := len(cmds)/2 + 1; i < len(cmds); i++ {
		var out Outcome
		out, evs = r.Apply(&cmds[i], evs[:0])
		if out.Trades != outs[i].Trades {
			t.Fatalf("command %d after the snapshot: Outcome.Trades %d, first run %d", i+1, out.Trades, outs[i].Trades)
		}
	}
	if r.Trades() != s.Trades() || r.Hash() != s.Hash() {
		t.Fatalf("snapshot + replay: count %d, want %d (or the hash differs)", r.Trades(), s.Trades())
	}
}

// A sweep counts one trade per fill; a command refused (insufficient
// funds, post-only crossing) leaves the count as it was.
func TestTradeCountScenario(t *testing.T) {
	sc := newScenario(t)
	for _, p := range []int64{100, 101, 102} {
		sc.place(1, book.Order{Side: book.Sell, Price: p, Qty: 5})
	}
	if sc.s.Trades() != 0 {
		t.Fatalf("count %d before any trade", sc.s.Trades())
	}
	out := sc.place(2, book.Order{Side: book.Buy, Price: 102, Qty: 15})
	if out.Err != nil || out.Trades != 0 || sc.s.Trades() != 3 {
		t.Fatalf("sweep: %+v, count %d, want Trades 0 and count 3", out, sc.s.Trades())
	}
	sc.place(1, book.Order{Side: book.Sell, Price: 100, Qty: 5})
	for _, o := range []book.Order{
		{Side: book.Buy, Price: 100, Qty: 1 << 19},           // insufficient funds
		{Side: book.Buy, Price: 100, Qty: 1, PostOnly: true}, // would cross
	} {
		before := sc.s.Hash()
		if out := sc.place(2, o); out.Err == nil || out.Trades != 3 || sc.s.Trades() != 3 {
			t.Fatalf("refused order %+v: %+v, count %d, want an error, Trades 3 and count 3", o, out, sc.s.Trades())
		}
		sc.seq-- // the refused command still advanced the sequence: compare the rest
		sc.s.seq = sc.seq
		if sc.s.Hash() != before {
			t.Fatal("a refused command changed the state hash")
		}
	}
	if out := sc.place(2, book.Order{Side: book.Buy, Price: 100, Qty: 5}); out.Trades != 3 || sc.s.Trades() != 4 {
		t.Fatalf("next trade: %+v, count %d, want Trades 3 and count 4", out, sc.s.Trades())
	}
}

// A snapshot of version 2 (written before the count existed) restores it
// as 0; the rest of the state is as encoded.
func TestTradeCountSnapshotVersion2(t *testing.T) {
	sc := newScenario(t)
	sc.place(1, book.Order{Side: book.Sell, Price: 100, Qty: 5})
	sc.place(2, book.Order{Side: book.Buy, Price: 100, Qty: 5})
	if sc.s.Trades() != 1 || sc.s.orders.len() != 0 {
		t.Fatalf("count %d, %d live orders: want 1 trade and no live order", sc.s.Trades(), sc.s.orders.len())
	}
	// Without live orders, done client order ids or relations, version
	// 2 is the current version without the count, with an empty list of
	// client order ids before the done ones, the transfer references in
	// one list (refsV5) and without the list of rounding remainders.
	v6 := sc.s.AppendSnapshot(nil)
	const at = 4 + 2 + 8 + 8
	if binary.LittleEndian.Uint64(v6[at:]) != 1 {
		t.Fatalf("count not at offset %d", at)
	}
	// From the end: checksum, rounding remainders, relations, leaders,
	// withdrawal refs, their count, deposit refs, their count, the done
	// client order ids' count.
	refs := sc.s.deposits.len() + len(sc.s.withdrawals)
	done := len(v6) - 4 - 4 - 4 - 4 - refs*transferRefSize - 4 - 4 - 4
	if binary.LittleEndian.Uint32(v6[done:]) != 0 || binary.LittleEndian.Uint32(v6[done+4:]) != uint32(sc.s.deposits.len()) {
		t.Fatalf("done client order ids not at offset %d", done)
	}
	v2 := append(bytes.Clone(v6[:at]), v6[at+8:done]...)
	v2 = append(v2, 0, 0, 0, 0) // no client order ids
	v2 = append(v2, 0, 0, 0, 0) // no done ones
	v2 = append(v2, refsV5(sc.s)...)
	v2 = append(v2, make([]byte, 4+4)...) // no leaders, no relations
	binary.LittleEndian.PutUint16(v2[4:], 2)
	v2 = binary.LittleEndian.AppendUint32(v2, crc32.Checksum(v2, crcTable))
	s, err := DecodeState(v2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Trades() != 0 {
		t.Fatalf("version 2 restored a count of %d", s.Trades())
	}
	s.trades = sc.s.trades
	if !bytes.Equal(s.AppendSnapshot(nil), v6) {
		t.Fatal("version 2 restored another state")
	}
}

// refsV5 returns s's transfer references as the list versions 1 to 5
// wrote: a count, then each (account, ref, command kind, asset, amount)
// sorted by (account, ref). Those versions kept one namespace per
// account: a deposit ref and a withdrawal ref of one account must differ.
func refsV5(s *State) []byte {
	type entry struct {
		k      refKey
		kind   CommandKind
		asset  uint32
		amount int64
	}
	var all []entry
	for _, d := range s.deposits.all() {
		all = append(all, entry{refKey{d.account, d.ref}, CmdDeposit, d.asset, d.amount})
	}
	for id := range uint64(s.accounts.len()) {
		w := &s.accounts.at(id).withdrawals
		for i := range w.len() {
			k := refKey{uint64(id), *w.at(i)}
			all = append(all, entry{k, CmdWithdraw, s.withdrawals[k].asset, s.withdrawals[k].amount})
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return cmpRefKey(a.k, b.k) })
	w := enc{b: binary.LittleEndian.AppendUint32(nil, uint32(len(all)))}
	for _, e := range all {
		w.u64(e.k.account)
		w.bytes(e.k.ref[:])
		w.u8(uint8(e.kind))
		w.u32(e.asset)
		w.i64(e.amount)
	}
	return w.b
}

// The engine delivers the count in Result.Trades, the same as replaying
// its journal gives (as wal's recovery does for the server's read models).
func TestEngineResultTrades(t *testing.T) {
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j, RingSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range genesis(6) {
		mustDo(t, e, c)
	}
	var got []uint64 // Result.Trades by sequence number, from the subscriber
	var next uint64  // the count after the last result
	bad := ""
	unsub := e.Subscribe(func(res *Result) {
		if res.Trades != next && bad == "" {
			bad = "a result's Trades is not the count after the one before"
		}
		next = res.Trades + countTrades(res.Events)
		for uint64(len(got)) < res.Seq {
			got = append(got, 0)
		}
		got[res.Seq-1] = res.Trades
	})
	r := rand.New(rand.NewPCG(testSeed(t, 7), 0))
	shadow := NewState()
	for _, c := range genesis(6) {
		_, _ = shadow.Apply(&c, nil)
	}
	var evs []Event
	for range 3000 {
		c := randomCommand(r, shadow, 6)
		res, err := e.Do(context.Background(), &c, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Seq, c.Time = res.Seq, res.Time // the time decides expiries
		var out Outcome
		out, evs = shadow.Apply(&c, evs[:0])
		if res.Trades != out.Trades {
			t.Fatalf("seq %d: Do's Result.Trades %d, applied %d", res.Seq, res.Trades, out.Trades)
		}
	}
	unsub()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if bad != "" {
		t.Fatal(bad)
	}
	replay := NewState()
	for i, c := range j.Commands() {
		var out Outcome
		out, evs = replay.Apply(&c, evs[:0])
		if i >= len(genesis(6)) && c.Seq <= uint64(len(got)) && got[c.Seq-1] != out.Trades {
			t.Fatalf("seq %d: delivered Trades %d, replayed %d", c.Seq, got[c.Seq-1], out.Trades)
		}
	}
	if replay.Trades() != e.State().Trades() || replay.Trades() == 0 {
		t.Fatalf("replayed count %d, engine's %d", replay.Trades(), e.State().Trades())
	}
}
