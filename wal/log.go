package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/pebbledb"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// Options configure a Log. The zero value (or nil) means defaults.
type Options struct {
	// FS is the filesystem; default vfs.Default. Tests inject faults with
	// Pebble's errorfs.
	FS vfs.FS
	// MemTableSize is Pebble's memtable size: the log is flushed to a table
	// each time this much was written. Default 64 MiB; Open refuses a size
	// outside MinMemTableSize..MaxMemTableSize (ErrInvalidOptions).
	MemTableSize uint64
	// KeepSnapshots is how many of the newest snapshots to keep; log
	// entries older than the oldest kept snapshot are deleted (but see
	// Retain). Default (0 or less) 2.
	KeepSnapshots int
	// Logger receives warnings and errors (a discarded torn tail, a
	// corrupt snapshot), at info level where the replay of each of
	// Pebble's own log files stopped at start-up, and at debug level
	// Pebble's other messages: its level decides which are written.
	// Default: warnings and errors only, as JSON lines on standard error.
	Logger *zerolog.Logger
	// NoTruncate keeps the whole log even when snapshots cover it (for
	// audits, and for tests that replay it from the start).
	NoTruncate bool
	// IgnoreSnapshots makes Recover replay the whole log from sequence 1
	// (it fails if the log was truncated).
	IgnoreSnapshots bool
	// ReplayAfter asks Recover to start from the newest readable snapshot
	// at or before it, when there is one, instead of the newest: then
	// OnReplay sees every command after ReplayAfter. A read model saved
	// at ReplayAfter (istd's order history) catches up without a gap even
	// when a snapshot was taken after its last save. When no readable
	// snapshot is at or before it, Recover replays from a new state
	// (sequence 0) if the log still starts at sequence 1 (it was never
	// truncated: its first entry holds command 1, and it reaches the
	// oldest newer snapshot), so that OnReplay still sees every command;
	// otherwise it starts from the oldest readable snapshot, the smallest
	// gap (RecoveryStats.SnapshotSeq then exceeds ReplayAfter). 0: the
	// newest, unless ReplayFromStart.
	ReplayAfter uint64
	// ReplayFromStart makes a ReplayAfter of 0 mean sequence 0 instead
	// of "the newest snapshot": the read models fed by OnReplay hold
	// nothing yet (istd's order history before its first save), and
	// Recover treats them as it treats a ReplayAfter older than every
	// snapshot (see ReplayAfter).
	ReplayFromStart bool
	// Retain, if set, returns the sequence number up to which read models
	// kept beside the log (istd's order history and leader statistics)
	// are durably saved: the ReplayAfter of the next start. Truncation
	// then keeps what they need to catch up: besides the newest
	// KeepSnapshots snapshots, the newest snapshot at or before Retain(),
	// and the log after it (it truncates up to the older of that snapshot
	// and the oldest of the newest KeepSnapshots). With no snapshot at or
	// before Retain(), it keeps the oldest snapshot instead and does not
	// truncate at all: the log is needed from its current start. Older
	// snapshots are deleted as without Retain, so at most KeepSnapshots+1
	// are kept. The log grows while Retain() stays behind: save the read
	// models at least once per snapshot.
	//
	// Retain is called by SaveSnapshot, on the engine's snapshot
	// goroutine, with the log's lock held: it must be fast, must not call
	// any method of the Log (it would deadlock), and should only read
	// atomics. Its value must be durable: a read model's save counts once
	// its write has been synced.
	Retain func() uint64
	// OnReplay, if set, is called by Recover with every command it replays
	// after the snapshot and its result, in order: read models derived from
	// the event stream catch up with it. The arguments are valid only
	// during the call.
	OnReplay func(cmd *engine.Command, res *engine.Result)
}

// Log is the durable command log of an engine: a Pebble database of
// blocks of sequenced commands (one per journal batch; see the package
// documentation) next to a directory of state snapshots. It implements
// engine.Journal and engine.SnapshotStore.
//
// Layout of a data directory:
//
//	DIR/log/             Pebble: one key per block, 'c' + its last seq
//	DIR/snapshots/       snap-<seq>.ist: engine.State.AppendSnapshot
//
// Append and Commit are called by the engine's journal goroutine;
// SaveSnapshot by its snapshot goroutine; Backup by anyone. They may run
// concurrently with each other, and with Close: after Close every method
// returns ErrClosed (LastSeq its last value), and Close waits for the
// calls that are using the database to return.
//
// The log knows the sequence number of its last command (LastSeq), and
// Append accepts only the one that follows it: an engine started on a
// log must start from the state that Recover returned (see Append).
type Log struct {
	dir  string
	fs   vfs.FS
	db   *pebble.DB
	opts Options
	log  zerolog.Logger

	batch *pebble.Batch // journal goroutine only
	blk   block         // journal goroutine only: the block being appended

	mu sync.Mutex // snapshots and backups

	unreadable []uint64 // snapshots the last Recover skipped

	failed atomic.Bool // a commit failed: the database must be reopened

	// last is the sequence number of the last command in the log,
	// appended ones included (see LastSeq).
	last atomic.Uint64

	// closed is set by Close; users counts the calls using the database
	// (enter, exit), which Close waits for. closeMu serializes Closes.
	closed  atomic.Bool
	users   atomic.Int64
	closeMu sync.Mutex
}

