package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
)

func mustDo(t *testing.T, e *Engine, c Command) Result {
	t.Helper()
	res, err := e.Do(context.Background(), &c, nil)
	if err != nil {
		t.Fatalf("Do %v: %v", c.Kind, err)
	}
	return res
}

// openGenesis opens an engine with an in-memory journal and a small ring
// and applies genesis(markets); Close is the caller's.
func openGenesis(t *testing.T, markets int) (*Engine, *MemJournal) {
	t.Helper()
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j, RingSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range genesis(markets) {
		if res := mustDo(t, e, c); res.Err != nil {
			e.Close()
			t.Fatalf("%v: %v", c.Kind, res.Err)
		}
	}
	return e, j
}

func TestEngineTrade(t *testing.T) {
	e, _ := openGenesis(t, 2)
	defer e.Close()
	sell := mustDo(t, e, Command{Kind: CmdPlace, Account: 1, Market: 1,
		Order: book.Order{Side: book.Sell, Price: 100, Qty: 10}})
	if sell.Err != nil || sell.ID == 0 {
		t.Fatalf("sell: %+v", sell)
	}
	buy := mustDo(t, e, Command{Kind: CmdPlace, Account: 2, Market: 1,
		Order: book.Order{Side: book.Buy, Price: 100, Qty: 4}})
	if buy.Err != nil {
		t.Fatal(buy.Err)
	}
	var trade *Event
	for i := range buy.Events {
		if buy.Events[i].Kind == book.EvTrade {
			trade = &buy.Events[i]
		}
	}
	if trade == nil || trade.Qty != 4 || trade.Price != 100 || trade.MakerID != sell.ID || trade.OrderID != buy.ID {
		t.Fatalf("trade: %+v in %+v", trade, buy.Events)
	}
	// notional 100×4×10 = 4000 quote units; taker fee 20 bps = 8, maker 10 bps = 4.
	if trade.TakerFee != 8 || trade.MakerFee != 4 {
		t.Fatalf("fees: %+v", trade)
	}
	if buy.Seq <= sell.Seq || buy.Time < sell.Time {
		t.Fatalf("sequence/time not increasing: %d/%d then %d/%d", sell.Seq, sell.Time, buy.Seq, buy.Time)
	}
	// Views are published once durable, at most a ViewInterval later.
	if err := e.WaitViews(context.Background(), buy.Seq); err != nil {
		t.Fatal(err)
	}
	mv, ok := e.Market(1)
	if !ok || len(mv.Asks) != 1 || mv.Asks[0].Qty != 6 || mv.Last != 100 {
		t.Fatalf("market view: %+v", mv)
	}
	av, ok := e.Account(2)
	if !ok {
		t.Fatal("no account view")
	}
	want := map[uint32]int64{1: 5_000_000 + 400, 2: 5_000_000 - 4000 - 8, 3: 5_000_000}
	for _, b := range av.Balances {
		if b.Available != want[b.Asset] || b.Locked != 0 {
			t.Fatalf("account 2 balance %+v, want available %d", b, want[b.Asset])
		}
	}
	if fv, _ := e.Account(FeeAccount); len(fv.Balances) != 1 || fv.Balances[0].Available != 12 {
		t.Fatalf("fee account: %+v", fv)
	}
	if d := e.Directory(); len(d.Markets) != 2 {
		t.Fatalf("directory: %+v", d)
	}
	// Idempotent client order id.
	ref, _ := MakeRef("c-1")
	c := Command{Kind: CmdPlace, Account: 2, Market: 1, Ref: ref, Order: book.Order{Side: book.Buy, Price: 90, Qty: 3}}
	first := mustDo(t, e, c)
	again := mustDo(t, e, c)
	if first.Err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("resend: first %+v again %+v", first.Outcome, again.Outcome)
	}
	// Insufficient funds changes nothing.
	poor := mustDo(t, e, Command{Kind: CmdPlace, Account: 2, Market: 1,
		Order: book.Order{Side: book.Buy, Price: 1000, Qty: 1000}})
	if !errors.Is(poor.Err, ErrInsufficientFunds) {
		t.Fatalf("want insufficient funds, got %+v", poor.Outcome)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.State().Check(); err != nil {
		t.Fatal(err)
	}
}

// Several producers submit random commands concurrently; afterwards the
// journal, replayed into a fresh State, must give the same state hash, and
// every submitted command got exactly one result.
func TestEngineConcurrentReplay(t *testing.T) {
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j, RingSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range genesis(8) {
		mustDo(t, e, c)
	}
	const producers, perProducer = 4, 5000
	var results atomic.Int64
	var wg sync.WaitGroup
	seed := testSeed(t, 3)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(p)))
			shadow := NewState() // only for plausible ids; never applied
			for i := range perProducer {
				c := randomCommand(r, shadow, 8)
				c.OrderID = uint64(1 + r.IntN(p*perProducer+i+1))
				if i%2 == 0 {
					if _, err := e.Do(context.Background(), &c, nil); err != nil {
						t.Error(err)
						return
					}
					results.Add(1)
				} else if err := e.Submit(context.Background(), &c, func(*Result) { results.Add(1) }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := results.Load(); n != producers*perProducer {
		t.Fatalf("%d results for %d commands", n, producers*perProducer)
	}
	st := e.State()
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	replay := NewState()
	var evs []Event
	for i, c := range j.Commands() {
		if c.Seq != uint64(i+1) {
			t.Fatalf("journal entry %d has seq %d", i, c.Seq)
		}
		_, evs = replay.Apply(&c, evs[:0])
	}
	if replay.Hash() != st.Hash() {
		t.Fatal("replaying the journal gives a different state hash")
	}
}

func TestEngineJournalFailure(t *testing.T) {
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	name, _ := MakeName("X")
	mustDo(t, e, Command{Kind: CmdCreateAsset, Name: name})
	boom := errors.New("disk on fire")
	j.FailCommits(boom)
	acct, _ := MakeName("a")
	res, err := e.Do(context.Background(), &Command{Kind: CmdCreateAccount, Name: acct}, nil)
	if err == nil && !errors.Is(res.Err, ErrJournal) {
		t.Fatalf("a command whose commit failed was acknowledged: %+v %v", res, err)
	}
	if _, err := e.Do(context.Background(), &Command{Kind: CmdCreateAccount, Name: acct}, nil); !errors.Is(err, ErrJournal) {
		t.Fatalf("after a journal failure: %v, want ErrJournal", err)
	}
	if len(j.Commands()) != 1 {
		t.Fatalf("journal holds %d commands", len(j.Commands()))
	}
	if err := e.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v", err)
	}
}

