package server

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/engine"
)

// Persistence and reconciliation of leaderStats.
//
// The statistics are kept in the metadata store as one record per
// account, leader and relation, and their series in chunks of points,
// so that a save writes what changed since the last one, not the whole
// (which was one gob value of 25 to 32 MB for 1,000 relations with 30
// days of history, rewritten at every save):
//
//	"stats/h"                           header: Seq, Now, Sweep, Assets, Markets
//	"stats/a/" account(8)               an account's holdings (statAccount)
//	"stats/l/" account(8)               a leader (statLeader), its series without its points
//	"stats/r/" relation(8)              a relation (statRelation), its series without its points
//	"stats/s/" 'l'|'r' id(8) chunk(8)   a leader's ('l') or a relation's ('r') series points
//	                                    in one hour (a leader's) or one day (a relation's):
//	                                    chunk = T / span, rounded down (statrec.go)
//	"stats/leaders"                     what releases before the records saved: the whole
//	                                    statistics as one value, version 1 or 2 (statsVersion)
//	                                    + gob of statsState; read if present, deleted by the
//	                                    next save
//
// Ids and chunks are big endian (a chunk's sign bit flipped), so that a
// series' chunks come in order; statrec.go has the values.
//
// A save (leaderStats.save) brings its copy of the statistics up to date
// under the read lock (syncSaved: the engine's output, apply, waits for
// the write lock) and, outside the lock, encodes from the copy the
// records that may have changed since the last save: the header, the
// accounts apply handed out, every leader and open relation, the
// relations closed since, and each changed series' chunks from the one
// of its first changed point on. Of those, it writes the records whose
// value differs from what the store holds (statStored keeps a hash of
// each record's value), and deletes the chunks no point is in any more,
// all in one batch: the store holds the statistics of one Seq, the
// previous save's or this one's, whatever a crash interrupts. A
// minute's sample changes a series' newest chunk; the hourly
// compaction, which merges points in place, the chunks it merges points
// in (from a year on, it empties 23 of a leader's 24 hour chunks a day).
// After a restore, a reconciliation, a new leader or market (whole
// copies), it encodes every record, and still writes only those that
// differ; when it does not know what the store holds (nothing loaded,
// the old single value loaded, a commit that failed), it deletes every
// key of the statistics first and writes them all.
//
// For 10,000 accounts and 1,000 open relations with 30 days of history,
// after a minute of samples and trades, a save writes 81 KB in 3–5 ms,
// where the whole statistics' gob was 29 MB in 0.16–0.24 s
// (BenchmarkStatsSave); a start loads the records in about the time it
// decoded the gob, 0.1 s (BenchmarkStatsLoad).
//
// Loading (leaderStats.load) reads the old single value if there is one
// (so that statistics an earlier release saved after this one's, as
// after a roll back and an upgrade again, are the ones restored), else
// every record.

// statsKey is the metadata store key of the statistics as one value, as
// releases before the records saved them.
const statsKey = "stats/leaders"

// The old single value is a version byte and the gob of statsState.
// Version 1 (before series points had their step's range): its points
// load with the range of their closing value (series.ranged). Version 2
// adds statPoint's Lo, Hi, DD and Income, statLeader's Income and
// statRelation's Returned and OutUnknown; gob gives the fields a version
// 1 lacks their zero value.
const statsVersion = 2

// statChanges is what changed since the last save's copy, as syncSaved
// found it (leaderStats.saveMu): the accounts apply handed out, the open
// relations and those closed since (with repeats), and the series whose
// points changed, each from its first changed point. Leaders are all
// candidates.
type statChanges struct {
	accts, rels []uint64
	series      []seriesChange
}

// seriesChange says that a series' points may have changed from index
// from on.
type seriesChange struct {
	key  statKey
	from int
}

