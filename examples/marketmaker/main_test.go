package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

// These tests run the maker against an in-process istd, as
// examples/copyfollower does, and watch it only through the public API:
// the book, its output and the accounts.

const testAdmin = "example-admin"

// startServer starts istd on a free port and returns its base URL.
func startServer(t *testing.T) string {
	t.Helper()
	nop := zerolog.Nop()
	s, err := server.Open(&server.Options{DataDir: t.TempDir(), AdminToken: testAdmin, Logger: &nop})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	return "http://" + ln.Addr().String()
}

// syncBuffer is the maker's output, written by its goroutine while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitTimeout bounds every wait for a condition: generous, for slow
// machines under the race detector; a passing test waits milliseconds.
const waitTimeout = 20 * time.Second

// waitFor polls cond until it holds; it fails the test with cond's last
// description of what it saw when it does not within waitTimeout.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %v; last saw:\n%s", what, waitTimeout, saw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runMaker runs the maker with cfg in the background, printing to
// out, until the returned stop ends it: stop waits for run to return
// (failing the test if it does not within waitTimeout, or returns an
// error), logs the output and returns it. Ended with the test if not
// stopped before.
func runMaker(t *testing.T, cfg config, out *syncBuffer) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, out) }()
	var err error
	stopped := false
	t.Cleanup(func() {
		cancel()
		if !stopped {
			<-done
		}
	})
	return func() string {
		t.Helper()
		cancel()
		select {
		case err = <-done:
			stopped = true
		case <-time.After(waitTimeout):
			t.Fatalf("run did not return after its context ended\n%s", out.String())
		}
		s := out.String()
		t.Log(s)
		if err != nil {
			t.Fatalf("run: %v\n%s", err, s)
		}
		return s
	}
}

// call makes a request that must succeed.
func call(t *testing.T, c *client, method, path, body string, into any) {
	t.Helper()
	if err := c.call(context.Background(), method, path, body, into); err != nil {
		t.Fatal(err)
	}
}

// bookString returns the book of MM-USDT as "99.9×1 99.8×1 | 100.1×1"
// (or the error reading it), checking that every price is on the tick
// (0.01) and every quantity a whole number of lots (0.001).
func bookString(t *testing.T, c *client) string {
	t.Helper()
	var b struct {
		Bids [][2]string `json:"bids"`
		Asks [][2]string `json:"asks"`
	}
	if err := c.call(context.Background(), "GET", "/v1/markets/MM-USDT/book?depth=20", "", &b); err != nil {
		return err.Error() // the market may not exist yet
	}
	var sides [2]string
	for i, levels := range [][][2]string{b.Bids, b.Asks} {
		var parts []string
		for _, l := range levels {
			p, err1 := parseFixed(l[0])
			q, err2 := parseFixed(l[1])
			if err1 != nil || err2 != nil || p%1_000_000 != 0 || q%100_000 != 0 {
				t.Fatalf("level %v: not on the tick or the lot", l)
			}
			parts = append(parts, l[0]+"×"+l[1])
		}
		sides[i] = strings.Join(parts, " ")
		if sides[i] == "" {
			sides[i] = "-"
		}
	}
	return sides[0] + " | " + sides[1]
}

// waitBook waits until the book of MM-USDT reads want.
func waitBook(t *testing.T, c *client, want string) {
	t.Helper()
	waitFor(t, "the book "+want, func() (bool, string) {
		got := bookString(t, c)
		return got == want, got
	})
}