// ErrFailed: an earlier commit failed; reopen the log to recover.
var ErrFailed = errors.New("wal: an earlier commit failed; reopen to recover")

// ErrNoSnapshot: the log was truncated but no valid snapshot covers it.
var ErrNoSnapshot = errors.New("wal: log truncated and no valid snapshot covers it")

// ErrGap: a sequence number is missing from the log.
var ErrGap = errors.New("wal: gap in the log")

// ErrOutOfSequence: Append was given a command that does not follow the
// log's last one. Appending it would leave a gap or write over commands
// already acknowledged; most often the engine was opened without the
// state that Log.Recover returned.
var ErrOutOfSequence = errors.New("wal: command out of sequence")

// ErrClosed: the log was closed.
var ErrClosed = errors.New("wal: closed")

// ErrInvalidOptions: Open was given options it cannot use; the error
// says which.
var ErrInvalidOptions = errors.New("wal: invalid options")

// The range of Options.MemTableSize. Pebble refuses (or panics on) sizes
// outside a wider range; these are the ones the log is tested with.
const (
	MinMemTableSize = 64 << 10
	MaxMemTableSize = 1 << 30
)

// Open opens (or creates) the data directory dir. It returns an error
// wrapping ErrInvalidOptions for options it cannot use.
func Open(dir string, opts *Options) (*Log, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.KeepSnapshots <= 0 {
		o.KeepSnapshots = 2
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 64 << 20
	}
	if o.MemTableSize < MinMemTableSize || o.MemTableSize > MaxMemTableSize {
		return nil, fmt.Errorf("%w: MemTableSize %d is outside %d..%d", ErrInvalidOptions,
			o.MemTableSize, MinMemTableSize, MaxMemTableSize)
	}
	l := &Log{dir: dir, fs: o.FS, opts: o}
	if o.Logger != nil {
		l.log = *o.Logger
	} else {
		l.log = zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Str("component", "wal").Logger()
	}
	if err := o.FS.MkdirAll(l.snapDir(), 0o755); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	db, err := pebbledb.Open(filepath.Join(dir, "log"), logOptions(&o, quietLogger{l: &l.log}), describeKey)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	l.db = db
	l.removeSnapshotTemps()
	last, err := l.lastOnDisk()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	l.last.Store(last)
	l.batch = db.NewBatch()
	return l, nil
}

// removeSnapshotTemps deletes the temporary files of snapshots whose
// writing a crash cut short (SaveSnapshot): never read, they would
// otherwise stay, each as large as a snapshot, one more per such crash.
// Only the process holding the log writes snapshots, and Open holds it
// (Pebble's lock) when it calls this. A file it cannot delete is logged
// and left.
func (l *Log) removeSnapshotTemps() {
	names, err := l.fs.List(l.snapDir())
	if err != nil {
		l.log.Warn().Err(err).Msg("listing snapshots for temporary files")
		return
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "snap-") || !strings.HasSuffix(n, ".ist.tmp") {
			continue
		}
		path := filepath.Join(l.snapDir(), n)
		if err := l.fs.Remove(path); err != nil {
			l.log.Warn().Err(err).Str("file", path).Msg("temporary file of an unfinished snapshot left in place")
			continue
		}
		l.log.Info().Str("file", path).Msg("deleted the temporary file of a snapshot a crash cut short")
	}
}

// lastOnDisk returns the sequence number of the last command the log
// holds: its last entry's, or the newest snapshot's or the truncation
// mark's if they reach further (a log truncated up to its snapshot may
// have no entry left). 0: an empty log.
func (l *Log) lastOnDisk() (uint64, error) {
	last, err := l.truncatedTo()
	if err != nil {
		return 0, err
	}
	seqs, err := l.snapshots()
	if err != nil {
		return 0, err
	}
	if len(seqs) > 0 {
		last = max(last, seqs[0])
	}
	key, err := l.lastKey()
	return max(last, key), err
}

// LastSeq returns the sequence number of the last command in the log, 0
// for an empty log: that of its last entry, or of its newest snapshot if
// that is further (a log truncated up to its snapshot may have no entry
// left), or that of the last command appended since. After Recover it is
// the recovered state's Seq: an engine opened with that state appends
// LastSeq()+1 next, and Append refuses any other. It is safe for
// concurrent use, and after Close returns the last value.
func (l *Log) LastSeq() uint64 { return l.last.Load() }