// syncSaved brings ls.saved, the copy the last save wrote from, up to
// date with ls.st, sharing nothing with it (ls.saveMu and the read lock
// held: apply, the only writer, waits; it writes only the bookkeeping of
// what changed, which readers do not read), and reports in ls.chg what
// it copied; whole is true if it copied everything.
//
// The first time, and after index (wholeCopy), it copies everything
// (clone). Otherwise it copies the markets and assets (few), the
// accounts apply handed out since (changedAccts), every leader and open
// relation, their series from their first changed point (syncPoints),
// and the relations closed since (closedRels). A closed relation no
// longer changes, and most accounts and points did not change since the
// last save: with follows coming and going and a history of weeks, they
// are most of the statistics.
func (ls *leaderStats) syncSaved() (whole bool) {
	st := &ls.st
	chg := &ls.chg
	chg.accts, chg.rels, chg.series = chg.accts[:0], chg.rels[:0], chg.series[:0]
	for _, id := range ls.changedAccts {
		if a := st.Accounts[id]; a != nil {
			a.changed = false
		}
	}
	if ls.saved == nil || ls.wholeCopy {
		c := st.clone()
		ls.saved, ls.wholeCopy = &c, false
		for _, l := range st.Leaders {
			l.Hist.same = len(l.Hist.Points)
		}
		for _, r := range st.Relations {
			r.Hist.same = len(r.Hist.Points)
		}
		ls.changedAccts, ls.closedRels = ls.changedAccts[:0], ls.closedRels[:0]
		return true
	}
	sv := ls.saved
	sv.Seq, sv.Now, sv.Sweep = st.Seq, st.Now, st.Sweep
	sv.Assets = slices.Clone(st.Assets)
	sv.Markets = slices.Clone(st.Markets)
	for _, id := range ls.changedAccts {
		if a := st.Accounts[id]; a != nil {
			c := *a
			c.Bal = slices.Clone(a.Bal)
			sv.Accounts[id] = &c
			chg.accts = append(chg.accts, id)
		}
	}
	for id, l := range st.Leaders {
		var old []statPoint
		if p := sv.Leaders[id]; p != nil {
			old = p.Hist.Points
		}
		c := l.copyButPoints()
		var from int
		c.Hist.Points, from = syncPoints(old, &l.Hist)
		sv.Leaders[id] = c
		if from >= 0 {
			chg.series = append(chg.series, seriesChange{statKey{false, id}, from})
		}
	}
	copyRel := func(r *statRelation) {
		var old []statPoint
		if p := sv.Relations[r.ID]; p != nil {
			old = p.Hist.Points
		}
		c := r.copyButPoints()
		var from int
		c.Hist.Points, from = syncPoints(old, &r.Hist)
		sv.Relations[r.ID] = c
		chg.rels = append(chg.rels, r.ID)
		if from >= 0 {
			chg.series = append(chg.series, seriesChange{statKey{true, r.ID}, from})
		}
	}
	for _, r := range ls.open {
		copyRel(r)
	}
	for _, id := range ls.closedRels {
		if r := st.Relations[id]; r != nil {
			copyRel(r)
		}
	}
	ls.changedAccts, ls.closedRels = ls.changedAccts[:0], ls.closedRels[:0]
	return false
}

// syncPoints returns s's points, built on old, the saved copy's (whose
// array it may reuse): the first s.same are already there. Then every
// point of s is. from is the first point that may differ from old's, -1
// if none does.
func syncPoints(old []statPoint, s *series) (pts []statPoint, from int) {
	k := min(s.same, len(old), len(s.Points))
	from = k
	if k == len(old) && k == len(s.Points) {
		from = -1
	}
	out := append(old[:k], s.Points[k:]...)
	s.same = len(s.Points)
	return out, from
}

// copyButPoints returns a copy of l that shares nothing with it but the
// array of its series' points, which the caller replaces.
func (l *statLeader) copyButPoints() *statLeader {
	c := *l
	if l.Pos != nil {
		c.Pos = make(map[uint32]*statPos, len(l.Pos))
		for m, p := range l.Pos {
			pc := *p
			c.Pos[m] = &pc
		}
	}
	c.Rels = slices.Clone(l.Rels)
	return &c
}

