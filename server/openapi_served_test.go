package server

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// apiDoc is the part of the OpenAPI document the tests read.
type apiDoc struct {
	Components struct {
		SecuritySchemes map[string]any `json:"securitySchemes"`
	} `json:"components"`
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

type apiOp struct {
	Security  []map[string][]string `json:"security"`
	Responses map[string]any        `json:"responses"`
}

// fetchDoc gets /v1/openapi.json.
func (ts *testServer) fetchDoc() *apiDoc {
	ts.t.Helper()
	resp, err := ts.c.Get(ts.base + "/v1/openapi.json")
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var d apiDoc
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		ts.t.Fatal(err)
	}
	return &d
}

// op returns the operation of the document that serves method and the
// concrete path.
func (d *apiDoc) op(method, path string) (string, *apiOp) {
	for _, tmpl := range pathsFor(d.Paths, path) {
		raw, ok := d.Paths[tmpl][strings.ToLower(method)]
		if !ok || !pathMatches(tmpl, path) {
			continue
		}
		var o apiOp
		if err := json.Unmarshal(raw, &o); err != nil {
			panic(err)
		}
		return tmpl, &o
	}
	return "", nil
}

// pathsFor returns the paths of the document to try for the concrete
// path, in order: the path itself first, if the document has it, since a
// path without parameters wins over a template that matches it (OpenAPI
// 3, Path Templating Matching: /v1/orders/cancel-all-after is not
// /v1/orders/{id}), then the others.
func pathsFor[V any](paths map[string]V, path string) []string {
	exact, _, _ := strings.Cut(path, "?")
	var out []string
	if _, ok := paths[exact]; ok {
		out = append(out, exact)
	}
	for tmpl := range paths {
		if tmpl != exact {
			out = append(out, tmpl)
		}
	}
	return out
}

// pathMatches reports whether the concrete path (its query ignored) is
// one of template tmpl: a segment in braces matches any segment.
func pathMatches(tmpl, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	ts, segs := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(segs) {
		return false
	}
	for i := range ts {
		if ts[i] != segs[i] && !strings.HasPrefix(ts[i], "{") {
			return false
		}
	}
	return true
}

// apiRun drives a server and validates each 2xx answer against the
// document, recording which operation and status it covered.
type apiRun struct {
	t   *testing.T
	ts  *testServer
	doc *specDoc
	// seen holds "METHOD template status" of the validated answers.
	seen map[string]bool
}

// template returns the path of the document that serves method and the
// concrete path, and its operation.
func (r *apiRun) template(method, path string) (string, map[string]any) {
	paths := r.doc.root["paths"].(map[string]any)
	for _, tmpl := range pathsFor(paths, path) {
		if op, ok := paths[tmpl].(map[string]any)[strings.ToLower(method)].(map[string]any); ok && pathMatches(tmpl, path) {
			return tmpl, op
		}
	}
	return "", nil
}

// call sends a request, requires status want (a 2xx) and validates the
// body against the response the document declares for it. It returns
// the decoded body (objects only; numbers as json.Number).
func (r *apiRun) call(want int, method, path, token, body string) map[string]any {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.ts.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.ts.c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		r.t.Fatal(err)
	}
	if resp.StatusCode != want {
		r.t.Fatalf("%s %s %s: status %d, want %d: %s", method, path, body, resp.StatusCode, want, raw)
	}
	tmpl, op := r.template(method, path)
	if op == nil {
		r.t.Fatalf("%s %s: no operation in the document", method, path)
	}
	name := fmt.Sprintf("%s %s %d", method, tmpl, want)
	r.seen[name] = true
	rs, _ := op["responses"].(map[string]any)[fmt.Sprint(want)].(map[string]any)
	content, _ := rs["content"].(map[string]any)
	if len(content) == 0 {
		r.t.Errorf("%s: no response content declared", name)
		return nil
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		r.t.Errorf("%s: Content-Type %q: %v", name, resp.Header.Get("Content-Type"), err)
		return nil
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		r.t.Errorf("%s: served as %s, the document declares %v", name, mt, keysOf(content))
		return nil
	}
	schema, _ := media["schema"].(map[string]any)
	var v any = string(raw)
	if mt == "application/json" {
		if v, err = decodeJSON(raw); err != nil {
			r.t.Errorf("%s: bad JSON %q: %v", name, raw, err)
			return nil
		}
	}
	var errs []string
	r.doc.validate(name, schema, v, &errs)
	for _, e := range errs {
		r.t.Error(e)
	}
	if len(errs) > 0 {
		r.t.Logf("%s: served %s", name, raw)
	}
	out, _ := v.(map[string]any)
	return out
}

