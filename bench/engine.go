package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// EngineConfig sizes an engine benchmark.
type EngineConfig struct {
	Producers int     // submitting goroutines (closed loop)
	Commands  int     // commands per run
	Accounts  int     // funded trading accounts
	Rate      float64 // offered commands/s (open loop)
	Seed      uint64
	RingSize  int
	Journal   engine.Journal // nil: in-memory, discarding
}

// EngineResult is what an engine benchmark measured.
type EngineResult struct {
	Commands   int
	Elapsed    time.Duration
	CmdsPerSec float64
	Trades     int64
	Rejected   int64
	// Open loop only: submit-to-result latency in ns, measured from each
	// command's intended send time (corrected for coordinated omission).
	P50, P99, P999, P9999, Max int64
	// Achieved is the rate the open-loop generator actually reached.
	Achieved float64
}

// setupEngine opens an engine with one market and cfg.Accounts funded
// accounts.
func setupEngine(cfg EngineConfig) (*engine.Engine, error) {
	e, err := engine.Open(&engine.Options{RingSize: cfg.RingSize, Journal: cfg.Journal})
	if err != nil {
		return nil, err
	}
	name := func(s string) engine.Name { n, _ := engine.MakeName(s); return n }
	cmds := []engine.Command{
		{Kind: engine.CmdCreateAsset, Name: name("BTC")},
		{Kind: engine.CmdCreateAsset, Name: name("USDT")},
		{Kind: engine.CmdCreateMarket, Name: name("BTC-USDT"), Spec: engine.MarketSpec{
			Base: 1, Quote: 2, BaseScale: 1, QuoteScale: 1, MakerFeeBps: 10, TakerFeeBps: 20,
			Rules: book.Rules{MaxPrice: 1 << 24, MaxQty: 1 << 20}}},
	}
	for a := 1; a <= cfg.Accounts; a++ {
		cmds = append(cmds,
			engine.Command{Kind: engine.CmdCreateAccount, Name: name(fmt.Sprint("bench", a))},
			engine.Command{Kind: engine.CmdDeposit, Account: uint64(a), Asset: 1, Amount: 1 << 50},
			engine.Command{Kind: engine.CmdDeposit, Account: uint64(a), Asset: 2, Amount: 1 << 50})
	}
	for i := range cmds {
		res, err := e.Do(context.Background(), &cmds[i], nil)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("bench: setup %v: %w", cmds[i].Kind, err)
		}
	}
	return e, nil
}

// orderFlow generates a trading command stream for one producer: limit
// orders around a mid price (a fifth of them crossing), cancels of the
// producer's recent orders, and some market orders.
type orderFlow struct {
	r        *rand.Rand
	accounts []uint64
	recent   [64]atomic.Uint64 // order ids placed by this producer, set by results
	n        atomic.Uint64
}

func newOrderFlow(seed uint64, p, producers, accounts int) *orderFlow {
	f := &orderFlow{r: rand.New(rand.NewPCG(seed, uint64(p)))}
	for a := p + 1; a <= accounts; a += producers {
		f.accounts = append(f.accounts, uint64(a))
	}
	return f
}

// next fills c with the next command.
func (f *orderFlow) next(c *engine.Command) {
	r := f.r
	acct := f.accounts[r.IntN(len(f.accounts))]
	*c = engine.Command{Kind: engine.CmdPlace, Account: acct, Market: 1}
	switch k := r.IntN(100); {
	case k < 30 && f.n.Load() > 0:
		c.Kind = engine.CmdCancel
		c.OrderID = f.recent[r.IntN(len(f.recent))].Load()
		c.Account = f.accounts[0]
	case k < 38:
		c.Order = book.Order{Side: book.Side(r.IntN(2)), Type: book.Market, Qty: 1 + int64(r.IntN(50))}
	default:
		side := book.Side(r.IntN(2))
		off := int64(1 + r.IntN(40))
		if r.IntN(5) == 0 {
			off = -int64(r.IntN(3)) // crossing
		}
		price := int64(100_000) - off
		if side == book.Sell {
			price = 100_000 + off
		}
		c.Order = book.Order{Side: side, Price: price, Qty: 1 + int64(r.IntN(100))}
	}
}

