package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// What the maker sets up with the admin token when it is given no user
// token: its market, if missing, and an account of its own, funded.

// The rules of a market the maker creates.
const (
	newTickSize    = "0.01"
	newLotSize     = "0.001"
	newMinNotional = "1"
	newMakerFeeBps = 10
	newTakerFeeBps = 20
)

// errNoMarket is returned when the market does not exist and there is no
// admin token to create it.
var errNoMarket = errors.New("marketmaker: no such market")

// loadMarket returns the rules of market symbol (GET /v1/markets). If it
// does not exist and admin is not nil, it creates it first (POST
// /v1/admin/markets) with the rules above.
func loadMarket(ctx context.Context, api, admin *client, symbol string, out io.Writer) (market, error) {
	find := func() (*apiMarket, error) {
		var res struct {
			Markets []apiMarket `json:"markets"`
		}
		if err := api.call(ctx, "GET", "/v1/markets", "", &res); err != nil {
			return nil, err
		}
		for i := range res.Markets {
			if res.Markets[i].Symbol == symbol {
				return &res.Markets[i], nil
			}
		}
		return nil, nil
	}
	a, err := find()
	if err != nil {
		return market{}, err
	}
	if a == nil {
		if admin == nil {
			return market{}, fmt.Errorf("%w %s (give --admin-token to create it)", errNoMarket, symbol)
		}
		base, quote, ok := strings.Cut(symbol, "-")
		if !ok {
			return market{}, fmt.Errorf("market %q: not BASE-QUOTE", symbol)
		}
		body := fmt.Sprintf(`{"symbol":%q,"base":%q,"quote":%q,"tick_size":%q,"lot_size":%q,"min_notional":%q,"maker_fee_bps":%d,"taker_fee_bps":%d}`,
			symbol, base, quote, newTickSize, newLotSize, newMinNotional, newMakerFeeBps, newTakerFeeBps)
		if err := admin.call(ctx, "POST", "/v1/admin/markets", body, nil); err != nil && errCode(err) != "already_exists" {
			return market{}, err
		}
		fmt.Fprintf(out, "created market %s\n", symbol)
		if a, err = find(); err != nil {
			return market{}, err
		}
		if a == nil {
			return market{}, fmt.Errorf("%w %s: created, yet not listed", errNoMarket, symbol)
		}
	}
	return newMarket(a)
}

// setupAccount signs up an account for the maker and deposits (with the
// admin token) enough to quote spec around mid (ticks) with room to
// spare: twice the base the asks and the inventory cap can sell, and
// quote for twice that at twice mid. It returns the account's token.
func setupAccount(ctx context.Context, admin *client, spec *ladderSpec, mid int64, out io.Writer) (string, error) {
	mkt := spec.market
	var acct struct {
		ID    uint64 `json:"id"`
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	name := fmt.Sprintf("mm-%d", time.Now().UnixNano()%1e12)
	if err := admin.with("").call(ctx, "POST", "/v1/accounts", fmt.Sprintf(`{"name":%q}`, name), &acct); err != nil {
		return "", err
	}
	baseLots := 2 * (spec.maxInv + int64(spec.levels)*spec.size)
	base, ok1 := mulDiv(roundUp, 1, baseLots, mkt.lot)
	quote, ok2 := mulDiv(roundUp, fixedOne, 2, base, mid, mkt.tick)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("deposits for %d lots at %s overflow", baseLots, mkt.price(mid))
	}
	for _, d := range []struct {
		asset  string
		amount int64
	}{{mkt.base, base}, {mkt.quote, quote}} {
		body := fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"mm-%d-%s"}`, acct.ID, d.asset, formatFixed(d.amount), acct.ID, d.asset)
		if err := admin.call(ctx, "POST", "/v1/admin/deposits", body, nil); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(out, "account %s (id %d): deposited %s %s and %s %s\n",
		acct.Name, acct.ID, formatFixed(base), mkt.base, formatFixed(quote), mkt.quote)
	return acct.Token, nil
}