// enter is called by a method that uses the database: it returns
// ErrClosed once Close has started, and otherwise makes Close wait until
// the matching exit.
func (l *Log) enter() error {
	l.users.Add(1)
	if l.closed.Load() {
		l.users.Add(-1)
		return ErrClosed
	}
	return nil
}

func (l *Log) exit() { l.users.Add(-1) }

// logOptions are the Pebble options of the log. The defaults are kept on
// purpose: with larger L0 thresholds, flushed tables that a snapshot's
// truncation covers were not compacted away and the log kept growing;
// without compression the log was not faster and kept about five times
// more table bytes between compactions (TestTruncationReclaimsSpace
// bounds what is kept).
// The format is Pebble's newest (pebbledb.Open), so that damage to
// Pebble's own log stops start-up.
func logOptions(o *Options, logger pebble.Logger) *pebble.Options {
	return &pebble.Options{FS: o.FS, MemTableSize: o.MemTableSize, Logger: logger}
}

// describeKey names a command key for the error of a damaged Pebble log
// (pebbledb.Open): a log entry's key is its last command's.
func describeKey(key []byte) (string, bool) {
	seq, ok := keySeq(key)
	return fmt.Sprintf("command %d", seq), ok
}

func (l *Log) snapDir() string { return filepath.Join(l.dir, "snapshots") }

// Close closes the database. The engine must be closed first: commands
// appended and not committed are dropped. Close waits for the calls in
// progress that use the database (a Recover, a Backup, a SaveSnapshot) to
// return, so it must not be called from Options.OnReplay or from
// BackupWith's first; every later call returns ErrClosed. Closing a closed
// log returns nil.
func (l *Log) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed.Swap(true) {
		return nil
	}
	for l.users.Load() != 0 {
		time.Sleep(100 * time.Microsecond)
	}
	if l.batch != nil {
		l.batch.Close()
		l.batch = nil
	}
	return l.db.Close()
}

// Append implements engine.Journal: it adds cmd to the current block,
// which the next Commit or CommitAsync writes (a block past
// maxBlockBytes goes into the batch and a new one starts).
//
// cmd.Seq must be LastSeq()+1; only an empty log (LastSeq 0) takes any
// first sequence number, for an engine started from a state built
// elsewhere. Any other command is refused with an error wrapping
// ErrOutOfSequence and nothing is appended: it would write over
// acknowledged commands or leave a gap. An engine opened on a log that
// holds commands must be given the state that Recover returned
// (engine.Options.State).
func (l *Log) Append(cmd *engine.Command) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if last := l.last.Load(); cmd.Seq != last+1 && (last != 0 || cmd.Seq == 0) {
		return fmt.Errorf("%w: command %d does not follow the log's last command %d "+
			"(recover the state with Log.Recover and pass it as engine.Options.State)", ErrOutOfSequence, cmd.Seq, last)
	}
	if !l.blk.follows(cmd) {
		if err := l.endBlockGuarded(); err != nil {
			return err
		}
	}
	l.blk.add(cmd)
	l.last.Store(cmd.Seq)
	return nil
}

// endBlockGuarded is endBlock for a caller that has not entered.
func (l *Log) endBlockGuarded() error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	return l.endBlock()
}

// endBlock adds the current block, if any, to the batch.
func (l *Log) endBlock() error {
	if l.blk.n == 0 {
		return nil
	}
	key, value := l.blk.finish()
	if err := l.batch.Set(key, value, nil); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return nil
}

// Commit implements engine.Journal: it commits the batch with Sync and
// returns only once it is on disk. Pebble makes a batch visible before its
// sync completes; the engine acknowledges only after Commit returns.
//
// Pebble treats a failed log write or sync as fatal (it calls its logger's
// Fatalf). Commit turns that into an error, so that the engine stops
// acknowledging and reports it; the database must then be closed and the
// process restarted, which recovers everything that was acknowledged.
func (l *Log) Commit() error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	if err := l.endBlock(); err != nil {
		return err
	}
	if l.batch.Empty() {
		return nil
	}
	if l.failed.Load() {
		return ErrFailed
	}
	err := l.guard(func() error { return l.batch.Commit(pebble.Sync) })
	l.batch.Reset()
	return err
}

// CommitAsync implements engine.PipelinedJournal: it applies the batch to
// Pebble with a synced write but returns before the fsync completes, so
// that the engine can go on meanwhile; wait returns once
// the batch is on disk. Batches reach Pebble's log in call order, and a
// sync covers everything written before it, so no batch is durable before
// the ones ahead of it. (This uses Pebble's ApplyNoSyncWait, the API
// CockroachDB pipelines its Raft log writes with.)
func (l *Log) CommitAsync() (wait func() error, err error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.exit()
	if err := l.endBlock(); err != nil {
		return nil, err
	}
	if l.batch.Empty() {
		return nil, nil
	}
	if l.failed.Load() {
		return nil, ErrFailed
	}
	b := l.batch
	l.batch = l.db.NewBatch()
	if err := l.guard(func() error { return l.db.ApplyNoSyncWait(b, pebble.Sync) }); err != nil {
		return nil, err
	}
	return func() error {
		if err := l.enter(); err != nil {
			return err
		}
		defer l.exit()
		err := l.guard(b.SyncWait)
		b.Close()
		return err
	}, nil
}

