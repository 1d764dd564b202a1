package server

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// Record kinds of FuzzDecodeStatRecord.
const (
	fuzzHeader = iota
	fuzzAccount
	fuzzLeader
	fuzzRelation
	fuzzChunk
	fuzzKinds
)

// FuzzDecodeStatRecord feeds arbitrary values to the decoders of the
// leader statistics' records (statrec.go), the kind chosen by kind (a
// chunk's chunk by c, its span by c's parity): none may panic, and a
// record one accepts encodes to one that decodes to the same. The seeds
// are every record of the statistics of a random stream (statStream).
func FuzzDecodeStatRecord(f *testing.F) {
	feed := newStatFeed(&testing.T{})
	statStream(feed, rand.New(rand.NewPCG(1, 1)), 200, func(int, map[uint64]int64) {})
	st := memStore(f)
	if _, _, err := feed.ls.save(st); err != nil {
		f.Fatal(err)
	}
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: prefixStats, UpperBound: prefixStatsEnd})
	if err != nil {
		f.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), append([]byte(nil), it.Value()...)
		switch {
		case string(k) == string(keyStatsHeader):
			f.Add(byte(fuzzHeader), int64(0), v)
		case string(k[:len(prefixStatAcct)]) == string(prefixStatAcct):
			f.Add(byte(fuzzAccount), int64(0), v)
		case string(k[:len(prefixStatLeader)]) == string(prefixStatLeader):
			f.Add(byte(fuzzLeader), int64(0), v)
		case string(k[:len(prefixStatRel)]) == string(prefixStatRel):
			f.Add(byte(fuzzRelation), int64(0), v)
		default:
			sk, c, _ := parseChunkKey(k[len(prefixStatPoints):])
			if sk.rel == (c%2 == 0) { // c's parity gives the span
				f.Add(byte(fuzzChunk), c, v)
			}
		}
	}
	if err := it.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(byte(fuzzChunk), int64(-1), []byte{statRecVersion, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, kind byte, c int64, data []byte) {
		same := func(a, b any) {
			t.Helper()
			if d := diff(reflect.ValueOf(a), reflect.ValueOf(b), "record"); d != "" {
				t.Fatalf("accepted record re-decodes differently at %s", d)
			}
		}
		switch kind % fuzzKinds {
		case fuzzHeader:
			var a, b statsState
			if decodeStatHeader(data, &a) != nil {
				return
			}
			if err := decodeStatHeader(appendStatHeader(nil, &a), &b); err != nil {
				t.Fatal(err)
			}
			same(a, b)
		case fuzzAccount:
			a, err := decodeStatAccount(data)
			if err != nil {
				return
			}
			b, err := decodeStatAccount(appendStatAccount(nil, a))
			if err != nil {
				t.Fatal(err)
			}
			same(a, b)
		case fuzzLeader:
			a, err := decodeStatLeader(7, data)
			if err != nil {
				return
			}
			b, err := decodeStatLeader(7, appendStatLeader(nil, a))
			if err != nil {
				t.Fatal(err)
			}
			same(a, b)
		case fuzzRelation:
			a, err := decodeStatRelation(7, data)
			if err != nil {
				return
			}
			b, err := decodeStatRelation(7, appendStatRelation(nil, a))
			if err != nil {
				t.Fatal(err)
			}
			same(a, b)
		case fuzzChunk:
			span := leaderChunkSpan
			if c%2 == 0 {
				span = relationChunkSpan
			}
			a, err := decodeStatChunk(nil, c, span, data)
			if err != nil {
				return
			}
			for _, p := range a {
				if chunkOf(p.T, span) != c {
					t.Fatalf("point at %d accepted in chunk %d of span %d", p.T, c, span)
				}
			}
			b, err := decodeStatChunk(nil, c, span, appendStatChunk(nil, c, span, a))
			if err != nil {
				t.Fatal(err)
			}
			same(a, b)
		}
	})
}

// FuzzLoadStatRecord replaces one record of saved statistics (copyFeed's,
// chosen by kind as in FuzzDecodeStatRecord: the header, account 1,
// leader 1, relation 1 or the first chunk of relation 1) with arbitrary
// bytes and loads them: the load must not panic, and statistics it
// accepts must serve every read (the leaderboard in each sort and
// window, each leader's row, each relation's NAV and close), take
// further results and save and load again, equal.
func FuzzLoadStatRecord(f *testing.F) {
	feed := copyFeed(&testing.T{})
	src := memStore(f)
	if _, _, err := feed.ls.save(src); err != nil {
		f.Fatal(err)
	}
	keys := map[byte][]byte{fuzzHeader: keyStatsHeader, fuzzAccount: statIDKey(nil, prefixStatAcct, 1),
		fuzzLeader: statIDKey(nil, prefixStatLeader, 1), fuzzRelation: statIDKey(nil, prefixStatRel, 1)}
	for _, k := range statKeys(f, src) {
		rest, chunk := bytes.CutPrefix([]byte(k), prefixStatPoints)
		if sk, _, ok := parseChunkKey(rest); chunk && ok && sk == (statKey{true, 1}) && keys[fuzzChunk] == nil {
			keys[fuzzChunk] = []byte(k)
		}
	}
	for kind := range byte(fuzzKinds) {
		v, err := src.get(keys[kind])
		if err != nil || v == nil {
			f.Fatalf("no record of kind %d (%v)", kind, err)
		}
		f.Add(kind, v)
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		st := memStore(t)
		if _, _, err := feed.ls.save(st); err != nil {
			t.Fatal(err)
		}
		feed.ls.stored = statStored{} // the next save writes everything, to the next store
		if err := st.set(keys[kind%fuzzKinds], data); err != nil {
			t.Fatal(err)
		}
		ls := newLeaderStats()
		if ls.load(st) != nil {
			return
		}
		exerciseStats(t, ls)
		reloadStats(t, ls, st)
	})
}
