package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/instant-social-trading/ist/engine"
)

// fixtureAdmin is the admin token the upgrade fixtures were written with.
const fixtureAdmin = "upgrade-audit-admin-token-0123456789abcdef"

// copyWallet returns the balances of the copy wallet account id as
// GET /v1/admin/accounts shows them, "asset=available" joined by spaces.
func copyWallet(ts *testServer, id float64) string {
	ts.t.Helper()
	out := ts.must(200, "GET", "/v1/admin/accounts", fixtureAdmin, "")
	for _, a := range out["accounts"].([]any) {
		a := a.(map[string]any)
		if a["id"] != id {
			continue
		}
		var s []string
		for _, b := range a["balances"].([]any) {
			b := b.(map[string]any)
			s = append(s, b["asset"].(string)+"="+b["available"].(string))
		}
		return strings.Join(s, " ")
	}
	ts.t.Fatalf("no account %v in %v", id, out)
	return ""
}

// A data directory that release 9af2fb2 left by a crash (kill -9, no
// snapshot) holds commands applied under its rules: replayed under this
// release's, its fixed_quote follower's mirror of a leader's budget buy
// spends otherwise than that release answered. Open refuses it, names
// the commands and what to do; AcceptRuleChange starts with a warning
// (and the divergence); once started, the rules are recorded and a
// restart is not refused. Before the check, istd started silently with
// the other balances.
func TestOpenRefusesReplayUnderOtherRules(t *testing.T) {
	fixture := filepath.Join("testdata", "upgrade-9af2fb2-kill9")
	dir := filepath.Join(t.TempDir(), "d")
	copyTree(t, fixture, dir)
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: dir, AdminToken: fixtureAdmin, Logger: &nop})
	if err == nil {
		s.Close()
		t.Fatal("Open started on a crashed earlier release's log")
	}
	if !errors.Is(err, ErrRulesChanged) || !strings.Contains(err.Error(), "commands 1 to 26") ||
		!strings.Contains(err.Error(), "stop it cleanly") || !strings.Contains(err.Error(), "--accept-rule-change") {
		t.Fatalf("Open: %v, want ErrRulesChanged naming the commands and the way out", err)
	}
	// The refused start recorded nothing: it is refused again.
	if s, err := Open(&Options{DataDir: dir, AdminToken: fixtureAdmin, Logger: &nop}); err == nil || !errors.Is(err, ErrRulesChanged) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second Open: %v, want ErrRulesChanged", err)
	}

	var logs syncBuffer
	lg := zerolog.New(&logs)
	ts := start(t, dir, &Options{AdminToken: fixtureAdmin, AcceptRuleChange: true, Logger: &lg})
	if !strings.Contains(logs.String(), "commands replayed under other matching rules") {
		t.Fatalf("started with AcceptRuleChange without the warning:\n%s", logs.String())
	}
	// What 9af2fb2 answered for erin's copy wallet (account 4) before the
	// crash; this release's fixed_quote rule spends the whole 200.
	if got := copyWallet(ts, 4); got == "BTC=1.996 USDT=2800.0008" {
		t.Fatalf("copy wallet %s: the replay matches the earlier release, the fixture shows no rule change", got)
	}
	ts.stop()

	ts = start(t, dir, &Options{AdminToken: fixtureAdmin})
	ts.stop()
}

// The rules record: a data directory this release made replays its own
// commands after a crash; with no record (an earlier release's) or
// another version's, a crash's replay is refused and a clean stop's
// (nothing replayed) starts and records this release's rules.
func TestRulesRecord(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	order := func(ts *testServer) {
		ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
		ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	}
	order(ts)
	if r, err := ts.s.store.rules(); err != nil || r != (rulesRec{engine.RulesVersion, 0, true}) {
		t.Fatalf("new data directory's record %+v, %v", r, err)
	}
	crashStop(ts)

	// Its own commands replay.
	ts = start(t, dir, nil)
	order(ts)
	crashStop(ts)

	nop := zerolog.Nop()
	for _, rec := range []*rulesRec{nil, {engine.RulesVersion + 1, 0, true}} {
		st, err := openStore(dir, &nop)
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			err = st.db.Delete(keyRules, nil)
		} else {
			err = st.setRules(*rec)
		}
		st.close()
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(&Options{DataDir: dir, AdminToken: adminTok, Logger: &nop})
		if err == nil {
			s.Close()
			t.Fatalf("record %+v: a crash's replay started", rec)
		}
		want := "an earlier release"
		if rec != nil {
			want = fmt.Sprintf("rules version %d", engine.RulesVersion+1)
		}
		if !errors.Is(err, ErrRulesChanged) || !strings.Contains(err.Error(), want) {
			t.Fatalf("record %+v: %v", rec, err)
		}
	}

	// After a clean stop nothing replays: it starts and records.
	ts = start(t, dir, &Options{AdminToken: adminTok, AcceptRuleChange: true})
	ts.stop()
	st, err := openStore(dir, &nop)
	if err != nil {
		t.Fatal(err)
	}
	err = st.db.Delete(keyRules, nil)
	st.close()
	if err != nil {
		t.Fatal(err)
	}
	ts = start(t, dir, nil)
	last := ts.s.eng.DurableSeq()
	r, err := ts.s.store.rules()
	if err != nil || r.version != engine.RulesVersion || r.after == 0 || r.after > last {
		t.Fatalf("record after an upgrade from a clean stop: %+v, %v (log at %d)", r, err, last)
	}
	order(ts)
	crashStop(ts)
	// Commands after the record replay; a snapshot before it would not.
	ts = start(t, dir, nil)
	ts.stop()
	if err := checkReplayRules(r, r.after-1, r.after+5); !errors.Is(err, ErrRulesChanged) {
		t.Fatalf("replay from before the record: %v", err)
	}
}