// guard runs a Pebble write, turning an error or a Pebble fatal error into
// a failed log.
func (l *Log) guard(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pf, ok := v.(pebbleFatal)
			if !ok {
				panic(v)
			}
			err = pf
		}
		if err != nil {
			l.failed.Store(true)
			err = fmt.Errorf("wal: commit: %w", err)
		}
	}()
	return f()
}

// replayBatch is a run of decoded log records on its way to Apply. A
// batch with err set is the last: err is a damaged entry or a gap, or,
// with torn set, the torn entry at the end of the log (stored under
// sequence torn).
type replayBatch struct {
	cmds []engine.Command
	err  error
	torn uint64
}

// replayBatchSize is the number of commands after which readLog sends a
// batch: it sends whole log entries, so a batch may hold up to an entry
// more.
const replayBatchSize = 1024

// startReadLog runs readLog from sequence next on its own goroutine,
// one batch ahead of the caller, which applies what it receives from
// batches and hands each batch back to free: on two cores that overlaps
// reading and decoding with Apply.
func startReadLog(it *pebble.Iterator, next uint64) (batches <-chan *replayBatch, free chan<- *replayBatch) {
	out, fr := make(chan *replayBatch, 2), make(chan *replayBatch, 4)
	for range 4 {
		fr <- &replayBatch{cmds: make([]engine.Command, 0, replayBatchSize)}
	}
	go readLog(it, next, out, fr)
	return out, fr
}

// readLog iterates the log from sequence next, decodes its entries and
// sends their commands in batches, taking empty batches from free; it
// closes out when done. The first entry may start before next (a block
// that a snapshot ends inside): its commands before next are skipped.
func readLog(it *pebble.Iterator, next uint64, out chan<- *replayBatch, free <-chan *replayBatch) {
	defer close(out)
	b := <-free
	fail := func(err error, torn uint64) {
		b.err, b.torn = err, torn
		out <- b
	}
	for valid, firstEntry := it.First(), true; valid; valid, firstEntry = it.Next(), false {
		key, ok := keySeq(it.Key())
		if !ok {
			fail(fmt.Errorf("%w: bad key %q", ErrCorrupt, it.Key()), 0)
			return
		}
		start := len(b.cmds)
		var err error
		b.cmds, err = decodeEntry(key, it.Value(), b.cmds)
		if err != nil {
			switch {
			case it.Next():
				fail(fmt.Errorf("wal: log entry %d is damaged and more entries follow: %w", key, err), 0)
			case it.Error() != nil: // whether it is the last is unknown
				fail(fmt.Errorf("wal: log entry %d is damaged (%w), and reading on failed: %v", key, err, it.Error()), 0)
			default:
				fail(err, key)
			}
			return
		}
		if first := b.cmds[start].Seq; first != next {
			if first > next || !firstEntry {
				b.cmds = b.cmds[:start]
				fail(fmt.Errorf("%w: expected seq %d, found %d", ErrGap, next, first), 0)
				return
			}
			b.cmds = append(b.cmds[:start], b.cmds[start+int(next-first):]...)
		}
		next = key + 1
		if len(b.cmds) >= replayBatchSize {
			out <- b
			b = <-free
		}
	}
	if err := it.Error(); err != nil {
		fail(fmt.Errorf("wal: %w", err), 0)
		return
	}
	out <- b
}

// RecoveryStats describes a recovery.
type RecoveryStats struct {
	SnapshotSeq   uint64 // 0: started from an empty state
	Replayed      int    // commands replayed after the snapshot
	LastSeq       uint64
	DiscardedTail int // torn log entries (blocks or records) dropped at the end of the log
	// SkippedSnapshots counts the snapshots that could not be read (each
	// logged with a warning); an older one, or the empty state, was used.
	SkippedSnapshots int
	SnapshotTime     time.Duration
	ReplayTime       time.Duration
}