// copyButPoints is statLeader.copyButPoints for a relation.
func (r *statRelation) copyButPoints() *statRelation {
	c := *r
	c.Bal = slices.Clone(r.Bal)
	c.ReturnedBal = slices.Clone(r.ReturnedBal)
	return &c
}

// clone returns a deep copy of st: nothing it holds is shared with st.
func (st *statsState) clone() statsState {
	c := *st
	c.Assets = slices.Clone(st.Assets)
	c.Markets = slices.Clone(st.Markets)
	c.Accounts = make(map[uint64]*statAccount, len(st.Accounts))
	for k, a := range st.Accounts {
		ac := *a
		ac.Bal = slices.Clone(a.Bal)
		c.Accounts[k] = &ac
	}
	c.Leaders = make(map[uint64]*statLeader, len(st.Leaders))
	for k, l := range st.Leaders {
		lc := l.copyButPoints()
		lc.Hist.Points = slices.Clone(l.Hist.Points)
		c.Leaders[k] = lc
	}
	c.Relations = make(map[uint64]*statRelation, len(st.Relations))
	for k, r := range st.Relations {
		rc := r.copyButPoints()
		rc.Hist.Points = slices.Clone(r.Hist.Points)
		c.Relations[k] = rc
	}
	return c
}

// statStored is what the metadata store holds of the statistics, as
// this process knows it (leaderStats.saveMu): a hash of the value of
// every record it loaded or wrote since, so that a save writes a record
// only if its value changed. Two values of the same record with the
// same 64-bit hash (maphash, a seed per process) would leave the older
// in the store: a chance of about 2^-64 per record written.
//
// The zero value knows nothing: the next save deletes every key of the
// statistics first and writes them all.
type statStored struct {
	known                bool
	seed                 maphash.Seed
	accts, leaders, rels map[uint64]uint64 // by id
	chunks               map[statKey][]chunkSum

	// Scratch of a save: the hashes to keep once its batch is committed,
	// and buffers of keys and values.
	staged   []stagedSum
	key, val []byte
}

// chunkSum is the hash of chunk c of a series.
type chunkSum struct {
	c   int64
	sum uint64
}

// stagedSum is a change of statStored that a save makes once committed:
// in m (nil for a series), id's hash set to sum, or removed (del); or
// series key's chunks set to chunks (removed if none).
type stagedSum struct {
	m      map[uint64]uint64
	id     uint64
	sum    uint64
	del    bool
	key    statKey
	chunks []chunkSum
}

// reset forgets what the store holds.
func (ps *statStored) reset() {
	if ps.accts == nil {
		ps.seed = maphash.MakeSeed()
	}
	ps.accts, ps.leaders, ps.rels = map[uint64]uint64{}, map[uint64]uint64{}, map[uint64]uint64{}
	ps.chunks = map[statKey][]chunkSum{}
	ps.known = false
}

// apply keeps the staged hashes: the save's batch is committed.
func (ps *statStored) apply() {
	for i := range ps.staged {
		s := &ps.staged[i]
		switch {
		case s.m == nil && s.chunks == nil:
			delete(ps.chunks, s.key)
		case s.m == nil:
			ps.chunks[s.key] = s.chunks
		case s.del:
			delete(s.m, s.id)
		default:
			s.m[s.id] = s.sum
		}
	}
	clear(ps.staged) // the chunk lists
	ps.staged = ps.staged[:0]
}

// put sets the record of id under prefix to ps.val in b, unless the store
// holds that value (m: the hashes of the records under prefix).
func (ps *statStored) put(b *pebble.Batch, m map[uint64]uint64, prefix []byte, id uint64) {
	sum := maphash.Bytes(ps.seed, ps.val)
	if old, ok := m[id]; ok && old == sum {
		return
	}
	ps.key = statIDKey(ps.key[:0], prefix, id)
	_ = b.Set(ps.key, ps.val, nil)
	ps.staged = append(ps.staged, stagedSum{m: m, id: id, sum: sum})
}

