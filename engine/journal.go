package engine

import "sync"

// Journal makes sequenced commands durable. The engine's journal stage
// calls Append for each command of a batch, in sequence order, then Commit
// once; it acknowledges none of the batch's commands before Commit returns
// nil. If Append or Commit fails, the engine stops acknowledging and every
// later command fails with ErrJournal.
//
// The journal stage is one goroutine: implementations need not be safe for
// concurrent use. The *Command passed to Append is valid only during the
// call.
type Journal interface {
	// Append adds one command to the current batch.
	Append(cmd *Command) error
	// Commit makes every appended command durable (e.g. fsync) before it
	// returns.
	Commit() error
}

// PipelinedJournal is a Journal that can overlap syncs: CommitAsync hands
// the appended batch to storage, in order, and returns at once; wait
// returns once that batch is durable. While up to Options.CommitsInFlight
// batches sync, the engine delivers the ones before and gathers the next,
// and still acknowledges nothing before its wait returns. Each wait is
// called once, in batch order, on another goroutine than Append and
// CommitAsync.
type PipelinedJournal interface {
	Journal
	CommitAsync() (wait func() error, err error)
}

// MemJournal is an in-memory Journal for tests and benchmarks: it keeps
// every committed command and can be told to fail. Its methods are safe for
// concurrent use.
type MemJournal struct {
	mu      sync.Mutex
	pending []Command
	cmds    []Command
	// FailCommit, if set, is returned by Commit (and the batch dropped).
	failCommit error
	// Discard, if set, keeps nothing (for benchmarks).
	Discard bool
}

// Append implements Journal.
func (j *MemJournal) Append(cmd *Command) error {
	if j.Discard {
		return nil
	}
	j.mu.Lock()
	j.pending = append(j.pending, *cmd)
	j.mu.Unlock()
	return nil
}

// Commit implements Journal.
func (j *MemJournal) Commit() error {
	if j.Discard {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failCommit != nil {
		j.pending = j.pending[:0]
		return j.failCommit
	}
	j.cmds = append(j.cmds, j.pending...)
	j.pending = j.pending[:0]
	return nil
}

// FailCommits makes every later Commit return err (nil: succeed again).
func (j *MemJournal) FailCommits(err error) {
	j.mu.Lock()
	j.failCommit = err
	j.mu.Unlock()
}

// Commands returns a copy of the committed commands, in order.
func (j *MemJournal) Commands() []Command {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Command(nil), j.cmds...)
}
