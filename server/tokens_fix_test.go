package server

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fasthttp/websocket"
)

// tokenIDs returns the ids a token list answer holds, and which is
// marked current (0: none).
func tokenIDs(t *testing.T, out map[string]any) (ids []uint64, current uint64) {
	t.Helper()
	for _, x := range out["tokens"].([]any) {
		x := x.(map[string]any)
		for k := range x {
			if k != "id" && k != "current" {
				t.Errorf("token list shows %q: %v", k, x)
			}
		}
		id := uint64(x["id"].(float64))
		ids = append(ids, id)
		if x["current"] == true {
			current = id
		}
	}
	return ids, current
}

// An account cannot revoke its own last live token (409 last_token):
// its funds would be out of reach for good. Any other token it can.
func TestRevokeLastToken(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	out := ts.must(201, "POST", "/v1/accounts", "", `{"name":"alice"}`)
	tok, tid := out["token"].(string), uint64(out["token_id"].(float64))
	code, body := ts.req("DELETE", fmt.Sprintf("/v1/tokens/%d", tid), tok, "")
	e, _ := body["error"].(map[string]any)
	if code != 409 || e["code"] != "last_token" {
		t.Fatalf("revoking the last token: %d %v", code, body)
	}
	if msg, _ := e["message"].(string); strings.HasPrefix(msg, "server:") || !strings.Contains(msg, "last live token") {
		t.Errorf("last_token message %q", msg)
	}
	ts.must(200, "GET", "/v1/account", tok, "")

	second := ts.must(201, "POST", "/v1/tokens", tok, "")
	tok2, tid2 := second["token"].(string), uint64(second["id"].(float64))
	// The request's own token may go while another is live.
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", tid), tok, "")
	if code, _ := ts.errCode("GET", "/v1/account", tok, ""); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
	if code, c := ts.errCode("DELETE", fmt.Sprintf("/v1/tokens/%d", tid2), tok2, ""); code != 409 || c != "last_token" {
		t.Fatalf("revoking the new last token: %d %s", code, c)
	}
	ts.must(200, "GET", "/v1/account", tok2, "")
	// Still so after a restart.
	ts.stop()
	ts = start(t, ts.dir, nil)
	if code, c := ts.errCode("DELETE", fmt.Sprintf("/v1/tokens/%d", tid2), tok2, ""); code != 409 || c != "last_token" {
		t.Fatalf("after a restart: %d %s", code, c)
	}
}

// GET /v1/tokens lists the caller's live tokens by id, its own marked
// current, and never a token or its hash.
func TestListTokens(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	out := ts.must(201, "POST", "/v1/accounts", "", `{"name":"alice"}`)
	tok, first := out["token"].(string), uint64(out["token_id"].(float64))
	_, other := ts.signup("bob")
	more := ts.must(201, "POST", "/v1/tokens", tok, "")
	last := ts.must(201, "POST", "/v1/tokens", tok, "")
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(more["id"].(float64))), tok, "")
	code, raw := ts.req("GET", "/v1/tokens", last["token"].(string), "")
	if code != 200 {
		t.Fatalf("GET /v1/tokens: %d %v", code, raw)
	}
	ids, cur := tokenIDs(t, raw)
	lid := uint64(last["id"].(float64))
	if fmt.Sprint(ids) != fmt.Sprint([]uint64{first, lid}) || cur != lid || raw["account_id"] != out["id"] {
		t.Fatalf("tokens %v current %d (%v), want [%d %d] current %d", ids, cur, raw, first, lid, lid)
	}
	for _, secret := range []string{tok, last["token"].(string), other} {
		h := hashToken([]byte(secret))
		if s := fmt.Sprint(raw); strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", h[:8])) {
			t.Fatalf("token list shows a token or its hash: %v", raw)
		}
	}
	if code, _ := ts.errCode("GET", "/v1/tokens", "", ""); code != 401 {
		t.Fatalf("without a token: %d", code)
	}
	if code, _ := ts.errCode("GET", "/v1/tokens", adminTok, ""); code != 403 {
		t.Fatalf("admin token: %d", code)
	}
}

