package server

import (
	"bytes"
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

// memStore returns a metadata store in memory, closed with the test.
func memStore(t testing.TB) *store {
	t.Helper()
	nop := zerolog.Nop()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: pebbleLogger{&nop}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &store{db: db}
}

// encode returns ls's statistics as the old single value (statsKey), as
// releases before the records saved them: version statsVersion and the
// gob of statsState. Tests take it for a snapshot that decode restores,
// and for the value an upgrade finds.
func (ls *leaderStats) encode() ([]byte, uint64, error) {
	ls.mu.RLock()
	c := ls.st.clone()
	ls.mu.RUnlock()
	var b bytes.Buffer
	b.WriteByte(statsVersion)
	if err := gob.NewEncoder(&b).Encode(&c); err != nil {
		return nil, 0, err
	}
	return b.Bytes(), c.Seq, nil
}

// persisted returns a deep copy of ls's statistics without the
// bookkeeping of what changed since a save (series.same,
// statAccount.changed): what a save writes.
func persisted(ls *leaderStats) statsState {
	ls.mu.RLock()
	c := ls.st.clone()
	ls.mu.RUnlock()
	unmarked(&c)
	return c
}

// unmarked clears the bookkeeping of what changed in st.
func unmarked(st *statsState) {
	for _, a := range st.Accounts {
		a.changed = false
	}
	for _, l := range st.Leaders {
		l.Hist.same = 0
	}
	for _, r := range st.Relations {
		r.Hist.same = 0
	}
}

// diff returns the path of the first difference between a and b (of the
// same type), "" if none: floats compare by their bits, nil and empty
// maps and slices differ.
func diff(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + " (nil)"
			}
			return ""
		}
		return diff(a.Elem(), b.Elem(), path)
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Sprintf("%s (nil %v/%v, len %d/%d)", path, a.IsNil(), b.IsNil(), a.Len(), b.Len())
		}
		for _, k := range a.MapKeys() {
			v := b.MapIndex(k)
			if !v.IsValid() {
				return fmt.Sprintf("%s[%v] (missing)", path, k)
			}
			if d := diff(a.MapIndex(k), v, fmt.Sprintf("%s[%v]", path, k)); d != "" {
				return d
			}
		}
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Sprintf("%s (nil %v/%v, len %d/%d)", path, a.IsNil(), b.IsNil(), a.Len(), b.Len())
		}
		fallthrough
	case reflect.Array:
		for i := range a.Len() {
			if d := diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if d := diff(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
	case reflect.Float32, reflect.Float64:
		if math.Float64bits(a.Float()) != math.Float64bits(b.Float()) {
			return fmt.Sprintf("%s: %v, %v", path, a.Float(), b.Float())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %d, %d", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %d, %d", path, a.Uint(), b.Uint())
		}
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Sprintf("%s: %v, %v", path, a.Bool(), b.Bool())
		}
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q, %q", path, a.String(), b.String())
		}
	default:
		panic("diff: " + a.Kind().String())
	}
	return ""
}

// sameState fails the test unless got and want hold the same statistics,
// exactly.
func sameState(t testing.TB, when string, got, want statsState) {
	t.Helper()
	if d := diff(reflect.ValueOf(got), reflect.ValueOf(want), "statsState"); d != "" {
		t.Fatalf("%s: the statistics differ at %s", when, d)
	}
}

// loadNew returns new statistics loaded from st.
func loadNew(t testing.TB, st *store) *leaderStats {
	t.Helper()
	g := newLeaderStats()
	if err := g.load(st); err != nil {
		t.Fatal(err)
	}
	return g
}

// reloadStats saves ls to st, and returns new statistics loaded from st,
// checked equal to ls's.
func reloadStats(t testing.TB, ls *leaderStats, st *store) *leaderStats {
	t.Helper()
	if _, _, err := ls.save(st); err != nil {
		t.Fatal(err)
	}
	g := loadNew(t, st)
	sameState(t, "reloaded", persisted(g), persisted(ls))
	return g
}

