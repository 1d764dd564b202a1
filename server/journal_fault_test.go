package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// errInjected is the journal failure the tests inject (journalFault).
var errInjected = errors.New("server test: injected journal failure")

// failPlaces makes the journal of ts fail from its next place on: the
// engine stops, and delivers the results of the commands in flight with
// engine.ErrJournal, without applying them.
func (ts *testServer) failPlaces() {
	f := func(cmd *engine.Command) error {
		if cmd.Kind == engine.CmdPlace {
			return errInjected
		}
		return nil
	}
	ts.s.journalFault.Store(&f)
	ts.journalFailed = true
}

// registrations returns how many orders are registered in the read model
// (readModel.pending).
func (ts *testServer) registrations() int {
	ts.s.rm.pmu.Lock()
	defer ts.s.rm.pmu.Unlock()
	return ts.s.rm.pending.len()
}

// TestJournalFailureLeavesNoRegistration: a batch whose journal fails
// while its orders are in flight gets their results as errors, never
// applied, so the read model never takes their registrations: placeBatch
// forgets them, else they would stay for good, pointing into the pooled
// batchScratch's outs. The same for a single order (placeOrder) and for
// the orders of a batch the stopped engine refuses.
func TestJournalFailureLeavesNoRegistration(t *testing.T) {
	t.Run("batch", func(t *testing.T) {
		ts := start(t, t.TempDir(), nil)
		alice, _ := ts.setup()
		ts.failPlaces()
		out := ts.must(200, "POST", "/v1/orders/batch", alice, `{"orders":[
			{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"},
			{"market":"BTC-USDT","side":"sell","price":"65001","quantity":"0.01"},
			{"market":"NOPE","side":"sell","price":"1","quantity":"0.01"},
			{"market":"BTC-USDT","side":"sell","price":"65002","quantity":"0.01"}]}`)
		res := out["results"].([]any)
		if len(res) != 4 {
			t.Fatalf("results %v", res)
		}
		for i, r := range res {
			e, _ := r.(map[string]any)["error"].(map[string]any)
			if want := map[bool]string{true: "not_found", false: "internal"}[i == 2]; e["code"] != want {
				t.Fatalf("result %d: %v, want error %s", i, r, want)
			}
		}
		if n := ts.registrations(); n != 0 {
			t.Fatalf("%d registrations left after the batch, want 0", n)
		}
		// The stopped engine refuses a batch's orders at once.
		ts.must(200, "POST", "/v1/orders/batch", alice, `{"orders":[
			{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}]}`)
		if n := ts.registrations(); n != 0 {
			t.Fatalf("%d registrations left after a refused batch, want 0", n)
		}
	})
	t.Run("single", func(t *testing.T) {
		ts := start(t, t.TempDir(), nil)
		alice, _ := ts.setup()
		ts.failPlaces()
		// Not ts.req: it fails the test on a 500.
		r, err := http.NewRequest("POST", ts.base+"/v1/orders",
			strings.NewReader(`{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+alice)
		resp, err := ts.c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Fatalf("place with the journal failing: %d, want 500", resp.StatusCode)
		}
		if n := ts.registrations(); n != 0 {
			t.Fatalf("%d registrations left after the place, want 0", n)
		}
	})
}
