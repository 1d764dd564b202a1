// Command marketmaker is a market maker for a running istd, over its
// public HTTP API and WebSocket stream only. It keeps a ladder of
// post-only limit orders on both sides of a market around a reference
// price (the middle of the best bid and ask of the others' orders, or
// --mid while they have no bid and ask), leans the ladder against its
// inventory (holding base lowers both sides), stops buying or selling at
// --max-inventory, and re-quotes as its orders fill. On exit (SIGINT,
// SIGTERM or --duration) it cancels all its orders in the market and
// prints a summary: orders placed, fills, inventory and realised PnL.
//
//	go run ./cmd/istd --admin-token secret &
//	go run ./examples/marketmaker --admin-token secret --duration 1m
//	go run ./examples/marketmaker --token USER-TOKEN --market BTC-USDT --mid 65000 --size 0.01
//
// Its quotes do not outlive it. Before it places anything it arms the
// market's dead man's switch (POST /v1/orders/cancel-all-after,
// --cancel-after, 30 s by default; 0: off) and renews it every third of
// that from a goroutine of its own, so that a slow order request never
// holds a renewal back: if the maker dies, hangs or loses istd, istd
// cancels its orders in the market when the time runs out. A renewal
// that fails is printed and tried again; while the switch's last
// deadline has passed the maker places nothing. Its stream asks istd to
// cancel those orders too as soon as the connection ends
// (cancel_on_disconnect, on every reconnection; --cancel-on-disconnect=false
// keeps them): after a reconnection the maker's resync finds them gone
// and it quotes again. At exit it disarms the switch once its orders are
// cancelled, and leaves it armed, to cancel them, if some could not be.
//
// It prints a line per fill and the summary:
//
//	dead man's switch armed: istd cancels the orders in MM-USDT unless renewed within 30s (renewed every 10s)
//	fill: sell 1 MM-USDT @ 100.1, fee 0.1001 USDT (maker, order 1, trade 1); inventory -1 MM, realised PnL -0.1001 USDT
//	summary: orders placed 7, amended 5, cancelled 6; fills 1, volume 1 MM; inventory -1 MM; realised PnL -0.1001 USDT (fees 0.1001 USDT)
//
// With only the admin token (or IST_ADMIN_TOKEN) it sets itself up: it
// creates the market if missing (tick 0.01, lot 0.001, min notional 1)
// and an account of its own, funded by admin deposits. With a user token
// (--token or IST_TOKEN) it trades that account, which must hold the
// funds, in an existing market; it then treats every open order of the
// account in that market as its own: it adopts them at start and cancels
// them at exit.
//
// How it works: it reads the market's tick, lot and minimum notional
// (GET /v1/markets) and computes in whole ticks and lots (ladder.go),
// subscribes to its fills and orders on the stream (stream.go), and
// turns its orders into the ladder with as few requests as it can:
// amending orders in place (PATCH /v1/orders/{id}), cancelling and
// placing only what is left over (plan.go). Every placement carries a
// client_order_id, so resending it after a lost answer cannot place it
// twice; 429 and 503 answers are retried with backoff (client.go). A gap
// in the stream, or a reconnection, makes it resync from GET /v1/orders
// and GET /v1/fills (maker.go). The switch's renewals are in deadman.go.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.Addr, "addr", "http://127.0.0.1:8080", "istd base URL")
	flag.StringVar(&cfg.Token, "token", os.Getenv("IST_TOKEN"), "user token of the account to trade (IST_TOKEN)")
	flag.StringVar(&cfg.AdminToken, "admin-token", os.Getenv("IST_ADMIN_TOKEN"),
		"admin token, to create the market and an account when no user token is given (IST_ADMIN_TOKEN)")
	flag.StringVar(&cfg.Market, "market", defaultMarket, "market to quote")
	flag.IntVar(&cfg.Levels, "levels", 3, "quotes per side")
	flag.Int64Var(&cfg.SpreadBps, "spread-bps", 20, "from the innermost bid to the innermost ask, in basis points of the reference price")
	flag.Int64Var(&cfg.StepBps, "step-bps", 10, "between successive quotes of a side, in basis points")
	flag.Int64Var(&cfg.SkewBps, "skew-bps", 10, "how far both sides move, in basis points, at full inventory (down when long)")
	flag.StringVar(&cfg.Size, "size", "1", "quantity of each quote, in base (rounded down to the lot)")
	flag.StringVar(&cfg.MaxInventory, "max-inventory", "10", "largest inventory, long or short, in base: a side is not quoted beyond it")
	flag.StringVar(&cfg.Mid, "mid", "100", "reference price while the book has no bid and ask of others (rounded to the tick)")
	flag.DurationVar(&cfg.Duration, "duration", 0, "how long to run; 0: until SIGINT or SIGTERM")
	flag.DurationVar(&cfg.Refresh, "refresh", time.Second, "how often to re-read the book and re-quote, besides on fills")
	flag.DurationVar(&cfg.CancelAfter, "cancel-after", 30*time.Second,
		"dead man's switch: istd cancels the orders unless the maker renews it within this time (renewed every third of it); 1s to 24h, 0: off")
	flag.BoolVar(&cfg.CancelOnDisconnect, "cancel-on-disconnect", true, "istd cancels the orders when the maker's stream connection ends")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "marketmaker:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// defaultMarket is the market quoted without --market; the maker creates
