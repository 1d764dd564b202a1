package engine

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// sameView fails the test unless the published view got (ok: published)
// equals want once clear has blanked the fields allowed to differ.
func sameView[V any](t *testing.T, upto int, what string, got *V, ok bool, want *V, clear func(*V)) {
	t.Helper()
	if !ok {
		t.Fatalf("after command %d: %s not published", upto, what)
	}
	g, w := *got, *want
	clear(&g)
	clear(&w)
	if gs, ws := fmt.Sprintf("%+v", g), fmt.Sprintf("%+v", w); gs != ws {
		t.Fatalf("after command %d, %s:\n published %s\n state     %s", upto, what, gs, ws)
	}
}

// TestEngineViewsMatchState runs a random stream of trading and
// copy-trading commands through the engine, in batches, and after each
// batch compares every published view (markets, accounts, relations,
// leaders) with the view of a State that applied the same commands: the
// matcher must republish everything a command touched.
func TestEngineViewsMatchState(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 5_000
	}
	cmds, _, _ := copyRun(t, testSeed(t, 11), n, false)
	e, err := Open(&Options{ViewInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ref := NewState()
	var evs []Event
	ctx := context.Background()
	check := func(upto int) {
		if err := e.WaitViews(ctx, uint64(upto)); err != nil {
			t.Fatal(err)
		}
		compareViews(t, e, ref, upto)
	}
	const chunk = 500
	for i := 0; i < len(cmds); i += chunk {
		end := min(i+chunk, len(cmds))
		for j := i; j < end; j++ {
			c := cmds[j]
			// The engine stamps its own times: good-till-date orders
			// would expire at other commands than in the reference.
			c.ExpireAt = 0
			_, evs = ref.Apply(&c, evs[:0])
			c.Seq, c.Time = 0, 0
			if err := e.Submit(ctx, &c, nil); err != nil {
				t.Fatal(err)
			}
		}
		check(end)
	}
}

// compareViews fails the test unless every view e published (markets,
// accounts, relations, leaders) equals ref's, a State that applied the
// same upto commands.
func compareViews(t *testing.T, e *Engine, ref *State, upto int) {
	t.Helper()
	const depth = 50 // the engine's default DepthLevels
	for id := uint32(1); ; id++ {
		want, err := ref.MarketView(id, depth)
		if err != nil {
			break
		}
		got, ok := e.Market(id)
		sameView(t, upto, fmt.Sprint("market ", id), got, ok, want, func(v *MarketView) { v.Seq = 0 })
	}
	for id := uint64(0); id < uint64(ref.accounts.len()); id++ {
		want, err := ref.AccountView(id)
		if err != nil {
			continue
		}
		got, ok := e.Account(id)
		if !ok && len(want.Balances) == 0 {
			continue // never held anything: never published
		}
		sameView(t, upto, fmt.Sprint("account ", id), got, ok, want, func(v *AccountView) { v.Seq = 0 })
	}
	for id := uint64(1); id <= uint64(ref.relations.len()); id++ {
		if want, err := ref.RelationView(id); err == nil {
			got, ok := e.Relation(id)
			// NAV is valued at the prices when the view was built (see
			// RelationView): trades of others move it without touching
			// the relation.
			sameView(t, upto, fmt.Sprint("relation ", id), got, ok, want, func(v *RelationView) { v.Seq, v.NAV = 0, 0 })
		}
	}
	for id := uint64(1); id < uint64(ref.accounts.len()); id++ {
		if want, err := ref.LeaderView(id); err == nil {
			got, ok := e.Leader(id)
			sameView(t, upto, fmt.Sprint("leader ", id), got, ok, want, func(v *LeaderView) { v.Seq = 0 })
		}
	}
}

// TestCloseViews: the views the matcher still owes when the engine closes
// (ViewInterval an hour: the ticker would not publish them) are published
// by Close, so that they show the final state and WaitViews returns at
// once for the last result.
func TestCloseViews(t *testing.T) {
	cmds, _, _ := copyRun(t, testSeed(t, 12), 3_000, false)
	e, err := Open(&Options{ViewInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ref := NewState()
	var evs []Event
	ctx := context.Background()
	var last uint64
	for _, c := range cmds {
		c.ExpireAt = 0 // as in TestEngineViewsMatchState
		_, evs = ref.Apply(&c, evs[:0])
		c.Seq, c.Time = 0, 0
		res, err := e.Do(ctx, &c, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = res.Seq
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	compareViews(t, e, ref, len(cmds))
	if err := e.WaitViews(ctx, last); err != nil {
		t.Fatalf("WaitViews(%d) after Close: %v", last, err)
	}
}
