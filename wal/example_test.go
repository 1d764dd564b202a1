package wal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/wal"
)

// run opens the log in dir, recovers its state, runs an engine on it that
// applies cmds (each acknowledged only once it is on disk), and closes
// both. It returns the final state's hash.
func run(dir string, cmds ...engine.Command) [32]byte {
	l, err := wal.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	state, _, err := l.Recover()
	if err != nil {
		panic(err)
	}
	e, err := engine.Open(&engine.Options{Journal: l, State: state, Snapshots: l})
	if err != nil {
		panic(err)
	}
	for i := range cmds {
		res, err := e.Do(context.Background(), &cmds[i], nil)
		if err != nil || res.Err != nil {
			panic(fmt.Sprint(err, res.Err))
		}
	}
	if err := e.Close(); err != nil {
		panic(err)
	}
	hash := e.State().Hash()
	if err := l.Close(); err != nil {
		panic(err)
	}
	return hash
}

// recovered returns the state recovered from the log in dir, as a
// restart does.
func recovered(dir string) *engine.State {
	l, err := wal.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	state, _, err := l.Recover()
	if err != nil {
		panic(err)
	}
	return state
}

// A durable engine: every command is in the log before Do returns, and a
// restart rebuilds the same state from it.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	usd, _ := engine.MakeName("USD")
	alice, _ := engine.MakeName("alice")
	before := run(dir,
		engine.Command{Kind: engine.CmdCreateAsset, Name: usd},
		engine.Command{Kind: engine.CmdCreateAccount, Name: alice},
		engine.Command{Kind: engine.CmdDeposit, Account: 1, Asset: 1, Amount: 500},
	)
	state := recovered(dir)
	v, err := state.AccountView(1)
	if err != nil {
		panic(err)
	}
	fmt.Println("after a restart:", v.Name.String(), v.Balances[0].Available)
	fmt.Println("same state:", state.Hash() == before)
	// Output:
	// after a restart: alice 500
	// same state: true
}

// An online backup is a data directory of its own: an engine starts from
// it as is, with the state the source had when the backup was taken.
func ExampleLog_Backup() {
	dir, err := os.MkdirTemp("", "wal-backup")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	src, dst := filepath.Join(dir, "data"), filepath.Join(dir, "backup")

	usd, _ := engine.MakeName("USD")
	want := run(src, engine.Command{Kind: engine.CmdCreateAsset, Name: usd})

	l, err := wal.Open(src, nil)
	if err != nil {
		panic(err)
	}
	if err := l.Backup(dst); err != nil { // the source could be serving meanwhile
		panic(err)
	}
	if err := l.Close(); err != nil {
		panic(err)
	}
	fmt.Println("backup has the source's state:", recovered(dst).Hash() == want)
	// Output:
	// backup has the source's state: true
}