// Recover rebuilds the state: the newest valid snapshot (or the one
// Options.ReplayAfter chooses, or a new state), then every logged command
// after it, in sequence. A log entry that fails its
// checksum at the very end of the log (a torn write, never acknowledged)
// is deleted with a warning; a damaged entry or a gap before the end
// stops recovery with an error naming its sequence number. A log
// truncated past the newest readable snapshot (or past the empty state,
// when none is readable) stops it with ErrNoSnapshot. Call it before the
// first Append: LastSeq is then the returned state's Seq.
func (l *Log) Recover() (*engine.State, RecoveryStats, error) {
	var st RecoveryStats
	if err := l.enter(); err != nil {
		return nil, st, err
	}
	defer l.exit()
	t0 := time.Now()
	state, err := l.loadSnapshot(&st)
	if err != nil {
		return nil, st, err
	}
	st.SnapshotTime = time.Since(t0)
	t1 := time.Now()
	truncated, err := l.truncatedTo()
	if err != nil {
		return nil, st, err
	}
	if truncated > state.Seq() {
		return nil, st, fmt.Errorf("%w: log truncated up to %d, snapshot is at %d", ErrNoSnapshot, truncated, state.Seq())
	}
	first, ok, err := l.firstSeq()
	if err != nil {
		return nil, st, err
	}
	if ok && first > state.Seq()+1 {
		return nil, st, fmt.Errorf("%w: log starts at %d, snapshot is at %d", ErrNoSnapshot, first, state.Seq())
	}
	if !ok && st.SkippedSnapshots > 0 && st.SnapshotSeq == 0 {
		// The first entry is damaged where it says where it starts, and
		// no snapshot could be read: whether the log was truncated before
		// it is unknown, so it cannot be taken for a torn tail.
		return nil, st, fmt.Errorf("%w: no snapshot readable and the log's first entry is damaged", ErrNoSnapshot)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: commandKey(nil, state.Seq()+1),
		UpperBound: []byte{keyPrefix + 1},
	})
	if err != nil {
		return nil, st, fmt.Errorf("wal: %w", err)
	}
	batches, free := startReadLog(it, state.Seq()+1)
	var evs []engine.Event
	var readErr error
	torn := uint64(0)
	for b := range batches {
		for i := range b.cmds {
			cmd := &b.cmds[i]
			var out engine.Outcome
			out, evs = state.Apply(cmd, evs[:0])
			if l.opts.OnReplay != nil {
				l.opts.OnReplay(cmd, &engine.Result{Seq: cmd.Seq, Time: cmd.Time, Kind: cmd.Kind, Tag: cmd.Tag,
					Outcome: out, Events: evs})
			}
		}
		st.Replayed += len(b.cmds)
		if b.err != nil {
			readErr, torn = b.err, b.torn
		}
		b.cmds = b.cmds[:0]
		free <- b
	}
	it.Close()
	if torn != 0 {
		l.log.Warn().Uint64("seq", torn).Err(readErr).Msg("discarding torn log entry at the end of the log")
		if err := l.db.DeleteRange(commandKey(nil, torn), []byte{keyPrefix + 1}, pebble.Sync); err != nil {
			return nil, st, fmt.Errorf("wal: discard torn tail: %w", err)
		}
		st.DiscardedTail++
	} else if readErr != nil {
		return nil, st, readErr
	}
	st.LastSeq = state.Seq()
	st.ReplayTime = time.Since(t1)
	l.setAsideUnreadable()
	last, err := l.lastOnDisk()
	if err != nil {
		return nil, st, err
	}
	l.last.Store(max(last, state.Seq()))
	return state, st, nil
}

// setAsideUnreadable renames the snapshots that a successful recovery
// found unreadable to snap-<seq>.ist.corrupt: kept for inspection, but no
// longer snapshots. Otherwise prune would count a newer unreadable one
// among those it keeps, delete a readable one in its place, and truncate
// the log up to the unreadable one.
func (l *Log) setAsideUnreadable() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, seq := range l.unreadable {
		path := l.snapPath(seq)
		if err := l.fs.Rename(path, path+".corrupt"); err != nil {
			l.log.Error().Uint64("seq", seq).Err(err).Msg("cannot set aside unreadable snapshot")
			continue
		}
		l.log.Warn().Uint64("seq", seq).Str("path", path+".corrupt").Msg("unreadable snapshot set aside")
	}
	l.unreadable = l.unreadable[:0]
	if err := l.syncDir(l.snapDir()); err != nil {
		l.log.Error().Err(err).Msg("sync snapshot directory")
	}
}

// truncKey holds the sequence number up to which prune has truncated the
// log (u64, big-endian): a state recovered from this log must be at least
// that far. Logs of earlier releases do not have it.
var truncKey = []byte{'t'}

// truncatedTo returns the sequence number up to which the log was
// truncated (0: never, or by an earlier release).
func (l *Log) truncatedTo() (uint64, error) {
	v, closer, err := l.db.Get(truncKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("wal: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: truncation mark of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// firstSeq returns the lowest sequence number in the log. If the first
// entry is damaged, it is taken from the entry's header when the header
// is intact; otherwise it reports none, and Recover's reading reports
// the damage.
func (l *Log) firstSeq() (uint64, bool, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyPrefix}, UpperBound: []byte{keyPrefix + 1}})
	if err != nil {
		return 0, false, fmt.Errorf("wal: %w", err)
	}
	defer it.Close()
	if !it.First() {
		return 0, false, it.Error()
	}
	key, ok := keySeq(it.Key())
	if !ok {
		return 0, false, fmt.Errorf("%w: bad key %q", ErrCorrupt, it.Key())
	}
	first, err := entryFirst(key, it.Value())
	if err != nil {
		if first, _, err := blockBounds(key, it.Value()); err == nil {
			return first, true, nil
		}
		return 0, false, nil
	}
	return first, true, nil
}

