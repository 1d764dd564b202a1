package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/instant-social-trading/ist/book"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A state restored from its snapshot has the same hash and, given the same
// commands, emits the same events as the original.
func TestSnapshotRoundTrip(t *testing.T) {
	seed := testSeed(t, 11)
	r := rand.New(rand.NewPCG(seed, 0))
	s := NewState()
	var evs []Event
	seq := uint64(0)
	apply := func(st *State, c Command, dst []Event) []Event {
		_, dst = st.Apply(&c, dst)
		return dst
	}
	for _, c := range genesis(6) {
		seq++
		c.Seq = seq
		evs = apply(s, c, evs[:0])
	}
	for round := range 20 {
		for range 2000 {
			seq++
			c := randomCommand(r, s, 6)
			c.Seq = seq
			evs = apply(s, c, evs[:0])
		}
		snap := s.AppendSnapshot(nil)
		if hint := s.snapshotSizeHint(); len(snap) > hint {
			t.Fatalf("round %d: snapshot of %d bytes, size hint %d", round, len(snap), hint)
		}
		restored, err := DecodeState(snap)
		if err != nil {
			t.Fatalf("round %d: decode: %v", round, err)
		}
		if restored.Hash() != s.Hash() {
			t.Fatalf("round %d: restored hash differs", round)
		}
		if !bytes.Equal(restored.AppendSnapshot(nil), snap) {
			t.Fatalf("round %d: re-encoding differs", round)
		}
		// Both go on identically.
		r2 := *r
		var e1, e2 []Event
		for k := range 500 {
			c := randomCommand(r, s, 6)
			c.Seq = seq + uint64(k) + 1
			e1 = apply(s, c, e1[:0])
			e2 = apply(restored, c, e2[:0])
			if len(e1) != len(e2) {
				t.Fatalf("round %d cmd %d: %d events vs %d", round, k, len(e1), len(e2))
			}
			for i := range e1 {
				if e1[i] != e2[i] {
					t.Fatalf("round %d cmd %d event %d: %+v vs %+v", round, k, i, e1[i], e2[i])
				}
			}
		}
		_ = r2
		seq += 500
		if restored.Hash() != s.Hash() {
			t.Fatalf("round %d: hashes diverge after continuing", round)
		}
	}
}

func TestSnapshotCorruption(t *testing.T) {
	s := NewState()
	var evs []Event
	for i, c := range genesis(3) {
		c.Seq = uint64(i + 1)
		_, evs = s.Apply(&c, evs[:0])
	}
	snap := s.AppendSnapshot(nil)
	for i := 0; i < len(snap); i += 7 {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x40
		if _, err := DecodeState(bad); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("flipping byte %d: %v", i, err)
		}
	}
	if _, err := DecodeState(snap[:len(snap)-1]); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("truncated: %v", err)
	}
}