// del deletes the record of id under prefix in b.
func (ps *statStored) del(b *pebble.Batch, m map[uint64]uint64, prefix []byte, id uint64) {
	ps.key = statIDKey(ps.key[:0], prefix, id)
	_ = b.Delete(ps.key, nil)
	ps.staged = append(ps.staged, stagedSum{m: m, id: id, del: true})
}

// series writes to b the chunks of series k (points pts) from the one of
// point from−1 on (all if from is 0) whose value the store does not
// hold, and deletes the chunks from there on that it holds and pts no
// longer has.
func (ps *statStored) series(b *pebble.Batch, k statKey, pts []statPoint, from int) {
	span := chunkSpan(k)
	old := ps.chunks[k]
	i, first := 0, int64(math.MinInt64) // first point and first chunk to write
	if from = min(from, len(pts)); from > 0 {
		first = chunkOf(pts[from-1].T, span)
		i = from - 1
		for i > 0 && chunkOf(pts[i-1].T, span) == first {
			i--
		}
	}
	j, _ := slices.BinarySearchFunc(old, first, func(s chunkSum, c int64) int { return cmp.Compare(s.c, c) })
	next := slices.Clone(old[:j])
	changed := false
	drop := func(c int64) {
		ps.key = statChunkKey(ps.key[:0], k, c)
		_ = b.Delete(ps.key, nil)
		changed = true
	}
	for i < len(pts) {
		c := chunkOf(pts[i].T, span)
		e := i + 1
		for e < len(pts) && chunkOf(pts[e].T, span) == c {
			e++
		}
		ps.val = appendStatChunk(ps.val[:0], c, span, pts[i:e])
		sum := maphash.Bytes(ps.seed, ps.val)
		for ; j < len(old) && old[j].c < c; j++ {
			drop(old[j].c)
		}
		if j < len(old) && old[j].c == c && old[j].sum == sum {
			j++
		} else {
			if j < len(old) && old[j].c == c {
				j++
			}
			ps.key = statChunkKey(ps.key[:0], k, c)
			_ = b.Set(ps.key, ps.val, nil)
			changed = true
		}
		next = append(next, chunkSum{c, sum})
		i = e
	}
	for ; j < len(old); j++ {
		drop(old[j].c)
	}
	if changed {
		ps.staged = append(ps.staged, stagedSum{key: k, chunks: next})
	}
}

// dropSeries deletes every chunk of series k in b.
func (ps *statStored) dropSeries(b *pebble.Batch, k statKey) {
	for _, s := range ps.chunks[k] {
		ps.key = statChunkKey(ps.key[:0], k, s.c)
		_ = b.Delete(ps.key, nil)
	}
	ps.staged = append(ps.staged, stagedSum{key: k})
}

// writeAll writes to b every record of sv that the store does not hold,
// and deletes those it holds of what sv no longer has.
func (ps *statStored) writeAll(b *pebble.Batch, sv *statsState) {
	for id, a := range sv.Accounts {
		ps.val = appendStatAccount(ps.val[:0], a)
		ps.put(b, ps.accts, prefixStatAcct, id)
	}
	for id := range ps.accts {
		if sv.Accounts[id] == nil {
			ps.del(b, ps.accts, prefixStatAcct, id)
		}
	}
	for id, l := range sv.Leaders {
		ps.val = appendStatLeader(ps.val[:0], l)
		ps.put(b, ps.leaders, prefixStatLeader, id)
		ps.series(b, statKey{false, id}, l.Hist.Points, 0)
	}
	for id := range ps.leaders {
		if sv.Leaders[id] == nil {
			ps.del(b, ps.leaders, prefixStatLeader, id)
		}
	}
	for id, r := range sv.Relations {
		ps.val = appendStatRelation(ps.val[:0], r)
		ps.put(b, ps.rels, prefixStatRel, id)
		ps.series(b, statKey{true, id}, r.Hist.Points, 0)
	}
	for id := range ps.rels {
		if sv.Relations[id] == nil {
			ps.del(b, ps.rels, prefixStatRel, id)
		}
	}
	for k := range ps.chunks {
		if k.rel && sv.Relations[k.id] == nil || !k.rel && sv.Leaders[k.id] == nil {
			ps.dropSeries(b, k)
		}
	}
}