// snapshots lists the snapshot sequence numbers on disk, newest first.
// Only names in the form snapPath gives count: another file such as
// snap-7.ist (renamed by hand) would be listed as 7 and then looked for
// under snapPath's name, missed, and fail the pruning that deletes it.
func (l *Log) snapshots() ([]uint64, error) {
	names, err := l.fs.List(l.snapDir())
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	var seqs []uint64
	for _, n := range names {
		if s, ok := strings.CutPrefix(n, "snap-"); ok {
			if s, ok := strings.CutSuffix(s, ".ist"); ok {
				if seq, err := strconv.ParseUint(s, 10, 64); err == nil && n == filepath.Base(l.snapPath(seq)) {
					seqs = append(seqs, seq)
				}
			}
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] > seqs[j] })
	return seqs, nil
}

func (l *Log) snapPath(seq uint64) string {
	return filepath.Join(l.snapDir(), fmt.Sprintf("snap-%020d.ist", seq))
}

// loadSnapshot returns the snapshot Recover starts from, or a new state:
// the newest that decodes, or with ReplayAfter (or ReplayFromStart) the
// newest at or before ReplayAfter, else a new state if the log still
// starts at 1, else the oldest newer one (see Options.ReplayAfter).
func (l *Log) loadSnapshot(st *RecoveryStats) (*engine.State, error) {
	if l.opts.IgnoreSnapshots {
		return engine.NewState(), nil
	}
	seqs, err := l.snapshots()
	if err != nil {
		return nil, err
	}
	l.unreadable = l.unreadable[:0]
	after := l.opts.ReplayAfter
	if after == 0 && !l.opts.ReplayFromStart {
		if s := l.firstReadable(seqs, st); s != nil {
			return s, nil
		}
		return engine.NewState(), nil
	}
	// The snapshots at or before ReplayAfter first, newest first; then
	// the whole log if it is there; then the newer snapshots, oldest
	// first: the nearest leaves the smallest gap.
	i := sort.Search(len(seqs), func(i int) bool { return seqs[i] <= after })
	if s := l.firstReadable(seqs[i:], st); s != nil {
		return s, nil
	}
	newer := slices.Clone(seqs[:i])
	slices.Reverse(newer)
	if len(newer) > 0 {
		whole, err := l.startsAtOne(newer[0])
		if err != nil {
			return nil, err
		}
		if whole {
			return engine.NewState(), nil
		}
	}
	if s := l.firstReadable(newer, st); s != nil {
		return s, nil
	}
	return engine.NewState(), nil
}

// firstReadable returns the state of the first of the snapshots seqs that
// decodes, or nil; it counts and logs those that do not, and remembers
// them (setAsideUnreadable).
func (l *Log) firstReadable(seqs []uint64, st *RecoveryStats) *engine.State {
	for _, seq := range seqs {
		s, err := l.readSnapshot(seq)
		if err == nil {
			st.SnapshotSeq = seq
			return s
		}
		l.log.Warn().Uint64("seq", seq).Err(err).Msg("skipping unreadable snapshot")
		st.SkippedSnapshots++
		l.unreadable = append(l.unreadable, seq)
	}
	return nil
}

// readSnapshot reads and decodes snapshot seq.
func (l *Log) readSnapshot(seq uint64) (*engine.State, error) {
	data, err := l.readFile(l.snapPath(seq))
	if err != nil {
		return nil, err
	}
	s, err := engine.DecodeState(data)
	if err == nil && s.Seq() != seq {
		err = fmt.Errorf("snapshot file says %d, content %d", seq, s.Seq())
	}
	return s, err
}

// startsAtOne reports whether the log holds every command from 1 to at
// least upTo, as far as its bounds tell (a gap inside stops the replay):
// it was never truncated, its first entry holds command 1, and its last
// entry reaches upTo. An empty log does not: a snapshot may hold a state
// built elsewhere, or a release before the truncation mark may have
// truncated all of it.
func (l *Log) startsAtOne(upTo uint64) (bool, error) {
	truncated, err := l.truncatedTo()
	if err != nil || truncated != 0 {
		return false, err
	}
	first, ok, err := l.firstSeq()
	if err != nil || !ok || first != 1 {
		return false, err
	}
	last, err := l.lastKey()
	return last >= upTo, err
}