// FuzzDecodeState: no input makes the decoder panic, and whatever it
// accepts re-encodes to the same bytes (an older version: to bytes that
// decode and re-encode to themselves). Each input is tried as is and with
// a valid checksum appended, so that the fuzzer gets past the CRC.
func FuzzDecodeState(f *testing.F) {
	s := NewState()
	var evs []Event
	for i, c := range genesis(2) {
		c.Seq = uint64(i + 1)
		_, evs = s.Apply(&c, evs[:0])
	}
	// A state with copy-trading: leaders, an open and a closed relation.
	c := NewState()
	seq := uint64(0)
	for _, cmd := range append(genesis(4),
		Command{Kind: CmdSetLeaderProfile, Account: 1, Copy: CopySpec{ProfitShareBps: 700}},
		Command{Kind: CmdFollow, Account: 3, Asset: 2, Amount: 100_000, Copy: CopySpec{Leader: 1, Mode: CopyMultiplier, Value: ValueOne}},
		Command{Kind: CmdFollow, Account: 4, Asset: 2, Amount: 100_000, Copy: CopySpec{Leader: 1, Mode: CopyProportional, Value: ValueOne}},
		// With client order ids: a live, partly filled one and a done one,
		// with their fingerprints and the filled quantity.
		Command{Kind: CmdPlace, Account: 2, Market: 1, Ref: mustRef("s-1"), Order: book.Order{Side: book.Sell, Price: 100, Qty: 50}},
		Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: mustRef("b-1"), Order: book.Order{Side: book.Buy, Price: 100, Qty: 10}},
		Command{Kind: CmdUnfollow, Account: 4, Copy: CopySpec{Relation: 2}},
		// The exchange takes some of the fees out: a window of the fee
		// account's withdrawal refs.
		Command{Kind: CmdWithdraw, Account: FeeAccount, Asset: 2, Amount: 1, Ref: mustRef("fw-1")},
		// Frozen accounts (version 7): a follower, and one after an order
		// of it was cancelled by its freeze.
		Command{Kind: CmdPlace, Account: 4, Market: 1, Order: book.Order{Side: book.Buy, Price: 90, Qty: 1}},
		Command{Kind: CmdSetAccountFrozen, Account: 3, Frozen: true},
		Command{Kind: CmdSetAccountFrozen, Account: 4, Frozen: true},
	) {
		seq++
		cmd.Seq = seq
		_, evs = c.Apply(&cmd, evs[:0])
	}
	if c.relations.len() != 2 || c.accounts.at(FeeAccount).withdrawals.len() != 1 {
		f.Fatal("copy seed state has no relations or no fee withdrawal")
	}
	for _, snap := range [][]byte{s.AppendSnapshot(nil), NewState().AppendSnapshot(nil), c.AppendSnapshot(nil)} {
		f.Add(snap[:len(snap)-4])
	}
	f.Add([]byte("ISTS"))
	if v3, err := os.ReadFile("testdata/snapshot-v3.bin"); err == nil { // with live and done client order ids
		f.Add(v3[:len(v3)-4])
	}
	if v5, err := os.ReadFile("testdata/snapshot-v5-refs.bin"); err == nil { // with transfer references
		f.Add(v5[:len(v5)-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		withCRC := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, crcTable))
		for _, data := range [][]byte{body, withCRC} {
			st, err := DecodeState(data)
			if err != nil {
				if !errors.Is(err, ErrCorruptSnapshot) {
					t.Fatalf("error without ErrCorruptSnapshot: %v", err)
				}
				continue
			}
			want := data
			if binary.LittleEndian.Uint16(data[4:]) < snapshotVersion {
				// An older version re-encodes as the current one, which
				// must decode and re-encode to itself.
				want = st.AppendSnapshot(nil)
				if st, err = DecodeState(want); err != nil {
					t.Fatalf("re-encoded version %d snapshot: %v", binary.LittleEndian.Uint16(data[4:]), err)
				}
			}
			if !bytes.Equal(st.AppendSnapshot(nil), want) {
				t.Fatal("accepted snapshot re-encodes differently")
			}
			// A state restored is one the engine can run on: random
			// trading and copy-trading commands (seeded by the snapshot)
			// apply without a panic and keep the invariants DecodeState
			// checks.
			r := rand.New(rand.NewPCG(uint64(crc32.Checksum(data, crcTable)), 1))
			var evs []Event
			for i := range 40 {
				c := randomCommand(r, st, 4)
				if i%4 == 3 {
					c = randomCopyCommand(r, st, 4)
				}
				c.Seq = st.Seq() + 1
				_, evs = st.Apply(&c, evs[:0])
				if err := st.check(false); err != nil {
					t.Fatalf("after %+v: %v", c, err)
				}
			}
		}
	})
}

