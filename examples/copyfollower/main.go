// Command copyfollower shows social copy-trading against a running istd,
// over its HTTP API: it creates a market if needed, a leader, a maker and
// two followers, funds them, publishes the leader's profile, follows the
// leader (one follower proportionally, one by a multiplier), trades as the
// leader against the maker, and prints the followers' mirrored fills and
// the leaderboard.
//
//	go run ./cmd/istd --admin-token secret &
//	go run ./examples/copyfollower --admin-token secret [--addr http://127.0.0.1:8080]
//
// The admin token may also come from IST_ADMIN_TOKEN. Each run creates
// new accounts (names carry a run suffix), so it can be repeated.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "http://127.0.0.1:8080", "istd base URL")
	token := flag.String("admin-token", os.Getenv("IST_ADMIN_TOKEN"), "istd admin token (IST_ADMIN_TOKEN)")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "copyfollower: --admin-token (or IST_ADMIN_TOKEN) is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *addr, *token, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "copyfollower:", err)
		os.Exit(1)
	}
}

// market is the example's own market, created if it does not exist.
const (
	market     = "CPY-USDT"
	marketJSON = `{"symbol":"CPY-USDT","base":"CPY","quote":"USDT","tick_size":"0.01","lot_size":"0.001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`
)

// client calls istd's HTTP API.
type client struct {
	ctx  context.Context
	base string
	c    *http.Client
}

// call sends a request and decodes a JSON answer into into (if not nil);
// a status ≥ 300 is an error carrying the API's error message.
func (c *client) call(method, path, token, body string, into any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if into != nil {
		return json.Unmarshal(b, into)
	}
	return nil
}

// account is a signed-up account.
type account struct {
	ID    uint64 `json:"id"`
	Name  string `json:"name"`
	Token string `json:"token"`
}

// fill is a fill as the API reports it.
type fill struct {
	TradeID  uint64 `json:"trade_id"`
	Market   string `json:"market"`
	Side     string `json:"side"`
	Price    string `json:"price"`
	Quantity string `json:"quantity"`
	Fee      string `json:"fee"`
}

// follow is a follow as GET /v1/social/follows reports it.
type follow struct {
	ID         uint64 `json:"id"`
	Status     string `json:"status"`
	Mode       string `json:"mode"`
	Value      string `json:"value"`
	Allocation string `json:"allocation"`
	NAV        string `json:"nav"`
	PnL        string `json:"pnl"`
	Balances   []struct {
		Asset     string `json:"asset"`
		Available string `json:"available"`
	} `json:"balances"`
	Fills []fill `json:"fills"`
}

