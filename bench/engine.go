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
	"github.com/instant-social-trading/ist/internal/idmap"
)

// EngineConfig sizes an engine benchmark.
type EngineConfig struct {
	Producers int     // submitting goroutines (closed loop)
	Commands  int     // commands per run
	Accounts  int     // funded trading accounts
	Rate      float64 // offered commands/s (open loop)
	Seed      uint64
	RingSize  int            // 0: engine.DefaultRingSize
	Journal   engine.Journal // nil: in-memory, discarding
}

// EngineResult is what an engine benchmark measured.
type EngineResult struct {
	Commands   int
	Elapsed    time.Duration
	CmdsPerSec float64
	Trades     int64
	Rejected   int64
	Resting    int // resting orders at the end (closed loop)
	// CPUCores is the process's CPU time over Elapsed (closed loop; 0
	// where CPUTime is not measured). Below the cores available, the
	// loop is bound by one goroutine (the matcher) or by hand-offs
	// between goroutines, not by the CPU as a whole.
	CPUCores float64
	// Open loop only: submit-to-result latency in ns, measured from each
	// command's intended send time (corrected for coordinated omission).
	P50, P99, P999, P9999, Max int64
	// Achieved is the rate the open-loop generator actually reached.
	Achieved float64
}

// Genesis returns the commands that create the benchmark market
// (BTC-USDT, unit scales, fees 10/20 bps) and accounts funded accounts.
func Genesis(accounts int) []engine.Command {
	name := func(s string) engine.Name { n, _ := engine.MakeName(s); return n }
	cmds := []engine.Command{
		{Kind: engine.CmdCreateAsset, Name: name("BTC")},
		{Kind: engine.CmdCreateAsset, Name: name("USDT")},
		{Kind: engine.CmdCreateMarket, Name: name("BTC-USDT"), Spec: engine.MarketSpec{
			Base: 1, Quote: 2, BaseScale: 1, QuoteScale: 1, MakerFeeBps: 10, TakerFeeBps: 20,
			Rules: book.Rules{MaxPrice: 1 << 24, MaxQty: 1 << 20}}},
	}
	for a := 1; a <= accounts; a++ {
		cmds = append(cmds,
			engine.Command{Kind: engine.CmdCreateAccount, Name: name(fmt.Sprint("bench", a))},
			engine.Command{Kind: engine.CmdDeposit, Account: uint64(a), Asset: 1, Amount: 1 << 50},
			engine.Command{Kind: engine.CmdDeposit, Account: uint64(a), Asset: 2, Amount: 1 << 50})
	}
	return cmds
}

// setupEngine opens an engine with one market and cfg.Accounts funded
// accounts.
func setupEngine(cfg EngineConfig) (*engine.Engine, error) {
	return openEngine(cfg, Genesis(cfg.Accounts))
}