// writeChanged writes to b the records of sv that chg says may have
// changed and whose value the store does not hold: nothing is ever
// removed from the statistics but by a restore (a whole copy, writeAll).
func (ps *statStored) writeChanged(b *pebble.Batch, sv *statsState, chg *statChanges) {
	for _, id := range chg.accts {
		ps.val = appendStatAccount(ps.val[:0], sv.Accounts[id])
		ps.put(b, ps.accts, prefixStatAcct, id)
	}
	for id, l := range sv.Leaders {
		ps.val = appendStatLeader(ps.val[:0], l)
		ps.put(b, ps.leaders, prefixStatLeader, id)
	}
	slices.Sort(chg.rels)
	for _, id := range slices.Compact(chg.rels) {
		ps.val = appendStatRelation(ps.val[:0], sv.Relations[id])
		ps.put(b, ps.rels, prefixStatRel, id)
	}
	for _, s := range chg.series {
		var pts []statPoint
		if s.key.rel {
			pts = sv.Relations[s.key.id].Hist.Points
		} else {
			pts = sv.Leaders[s.key.id].Hist.Points
		}
		ps.series(b, s.key, pts, s.from)
	}
}

// save writes the statistics to st in one batch (see the top of this
// file), and returns the sequence number of the last result they hold
// and the size of the batch in bytes. It holds the read lock only to
// bring its copy of them up to date (syncSaved): every result the engine
// delivers waits for the write lock (apply).
func (ls *leaderStats) save(st *store) (seq uint64, size int, err error) {
	ls.saveMu.Lock()
	defer ls.saveMu.Unlock()
	ls.mu.RLock()
	whole := ls.syncSaved()
	ls.mu.RUnlock()
	ps, sv := &ls.stored, ls.saved
	b := st.db.NewBatch()
	defer b.Close()
	rewrite := !ps.known
	if rewrite {
		_ = b.DeleteRange(prefixStats, prefixStatsEnd, nil) // the old single value too
		ps.reset()
	}
	ps.val = appendStatHeader(ps.val[:0], sv)
	_ = b.Set(keyStatsHeader, ps.val, nil)
	if whole || rewrite {
		ps.writeAll(b, sv)
	} else {
		ps.writeChanged(b, sv, &ls.chg)
	}
	size = b.Len()
	if err := b.Commit(pebble.Sync); err != nil {
		// The store may hold this batch or not: the next save rewrites
		// everything.
		ps.reset()
		clear(ps.staged)
		ps.staged = ps.staged[:0]
		return 0, 0, fmt.Errorf("server: save leader statistics: %w", err)
	}
	ps.apply()
	ps.known = true
	if cap(ps.val) > 1<<20 {
		ps.val = nil // a whole save's largest chunk need not be kept
	}
	return sv.Seq, size, nil
}

// load replaces the statistics with those st holds (none: empty ones):
// the old single value if there is one (decode), else the records. A
// record that does not decode, a chunk of a series without its leader or
// relation, or records without a header fail it, with
// errStatsRecord.
func (ls *leaderStats) load(st *store) error {
	data, err := st.get([]byte(statsKey))
	if err != nil {
		return err
	}
	if data != nil {
		return ls.decode(data) // ls.stored knows nothing: the next save writes the records
	}
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: prefixStats, UpperBound: prefixStatsEnd})
	if err != nil {
		return fmt.Errorf("server: metadata store: %w", err)
	}
	ps := statStored{}
	ps.reset()
	s, header, err := readStats(it, &ps)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("server: metadata store: %w", cerr)
	}
	if err != nil {
		return err
	}
	if !header {
		if len(ps.accts)+len(ps.leaders)+len(ps.rels)+len(ps.chunks) > 0 {
			return fmt.Errorf("%w: records without a header", errStatsRecord)
		}
		return nil
	}
	if err := s.check(); err != nil {
		return err
	}
	ps.known = true
	ls.saveMu.Lock()
	defer ls.saveMu.Unlock()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.st, ls.stored = s, ps
	ls.index()
	return nil
}