// statKeys returns every key of the statistics st holds.
func statKeys(t testing.TB, st *store) []string {
	t.Helper()
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: prefixStats, UpperBound: prefixStatsEnd})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var keys []string
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, string(it.Key()))
	}
	return keys
}

// TestStatsSaveIncremental: at every save of a random stream
// (statStream, with minutes of samples on the way, restarts and
// restores of the old single value), the store holds exactly the
// statistics (loaded into new ones: every field equal), and the save's
// copy, brought up to date with what changed since the last save
// (syncSaved), equals a whole one and shares nothing with the
// statistics.
func TestStatsSaveIncremental(t *testing.T) {
	f := newStatFeed(t)
	st := memStore(t)
	rng := rand.New(rand.NewPCG(7, 8))
	saves, restarts, restores := 0, 0, 0
	steps := 2000
	if raceEnabled {
		// One goroutine: the race detector slows it some ten times and
		// has no race to find; scripts/test.sh runs it whole without.
		steps = 400
	}
	statStream(f, rng, steps, func(step int, _ map[uint64]int64) {
		if rng.IntN(3) == 0 { // minutes pass: every series gets samples
			f.advance(time.Duration(1+rng.IntN(90)) * time.Minute)
			f.trade(other, book.Buy, 80+int64(rng.IntN(40)), 1, 0)
		}
		switch rng.IntN(60) {
		case 0: // a restart: the statistics the store holds go on
			f.ls = reloadStats(t, f.ls, st)
			restarts++
		case 1: // a restore of the old single value: the next save writes everything
			data, _, err := f.ls.encode()
			if err != nil {
				t.Fatal(err)
			}
			g := newLeaderStats()
			if err := g.decode(data); err != nil {
				t.Fatal(err)
			}
			f.ls = g
			restores++
		case 2, 3, 4, 5:
			seq, _, err := f.ls.save(st)
			if err != nil || seq != f.seq {
				t.Fatalf("step %d: save: seq %d of %d, %v", step, seq, f.seq, err)
			}
			saves++
			when := fmt.Sprintf("step %d (save %d)", step, saves)
			sameState(t, when+", stored", persisted(loadNew(t, st)), persisted(f.ls))
			whole := f.ls.st.clone() // nothing applies meanwhile
			copied := f.ls.saved.clone()
			unmarked(&whole)
			unmarked(&copied)
			sameState(t, when+", the save's copy", copied, whole)
			if p := shared(reflect.ValueOf(*f.ls.saved), reflect.ValueOf(f.ls.st), "statsState"); p != "" {
				t.Fatalf("%s: the save's copy shares %s with the statistics", when, p)
			}
		}
	})
	if saves < 80*steps/2000 || restarts < 15*steps/2000 || restores < 15*steps/2000 {
		t.Fatalf("%d saves, %d restarts and %d restores: the stream does not exercise the saves", saves, restarts, restores)
	}
}