// The operator issues a token for an account that has none left (its
// funds are reachable again) and revokes any token, the last included,
// closing its streams; the new token counts against MaxTokens.
func TestAdminTokens(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxTokens: 2})
	alice, bob := ts.setup()
	var aid uint64 = 1 // setup signs alice up first
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	list := ts.must(200, "GET", fmt.Sprintf("/v1/admin/accounts/%d/tokens", aid), adminTok, "")
	ids, cur := tokenIDs(t, list)
	if len(ids) != 1 || cur != 0 {
		t.Fatalf("admin list %v", list)
	}
	s := ts.dial()
	s.send(`{"op":"auth","token":"` + alice + `"}`)
	s.expect("authenticated", func(m wsMsg) bool { return m.Type == "authenticated" })
	s.send(`{"op":"subscribe","channels":["orders"]}`)
	s.expect("subscribed", func(m wsMsg) bool { return m.Type == "subscribed" })

	// The operator revokes alice's last token: she is locked out, her
	// stream closed.
	ts.must(200, "DELETE", fmt.Sprintf("/v1/admin/accounts/%d/tokens/%d", aid, ids[0]), adminTok, "")
	s.closedWith(websocket.ClosePolicyViolation, closeRevoked)
	if code, _ := ts.errCode("GET", "/v1/account", alice, ""); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
	if ids, _ := tokenIDs(t, ts.must(200, "GET", fmt.Sprintf("/v1/admin/accounts/%d/tokens", aid), adminTok, "")); len(ids) != 0 {
		t.Fatalf("tokens left: %v", ids)
	}
	// A new one reaches her account and order.
	out := ts.must(201, "POST", fmt.Sprintf("/v1/admin/accounts/%d/tokens", aid), adminTok, "")
	tok := out["token"].(string)
	if out["account_id"] != float64(aid) || !strings.HasPrefix(tok, "ist_") {
		t.Fatalf("admin issue: %v", out)
	}
	if b := ts.balances(tok); b["BTC"] != "1.5/0.5" {
		t.Fatalf("balances with the new token: %v", b)
	}
	ts.must(200, "GET", "/v1/orders", tok, "")
	// MaxTokens 2: the operator's tokens count.
	ts.must(201, "POST", fmt.Sprintf("/v1/admin/accounts/%d/tokens", aid), adminTok, "")
	if code, c := ts.errCode("POST", fmt.Sprintf("/v1/admin/accounts/%d/tokens", aid), adminTok, ""); code != 409 || c != "too_many_tokens" {
		t.Fatalf("admin issue past the cap: %d %s", code, c)
	}
	if code, c := ts.errCode("POST", "/v1/tokens", tok, ""); code != 409 || c != "too_many_tokens" {
		t.Fatalf("user issue past the cap: %d %s", code, c)
	}

	// Not a user account: unknown, the fee account, a copy wallet.
	ts.must(200, "PUT", "/v1/social/leader", tok, `{}`)
	f := ts.must(201, "POST", "/v1/social/follows", bob, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, aid))
	wallet := uint64(f["wallet_account_id"].(float64))
	for _, acct := range []uint64{99, 0, wallet} {
		for _, m := range []string{"GET", "POST"} {
			if code, c := ts.errCode(m, fmt.Sprintf("/v1/admin/accounts/%d/tokens", acct), adminTok, ""); code != 404 || c != "not_found" {
				t.Errorf("%s tokens of account %d: %d %s", m, acct, code, c)
			}
		}
	}
	// Another account's token, an unknown one: 404; bob's stays live.
	if code, c := ts.errCode("DELETE", fmt.Sprintf("/v1/admin/accounts/%d/tokens/2", aid), adminTok, ""); code != 404 || c != "not_found" {
		t.Errorf("revoking bob's token as alice's: %d %s", code, c)
	}
	ts.must(200, "GET", "/v1/account", bob, "")
	if code, _ := ts.errCode("DELETE", fmt.Sprintf("/v1/admin/accounts/%d/tokens/999", aid), adminTok, ""); code != 404 {
		t.Errorf("unknown token: %d", code)
	}
	// Admin only; bad ids and methods.
	for _, c := range []struct {
		method, path, token string
		code                int
		errCode             string
	}{
		{"POST", "/v1/admin/accounts/1/tokens", tok, 403, "forbidden"},
		{"GET", "/v1/admin/accounts/1/tokens", "", 401, "unauthenticated"},
		{"DELETE", "/v1/admin/accounts/1/tokens/1", tok, 403, "forbidden"},
		{"DELETE", "/v1/admin/accounts/1/tokens/1", "made-up", 401, "unauthenticated"},
		{"DELETE", "/v1/admin/accounts/1/tokens", adminTok, 405, "method_not_allowed"},
		{"POST", "/v1/admin/accounts/1/tokens/1", adminTok, 405, "method_not_allowed"},
		{"GET", "/v1/admin/accounts/x/tokens", adminTok, 400, "invalid_argument"},
		{"DELETE", "/v1/admin/accounts/1/tokens/x", adminTok, 400, "invalid_argument"},
		{"GET", "/v1/admin/accounts/1/other", adminTok, 404, "not_found"},
		{"GET", "/v1/admin/accounts/1/tokens/1/x", adminTok, 404, "not_found"},
	} {
		if code, ec := ts.errCode(c.method, c.path, c.token, ""); code != c.code || ec != c.errCode {
			t.Errorf("%s %s with %q: %d %s, want %d %s", c.method, c.path, c.token, code, ec, c.code, c.errCode)
		}
	}
}

