package engine

import (
	"context"
	"fmt"
	"testing"
)

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
	const depth = 50 // the engine's default DepthLevels
	check := func(upto int) {
		last := uint64(upto)
		if err := e.WaitViews(ctx, last); err != nil {
			t.Fatal(err)
		}
		// Views of things that exist; a published view lacks only its Seq.
		same := func(what string, got, want any) {
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
				t.Fatalf("after command %d, %s:\n published %s\n state     %s", upto, what, g, w)
			}
		}
		for id := uint32(1); ; id++ {
			want, err := ref.MarketView(id, depth)
			if err != nil {
				break
			}
			got, ok := e.Market(id)
			if !ok {
				t.Fatalf("after command %d: market %d not published", upto, id)
			}
			g, w := *got, *want
			g.Seq, w.Seq = 0, 0
			same(fmt.Sprint("market ", id), g, w)
		}
		for id := uint64(0); id < uint64(len(ref.accounts)); id++ {
			want, err := ref.AccountView(id)
			if err != nil {
				continue
			}
			got, ok := e.Account(id)
			if !ok {
				if len(want.Balances) == 0 {
					continue
				}
				t.Fatalf("after command %d: account %d not published", upto, id)
			}
			g, w := *got, *want
			g.Seq, w.Seq = 0, 0
			same(fmt.Sprint("account ", id), g, w)
		}
		for id := uint64(1); id <= uint64(len(ref.relations)); id++ {
			want, err := ref.RelationView(id)
			if err != nil {
				continue
			}
			got, ok := e.Relation(id)
			if !ok {
				t.Fatalf("after command %d: relation %d not published", upto, id)
			}
			g, w := *got, *want
			// NAV is valued at the prices when the view was built (see
			// RelationView): trades of others move it without touching
			// the relation.
			g.Seq, w.Seq, g.NAV, w.NAV = 0, 0, 0, 0
			same(fmt.Sprint("relation ", id), g, w)
		}
		for id := uint64(1); id < uint64(len(ref.accounts)); id++ {
			want, err := ref.LeaderView(id)
			if err != nil {
				continue
			}
			got, ok := e.Leader(id)
			if !ok {
				t.Fatalf("after command %d: leader %d not published", upto, id)
			}
			g, w := *got, *want
			g.Seq, w.Seq = 0, 0
			same(fmt.Sprint("leader ", id), g, w)
		}
	}
	const chunk = 500
	for i := 0; i < len(cmds); i += chunk {
		end := min(i+chunk, len(cmds))
		for j := i; j < end; j++ {
			c := cmds[j]
			_, evs = ref.Apply(&c, evs[:0])
			c.Seq, c.Time = 0, 0
			if err := e.Submit(ctx, &c, nil); err != nil {
				t.Fatal(err)
			}
		}
		check(end)
	}
}