// TestStatsSaveSeriesCompaction: a leader and a relation sampled every
// few hours over 400 days, saved and reloaded often. The hourly
// compaction merges the points of the series as they age, in place: in
// a relation's day chunks from 30 days on, and from a year on in a
// leader's hour chunks, 23 of each day's 24 of which it empties. What is
// stored loads as the statistics, every point equal, none left over.
func TestStatsSaveSeriesCompaction(t *testing.T) {
	f := newStatFeed(t)
	st := memStore(t)
	rng := rand.New(rand.NewPCG(5, 6))
	f.deposit(1, usdt, 1000)
	f.lead(1)
	f.deposit(4, usdt, 1000)
	f.do(engineFollow(4, 1, 100), 1)
	f.price(100)
	start := f.now
	for i := 0; f.now-start < 400*day; i++ {
		f.advance(time.Duration(1+rng.IntN(8)) * time.Hour)
		f.trade(other, book.Buy, 80+int64(rng.IntN(40)), 1, 0)
		if rng.IntN(3) == 0 {
			f.trade(1, book.Buy, 80+int64(rng.IntN(40)), 1, 0)
		}
		if i%25 == 0 {
			if rng.IntN(4) == 0 {
				f.ls = reloadStats(t, f.ls, st)
				continue
			}
			if _, _, err := f.ls.save(st); err != nil {
				t.Fatal(err)
			}
			sameState(t, fmt.Sprintf("day %d", (f.now-start)/day), persisted(loadNew(t, st)), persisted(f.ls))
		}
	}
	f.ls = reloadStats(t, f.ls, st)
	l := f.ls.st.Leaders[1]
	if l.Hist.Points[0].T >= f.now-365*day || l.Hist.Points[1].T-l.Hist.Points[0].T < day {
		t.Fatalf("the leader's oldest points are not daily: %v", l.Hist.Points[:2])
	}
	chunks := 0
	for _, k := range statKeys(t, st) {
		if bytes.HasPrefix([]byte(k), statChunkKey(nil, statKey{false, 1}, 0)[:len(prefixStatPoints)+9]) {
			chunks++
		}
	}
	want := map[int64]bool{}
	for _, p := range l.Hist.Points {
		want[chunkOf(p.T, leaderChunkSpan)] = true
	}
	if chunks != len(want) {
		t.Fatalf("the leader's series is in %d chunks, its points in %d", chunks, len(want))
	}
}

// statsMinute makes a minute pass in ls, to now: every leader and open
// relation gets a sample, and trades change the holdings of accounts
// accounts and of 10 open relations, with the bookkeeping apply keeps.
func statsMinute(ls *leaderStats, now int64, accounts int) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.st.Seq++
	ls.st.Now, ls.st.Sweep = now, now/mins
	for _, l := range ls.st.Leaders {
		l.Hist.record(statPoint{T: now, NPU: 1 + float64(now%7919)/1e5}, leaderTiers)
	}
	n := 0
	for _, r := range ls.open {
		r.Hist.record(statPoint{T: now, NPU: 1 + float64(now%7907)/1e5}, relationTiers)
		if n < 10 {
			addBal(&r.Bal, 2, 1)
			n++
		}
	}
	for a := range uint64(accounts) {
		addBal(&ls.account(1+(uint64(now/mins)*97+a*7919)%uint64(len(ls.st.Accounts))).Bal, 1, 1)
	}
	ls.st.Markets[0].Last++
}

// closedStats returns bigStats whose relations but every open-th are
// closed.
func closedStats(accounts, relations, points, open int) *leaderStats {
	ls := newLeaderStats()
	ls.st = bigStats(accounts, relations, points)
	for id, r := range ls.st.Relations {
		if id%uint64(open) != 0 {
			r.Closed, r.ClosedAt, r.Out, r.LastNPU = true, r.Hist.Points[len(r.Hist.Points)-1].T, 5, 1.5
		}
	}
	ls.index()
	return ls
}

// A save writes what changed since the last one: after a minute of
// samples and a few trades, a small part of the first save, which
// writes everything; with nothing changed, the header alone.
func TestStatsSaveBytes(t *testing.T) {
	for _, c := range []struct {
		name                     string
		relations, open, maxPerc int
	}{
		{"mostly closed", 400, 10, 1},
		{"all open", 200, 1, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			ls := closedStats(2000, c.relations, 30*24, c.open)
			st := memStore(t)
			_, first, err := ls.save(st)
			if err != nil {
				t.Fatal(err)
			}
			now := int64(30 * 24 * hour)
			var most int
			for i := range 5 {
				now += mins
				statsMinute(ls, now, 20)
				_, n, err := ls.save(st)
				if err != nil {
					t.Fatal(err)
				}
				most = max(most, n)
				if n*100 >= first*c.maxPerc {
					t.Fatalf("minute %d: %d bytes written, the first save %d (more than %d%%)", i, n, first, c.maxPerc)
				}
			}
			ls.mu.Lock()
			ls.st.Seq++
			ls.mu.Unlock()
			_, same, err := ls.save(st)
			if err != nil {
				t.Fatal(err)
			}
			header := len(appendStatHeader(nil, &ls.st))
			if same > header+64 { // the batch's own bytes and the key
				t.Errorf("nothing but Seq changed: %d bytes written, the header is %d", same, header)
			}
			sameState(t, "stored", persisted(loadNew(t, st)), persisted(ls))
			t.Logf("first save %d bytes, then at most %d a minute (%.2f%%), %d with nothing changed", first, most,
				100*float64(most)/float64(first), same)
		})
	}
}