// readStats decodes the records it reads into statistics, and their
// hashes into ps; header reports whether it read the header.
func readStats(it *pebble.Iterator, ps *statStored) (s statsState, header bool, err error) {
	s = statsState{Accounts: map[uint64]*statAccount{}, Leaders: map[uint64]*statLeader{},
		Relations: map[uint64]*statRelation{}}
	id := func(k, prefix []byte) (uint64, bool) {
		if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
			return 0, false
		}
		return binary.BigEndian.Uint64(k[len(prefix):]), true
	}
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		sum := maphash.Bytes(ps.seed, v)
		if bytes.Equal(k, keyStatsHeader) {
			if err := decodeStatHeader(v, &s); err != nil {
				return s, false, err
			}
			header = true
			continue
		}
		if n, ok := id(k, prefixStatAcct); ok {
			a, err := decodeStatAccount(v)
			if err != nil {
				return s, false, fmt.Errorf("%w: account %d", err, n)
			}
			s.Accounts[n], ps.accts[n] = a, sum
			continue
		}
		if n, ok := id(k, prefixStatLeader); ok {
			l, err := decodeStatLeader(n, v)
			if err != nil {
				return s, false, fmt.Errorf("%w: leader %d", err, n)
			}
			s.Leaders[n], ps.leaders[n] = l, sum
			continue
		}
		if n, ok := id(k, prefixStatRel); ok {
			r, err := decodeStatRelation(n, v)
			if err != nil {
				return s, false, fmt.Errorf("%w: relation %d", err, n)
			}
			s.Relations[n], ps.rels[n] = r, sum
			continue
		}
		if sk, c, ok := parseChunkKey(bytes.TrimPrefix(k, prefixStatPoints)); ok && bytes.HasPrefix(k, prefixStatPoints) {
			var h *series
			if l := s.Leaders[sk.id]; !sk.rel && l != nil {
				h = &l.Hist
			} else if r := s.Relations[sk.id]; sk.rel && r != nil {
				h = &r.Hist
			}
			if h == nil {
				return s, false, fmt.Errorf("%w: points of %v without its record", errStatsRecord, sk)
			}
			if h.Points, err = decodeStatChunk(h.Points, c, chunkSpan(sk), v); err != nil {
				return s, false, fmt.Errorf("%w: chunk %d of %v", err, c, sk)
			}
			ps.chunks[sk] = append(ps.chunks[sk], chunkSum{c, sum})
			continue
		}
		if string(k) != statsKey {
			return s, false, fmt.Errorf("%w: unknown key %q", errStatsRecord, k)
		}
	}
	return s, header, it.Error()
}

// String names a series in errors.
func (k statKey) String() string {
	if k.rel {
		return fmt.Sprintf("relation %d", k.id)
	}
	return fmt.Sprintf("leader %d", k.id)
}

// check refuses statistics that reads and apply could not serve: a
// leader's position in a market that does not exist, a series with
// points after the last result applied (apply would sample before
// them). The engine's results never make them; only a damaged store
// could.
func (st *statsState) check() error {
	late := func(s *series) bool { return len(s.Points) > 0 && s.Points[len(s.Points)-1].T > st.Now }
	for id, l := range st.Leaders {
		for m, p := range l.Pos {
			if m == 0 || int(m) > len(st.Markets) || p == nil {
				return fmt.Errorf("%w: leader %d has a position in market %d of %d", errStatsRecord, id, m, len(st.Markets))
			}
		}
		if late(&l.Hist) {
			return fmt.Errorf("%w: leader %d has points after the last result", errStatsRecord, id)
		}
	}
	for id, r := range st.Relations {
		if late(&r.Hist) {
			return fmt.Errorf("%w: relation %d has points after the last result", errStatsRecord, id)
		}
	}
	return nil
}

