package ring

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// item is the slot type of the tests: who wrote it and its running number.
type item struct {
	seq      int64 // the sequence the producer claimed, echoed back
	producer int
	n        int // per-producer counter, 0, 1, 2, …
	stage1   int64
}

// hangGuard bounds a test that would hang on a bug (a lost wake-up, a
// stalled claim). It is a deadlock detector, not a timing assertion.
func hangGuard(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestNewSize(t *testing.T) {
	for _, size := range []int{-4, 0, 3, 6, 1000} {
		if _, err := New[int](size); !errors.Is(err, ErrSize) {
			t.Errorf("New(%d): err = %v, want ErrSize", size, err)
		}
	}
	for _, size := range []int{1, 2, 64, 1 << 16} {
		r, err := New[int](size)
		if err != nil || r.Size() != size {
			t.Errorf("New(%d) = %v, %v", size, r, err)
		}
	}
}

// TestPublishedInOrder: a later slot published first stays invisible until
// every slot before it is published.
func TestPublishedInOrder(t *testing.T) {
	r, _ := New[int](8)
	s1, _, _ := r.TryClaim()
	s2, _, _ := r.TryClaim()
	s3, _, _ := r.TryClaim()
	if s1 != 1 || s2 != 2 || s3 != 3 {
		t.Fatalf("claimed %d %d %d, want 1 2 3", s1, s2, s3)
	}
	r.Publish(s3)
	r.Publish(s2)
	if got := r.Published(1); got != 0 {
		t.Fatalf("Published(1) = %d before slot 1, want 0", got)
	}
	r.Publish(s1)
	if got := r.Published(1); got != 3 {
		t.Fatalf("Published(1) = %d, want 3", got)
	}
	if got := r.Published(3); got != 3 {
		t.Fatalf("Published(3) = %d, want 3", got)
	}
	if got := r.Published(4); got != 3 {
		t.Fatalf("Published(4) = %d, want 3", got)
	}
}

func TestFullBackPressure(t *testing.T) {
	r, _ := New[int](4)
	for i := int64(1); i <= 4; i++ {
		seq, slot, err := r.TryClaim()
		if err != nil || seq != i {
			t.Fatalf("claim %d: seq %d err %v", i, seq, err)
		}
		*slot = int(i)
		r.Publish(seq)
	}
	if _, _, err := r.TryClaim(); !errors.Is(err, ErrFull) {
		t.Fatalf("TryClaim on a full ring: %v, want ErrFull", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Claim(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Claim(cancelled): %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := r.Claim(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Claim(timeout): %v, want DeadlineExceeded", err)
	}
	if r.Claimed() != 4 {
		t.Fatalf("a failed claim moved the counter to %d", r.Claimed())
	}

	// Consumed but not released: still full.
	if hi := r.Published(1); hi != 4 {
		t.Fatalf("Published = %d, want 4", hi)
	}
	if _, _, err := r.TryClaim(); !errors.Is(err, ErrFull) {
		t.Fatalf("TryClaim before release: %v, want ErrFull", err)
	}

	// Releasing one slot frees exactly one: the slot of sequence 1.
	r.Release(1)
	seq, slot, err := r.TryClaim()
	if err != nil || seq != 5 || slot != r.Slot(1) || *slot != 1 {
		t.Fatalf("after release: seq %d err %v, same slot %v", seq, err, slot == r.Slot(1))
	}
	if _, _, err := r.TryClaim(); !errors.Is(err, ErrFull) {
		t.Fatalf("second TryClaim: %v, want ErrFull", err)
	}
}

// TestClaimWaitsForRelease: a producer parked in Claim on a full ring gets
// the slot once the consumer releases it.
func TestClaimWaitsForRelease(t *testing.T) {
	ctx := hangGuard(t)
	r, _ := New[int](2)
	for range 2 {
		seq, _, _ := r.TryClaim()
		r.Publish(seq)
	}
	got := make(chan int64)
	go func() {
		seq, _, err := r.Claim(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- seq
	}()
	for r.space.Parked() == 0 { // let it park, to test the wake-up path
		time.Sleep(time.Millisecond)
	}
	r.Release(1)
	if seq := <-got; seq != 3 {
		t.Fatalf("Claim = %d, want 3", seq)
	}
}

// run pushes perProducer items from each of producers goroutines through r
// and a two-stage consumer chain (stage 1 stamps, stage 2 checks and
// releases). It checks that every item arrives exactly once, in sequence
// order, with each producer's items in its own order.
func run(t *testing.T, size, producers, perProducer int, try bool) {
	ctx := hangGuard(t)
	r, err := New[item](size)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perProducer {
				var seq int64
				var slot *item
				var err error
				if try {
					for {
						if seq, slot, err = r.TryClaim(); !errors.Is(err, ErrFull) {
							break
						}
						runtime.Gosched() // a real caller would fail fast
					}
				} else {
					seq, slot, err = r.Claim(ctx)
				}
				if err != nil {
					t.Error(err)
					return
				}
				*slot = item{seq: seq, producer: p, n: n}
				r.Publish(seq)
			}
		}()
	}

	// Stage 1: reads published slots, writes the stage1 field it owns.
	var cursor1 Sequence
	var wait2 Waiter
	total := int64(producers * perProducer)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for next := int64(1); next <= total; {
			hi, err := r.WaitPublished(ctx, next)
			if err != nil {
				t.Error(err)
				return
			}
			for s := next; s <= hi; s++ {
				r.Slot(s).stage1 = s * 10
			}
			cursor1.Store(hi)
			wait2.Notify()
			next = hi + 1
		}
	}()

	// Stage 2, the last: checks and releases.
	nextN := make([]int, producers)
	for next := int64(1); next <= total; {
		hi, err := wait2.Wait(ctx, next, cursor1.Load)
		if err != nil {
			t.Fatal(err)
		}
		for s := next; s <= hi; s++ {
			it := r.Slot(s)
			if it.seq != s || it.stage1 != s*10 {
				t.Fatalf("slot %d holds seq %d stage1 %d", s, it.seq, it.stage1)
			}
			if it.n != nextN[it.producer] {
				t.Fatalf("producer %d: got item %d, want %d", it.producer, it.n, nextN[it.producer])
			}
			nextN[it.producer]++
		}
		r.Release(hi)
		next = hi + 1
	}
	wg.Wait()
	for p, n := range nextN {
		if n != perProducer {
			t.Errorf("producer %d: %d items consumed, want %d", p, n, perProducer)
		}
	}
	if r.Claimed() != total || r.Released() != total {
		t.Errorf("claimed %d released %d, want %d", r.Claimed(), r.Released(), total)
	}
}

func TestSingleProducer(t *testing.T) {
	run(t, 64, 1, 50_000, false)
}

func TestMultiProducer(t *testing.T) {
	for _, producers := range []int{4, 8} {
		t.Run("claim", func(t *testing.T) { run(t, 64, producers, 10_000, false) })
		t.Run("tryclaim", func(t *testing.T) { run(t, 64, producers, 10_000, true) })
	}
	// A tiny ring makes producers wait for releases all the time.
	t.Run("size=2", func(t *testing.T) { run(t, 2, 4, 5_000, false) })
}

// TestCloseUnblocks: Close wakes a consumer waiting for publication and a
// producer waiting for space; afterwards claims fail and the consumer drains
// what was published before it gets ErrClosed.
func TestCloseUnblocks(t *testing.T) {
	ctx := hangGuard(t)
	r, _ := New[int](2)
	consumer := make(chan error)
	go func() {
		_, err := r.WaitPublished(ctx, 1)
		consumer <- err
	}()
	for r.avail.Parked() == 0 {
		time.Sleep(time.Millisecond)
	}
	r.Close()
	if err := <-consumer; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitPublished after Close: %v, want ErrClosed", err)
	}
	if _, _, err := r.TryClaim(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryClaim after Close: %v", err)
	}
	if _, _, err := r.Claim(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Claim after Close: %v", err)
	}

	// A producer parked on a full ring.
	r, _ = New[int](2)
	for range 2 {
		seq, _, _ := r.TryClaim()
		r.Publish(seq)
	}
	producer := make(chan error)
	go func() {
		_, _, err := r.Claim(ctx)
		producer <- err
	}()
	for r.space.Parked() == 0 {
		time.Sleep(time.Millisecond)
	}
	r.Close()
	if err := <-producer; !errors.Is(err, ErrClosed) {
		t.Fatalf("Claim after Close: %v, want ErrClosed", err)
	}
	// Published before Close: still delivered, then ErrClosed.
	if hi, err := r.WaitPublished(ctx, 1); hi != 2 || err != nil {
		t.Fatalf("WaitPublished(1) after Close = %d, %v; want 2, nil", hi, err)
	}
	if _, err := r.WaitPublished(ctx, 3); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitPublished(3) after Close: %v, want ErrClosed", err)
	}
}

// TestNoClaimAfterClose races producers against Close: once Close has
// returned, Claimed no longer moves, and every claim that succeeded is
// within it (a consumer that drains up to Claimed misses nothing).
func TestNoClaimAfterClose(t *testing.T) {
	for round := range 200 {
		r, err := New[int](1 << 10)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var most atomic.Int64
		start := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 250 { // 4 × 250 < 1024: the ring never fills
					seq, _, err := r.TryClaim()
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					for {
						m := most.Load()
						if seq <= m || most.CompareAndSwap(m, seq) {
							break
						}
					}
					r.Publish(seq)
				}
			}()
		}
		close(start)
		for i := 0; i < round%50; i++ {
			runtime.Gosched()
		}
		r.Close()
		final := r.Claimed()
		wg.Wait()
		if got := r.Claimed(); got != final {
			t.Fatalf("round %d: Claimed moved from %d to %d after Close", round, final, got)
		}
		if m := most.Load(); m > final {
			t.Fatalf("round %d: sequence %d claimed after Close (Claimed %d)", round, m, final)
		}
	}
}
