package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// apiDoc is the part of the OpenAPI document the tests read.
type apiDoc struct {
	Components struct {
		Schemas         map[string]apiSchema `json:"schemas"`
		SecuritySchemes map[string]any       `json:"securitySchemes"`
	} `json:"components"`
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

type apiSchema struct {
	Ref        string               `json:"$ref"`
	Properties map[string]apiSchema `json:"properties"`
	Required   []string             `json:"required"`
	AllOf      []apiSchema          `json:"allOf"`
	Items      *apiSchema           `json:"items"`
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

// resolve follows $ref and merges allOf.
func (d *apiDoc) resolve(s apiSchema) apiSchema {
	if s.Ref != "" {
		return d.resolve(d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")])
	}
	if len(s.AllOf) == 0 {
		return s
	}
	out := apiSchema{Properties: map[string]apiSchema{}}
	for _, p := range s.AllOf {
		p = d.resolve(p)
		for k, v := range p.Properties {
			out.Properties[k] = v
		}
		out.Required = append(out.Required, p.Required...)
	}
	return out
}

// check reports every field of the served object obj (at where) that
// its schema lacks, into nested objects and arrays of objects.
func (d *apiDoc) check(t *testing.T, where string, s apiSchema, obj map[string]any) {
	t.Helper()
	s = d.resolve(s)
	for k, v := range obj {
		p, ok := s.Properties[k]
		if !ok {
			t.Errorf("%s: served field %q is not in the schema", where, k)
			continue
		}
		p = d.resolve(p)
		switch v := v.(type) {
		case map[string]any:
			if len(p.Properties) > 0 {
				d.check(t, where+"."+k, p, v)
			}
		case []any:
			if p.Items != nil {
				for _, it := range v {
					if it, ok := it.(map[string]any); ok {
						d.check(t, where+"."+k+"[]", *p.Items, it)
					}
				}
			}
		}
	}
}

// op returns the operation of the document that serves method and the
// concrete path (a segment in braces matches any segment).
func (d *apiDoc) op(method, path string) (string, *apiOp) {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for tmpl, item := range d.Paths {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		match := true
		for i := range ts {
			if ts[i] != segs[i] && !strings.HasPrefix(ts[i], "{") {
				match = false
				break
			}
		}
		raw, ok := item[strings.ToLower(method)]
		if !match || !ok {
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

// Every field of what the server serves is in its OpenAPI schema: orders
// (stop orders too), fills, markets, accounts, admin accounts, market
// data and the social objects.
func TestOpenAPISchemasMatchServed(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	d := ts.fetchDoc()
	ref := func(name string) apiSchema { return apiSchema{Ref: "#/components/schemas/" + name} }
	m := ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","max_price":"1000000","max_quantity":"1000","maker_fee_bps":10,"taker_fee_bps":20}`)
	d.check(t, "POST /v1/admin/markets", ref("Market"), m)
	for _, k := range []string{"max_price", "max_quantity"} {
		if _, ok := d.resolve(ref("NewMarket")).Properties[k]; !ok {
			t.Errorf("NewMarket lacks %s, which POST /v1/admin/markets takes", k)
		}
	}
	aid, alice := ts.signup("alice")
	bid, bob := ts.signup("bob")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"BTC","amount":"2","ref":"d-a"}`, aid))
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100000","ref":"d-b"}`, bid))
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100000","ref":"d-a2"}`, aid))
	// Deposits need account_id: the schema says so.
	if c, _ := ts.errCode("POST", "/v1/admin/deposits", adminTok, `{"asset":"USDT","amount":"1","ref":"d-x"}`); c != 400 ||
		!slices.Contains(d.resolve(ref("Deposit")).Required, "account_id") {
		t.Errorf("deposit without account_id: %d; Deposit requires %v", c, d.resolve(ref("Deposit")).Required)
	}
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	out := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.2","client_order_id":"c-1"}`)
	d.check(t, "order", ref("Order"), out["order"].(map[string]any))
	d.check(t, "fill", ref("Fill"), out["fills"].([]any)[0].(map[string]any))
	stop := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","type":"stop_limit","stop_price":"60000","price":"59000","quantity":"0.1"}`)
	d.check(t, "stop order", ref("Order"), stop["order"].(map[string]any))
	if _, ok := stop["order"].(map[string]any)["triggered"]; !ok {
		t.Error("a stop order is served without triggered")
	}
	for _, o := range ts.must(200, "GET", "/v1/orders", alice, "")["orders"].([]any) {
		d.check(t, "GET /v1/orders", ref("Order"), o.(map[string]any))
	}
	for _, f := range ts.must(200, "GET", "/v1/fills", alice, "")["fills"].([]any) {
		d.check(t, "GET /v1/fills", ref("Fill"), f.(map[string]any))
	}
	for _, mk := range ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any) {
		d.check(t, "GET /v1/markets", ref("Market"), mk.(map[string]any))
	}
	d.check(t, "GET /v1/account", ref("Account"), ts.must(200, "GET", "/v1/account", alice, ""))
	d.check(t, "book", ref("Book"), ts.must(200, "GET", "/v1/markets/BTC-USDT/book", "", ""))
	d.check(t, "ticker", ref("Ticker"), ts.must(200, "GET", "/v1/markets/BTC-USDT/ticker", "", ""))
	for i := 0; ; i++ { // public trades follow within a view interval
		tr := ts.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")
		if len(tr["trades"].([]any)) > 0 || i == 100 {
			d.check(t, "trades", ref("Trades"), tr)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.check(t, "candles", ref("Candles"), ts.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1m", "", ""))

	// Social: bob follows alice.
	lp := ts.must(200, "PUT", "/v1/social/leader", alice, `{"display_name":"A","profit_share_bps":1000}`)
	d.check(t, "leader profile", ref("LeaderProfile"), lp)
	f := ts.must(201, "POST", "/v1/social/follows", bob, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, aid))
	d.check(t, "follow", ref("Follow"), f)
	for _, f := range ts.must(200, "GET", "/v1/social/follows", bob, "")["follows"].([]any) {
		d.check(t, "GET /v1/social/follows", ref("Follow"), f.(map[string]any))
	}
	d.check(t, "leaderboard", ref("Leaderboard"), ts.must(200, "GET", "/v1/social/leaders", "", ""))
	d.check(t, "leader page", ref("LeaderPage"), ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", aid), "", ""))
	accts := ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")
	d.check(t, "admin accounts", ref("AdminAccounts"), accts)
	kinds := map[any]bool{}
	for _, a := range accts["accounts"].([]any) {
		kinds[a.(map[string]any)["kind"]] = true
	}
	if !kinds["user"] || !kinds["copy_wallet"] {
		t.Errorf("admin accounts: kinds %v, want user and copy_wallet", kinds)
	}
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
	reqs := [][4]string{
		{"GET", "/v1/account", "", ""},
		{"GET", "/v1/account", adminTok, ""},
		{"GET", "/v1/admin/accounts", alice, ""},
		{"POST", "/v1/admin/markets", "", `{}`},
		{"POST", "/v1/admin/markets", adminTok, `{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001"}`},
		{"POST", "/v1/admin/markets/NOPE/halt", adminTok, ""},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":99,"asset":"BTC","amount":"1","ref":"z"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"NOPE","amount":"1","ref":"z"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"5","ref":"d-a"}`},
		{"POST", "/v1/admin/backup", bob, `{"to":"/nonexistent/x"}`},
		{"POST", "/v1/withdrawals", bob, `{"asset":"NOPE","amount":"1","ref":"w-2"}`},
		{"POST", "/v1/withdrawals", bob, `{"asset":"USDT","amount":"2","ref":"w-1"}`},
		{"POST", "/v1/withdrawals", bob, `{"asset":"USDT","amount":"1000000000","ref":"w-3"}`},
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
		{"GET", "/v1/markets/NOPE/book", "", ""},
		{"GET", "/v1/markets/NOPE/ticker", "", ""},
		{"PUT", "/v1/social/leader", bob, `{}`},
		{"POST", "/v1/social/follows", alice, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid)},
		{"POST", "/v1/social/follows", bob, `{"leader_id":99,"allocation":"10"}`},
		{"POST", fmt.Sprintf("/v1/social/follows/%d/pause", fid), bob, ""},
		{"POST", fmt.Sprintf("/v1/social/follows/%d/resume", fid), bob, ""},
		{"PATCH", fmt.Sprintf("/v1/social/follows/%d", fid), bob, `{"top_up":"1"}`},
		{"DELETE", fmt.Sprintf("/v1/social/follows/%d", fid), bob, ""},
		{"GET", "/v1/social/leaders/99", "", ""},
		{"POST", "/v1/admin/settle?leader_id=99", adminTok, ""},
	}
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	reqs = append(reqs, [4]string{"POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"1"}`},
		[4]string{"PATCH", fmt.Sprintf("/v1/orders/%d", oid), alice, `{"quantity":"0.1"}`})
	seen := map[int]bool{}
	for _, r := range reqs {
		code, _ := ts.req(r[0], r[1], r[2], r[3])
		tmpl, o := d.op(r[0], r[1])
		if o == nil {
			t.Errorf("%s %s: no operation", r[0], r[1])
			continue
		}
		if code < 400 {
			continue
		}
		seen[code] = true
		if _, ok := o.Responses[fmt.Sprint(code)]; !ok {
			t.Errorf("%s %s answers %d, not documented on %s %s", r[0], r[1], code, r[0], tmpl)
		}
	}
	for _, c := range []int{400, 401, 403, 404, 409, 413} {
		if !seen[c] {
			t.Errorf("no request answered %d", c)
		}
	}
}