// Statistics an earlier release saved as one value (statsKey) load, and
// the next save writes them as records and deletes the value, with the
// records of other statistics the store held (as after a roll back to
// such a release, which saved its value while this one's records stayed,
// and an upgrade again: the value is the newer).
func TestStatsUpgrade(t *testing.T) {
	st := memStore(t)
	before := newStatFeed(t)
	statStream(before, rand.New(rand.NewPCG(3, 3)), 300, func(int, map[uint64]int64) {})
	if _, _, err := before.ls.save(st); err != nil {
		t.Fatal(err)
	}
	f := copyFeed(t)
	data, _, err := f.ls.encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.set([]byte(statsKey), data); err != nil {
		t.Fatal(err)
	}
	g := loadNew(t, st)
	if !sameStats(t, &g.st, &f.ls.st) {
		t.Fatal("the old value did not load as it was saved")
	}
	if _, _, err := g.save(st); err != nil {
		t.Fatal(err)
	}
	if v, err := st.get([]byte(statsKey)); v != nil || err != nil {
		t.Fatalf("the old value is still there after a save (%v)", err)
	}
	sameState(t, "saved as records", persisted(loadNew(t, st)), persisted(g))
	keys := statKeys(t, st)
	if want := 1 + len(g.st.Accounts) + 2*len(g.st.Leaders) + 2*len(g.st.Relations); len(keys) != want {
		t.Fatalf("%d keys, want %d (one per record and chunk): %q", len(keys), want, keys)
	}
}

// engineFollow is the follow of leader by account acct with amount.
func engineFollow(acct, leader uint64, amount int64) engine.Command {
	return engine.Command{Kind: engine.CmdFollow, Account: acct, Asset: usdt, Amount: amount, Copy: engine.CopySpec{Leader: leader}}
}

