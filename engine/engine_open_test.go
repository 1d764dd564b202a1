package engine

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// Open validates its options before it reserves or allocates anything and
// returns an error, never panics.
func TestOpenInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"ring_huge", Options{RingSize: min(1<<40, math.MaxInt)}},
		{"ring_above_max", Options{RingSize: MaxRingSize * 2}},
		{"ring_not_pow2", Options{RingSize: 3}},
		{"ring_negative", Options{RingSize: -8}},
		{"orders_huge", Options{Capacity: Capacity{Orders: min(math.MaxInt64/2, math.MaxInt)}}},
		{"orders_above_max", Options{Capacity: Capacity{Orders: MaxCapacity + 1}}},
		{"orders_negative", Options{Capacity: Capacity{Orders: -1}}},
		{"book_orders_huge", Options{Capacity: Capacity{BookOrders: min(math.MaxInt64/2, math.MaxInt)}}},
		{"book_orders_negative", Options{Capacity: Capacity{BookOrders: -1}}},
		{"commits_in_flight_huge", Options{CommitsInFlight: min(1<<40, math.MaxInt)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Open panicked: %v", r)
				}
			}()
			e, err := Open(&tc.opts)
			if err == nil {
				e.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.HasPrefix(err.Error(), "engine: ") {
				t.Fatalf("error %q, want ErrInvalidOptions", err)
			}
		})
	}
}

// Options beyond what they can mean are taken at their most: a MaxBatch
// above the ring's size is the ring's size (a batch cannot be larger), not
// an overflow that stalls the pipeline.
func TestOpenMaxBatchHuge(t *testing.T) {
	e, err := Open(&Options{MaxBatch: math.MaxInt, RingSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := e.Do(ctx, &Command{Kind: CmdTick}, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// seqJournal is a journal that knows the last sequence number it holds,
// like wal.Log.
type seqJournal struct {
	MemJournal
	last uint64
}

func (j *seqJournal) LastSeq() uint64 { return j.last }

// stateAt returns a state that has applied n commands.
func stateAt(t *testing.T, n int) *State {
	t.Helper()
	s := NewState()
	for i := range n {
		c := Command{Kind: CmdTick, Seq: uint64(i + 1)}
		s.Apply(&c, nil)
	}
	return s
}

// An engine refuses to start on a journal that does not end where its
// state does: it would write its sequence numbers over acknowledged
// commands.
func TestOpenJournalMismatch(t *testing.T) {
	for _, tc := range []struct {
		name       string
		state      int // commands applied; -1: no Options.State
		journal    uint64
		mismatched bool
	}{
		{"no_state/empty_journal", -1, 0, false},
		{"no_state/journal_has_commands", -1, 5, true},
		{"state_behind", 3, 5, true},
		{"state_ahead", 5, 3, true},
		{"state_at_journal", 5, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Journal: &seqJournal{last: tc.journal}}
			if tc.state >= 0 {
				opts.State = stateAt(t, tc.state)
			}
			e, err := Open(&opts)
			if !tc.mismatched {
				if err != nil {
					t.Fatal(err)
				}
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				e.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrJournalMismatch) || !strings.Contains(err.Error(), "Options.State") {
				t.Fatalf("error %q, want ErrJournalMismatch", err)
			}
		})
	}
	// A journal that does not say where it ends is trusted.
	e, err := Open(&Options{Journal: &MemJournal{}, State: stateAt(t, 3)})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
}

// A State belongs to one open engine at a time; Close hands it back.
func TestOpenStateInUse(t *testing.T) {
	st := stateAt(t, 2)
	e, err := Open(&Options{State: st})
	if err != nil {
		t.Fatal(err)
	}
	if e2, err := Open(&Options{State: st}); !errors.Is(err, ErrStateInUse) {
		if err == nil {
			e2.Close()
		}
		t.Fatalf("a second engine on the same state: %v, want ErrStateInUse", err)
	}
	// A refused Open does not take the state from its owner either.
	if _, err := Open(&Options{State: st, RingSize: 3}); err == nil {
		t.Fatal("RingSize 3 accepted")
	}
	if _, err := Open(&Options{State: st}); !errors.Is(err, ErrStateInUse) {
		t.Fatalf("after a refused Open: %v, want ErrStateInUse", err)
	}
	mustDo(t, e, Command{Kind: CmdTick})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e.State() != st {
		t.Fatal("State after Close is not the engine's")
	}
	e, err = Open(&Options{State: st})
	if err != nil {
		t.Fatalf("reopening the state after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// A refused Open (here: its journal ends elsewhere) leaves the state
	// free.
	if _, err := Open(&Options{State: st, Journal: &seqJournal{last: 99}}); !errors.Is(err, ErrJournalMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	e, err = Open(&Options{State: st})
	if err != nil {
		t.Fatalf("after a refused Open: %v", err)
	}
	e.Close()
}