// A snapshot that decodes to a state must be that state's encoding: the
// decoder rejects bytes it would re-encode differently, such as a bool
// byte other than 0 or 1, fields the book ignores, or orders out of the
// book's order.
func TestSnapshotNonCanonical(t *testing.T) {
	s := NewState()
	var evs []Event
	for i, c := range append(genesis(2),
		Command{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 10}},
		Command{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 90, Qty: 10}},
		Command{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Buy, Type: book.StopLimit, Price: 90, StopPrice: 120, Qty: 10}},
	) {
		c.Seq = uint64(i + 1)
		var out Outcome
		if out, evs = s.Apply(&c, evs[:0]); out.Err != nil {
			t.Fatalf("command %d: %v", i, out.Err)
		}
	}
	snap := s.AppendSnapshot(nil)
	body := snap[:len(snap)-4]
	// Market 1 follows the header and the 3 assets; its orders follow its
	// name, spec, halted flag, last price and count: bids best first,
	// then the stop.
	market := 4 + 2 + 8 + 8 + 8 + 4 + 3*(24+8) + 4
	halted := market + 24 + 80
	const recSize = orderInfoSize + 16 + 36 + 41
	order := func(id uint64) int {
		off := halted + 1 + 8 + 4 + int(id-1)*recSize
		if binary.LittleEndian.Uint64(body[off:]) != id {
			t.Fatalf("order %d is not at offset %d", id, off)
		}
		return off
	}
	for _, c := range []struct {
		name string
		edit func(b []byte)
	}{
		{"halted 2", func(b []byte) { b[halted] = 2 }},
		{"post-only 2", func(b []byte) { b[order(1)+20] = 2 }},
		{"stop flag 2", func(b []byte) { b[order(3)+orderInfoSize-1] = 2 }},
		{"resting order IOC", func(b []byte) { b[order(1)+18] = uint8(book.IOC) }},
		{"resting order stop price", func(b []byte) { b[order(1)+29] = 1 }},
		{"stop post-only", func(b []byte) { b[order(3)+20] = 1 }},
		{"stop visible", func(b []byte) { b[order(3)+45] = 1 }},
		{"bids worst first", func(b []byte) {
			i, j := order(1), order(2)
			first := bytes.Clone(b[i : i+recSize])
			copy(b[i:], b[j:j+recSize])
			copy(b[j:], first)
		}},
	} {
		b := bytes.Clone(body)
		c.edit(b)
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
		if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := DecodeState(snap); err != nil {
		t.Fatalf("unedited: %v", err)
	}
}

// enc.order writes each field where a field-by-field encoding does, in
// the snapshot's layout (snapshotOrderSize bytes).
func TestSnapshotOrderLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t, 3), 0))
	for range 1000 {
		o := book.OrderInfo{ID: r.Uint64(), Owner: r.Uint64(), Side: book.Side(r.UintN(256)), Type: book.OrderType(r.UintN(256)),
			TIF: book.TimeInForce(r.UintN(256)), STP: book.STPMode(r.UintN(256)), PostOnly: r.IntN(2) == 0, Price: r.Int64(),
			StopPrice: r.Int64(), Open: r.Int64(), Visible: r.Int64(), DisplayQty: r.Int64(), QuoteBudget: r.Int64(), Stop: r.IntN(2) == 0}
		rec := order{limit: r.Int64(), locked: r.Int64(), origQty: r.Int64(), origBudget: r.Int64(), filled: r.Int64(),
			fp: r.Uint64(), copySpent: r.Int64(), amended: r.IntN(2) == 0}
		for i := range rec.ref {
			rec.ref[i] = byte(r.UintN(256))
		}
		want := enc{b: []byte{7}}
		for _, v := range []uint64{o.ID, o.Owner} {
			want.u64(v)
		}
		for _, v := range []uint8{uint8(o.Side), uint8(o.Type), uint8(o.TIF), uint8(o.STP), b2u(o.PostOnly)} {
			want.u8(v)
		}
		for _, v := range []int64{o.Price, o.StopPrice, o.Open, o.Visible, o.DisplayQty, o.QuoteBudget} {
			want.i64(v)
		}
		want.bool(o.Stop)
		want.i64(rec.limit)
		want.i64(rec.locked)
		want.bytes(rec.ref[:])
		for _, v := range []int64{rec.origQty, rec.origBudget, rec.filled} {
			want.i64(v)
		}
		want.u64(rec.fp)
		want.i64(rec.copySpent)
		want.bool(rec.amended)
		got := enc{b: []byte{7}}
		got.order(&o, &rec)
		if len(want.b) != 1+snapshotOrderSize || !bytes.Equal(got.b, want.b) {
			t.Fatalf("order encoding:\n got %x\nwant %x", got.b, want.b)
		}
	}
}