// Damaged records are refused with errStatsRecord (Open then rebuilds
// the statistics from the log), never with a panic.
func TestStatsLoadDamaged(t *testing.T) {
	f := copyFeed(t)
	rel := statIDKey(nil, prefixStatRel, 1)
	chunk := func(t *testing.T, st *store) []byte { // the first chunk of relation 1
		t.Helper()
		for _, k := range statKeys(t, st) {
			if bytes.HasPrefix([]byte(k), statChunkKey(nil, statKey{true, 1}, 0)[:len(prefixStatPoints)+9]) {
				return []byte(k)
			}
		}
		t.Fatal("no chunk")
		return nil
	}
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, st *store) error
	}{
		{"no header", func(t *testing.T, st *store) error { return st.db.Delete(keyStatsHeader, nil) }},
		{"header cut short", func(t *testing.T, st *store) error {
			v, _ := st.get(keyStatsHeader)
			return st.set(keyStatsHeader, v[:len(v)-1])
		}},
		{"points after the last result", func(t *testing.T, st *store) error {
			h := f.ls.st.clone()
			h.Now = 0
			return st.set(keyStatsHeader, appendStatHeader(nil, &h))
		}},
		{"relation of a later version", func(t *testing.T, st *store) error {
			v, _ := st.get(rel)
			v[0] = statRecVersion + 1
			return st.set(rel, v)
		}},
		{"relation with more bytes", func(t *testing.T, st *store) error {
			v, _ := st.get(rel)
			return st.set(rel, append(v, 0))
		}},
		{"relation flags", func(t *testing.T, st *store) error {
			v := appendStatRelation(nil, &statRelation{})
			if v[11] != 0 { // version, 3 ids, Bal, 2 floats, 3 amounts, ReturnedBal: a byte each
				t.Fatalf("relation record %x", v)
			}
			v[11] = 16
			return st.set(rel, v)
		}},
		{"close reason of an open relation", func(t *testing.T, st *store) error {
			return st.set(rel, appendStatRelation(nil, &statRelation{CloseReason: engine.CopyStopLoss}))
		}},
		{"close reason that closes nothing", func(t *testing.T, st *store) error {
			return st.set(rel, appendStatRelation(nil, &statRelation{Closed: true, CloseReason: engine.CopyPaused}))
		}},
		{"points without their relation", func(t *testing.T, st *store) error {
			return st.set(statChunkKey(nil, statKey{true, 99}, 0), appendStatChunk(nil, 0, day, []statPoint{{T: 5}}))
		}},
		{"point outside its chunk", func(t *testing.T, st *store) error {
			k := chunk(t, st)
			_, c, _ := parseChunkKey(k[len(prefixStatPoints):])
			return st.set(k, appendStatChunk(nil, c, day, []statPoint{{T: (c + 1) * day}}))
		}},
		{"chunk without points", func(t *testing.T, st *store) error { return st.set(chunk(t, st), []byte{statRecVersion}) }},
		{"unknown key", func(t *testing.T, st *store) error { return st.set([]byte("stats/x"), nil) }},
		{"position in no market", func(t *testing.T, st *store) error {
			l := f.ls.st.Leaders[1].copyButPoints()
			l.Pos[9] = &statPos{Units: 1}
			return st.set(statIDKey(nil, prefixStatLeader, 1), appendStatLeader(nil, l))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := memStore(t)
			if _, _, err := f.ls.save(st); err != nil {
				t.Fatal(err)
			}
			f.ls.stored = statStored{} // the next save writes everything: each subtest has its store
			if err := c.damage(t, st); err != nil {
				t.Fatal(err)
			}
			err := newLeaderStats().load(st)
			if !errors.Is(err, errStatsRecord) {
				t.Fatalf("loaded: %v", err)
			}
			t.Log(err)
		})
	}
}