// Issuing and revoking hold tokMu only to reserve and to publish, never
// across the store's synced write: while a write is under way (blocked
// here by the test's hook), other tokens still authenticate, and a token
// being revoked has already stopped.
func TestTokenWriteOutsideLock(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	_, alice := ts.signup("alice")
	_, bob := ts.signup("bob")
	extra := ts.must(201, "POST", "/v1/tokens", bob, "")
	entered, proceed := make(chan struct{}), make(chan struct{})
	ts.s.tokenWriteHook = func() error {
		if ts.s.tokMu.TryRLock() { // a lookup would not wait
			ts.s.tokMu.RUnlock()
			entered <- struct{}{}
			<-proceed
			return nil
		}
		t.Error("tokMu held across a token's store write")
		return nil
	}
	defer func() { ts.s.tokenWriteHook = nil }()
	for _, op := range []struct {
		name string
		f    func() int
	}{
		{"issue", func() int { c, _ := ts.req("POST", "/v1/tokens", bob, ""); return c }},
		{"revoke", func() int {
			c, _ := ts.req("DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(extra["id"].(float64))), bob, "")
			return c
		}},
	} {
		done := make(chan int)
		go func() { done <- op.f() }()
		select {
		case <-entered:
		case code := <-done:
			t.Fatalf("%s: answered %d without reaching the store write", op.name, code)
		}
		// The write is blocked: lookups go on.
		ts.must(200, "GET", "/v1/account", alice, "")
		ts.must(200, "GET", "/v1/account", bob, "")
		if op.name == "revoke" {
			if code, _ := ts.errCode("GET", "/v1/account", extra["token"].(string), ""); code != 401 {
				t.Errorf("a token being revoked still authenticates: %d", code)
			}
		}
		close(proceed)
		if code := <-done; code != 201 && code != 200 {
			t.Fatalf("%s: %d", op.name, code)
		}
		proceed = make(chan struct{})
	}
}

// A failed store write undoes what the operation reserved: a failed
// issue frees its slot under the cap; a failed revocation leaves the
// token live (the store still holds it) and answers the error.
func TestTokenWriteFails(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxTokens: 2})
	_, tok := ts.signup("alice")
	fail := errors.New("disk on fire")
	ts.s.tokenWriteHook = func() error { return fail }
	for range 5 {
		if _, _, err := ts.s.issueToken(1); !errors.Is(err, fail) {
			t.Fatalf("issue: %v", err)
		}
	}
	ts.s.tokenWriteHook = nil
	second := ts.must(201, "POST", "/v1/tokens", tok, "") // the cap's second slot is free
	id2 := uint64(second["id"].(float64))
	ts.s.tokenWriteHook = func() error { return fail }
	if err := ts.s.revokeToken(1, id2, false); !errors.Is(err, fail) {
		t.Fatalf("revoke: %v", err)
	}
	ts.s.tokenWriteHook = nil
	ts.must(200, "GET", "/v1/account", second["token"].(string), "")
	if code, c := ts.errCode("POST", "/v1/tokens", tok, ""); code != 409 || c != "too_many_tokens" {
		t.Fatalf("cap after a failed revocation: %d %s", code, c)
	}
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", id2), tok, "")
	ts.s.tokMu.RLock()
	n, held := len(ts.s.perAcct[1].live), ts.s.perAcct[1].held
	ts.s.tokMu.RUnlock()
	if n != 1 || held != 0 {
		t.Fatalf("%d live, %d held, want 1 and 0", n, held)
	}
}

