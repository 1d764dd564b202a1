package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// gateStore is a SnapshotStore whose SaveSnapshot waits for gate.
type gateStore struct {
	entered chan uint64
	gate    chan struct{}
	saving  atomic.Bool
}

func (s *gateStore) SaveSnapshot(seq uint64, data []byte) error {
	s.saving.Store(true)
	s.entered <- seq
	<-s.gate
	s.saving.Store(false)
	return nil
}

// Two goroutines close an engine while a snapshot is being saved: neither
// Close returns before SaveSnapshot has (the caller then closes the store,
// e.g. a wal.Log), and both return the same error.
func TestCloseConcurrentWaitsForSnapshot(t *testing.T) {
	store := &gateStore{entered: make(chan uint64, 16), gate: make(chan struct{})}
	e, err := Open(&Options{Snapshots: store})
	if err != nil {
		t.Fatal(err)
	}
	// A request that meets the first snapshot's memory not ready yet is
	// served at a later batch: ask until one is taken.
	deadline := time.Now().Add(5 * time.Second)
	for saving := false; !saving; {
		if err := e.Submit(context.Background(), &Command{Kind: CmdSnapshot}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-store.entered:
			saving = true
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no snapshot taken")
			}
		}
	}
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- e.Close() }()
	for !e.closing.Load() {
		time.Sleep(time.Millisecond)
	}
	go func() { second <- e.Close() }()
	select {
	case <-first:
		t.Fatal("Close returned while a snapshot was being saved")
	case <-second:
		t.Fatal("the second Close returned while a snapshot was being saved")
	case <-time.After(100 * time.Millisecond):
	}
	close(store.gate)
	err1 := within(t, 5*time.Second, first, "first Close")
	err2 := within(t, 5*time.Second, second, "second Close")
	if store.saving.Load() {
		t.Fatal("Close returned before SaveSnapshot did")
	}
	if err1 != nil || err2 != nil {
		t.Fatalf("Close: %v and %v", err1, err2)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("a third Close: %v", err)
	}
}

// Every Close returns the journal error that stopped the engine.
func TestCloseConcurrentSameError(t *testing.T) {
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	j.FailCommits(boom)
	_, _ = e.Do(context.Background(), &Command{Kind: CmdTick}, nil)
	errs := make(chan error, 2)
	go func() { errs <- e.Close() }()
	go func() { errs <- e.Close() }()
	for range 2 {
		if err := within(t, 5*time.Second, errs, "Close"); !errors.Is(err, ErrJournal) || !errors.Is(err, boom) {
			t.Fatalf("Close: %v", err)
		}
	}
}

// nopStore is a SnapshotStore that keeps nothing.
type nopStore struct{}

func (nopStore) SaveSnapshot(uint64, []byte) error { return nil }

// pipelinedMem is a MemJournal that is a PipelinedJournal: results are
// then delivered on another goroutine than the journal stage's.
type pipelinedMem struct{ MemJournal }

func (j *pipelinedMem) CommitAsync() (func() error, error) {
	err := j.Commit()
	return func() error { return err }, nil
}

// Close called from a callback (a Submit done, a subscriber, OnSnapshot)
// returns ErrCloseFromCallback at once instead of waiting for itself; the
// engine goes on, and a Close from elsewhere later works.
func TestCloseFromCallback(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		for _, where := range []string{"done", "subscriber", "on_snapshot"} {
			t.Run(fmt.Sprintf("%s/pipelined=%v", where, pipelined), func(t *testing.T) {
				got := make(chan error, 1)
				var e *Engine
				opts := Options{}
				if pipelined {
					opts.Journal = &pipelinedMem{}
				}
				if where == "on_snapshot" {
					opts.Snapshots = nopStore{}
					opts.OnSnapshot = func(uint64, time.Duration, error) {
						select {
						case got <- e.Close():
						default:
						}
					}
				}
				var err error
				e, err = Open(&opts)
				if err != nil {
					t.Fatal(err)
				}
				c := Command{Kind: CmdTick, Tag: 9}
				switch where {
				case "done":
					err = e.Submit(context.Background(), &c, func(*Result) { got <- e.Close() })
				case "subscriber":
					e.Subscribe(func(r *Result) {
						if r.Tag == 9 {
							got <- e.Close()
						}
					})
					err = e.Submit(context.Background(), &c, nil)
				case "on_snapshot":
					_, err = e.Snapshot(context.Background())
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := within(t, 5*time.Second, got, "Close from a callback"); !errors.Is(err, ErrCloseFromCallback) {
					t.Fatalf("Close from a callback: %v", err)
				}
				mustDo(t, e, Command{Kind: CmdTick}) // still running
				closed := make(chan error, 1)
				go func() { closed <- e.Close() }()
				if err := within(t, 5*time.Second, closed, "Close after a callback's Close"); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Close does not wait for the ticker's ViewInterval to pass.
func TestCloseLongViewInterval(t *testing.T) {
	e, err := Open(&Options{ViewInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range genesis(1) {
		mustDo(t, e, c) // views are owed: the ticker waits ViewInterval
	}
	time.Sleep(10 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	if err := within(t, 5*time.Second, closed, "Close"); err != nil {
		t.Fatal(err)
	}
}

// Close while many goroutines Do and Submit: every Do returns (a result or
// ErrClosed) and every accepted Submit gets its done call before Close
// returns. The matcher stores its last batch's cursor and then closes the
// Waiter the output stage waits on; a Wait that read the cursor just
// before the store returned ErrClosed, the output stage stopped before
// delivering that batch, and its Do calls never returned.
func TestCloseWhileSubmitting(t *testing.T) {
	ctx := context.Background()
	for round := range 100 {
		e, err := Open(&Options{RingSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		var submitted, delivered atomic.Int64
		stopped := make(chan error, 8)
		for g := range 8 {
			go func() {
				for i := 0; ; i++ {
					var err error
					if (g+i)%2 == 0 {
						_, err = e.Do(ctx, &Command{Kind: CmdTick}, nil)
					} else {
						submitted.Add(1) // before: done may run before Submit returns
						if err = e.Submit(ctx, &Command{Kind: CmdTick}, func(*Result) { delivered.Add(1) }); err != nil {
							submitted.Add(-1)
						}
					}
					if err != nil {
						stopped <- err
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%4) * time.Millisecond)
		if err := e.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		for range 8 {
			if err := within(t, 10*time.Second, stopped, fmt.Sprintf("round %d: a Do or Submit after Close", round)); !errors.Is(err, ErrClosed) {
				t.Fatalf("round %d: after Close: %v, want ErrClosed", round, err)
			}
		}
		if s, d := submitted.Load(), delivered.Load(); d != s {
			t.Fatalf("round %d: %d commands submitted, %d results delivered", round, s, d)
		}
	}
}