// newAccount signs up an account and deposits funds ("USDT:1000", ...)
// into it; it returns its id and a client with its token.
func newAccount(t *testing.T, base, name string, funds ...string) (uint64, *client) {
	t.Helper()
	var a struct {
		ID    uint64 `json:"id"`
		Token string `json:"token"`
	}
	call(t, newClient(base, ""), "POST", "/v1/accounts", fmt.Sprintf(`{"name":%q}`, name), &a)
	for _, f := range funds {
		asset, amount, _ := strings.Cut(f, ":")
		call(t, newClient(base, testAdmin), "POST", "/v1/admin/deposits",
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"%s-%s"}`, a.ID, asset, amount, name, asset), nil)
	}
	return a.ID, newClient(base, a.Token)
}

// take sends an IOC order of the taker and returns its fills as
// "price×quantity" strings.
func take(t *testing.T, taker *client, side, price, qty string) []string {
	t.Helper()
	var res struct {
		Fills []apiFill `json:"fills"`
	}
	call(t, taker, "POST", "/v1/orders", fmt.Sprintf(`{"market":"MM-USDT","side":%q,"type":"limit","price":%q,"quantity":%q,"time_in_force":"ioc"}`, side, price, qty), &res)
	var fills []string
	for _, f := range res.Fills {
		fills = append(fills, f.Price+"×"+f.Quantity)
	}
	return fills
}

// testConfig quotes MM-USDT: 3 levels of 1 MM, 20 bps wide, 10 bps
// apart, 10 bps of skew at the inventory cap of 5 MM, around 100; with
// the flags' dead man's switch (30 s) and cancel on disconnect.
func testConfig(base string) config {
	return config{Addr: base, Market: "MM-USDT", Levels: 3, SpreadBps: 20, StepBps: 10, SkewBps: 10,
		Size: "1", MaxInventory: "5", Mid: "100", Refresh: 50 * time.Millisecond,
		CancelAfter: 30 * time.Second, CancelOnDisconnect: true}
}

// The maker sets itself up with the admin token, quotes, re-quotes as a
// taker trades with it (leaning against its inventory, then stopping
// sells at the cap), and takes its orders off the book on exit.
func TestMarketMaker(t *testing.T) {
	base := startServer(t)
	pub := newClient(base, "")
	out := &syncBuffer{}
	cfg := testConfig(base)
	cfg.AdminToken = testAdmin
	cfg.Duration = time.Minute // a bound: the test stops it long before
	stop := runMaker(t, cfg, out)

	waitBook(t, pub, "99.9×1 99.8×1 99.7×1 | 100.1×1 100.2×1 100.3×1")
	if s := out.String(); !strings.Contains(s, "created market MM-USDT") {
		t.Errorf("no market created:\n%s", s)
	}
	_, taker := newAccount(t, base, "taker", "USDT:10000", "MM:100")

	fills := func(n int) func() (bool, string) {
		return func() (bool, string) {
			s := out.String()
			return strings.Count(s, "fill: ") >= n, s
		}
	}
	// Each step: what the taker does, what it gets, what the maker
	// prints, and the book the maker re-quotes to. The skew is 10 bps of
	// 100 × inventory / 5: 0.02 per MM.
	for i, st := range []struct {
		side, price, qty string
		fills            string
		printed          []string
		book             string
	}{
		{"buy", "100.1", "1", "100.1×1", []string{"fill: sell 1 MM-USDT @ 100.1, fee 0.1001 USDT (maker"},
			// short 1: up 0.02
			"99.92×1 99.82×1 99.72×1 | 100.12×1 100.22×1 100.32×1"},
		{"buy", "100.32", "3", "100.12×1 100.22×1 100.32×1", []string{"fill: sell 1 MM-USDT @ 100.32"},
			// short 4: up 0.08; one more MM to sell before the cap
			"99.98×1 99.88×1 99.78×1 | 100.18×1"},
		{"buy", "100.18", "1", "100.18×1", []string{"fill: sell 1 MM-USDT @ 100.18", "inventory -5 MM"},
			// short 5, at the cap: no asks
			"100×1 99.9×1 99.8×1 | -"},
		{"sell", "99.9", "2", "100×1 99.9×1", []string{"fill: buy 1 MM-USDT @ 99.9", "inventory -3 MM"},
			// short 3: up 0.06, room for two asks
			"99.96×1 99.86×1 99.76×1 | 100.16×1 100.26×1"},
	} {
		before := strings.Count(out.String(), "fill: ")
		got := strings.Join(take(t, taker, st.side, st.price, st.qty), " ")
		if got != st.fills {
			t.Fatalf("step %d: the taker's %s of %s at %s filled %s; want %s", i, st.side, st.qty, st.price, got, st.fills)
		}
		waitFor(t, fmt.Sprintf("step %d's fills printed", i), fills(before+strings.Count(st.fills, "×")))
		waitFor(t, fmt.Sprintf("step %d's fills printed", i), func() (bool, string) {
			s := out.String()
			for _, p := range st.printed {
				if !strings.Contains(s, p) {
					return false, s
				}
			}
			return true, s
		})
		waitBook(t, pub, st.book)
	}

	s := stop()
	// The book is a published view, a moment behind the cancels.
	waitBook(t, pub, "- | -")
	// 7 fills: short 5 at an average of 100.188, 2 bought back at 100 and
	// 99.9: 0.476 realised, less 10 bps of maker fees on 700.84 traded.
	for _, want := range []string{"cancelled 5 open orders in MM-USDT",
		"fills 7, volume 7 MM; inventory -3 MM; realised PnL -0.22484 USDT (fees 0.70084 USDT)"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the output", want)
		}
	}

	// Nothing of the maker's account is locked in an order any more.
	match := regexp.MustCompile(`account (mm-\d+) \(id (\d+)\)`).FindStringSubmatch(s)
	if match == nil {
		t.Fatal("the output does not name the maker's account")
	}
	id, _ := strconv.ParseUint(match[2], 10, 64)
	var accts struct {
		Accounts []struct {
			ID       uint64 `json:"id"`
			Balances []struct {
				Asset     string `json:"asset"`
				Available string `json:"available"`
				Locked    string `json:"locked"`
			} `json:"balances"`
		} `json:"accounts"`
	}
	call(t, newClient(base, testAdmin), "GET", "/v1/admin/accounts?limit=1000", "", &accts)
	found := false
	for _, a := range accts.Accounts {
		if a.ID != id {
			continue
		}
		found = true
		for _, b := range a.Balances {
			if b.Locked != "0" {
				t.Errorf("maker's %s: %s locked after the run", b.Asset, b.Locked)
			}
			if b.Asset == "MM" && b.Available != "13" { // 10 + 3 × 1 deposited, +2 of 5
				t.Errorf("maker's MM: %s", b.Available)
			}
		}
	}
	if !found {
		t.Errorf("account %d not listed", id)
	}
}

// createMarket creates MM-USDT as the maker would.
func createMarket(t *testing.T, base string) {
	t.Helper()
	if _, err := loadMarket(context.Background(), newClient(base, ""), newClient(base, testAdmin), "MM-USDT", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}

// openOrders returns the open orders of an account in MM-USDT.
func openOrders(t *testing.T, c *client) []apiOrder {
	t.Helper()
	var res struct {
		Orders []apiOrder `json:"orders"`
	}
	call(t, c, "GET", "/v1/orders?market=MM-USDT&status=open", "", &res)
	return res.Orders
}

// With a user token, the maker adopts the account's open orders in the
// market (amending them into its ladder rather than placing more), and
// ends by itself after --duration with none open.
func TestMarketMakerUserToken(t *testing.T) {
	base := startServer(t)
	pub := newClient(base, "")
	createMarket(t, base)
	_, acct := newAccount(t, base, "mm-user", "MM:20", "USDT:5000")
	var stray struct {
		Order apiOrder `json:"order"`
	}
	call(t, acct, "POST", "/v1/orders", `{"market":"MM-USDT","side":"sell","type":"limit","price":"105","quantity":"2","client_order_id":"by-hand"}`, &stray)

	out := &syncBuffer{}
	cfg := testConfig(base)
	cfg.Token = acct.token
	cfg.Duration = 2 * time.Second
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- run(context.Background(), cfg, out) }()
	waitFor(t, "the ladder, or the end of the run", func() (bool, string) {
		got := bookString(t, pub)
		return got == "99.9×1 99.8×1 99.7×1 | 100.1×1 100.2×1 100.3×1" || len(done) > 0, got
	})
	if len(done) > 0 {
		t.Fatalf("the run ended (after %v) before its ladder was seen\n%s", time.Since(start), out.String())
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("run did not end after its duration\n%s", out.String())
	}
	s := out.String()
	t.Log(s)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if d := time.Since(start); d < cfg.Duration {
		t.Errorf("the run ended after %v, before its duration", d)
	}
	for _, want := range []string{"adopted 1 open orders of the account in MM-USDT", "orders placed 5, amended 1, cancelled 6"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	if strings.Contains(s, "created market") || strings.Contains(s, "deposited") {
		t.Error("set up with a user token")
	}
	if n := len(openOrders(t, acct)); n != 0 {
		t.Errorf("%d orders open after the run", n)
	}
	var o apiOrder
	call(t, acct, "GET", fmt.Sprintf("/v1/orders/%d", stray.Order.ID), "", &o)
	if o.Status != "cancelled" || o.Price == "105" || o.Quantity != "1" {
		t.Errorf("the adopted order was not amended into the ladder: %+v", o)
	}
}

// The maker's core, driven step by step without the stream: a post-only
// quote that would cross steps away, and after a gap a resync finds what
// it missed (a fill and an order cancelled behind its back) and repairs
// the ladder.
func TestMakerResync(t *testing.T) {
	base := startServer(t)
	pub := newClient(base, "")
	createMarket(t, base)
	_, acct := newAccount(t, base, "mm-core", "MM:20", "USDT:5000")
	_, other := newAccount(t, base, "other", "MM:20", "USDT:5000")
	ctx := context.Background()

	cfg := testConfig(base)
	mkt, err := loadMarket(ctx, acct, nil, "MM-USDT", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	spec, mid, err := cfg.spec(&mkt)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	m := newMaker(acct, mkt, spec, mid, out)
	if err := m.start(ctx); err != nil {
		t.Fatal(err)
	}

	// Another account bids 100.1 after the maker read the book: the
	// maker's ask at 100.1 would cross, and steps a tick away.
	var bid struct {
		Order apiOrder `json:"order"`
	}
	call(t, other, "POST", "/v1/orders", `{"market":"MM-USDT","side":"buy","type":"limit","price":"100.1","quantity":"1"}`, &bid)
	if err := m.requote(ctx); err != nil {
		t.Fatal(err)
	}
	waitBook(t, pub, "100.1×1 99.9×1 99.8×1 99.7×1 | 100.11×1 100.2×1 100.3×1")
	// Once it is gone and the book read again, the ask goes back.
	call(t, other, "DELETE", fmt.Sprintf("/v1/orders/%d", bid.Order.ID), "", nil)
	waitFor(t, "the maker to see the other bid gone", func() (bool, string) {
		if err := m.readBook(ctx); err != nil {
			t.Fatal(err)
		}
		return m.others == touch{}, fmt.Sprintf("%+v", m.others)
	})
	if err := m.requote(ctx); err != nil {
		t.Fatal(err)
	}
	waitBook(t, pub, "99.9×1 99.8×1 99.7×1 | 100.1×1 100.2×1 100.3×1")

	// Behind the maker's back: a fill of its best ask, and its worst bid
	// cancelled. Without the stream it knows of neither.
	if got := take(t, other, "buy", "100.1", "1"); len(got) != 1 {
		t.Fatalf("the taker got %v", got)
	}
	var worst uint64
	for _, o := range m.orders {
		if o.side == buy && o.price == 9970 {
			worst = o.id
		}
	}
	call(t, acct, "DELETE", fmt.Sprintf("/v1/orders/%d", worst), "", nil)
	if len(m.orders) != 6 || m.pos.inv != 0 {
		t.Fatalf("the maker learnt of them without a resync: %d orders, inventory %d", len(m.orders), m.pos.inv)
	}

	m.handle(&event{kind: evGap, msg: "stream: gap in fills before message 3"})
	if !m.needResync {
		t.Fatal("a gap does not ask for a resync")
	}
	if err := m.resync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(m.orders) != 4 || m.pos.inv != -1000 || m.pos.fills != 1 {
		t.Fatalf("after the resync: %d orders open, inventory %d lots, %d fills; want 4, -1000, 1", len(m.orders), m.pos.inv, m.pos.fills)
	}
	if err := m.requote(ctx); err != nil {
		t.Fatal(err)
	}
	waitBook(t, pub, "99.92×1 99.82×1 99.72×1 | 100.12×1 100.22×1 100.32×1")
	if n := len(openOrders(t, acct)); n != 6 || len(m.orders) != 6 {
		t.Errorf("%d orders open (the maker knows of %d); want 6", n, len(m.orders))
	}
	s := out.String()
	for _, want := range []string{"stream: gap in fills before message 3: resyncing", "fill: sell 1 MM-USDT @ 100.1"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the output:\n%s", want, s)
		}
	}

	// A partial fill: 0.4 of the best ask. Short 1.4, the ladder goes up
	// 2.8 ticks, rounded to 3; the order partly filled moves up with it
	// and back to 1 open, which its amend asks for as a total of 1.4.
	if got := take(t, other, "buy", "100.12", "0.4"); len(got) != 1 {
		t.Fatalf("the taker got %v", got)
	}
	if err := m.resync(ctx); err != nil {
		t.Fatal(err)
	}
	var partial *order
	for _, o := range m.orders {
		if o.filled > 0 {
			partial = o
		}
	}
	if partial == nil || partial.filled != 400 || partial.price != 10_012 {
		t.Fatalf("the partly filled order: %+v", partial)
	}
	if err := m.requote(ctx); err != nil {
		t.Fatal(err)
	}
	waitBook(t, pub, "99.93×1 99.83×1 99.73×1 | 100.13×1 100.23×1 100.33×1")
	var o apiOrder
	call(t, acct, "GET", fmt.Sprintf("/v1/orders/%d", partial.id), "", &o)
	if o.Price != "100.13" || o.Quantity != "1.4" || o.Filled != "0.4" || o.Status != "partially_filled" {
		t.Errorf("the partly filled order after the re-quote: %+v", o)
	}

	// The stream may bring what the resync already booked, and order
	// messages older than what the maker knows: neither counts twice or
	// moves it back.
	var fills struct {
		Fills []apiFill `json:"fills"`
	}
	call(t, acct, "GET", "/v1/fills?market=MM-USDT", "", &fills)
	if len(fills.Fills) != 2 {
		t.Fatalf("the maker's fills: %+v", fills.Fills)
	}
	printed := strings.Count(out.String(), "fill: ")
	for _, f := range fills.Fills {
		m.handle(&event{kind: evFill, fill: f})
	}
	stale := o
	stale.Filled, stale.Status = "0", "open"
	m.handle(&event{kind: evOrder, order: stale})
	if m.pos.inv != -1400 || m.pos.fills != 2 || strings.Count(out.String(), "fill: ") != printed {
		t.Errorf("fills seen again were booked again: inventory %d lots, %d fills", m.pos.inv, m.pos.fills)
	}
	if got := m.orders[partial.id]; got == nil || got.filled != 400 {
		t.Errorf("a stale order message moved the order back: %+v", got)
	}

	// A resend of a placement is the same order (what client relies on
	// when it resends after a lost answer).
	body := `{"market":"MM-USDT","side":"buy","type":"limit","price":"90","quantity":"1","post_only":true,"client_order_id":"mm-resend"}`
	var first, again struct {
		Order apiOrder `json:"order"`
	}
	call(t, acct, "POST", "/v1/orders", body, &first)
	call(t, acct, "POST", "/v1/orders", body, &again)
	if first.Order.ID == 0 || again.Order.ID != first.Order.ID {
		t.Errorf("a resent placement: order %d, then %d", first.Order.ID, again.Order.ID)
	}

	if err := m.cancelAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(openOrders(t, acct)); n != 0 {
		t.Errorf("%d orders open after cancelAll", n)
	}
}

// Bad configurations are refused before any request.
func TestConfigCheck(t *testing.T) {
	good := testConfig("http://127.0.0.1:1")
	good.Token = "t"
	for _, d := range []time.Duration{0, time.Second, 24 * time.Hour} {
		good.CancelAfter = d
		if err := good.check(); err != nil {
			t.Fatalf("a good configuration (--cancel-after %v): %v", d, err)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*config)
		want string
	}{
		{"no token", func(c *config) { c.Token = "" }, "--token"},
		{"no levels", func(c *config) { c.Levels = 0 }, "--levels"},
		{"too many levels", func(c *config) { c.Levels = maxLevels + 1 }, "--levels"},
		{"negative spread", func(c *config) { c.SpreadBps = -1 }, "--spread-bps"},
		{"size not a number", func(c *config) { c.Size = "1e3" }, "--size"},
		{"size zero", func(c *config) { c.Size = "0" }, "--size"},
		{"negative inventory cap", func(c *config) { c.MaxInventory = "-1" }, "--max-inventory"},
		{"no mid", func(c *config) { c.Mid = "" }, "--mid"},
		{"negative duration", func(c *config) { c.Duration = -time.Second }, "--duration"},
		{"switch too short", func(c *config) { c.CancelAfter = 999 * time.Millisecond }, "--cancel-after"},
		{"switch too long", func(c *config) { c.CancelAfter = 24*time.Hour + time.Millisecond }, "--cancel-after"},
		{"negative switch", func(c *config) { c.CancelAfter = -time.Second }, "--cancel-after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := run(context.Background(), c, &bytes.Buffer{}) // refused before dialing the unused port
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v; want a usage error naming %s", err, tc.want)
			}
		})
	}

	// What needs the market's rules: sizes below a lot.
	m := testMarket()
	for _, c := range []config{{Size: "0.0001", MaxInventory: "1", Mid: "1"}, {Size: "1", MaxInventory: "0.0009", Mid: "1"}, {Size: "1", MaxInventory: "1", Mid: "0.001"}} {
		if _, _, err := c.spec(m); !errors.Is(err, errUsage) {
			t.Errorf("%+v: err %v; want a usage error", c, err)
		}
	}
	sp, mid, err := (&config{Size: "1.2345", MaxInventory: "10.0009", Mid: "100.006"}).spec(m)
	if err != nil || sp.size != 1234 || sp.maxInv != 10_000 || mid != 10_001 {
		t.Errorf("spec: size %d, max inventory %d, mid %d, %v; want 1234, 10000, 10001 (lots down, mid to the nearest tick)", sp.size, sp.maxInv, mid, err)
	}
}
