package engine

import (
	"context"
	"testing"
)

// Nil functions are refused where they are passed, not where the engine
// would call them.
func TestNilFuncsPanicAtCall(t *testing.T) {
	e, err := Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mustPanic(t, "engine: Subscribe with nil func", func() { e.Subscribe(nil) })
	mustPanic(t, "engine: Leaders with nil func", func() { e.Leaders(nil) })
	mustPanic(t, "engine: Relations with nil func", func() { e.Relations(nil) })
	// The engine still delivers results: no nil subscriber was kept.
	mustDo(t, e, Command{Kind: CmdTick})
	// A nil done is allowed: the result is dropped.
	if err := e.Submit(context.Background(), &Command{Kind: CmdTick}, nil); err != nil {
		t.Fatal(err)
	}
	mustDo(t, e, Command{Kind: CmdTick})
}

// A nil Context is refused at the call with a clear message, not deep in
// the ring when it is full.
func TestNilContextPanics(t *testing.T) {
	e, err := Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var nilCtx context.Context // not a literal nil: staticcheck SA1012
	c := Command{Kind: CmdTick}
	mustPanic(t, "engine: nil Context", func() { _ = e.Submit(nilCtx, &c, nil) })
	mustPanic(t, "engine: nil Context", func() { _, _ = e.Do(nilCtx, &c, nil) })
	mustPanic(t, "engine: nil Context", func() { _ = e.WaitViews(nilCtx, 1) })
	mustPanic(t, "engine: nil Context", func() { _, _ = e.Snapshot(nilCtx) })
	mustDo(t, e, c)
}