// run is the example against the istd at addr with admin token admin,
// printing to out.
func run(ctx context.Context, addr, admin string, out io.Writer) error {
	c := &client{ctx: ctx, base: strings.TrimRight(addr, "/"), c: &http.Client{Timeout: 10 * time.Second}}

	// The market, if needed.
	var ms struct {
		Markets []struct {
			Symbol string `json:"symbol"`
		} `json:"markets"`
	}
	if err := c.call("GET", "/v1/markets", "", "", &ms); err != nil {
		return err
	}
	exists := false
	for _, m := range ms.Markets {
		exists = exists || m.Symbol == market
	}
	if !exists {
		if err := c.call("POST", "/v1/admin/markets", admin, marketJSON, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "created market %s\n", market)
	}

	// Accounts, funded by admin deposits.
	suffix := time.Now().UnixNano() % 1e9
	signup := func(role string, funds ...string) (account, error) {
		var a account
		if err := c.call("POST", "/v1/accounts", "", fmt.Sprintf(`{"name":"cf-%s-%d"}`, role, suffix), &a); err != nil {
			return a, err
		}
		for _, f := range funds {
			asset, amt, _ := strings.Cut(f, ":")
			body := fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"cf-%d-%s"}`, a.ID, asset, amt, a.ID, asset)
			if err := c.call("POST", "/v1/admin/deposits", admin, body, nil); err != nil {
				return a, err
			}
		}
		return a, nil
	}
	leader, err := signup("lead", "USDT:10000")
	if err != nil {
		return err
	}
	maker, err := signup("maker", "USDT:100000", "CPY:1000")
	if err != nil {
		return err
	}
	var followers [2]account
	for i := range followers {
		if followers[i], err = signup(fmt.Sprintf("fol%d", i+1), "USDT:2000"); err != nil {
			return err
		}
	}

	// The leader's profile and two followers.
	profile := `{"display_name":"Example leader","bio":"buys the dip, sells the rip","profit_share_bps":1000}`
	if err := c.call("PUT", "/v1/social/leader", leader.Token, profile, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "leader %s (id %d) publishes a profile: 10%% profit share\n", leader.Name, leader.ID)
	specs := []string{
		`"mode":"proportional","value":"1"`,                    // the leader's fraction of quote, of the wallet
		`"mode":"multiplier","value":"0.5","slippage_bps":100`, // half the leader's quantity
	}
	for i, f := range followers {
		var fw follow
		body := fmt.Sprintf(`{"leader_id":%d,"allocation":"1000",%s}`, leader.ID, specs[i])
		if err := c.call("POST", "/v1/social/follows", f.Token, body, &fw); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s follows with 1000 USDT, %s %s (follow %d)\n", f.Name, fw.Mode, fw.Value, fw.ID)
	}

	// The maker's book, then the leader trades against it.
	for _, o := range []string{
		`{"market":"CPY-USDT","side":"sell","price":"20","quantity":"100"}`,
		`{"market":"CPY-USDT","side":"buy","price":"19.5","quantity":"100"}`,
	} {
		if err := c.call("POST", "/v1/orders", maker.Token, o, nil); err != nil {
			return err
		}
	}
	for _, o := range []string{
		`{"market":"CPY-USDT","side":"buy","price":"20","quantity":"50","time_in_force":"ioc"}`,
		`{"market":"CPY-USDT","side":"sell","price":"19.5","quantity":"25","time_in_force":"ioc"}`,
	} {
		var res struct {
			Order struct {
				Side   string `json:"side"`
				Filled string `json:"filled"`
			} `json:"order"`
		}
		if err := c.call("POST", "/v1/orders", leader.Token, o, &res); err != nil {
			return err
		}
		fmt.Fprintf(out, "leader %ss %s CPY\n", res.Order.Side, res.Order.Filled)
	}

	// What the followers' wallets did.
	for _, f := range followers {
		var fs struct {
			Follows []follow `json:"follows"`
		}
		if err := c.call("GET", "/v1/social/follows", f.Token, "", &fs); err != nil {
			return err
		}
		if len(fs.Follows) == 0 {
			return errors.New("a follower has no follow")
		}
		fw := fs.Follows[0]
		fmt.Fprintf(out, "%s: follow %d %s, NAV %s USDT, PnL %s\n", f.Name, fw.ID, fw.Status, fw.NAV, fw.PnL)
		for i := len(fw.Fills) - 1; i >= 0; i-- { // oldest first
			fl := fw.Fills[i]
			fmt.Fprintf(out, "  mirrored fill: %s %s %s @ %s (fee %s)\n", fl.Side, fl.Quantity, fl.Market, fl.Price, fl.Fee)
		}
		for _, b := range fw.Balances {
			fmt.Fprintf(out, "  wallet %s %s\n", b.Asset, b.Available)
		}
	}

	// The leaderboard.
	var lb struct {
		Leaders []struct {
			Rank        int    `json:"rank"`
			AccountID   uint64 `json:"account_id"`
			DisplayName string `json:"display_name"`
			ROI         string `json:"roi"`
			PnL         string `json:"pnl"`
			AUM         string `json:"aum"`
			Followers   int    `json:"active_followers"`
		} `json:"leaders"`
	}
	if err := c.call("GET", "/v1/social/leaders?sort=followers&window=all&limit=10", "", "", &lb); err != nil {
		return err
	}
	fmt.Fprintln(out, "leaderboard (by followers, all time):")
	for _, l := range lb.Leaders {
		fmt.Fprintf(out, "  #%d %s (id %d): %d followers, AUM %s, ROI %s, PnL %s\n",
			l.Rank, l.DisplayName, l.AccountID, l.Followers, l.AUM, l.ROI, l.PnL)
	}
	return nil
}