// lastKey returns the sequence number of the log's last entry (0: none).
func (l *Log) lastKey() (uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyPrefix}, UpperBound: []byte{keyPrefix + 1}})
	if err != nil {
		return 0, fmt.Errorf("wal: %w", err)
	}
	var last uint64
	if it.Last() {
		last, _ = keySeq(it.Key())
	}
	if err := it.Error(); err != nil {
		it.Close()
		return 0, fmt.Errorf("wal: %w", err)
	}
	return last, it.Close()
}

func (l *Log) readFile(path string) ([]byte, error) {
	f, err := l.fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// SaveSnapshot implements engine.SnapshotStore: it writes the snapshot to
// a temporary file, syncs it, renames it into place and syncs the
// directory; then it keeps only the newest KeepSnapshots snapshots (and
// the one Options.Retain needs) and deletes the log records that the
// oldest kept one covers.
//
// A snapshot past LastSeq (a state built elsewhere, saved into a new
// log) moves LastSeq up to it.
func (l *Log) SaveSnapshot(seq uint64, data []byte) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	l.mu.Lock()
	defer l.mu.Unlock()
	path := l.snapPath(seq)
	tmp := path + ".tmp"
	f, err := l.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("wal: snapshot: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, path)
	}
	if err == nil {
		err = l.syncDir(l.snapDir())
	}
	if err != nil {
		_ = l.fs.Remove(tmp)
		return fmt.Errorf("wal: snapshot %d: %w", seq, err)
	}
	for {
		last := l.last.Load()
		if seq <= last || l.last.CompareAndSwap(last, seq) {
			break
		}
	}
	return l.prune()
}

func (l *Log) syncDir(dir string) error {
	d, err := l.fs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// prune keeps the newest KeepSnapshots snapshots and truncates the log up
// to the oldest of them; with Retain, it also keeps the newest snapshot
// at or before Retain() and truncates no further than it, or, if there is
// none, keeps the oldest snapshot and does not truncate (see
// Options.Retain). Called with mu held.
func (l *Log) prune() error {
	seqs, err := l.snapshots()
	if err != nil || len(seqs) == 0 {
		return err
	}
	keep := min(len(seqs), l.opts.KeepSnapshots)
	oldest, truncate := seqs[keep-1], !l.opts.NoTruncate
	drop := seqs[keep:]
	if l.opts.Retain != nil {
		r := l.opts.Retain()
		i := sort.Search(len(seqs), func(i int) bool { return seqs[i] <= r })
		if i == len(seqs) {
			// No snapshot the read models could restart from: they need
			// the log from its start, and the oldest snapshot is the
			// nearest to their save if it is truncated.
			i, truncate = len(seqs)-1, false
		}
		if i >= keep {
			oldest = seqs[i]
			drop = append(seqs[keep:i:i], seqs[i+1:]...)
		}
	}
	for _, seq := range drop {
		if err := l.fs.Remove(l.snapPath(seq)); err != nil {
			return fmt.Errorf("wal: prune snapshot %d: %w", seq, err)
		}
	}
	if !truncate {
		return nil
	}
	if prev, err := l.truncatedTo(); err != nil || prev >= oldest {
		return err
	}
	// Records up to the oldest kept snapshot are no longer needed. The
	// range deletion need not be synced: if it is lost, they stay. The
	// mark of how far the log is truncated goes in the same batch, so
	// that recovery never mistakes a truncated log for a whole one.
	b := l.db.NewBatch()
	defer b.Close()
	err = b.DeleteRange(commandKey(nil, 0), commandKey(nil, oldest+1), nil)
	if err == nil {
		err = b.Set(truncKey, binary.BigEndian.AppendUint64(nil, oldest), nil)
	}
	if err == nil {
		err = b.Commit(pebble.NoSync)
	}
	if err != nil {
		return fmt.Errorf("wal: truncate: %w", err)
	}
	return nil
}

// Backup writes an online, consistent copy of the data directory to dir:
// a Pebble checkpoint of the log (dir/log) and a copy of the snapshots
// (dir/snapshots), neither of which may exist yet (dir may: istd puts its
// metadata store there first). istd can start from dir as is. Snapshots
// and truncation wait while a backup runs.
func (l *Log) Backup(dir string) error {
	return l.BackupWith(dir, nil)
}

// BackupWith is Backup that first calls first, if not nil, with the
// sequence number of the newest snapshot (0: none), while no snapshot can
// be saved and no log truncated: what first copies of a read model kept
// beside the log (istd's order history) is then never older than every
// snapshot the backup holds, as long as it reaches that newest one. An
// error from first ends the backup. first must not call Close, SaveSnapshot
// or Backup.
func (l *Log) BackupWith(dir string, first func(newestSnapshot uint64) error) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sub := range []string{"log", "snapshots"} {
		if _, err := l.fs.Stat(filepath.Join(dir, sub)); err == nil {
			return fmt.Errorf("wal: backup: %s already exists", filepath.Join(dir, sub))
		}
	}
	if first != nil {
		seqs, err := l.snapshots()
		if err != nil {
			return err
		}
		var newest uint64
		if len(seqs) > 0 {
			newest = seqs[0]
		}
		if err := first(newest); err != nil {
			return err
		}
	}
	if err := l.fs.MkdirAll(filepath.Join(dir, "snapshots"), 0o755); err != nil {
		return fmt.Errorf("wal: backup: %w", err)
	}
	if err := l.db.Checkpoint(filepath.Join(dir, "log"), pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("wal: backup: checkpoint: %w", err)
	}
	seqs, err := l.snapshots()
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		src := l.snapPath(seq)
		dst := filepath.Join(dir, "snapshots", filepath.Base(src))
		if err := vfs.CopyAcrossFS(l.fs, src, l.fs, dst); err != nil {
			return fmt.Errorf("wal: backup: %w", err)
		}
	}
	if err := l.syncDir(filepath.Join(dir, "snapshots")); err != nil {
		return fmt.Errorf("wal: backup: %w", err)
	}
	return nil
}

