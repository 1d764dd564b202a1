package server

import "testing"

// A market whose base or quote differs from an existing asset only in
// case ("usdt" beside "USDT") is refused, before any command: it would
// create a second asset that reads as the first, with balances and
// deposits of its own.
func TestAssetCaseCollision(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup() // BTC-USDT
	for _, body := range []string{
		`{"symbol":"eth-usdt","base":"eth","quote":"usdt","tick_size":"0.01","lot_size":"0.001"}`,
		`{"symbol":"ETH-Usdt","base":"ETH","quote":"Usdt","tick_size":"0.01","lot_size":"0.001"}`,
		`{"symbol":"btc-ETH","base":"btc","quote":"ETH","tick_size":"0.01","lot_size":"0.001"}`,
	} {
		if code, ec := ts.errCode("POST", "/v1/admin/markets", adminTok, body); code != 400 || ec != "invalid_argument" {
			t.Errorf("%s: %d %s, want 400 invalid_argument", body, code, ec)
		}
	}
	if code, ec := ts.errCode("POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"usdt","amount":"1","ref":"d-x"}`); code != 404 {
		t.Errorf("deposit of usdt: %d %s, want 404: the asset was created", code, ec)
	}
	if code, ec := ts.errCode("POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"ETH","amount":"1","ref":"d-y"}`); code != 404 {
		t.Errorf("deposit of ETH: %d %s, want 404: the asset was created", code, ec)
	}
	ts.must(201, "POST", "/v1/admin/markets", adminTok, `{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001"}`)
	if n := len(ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any)); n != 2 {
		t.Errorf("%d markets, want 2", n)
	}
}
