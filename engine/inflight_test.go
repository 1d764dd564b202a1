package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowSyncJournal is a PipelinedJournal whose syncs take a while; it
// records how many were in flight at once and acknowledges nothing that
// its sync did not cover.
type slowSyncJournal struct {
	MemJournal
	inFlight, most atomic.Int32
	synced         atomic.Int64 // commands covered by a sync that returned (a lower bound)
	appended       atomic.Int64
	batches        atomic.Int64
}

func (j *slowSyncJournal) Append(cmd *Command) error {
	j.appended.Add(1)
	return j.MemJournal.Append(cmd)
}

func (j *slowSyncJournal) CommitAsync() (func() error, error) {
	if err := j.MemJournal.Commit(); err != nil {
		return nil, err
	}
	n := j.appended.Load()
	j.batches.Add(1)
	cur := j.inFlight.Add(1)
	for {
		m := j.most.Load()
		if cur <= m || j.most.CompareAndSwap(m, cur) {
			break
		}
	}
	done := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Microsecond)
		j.inFlight.Add(-1)
		for { // syncs may end out of order: keep the highest
			m := j.synced.Load()
			if n <= m || j.synced.CompareAndSwap(m, n) {
				break
			}
		}
		close(done)
	}()
	return func() error { <-done; return nil }, nil
}

// TestCommitsInFlight submits from many goroutines through a journal with
// slow syncs: at most CommitsInFlight syncs are pending at once, batches
// gather several commands, and no result arrives before its sync.
func TestCommitsInFlight(t *testing.T) {
	for _, k := range []int{1, 3} {
		j := &slowSyncJournal{}
		e, err := Open(&Options{Journal: j, CommitsInFlight: k})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range genesis(8) {
			if _, err := e.Do(context.Background(), &c, nil); err != nil {
				t.Fatal(err)
			}
		}
		before := j.batches.Load()
		var wg sync.WaitGroup
		var early atomic.Int32
		const perG = 300
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perG {
					c := Command{Kind: CmdDeposit, Account: uint64(1 + g%8), Asset: 1, Amount: int64(1 + i)}
					res, err := e.Do(context.Background(), &c, nil)
					if err != nil || res.Err != nil {
						t.Errorf("deposit: %v %v", err, res.Err)
						return
					}
					if int64(res.Seq) > j.synced.Load() {
						early.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		e.Close()
		if early.Load() > 0 {
			t.Fatalf("k=%d: %d results before their sync", k, early.Load())
		}
		if m := j.most.Load(); m > int32(k) {
			t.Fatalf("k=%d: %d syncs in flight at once", k, m)
		}
		batches := j.batches.Load() - before
		t.Logf("k=%d: %d commands in %d batches, at most %d in flight", k, 16*perG, batches, j.most.Load())
		if batches >= 16*perG {
			t.Fatalf("k=%d: %d batches for %d commands: nothing gathered", k, batches, 16*perG)
		}
	}
}
