package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// demo fills a fresh istd with something to try: markets BTC-USDT and
// ETH-USDT, two funded accounts, and a few resting orders on each side. It
// drives istd's own HTTP API, so everything goes through the log like any
// client's requests. It does nothing if markets exist already.
func demo(base, admin string, out io.Writer) error {
	c := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path, token, body string, into any) error {
		req, err := http.NewRequest(method, base+path, bytes.NewBufferString(body))
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("demo: %s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if into != nil {
			return json.Unmarshal(b, into)
		}
		return nil
	}
	var markets struct {
		Markets []json.RawMessage `json:"markets"`
	}
	if err := call("GET", "/v1/markets", "", "", &markets); err != nil {
		return err
	}
	if len(markets.Markets) > 0 {
		fmt.Fprintln(out, "demo: markets exist already; nothing added")
		return nil
	}
	for _, m := range []string{
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`,
		`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`,
	} {
		if err := call("POST", "/v1/admin/markets", admin, m, nil); err != nil {
			return err
		}
	}
	type account struct {
		ID    uint64 `json:"id"`
		Token string `json:"token"`
	}
	var accts [2]account
	for i, name := range []string{"demo-alice", "demo-bob"} {
		if err := call("POST", "/v1/admin/accounts", admin, fmt.Sprintf(`{"name":%q}`, name), &accts[i]); err != nil {
			return err
		}
		for _, d := range [][2]string{{"USDT", "1000000"}, {"BTC", "10"}, {"ETH", "100"}} {
			body := fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"demo-%d-%s"}`, accts[i].ID, d[0], d[1], accts[i].ID, d[0])
			if err := call("POST", "/v1/admin/deposits", admin, body, nil); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "demo account %s: id %d token %s\n", name, accts[i].ID, accts[i].Token)
	}
	// A small book around 65,000 and 3,000 from demo-bob.
	for k := 1; k <= 5; k++ {
		for _, o := range []string{
			fmt.Sprintf(`{"market":"BTC-USDT","side":"buy","price":"%d","quantity":"0.05"}`, 65000-10*k),
			fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.05"}`, 65000+10*k),
			fmt.Sprintf(`{"market":"ETH-USDT","side":"buy","price":"%d","quantity":"0.5"}`, 3000-k),
			fmt.Sprintf(`{"market":"ETH-USDT","side":"sell","price":"%d","quantity":"0.5"}`, 3000+k),
		} {
			if err := call("POST", "/v1/orders", accts[1].Token, o, nil); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(out, "demo: markets BTC-USDT and ETH-USDT with resting orders from demo-bob")
	return nil
}
