package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fastjson"
)

// Every decoder either succeeds or returns an invalid-argument error; it
// never panics, whatever the body.

func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, errInvalid) {
		t.Fatalf("error %v is not invalid_argument", err)
	}
}

var seeds = []string{``, `{}`, `[]`, `null`, `{"a":1}`, `{"name":"alice"}`,
	`{"market":"BTC-USDT","side":"buy","type":"limit","price":"100.5","quantity":"0.5","time_in_force":"gtc","post_only":false,"client_order_id":"c-1","stp":"cancel_taker"}`,
	`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`,
	`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","price_band_bps":500}`,
	`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","price_band_bps":10001}`,
	`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","max_open_orders":200}`,
	`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","max_open_orders":1000001}`,
	`{"account_id":7,"asset":"USDT","amount":"1000","ref":"d-1"}`, `{"price":"1","quantity":"2"}`, `{"to":"/tmp/x"}`,
	`{"market":"\u0000","side":1}`, `{"maker_fee_bps":-1}`, `{"account_id":1e3}`,
	`{"market":"BTC-USDT","side":"buy","side":"sell","quantity":"1"}`, `{"name":"a","n\u0061me":"b"}`,
	`{"market":"BTC-USDT","side":"sell","price":"101","quantity":"1","time_in_force":"gtd","expire_at":"2030-01-02T15:04:05.5Z"}`,
	`{"market":"BTC-USDT","side":"sell","price":"101","quantity":"1","expire_at":1}`}

// checkDistinct fails unless body, which a decoder accepted, is an object
// whose keys are all distinct (as fastjson unescapes them).
func checkDistinct(t *testing.T, body []byte) {
	t.Helper()
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		t.Fatalf("accepted %q: %v", body, err)
	}
	seen := map[string]bool{}
	v.GetObject().Visit(func(k []byte, _ *fastjson.Value) {
		if seen[string(k)] {
			t.Fatalf("accepted %q with field %q twice", body, k)
		}
		seen[string(k)] = true
	})
}

