package server

import (
	"math/rand/v2"
	"testing"
)

// TestPendingTabMatchesMap runs pendingTab against a Go map on random
// streams of registrations and takes: tags in increasing blocks from
// several requests at once, some taken out of order, some never (a
// request forgotten late), a few registered twice.
func TestPendingTabMatchesMap(t *testing.T) {
	seeds := uint64(20)
	if raceEnabled {
		// One goroutine: the race detector slows it some four times and
		// has no race to find; scripts/test.sh runs it whole without.
		seeds = 4
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 7))
		var tab pendingTab
		ref := map[uint64]pendingOrder{}
		recs := make([]orderRec, 64)
		var next uint64
		live := []uint64{0} // tag 0 too, as replaying the log registers
		tab.put(0, pendingOrder{meta: &recs[0]})
		ref[0] = pendingOrder{meta: &recs[0]}
		for step := range 20000 {
			switch k := r.IntN(10); {
			case k < 4: // a batch registers a block of tags
				n := 1 + r.IntN(100)
				for range n {
					next++
					p := pendingOrder{meta: &recs[r.IntN(len(recs))]}
					tab.put(next, p)
					ref[next] = p
					live = append(live, next)
				}
			case k == 4 && len(live) > 0: // registered again
				tag := live[r.IntN(len(live))]
				p := pendingOrder{out: &placedOut{}}
				tab.put(tag, p)
				ref[tag] = p
			case len(live) > 0: // a result takes one, mostly the oldest
				j := 0
				if r.IntN(4) == 0 {
					j = r.IntN(len(live))
				}
				tag := live[j]
				live = append(live[:j], live[j+1:]...)
				if got, want := tab.take(tag), ref[tag]; got != want {
					t.Fatalf("seed %d step %d: take(%d) = %+v, want %+v", seed, step, tag, got, want)
				}
				delete(ref, tag)
			}
			if r.IntN(50) == 0 { // a tag never registered, or long gone
				tag := next + 1 + uint64(r.IntN(1000))
				if r.IntN(2) == 0 && next > 0 {
					tag = 1 + uint64(r.IntN(int(next)))
				}
				if _, ok := ref[tag]; !ok {
					if got := tab.take(tag); got != (pendingOrder{}) {
						t.Fatalf("seed %d: take(%d) of nothing = %+v", seed, tag, got)
					}
				}
			}
			if tab.len() != len(ref) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, tab.len(), len(ref))
			}
		}
		for tag, want := range ref {
			if got := tab.take(tag); got != want {
				t.Fatalf("seed %d: final take(%d) = %+v, want %+v", seed, tag, got, want)
			}
		}
		if tab.len() != 0 || len(tab.free) != len(tab.slab) {
			t.Fatalf("seed %d: %d left, %d of %d slab entries free", seed, tab.len(), len(tab.free), len(tab.slab))
		}
		for i := range tab.slab {
			if tab.slab[i] != (pendingOrder{}) {
				t.Fatalf("seed %d: slab entry %d still holds %+v", seed, i, tab.slab[i])
			}
		}
	}
}

// resetPending drops the table once the replay's registrations are all
// taken, and keeps it while one is left.
func TestResetPending(t *testing.T) {
	m := newReadModel()
	var rec orderRec
	for tag := uint64(1_000_000); tag < 1_000_100; tag++ { // a replay's tags
		m.expect(tag, &rec, nil)
	}
	for tag := uint64(1_000_000); tag < 1_000_099; tag++ {
		m.take(tag)
	}
	m.resetPending()
	if m.pending.len() != 1 || m.pending.take(1_000_099).meta != &rec {
		t.Fatal("resetPending dropped a registration")
	}
	m.resetPending()
	if m.pending.slab != nil || m.pending.idx.Len() != 0 {
		t.Fatalf("not reset: %d slab entries", len(m.pending.slab))
	}
	m.expect(1, &rec, nil) // this process's first tag
	if m.take(1).meta != &rec {
		t.Fatal("tag 1 lost after the reset")
	}
}
