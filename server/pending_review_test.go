package server

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// pendingAgainstMap drives a pendingTab and a Go map with the same puts
// and takes, and fails at the first difference.
type pendingAgainstMap struct {
	t    *testing.T
	tab  pendingTab
	ref  map[uint64]pendingOrder
	recs [8]orderRec
}

func (p *pendingAgainstMap) put(tag uint64) {
	v := pendingOrder{meta: &p.recs[tag%uint64(len(p.recs))], out: &placedOut{}}
	p.tab.put(tag, v)
	p.ref[tag] = v
}

func (p *pendingAgainstMap) take(tag uint64) {
	p.t.Helper()
	if got, want := p.tab.take(tag), p.ref[tag]; got != want {
		p.t.Fatalf("take(%d) = %+v, want %+v", tag, got, want)
	}
	delete(p.ref, tag)
	if p.tab.len() != len(p.ref) {
		p.t.Fatalf("after take(%d): len %d, want %d", tag, p.tab.len(), len(p.ref))
	}
}

// TestPendingTabReplayThenLive: the log replays the places of earlier
// processes under their own tags (journaled with the command), each
// registered and taken at once, high ones and then, from the run after,
// low ones again; the live requests of the new process then count from 1,
// below everything replayed. Every tag is found, whichever part of the
// seqmap (pages or hash map) holds it, and nothing is left.
func TestPendingTabReplayThenLive(t *testing.T) {
	p := &pendingAgainstMap{t: t, ref: map[uint64]pendingOrder{}}
	// Two earlier runs: tags up to ~3M, then up to ~200k.
	for _, run := range [][2]uint64{{2_900_000, 3_000_000}, {150_000, 200_000}} {
		for tag := run[0]; tag < run[1]; tag += 7 {
			p.put(tag)
			p.take(tag)
		}
	}
	p.put(0) // a place journaled without a tag
	p.take(0)
	// Live: blocks of tags in flight, taken mostly in order, some late.
	r := rand.New(rand.NewPCG(3, 4))
	var live []uint64
	next := uint64(0)
	for range 40_000 {
		for range 1 + r.IntN(20) {
			next++
			p.put(next)
			live = append(live, next)
		}
		for len(live) > 64 {
			j := 0
			if r.IntN(8) == 0 {
				j = r.IntN(len(live))
			}
			p.take(live[j])
			live = append(live[:j], live[j+1:]...)
		}
	}
	for _, tag := range live {
		p.take(tag)
	}
	if p.tab.len() != 0 || len(p.tab.free) != len(p.tab.slab) {
		t.Fatalf("%d left, %d of %d slab entries free", p.tab.len(), len(p.tab.free), len(p.tab.slab))
	}
	for i, v := range p.tab.slab {
		if v != (pendingOrder{}) {
			t.Fatalf("slab entry %d still holds %+v", i, v)
		}
	}
}

// TestPendingTabFarTags: tags far apart (past the seqmap's largest jump),
// at the top of the range, registered twice, and taken twice.
func TestPendingTabFarTags(t *testing.T) {
	p := &pendingAgainstMap{t: t, ref: map[uint64]pendingOrder{}}
	tags := []uint64{1, 2, 1 << 30, 1<<30 + 1, 5, 1 << 50, math.MaxUint64, math.MaxUint64 - 1, 4096, 4095, 3}
	for _, tag := range tags {
		p.put(tag)
	}
	p.put(1 << 30) // again: replaces, one registration
	if p.tab.len() != len(tags) {
		t.Fatalf("len %d, want %d", p.tab.len(), len(tags))
	}
	for i := len(tags) - 1; i >= 0; i-- {
		p.take(tags[i])
		p.take(tags[i]) // nothing left under it
	}
	p.take(0) // never registered
	if p.tab.len() != 0 {
		t.Fatalf("len %d", p.tab.len())
	}
}

// idOf returns the id of an order object ("" if there is none).
func idOf(o map[string]any) string {
	v, ok := o["id"].(float64)
	if !ok {
		return ""
	}
	return fmt.Sprint(uint64(v))
}

// TestPooledOutsAnswerTheirOwnRequest: places, cancels and amends from
// several clients at once, each answering with its own order (the
// placedOut it got from the pool, written by the read model as the
// result was applied), some of them refused (a cancel of an order no
// longer open, a reused client order id with other parameters) and some
// answered with an earlier order (the same request resent): no answer
// shows another request's order, and no registration is left. Run it
// with -race too.
func TestPooledOutsAnswerTheirOwnRequest(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	const clients, each = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients*each*4)
	for c := range clients {
		wg.Go(func() {
			for k := range each {
				cid := fmt.Sprintf("c%d-%d", c, k)
				price := fmt.Sprintf("%d", 70000+100*c+k)
				code, out := ts.req("POST", "/v1/orders", alice,
					fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":%q,"quantity":"0.001","client_order_id":%q}`, price, cid))
				o, _ := out["order"].(map[string]any)
				if code != 201 || o["client_order_id"] != cid || o["price"] != price {
					errs <- fmt.Errorf("place %s: %d %v", cid, code, out)
					continue
				}
				oid := idOf(o)
				// The same client order id with another price: refused.
				code, out = ts.req("POST", "/v1/orders", alice,
					fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"99999","quantity":"0.001","client_order_id":%q}`, cid))
				if code < 400 {
					errs <- fmt.Errorf("reused client id %s: %d %v", cid, code, out)
				}
				// The same request again: the original order.
				code, out = ts.req("POST", "/v1/orders", alice,
					fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":%q,"quantity":"0.001","client_order_id":%q}`, price, cid))
				if o, _ := out["order"].(map[string]any); code != 200 || idOf(o) != oid {
					errs <- fmt.Errorf("resent %s: %d %v", cid, code, out)
				}
				if k%2 == 0 {
					newPrice := fmt.Sprintf("%d", 80000+100*c+k)
					code, out = ts.req("PATCH", "/v1/orders/"+oid, alice, fmt.Sprintf(`{"price":%q}`, newPrice))
					if code != 200 || idOf(out) != oid || out["price"] != newPrice || out["status"] != "open" {
						errs <- fmt.Errorf("amend %s: %d %v", oid, code, out)
					}
				}
				code, out = ts.req("DELETE", "/v1/orders/"+oid, alice, "")
				if code != 200 || idOf(out) != oid || out["status"] != "cancelled" || out["client_order_id"] != cid {
					errs <- fmt.Errorf("cancel %s: %d %v", oid, code, out)
				}
				code, out = ts.req("DELETE", "/v1/orders/"+oid, alice, "")
				if code < 400 {
					errs <- fmt.Errorf("second cancel %s: %d %v", oid, code, out)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := ts.registrations(); n != 0 {
		t.Fatalf("%d registrations left", n)
	}
}