func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// idAt returns the integer at keys of out (through nested objects).
func idAt(t *testing.T, out map[string]any, keys ...string) uint64 {
	t.Helper()
	var v any = out
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %v in %v", keys, out)
		}
		v = m[k]
	}
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v of %v is not a number", keys, out)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(i)
}

// Every 2xx answer of every operation validates against the schema the
// document declares for it (specDoc.validate: no undeclared field, every
// required one present, the declared types); every 2xx response declares
// one; and every 2xx response of the document is met by a real answer
// here.
func TestOpenAPISchemasMatchServed(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	r := &apiRun{t: t, ts: ts, seen: map[string]bool{}}
	resp, err := ts.c.Get(ts.base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	root, err := decodeJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	r.doc = &specDoc{root: root.(map[string]any)}
	declared := r.declared2xx()

	driveAPI(t, r)
	// Request schemas: what the server takes, and requires.
	schemas := r.doc.root["components"].(map[string]any)["schemas"].(map[string]any)
	for _, k := range []string{"max_price", "max_quantity"} {
		if _, ok := schemas["NewMarket"].(map[string]any)["properties"].(map[string]any)[k]; !ok {
			t.Errorf("NewMarket lacks %s, which POST /v1/admin/markets takes", k)
		}
	}
	if c, _ := ts.errCode("POST", "/v1/admin/deposits", adminTok, `{"asset":"USDT","amount":"1","ref":"d-x"}`); c != 400 ||
		!slices.Contains(schemas["Deposit"].(map[string]any)["required"].([]any), any("account_id")) {
		t.Errorf("deposit without account_id: %d; Deposit requires %v", c, schemas["Deposit"].(map[string]any)["required"])
	}

	for _, op := range declared {
		if !r.seen[op] {
			t.Errorf("%s: no answer validated (drive it in driveAPI)", op)
		}
	}
}

// declared2xx returns "METHOD template status" of every 2xx response of
// the document, and reports those without a schema.
func (r *apiRun) declared2xx() []string {
	var out []string
	for tmpl, item := range r.doc.root["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			for st, resp := range op.(map[string]any)["responses"].(map[string]any) {
				if !strings.HasPrefix(st, "2") {
					continue
				}
				name := fmt.Sprintf("%s %s %s", strings.ToUpper(method), tmpl, st)
				out = append(out, name)
				content, _ := resp.(map[string]any)["content"].(map[string]any)
				if len(content) == 0 {
					r.t.Errorf("%s: no content schema", name)
				}
				for mt, media := range content {
					if _, ok := media.(map[string]any)["schema"].(map[string]any); !ok {
						r.t.Errorf("%s: %s without a schema", name, mt)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// driveAPI sends a request of each 2xx answer the API gives: bob makes
// a market, alice leads, carol copies her.
func driveAPI(t *testing.T, r *apiRun) {
	r.call(200, "GET", "/healthz", "", "")
	r.call(200, "GET", "/readyz", "", "")
	r.call(200, "GET", "/v1/openapi.json", "", "")
	r.call(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","max_price":"1000000","max_quantity":"1000","maker_fee_bps":10,"taker_fee_bps":20}`)
	// An empty market: no last price, no best bid or ask.
	r.call(200, "GET", "/v1/markets/BTC-USDT/ticker", "", "")
	if m := r.call(200, "GET", "/v1/markets/BTC-USDT", "", ""); m["symbol"] != "BTC-USDT" {
		t.Errorf("GET /v1/markets/BTC-USDT: %v", m)
	}
	r.call(200, "GET", "/v1/markets/BTC-USDT/book", "", "")
	r.call(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")
	signup := func(name string) (uint64, string) {
		out := r.call(201, "POST", "/v1/accounts", "", fmt.Sprintf(`{"name":%q}`, name))
		return idAt(t, out, "id"), out["token"].(string)
	}
	aid, alice := signup("alice")
	bid, bob := signup("bob")
	carolOut := r.call(201, "POST", "/v1/admin/accounts", adminTok, `{"name":"carol"}`)
	carol := carolOut["token"].(string)
	tok := r.call(201, "POST", "/v1/tokens", alice, "")
	r.call(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", idAt(t, tok, "id")), alice, "")
	r.call(200, "GET", "/v1/tokens", alice, "")
	tok = r.call(201, "POST", fmt.Sprintf("/v1/admin/accounts/%d/tokens", aid), adminTok, "")
	r.call(200, "GET", fmt.Sprintf("/v1/admin/accounts/%d/tokens", aid), adminTok, "")
	r.call(200, "DELETE", fmt.Sprintf("/v1/admin/accounts/%d/tokens/%d", aid, idAt(t, tok, "id")), adminTok, "")
	deposit := func(acct uint64, asset, amount, ref string, status int) {
		r.call(status, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":%q}`, acct, asset, amount, ref))
	}
	deposit(aid, "USDT", "100000", "d-1", 201)
	deposit(aid, "USDT", "100000", "d-1", 200)
	deposit(aid, "BTC", "2", "d-2", 201)
	deposit(bid, "BTC", "10", "d-3", 201)
	deposit(bid, "USDT", "100000", "d-4", 201)
	carolID := idAt(t, r.call(200, "GET", "/v1/account", carol, ""), "id")
	deposit(carolID, "USDT", "10000", "d-5", 201)
	r.call(201, "POST", "/v1/withdrawals", carol, `{"asset":"USDT","amount":"1","ref":"w-1"}`)
	r.call(200, "POST", "/v1/withdrawals", carol, `{"asset":"USDT","amount":"1","ref":"w-1"}`)

	// alice leads, carol copies her.
	r.call(200, "PUT", "/v1/social/leader", alice, `{"display_name":"A","bio":"b","profit_share_bps":1000}`)
	follow := r.call(201, "POST", "/v1/social/follows", carol, fmt.Sprintf(`{"leader_id":%d,"allocation":"5000"}`, aid))
	fid := idAt(t, follow, "id")

	// bob rests asks; alice buys (carol's wallet copies it), with a
	// resend of her client order id, a stop, a market buy by quote and
	// a protected stop-market buy.
	ask := r.call(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"2"}`)
	askID := idAt(t, ask, "order", "id")
	buy := `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.2","client_order_id":"c-1"}`
	if out := r.call(201, "POST", "/v1/orders", alice, buy); len(out["fills"].([]any)) == 0 {
		t.Fatalf("no fills: %v", out)
	}
	r.call(200, "POST", "/v1/orders", alice, buy)
	stop := r.call(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","type":"stop_limit","stop_price":"60000","price":"59000","quantity":"0.1"}`)
	if v, ok := stop["order"].(map[string]any)["triggered"]; !ok || v != false {
		t.Errorf("a pending stop order is served with triggered %v", v)
	}
	// A buy stop at the last price triggers at once and rests at 60000.
	trig := r.call(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"buy","type":"stop_limit","stop_price":"65000","price":"60000","quantity":"0.01"}`)
	if v := trig["order"].(map[string]any)["triggered"]; v != true {
		t.Errorf("a triggered stop order is served with triggered %v", v)
	}
	r.call(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"buy","type":"market","quote_quantity":"1000"}`)
	r.call(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"buy","type":"stop_market","stop_price":"70000","price":"71000","quantity":"0.01"}`)
	r.call(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"64000","quantity":"0.5"}`)
	// An iceberg: its order object shows display_quantity.
	ice := r.call(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"63000","quantity":"0.5","display_quantity":"0.1"}`)
	if v := ice["order"].(map[string]any)["display_quantity"]; v != "0.1" {
		t.Errorf("an iceberg is served with display_quantity %v", v)
	}
	r.call(200, "GET", fmt.Sprintf("/v1/orders/%d", idAt(t, ice, "order", "id")), bob, "")
	// A good-till-date order: its order object shows time_in_force gtd
	// and expire_at.
	expireAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	gtd := r.call(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"62000","quantity":"0.1","time_in_force":"gtd","expire_at":"`+expireAt+`"}`)
	if o := gtd["order"].(map[string]any); o["time_in_force"] != "gtd" || o["expire_at"] != expireAt {
		t.Errorf("a good-till-date order is served with time_in_force %v, expire_at %v (want %s)", o["time_in_force"], o["expire_at"], expireAt)
	}
	r.call(200, "GET", fmt.Sprintf("/v1/orders/%d", idAt(t, gtd, "order", "id")), bob, "")
	soon := r.call(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"61000","quantity":"0.1","time_in_force":"gtd","expire_at":"`+
		time.Now().Add(300*time.Millisecond).UTC().Format(time.RFC3339Nano)+`"}`)
	r.call(200, "POST", "/v1/orders/batch", alice, `{"orders":[`+buy+`,`+
		`{"market":"BTC-USDT","side":"sell","price":"90000","quantity":"0.01","time_in_force":"gtd","expire_at":"`+expireAt+`"},`+
		`{"market":"BTC-USDT","side":"buy","price":"64500","quantity":"0.01"},`+
		`{"market":"NOPE","side":"buy","price":"1","quantity":"1"},`+
		`{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}]}`)
	r.call(200, "PATCH", fmt.Sprintf("/v1/orders/%d", askID), bob, `{"quantity":"1.5"}`)
	r.call(200, "GET", fmt.Sprintf("/v1/orders/%d", askID), bob, "")
	r.call(200, "DELETE", fmt.Sprintf("/v1/orders/%d", idAt(t, stop, "order", "id")), alice, "")
	r.call(200, "GET", "/v1/orders", alice, "")
	r.call(200, "GET", "/v1/orders?market=BTC-USDT&status=done&limit=10", bob, "")
	r.call(200, "GET", "/v1/fills", alice, "")
	r.call(200, "GET", "/v1/fills?market=BTC-USDT", bob, "")
	// The good-till-date order expires by itself: status expired,
	// cancel_reason expired_time.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		o := r.call(200, "GET", fmt.Sprintf("/v1/orders/%d", idAt(t, soon, "order", "id")), bob, "")
		if o["status"] == "expired" && o["cancel_reason"] == "expired_time" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("good-till-date order not expired: %v", o)
		}
	}

	// Market data; public trades follow within a view interval.
	r.call(200, "GET", "/v1/markets", "", "")
	r.call(200, "GET", "/v1/markets/BTC-USDT/book", "", "")
	r.call(200, "GET", "/v1/markets/BTC-USDT/book?depth=1", "", "")
	r.call(200, "GET", "/v1/markets/BTC-USDT/ticker", "", "")
	for i := 0; ; i++ {
		if tr := r.call(200, "GET", "/v1/markets/BTC-USDT/trades", "", ""); len(tr["trades"].([]any)) > 0 || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.call(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1m", "", "")

	// Social.
	r.call(200, "GET", "/v1/social/leaders", "", "")
	r.call(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", aid), "", "")
	r.call(200, "GET", "/v1/social/follows", carol, "")
	r.call(200, "GET", "/v1/social/followers", alice, "")
	r.call(200, "PATCH", fmt.Sprintf("/v1/social/follows/%d", fid), carol, `{"top_up":"10","slippage_bps":100}`)
	r.call(200, "POST", fmt.Sprintf("/v1/social/follows/%d/pause", fid), carol, "")
	r.call(200, "POST", fmt.Sprintf("/v1/social/follows/%d/resume", fid), carol, "")
	if ff := r.call(200, "GET", fmt.Sprintf("/v1/social/follows/%d/fills", fid), carol, ""); len(ff["fills"].([]any)) == 0 {
		t.Errorf("the follow's wallet has no fills: %v", ff)
	}
	r.call(200, "POST", "/v1/admin/settle", adminTok, "")
	r.call(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d?close=market", fid), carol, "")
	r.call(200, "GET", "/v1/social/follows", carol, "") // a closed one
	evs := r.call(200, "GET", fmt.Sprintf("/v1/social/events?follow_id=%d", fid), carol, "")["events"].([]any)
	if n := len(evs); n == 0 || evs[n-1].(map[string]any)["type"] != "closed" {
		t.Errorf("carol's copy events: %v, want the close last", evs)
	}
	r.call(200, "GET", fmt.Sprintf("/v1/admin/accounts/%d/social/events?type=closed&limit=1", carolID), adminTok, "")
	if f := r.call(200, "GET", "/v1/social/followers?status=all", alice, "")["followers"].([]any); len(f) != 1 {
		t.Errorf("alice's followers, closed included: %v", f)
	}

	// Admin and operations.
	kinds := map[any]bool{}
	for _, a := range r.call(200, "GET", "/v1/admin/accounts", adminTok, "")["accounts"].([]any) {
		kinds[a.(map[string]any)["kind"]] = true
	}
	if !kinds["user"] || !kinds["copy_wallet"] {
		t.Errorf("admin accounts: kinds %v, want user and copy_wallet", kinds)
	}
	fees := r.call(200, "GET", "/v1/admin/fees", adminTok, "")["balances"].([]any)
	if len(fees) == 0 {
		t.Errorf("fee account: no balances after trades with fees")
	}
	r.call(201, "POST", "/v1/admin/fees/withdrawals", adminTok, `{"asset":"USDT","amount":"0.01","ref":"fw-1"}`)
	r.call(200, "POST", "/v1/admin/fees/withdrawals", adminTok, `{"asset":"USDT","amount":"0.01","ref":"fw-1"}`)
	if w := r.call(200, "GET", "/v1/admin/fees/withdrawals", adminTok, "")["transfers"].([]any); len(w) != 1 {
		t.Errorf("fee withdrawals: %v, want the one", w)
	}
	if x := r.call(200, "GET", "/v1/transfers", carol, "")["transfers"].([]any); len(x) != 2 {
		t.Errorf("carol's transfers: %v, want a deposit and a withdrawal", x)
	}
	r.call(200, "GET", fmt.Sprintf("/v1/admin/accounts/%d/transfers?asset=USDT&limit=1", carolID), adminTok, "")
	r.call(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	r.call(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"taker_fee_bps":25}`)
	r.call(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":10,"taker_fee_bps":20}`)
	if m := r.call(200, "POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":10000}`); fmt.Sprint(m["price_band_bps"]) != "10000" {
		t.Errorf("price band: %v", m)
	}
	r.call(200, "POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":0}`)
	if m := r.call(200, "POST", "/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":1000000}`); fmt.Sprint(m["max_open_orders"]) != "1000000" {
		t.Errorf("max open orders: %v", m)
	}
	r.call(200, "POST", "/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":0}`)
	r.call(200, "POST", "/v1/admin/markets/BTC-USDT/resume", adminTok, "")
	if fr := r.call(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", carolID), adminTok, ""); fr["frozen"] != true {
		t.Errorf("freeze: %v", fr)
	}
	if a := r.call(200, "GET", "/v1/account", carol, ""); a["frozen"] != true {
		t.Errorf("carol's account while frozen: %v", a)
	}
	r.call(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/unfreeze", carolID), adminTok, "")
	r.call(200, "DELETE", "/v1/orders?market=BTC-USDT", bob, "")
	r.call(200, "GET", "/v1/orders/cancel-all-after", bob, "")
	r.call(200, "POST", "/v1/orders/cancel-all-after", bob, `{"timeout_ms":60000}`)
	r.call(200, "GET", "/v1/orders/cancel-all-after", bob, "")
	r.call(200, "POST", "/v1/orders/cancel-all-after", bob, `{"timeout_ms":0}`)
	r.call(201, "POST", "/v1/admin/backup", adminTok, fmt.Sprintf(`{"to":%q}`, t.TempDir()+"/backup"))
	r.call(200, "GET", "/metrics", "", "")
}

// Every error status the server answers is documented on its operation;
// admin operations take the admin scheme; and every operation documents
// the errors every request may meet.
func TestOpenAPIErrorResponses(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxBodySize: 4096})
	alice, bob := ts.setup()
	d := ts.fetchDoc()
	if _, ok := d.Components.SecuritySchemes["adminBearer"]; !ok {
		t.Fatal("no adminBearer security scheme")
	}
	for tmpl, item := range d.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			_, o := d.op(method, strings.NewReplacer("{symbol}", "X", "{id}", "1", "{account_id}", "1").Replace(tmpl))
			if o == nil {
				t.Fatalf("%s %s not found by op", method, tmpl)
			}
			admin := strings.HasPrefix(tmpl, "/v1/admin/")
			if admin != (len(o.Security) == 1 && o.Security[0]["adminBearer"] != nil) {
				t.Errorf("%s %s: security %v", method, tmpl, o.Security)
			}
			want := []string{"429"}
			if o.Security == nil || len(o.Security) > 0 {
				want = append(want, "401", "403")
			}
			if strings.Contains(tmpl, "{") {
				want = append(want, "404")
			}
			switch tmpl {
			case "/healthz", "/readyz", "/metrics":
				want = want[1:]
			}
			for _, st := range want {
				if _, ok := o.Responses[st]; !ok {
					t.Errorf("%s %s does not document %s", method, tmpl, st)
				}
			}
		}
	}
	big := `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"1","client_order_id":"` + strings.Repeat("x", 5000) + `"}`
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	oid := uint64(sell["order"].(map[string]any)["id"].(float64))
	lid := uint64(sell["order"].(map[string]any)["account_id"].(float64))
	ts.must(200, "PUT", "/v1/social/leader", alice, `{}`)
	f := ts.must(201, "POST", "/v1/social/follows", bob, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid))
	fid := uint64(f["id"].(float64))
	ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", fid), bob, "")
	ts.must(201, "POST", "/v1/withdrawals", bob, `{"asset":"USDT","amount":"1","ref":"w-1"}`)
	// A trade's fees, some of them withdrawn.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/admin/fees/withdrawals", adminTok, `{"asset":"USDT","amount":"0.5","ref":"fw-1"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"1","client_order_id":"dup"}`)
	reqs := [][4]string{
		{"POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"2","quantity":"1","client_order_id":"dup"}`},
		{"GET", "/v1/account", "", ""},
		{"GET", "/v1/account", adminTok, ""},
		{"GET", "/v1/admin/accounts", alice, ""},
		{"GET", "/v1/admin/fees", alice, ""},
		{"POST", "/v1/admin/markets", "", `{}`},
		{"POST", "/v1/admin/markets", adminTok, `{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001"}`},
		{"POST", "/v1/admin/markets/NOPE/halt", adminTok, ""},
		{"PATCH", "/v1/admin/markets/NOPE", adminTok, `{"maker_fee_bps":5}`},
		{"PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":1001}`},
		{"PATCH", "/v1/admin/markets/BTC-USDT", bob, `{"maker_fee_bps":5}`},
		{"POST", "/v1/admin/markets/NOPE/price-band", adminTok, `{"price_band_bps":5}`},
		{"POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":10001}`},
		{"POST", "/v1/admin/markets/BTC-USDT/price-band", bob, `{"price_band_bps":5}`},
		{"POST", "/v1/admin/markets/NOPE/max-open-orders", adminTok, `{"max_open_orders":5}`},
		{"POST", "/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":1000001}`},
		{"POST", "/v1/admin/markets/BTC-USDT/max-open-orders", bob, `{"max_open_orders":5}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":99,"asset":"BTC","amount":"1","ref":"z"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"NOPE","amount":"1","ref":"z"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"5","ref":"d-a"}`},
		{"POST", "/v1/admin/backup", bob, `{"to":"/nonexistent/x"}`},
		{"POST", "/v1/withdrawals", bob, `{"asset":"NOPE","amount":"1","ref":"w-2"}`},
		{"POST", "/v1/withdrawals", bob, `{"asset":"USDT","amount":"2","ref":"w-1"}`},
		{"POST", "/v1/withdrawals", bob, `{"asset":"USDT","amount":"1000000000","ref":"w-3"}`},
		{"POST", "/v1/admin/fees/withdrawals", "", `{"asset":"USDT","amount":"0.5","ref":"fw-2"}`},
		{"POST", "/v1/admin/fees/withdrawals", bob, `{"asset":"USDT","amount":"0.5","ref":"fw-2"}`},
		{"POST", "/v1/admin/fees/withdrawals", adminTok, `{"asset":"NOPE","amount":"0.5","ref":"fw-2"}`},
		{"POST", "/v1/admin/fees/withdrawals", adminTok, `{"asset":"USDT","amount":"0.6","ref":"fw-1"}`},
		{"POST", "/v1/admin/fees/withdrawals", adminTok, `{"asset":"USDT","amount":"1000","ref":"fw-2"}`},
		{"POST", "/v1/admin/fees/withdrawals", adminTok, `{"asset":"USDT","amount":"0.5"}`},
		{"POST", "/v1/orders", bob, big},
		{"POST", "/v1/orders", bob, `{"market":"NOPE","side":"buy","price":"1","quantity":"1"}`},
		{"GET", "/v1/orders?market=NOPE", bob, ""},
		{"DELETE", "/v1/orders?market=NOPE", bob, ""},
		{"GET", "/v1/fills?market=NOPE", bob, ""},
		{"GET", "/v1/orders/999", bob, ""},
		{"GET", fmt.Sprintf("/v1/orders/%d", oid), bob, ""},
		{"DELETE", "/v1/orders/999", bob, ""},
		{"PATCH", "/v1/orders/999", bob, `{"quantity":"1"}`},
		{"DELETE", "/v1/tokens/999", bob, ""},
		{"DELETE", "/v1/tokens/2", bob, ""}, // bob's only token: 409 last_token
		{"GET", "/v1/admin/accounts/99/tokens", adminTok, ""},
		{"POST", "/v1/admin/accounts/1/tokens", "made-up", ""},
		{"GET", "/v1/markets/NOPE/book", "", ""},
		{"GET", "/v1/markets/NOPE/ticker", "", ""},
		{"PUT", "/v1/social/leader", bob, `{}`},
		{"POST", "/v1/social/follows", alice, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid)},
		{"POST", "/v1/social/follows", bob, `{"leader_id":99,"allocation":"10"}`},
		{"POST", fmt.Sprintf("/v1/social/follows/%d/pause", fid), bob, ""},
		{"POST", fmt.Sprintf("/v1/social/follows/%d/resume", fid), bob, ""},
		{"PATCH", fmt.Sprintf("/v1/social/follows/%d", fid), bob, `{"top_up":"1"}`},
		{"DELETE", fmt.Sprintf("/v1/social/follows/%d", fid), bob, ""},
		{"GET", fmt.Sprintf("/v1/social/follows/%d/fills", fid), bob, ""},
		{"GET", "/v1/social/leaders/99", "", ""},
		{"GET", "/v1/admin/accounts/99/transfers", adminTok, ""},
		{"GET", "/v1/transfers?asset=NOPE", bob, ""},
		{"GET", "/v1/social/events?type=nope", bob, ""},
		{"POST", "/v1/orders/cancel-all-after", bob, `{"timeout_ms":5}`},
		{"POST", "/v1/orders/cancel-all-after", "", `{"timeout_ms":60000}`},
		{"GET", "/v1/admin/accounts/99/social/events", adminTok, ""},
		{"POST", "/v1/admin/settle?leader_id=99", adminTok, ""},
	}
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	reqs = append(reqs, [4]string{"POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"1"}`},
		[4]string{"PATCH", fmt.Sprintf("/v1/orders/%d", oid), alice, `{"quantity":"0.1"}`},
		// Freezes: unknown account, a user token, then what alice may no
		// longer do (403 account_frozen).
		[4]string{"POST", "/v1/admin/accounts/99/freeze", adminTok, ""},
		[4]string{"POST", "/v1/admin/accounts/0/unfreeze", adminTok, ""},
		[4]string{"POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", lid), bob, ""},
		[4]string{"POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", lid), adminTok, ""},
		[4]string{"POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"1","ref":"w-f"}`},
		[4]string{"PUT", "/v1/social/leader", alice, `{}`})
	seen := map[int]bool{}
	for _, r := range reqs {
		code, out := ts.req(r[0], r[1], r[2], r[3])
		tmpl, o := d.op(r[0], r[1])
		if o == nil {
			t.Errorf("%s %s: no operation", r[0], r[1])
			continue
		}
		if code < 400 {
			continue
		}
		seen[code] = true
		resp, ok := o.Responses[fmt.Sprint(code)].(map[string]any)
		if !ok {
			t.Errorf("%s %s answers %d, not documented on %s %s", r[0], r[1], code, r[0], tmpl)
			continue
		}
		// A status several error codes share (400, 409): its description
		// names the code answered.
		if code != 400 && code != 409 {
			continue
		}
		desc, _ := resp["description"].(string)
		if ref, ok := resp["$ref"].(string); ok {
			desc = errorResponses[strings.TrimPrefix(ref, "#/components/responses/E")]
		}
		e, _ := out["error"].(map[string]any)
		if ec, _ := e["code"].(string); !strings.Contains(desc, ec) {
			t.Errorf("%s %s answers %d %s, not named by the %d of %s %s: %q", r[0], r[1], code, ec, code, r[0], tmpl, desc)
		}
	}
	for _, c := range []int{400, 401, 403, 404, 409, 413} {
		if !seen[c] {
			t.Errorf("no request answered %d", c)
		}
	}
}