// record notes an order this producer placed from its first account (the
// one its cancels use).
func (f *orderFlow) record(res *engine.Result, acct uint64) {
	if res.Kind == engine.CmdPlace && res.Err == nil && !res.Duplicate && acct == f.accounts[0] {
		i := f.n.Add(1)
		f.recent[i%uint64(len(f.recent))].Store(res.ID)
	}
}

// count tallies trades and rejections of a result.
func count(res *engine.Result, trades, rejected *atomic.Int64) {
	if res.Err != nil {
		rejected.Add(1)
	}
	n := int64(0)
	for i := range res.Events {
		if res.Events[i].Kind == book.EvTrade {
			n++
		}
	}
	trades.Add(n)
}

// EngineClosedLoop drives the pipeline as fast as it accepts commands:
// cfg.Producers goroutines each submit cfg.Commands/Producers commands,
// waiting only when the ingress ring is full. Throughput is commands
// delivered per second, from the first submit to the last result.
func EngineClosedLoop(cfg EngineConfig) (EngineResult, error) {
	e, err := setupEngine(cfg)
	if err != nil {
		return EngineResult{}, err
	}
	defer e.Close()
	per := cfg.Commands / cfg.Producers
	var trades, rejected atomic.Int64
	var wg, done sync.WaitGroup
	done.Add(per * cfg.Producers)
	runtime.GC()
	start := time.Now()
	for p := range cfg.Producers {
		f := newOrderFlow(cfg.Seed, p, cfg.Producers, cfg.Accounts)
		cb := func(res *engine.Result) {
			f.record(res, res.Tag)
			count(res, &trades, &rejected)
			done.Done()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c engine.Command
			for range per {
				f.next(&c)
				c.Tag = c.Account
				if err := e.Submit(context.Background(), &c, cb); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	done.Wait()
	el := time.Since(start)
	n := per * cfg.Producers
	return EngineResult{Commands: n, Elapsed: el, CmdsPerSec: float64(n) / el.Seconds(),
		Trades: trades.Load(), Rejected: rejected.Load()}, nil
}

// EngineOpenLoop offers commands at cfg.Rate per second from one
// generator goroutine, each with an intended send time start + i/Rate, and
// records submit-to-result latency from that intended time in an HDR
// histogram, so that a stall is charged to every command it delayed
// (no coordinated omission).
func EngineOpenLoop(cfg EngineConfig) (EngineResult, error) {
	e, err := setupEngine(cfg)
	if err != nil {
		return EngineResult{}, err
	}
	defer e.Close()
	hist := hdrhistogram.New(1, int64(10*time.Second), 3)
	var trades, rejected atomic.Int64
	var done sync.WaitGroup
	done.Add(cfg.Commands)
	f := newOrderFlow(cfg.Seed, 0, cfg.Accounts, cfg.Accounts) // one account: its cancels find its orders
	epoch := time.Now()
	cb := func(res *engine.Result) {
		lat := int64(time.Since(epoch)) - int64(res.Tag)
		_ = hist.RecordValue(max(lat, 1)) // only the output goroutine records
		f.record(res, f.accounts[0])
		count(res, &trades, &rejected)
		done.Done()
	}
	interval := float64(time.Second) / cfg.Rate
	runtime.GC()
	var c engine.Command
	start := time.Since(epoch)
	for i := range cfg.Commands {
		intended := start + time.Duration(float64(i)*interval)
		for time.Since(epoch) < intended {
			// pace: spin until the intended send time
		}
		f.next(&c)
		c.Tag = uint64(intended)
		if err := e.Submit(context.Background(), &c, cb); err != nil {
			return EngineResult{}, err
		}
	}
	sent := time.Since(epoch) - start
	done.Wait()
	el := time.Since(epoch) - start
	return EngineResult{Commands: cfg.Commands, Elapsed: el, CmdsPerSec: float64(cfg.Commands) / el.Seconds(),
		Achieved: float64(cfg.Commands) / sent.Seconds(),
		Trades:   trades.Load(), Rejected: rejected.Load(),
		P50: hist.ValueAtQuantile(50), P99: hist.ValueAtQuantile(99), P999: hist.ValueAtQuantile(99.9),
		P9999: hist.ValueAtQuantile(99.99), Max: hist.Max()}, nil
}