// decode replaces the statistics with the old single value (statsKey).
func (ls *leaderStats) decode(data []byte) error {
	if len(data) == 0 || data[0] < 1 || data[0] > statsVersion {
		return fmt.Errorf("server: leader statistics: unknown version")
	}
	st := statsState{}
	if err := gob.NewDecoder(bytes.NewReader(data[1:])).Decode(&st); err != nil {
		return fmt.Errorf("server: decode leader statistics: %w", err)
	}
	if st.Accounts == nil {
		st.Accounts = map[uint64]*statAccount{}
	}
	if st.Leaders == nil {
		st.Leaders = map[uint64]*statLeader{}
	}
	if st.Relations == nil {
		st.Relations = map[uint64]*statRelation{}
	}
	for _, l := range st.Leaders {
		if l.Pos == nil {
			l.Pos = map[uint32]*statPos{}
		}
		if data[0] < 2 {
			l.Hist.ranged()
		}
	}
	for _, r := range st.Relations {
		if data[0] < 2 {
			r.Hist.ranged()
		}
	}
	if err := st.check(); err != nil {
		return err
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.st = st
	ls.index()
	return nil
}

// seq returns the sequence number of the last result applied.
func (ls *leaderStats) seq() uint64 {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	return ls.st.Seq
}

// loadStats restores the statistics from the metadata store.
func (s *Server) loadStats() error {
	s.stats = newLeaderStats()
	if err := s.stats.load(s.store); err != nil {
		return err
	}
	s.statsSaved.Store(s.stats.seq())
	return nil
}

// inRecords reports whether the store holds the statistics as records
// that this process knows: not before their first save, nor after the
// old single value loaded, which the next save replaces even if nothing
// changed.
func (ls *leaderStats) inRecords() bool {
	ls.saveMu.Lock()
	defer ls.saveMu.Unlock()
	return ls.stored.known
}

// saveStats writes the statistics to the metadata store if they changed
// since the last save, or are not yet in records (inRecords). Unless
// forced, it does so only once statsSaveGap times the last save's
// duration has passed since it, so that saving takes at most about 5%
// of a core. A save writes what changed: for 10,000 accounts and 1,000
// open relations with 30 days of history, after a minute of samples and
// trades, 81 KB in 3–5 ms (BenchmarkStatsSave/records, synced to
// disk), so it follows every history save (HistoryInterval, 5 s); one
// that encodes every record (after a restart, a new leader or market)
// takes 40–46 ms and writes as little, and the first, which writes all
// 27 MB, 0.12–0.24 s, delaying the next by 2–5 s. (The whole gob at
// every save took 0.16–0.24 s and spaced saves 3–5 s apart.) Until
// saved, the log keeps the commands after their last save (Retain),
// which a restart replays into them.
func (s *Server) saveStats(force bool) error {
	if s.stats.seq() == s.statsSaved.Load() && s.stats.inRecords() || !force && time.Now().Before(s.statsDue) {
		return nil
	}
	t0 := time.Now()
	seq, _, err := s.stats.save(s.store)
	if err != nil {
		return err
	}
	s.statsSaved.Store(seq)
	took := time.Since(t0)
	s.statsDue = t0.Add(statsSaveGap * took)
	return nil
}

// statsSaveGap is the least time between periodic saves of the leader
// statistics, in multiples of the last save's duration (saveStats): a
// bound of 5% of a core, which saves of what changed stay far below.
const statsSaveGap = 20

// syncPaused takes which open relations are paused from the engine's
// views, published for the recovered state by engine.Open: statistics
// saved before the ledger tracked pauses hold none. From then on, apply
// follows pauses and resumes.
func (ls *leaderStats) syncPaused(e *engine.Engine) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	e.Relations(func(v *engine.RelationView) bool {
		if r := ls.st.Relations[v.ID]; r != nil {
			r.Paused = v.Status == engine.RelationPaused
		}
		return true
	})
}

