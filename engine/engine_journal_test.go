package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// What ErrJournal documents: the command in flight gets the error in its
// Result, later ones from Submit and Do; subscribers hear nothing more,
// DurableSeq stops, and Err and Close return the error.
func TestJournalFailureContract(t *testing.T) {
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var heard atomic.Int64
	e.Subscribe(func(*Result) { heard.Add(1) })
	mustDo(t, e, Command{Kind: CmdTick})
	durable, before := e.DurableSeq(), heard.Load()
	if before != 1 || e.Err() != nil {
		t.Fatalf("subscriber heard %d results, Err %v", before, e.Err())
	}
	boom := errors.New("disk on fire")
	j.FailCommits(boom)
	res, err := e.Do(context.Background(), &Command{Kind: CmdTick}, nil)
	if err != nil || !errors.Is(res.Err, ErrJournal) || !errors.Is(res.Err, boom) || res.Events != nil || res.Seq != durable+1 {
		t.Fatalf("the command whose commit failed: %+v, %v", res, err)
	}
	if _, err := e.Do(context.Background(), &Command{Kind: CmdTick}, nil); !errors.Is(err, ErrJournal) {
		t.Fatalf("Do after the failure: %v", err)
	}
	if err := e.Submit(context.Background(), &Command{Kind: CmdTick}, nil); !errors.Is(err, ErrJournal) {
		t.Fatalf("Submit after the failure: %v", err)
	}
	if !errors.Is(e.Err(), ErrJournal) || !errors.Is(e.Err(), boom) {
		t.Fatalf("Err: %v", e.Err())
	}
	if heard.Load() != before || e.DurableSeq() != durable {
		t.Fatalf("after the failure: subscriber heard %d more, DurableSeq %d -> %d", heard.Load()-before, durable, e.DurableSeq())
	}
	if err := e.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v", err)
	}
}