func FuzzDecodeOrder(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r orderReq
		err := decodeOrder(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && (r.market == nil || r.side == nil) {
			t.Fatal("accepted without market or side")
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func FuzzDecodeMarket(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r marketReq
		err := decodeMarket(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && (r.makerBps > 1000 || r.takerBps > 1000 || r.bandBps > engine.MaxPriceBandBps || r.maxOpen > engine.MaxOpenOrdersLimit || r.tick == nil || r.lot == nil) {
			t.Fatalf("accepted %+v", r)
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func FuzzDecodeMarketFees(f *testing.F) {
	for _, s := range append(seeds, `{"taker_fee_bps":25}`, `{"maker_fee_bps":0,"taker_fee_bps":1000}`,
		`{"maker_fee_bps":1001}`, `{"maker_fee_bps":5,"maker_fee_bps":6}`, `{"taker_fee_bps":"5"}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r marketFeesReq
		err := decodeMarketFees(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && (r.makerBps > 1000 || r.takerBps > 1000 || !r.hasMaker && !r.hasTaker ||
			!r.hasMaker && r.makerBps != 0 || !r.hasTaker && r.takerBps != 0) {
			t.Fatalf("accepted %+v", r)
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

// FuzzDecodeMarketBand: the body of POST
// /v1/admin/markets/{symbol}/price-band: price_band_bps required, 0 to
// MaxPriceBandBps.
func FuzzDecodeMarketBand(f *testing.F) {
	for _, s := range append(seeds, `{"price_band_bps":0}`, `{"price_band_bps":250}`, `{"price_band_bps":10000}`,
		`{"price_band_bps":10001}`, `{"price_band_bps":-1}`, `{"price_band_bps":"5"}`, `{"price_band_bps":5,"price_band_bps":6}`,
		`{"price_band_bps":1.5}`, `{}`, `{"maker_fee_bps":5}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		r := marketRuleReq{rule: &bandRule}
		err := decodeMarketRule(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && r.v > engine.MaxPriceBandBps {
			t.Fatalf("accepted %+v", r)
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func FuzzDecodeTransfer(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, admin bool) {
		var p fastjson.Parser
		var r transferReq
		err := decodeTransfer(&p, body, &r, admin)
		checkDecodeErr(t, err)
		if err == nil && (len(r.ref) == 0 || r.asset == nil || r.amount == nil || (admin && !r.hasAccount) || (!admin && r.hasAccount)) {
			t.Fatalf("accepted %+v", r)
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func FuzzDecodeSignup(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r signupReq
		err := decodeSignup(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func FuzzDecodeAmend(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r amendReq
		err := decodeAmend(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && r.price == nil && r.qty == nil {
			t.Fatal("accepted an empty amend")
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func FuzzDecodeBackup(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r backupReq
		err := decodeBackup(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && len(r.to) == 0 {
			t.Fatal("accepted without to")
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
		f.Add([]byte(`{"orders":[` + s + `]}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		rs, errs, err := decodeBatch(&p, body, nil, nil)
		checkDecodeErr(t, err)
		if err == nil && (len(rs) == 0 || len(rs) > maxBatch || len(rs) != len(errs)) {
			t.Fatalf("accepted %d orders, %d errors", len(rs), len(errs))
		}
		for i, e := range errs {
			checkDecodeErr(t, e)
			if err == nil && e == nil {
				var p fastjson.Parser
				v, _ := p.ParseBytes(body)
				checkDistinct(t, v.GetArray("orders")[i].MarshalTo(nil))
			}
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

func TestDecodeOrder(t *testing.T) {
	var p fastjson.Parser
	var r orderReq
	if err := decodeOrder(&p, []byte(seeds[6]), &r); err != nil {
		t.Fatal(err)
	}
	if string(r.price) != "100.5" || string(r.qty) != "0.5" || string(r.stp) != "cancel_taker" || r.postOnly {
		t.Fatalf("%+v", r)
	}
	r = orderReq{}
	if err := decodeOrder(&p, []byte(seeds[len(seeds)-2]), &r); err != nil || string(r.tif) != "gtd" || string(r.expireAt) != "2030-01-02T15:04:05.5Z" {
		t.Fatalf("gtd: %+v, %v", r, err)
	}
	for _, bad := range []string{`{"market":"m","side":"buy","price":1}`, `{"market":"m","side":"buy","x":"1"}`, `{"market":"m"}`, `{"side":"buy"}`, `{"market":"m","side":"buy","post_only":1}`,
		seeds[len(seeds)-1]} {
		r = orderReq{}
		if err := decodeOrder(&p, []byte(bad), &r); !errors.Is(err, errInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// FuzzParseID checks the parser of ids and unsigned query parameters
// against strconv: it accepts exactly the strings of 1 to 16 decimal
// digits, with their value, and refuses the rest with invalid_argument.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"", "0", "7", "0012", "9999999999999999", "99999999999999999", "-1", "+1", "1e3", " 1", "1 ", "0x10", "１"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseID(s)
		checkDecodeErr(t, err)
		digits := s != "" && len(s) <= 16 && strings.Trim(s, "0123456789") == ""
		want, perr := strconv.ParseUint(s, 10, 64)
		switch {
		case digits && (err != nil || perr != nil || v != want):
			t.Fatalf("parseID(%q) = %d, %v; strconv: %d, %v", s, v, err, want, perr)
		case !digits && err == nil:
			t.Fatalf("parseID(%q) accepted %d", s, v)
		}
	})
}

// A field given twice is refused by every decoder (whichever came last
// used to win: {"side":"buy","side":"sell"} placed a sell), also when
// one of the two is escaped.
func TestDecodeDuplicateField(t *testing.T) {
	const order = `"market":"BTC-USDT","type":"limit","price":"1","quantity":"1"`
	for _, tc := range []struct {
		field  string
		decode func(p *fastjson.Parser, body []byte) error
		body   string
	}{
		{"side", func(p *fastjson.Parser, b []byte) error { return decodeOrder(p, b, &orderReq{}) },
			`{"side":"buy",` + order + `,"side":"sell"}`},
		{"side", func(p *fastjson.Parser, b []byte) error { return decodeOrder(p, b, &orderReq{}) },
			`{"side":"buy",` + order + `,"\u0073ide":"sell"}`},
		{"post_only", func(p *fastjson.Parser, b []byte) error { return decodeOrder(p, b, &orderReq{}) },
			`{"side":"buy",` + order + `,"post_only":true,"post_only":false}`},
		{"side", func(p *fastjson.Parser, b []byte) error {
			_, errs, err := decodeBatch(p, b, nil, nil)
			if err == nil {
				err = errs[1]
			}
			return err
		}, `{"orders":[{"side":"buy",` + order + `},{"side":"buy","side":"sell",` + order + `}]}`},
		{"orders", func(p *fastjson.Parser, b []byte) error { _, _, err := decodeBatch(p, b, nil, nil); return err },
			`{"orders":[{"side":"buy",` + order + `}],"orders":[{"side":"sell",` + order + `}]}`},
		{"tick_size", func(p *fastjson.Parser, b []byte) error { return decodeMarket(p, b, &marketReq{}) },
			`{"symbol":"A-B","base":"A","quote":"B","tick_size":"0.01","lot_size":"1","tick_size":"1"}`},
		{"amount", func(p *fastjson.Parser, b []byte) error { return decodeTransfer(p, b, &transferReq{}, true) },
			`{"account_id":1,"asset":"USDT","amount":"1","ref":"r","amount":"1000"}`},
		{"account_id", func(p *fastjson.Parser, b []byte) error { return decodeTransfer(p, b, &transferReq{}, true) },
			`{"account_id":1,"asset":"USDT","amount":"1","ref":"r","account_id":2}`},
		{"name", func(p *fastjson.Parser, b []byte) error { return decodeSignup(p, b, &signupReq{}) },
			`{"name":"a","name":"b"}`},
		{"price", func(p *fastjson.Parser, b []byte) error { return decodeAmend(p, b, &amendReq{}) },
			`{"price":"1","quantity":"2","price":"3"}`},
		{"to", func(p *fastjson.Parser, b []byte) error { return decodeBackup(p, b, &backupReq{}) },
			`{"to":"/tmp/a","to":"/tmp/b"}`},
		{"op", func(p *fastjson.Parser, b []byte) error { return decodeStreamOp(p, b, &streamOp{}) },
			`{"op":"subscribe","channels":["book:A-B"],"op":"unsubscribe"}`},
		{"display_name", func(p *fastjson.Parser, b []byte) error { return decodeLeader(p, b, &leaderReq{}) },
			`{"display_name":"a","display_name":"b"}`},
		{"leader_id", func(p *fastjson.Parser, b []byte) error { return decodeFollow(p, b, &followReq{}) },
			`{"leader_id":1,"allocation":"100","leader_id":2}`},
	} {
		var p fastjson.Parser
		err := tc.decode(&p, []byte(tc.body))
		if want := `duplicate field "` + tc.field + `"`; !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want invalid_argument: %s", tc.body, err, want)
		}
	}
}

// Over HTTP a field given twice is 400 invalid_argument and places
// nothing.
func TestOrderDuplicateFieldHTTP(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	before := ts.balances(alice)
	for _, path := range []string{"/v1/orders", "/v1/orders/batch"} {
		body := `{"market":"BTC-USDT","side":"buy","side":"sell","price":"65000","quantity":"0.5"}`
		if path == "/v1/orders/batch" {
			body = `{"orders":[` + body + `]}`
			res := ts.must(200, "POST", path, alice, body)["results"].([]any)
			e, _ := res[0].(map[string]any)["error"].(map[string]any)
			if e["code"] != "invalid_argument" || !strings.Contains(fmt.Sprint(e["message"]), `duplicate field "side"`) {
				t.Errorf("%s: %v", path, res)
			}
			continue
		}
		code, out := ts.req("POST", path, alice, body)
		e, _ := out["error"].(map[string]any)
		if code != 400 || e["code"] != "invalid_argument" || !strings.Contains(fmt.Sprint(e["message"]), `duplicate field "side"`) {
			t.Errorf("%s: %d %v", path, code, out)
		}
	}
	if after := ts.balances(alice); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("balances changed: %v → %v", before, after)
	}
}

// A malformed body's error says what is wrong where, without a prefix
// for each level of nesting it is found at.
func TestParseErrorMessage(t *testing.T) {
	var p fastjson.Parser
	for _, c := range []struct{ body, want string }{
		{`{"name": "a", "x": tru}`, `malformed JSON: unexpected value found: "tru}"; unparsed tail: "tru}"`},
		{`{"a":[1,2,{"b":"c}]}`, `malformed JSON: missing closing '"'`},
		{strings.Repeat("[", 2000) + strings.Repeat("]", 2000), "malformed JSON: too big depth for the nested JSON; it exceeds 300"},
		{`{"a":1} x`, `malformed JSON: unexpected tail: "x"`},
	} {
		_, err := parse(&p, []byte(c.body))
		if !errors.Is(err, errInvalid) {
			t.Fatalf("%.40q: %v", c.body, err)
		}
		msg := trimWrap(err.Error())
		if !strings.HasPrefix(msg, c.want) || len(msg) > 300 || strings.Contains(msg, "cannot parse") {
			t.Errorf("%.40q: got %q, want %q…", c.body, msg, c.want)
		}
	}
}

// FuzzDecodeMarketOpenLimit: the body of POST
// /v1/admin/markets/{symbol}/max-open-orders: max_open_orders required,
// 0 to MaxOpenOrdersLimit.
func FuzzDecodeMarketOpenLimit(f *testing.F) {
	for _, s := range append(seeds, `{"max_open_orders":0}`, `{"max_open_orders":200}`, `{"max_open_orders":1000000}`,
		`{"max_open_orders":1000001}`, `{"max_open_orders":-1}`, `{"max_open_orders":"5"}`, `{"max_open_orders":5,"max_open_orders":6}`,
		`{"max_open_orders":1.5}`, `{"max_open_orders":1e3}`, `{"price_band_bps":5}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		r := marketRuleReq{rule: &openLimitRule}
		err := decodeMarketRule(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && r.v > engine.MaxOpenOrdersLimit {
			t.Fatalf("accepted %+v", r)
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}