// it when it has the admin token.
const defaultMarket = "MM-USDT"

// config is what the flags set.
type config struct {
	Addr       string
	Token      string // user token; empty: set up with AdminToken
	AdminToken string
	Market     string

	Levels    int
	SpreadBps int64
	StepBps   int64
	SkewBps   int64

	// Decimal strings, rounded to the market's lot or tick once its
	// rules are known.
	Size         string
	MaxInventory string
	Mid          string

	Duration time.Duration // 0: until ctx ends
	Refresh  time.Duration // default 1 s

	// The dead man's switch's timeout (0: none), and whether the stream
	// enables cancel_on_disconnect. Zero values are off; the flags'
	// defaults are 30 s and on.
	CancelAfter        time.Duration
	CancelOnDisconnect bool
}

// errUsage marks a bad configuration.
var errUsage = errors.New("marketmaker: bad usage")

// maxLevels bounds --levels: the book is read that deep (plus one), well
// within istd's default book depth.
const maxLevels = 20

// minCancelAfter and maxCancelAfter bound --cancel-after (0 aside), as
// istd bounds timeout_ms. istd takes milliseconds: a finer duration is
// truncated.
const (
	minCancelAfter = time.Second
	maxCancelAfter = 24 * time.Hour
)

// check validates what does not need the market's rules.
func (c *config) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Token == "" && c.AdminToken == "" {
		bad("--token (IST_TOKEN) or --admin-token (IST_ADMIN_TOKEN) is required")
	}
	if c.Levels < 1 || c.Levels > maxLevels {
		bad("--levels must be 1 to %d", maxLevels)
	}
	if c.SpreadBps < 0 || c.StepBps < 0 || c.SkewBps < 0 || c.SpreadBps > 10_000 || c.StepBps > 10_000 || c.SkewBps > 10_000 {
		bad("--spread-bps, --step-bps and --skew-bps must be 0 to 10000")
	}
	for _, f := range []struct{ name, v string }{{"--size", c.Size}, {"--max-inventory", c.MaxInventory}, {"--mid", c.Mid}} {
		if v, err := parseFixed(f.v); err != nil || v <= 0 {
			bad("%s %q must be a positive decimal number", f.name, f.v)
		}
	}
	if c.Duration < 0 || c.Refresh < 0 {
		bad("--duration and --refresh must not be negative")
	}
	if c.CancelAfter != 0 && (c.CancelAfter < minCancelAfter || c.CancelAfter > maxCancelAfter) {
		bad("--cancel-after must be 0 (off) or %v to %v", minCancelAfter, maxCancelAfter)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errUsage, errors.Join(errs...))
	}
	return nil
}

// spec returns the ladder and the reference price of the configuration
// in mkt's integers: size and inventory cap rounded down to the lot, mid
// to the nearest tick.
func (c *config) spec(mkt *market) (ladderSpec, int64, error) {
	size, _ := parseFixed(c.Size)
	maxInv, _ := parseFixed(c.MaxInventory)
	mid, _ := parseFixed(c.Mid)
	sp := ladderSpec{levels: c.Levels, spreadBps: c.SpreadBps, stepBps: c.StepBps, skewBps: c.SkewBps,
		size: roundTo(size, mkt.lot, roundDown), maxInv: roundTo(maxInv, mkt.lot, roundDown), market: mkt}
	midTicks := roundTo(mid, mkt.tick, roundNearest)
	switch {
	case sp.size < 1:
		return sp, 0, fmt.Errorf("%w: --size %s is below the lot size %s of %s", errUsage, c.Size, formatFixed(mkt.lot), mkt.symbol)
	case sp.maxInv < 1:
		return sp, 0, fmt.Errorf("%w: --max-inventory %s is below the lot size %s of %s", errUsage, c.MaxInventory, formatFixed(mkt.lot), mkt.symbol)
	case midTicks < 1 || midTicks > mkt.maxPrice:
		return sp, 0, fmt.Errorf("%w: --mid %s is not a valid price in %s (tick %s)", errUsage, c.Mid, mkt.symbol, formatFixed(mkt.tick))
	}
	return sp, midTicks, nil
}

