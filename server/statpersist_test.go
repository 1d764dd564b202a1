package server

import (
	"bytes"
	"encoding/gob"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/engine"
)

// bigStats returns statistics of accounts accounts, each a leader's
// follower, and relations relations with points points of history each,
// an hour apart from time 0.
func bigStats(accounts, relations, points int) statsState {
	now := int64(points) * hour
	st := statsState{Seq: 42, Now: now, Sweep: now / mins, Assets: []engine.Name{{'U'}, {'B'}},
		Markets:  []statMarket{{Base: 2, Quote: 1, BaseScale: 8, QuoteScale: 2, Last: 100}},
		Accounts: map[uint64]*statAccount{}, Leaders: map[uint64]*statLeader{}, Relations: map[uint64]*statRelation{}}
	for a := range uint64(accounts) {
		st.Accounts[a+1] = &statAccount{Bal: []int64{int64(a), 2}, LastQuote: 1}
	}
	hist := func(n int) series { // hourly
		s := series{Origin: statPoint{T: 1, NPU: 1}, Compacted: 5}
		for i := range n {
			s.Points = append(s.Points, statPoint{T: int64(i) * hour, NPU: 1 + float64(i)/1e3, PnL: int64(i), Lo: 1, Hi: 2, DD: 0.1})
		}
		return s
	}
	st.Leaders[1] = &statLeader{Account: 1, Val: 1, Units: 3, Pos: map[uint32]*statPos{1: {Units: 5, Cost: 6}},
		Rels: []uint64{}, Hist: hist(points)}
	for r := range uint64(relations) {
		st.Relations[r+1] = &statRelation{ID: r + 1, Follower: r + 2, Leader: 1, Asset: 1, Bal: []int64{9, 1}, Hist: hist(points)}
		st.Leaders[1].Rels = append(st.Leaders[1].Rels, r+1)
	}
	return st
}

// shared reports a path at which a and b (of the same type) share
// memory: a pointer, map or slice backing array.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Map:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for _, k := range a.MapKeys() {
			if p := shared(a.MapIndex(k), b.MapIndex(k), path+"["+k.String()+"]"); p != "" {
				return p
			}
		}
	case reflect.Slice:
		if a.Cap() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

// The statistics are encoded from a copy taken under the read lock: a
// deep one (no pointer, map or slice shared with the live statistics,
// whatever fields they gain), equal to them, which encodes to what they
// encode to.
func TestStatsClone(t *testing.T) {
	st := bigStats(5, 3, 4)
	c := st.clone()
	if !reflect.DeepEqual(c, st) {
		t.Fatalf("clone differs:\n%+v\n%+v", c, st)
	}
	if p := shared(reflect.ValueOf(c), reflect.ValueOf(st), "statsState"); p != "" {
		t.Fatalf("the clone shares %s with the statistics", p)
	}
	var a, b bytes.Buffer
	if err := gob.NewEncoder(&a).Encode(&c); err != nil {
		t.Fatal(err)
	}
	if err := gob.NewEncoder(&b).Encode(&st); err != nil {
		t.Fatal(err)
	}
	var da, db statsState
	if err := gob.NewDecoder(&a).Decode(&da); err != nil {
		t.Fatal(err)
	}
	if err := gob.NewDecoder(&b).Decode(&db); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(da, db) {
		t.Fatal("the clone encodes to other statistics")
	}
}

// The periodic history save leaves the statistics until they are due
// (statsSaveGap times their last save's duration after it); a forced
// save (shutdown, backup, snapshot retention) writes them whatever.
func TestStatsSaveThrottled(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, HistoryInterval: -1})
	ts.setup()
	caughtUp := func() {
		for i := 0; ts.s.stats.seq() < ts.s.eng.DurableSeq(); i++ {
			if i == 500 {
				t.Fatalf("statistics at %d, engine at %d", ts.s.stats.seq(), ts.s.eng.DurableSeq())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	caughtUp()
	before := ts.s.stats.seq()
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	saved := ts.s.statsSaved.Load()
	if saved < before {
		t.Fatalf("forced save: statistics saved at %d, were at %d", saved, before)
	}
	ts.signup("carol")
	caughtUp()
	before = ts.s.stats.seq()
	ts.s.saveMu.Lock()
	ts.s.statsDue = time.Now().Add(time.Hour)
	ts.s.saveMu.Unlock()
	if _, err := ts.s.saveHistoryStats(false); err != nil {
		t.Fatal(err)
	}
	if got := ts.s.statsSaved.Load(); got != saved {
		t.Fatalf("statistics saved at %d before they were due (last %d)", got, saved)
	}
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	if got := ts.s.statsSaved.Load(); got < before || got <= saved {
		t.Fatalf("forced save: statistics saved at %d (before %d, were at %d)", got, saved, before)
	}
}

// TestStatsSaveConcurrent runs saves and leaderboard reads alongside
// apply, for the race detector: a save writes the bookkeeping of what
// changed (series.same, statAccount.changed) under the read lock, which
// readers share.
func TestStatsSaveConcurrent(t *testing.T) {
	f := newStatFeed(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			f.ls.board("roi", windowAll, 10)
			f.ls.row(1, window7d)
		}
	}()
	st := memStore(t)
	statStream(f, rand.New(rand.NewPCG(9, 9)), 600, func(step int, _ map[uint64]int64) {
		if step%20 == 0 {
			if _, _, err := f.ls.save(st); err != nil {
				t.Error(err)
			}
		}
	})
	close(stop)
	<-done
}