// Stats is a summary of the log for metrics and tools.
type Stats struct {
	// FirstSeq and LastSeq bound the commands in the log. Truncation
	// deletes whole blocks, so FirstSeq may lie a little before the
	// oldest snapshot kept.
	FirstSeq, LastSeq uint64
	Snapshots         []uint64 // newest first
}

// Stats reads the log's bounds and snapshots.
func (l *Log) Stats() (Stats, error) {
	var s Stats
	if err := l.enter(); err != nil {
		return s, err
	}
	defer l.exit()
	first, ok, err := l.firstSeq()
	if err != nil {
		return s, err
	}
	if ok {
		s.FirstSeq = first
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyPrefix}, UpperBound: []byte{keyPrefix + 1}})
		if err != nil {
			return s, err
		}
		if it.Last() {
			s.LastSeq, _ = keySeq(it.Key())
		}
		it.Close()
	}
	s.Snapshots, err = l.snapshots()
	s.Snapshots = slices.Clip(s.Snapshots)
	return s, err
}

// SyncStats is a histogram of the log's fsyncs as Pebble times them: the
// disk's own time per sync, without the wait for the log writer or for the
// engine. Next to the time a batch takes to become durable (istd's
// wal_fsync_duration_seconds), it tells a slow disk from a busy machine.
type SyncStats struct {
	Count   uint64
	Sum     time.Duration
	Buckets []SyncBucket // cumulative, by increasing Le
}

// SyncBucket is one bucket of SyncStats: Count syncs took at most Le.
type SyncBucket struct {
	Le    time.Duration
	Count uint64
}

// SyncStats returns the fsyncs of the log since it was opened. Pebble
// counts a sync just after waking the commits that waited for it, so the
// latest one may be missing for a moment after its commit returned.
func (l *Log) SyncStats() (SyncStats, error) {
	if err := l.enter(); err != nil {
		return SyncStats{}, err
	}
	defer l.exit()
	var m dto.Metric
	if err := l.db.Metrics().LogWriter.FsyncLatency.Write(&m); err != nil {
		return SyncStats{}, fmt.Errorf("wal: %w", err)
	}
	h := m.GetHistogram()
	st := SyncStats{Count: h.GetSampleCount(), Sum: time.Duration(h.GetSampleSum()), // Pebble observes nanoseconds
		Buckets: make([]SyncBucket, 0, len(h.GetBucket()))}
	for _, b := range h.GetBucket() {
		st.Buckets = append(st.Buckets, SyncBucket{Le: time.Duration(b.GetUpperBound()), Count: b.GetCumulativeCount()})
	}
	return st, nil
}

// quietLogger routes Pebble's informational logs to debug level (but
// for the end of each log file's replay, at start-up), and
// turns its fatal errors into a pebbleFatal panic that Commit recovers.
type quietLogger struct{ l *zerolog.Logger }

// pebbleFatal is the error of a Pebble Fatalf.
type pebbleFatal struct{ msg string }

func (f pebbleFatal) Error() string { return "pebble: " + f.msg }

func (q quietLogger) Infof(format string, args ...any) {
	lvl := zerolog.DebugLevel
	if strings.Contains(format, "stopped reading at offset") {
		// Where the replay of each of Pebble's own log files ended: a
		// write a crash cut short (never synced) was dropped there.
		lvl = zerolog.InfoLevel
	}
	q.l.WithLevel(lvl).Msgf(format, args...)
}

func (q quietLogger) Errorf(format string, args ...any) { q.l.Error().Msgf(format, args...) }
func (q quietLogger) Fatalf(format string, args ...any) {
	q.l.Error().Msgf(format, args...)
	panic(pebbleFatal{msg: fmt.Sprintf(format, args...)})
}