// gateJournal blocks Commit until released.
type gateJournal struct {
	MemJournal
	gate chan struct{}
}

func (g *gateJournal) Commit() error { <-g.gate; return g.MemJournal.Commit() }

func TestEngineBackPressure(t *testing.T) {
	g := &gateJournal{gate: make(chan struct{})}
	e, err := Open(&Options{Journal: g, RingSize: 8, FailFast: true})
	if err != nil {
		t.Fatal(err)
	}
	name, _ := MakeName("a")
	c := Command{Kind: CmdCreateAccount, Name: name}
	full := false
	for range 64 {
		if err := e.Submit(context.Background(), &c, nil); errors.Is(err, ErrFull) {
			full = true
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("a ring of 8 never reported full with a stuck journal")
	}
	// A waiting submitter gives up with its context.
	e.opts.FailFast = false
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.Submit(ctx, &c, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked submit: %v", err)
	}
	close(g.gate)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEngineNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		e, err := Open(nil)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := MakeName("a")
		mustDo(t, e, Command{Kind: CmdCreateAccount, Name: name})
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// An idle engine parks its goroutines instead of spinning.
func TestEngineIdleParks(t *testing.T) {
	e, err := Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	name, _ := MakeName("a")
	mustDo(t, e, Command{Kind: CmdCreateAccount, Name: name})
	deadline := time.Now().Add(10 * time.Second)
	for e.stampedW.Parked() == 0 || e.ring.ConsumersParked() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle engine did not park: output %d, matcher %d", e.stampedW.Parked(), e.ring.ConsumersParked())
		}
		time.Sleep(time.Millisecond)
	}
}

// The results the pipeline delivers (to Do, to callbacks and to
// subscribers) carry exactly the events the state machine gives when the
// journal is replayed: four producers on a small ring that wraps many
// times, with sweeps whose events overflow a slot's room in
// Engine.events.
func TestEngineEventsMatchState(t *testing.T) {
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j, RingSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[uint64][]Event{}    // by seq, from the subscriber
	direct := map[uint64][]Event{} // by seq, from Do and callbacks
	unsub := e.Subscribe(func(r *Result) {
		mu.Lock()
		got[r.Seq] = append([]Event(nil), r.Events...)
		mu.Unlock()
	})
	defer unsub()
	for _, c := range genesis(4) {
		mustDo(t, e, c)
	}
	keep := func(res *Result) {
		mu.Lock()
		direct[res.Seq] = append([]Event(nil), res.Events...)
		mu.Unlock()
	}
	var wide atomic.Int64
	seed := testSeed(t, 7)
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(p)))
			shadow := NewState()
			var cmds []Command
			for i := range 2000 {
				if i%50 == 0 {
					// A ladder of asks and a market buy through it:
					// more events than a slot has room for.
					for k := range 2 * slotEvents {
						cmds = append(cmds, Command{Kind: CmdPlace, Account: uint64(1 + p%2), Market: 1,
							Order: book.Order{Side: book.Sell, Price: int64(200 + k), Qty: 1}})
					}
					cmds = append(cmds, Command{Kind: CmdPlace, Account: uint64(3 + p%2), Market: 1,
						Order: book.Order{Side: book.Buy, Type: book.Market, Qty: int64(2 * slotEvents)}})
				}
				cmds = append(cmds, randomCommand(r, shadow, 4))
			}
			for i := range cmds {
				if i%16 == 0 {
					res, err := e.Do(context.Background(), &cmds[i], nil)
					if err != nil {
						t.Error(err)
						return
					}
					keep(&res)
					continue
				}
				if err := e.Submit(context.Background(), &cmds[i], func(res *Result) {
					if len(res.Events) > slotEvents {
						wide.Add(1)
					}
					keep(res)
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if wide.Load() == 0 {
		t.Fatal("no command had more events than a slot's room")
	}
	replay := NewState()
	var evs []Event
	for _, c := range j.Commands() {
		_, evs = replay.Apply(&c, evs[:0])
		if d, ok := direct[c.Seq]; ok && !slices.Equal(d, evs) {
			t.Fatalf("seq %d: delivered %+v, state machine %+v", c.Seq, d, evs)
		}
		if !slices.Equal(got[c.Seq], evs) {
			t.Fatalf("seq %d: subscriber got %+v, state machine %+v", c.Seq, got[c.Seq], evs)
		}
	}
	if len(direct) != 4*(2000+40*(2*slotEvents+1)) {
		t.Fatalf("%d results delivered", len(direct))
	}
}