// run is the market maker against the istd at cfg.Addr, printing its
// fills, warnings and summary to out. It quotes until ctx ends or
// cfg.Duration passes, then cancels its orders, disarms its dead man's
// switch and prints the summary; it returns an error if it could not
// start (also if it could not arm the switch), if the server refused its
// token, or if its orders could not all be cancelled (then it leaves the
// switch armed, to cancel them).
func run(ctx context.Context, cfg config, out io.Writer) error {
	if err := cfg.check(); err != nil {
		return err
	}
	out = &lockedWriter{w: out} // the switch's renewals print from a goroutine of their own
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	api := newClient(cfg.Addr, cfg.Token)
	var admin *client
	if cfg.AdminToken != "" {
		admin = api.with(cfg.AdminToken)
	}
	mkt, err := loadMarket(ctx, api, admin, cmp.Or(cfg.Market, defaultMarket), out)
	if err != nil {
		return err
	}
	spec, mid, err := cfg.spec(&mkt)
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		tok, err := setupAccount(ctx, admin, &spec, mid, out)
		if err != nil {
			return err
		}
		api = api.with(tok)
	}
	fmt.Fprintf(out, "quoting %s: %d levels a side of %s %s, spread %d bps, step %d bps, skew %d bps, max inventory %s %s (tick %s, lot %s, min notional %s %s)\n",
		mkt.symbol, spec.levels, mkt.qty(spec.size), mkt.base, cfg.SpreadBps, cfg.StepBps, cfg.SkewBps,
		mkt.qty(spec.maxInv), mkt.base, formatFixed(mkt.tick), formatFixed(mkt.lot), formatFixed(mkt.minNotional), mkt.quote)
	m := newMaker(api, mkt, spec, mid, out)

	// The switch is armed before anything is placed, and renewed until
	// the orders are cancelled at exit, after the run's context ended.
	stopRenewing := func() {}
	if cfg.CancelAfter > 0 {
		m.deadman = newDeadman(api, mkt.symbol, cfg.CancelAfter, out)
		if _, err := m.deadman.arm(ctx); err != nil {
			return fmt.Errorf("arming the dead man's switch: %w", classify(err))
		}
		fmt.Fprintf(out, "dead man's switch armed: istd cancels the orders in %s unless renewed within %v (renewed every %v)\n",
			mkt.symbol, cfg.CancelAfter, m.deadman.period())
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			m.deadman.renew(rctx)
		}()
		stopRenewing = func() { cancel(); <-renewed }
	}
	// disarm stops the renewals and disarms the switch, once nothing is
	// left for it to cancel. The run's context may be over: it gets a
	// time of its own.
	disarm := func() error {
		stopRenewing()
		if m.deadman == nil {
			return nil
		}
		dctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
		defer cancel()
		if err := m.deadman.disarm(dctx); err != nil {
			return fmt.Errorf("disarming the dead man's switch: %w", err)
		}
		fmt.Fprintf(out, "dead man's switch disarmed\n")
		return nil
	}

	// Subscribed before anything is read: no fill can fall in between.
	// The stream outlives the run's context until the orders are
	// cancelled: with cancel_on_disconnect its end cancels them too, and
	// racing cancelAll it would leave the maker unsure of what it
	// cancelled.
	codMarket := ""
	if cfg.CancelOnDisconnect {
		codMarket = mkt.symbol
	}
	url := streamURL(cfg.Addr)
	ws, err := dialStream(ctx, url, api.token, codMarket)
	if err != nil {
		return errors.Join(err, disarm())
	}
	sctx, stopStream := context.WithCancel(context.WithoutCancel(ctx))
	events := make(chan event, 1024)
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		readStream(sctx, ws, url, api.token, codMarket, events)
	}()
	defer func() { stopStream(); <-streamDone }()

	err = m.loop(ctx, events, cmp.Or(cfg.Refresh, time.Second))

	// Whatever ended the loop, take the orders off the book, then disarm
	// the switch; unless some order may be left: the switch, no longer
	// renewed, cancels it.
	cctx, cancel := context.WithTimeout(context.Background(), 3*requestTimeout)
	defer cancel()
	if cerr := m.cancelAll(cctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("cancelling the orders: %w", cerr))
		stopRenewing()
		if m.deadman != nil {
			fmt.Fprintf(out, "dead man's switch left armed: istd cancels the orders left in %s within %v\n", mkt.symbol, cfg.CancelAfter)
		}
	} else {
		err = errors.Join(err, disarm())
	}
	m.summary()
	return err
}

// loop quotes until ctx ends: it re-quotes after each batch of stream
// events and every refresh, re-reading the book then. It returns nil
// when ctx ends, or a fatal error.
func (m *maker) loop(ctx context.Context, events <-chan event, refresh time.Duration) error {
	if err := m.start(ctx); err != nil {
		return err
	}
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		if m.needResync {
			if err := m.resync(ctx); err != nil {
				if errors.Is(err, errFatal) {
					return err
				}
				m.warn("resync: %v", err)
			}
		}
		if err := m.requote(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			m.handle(&ev)
		drain: // the rest of the batch, so one re-quote covers it
			for range cap(events) {
				select {
				case ev := <-events:
					m.handle(&ev)
				default:
					break drain
				}
			}
		case <-t.C:
			if err := m.readBook(ctx); err != nil {
				if err = classify(err); errors.Is(err, errFatal) {
					return err
				}
				m.warn("reading the book: %v", err)
			}
		}
	}
}
