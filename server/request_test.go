package server

import (
	"errors"
	"strconv"
	"strings"
	"testing"

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
	`{"account_id":7,"asset":"USDT","amount":"1000","ref":"d-1"}`, `{"price":"1","quantity":"2"}`, `{"to":"/tmp/x"}`,
	`{"market":"\u0000","side":1}`, `{"maker_fee_bps":-1}`, `{"account_id":1e3}`}

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
		if err == nil && (r.makerBps > 1000 || r.takerBps > 1000 || r.tick == nil || r.lot == nil) {
			t.Fatalf("accepted %+v", r)
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
	})
}

func FuzzDecodeSignup(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r signupReq
		checkDecodeErr(t, decodeSignup(&p, body, &r))
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
		for _, e := range errs {
			checkDecodeErr(t, e)
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
	for _, bad := range []string{`{"market":"m","side":"buy","price":1}`, `{"market":"m","side":"buy","x":"1"}`, `{"market":"m"}`, `{"side":"buy"}`, `{"market":"m","side":"buy","post_only":1}`} {
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