// Concurrent issues and revocations (run with -race): the cap holds at
// every moment, the account always keeps a live token (its owner never
// revokes the last), a revoked token never authenticates once its
// revocation has returned, and what memory holds is what the store holds
// (a restart finds the same).
func TestTokenIssueRevokeRace(t *testing.T) {
	const maxTok, workers = 4, 6
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxTokens: maxTok})
	out := ts.must(201, "POST", "/v1/accounts", "", `{"name":"alice"}`)
	first, firstID := out["token"].(string), uint64(out["token_id"].(float64))
	s := ts.s
	var mu sync.Mutex
	var revoked, kept []string
	stop, checked := make(chan struct{}), make(chan struct{})
	go func() { // the cap and a live token, at every moment
		defer close(checked)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.tokMu.RLock()
			a := s.perAcct[1]
			bad := a == nil || len(a.live) == 0 || len(a.live)+a.held > maxTok
			if bad {
				t.Errorf("tokens %+v, cap %d", a, maxTok)
			}
			s.tokMu.RUnlock()
			if bad {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firstLive := w == 0 // worker 0 revokes the sign-up's token when it can
			for i := range rounds {
				if firstLive {
					switch err := s.revokeToken(1, firstID, false); {
					case err == nil:
						firstLive = false
						mu.Lock()
						revoked = append(revoked, first)
						mu.Unlock()
					case !errors.Is(err, errLastToken):
						t.Error(err)
					}
				}
				tok, id, err := s.issueToken(1)
				if err != nil {
					if !errors.Is(err, errTooManyTokens) {
						t.Error(err)
					}
					continue
				}
				if s.lookupToken([]byte(tok)).id != id {
					t.Errorf("worker %d: token %d issued does not authenticate", w, id)
				}
				err = s.revokeToken(1, id, false)
				mu.Lock()
				switch {
				case err == nil:
					if got := s.lookupToken([]byte(tok)); got != unknownToken {
						t.Errorf("worker %d round %d: token %d authenticates after its revocation", w, i, id)
					}
					revoked = append(revoked, tok)
				case errors.Is(err, errLastToken):
					kept = append(kept, tok)
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
			if firstLive {
				mu.Lock()
				kept = append(kept, first)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-checked
	if len(revoked) == 0 || len(kept) == 0 {
		t.Fatalf("%d revoked, %d kept", len(revoked), len(kept))
	}
	for _, tok := range revoked {
		if s.lookupToken([]byte(tok)) != unknownToken {
			t.Fatal("a revoked token authenticates")
		}
	}
	ts.must(200, "GET", "/v1/account", kept[0], "")
	before := fmt.Sprint(s.accountTokens(1))
	s.tokMu.RLock()
	held := s.perAcct[1].held
	s.tokMu.RUnlock()
	if held != 0 {
		t.Fatalf("%d slots still held", held)
	}
	ts.stop()
	ts = start(t, ts.dir, &Options{AdminToken: adminTok, MaxTokens: maxTok})
	if after := fmt.Sprint(ts.s.accountTokens(1)); after != before {
		t.Fatalf("after a restart tokens %s, before %s", after, before)
	}
	for _, tok := range revoked {
		if code, _ := ts.errCode("GET", "/v1/account", tok, ""); code != 401 {
			t.Fatalf("a revoked token authenticates after a restart: %d", code)
		}
	}
}