// copyStore is a SnapshotStore that keeps a copy of each snapshot.
type copyStore struct {
	mu    sync.Mutex
	seqs  []uint64
	snaps [][]byte
}

func (c *copyStore) SaveSnapshot(seq uint64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs = append(c.seqs, seq)
	c.snaps = append(c.snaps, bytes.Clone(data))
	return nil
}

// The engine encodes each snapshot into the last one's memory: every
// snapshot it hands over is whole, sealed, and the state of the journal's
// commands up to its sequence number.
func TestEngineSnapshotsReuseMemory(t *testing.T) {
	j := &MemJournal{}
	store := &copyStore{}
	e, err := Open(&Options{Journal: j, Snapshots: store, SnapshotEvery: 300})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(testSeed(t, 5), 0))
	mirror := NewState() // applies what the engine did, to make commands
	for _, c := range genesis(6) {
		if _, err := e.Do(context.Background(), &c, nil); err != nil {
			t.Fatal(err)
		}
		mirror.Apply(&c, nil)
	}
	for range 3000 {
		c := randomCommand(r, mirror, 6)
		res, err := e.Do(context.Background(), &c, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Seq, c.Time = res.Seq, res.Time
		mirror.Apply(&c, nil)
	}
	e.Close()
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.snaps) < 5 {
		t.Fatalf("%d snapshots, want several", len(store.snaps))
	}
	cmds := j.Commands()
	for i, data := range store.snaps {
		got, err := DecodeState(data)
		if err != nil {
			t.Fatalf("snapshot %d (seq %d): %v", i, store.seqs[i], err)
		}
		want := NewState()
		for k := range cmds {
			if cmds[k].Seq > store.seqs[i] {
				break
			}
			want.Apply(&cmds[k], nil)
		}
		if got.Seq() != store.seqs[i] || got.Hash() != want.Hash() {
			t.Fatalf("snapshot %d (seq %d) is not the state at its seq", i, store.seqs[i])
		}
	}
}

// failStore is a SnapshotStore whose saves fail while fail is set.
type failStore struct {
	copyStore
	fail atomic.Bool
}

func (f *failStore) SaveSnapshot(seq uint64, data []byte) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return f.copyStore.SaveSnapshot(seq, data)
}

// Options.OnSnapshot hears of every snapshot, saved or failed, with its
// pause: a failed periodic snapshot is not silent.
func TestEngineOnSnapshot(t *testing.T) {
	type call struct {
		seq   uint64
		pause time.Duration
		err   error
	}
	calls := make(chan call, 16)
	store := &failStore{}
	e, err := Open(&Options{Snapshots: store, OnSnapshot: func(seq uint64, pause time.Duration, err error) {
		calls <- call{seq, pause, err}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	seq, err := e.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := <-calls; c.seq != seq || c.err != nil || c.pause <= 0 {
		t.Fatalf("saved snapshot %d reported as %+v", seq, c)
	}
	store.fail.Store(true)
	if _, err := e.Snapshot(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("failed snapshot: %v", err)
	}
	if c := <-calls; c.err == nil || !strings.Contains(c.err.Error(), "disk full") || c.seq <= seq {
		t.Fatalf("failed snapshot reported as %+v", c)
	}
}
