package wal

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/engine"
)

// ErrMismatch is returned by Verify when replaying the log does not reach
// the state a snapshot holds: the state machine did not replay
// deterministically, the log or the snapshot was changed since, or the
// commands were applied under other matching rules than this release's
// (engine.RulesVersion: a log an earlier release wrote verifies with that
// release).
var ErrMismatch = errors.New("wal: the log's replay differs from a snapshot")

// VerifyStats describes a verification (Log.Verify).
type VerifyStats struct {
	// FromSnapshot is the snapshot the replay started from; 0: the
	// empty state (the log holds every command from 1).
	FromSnapshot uint64
	Replayed     int    // commands replayed
	LastSeq      uint64 // the last command replayed: the log's last
	// Matched are the snapshots, after FromSnapshot, at whose sequence
	// number the replayed state was the one the snapshot holds.
	Matched []uint64
	// TornTail is set when the log ends in a torn entry: a write never
	// acknowledged, which Recover would drop. Verify leaves it.
	TornTail bool
	// Unreadable are the snapshots that did not decode (each also makes
	// Verify fail).
	Unreadable []uint64
	Time       time.Duration
}

// Verify checks the log against its snapshots and changes nothing: it
// replays the log from the empty state if the log still holds every
// command from 1, else from the oldest snapshot that decodes and that the
// log continues, and checks that the state it reaches at each newer
// snapshot's sequence number is the state that snapshot holds (both
// encoded by this release, byte for byte: the same state hash). It is
// the check that the data directory replays to what the engine
// recorded, for a stopped istd's directory or a backup.
//
// It fails with ErrMismatch at the first snapshot the replay does not
// reach identically, with ErrCorrupt for a snapshot that does not
// decode, and as Recover does for a damaged entry or a gap in the log; a
// torn last entry is only reported (TornTail). Call it on a Log just
// opened, instead of Recover, and close the Log after: it does not set
// the Log up for Append.
func (l *Log) Verify() (VerifyStats, error) {
	var st VerifyStats
	if err := l.enter(); err != nil {
		return st, err
	}
	defer l.exit()
	t0 := time.Now()
	defer func() { st.Time = time.Since(t0) }()
	seqs, err := l.snapshots() // newest first
	if err != nil {
		return st, err
	}
	slices.Reverse(seqs)
	truncated, err := l.truncatedTo()
	if err != nil {
		return st, err
	}
	first, has, err := l.firstSeq()
	if err != nil {
		return st, err
	}
	// The snapshots, oldest first, decoded; those that do not decode are
	// reported and left out.
	type snap struct {
		seq   uint64
		state *engine.State
	}
	var snaps []snap
	var problems []error
	for _, seq := range seqs {
		s, err := l.readSnapshot(seq)
		if err != nil {
			st.Unreadable = append(st.Unreadable, seq)
			problems = append(problems, fmt.Errorf("%w: snapshot %d: %v", ErrCorrupt, seq, err))
			continue
		}
		snaps = append(snaps, snap{seq, s})
	}
	state := engine.NewState()
	switch {
	case truncated == 0 && (!has || first == 1):
		// The whole log: the strongest check, every snapshot against
		// the history from its start.
	default:
		i := slices.IndexFunc(snaps, func(s snap) bool { return s.seq >= truncated && (!has || first <= s.seq+1) })
		if i < 0 {
			return st, errors.Join(append(problems,
				fmt.Errorf("%w: no readable snapshot the log continues (truncated up to %d)", ErrNoSnapshot, truncated))...)
		}
		st.FromSnapshot = snaps[i].seq
		state = snaps[i].state
		snaps = snaps[i+1:]
	}
	snaps = slices.DeleteFunc(snaps, func(s snap) bool { return s.seq <= state.Seq() })
	check := func() error {
		want := snaps[0].state.AppendSnapshot(nil)
		if !bytes.Equal(state.AppendSnapshot(nil), want) {
			return fmt.Errorf("%w: the state replayed to %d is not the one snapshot %d holds", ErrMismatch, state.Seq(), snaps[0].seq)
		}
		st.Matched = append(st.Matched, snaps[0].seq)
		snaps[0].state = nil
		snaps = snaps[1:]
		return nil
	}
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: commandKey(nil, state.Seq()+1),
		UpperBound: []byte{keyPrefix + 1},
	})
	if err != nil {
		return st, fmt.Errorf("wal: %w", err)
	}
	defer it.Close()
	batches, free := startReadLog(it, state.Seq()+1)
	var evs []engine.Event
	var readErr, mismatch error
	for b := range batches {
		for i := range b.cmds {
			if mismatch != nil {
				break // drain, so that readLog ends
			}
			_, evs = state.Apply(&b.cmds[i], evs[:0])
			st.Replayed++
			if len(snaps) > 0 && state.Seq() == snaps[0].seq {
				mismatch = check()
			}
		}
		if b.err != nil {
			readErr = b.err
			st.TornTail = b.torn != 0
		}
		b.cmds = b.cmds[:0]
		free <- b
	}
	st.LastSeq = state.Seq()
	switch {
	case mismatch != nil:
		problems = append(problems, mismatch)
	case readErr != nil && !st.TornTail:
		problems = append(problems, readErr)
	case len(snaps) > 0:
		problems = append(problems, fmt.Errorf("%w: snapshot %d is past the log's last command, %d", ErrMismatch, snaps[0].seq, st.LastSeq))
	}
	return st, errors.Join(problems...)
}
