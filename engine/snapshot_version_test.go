package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// goldenClientIDState builds, deterministically, a state with live orders
// that have client order ids, done ones (cancelled and filled), and
// orders without one.
func goldenClientIDState(t *testing.T) *State {
	s, apply := clientIDState(t, 3)
	for i := range 600 {
		acct := uint64(1 + i%3)
		ref := mustRef(fmt.Sprint("g", i))
		switch {
		case i%5 == 4: // cancel by client order id an order placed earlier
			apply(Command{Kind: CmdCancel, Account: uint64(1 + (i-4)%3), Market: 1, Ref: mustRef(fmt.Sprint("g", i-4))})
		case i%11 == 10: // a market order that fills resting ones
			apply(Command{Kind: CmdPlace, Account: acct, Market: 1, Ref: ref, Order: book.Order{Side: book.Side(i % 2), Type: book.Market, Qty: 2}})
		case i%7 == 6: // no client order id
			apply(Command{Kind: CmdPlace, Account: acct, Market: 1, Order: book.Order{Side: book.Buy, Price: 800 - int64(i%40), Qty: 1}})
		default:
			o := book.Order{Side: book.Buy, Price: 900 - int64(i%50), Qty: 1 + int64(i%3)}
			if i%2 == 1 {
				o = book.Order{Side: book.Sell, Price: 1100 + int64(i%50), Qty: 1 + int64(i%3)}
			}
			apply(Command{Kind: CmdPlace, Account: acct, Market: 1, Ref: ref, Order: o})
		}
	}
	if s.doneIDs.n == 0 || s.clientIDs.len() == s.doneIDs.n {
		t.Fatalf("%d client order ids, %d done: want live and done ones", s.clientIDs.len(), s.doneIDs.n)
	}
	return s
}

// golden returns the state decoded from the snapshot file, which must be
// of the given format version; with the environment variable env set, it
// writes s's snapshot to file instead (run with the release that writes
// that version) and returns nil.
func golden(t *testing.T, file string, version int, env string, s *State) *State {
	t.Helper()
	if os.Getenv(env) != "" {
		if err := os.WriteFile(file, s.AppendSnapshot(nil), 0o644); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if v := int(data[4]) | int(data[5])<<8; v != version {
		t.Fatalf("%s is version %d, want %d", file, v, version)
	}
	restored, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	return restored
}

// A version 3 snapshot (written by the release before version 4, with
// every client order id listed) restores the state it was taken from.
// IST_WRITE_SNAPSHOT_V3=1 with that release writes the file.
func TestSnapshotVersion3ClientIDs(t *testing.T) {
	s := goldenClientIDState(t)
	restored := golden(t, "testdata/snapshot-v3.bin", 3, "IST_WRITE_SNAPSHOT_V3", s)
	if restored == nil {
		return
	}
	if !bytes.Equal(restored.AppendSnapshot(nil), s.AppendSnapshot(nil)) {
		t.Fatal("the version 3 snapshot restored another state")
	}
	for p := range s.doneIDs.n {
		k := s.doneIDs.keys[(s.doneIDs.head+p)%len(s.doneIDs.keys)]
		want, _ := s.clientID(&k)
		if got, ok := restored.clientID(&k); !ok || got != want {
			t.Fatalf("done %v: %d,%v want %d", k, got, ok, want)
		}
	}
}

// A version 4 snapshot whose done client order ids contradict its live
// orders is refused: a done key that a live order has, a done key twice,
// a done key naming a live order or no order.
func TestSnapshotV4ClientIDsRefused(t *testing.T) {
	sc := newScenario(t)
	live := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: mustRef("live"), Order: book.Order{Side: book.Buy, Price: 100, Qty: 1}})
	a := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: mustRef("done-a"), Order: book.Order{Side: book.Buy, Price: 90, Qty: 1}})
	sc.do(Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: mustRef("done-b"), Order: book.Order{Side: book.Buy, Price: 80, Qty: 1}})
	sc.do(Command{Kind: CmdCancel, Account: 1, Market: 1, Ref: mustRef("done-a")})
	sc.do(Command{Kind: CmdCancel, Account: 1, Market: 1, Ref: mustRef("done-b")})
	if live.Err != nil || a.Err != nil || sc.s.doneIDs.n != 2 {
		t.Fatalf("setup: %+v %+v, %d done", live, a, sc.s.doneIDs.n)
	}
	snap := sc.s.AppendSnapshot(nil)
	if _, err := DecodeState(snap); err != nil {
		t.Fatal(err)
	}
	// The done entries: account, ref, fingerprint, order id.
	const entry = 8 + 36 + 8 + 8
	key := func(ref string) []byte {
		k := binary.LittleEndian.AppendUint64(nil, 1)
		r := mustRef(ref)
		return append(k, r[:]...)
	}
	at := bytes.Index(snap, key("done-a"))
	if at < 0 || !bytes.Equal(snap[at+entry:at+entry+8+36], key("done-b")) {
		t.Fatal("done entries not found")
	}
	body := snap[:len(snap)-4]
	for name, mutate := range map[string]func(b []byte){
		"done key of a live order": func(b []byte) { copy(b[at:], key("live")) },
		"done key twice":           func(b []byte) { copy(b[at+entry:], key("done-a")) },
		"done id of a live order":  func(b []byte) { binary.LittleEndian.PutUint64(b[at+8+36+8:], live.ID) },
		"done id 0":                func(b []byte) { binary.LittleEndian.PutUint64(b[at+8+36+8:], 0) },
	} {
		b := bytes.Clone(body)
		mutate(b)
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
		if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", name, err)
		}
	}
}