// randomize sets every exported field of v (and of what it points to)
// to random values: lists of 0 to 3 elements, nil or not.
func randomize(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		randomize(rng, v.Elem())
	case reflect.Map:
		if rng.IntN(4) == 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for range rng.IntN(4) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			randomize(rng, k)
			randomize(rng, e)
			v.SetMapIndex(k, e)
		}
	case reflect.Slice:
		if rng.IntN(4) == 0 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), rng.IntN(4), 4))
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			randomize(rng, v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				randomize(rng, v.Field(i))
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := rng.Int64() >> rng.IntN(64)
		if rng.IntN(2) == 0 {
			x = -x
		}
		v.SetInt(x >> (64 - v.Type().Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(rng.Uint64() >> rng.IntN(64) >> (64 - v.Type().Bits()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat([]float64{0, 1, -1, rng.Float64(), rng.NormFloat64() * 1e6, math.Inf(1), math.NaN()}[rng.IntN(7)])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	default:
		panic("randomize: " + v.Kind().String())
	}
}

// TestStatRecFields saves statistics whose every exported field holds a
// random value (randomize: whatever fields the types gain) and loads
// them back equal: a field the records do not keep fails it. The values
// are made what a save takes: ids matching their keys, positions in
// existing markets, points in time order, not too far from 1970, none
// after Now.
func TestStatRecFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 300 {
		var s statsState
		randomize(rng, reflect.ValueOf(&s).Elem())
		if s.Accounts == nil {
			s.Accounts = map[uint64]*statAccount{}
		}
		if s.Leaders == nil {
			s.Leaders = map[uint64]*statLeader{}
		}
		if s.Relations == nil {
			s.Relations = map[uint64]*statRelation{}
		}
		times := func(h *series) {
			h.Origin.T >>= 1
			for j := range h.Points {
				h.Points[j].T >>= 4
				s.Now = max(s.Now, h.Points[j].T)
			}
			slices.SortFunc(h.Points, func(a, b statPoint) int { return cmp.Compare(a.T, b.T) })
			if h.Points != nil && len(h.Points) == 0 {
				h.Points = nil // as loaded: no chunk
			}
		}
		for id, l := range s.Leaders {
			l.Account = id
			if l.Pos == nil {
				l.Pos = map[uint32]*statPos{}
			}
			pos := l.Pos
			l.Pos = map[uint32]*statPos{}
			for _, p := range pos {
				if len(s.Markets) > 0 {
					l.Pos[1+uint32(rng.IntN(len(s.Markets)))] = p
				}
			}
			times(&l.Hist)
		}
		for id, r := range s.Relations {
			r.ID = id
			times(&r.Hist)
			r.CloseReason = 0 // none, or why a closed one closed
			if r.Closed {
				r.CloseReason = [...]engine.CopyReason{engine.CopyNone, engine.CopyUnfollowed, engine.CopyStopLoss}[rng.IntN(3)]
			}
		}
		ls := newLeaderStats()
		ls.st = s
		ls.index()
		st := memStore(t)
		if _, _, err := ls.save(st); err != nil {
			t.Fatal(err)
		}
		sameState(t, fmt.Sprint("random statistics ", i), persisted(loadNew(t, st)), persisted(ls))
	}
}

// BenchmarkStatsEncode: what a save of 10,000 accounts and 1,000 open
// relations with 30 days of hourly history (bigStats; the soak measured
// a 32-MB gob for such statistics) does under the read lock: clone, the
// whole copy; sync, its update (syncSaved) after a minute in which every
// leader and relation got a sample and 100 accounts and 10 relations
// traded (statsMinute). encode: the gob of a whole copy, what the saves
// before the records wrote (bytes/save).
func BenchmarkStatsEncode(b *testing.B) {
	const accounts, relations, points = 10_000, 1000, 30 * 24
	b.Run("clone", func(b *testing.B) {
		ls := closedStats(accounts, relations, points, 1)
		for b.Loop() {
			ls.mu.RLock()
			c := ls.st.clone()
			ls.mu.RUnlock()
			_ = c
		}
	})
	b.Run("sync", func(b *testing.B) {
		ls := closedStats(accounts, relations, points, 1)
		ls.syncSaved()
		now := int64(points * hour)
		for b.Loop() {
			b.StopTimer()
			now += mins
			statsMinute(ls, now, 100)
			b.StartTimer()
			ls.mu.RLock()
			ls.syncSaved()
			ls.mu.RUnlock()
		}
	})
	b.Run("encode", func(b *testing.B) {
		ls := closedStats(accounts, relations, points, 1)
		n := 0
		for b.Loop() {
			ls.mu.RLock()
			c := ls.st.clone()
			ls.mu.RUnlock()
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(&c); err != nil {
				b.Fatal(err)
			}
			n = buf.Len()
		}
		b.ReportMetric(float64(n), "bytes/save")
	})
}

// BenchmarkStatsSave: saves of BenchmarkStatsEncode's statistics, each
// after a minute of samples and trades (statsMinute), to a store on disk
// (synced). bytes/save is what a save writes (its batch).
//
//   - gob: the save of releases before the records: the gob of the
//     whole copy, as one value.
//   - records: the save now: the records that changed.
//   - all: a save that encodes every record and writes those that
//     changed, after a restart, a new leader or market (a whole copy).
//   - first: a save that knows nothing of the store: it deletes every
//     key of the statistics and writes every record.
func BenchmarkStatsSave(b *testing.B) {
	const accounts, relations, points = 10_000, 1000, 30 * 24
	run := func(name string, prepare func(ls *leaderStats), save func(ls *leaderStats, st *store) (int, error)) {
		b.Run(name, func(b *testing.B) {
			nop := zerolog.Nop()
			st, err := openStore(b.TempDir(), &nop)
			if err != nil {
				b.Fatal(err)
			}
			defer st.close()
			ls := closedStats(accounts, relations, points, 1)
			if _, err := save(ls, st); err != nil {
				b.Fatal(err)
			}
			now, written := int64(points*hour), 0
			for b.Loop() {
				b.StopTimer()
				now += mins
				statsMinute(ls, now, 100)
				prepare(ls)
				b.StartTimer()
				n, err := save(ls, st)
				if err != nil {
					b.Fatal(err)
				}
				written += n
			}
			b.ReportMetric(float64(written)/float64(b.N), "bytes/save")
		})
	}
	records := func(ls *leaderStats, st *store) (int, error) {
		_, n, err := ls.save(st)
		return n, err
	}
	run("gob", func(*leaderStats) {}, func(ls *leaderStats, st *store) (int, error) {
		ls.saveMu.Lock()
		defer ls.saveMu.Unlock()
		ls.mu.RLock()
		ls.syncSaved()
		ls.mu.RUnlock()
		var buf bytes.Buffer
		buf.WriteByte(statsVersion)
		if err := gob.NewEncoder(&buf).Encode(ls.saved); err != nil {
			return 0, err
		}
		return len(statsKey) + buf.Len(), st.set([]byte(statsKey), buf.Bytes())
	})
	run("records", func(*leaderStats) {}, records)
	run("all", func(ls *leaderStats) { ls.wholeCopy = true }, records)
	run("first", func(ls *leaderStats) { ls.stored = statStored{} }, records)
}

// A data directory whose statistics an earlier release saved (the old
// single value) starts with them, and its first save of the history
// writes them as records and deletes the value, though they did not
// change; the next start reads the records.
func TestStatsUpgradeServer(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok, HistoryInterval: -1})
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	lid, lead := ts.signup("lea")
	fid, fol := ts.signup("fred")
	maker, buyer := fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":1000}`)
	rel := uint64(ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"500"}`, lid))["id"].(float64))
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"5"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"BTC-USDT","side":"buy","price":"120","quantity":"5"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"sell","price":"120","quantity":"1"}`)
	ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", rel), fol, "")
	shows := func(ts *testServer) []any {
		t.Helper()
		follows := ts.must(200, "GET", "/v1/social/follows", fol, "")
		for _, f := range follows["follows"].([]any) {
			delete(f.(map[string]any), "sequence") // the engine's, newer after a restart
		}
		return []any{ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")["stats"], follows}
	}
	want := shows(ts)
	if r := want[0].(map[string]any)["all"].(map[string]any); r["round_trips"] != 1.0 || r["pnl"] == "0" {
		t.Fatalf("statistics %v: want a round trip with a profit", r)
	}
	ts.stop()

	// The statistics as an earlier release saved them.
	nop := zerolog.Nop()
	st, err := openStore(dir, &nop)
	if err != nil {
		t.Fatal(err)
	}
	ls := loadNew(t, st)
	data, _, err := ls.encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.db.DeleteRange(prefixStats, prefixStatsEnd, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.set([]byte(statsKey), data); err != nil {
		t.Fatal(err)
	}
	st.close()

	ts = start(t, dir, &Options{AdminToken: adminTok, HistoryInterval: -1})
	if got := shows(ts); !reflect.DeepEqual(got, want) {
		t.Fatalf("upgraded:\n%v\nwant\n%v", got, want)
	}
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	if v, err := ts.s.store.get([]byte(statsKey)); v != nil || err != nil {
		t.Fatalf("the old value is still there after a save (%v)", err)
	}
	ts.stop()
	ts = start(t, dir, &Options{AdminToken: adminTok, HistoryInterval: -1})
	if got := shows(ts); !reflect.DeepEqual(got, want) {
		t.Fatalf("restarted from the records:\n%v\nwant\n%v", got, want)
	}
	ts.stop()

	// What an earlier release, which reads no records, shows (its code
	// for a missing "stats/leaders" is this one's): the statistics
	// rebuilt from the engine (docs/operations.md, Upgrade).
	if st, err = openStore(dir, &nop); err != nil {
		t.Fatal(err)
	}
	if err := st.db.DeleteRange(prefixStats, prefixStatsEnd, nil); err != nil {
		t.Fatal(err)
	}
	st.close()
	ts = start(t, dir, &Options{AdminToken: adminTok, HistoryInterval: -1})
	got := shows(ts)
	row, was := got[0].(map[string]any)["all"].(map[string]any), want[0].(map[string]any)["all"].(map[string]any)
	for k, v := range map[string]any{"round_trips": 0.0, "pnl": "0", "roi": "0.000000", "profit_share_income": "0",
		"active_followers": was["active_followers"], "aum": was["aum"]} {
		if row[k] != v {
			t.Errorf("rebuilt, %s: %v, want %v", k, row[k], v)
		}
	}
	closed := got[1].(map[string]any)["follows"].([]any)[0].(map[string]any)
	for _, k := range []string{"returned", "returned_balances", "pnl", "roi"} {
		if v, ok := closed[k]; !ok || v != nil {
			t.Errorf("rebuilt, the closed follow's %s: %v, want null", k, v)
		}
	}
}

// BenchmarkStatsLoad: a start's load of BenchmarkStatsEncode's
// statistics: gob, the decoding of the old single value (decode), read
// already; records, the reading and decoding of the records from a store
// on disk (load).
func BenchmarkStatsLoad(b *testing.B) {
	const accounts, relations, points = 10_000, 1000, 30 * 24
	nop := zerolog.Nop()
	st, err := openStore(b.TempDir(), &nop)
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	ls := closedStats(accounts, relations, points, 1)
	data, _, err := ls.encode()
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := ls.save(st); err != nil {
		b.Fatal(err)
	}
	b.Run("gob", func(b *testing.B) {
		for b.Loop() {
			if err := newLeaderStats().decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("records", func(b *testing.B) {
		for b.Loop() {
			if err := newLeaderStats().load(st); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A new leader and a new market keep the save's copy incremental (they
// used to rebuild every relation's index and copy the statistics whole
// under the read lock), and the store and the copy stay equal to the
// statistics.
func TestStatsSaveNewLeaderIncremental(t *testing.T) {
	f := newStatFeed(t)
	st := memStore(t)
	rng := rand.New(rand.NewPCG(9, 10))
	check := func(when string) {
		t.Helper()
		if _, _, err := f.ls.save(st); err != nil {
			t.Fatal(err)
		}
		sameState(t, when+", stored", persisted(loadNew(t, st)), persisted(f.ls))
		whole, copied := f.ls.st.clone(), f.ls.saved.clone()
		unmarked(&whole)
		unmarked(&copied)
		sameState(t, when+", the save's copy", copied, whole)
	}
	statStream(f, rng, 300, func(int, map[uint64]int64) {})
	check("after the stream")
	f.deposit(9, usdt, 1000)
	f.lead(9)
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("ETH")}, 3)
	f.do(engine.Command{Kind: engine.CmdCreateMarket, Spec: engine.MarketSpec{Base: 3, Quote: usdt, BaseScale: 1, QuoteScale: 1}}, 2)
	if f.ls.wholeCopy {
		t.Fatal("a new leader or market makes the next save copy everything")
	}
	check("after a new leader and market")
	f.do(engineFollow(4, 9, 100), 1000)
	f.trade(9, book.Buy, 101, 2, 1)
	f.advance(2 * time.Hour)
	f.price(120)
	check("after the new leader traded")
	if r := f.row(9, windowAll); r.Followers != 1 || r.PnL == 0 {
		t.Fatalf("the new leader's row %+v", r)
	}
}
