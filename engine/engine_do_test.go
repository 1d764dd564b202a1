package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
)

// Once Do has returned ctx.Err(), the engine no longer writes into dst,
// which is the caller's again.
func TestDoTimeoutLeavesDst(t *testing.T) {
	e, err := Open(&Options{RingSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range genesis(2) {
		mustDo(t, e, c)
	}
	gate := make(chan struct{})
	unsub := e.Subscribe(func(r *Result) {
		if r.Tag == 7 {
			<-gate
		}
	})
	defer unsub()
	buf := make([]Event, 0, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	sell := Command{Kind: CmdPlace, Tag: 7, Account: 1, Market: 1,
		Order: book.Order{Side: book.Sell, Price: 100, Qty: 1}}
	if _, err := e.Do(ctx, &sell, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do: %v, want the context's deadline", err)
	}
	marker := Event{Market: 77, TakerFee: -424242}
	buf = buf[:1]
	buf[0] = marker // the caller's memory again
	close(gate)
	mustDo(t, e, Command{Kind: CmdTick}) // delivered after the timed-out command
	if buf[0] != marker {
		t.Fatalf("the engine wrote into dst after Do returned: %+v", buf[0])
	}
}

// A Do whose context ends with its result already on the way still
// returns a result or the context's error, never a torn one; under load
// with short deadlines every success carries its events.
func TestDoTimeoutRace(t *testing.T) {
	e, err := Open(&Options{RingSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range genesis(2) {
		mustDo(t, e, c)
	}
	buf := make([]Event, 0, 8)
	ok, timedOut := 0, 0
	for i := range 2000 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%50)*time.Microsecond)
		c := Command{Kind: CmdPlace, Account: uint64(1 + i%2), Market: 1,
			Order: book.Order{Side: book.Side(i % 2), Price: int64(100 + 50*(i%2)), Qty: 1}}
		res, err := e.Do(ctx, &c, buf[:0])
		cancel()
		switch {
		case err == nil:
			ok++
			if res.Err == nil && len(res.Events) == 0 {
				t.Fatalf("a placed order without events: %+v", res)
			}
		case errors.Is(err, context.DeadlineExceeded):
			timedOut++
		default:
			t.Fatal(err)
		}
		for j := range buf[:cap(buf)] {
			buf[:cap(buf)][j] = Event{} // the caller's again: touch it all
		}
	}
	t.Logf("%d results, %d timed out", ok, timedOut)
}

// BenchmarkEngineDo measures one Do at a time (a closed loop of one
// caller) with a reused dst: the round trip through the pipeline.
func BenchmarkEngineDo(b *testing.B) {
	e, err := Open(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for _, c := range genesis(2) {
		if _, err := e.Do(context.Background(), &c, nil); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]Event, 0, 16)
	// Each account sells what it bought: the balances last (but fees).
	cmds := [4]Command{
		{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Sell, Price: 100, Qty: 1}},
		{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 1}},
		{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Sell, Price: 100, Qty: 1}},
		{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 1}},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		res, err := e.Do(context.Background(), &cmds[i%len(cmds)], buf[:0])
		if err != nil || res.Err != nil {
			b.Fatal(err, res.Err)
		}
	}
}
