package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A Submit that waits for room in a full ring and runs out of time says
// both: the queue was full and the context ended.
func TestSubmitTimeoutIsErrFull(t *testing.T) {
	g := &gateJournal{gate: make(chan struct{})}
	e, err := Open(&Options{Journal: g, RingSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	c := Command{Kind: CmdTick}
	var last error
	for range 64 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		last = e.Submit(ctx, &c, nil)
		cancel()
		if last != nil {
			break
		}
	}
	if !errors.Is(last, ErrFull) || !errors.Is(last, context.DeadlineExceeded) {
		t.Fatalf("submit to a full ring until the deadline: %v, want ErrFull and DeadlineExceeded", last)
	}
	close(g.gate)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// Kinds no caller may send are refused at Submit, before they take a
// sequence number or reach the journal; CmdTick and CmdSnapshot, which
// change nothing, are accepted.
func TestSubmitInvalidKind(t *testing.T) {
	j := &MemJournal{}
	e, err := Open(&Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []CommandKind{CmdNone, numCommandKinds, 200, 255} {
		c := Command{Kind: k}
		if err := e.Submit(context.Background(), &c, func(*Result) { t.Errorf("kind %d delivered", k) }); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Submit kind %d: %v, want ErrInvalidCommand", k, err)
		}
		if _, err := e.Do(context.Background(), &c, nil); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Do kind %d: %v, want ErrInvalidCommand", k, err)
		}
	}
	for _, k := range []CommandKind{CmdTick, CmdSnapshot} {
		if res := mustDo(t, e, Command{Kind: k}); res.Err != nil {
			t.Errorf("%v: %v", k, res.Err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	cmds := j.Commands()
	if len(cmds) != 2 || cmds[0].Seq != 1 || cmds[0].Kind != CmdTick || cmds[1].Kind != CmdSnapshot {
		t.Fatalf("journal: %+v", cmds)
	}
}

// Snapshot without a SnapshotStore fails with its sentinel.
func TestSnapshotWithoutStore(t *testing.T) {
	e, err := Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Snapshot(context.Background()); !errors.Is(err, ErrNoSnapshotStore) {
		t.Fatalf("Snapshot: %v, want ErrNoSnapshotStore", err)
	}
	// A CmdSnapshot then changes nothing.
	if res := mustDo(t, e, Command{Kind: CmdSnapshot}); res.Err != nil {
		t.Fatal(res.Err)
	}
}