// reconcile brings the ledger up to the engine's state at seq, for when
// the statistics missed results: a first start on an older data
// directory, or a save older than the engine snapshot the log was
// replayed from. Markets, prices, holdings, leaders and relations are
// taken from the engine's views (published for the recovered state by
// engine.Open); holdings that changed move in or out at the NAV per unit
// in force, so that what was missed shows in no return. What was missed
// is also missing from the series, positions and round trips.
func (ls *leaderStats) reconcile(e *engine.Engine, seq uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	st := &ls.st
	dir := e.Directory()
	st.Assets = append(st.Assets[:0], dir.Assets...)
	for _, mi := range dir.Markets {
		st.Markets = grow(st.Markets, int(mi.ID))
		m := &st.Markets[mi.ID-1]
		m.Base, m.Quote, m.BaseScale, m.QuoteScale = mi.Spec.Base, mi.Spec.Quote, mi.Spec.BaseScale, mi.Spec.QuoteScale
		if v, ok := e.Market(mi.ID); ok {
			m.Last = v.Last
		}
	}
	ls.index()
	holdings := func(id uint64) []int64 {
		var bal []int64
		if v, ok := e.Account(id); ok {
			for _, b := range v.Balances {
				addBal(&bal, b.Asset, b.Available+b.Locked)
			}
		}
		return bal
	}
	wallets := map[uint64]bool{}
	e.Relations(func(v *engine.RelationView) bool {
		wallets[v.Wallet] = true
		r := st.Relations[v.ID]
		if r == nil {
			r = &statRelation{ID: v.ID, Follower: v.Follower, Leader: v.Leader, Asset: v.Asset,
				Units: float64(v.Allocation), LastNPU: 1, In: v.Allocation}
			st.Relations[v.ID] = r
			ls.addFollowerRel(v.Follower, v.ID)
		}
		if v.Status == engine.RelationClosed {
			if !r.Closed {
				r.LastNPU = ls.relNPU(r)
				r.Bal, r.Units, r.Closed, r.ClosedAt, r.OutUnknown = nil, 0, true, st.Now, true
			}
			return true
		}
		npu := ls.relNPU(r)
		r.Bal = holdings(v.Wallet)
		r.In = max(r.In, v.Allocation)
		r.Units = float64(ls.relNAV(r)) / max(npu, 1e-9)
		ls.touch(statKey{true, r.ID})
		return true
	})
	for id := uint64(1); ; id++ {
		if _, ok := e.Account(id); !ok {
			break
		}
		if wallets[id] {
			continue
		}
		a := ls.account(id)
		l := st.Leaders[id]
		var npu float64
		if l != nil {
			npu = ls.npu(l)
		}
		a.Bal = holdings(id)
		if l != nil && l.Val != 0 {
			l.Units = float64(max(ls.leaderNAV(l), 0)) / max(npu, 1e-9)
			ls.touch(statKey{false, id})
		}
	}
	e.Leaders(func(v *engine.LeaderView) bool {
		if st.Leaders[v.Account] == nil {
			l := &statLeader{Account: v.Account, LastNPU: 1, Pos: map[uint32]*statPos{}}
			st.Leaders[v.Account] = l
			ls.incept(l)
		}
		return true
	})
	for _, l := range st.Leaders {
		l.Rels = l.Rels[:0]
	}
	for id, r := range st.Relations {
		if l := st.Leaders[r.Leader]; l != nil {
			l.Rels = append(l.Rels, id)
		}
	}
	for _, l := range st.Leaders {
		slices.Sort(l.Rels)
	}
	ls.indexRels()
	st.Seq = seq
	ls.sample()
}