// openEngine opens an engine and applies the genesis commands.
func openEngine(cfg EngineConfig, cmds []engine.Command) (*engine.Engine, error) {
	e, err := engine.Open(&engine.Options{RingSize: cfg.RingSize, Journal: cfg.Journal})
	if err != nil {
		return nil, err
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
// orders around a mid price (a fifth of them crossing), market orders (10%),
// and cancels (30%, 50% while it has more than liveTarget live orders) of
// the producer's own live orders. Which orders are live is
// learned from the results (accepted, filled, cancelled, expired), so the
// book stays at a steady size as on a real market.
type orderFlow struct {
	r        *rand.Rand
	accounts []uint64
	mu       sync.Mutex // guards live and pos: the producer reads, the output goroutine writes
	live     []liveOrder
	pos      *idmap.Map // order id → index in live
}

type liveOrder struct{ id, acct uint64 }

// liveTarget is the number of live orders per producer above which it
// cancels more often than it places: the book settles around a few
// thousand orders a producer, as lobgen's stream does.
const liveTarget = 4000

func newOrderFlow(seed uint64, p, producers, accounts int) *orderFlow {
	f := &orderFlow{r: rand.New(rand.NewPCG(seed, uint64(p))), pos: idmap.New(1 << 14)}
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
	k := r.IntN(100)
	if k < 50 {
		f.mu.Lock()
		if n := len(f.live); n > 0 && (k < 30 || n > liveTarget) {
			o := f.live[r.IntN(n)]
			c.Kind, c.Account, c.OrderID = engine.CmdCancel, o.acct, o.id
			f.removeLocked(o.id) // not a candidate for another cancel
		}
		f.mu.Unlock()
		if c.Kind == engine.CmdCancel {
			return
		}
	}
	switch {
	case k >= 30 && k < 40:
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

func (f *orderFlow) add(id, acct uint64) {
	f.mu.Lock()
	f.pos.Put(id, int32(len(f.live)))
	f.live = append(f.live, liveOrder{id, acct})
	f.mu.Unlock()
}

func (f *orderFlow) remove(id uint64) {
	f.mu.Lock()
	f.removeLocked(id)
	f.mu.Unlock()
}

func (f *orderFlow) removeLocked(id uint64) {
	if i, ok := f.pos.Get(id); ok {
		last := f.live[len(f.live)-1]
		f.live[i] = last
		f.pos.Put(last.id, i)
		f.live = f.live[:len(f.live)-1]
		f.pos.Delete(id)
	}
}

// flows routes results to the flow of each order's owner.
type flows []*orderFlow

func (fl flows) of(acct uint64) *orderFlow { return fl[(acct-1)%uint64(len(fl))] }

// track updates the live sets from one result: a limit order that rested
// is added to its owner's flow; orders that filled, were cancelled or
// expired are removed from theirs. Called on the output goroutine.
func (fl flows) track(res *engine.Result) {
	if res.Err != nil {
		return
	}
	rested := res.Kind == engine.CmdPlace
	for i := range res.Events {
		ev := &res.Events[i]
		switch ev.Kind {
		case book.EvTrade:
			if ev.MakerRemaining == 0 {
				fl.of(ev.MakerOwner).remove(ev.MakerID)
			}
			if rested && ev.OrderID == res.ID && ev.Remaining == 0 {
				rested = false
			}
		case book.EvCancelled, book.EvExpired:
			if rested && ev.OrderID == res.ID {
				rested = false // the new order itself did not rest
			} else {
				fl.of(ev.Owner).remove(ev.OrderID)
			}
		case book.EvAccepted:
			if ev.Price == 0 { // market order
				rested = false
			}
		}
	}
	if rested && len(res.Events) > 0 {
		fl.of(res.Events[0].Owner).add(res.ID, res.Events[0].Owner)
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
// waiting only when the ingress ring is full. Each producer trades on its
// own market with its own accounts, from a stream generated beforehand
// (ProducerStream), so that the load generator costs little next to the
// engine. Throughput is commands delivered per second, from the first
// submit to the last result.
func EngineClosedLoop(cfg EngineConfig) (EngineResult, error) {
	per := cfg.Commands / cfg.Producers
	streams := make([][]streamOp, cfg.Producers)
	for p := range streams {
		streams[p] = ProducerStream(cfg.Seed, p, cfg.Producers, cfg.Accounts, per)
	}
	e, err := openEngine(cfg, GenesisMarkets(cfg.Producers, cfg.Accounts))
	if err != nil {
		return EngineResult{}, err
	}
	defer e.Close()
	var trades, rejected atomic.Int64
	var wg, done sync.WaitGroup
	done.Add(per * cfg.Producers)
	cb := func(res *engine.Result) {
		count(res, &trades, &rejected)
		done.Done()
	}
	runtime.GC()
	start, cpu0 := time.Now(), CPUTime()
	for p := range cfg.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c engine.Command
			for i := range streams[p] {
				streams[p][i].command(&c, uint32(p+1))
				if err := e.Submit(context.Background(), &c, cb); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	done.Wait()
	el, cpu := time.Since(start), CPUTime()-cpu0
	n := per * cfg.Producers
	res := EngineResult{Commands: n, Elapsed: el, CmdsPerSec: float64(n) / el.Seconds(),
		Trades: trades.Load(), Rejected: rejected.Load(), CPUCores: cpu.Seconds() / el.Seconds()}
	if err := e.WaitViews(context.Background(), e.DurableSeq()); err == nil {
		for m := 1; m <= cfg.Producers; m++ {
			if mv, ok := e.Market(uint32(m)); ok {
				res.Resting += mv.Resting
			}
		}
	}
	return res, nil
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
	fl := flows{newOrderFlow(cfg.Seed, 0, 1, cfg.Accounts)}
	f := fl[0]
	epoch := time.Now()
	cb := func(res *engine.Result) {
		lat := int64(time.Since(epoch)) - int64(res.Tag)
		_ = hist.RecordValue(max(lat, 1)) // only the output goroutine records
		fl.track(res)
		count(res, &trades, &rejected)
		done.Done()
	}
	p := newPacer(cfg.Rate, epoch)
	runtime.GC()
	var c engine.Command
	start := p.start()
	for i := range cfg.Commands {
		intended := p.wait(i)
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

// ChannelOpenLoop is the baseline of EngineOpenLoop: the same paced
// generator sends each command's intended time through a buffered Go
// channel to one consumer goroutine, which records the delay the same way.
// It measures what this machine's scheduler alone adds at that rate.
func ChannelOpenLoop(rate float64, n int) EngineResult {
	hist := hdrhistogram.New(1, int64(10*time.Second), 3)
	ch := make(chan int64, 1<<14)
	done := make(chan struct{})
	epoch := time.Now()
	go func() {
		for intended := range ch {
			_ = hist.RecordValue(max(int64(time.Since(epoch))-intended, 1))
		}
		close(done)
	}()
	p := newPacer(rate, epoch)
	runtime.GC()
	p.start()
	for i := range n {
		ch <- int64(p.wait(i))
	}
	close(ch)
	<-done
	return EngineResult{Commands: n, P50: hist.ValueAtQuantile(50), P99: hist.ValueAtQuantile(99),
		P999: hist.ValueAtQuantile(99.9), P9999: hist.ValueAtQuantile(99.99), Max: hist.Max()}
}

// SpinOpenLoop is ChannelOpenLoop with a consumer that never parks or
// yields: the generator publishes each intended time into a ring of
// slots and a cursor (atomics), and the consumer checks the cursor in a
// busy loop. With one goroutine on each core, neither waits for the Go
// scheduler or for a parked thread to wake; the difference from
// ChannelOpenLoop is what those cost. (The engine cannot wait this way:
// its pipeline has more goroutines than this machine has cores, and a
// goroutine that spins without yielding holds a core the others need.)
func SpinOpenLoop(rate float64, n int) EngineResult {
	hist := hdrhistogram.New(1, int64(10*time.Second), 3)
	const size = 1 << 16
	slots := make([]atomic.Int64, size)
	var published, consumed atomic.Int64 // commands published, recorded
	done := make(chan struct{})
	epoch := time.Now()
	go func() {
		for next := int64(0); next < int64(n); {
			for p := published.Load(); next < p; next++ {
				intended := slots[next&(size-1)].Load()
				_ = hist.RecordValue(max(int64(time.Since(epoch))-intended, 1))
			}
			consumed.Store(next)
		}
		close(done)
	}()
	p := newPacer(rate, epoch)
	runtime.GC()
	p.start()
	for i := range n {
		intended := p.wait(i)
		for int64(i)-consumed.Load() >= size { // never overwrite a slot not yet read
			runtime.Gosched()
		}
		slots[i&(size-1)].Store(int64(intended))
		published.Store(int64(i + 1))
	}
	<-done
	return EngineResult{Commands: n, P50: hist.ValueAtQuantile(50), P99: hist.ValueAtQuantile(99),
		P999: hist.ValueAtQuantile(99.9), P9999: hist.ValueAtQuantile(99.99), Max: hist.Max()}
}

// FloorOpenLoop is the floor under EngineOpenLoop's and ChannelOpenLoop's
// latencies: the same paced generator with nothing to send. Each command's
// latency is how late the generator itself got to it, past its intended
// time; it is charged to every command a stall of the generator delays,
// as in the other loops. No pipeline, however fast, can do better than
// the goroutine that feeds it: on a shared machine this is what the
// kernel's and the Go scheduler's interruptions alone cost.
func FloorOpenLoop(rate float64, n int) EngineResult {
	hist := hdrhistogram.New(1, int64(10*time.Second), 3)
	epoch := time.Now()
	p := newPacer(rate, epoch)
	runtime.GC()
	p.start()
	for i := range n {
		intended := p.wait(i)
		_ = hist.RecordValue(max(int64(time.Since(epoch)-intended), 1))
	}
	return EngineResult{Commands: n, P50: hist.ValueAtQuantile(50), P99: hist.ValueAtQuantile(99),
		P999: hist.ValueAtQuantile(99.9), P9999: hist.ValueAtQuantile(99.99), Max: hist.Max()}
}

// pacer paces an open-loop generator: command i is due at its start
// time plus i/rate. Up to 200k/s it sleeps while it is ahead of schedule
// (a timer wakes it late, and it then sends what is due at once, each
// command timed from its own intended time): it does not hold a core the
// engine needs. Faster, sleeping is too coarse and it yields in a loop
// instead, letting the engine's goroutines run.
type pacer struct {
	epoch    time.Time
	interval float64 // ns between commands
	sleep    bool
	t0       time.Duration
}

func newPacer(rate float64, epoch time.Time) *pacer {
	return &pacer{epoch: epoch, interval: float64(time.Second) / rate, sleep: rate <= 200_000}
}

// start sets the intended time of command 0 to now, and returns it.
func (p *pacer) start() time.Duration {
	p.t0 = time.Since(p.epoch)
	return p.t0
}

// wait returns once command i is due, with its intended time since epoch.
func (p *pacer) wait(i int) time.Duration {
	intended := p.t0 + time.Duration(float64(i)*p.interval)
	if d := intended - time.Since(p.epoch); d > 0 && p.sleep {
		time.Sleep(d)
	}
	for time.Since(p.epoch) < intended {
		runtime.Gosched()
	}
	return intended
}
