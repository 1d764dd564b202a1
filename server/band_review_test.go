package server

import (
	"testing"
)

// The price-band route: admin only (401 without a token), POST only, a
// halted market's band may change, and every market object shows it.
func TestPriceBandReviewRoute(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	if st, code := ts.errCode("POST", "/v1/admin/markets/BTC-USDT/price-band", "", `{"price_band_bps":1}`); st != 401 || code != "unauthenticated" {
		t.Errorf("no token: %d %s", st, code)
	}
	if st, code := ts.errCode("GET", "/v1/admin/markets/BTC-USDT/price-band", adminTok, ""); st != 405 {
		t.Errorf("GET: %d %s", st, code)
	}
	for _, body := range []string{`{"price_band_bps":"5"}`, `{"price_band_bps":1.5}`, `{"price_band_bps":null}`, `{"price_band_bps":5,"x":1}`, `[]`} {
		if st, code := ts.errCode("POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, body); st != 400 || code != "invalid_argument" {
			t.Errorf("%s: %d %s", body, st, code)
		}
	}
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	m := ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":10000}`)
	if m["price_band_bps"] != 10000.0 || m["halted"] != true {
		t.Fatalf("halted market: %v", m)
	}
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/resume", adminTok, "")
	// The fees route answers the market with its band too.
	m = ts.must(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":5}`)
	if m["price_band_bps"] != 10000.0 {
		t.Fatalf("after a fee change: %v", m)
	}
}
