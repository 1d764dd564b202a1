package wal

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Copy-trading through the real log: the leaders' fills are mirrored live;
// the log holds only the commands; recovery (from the log alone, and from
// a snapshot plus the log) reproduces every mirrored event and the state
// hash.
func TestRecoverReproducesMirrors(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, engine.Options{})
	run(t, o.eng, genesis(8))
	run(t, o.eng, []engine.Command{
		{Kind: engine.CmdSetLeaderProfile, Account: 1, Copy: engine.CopySpec{ProfitShareBps: 1000}},
		{Kind: engine.CmdSetLeaderProfile, Account: 2},
	})
	var live []engine.Event
	do := func(c engine.Command) engine.Result {
		res, err := o.eng.Do(context.Background(), &c, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range res.Events {
			if ev.Relation != 0 {
				live = append(live, ev)
			}
		}
		return res
	}
	for f := uint64(3); f <= 8; f++ {
		mode := engine.CopyMode(1 + f%3)
		value := int64(engine.ValueOne)
		if mode == engine.CopyFixedQuote {
			value = 1 << 30
		}
		do(engine.Command{Kind: engine.CmdFollow, Account: f, Asset: 2, Amount: 1 << 36,
			Copy: engine.CopySpec{Leader: 1 + f%2, Mode: mode, Value: value, StopLossBps: 3000}})
	}
	r := rand.New(rand.NewPCG(5, 5))
	var last uint64
	for i := range 3000 {
		c := trading(r, 8, last)
		switch i % 500 {
		case 100:
			c = engine.Command{Kind: engine.CmdSettle}
		case 200:
			c = engine.Command{Kind: engine.CmdPauseFollow, Account: 4, Copy: engine.CopySpec{Relation: 2}}
		case 300:
			c = engine.Command{Kind: engine.CmdResumeFollow, Account: 4, Copy: engine.CopySpec{Relation: 2}}
		}
		res := do(c)
		if c.Kind == engine.CmdPlace && res.Err == nil {
			last = res.ID
		}
	}
	do(engine.Command{Kind: engine.CmdUnfollow, Account: 3, Copy: engine.CopySpec{Relation: 1, Close: engine.CloseMarket}})
	want := o.close(t)
	mirroredTrades := 0
	for _, ev := range live {
		if ev.Kind == book.EvTrade {
			mirroredTrades++
		}
	}
	if mirroredTrades < 100 {
		t.Fatalf("only %d mirrored trades: the test does not exercise mirroring", mirroredTrades)
	}

	replayed := func(snapshot bool, want *engine.State) {
		t.Helper()
		l, err := Open(dir, &Options{Logger: &quiet, IgnoreSnapshots: !snapshot})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var got []engine.Event
		l.opts.OnReplay = func(_ *engine.Command, res *engine.Result) {
			for _, ev := range res.Events {
				if ev.Relation != 0 {
					got = append(got, ev)
				}
			}
		}
		st, stats, err := l.Recover()
		if err != nil {
			t.Fatal(err)
		}
		if st.Hash() != want.Hash() {
			t.Fatalf("snapshot=%v: recovered state differs", snapshot)
		}
		if !snapshot {
			if len(got) != len(live) {
				t.Fatalf("replay made %d copy events, the live run %d", len(got), len(live))
			}
			for i := range live {
				if got[i] != live[i] {
					t.Fatalf("copy event %d differs on replay: %+v vs %+v", i, got[i], live[i])
				}
			}
		} else if stats.SnapshotSeq == 0 {
			t.Fatal("no snapshot to start from")
		}
	}
	replayed(false, want)
	// A snapshot midway: the relations, leaders and carries are in it.
	o = open(t, dir, nil, engine.Options{})
	if _, err := o.eng.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	replayed(true, o.close(t)) // the snapshot command is one more
}
