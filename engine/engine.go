package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/instant-social-trading/ist/internal/prefetch"
	"github.com/instant-social-trading/ist/internal/ring"
)

// DefaultRingSize is the default number of ingress slots (Options.RingSize).
// A ring holds commands waiting for the matcher and results waiting for
// their sync and delivery; under load producers fill it, and the matcher
// then works through all of it. A larger ring is a larger working set:
// on a 2-core machine with a 2-MiB L2 per core, 16,384 slots (14 MiB)
// gave 12-19% less throughput than 8,192 (istbench engine, closed loop,
// alternating runs). 8,192 slots still hold three of the journal batches
// a durable engine makes at 2M commands/s (about 2,500 commands each),
// and 4 ms of commands at that rate. With FailFast the ring is also the
// most commands in flight before Submit refuses them, counting those of
// a batch whose results are being delivered: size it for the peak (istd
// uses 16,384).
const DefaultRingSize = 1 << 13

// MaxRingSize is the largest Options.RingSize Open accepts: 16M slots,
// 14 GiB.
const MaxRingSize = 1 << 24

// MaxCapacity is the largest Options.Capacity.Orders and
// Options.Capacity.BookOrders Open accepts: the most orders the state
// indexes (by int32), or on 32-bit platforms the most whose memory can
// be addressed. Room for that many orders takes that much memory at once.
const MaxCapacity = min(math.MaxInt32, math.MaxInt>>7)

// Options configure an Engine. The zero value (or nil) means defaults.
type Options struct {
	// RingSize is the number of ingress slots, a power of two up to
	// MaxRingSize. Default DefaultRingSize. Each slot takes 896 bytes:
	// the command and its outcome, and room for four events (7 MiB for
	// the default).
	RingSize int
	// MaxBatch caps the commands the matcher and the journal take at once.
	// Default (0 or less) 4096; a batch is never larger than RingSize.
	MaxBatch int
	// CommitsInFlight is how many journal batches may be waiting for their
	// sync at once with a PipelinedJournal; while they wait, the next
	// batch gathers what the matcher sequences. Default 1: the sync of one
	// batch overlaps the delivery of the one before and the gathering of
	// the next. More in flight make smaller batches, each with its own
	// write and wake-ups; with one, istd served 20% more single orders
	// per second over HTTP (istbench http). At most RingSize; 0 or less
	// is the default. It matters only with a PipelinedJournal.
	CommitsInFlight int
	// Journal makes commands durable before they are acknowledged.
	// Default: a MemJournal that discards (no durability). If it has a
	// method LastSeq() uint64, the sequence number of the last command
	// it holds (wal.Log has), Open refuses a State that does not end
	// there (ErrJournalMismatch): the engine numbers its commands from
	// State.Seq()+1 and would write them over acknowledged ones.
	Journal Journal
	// FailFast makes Submit return ErrFull at once when the ingress ring is
	// full, instead of waiting for room (bounded by its context).
	FailFast bool
	// DepthLevels is the number of price levels per side in MarketView.
	// Default (0 or less) 50.
	DepthLevels int
	// ViewInterval is how often, at most, the matcher rebuilds the views
	// of what changed (MarketView, AccountView); views are then at most
	// this stale. Default (0 or less) 1ms.
	ViewInterval time.Duration
	// Clock is the sequencer's clock in Unix nanoseconds. Default
	// time.Now().UnixNano. Timestamps never go backwards.
	Clock func() int64
	// State is the state to start from; its Seq is the last sequence
	// number already applied. Default NewState(). It must be the state
	// the Journal ends at: with a journal that holds commands, recover
	// the state with the journal's Recover (wal.Log.Recover) and pass it
	// here. The engine owns it until Close: nothing else may use it
	// meanwhile, and Open refuses a State another open engine owns
	// (ErrStateInUse). After Close, Engine.State returns it.
	State *State
	// Capacity is reserved in State before the engine starts (see
	// State.Reserve), so that matching does not pause to grow its tables
	// before the state reaches it. Zero: start small and grow as needed.
	// Each field is at most MaxCapacity, and not negative.
	Capacity Capacity
	// Snapshots receives state snapshots (see Engine.Snapshot and the
	// package documentation on their pause and memory). Nil: no
	// snapshots are taken (a CmdSnapshot changes nothing, and
	// Engine.Snapshot fails with ErrNoSnapshotStore). With neither
	// SnapshotEvery nor SnapshotInterval, snapshots are taken only when
	// asked for: by Engine.Snapshot or a submitted CmdSnapshot.
	Snapshots SnapshotStore
	// SnapshotEvery takes a snapshot after at least this many commands
	// since the last one. 0: not by count.
	SnapshotEvery uint64
	// SnapshotInterval takes a snapshot this often. 0: never on a timer.
	SnapshotInterval time.Duration
	// OnSnapshot, if set, is called on the snapshot goroutine once each
	// snapshot is saved (err nil) or failed to be, with its sequence
	// number and how long the matcher paused to encode it; a failure is
	// otherwise reported only to a waiting Snapshot call. It must not
	// block: the next snapshot waits for it; nor call Close or Snapshot
	// (see Callbacks on Engine).
	OnSnapshot func(seq uint64, pause time.Duration, err error)
	// Subscribe, if set, is a subscriber there from the start: it is
	// called as a function passed to Engine.Subscribe is, with every
	// result from the very first (Subscribe's get them from the next
	// batch on), and cannot be unsubscribed. The engine may deliver
	// results before Open returns: the CmdTick it submits at once for
	// good-till-date orders whose time passed while it was not running.
	Subscribe func(*Result)
}

// SnapshotStore keeps state snapshots. SaveSnapshot is called on the
// engine's snapshot goroutine, one call at a time, with the encoding of
// the state after command seq (see State.AppendSnapshot), and only once
// that command is durable. data is the store's only until SaveSnapshot
// returns: the engine encodes the next snapshot into the same memory
// (copy what you keep).
type SnapshotStore interface {
	SaveSnapshot(seq uint64, data []byte) error
}

// Result is the outcome of one command, as delivered to its submitter and
// to subscribers.
//
// Seq numbers every command the engine sequences, one after another,
// including the CmdTick and CmdSnapshot commands the engine submits
// itself: a submitter's own commands need not have consecutive numbers.
//
// Who owns Events: in a callback (Submit's done, a subscriber) the Result
// and its Events are valid only during the call, as the engine reuses
// both: copy what you keep. From Do, Events is Do's dst extended with the
// command's events, and is the caller's.
//
// An Outcome.Err that wraps ErrJournal means that the command was applied
// but not acknowledged, and may or may not be in the log; see ErrJournal.
type Result struct {
	Seq  uint64
	Time int64
	Kind CommandKind
	Tag  uint64 // the command's Tag
	Outcome
	Events []Event
}

// slot is one ingress ring entry. The producer fills cmd, done and fut;
// the matcher sets Seq/Time, then out and events; the output stage reads
// them all. See internal/ring for who owns a slot when.
//
// Its size is a multiple of 64 and the ring's array starts on a page, so
// every slot starts on a cache line: what the matcher writes (out,
// events) fills its first line, and a trading command's fields the next
// three (see Command): four lines move between cores per command. done
// and fut, the producer's, share the last line with batchEnd.
type slot struct {
	out    Outcome
	events []Event
	cmd    Command
	done   func(*Result)
	fut    *future
	// batchEnd: a batch of the matcher ended at this slot; what it left
	// after the batch is in Engine.after at the same index. Only a few
	// slots have one, so the rest do not carry (or touch) its fields.
	batchEnd bool
	_        [23]byte // to a multiple of 64 bytes (TestSlotLayout)
}

// slotEvents is the room for events each ring slot has in
// Engine.events; a command with more gets a buffer of its own (append
// grows it). One array in ring order instead of a buffer per slot: the
// matcher writes events in address order, which the hardware prefetches,
// where buffers scattered over the heap were cache misses (about 80 ns a
// command on the benchmarks' order flow, 0.3% of whose commands have
// more than four events).
const slotEvents = 4

// afterBatch is what the matcher leaves after a batch for the results
// stage: views to publish and a snapshot to save.
type afterBatch struct {
	markets   []*MarketView
	accounts  []*AccountView
	relations []*RelationView
	leaders   []*LeaderView
	dir       *Directory
	snap      []byte        // a snapshot taken after the batch's last command, or nil
	snapPause time.Duration // how long the matcher took to encode snap
	// viewsCurrent: once these views are published, every view reflects
	// every command up to the batch's last.
	viewsCurrent bool
}

// Engine runs the pipeline around a State: producers submit commands into
// a lock-free ingress ring; the matcher goroutine sequences and applies
// them; the journal goroutine makes them durable in parallel, then
// delivers results and publishes read views, in sequence order, once both
// are done.
//
// An Engine must be created with Open; the zero Engine is not usable (its
// methods panic). Submit, Do, Subscribe, the view getters and Close are
// safe for concurrent use.
//
// # Callbacks
//
// Submit's done functions, subscribers (Subscribe), Options.OnSnapshot
// and the Journal and SnapshotStore methods run on the engine's own
// goroutines, one at a time: they must not block, since the pipeline
// waits for them. Nor may they wait for the engine, which would be
// waiting for them:
//
//   - Close returns ErrCloseFromCallback and does nothing;
//   - Do, Snapshot and WaitViews wait for results and views that only the
//     calling goroutine delivers: until their context ends (for ever with
//     context.Background());
//   - Submit is safe with Options.FailFast (ErrFull when the ring is
//     full); without it, it waits for room in a full ring that only the
//     calling goroutine frees, until its context ends.
type Engine struct {
	opts  Options
	ring  *ring.Ring[slot]
	after []afterBatch // indexed like the ring's slots (slot.batchEnd)
	// events is where the matcher writes each slot's events:
	// slotEvents per slot, in ring order (see slotEvents).
	events []Event
	state  *State
	base   uint64 // sequence number before ring sequence 1

	stamped  ring.Sequence // highest ring seq sequenced by the matcher
	matched  ring.Sequence // highest ring seq applied by the matcher
	durable  ring.Sequence // highest ring seq committed by the journal
	stampedW *ring.Waiter
	matchedW *ring.Waiter

	subMu sync.Mutex
	subs  atomic.Pointer[[]*subscriber]

	marketViews  viewMap[uint32, MarketView]
	accountViews viewMap[uint64, AccountView]
	relViews     viewMap[uint64, RelationView] // by relation id
	leaderViews  viewMap[uint64, LeaderView]   // by leader account id
	dir          atomic.Pointer[Directory]

	failed    atomic.Pointer[error]
	closing   atomic.Bool // Close has begun
	closeOnce sync.Once   // the shutdown, which every Close waits for
	wg        sync.WaitGroup
	futures   sync.Pool
	// callers holds the ids of the goroutines that run callers' code
	// (output, deliverer, snapshotter), each stored by the goroutine
	// itself as it starts, for Close to refuse to wait for itself.
	callers [3]atomic.Uint64

	snaps     chan snapshotJob
	snapDone  sync.WaitGroup
	snapSaved atomic.Uint64 // seq of the last snapshot saved
	snapErr   atomic.Pointer[snapshotErr]
	snapBusy  atomic.Bool
	// snapBuf is the last snapshot's memory, for the next: owned by the
	// matcher while snapBusy is false, else by the snapshot goroutine
	// (or the results stage, which drops a snapshot the journal failed).
	// Reusing it spares the matcher's pause the page faults of a new
	// buffer of hundreds of megabytes.
	snapBuf   []byte
	snapPause atomic.Int64 // ns the matcher spent encoding the last snapshot
	stop      chan struct{}
	owed      chan struct{} // the matcher owes views and is going idle
	// expiryOwed: the matcher, going idle, tells the ticker that the
	// earliest expiry time of a good-till-date order changed; it is in
	// expiryAt (math.MaxInt64: none).
	expiryOwed chan struct{}
	expiryAt   atomic.Int64
	viewSeq    atomic.Uint64 // views reflect every command up to this seq
	viewW      ring.Waiter

	// freeze is what the snapshot goroutine encodes the resting orders of
	// the matcher's last snapshot from (snapFreeze), owned like snapBuf.
	// Last: the fields above keep the layout they were measured with.
	freeze snapFreeze
	// left is the matcher's record of the views it still owed when it
	// stopped (nil if none), for Close to publish; written by the matcher
	// before it returns, read by Close after the stages have stopped.
	left *touched
}

type snapshotErr struct {
	seq uint64
	err error
}

type snapshotJob struct {
	seq   uint64
	data  []byte
	pause time.Duration // the matcher's, to encode data
}

type subscriber struct{ fn func(*Result) }

// Open starts an engine. Close it to stop its goroutines. Options out of
// their documented range are refused with an error that wraps
// ErrInvalidOptions, before anything is reserved or allocated.
func Open(opts *Options) (*Engine, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.RingSize == 0 {
		o.RingSize = DefaultRingSize
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	o.MaxBatch = min(o.MaxBatch, o.RingSize) // also spares next+MaxBatch an overflow
	if o.CommitsInFlight <= 0 {
		o.CommitsInFlight = 1
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if j, ok := o.Journal.(interface{ LastSeq() uint64 }); ok {
		var seq uint64 // NewState's
		if o.State != nil {
			seq = o.State.Seq()
		}
		if last := j.LastSeq(); last != seq {
			return nil, fmt.Errorf("%w: the journal ends at sequence number %d, the state at %d: recover the state with the journal's Recover and pass it as Options.State",
				ErrJournalMismatch, last, seq)
		}
	}
	if o.Journal == nil {
		o.Journal = &MemJournal{Discard: true}
	}
	if o.DepthLevels <= 0 {
		o.DepthLevels = 50
	}
	if o.ViewInterval <= 0 {
		o.ViewInterval = time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = func() int64 { return time.Now().UnixNano() }
	}
	if o.State == nil {
		o.State = NewState()
	}
	r, err := ring.New[slot](o.RingSize)
	if err != nil { // not after check
		return nil, fmt.Errorf("%w: RingSize %d: %w", ErrInvalidOptions, o.RingSize, err)
	}
	if !own(o.State) {
		return nil, ErrStateInUse
	}
	o.State.Reserve(o.Capacity)
	e := &Engine{opts: o, ring: r, after: make([]afterBatch, o.RingSize), state: o.State, base: o.State.Seq(),
		events:   make([]Event, o.RingSize*slotEvents),
		stampedW: &ring.Waiter{}, matchedW: &ring.Waiter{}}
	e.futures.New = func() any { return &future{ch: make(chan struct{}, 1)} }
	if o.Subscribe != nil {
		e.subs.Store(&[]*subscriber{{fn: o.Subscribe}})
	}
	e.dir.Store(o.State.directory())
	e.publishAll()
	e.viewSeq.Store(o.State.Seq())
	e.stop = make(chan struct{})
	e.owed = make(chan struct{}, 1)
	e.expiryOwed = make(chan struct{}, 1)
	e.expiryAt.Store(math.MaxInt64)
	if o.Snapshots != nil {
		e.snaps = make(chan snapshotJob, 1)
		e.snapDone.Add(1)
		e.snapBusy.Store(true) // until the snapshot goroutine has the first buffer ready
		go e.snapshotter(e.state.snapshotSizeHint())
		if o.SnapshotInterval > 0 {
			e.snapDone.Add(1)
			go e.snapshotTimer()
		}
	}
	e.wg.Add(3)
	go e.matcher()
	go e.output()
	go e.ticker()
	return e, nil
}

// check validates the sizes of o, its defaults set, before Open
// allocates by them.
func (o *Options) check() error {
	if o.RingSize <= 0 || o.RingSize > MaxRingSize || o.RingSize&(o.RingSize-1) != 0 {
		return fmt.Errorf("%w: RingSize %d is not a power of two up to %d", ErrInvalidOptions, o.RingSize, MaxRingSize)
	}
	if o.CommitsInFlight > o.RingSize {
		return fmt.Errorf("%w: CommitsInFlight %d above RingSize %d", ErrInvalidOptions, o.CommitsInFlight, o.RingSize)
	}
	if c := o.Capacity.Orders; c < 0 || c > MaxCapacity {
		return fmt.Errorf("%w: Capacity.Orders %d outside 0..%d", ErrInvalidOptions, c, MaxCapacity)
	}
	if c := o.Capacity.BookOrders; c < 0 || c > MaxCapacity {
		return fmt.Errorf("%w: Capacity.BookOrders %d outside 0..%d", ErrInvalidOptions, c, MaxCapacity)
	}
	return nil
}

// Submit enqueues cmd (copied; Seq and Time are set by the engine) and
// returns at once. done, if not nil, is called with the result on the
// engine's output goroutine once the command is durable; it must not
// block or wait for the engine (see Callbacks on Engine: no Close, Do or
// Snapshot) and must not keep the Result. A nil done drops the result.
// Results are delivered in sequence order, done calls and Do's alike:
// once Do has returned the result of a command submitted after Submit
// returned, done has been called.
//
// Submit waits for room while the ingress ring is full, up to ctx, unless
// Options.FailFast is set. It returns an error, and the command is not
// executed, if
//   - the ring is full: ErrFull at once with FailFast, else once ctx ends,
//     an error that wraps both ErrFull and ctx.Err();
//   - cmd.Kind is CmdNone or not a kind of this package: ErrInvalidCommand
//     (every other kind is journaled and applied, CmdTick and CmdSnapshot
//     included, which the engine also submits itself and which change
//     nothing; the state machine judges the rest of the command);
//   - the engine is closed (ErrClosed) or stopped by a journal failure
//     (its error, see ErrJournal).
//
// Submit panics if ctx is nil.
func (e *Engine) Submit(ctx context.Context, cmd *Command, done func(*Result)) error {
	if ctx == nil {
		panic("engine: nil Context")
	}
	return e.submit(ctx, cmd, done, nil)
}

func (e *Engine) submit(ctx context.Context, cmd *Command, done func(*Result), fut *future) error {
	if cmd.Kind == CmdNone || cmd.Kind >= numCommandKinds {
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidCommand, cmd.Kind)
	}
	if err := e.err(); err != nil {
		return err
	}
	var tag uint32
	if !cmd.Ref.IsZero() && (cmd.Kind == CmdPlace || cmd.Kind == CmdCancel || cmd.Kind == CmdAmend || cmd.Kind == CmdAmendTotal) {
		tag = clientIDTag(&refKey{cmd.Account, cmd.Ref}) // here, not on the matcher
	}
	var seq int64
	var sl *slot
	var err error
	if e.opts.FailFast {
		seq, sl, err = e.ring.TryClaim()
	} else {
		seq, sl, err = e.ring.Claim(ctx)
	}
	switch {
	case errors.Is(err, ring.ErrFull):
		return ErrFull
	case errors.Is(err, ring.ErrClosed):
		if ferr := e.err(); ferr != nil {
			return ferr
		}
		return ErrClosed
	case err != nil: // ctx ended while Claim waited for room
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	sl.cmd = *cmd
	sl.cmd.refTag = tag
	sl.done, sl.fut = done, fut
	e.ring.Publish(seq)
	return nil
}

// future carries one result back to a goroutine blocked in Do.
//
// state hands events (Do's dst) over: the results stage may append to it
// only once it has moved state from futWaiting to futTaken, and a Do
// whose context ends may return only once it has moved it from
// futWaiting to futAbandoned. Whichever comes first wins, so dst is
// never written after Do has returned.
type future struct {
	ch     chan struct{} // the result is in res (after futTaken)
	state  atomic.Uint32
	res    Result
	events []Event
}

// States of a future.
const (
	futWaiting   = iota // Do waits for the result
	futTaken            // the results stage is writing it, or has
	futAbandoned        // Do returned ctx.Err(): drop the result
)

// Do submits cmd and waits for its result. The result's events are
// appended to dst; the extended slice is returned in Result.Events and is
// the caller's (dst's memory, if it had room). Reusing dst across calls
// spares the allocation.
//
// If ctx ends before the result is delivered, Do returns ctx.Err(); the
// command may still be executed, and the engine no longer touches dst.
// Do fails like Submit before the command is submitted (ErrFull,
// ErrInvalidCommand, ErrClosed, the journal error). A command in flight
// when the journal fails gets a Result whose Err wraps ErrJournal (see
// ErrJournal). Do panics if ctx is nil. Do must not be called from a
// callback (see Callbacks on Engine).
func (e *Engine) Do(ctx context.Context, cmd *Command, dst []Event) (Result, error) {
	if ctx == nil {
		panic("engine: nil Context")
	}
	f := e.futures.Get().(*future)
	f.events = dst
	f.state.Store(futWaiting)
	if err := e.submit(ctx, cmd, nil, f); err != nil {
		f.events = nil
		e.futures.Put(f)
		return Result{}, err
	}
	select {
	case <-f.ch:
	case <-ctx.Done():
		if f.state.CompareAndSwap(futWaiting, futAbandoned) {
			// f stays with its slot: the results stage drops it.
			return Result{}, ctx.Err()
		}
		<-f.ch // the results stage took it first: its result is ours
	}
	res := f.res
	f.res, f.events = Result{}, nil
	e.futures.Put(f)
	return res, nil
}

// Subscribe calls fn with every acknowledged result (its command
// durable), in sequence order, on the engine's output goroutine, from the
// next batch on: those of every submitter, failed commands and the
// engine's own CmdTick and CmdSnapshot included, each before its
// submitter gets it (Do returns, done is called); after a journal failure there are none (see ErrJournal,
// Err). fn must not block: a slow subscriber slows every client; nor may
// it wait for the engine (see Callbacks on Engine: no Close, Do or
// Snapshot). fn must not keep the Result. The returned function
// unsubscribes; it may be called from fn, and more than once. fn may
// still be called for the rest of the batch being delivered when it
// returns (the output goroutine takes the list of subscribers once per
// batch), so whatever fn uses must outlive that. Subscribe panics if fn
// is nil.
func (e *Engine) Subscribe(fn func(*Result)) (unsubscribe func()) {
	if fn == nil {
		panic("engine: Subscribe with nil func")
	}
	s := &subscriber{fn: fn}
	e.subMu.Lock()
	defer e.subMu.Unlock()
	var cur []*subscriber
	if p := e.subs.Load(); p != nil {
		cur = *p
	}
	next := append(append([]*subscriber(nil), cur...), s)
	e.subs.Store(&next)
	return func() {
		e.subMu.Lock()
		defer e.subMu.Unlock()
		cur := *e.subs.Load()
		next := make([]*subscriber, 0, len(cur))
		for _, x := range cur {
			if x != s {
				next = append(next, x)
			}
		}
		e.subs.Store(&next)
	}
}

// Market returns the latest durable view of market id.
func (e *Engine) Market(id uint32) (*MarketView, bool) {
	return e.marketViews.load(id)
}

// Account returns the latest durable view of account id.
func (e *Engine) Account(id uint64) (*AccountView, bool) {
	return e.accountViews.load(id)
}

// Relation returns the latest durable view of copy relation id.
func (e *Engine) Relation(id uint64) (*RelationView, bool) {
	return e.relViews.load(id)
}

// Relations calls fn for the latest view of every copy relation, in no
// particular order, until fn returns false. It panics if fn is nil.
func (e *Engine) Relations(fn func(*RelationView) bool) {
	if fn == nil {
		panic("engine: Relations with nil func")
	}
	e.relViews.each(fn)
}

// Leader returns the latest durable view of leader account id.
func (e *Engine) Leader(account uint64) (*LeaderView, bool) {
	return e.leaderViews.load(account)
}

// Leaders calls fn for the latest view of every leader, in no particular
// order, until fn returns false. It panics if fn is nil.
func (e *Engine) Leaders(fn func(*LeaderView) bool) {
	if fn == nil {
		panic("engine: Leaders with nil func")
	}
	e.leaderViews.each(fn)
}

// Directory returns the latest durable list of assets and markets, with
// each market's current fees.
func (e *Engine) Directory() *Directory { return e.dir.Load() }

// QueueDepth returns the number of commands submitted but not yet
// delivered.
func (e *Engine) QueueDepth() int { return int(e.ring.Claimed() - e.ring.Released()) }

// QueueCapacity returns the number of ingress slots (Options.RingSize):
// the most commands submitted and not yet delivered at once. With
// FailFast, Submit refuses commands beyond it (ErrFull).
func (e *Engine) QueueCapacity() int { return e.ring.Size() }

// DurableSeq returns the sequence number of the last durable command.
func (e *Engine) DurableSeq() uint64 { return e.base + uint64(e.durable.Load()) }

// Err returns the journal error that stopped the engine, if any: it wraps
// ErrJournal and the journal's error (see ErrJournal). Once not nil it
// does not change.
func (e *Engine) Err() error { return e.err() }

func (e *Engine) err() error {
	if p := e.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops accepting commands, lets the ones already submitted finish
// (results delivered), waits for a snapshot being saved, and stops the
// engine's goroutines: once it returns, the engine calls none of the
// caller's code (Journal, SnapshotStore, callbacks) any more, so they may
// be closed. It returns the journal error, if one stopped the engine (see
// ErrJournal).
//
// The views (Market, Account, Relation, Leader, Directory) stay readable
// after Close, and show the final state: Close publishes those still owed
// (unless the journal failed) before it returns. The whole final state is
// Engine.State's.
//
// Close may be called any number of times, from any goroutines: each call
// waits until the engine has stopped and returns the same error. Called
// from the engine's own goroutines (a Submit callback, a subscriber,
// OnSnapshot, a SnapshotStore or Journal method), which Close would have
// to wait for, it returns ErrCloseFromCallback at once and does nothing.
func (e *Engine) Close() error {
	if e.onOwnGoroutine() {
		return ErrCloseFromCallback
	}
	e.closeOnce.Do(e.shutdown)
	return e.err()
}

// shutdown stops the engine; Close runs it once.
func (e *Engine) shutdown() {
	e.closing.Store(true)
	close(e.stop)
	e.ring.Close()
	e.wg.Wait()
	if e.left != nil && e.err() == nil {
		// Every result is delivered and the stages have stopped: the
		// views the matcher still owed show the final state (not after
		// a journal failure, whose commands were not acknowledged).
		var ab afterBatch
		e.left.views(e.opts.DepthLevels, &ab)
		ab.viewsCurrent = true
		e.publish(&ab, e.base+uint64(e.matched.Load()))
		e.left = nil
	}
	e.viewW.Close()
	if e.snaps != nil {
		close(e.snaps)
		e.snapDone.Wait()
	}
	disown(e.state)
}

// owned holds the States of the open engines: a State has one owner,
// from Open to the end of Close.
var owned struct {
	sync.Mutex
	m map[*State]bool
}

// own makes s owned, and reports false if it already was.
func own(s *State) bool {
	owned.Lock()
	defer owned.Unlock()
	if owned.m[s] {
		return false
	}
	if owned.m == nil {
		owned.m = make(map[*State]bool)
	}
	owned.m[s] = true
	return true
}

// disown ends the ownership of s (and drops the reference).
func disown(s *State) {
	owned.Lock()
	delete(owned.m, s)
	owned.Unlock()
}

// Indexes of Engine.callers.
const (
	callerOutput = iota
	callerDeliverer
	callerSnapshotter
)

// onOwnGoroutine reports whether the caller runs on one of the engine's
// goroutines that call callers' code.
func (e *Engine) onOwnGoroutine() bool {
	id := goid()
	for i := range e.callers {
		if e.callers[i].Load() == id {
			return true
		}
	}
	return false
}

// goid returns the id of the calling goroutine, read from the first line
// of its stack trace ("goroutine 18 [running]:"), as golang.org/x/net/http2
// does to check its locking (gotrack.go). It takes about a microsecond:
// for Close, never for the hot path. Ids are never 0.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// State returns the engine's state after Close (nil before): for tests and
// for a final snapshot. Close has handed it back: it may be passed to a
// new engine. After a journal failure (see ErrJournal) it holds commands
// the journal may not have: start again from the journal's Recover
// instead.
func (e *Engine) State() *State {
	if !e.closing.Load() {
		return nil
	}
	e.wg.Wait()
	return e.state
}

// How far ahead of the command it applies the matcher prefetches, in
// commands (see matcher). Tuned with istbench engine in alternating
// runs: 8 and 4 beat 16 and 8 (5 of 6 pairs); 32 and 16, and 6 and 3, no
// better; loading the command's other two lines too was slower.
const (
	cmdAhead    = 8
	lookupAhead = 4
)

// matcher is the single goroutine that owns the state: it sequences each
// batch (sequence number and timestamp), lets the journal stage see it,
// applies it, and builds the read views.
func (e *Engine) matcher() {
	defer e.wg.Done()
	defer e.stampedW.Close()
	defer e.matchedW.Close()
	var last, lastViews int64
	tr := newTouched(e.state)
	lastSnap := e.state.Seq()
	snapAsked := false
	announced := int64(-1) // the expiry time the ticker was last told
	for next := int64(1); ; {
		if e.ring.Published(next) < next {
			if tr.dirty() {
				// Views are owed and the ring is empty: the ticker
				// makes a batch after ViewInterval if nothing else
				// does.
				select {
				case e.owed <- struct{}{}:
				default:
				}
			}
			if x := e.state.nextExpiry; x != announced {
				// The ring is empty: the ticker submits a CmdTick at the
				// next expiry time if nothing else comes by then.
				announced = x
				e.expiryAt.Store(x)
				select {
				case e.expiryOwed <- struct{}{}:
				default:
				}
			}
		}
		hi, err := e.ring.WaitPublished(context.Background(), next)
		if hi < next {
			if err != nil && e.ring.Claimed() >= next {
				// Closed, but a producer that claimed before Close has
				// not published yet: its command is still served.
				runtime.Gosched()
				continue
			}
			if tr.dirty() {
				e.left = tr // Close publishes them
			}
			return // closed and drained
		}
		hi = min(hi, next+int64(e.opts.MaxBatch)-1)
		now := max(e.opts.Clock(), last)
		last = now
		for s := next; s <= hi; s++ {
			sl := e.ring.Slot(s)
			sl.cmd.Seq = e.base + uint64(s)
			sl.cmd.Time = now
		}
		e.stamped.Store(hi)
		e.stampedW.Notify()
		dirChanged := false
		var written []Event // the events of the command before, not yet recorded in tr
		for s := next; s <= hi; s++ {
			sl := e.ring.Slot(s)
			// Start loading what the commands a little ahead will
			// need: the first line of the one cmdAhead slots on (a
			// producer's core wrote it; the stamping pass touched it,
			// but a large batch has evicted it since) and the first
			// two lines of its room for events (last written a lap of
			// the ring ago: 3.4 MB of events at the default size, out
			// of the cache; writing them missed, 15% of the matcher's
			// time), and for the one lookupAhead slots on, whose line
			// is here by now, the client order id table's slot (see
			// prefetchLookup).
			if s+cmdAhead <= hi {
				prefetch.Line(uintptr(unsafe.Pointer(&e.ring.Slot(s + cmdAhead).cmd)))
				ev := uintptr(unsafe.Pointer(&e.events[int((s+cmdAhead)&int64(e.opts.RingSize-1))*slotEvents]))
				prefetch.Line(ev)
				prefetch.Line(ev + 64)
			}
			if s+lookupAhead <= hi {
				e.state.prefetchLookup(&e.ring.Slot(s + lookupAhead).cmd)
			}
			k := int(s&int64(e.opts.RingSize-1)) * slotEvents
			var r result
			r, sl.events = e.state.applyTo(&sl.cmd, e.events[k:k:k+slotEvents], &sl.out)
			sl.batchEnd = false
			tr.kind(&sl.cmd, r)
			// The events of the command before: this one's were just
			// written, and reading them back at once waited for those
			// stores (0.4 s of the matcher's 4.2 s in a profile).
			tr.events(written)
			written = sl.events
			snapAsked = snapAsked || sl.cmd.Kind == CmdSnapshot
			if r.Err == nil && (sl.cmd.Kind == CmdCreateAsset || sl.cmd.Kind == CmdCreateMarket || sl.cmd.Kind == CmdSetMarketFees ||
				sl.cmd.Kind == CmdSetPriceBand || sl.cmd.Kind == CmdSetMaxOpenOrders) {
				dirChanged = true
			}
		}
		tr.events(written)
		written = nil
		e.ring.Slot(hi).batchEnd = true
		// Large arrays the tables will soon grow into are made on other
		// goroutines, not here when they fill.
		e.state.growAhead(tr.inBatch, e.opts.MaxBatch, goStart)
		tr.endBatch()
		ab := e.afterOf(hi)
		ab.markets, ab.accounts, ab.relations, ab.leaders = ab.markets[:0], ab.accounts[:0], ab.relations[:0], ab.leaders[:0]
		ab.dir, ab.snap = nil, nil
		// One snapshot in flight at a time; a request made while one is
		// being written is served at a later batch.
		if e.snaps != nil && !e.snapBusy.Load() &&
			(snapAsked || (e.opts.SnapshotEvery > 0 && e.state.Seq()-lastSnap >= e.opts.SnapshotEvery)) {
			e.snapBusy.Store(true)
			t0 := time.Now()
			// The snapshot goroutine writes the resting orders in
			// (snapFreeze.fill) and appends the checksum.
			ab.snap = e.state.encodeSnapshotBody(e.snapBuf[:0], &e.freeze)
			ab.snapPause = time.Since(t0)
			e.snapPause.Store(int64(ab.snapPause))
			lastSnap = e.state.Seq()
			snapAsked = false
		}
		// Views cost allocations: build them at most once per ViewInterval
		// under load (a directory change at once).
		if dirChanged || now-lastViews >= int64(e.opts.ViewInterval) {
			tr.views(e.opts.DepthLevels, ab)
			lastViews = now
		}
		ab.viewsCurrent = !tr.dirty()
		if dirChanged {
			ab.dir = e.state.directory()
		}
		e.matched.Store(hi)
		e.matchedW.Notify()
		next = hi + 1
	}
}

// output is the journal stage and the results stage: it makes each batch
// durable, waits for the matcher to have applied it, then delivers the
// results and publishes the views, and frees the slots.
func (e *Engine) output() {
	defer e.wg.Done()
	e.callers[callerOutput].Store(goid())
	pj, pipelined := e.opts.Journal.(PipelinedJournal)
	var pending chan pendingBatch
	var inFlight chan struct{} // a token per batch waiting for its sync
	if pipelined {
		// While a batch waits for its fsync, the deliverer delivers the
		// one before and the matcher's next commands gather into the
		// next batch. The deliverer waits for each in order.
		pending = make(chan pendingBatch, e.opts.CommitsInFlight)
		inFlight = make(chan struct{}, e.opts.CommitsInFlight)
		e.wg.Add(1)
		go e.deliverer(pending, inFlight)
		defer close(pending)
	}
	res := new(Result) // reused: callbacks must not keep it
	for next := int64(1); ; {
		hi, err := e.stampedW.Wait(context.Background(), next, e.stamped.Load)
		if hi < next {
			_ = err
			return
		}
		if pipelined {
			// Wait for room among the syncs in flight, then take all
			// that was sequenced meanwhile.
			inFlight <- struct{}{}
			hi = e.stamped.Load()
		}
		hi = min(hi, next+int64(e.opts.MaxBatch)-1)
		var wait func() error
		if e.err() == nil {
			jerr := e.append(next, hi)
			if jerr == nil {
				if pipelined {
					wait, jerr = pj.CommitAsync()
				} else {
					jerr = e.opts.Journal.Commit()
				}
			}
			e.journalFailed(jerr)
		}
		if pipelined {
			pending <- pendingBatch{next: next, hi: hi, wait: wait}
		} else {
			if e.err() == nil {
				e.durable.Store(hi)
			}
			e.deliver(next, hi, res)
		}
		next = hi + 1
	}
}

// pendingBatch is a journaled batch whose sync may still be in flight.
type pendingBatch struct {
	next, hi int64
	wait     func() error // nil: nothing to wait for
}

// deliverer waits for each pipelined batch to be durable, in order, frees
// its place among the syncs in flight, then delivers it.
func (e *Engine) deliverer(pending <-chan pendingBatch, inFlight <-chan struct{}) {
	defer e.wg.Done()
	e.callers[callerDeliverer].Store(goid())
	res := new(Result)
	for p := range pending {
		if p.wait != nil {
			e.journalFailed(p.wait())
		}
		<-inFlight
		if e.err() == nil {
			e.durable.Store(p.hi)
		}
		e.deliver(p.next, p.hi, res)
	}
}

// append hands the commands of slots next..hi to the journal.
func (e *Engine) append(next, hi int64) error {
	for s := next; s <= hi; s++ {
		if err := e.opts.Journal.Append(&e.ring.Slot(s).cmd); err != nil {
			return err
		}
	}
	return nil
}

// journalFailed stops the engine if err is not nil: nothing more is
// acknowledged.
func (e *Engine) journalFailed(err error) {
	if err == nil || e.err() != nil {
		return
	}
	werr := fmt.Errorf("%w: %w", ErrJournal, err)
	e.failed.Store(&werr)
	e.ring.Close() // no new commands; the matcher drains and stops
}

// deliver waits for the matcher to have applied slots next..hi, then
// delivers their results (or the journal error), publishes their views,
// hands over snapshots and frees the slots.
func (e *Engine) deliver(next, hi int64, res *Result) {
	e.matchedW.Wait(context.Background(), hi, e.matched.Load)
	ferr := e.err()
	var subs []*subscriber
	if p := e.subs.Load(); p != nil {
		subs = *p
	}
	for s := next; s <= hi; s++ {
		sl := e.ring.Slot(s)
		*res = Result{Seq: sl.cmd.Seq, Time: sl.cmd.Time, Kind: sl.cmd.Kind, Tag: sl.cmd.Tag,
			Outcome: sl.out, Events: sl.events}
		var ab *afterBatch
		if sl.batchEnd {
			ab = e.afterOf(s)
		}
		if ferr != nil {
			res.Outcome, res.Events = Outcome{Err: ferr}, nil
		} else {
			for _, sub := range subs {
				sub.fn(res)
			}
			if ab != nil {
				e.publish(ab, sl.cmd.Seq)
			}
		}
		if ab != nil {
			ab.dropViews()
		}
		if f := sl.fut; f != nil {
			if f.state.CompareAndSwap(futWaiting, futTaken) {
				f.res = *res
				f.res.Events = append(f.events, res.Events...)
				f.ch <- struct{}{}
			}
		} else if sl.done != nil {
			sl.done(res)
		}
		sl.done, sl.fut = nil, nil
		// The matcher's batches need not end where ours do: any slot may
		// end one and carry a snapshot.
		if ab != nil && ab.snap != nil {
			if ferr == nil {
				e.snaps <- snapshotJob{seq: sl.cmd.Seq, data: ab.snap, pause: ab.snapPause} // never blocks: one in flight
			} else {
				e.snapBuf = ab.snap
				e.snapBusy.Store(false)
			}
			ab.snap = nil
		}
	}
	e.ring.Release(hi)
}

// ticker submits a CmdTick when the matcher went idle owing views, so
// that they are published within about ViewInterval, and at the earliest
// expiry time of a good-till-date order (as the matcher last told it,
// expiryAt), so that orders expire on time when no command comes (the
// tick is stamped by the sequencer at or after that time, and expires
// them as any command would). It sleeps on channels and two timers while
// there is nothing owed: an idle engine costs nothing. A tick that
// finds the ring full, or that did not expire the order (the clock is
// not monotonic), is tried again after expiryRetry, doubling up to a
// second. Close interrupts its wait.
func (e *Engine) ticker() {
	defer e.wg.Done()
	views := time.NewTimer(e.opts.ViewInterval)
	views.Stop()
	viewsArmed := false
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer views.Stop()
	defer expiry.Stop()
	retry := expiryRetry
	for {
		select {
		case <-e.stop:
			return
		case <-e.owed:
			if !viewsArmed {
				views.Reset(e.opts.ViewInterval)
				viewsArmed = true
			}
		case <-views.C:
			viewsArmed = false
			e.tick()
		case <-e.expiryOwed:
			retry = expiryRetry
			if x := e.expiryAt.Load(); x == math.MaxInt64 {
				expiry.Stop()
			} else {
				expiry.Reset(max(until(x, e.opts.Clock()), 0))
			}
		case <-expiry.C:
			x := e.expiryAt.Load()
			if x == math.MaxInt64 {
				break
			}
			if d := until(x, e.opts.Clock()); d > 0 {
				expiry.Reset(d) // early: the time moved on since
				break
			}
			e.tick()
			// The matcher tells of the next expiry once this one is
			// done, which stops this.
			expiry.Reset(retry)
			retry = min(2*retry, time.Second)
		}
	}
}

// until returns x − now as a duration, saturated (an expiry time far
// ahead of a clock that starts below zero does not wrap around).
func until(x, now int64) time.Duration {
	d := x - now
	if now < 0 && d < x {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// expiryRetry is how long the ticker waits before it submits another
// CmdTick for an expiry that the last one did not bring (see ticker).
const expiryRetry = time.Millisecond

// tick submits a CmdTick if the ring has room.
func (e *Engine) tick() {
	if seq, sl, err := e.ring.TryClaim(); err == nil {
		sl.cmd, sl.done, sl.fut = Command{Kind: CmdTick}, nil, nil
		e.ring.Publish(seq)
	}
}

// snapshotter writes snapshots, off the matcher and the output stage.
// It also keeps the memory the matcher encodes the next one into a
// quarter larger than the last (first: than the state's size when the
// engine opened, hint), its pages touched: the matcher neither allocates
// nor page-faults while it encodes, unless the state grew faster.
func (e *Engine) snapshotter(hint int) {
	defer e.snapDone.Done()
	e.callers[callerSnapshotter].Store(goid())
	e.snapBuf = snapshotMemory(nil, hint)
	e.snapBusy.Store(false)
	for job := range e.snaps {
		e.freeze.fill(job.data)
		data := sealSnapshot(job.data, 0)
		err := e.opts.Snapshots.SaveSnapshot(job.seq, data)
		if err != nil {
			err = fmt.Errorf("engine: snapshot at %d: %w", job.seq, err)
			e.snapErr.Store(&snapshotErr{seq: job.seq, err: err})
		} else {
			e.snapSaved.Store(job.seq)
		}
		if f := e.opts.OnSnapshot; f != nil {
			f(job.seq, job.pause, err)
		}
		e.snapBuf = snapshotMemory(data, len(data))
		e.snapBusy.Store(false)
	}
}

// snapshotMemory returns b emptied if it has room for a quarter more than
// n bytes, else new memory with that room, every page of it touched.
func snapshotMemory(b []byte, n int) []byte {
	n += n / 4
	if cap(b) >= n {
		return b[:0]
	}
	b = make([]byte, n)
	clear(b) // fault the pages in here, not in the matcher
	return b[:0]
}

// snapshotTimer asks for a snapshot every SnapshotInterval.
func (e *Engine) snapshotTimer() {
	defer e.snapDone.Done()
	t := time.NewTicker(e.opts.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			_ = e.Submit(context.Background(), &Command{Kind: CmdSnapshot}, nil)
		}
	}
}

// Snapshot takes a snapshot now, consistent at a sequence number, and
// waits until the SnapshotStore has saved it (or a later one). It returns
// that sequence number, or ErrNoSnapshotStore without Options.Snapshots,
// or the store's error; it fails like Do (ErrClosed once the engine is
// closed, ErrFull, the journal error), and with ctx.Err() if ctx ends
// first. It panics if ctx is nil.
func (e *Engine) Snapshot(ctx context.Context) (uint64, error) {
	if ctx == nil {
		panic("engine: nil Context")
	}
	if e.snaps == nil {
		return 0, ErrNoSnapshotStore
	}
	res, err := e.Do(ctx, &Command{Kind: CmdSnapshot}, nil)
	if err != nil {
		return 0, err
	}
	for tick := 0; ; tick++ {
		if saved := e.snapSaved.Load(); saved >= res.Seq {
			return saved, nil
		}
		if p := e.snapErr.Load(); p != nil && p.seq >= res.Seq {
			return 0, p.err
		}
		if tick%50 == 49 {
			// Our request met a snapshot in flight and the engine has been
			// idle since: ask again so that a batch takes it.
			if err := e.Submit(ctx, &Command{Kind: CmdSnapshot}, nil); err != nil {
				return 0, err
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// SnapshotStats returns the sequence number of the last saved snapshot and
// how long the matcher paused to encode the last one taken.
func (e *Engine) SnapshotStats() (savedSeq uint64, pause time.Duration) {
	return e.snapSaved.Load(), time.Duration(e.snapPause.Load())
}

// dropViews forgets the batch's views once they are published (or will
// never be): the slices keep their arrays for the next batch that ends in
// this slot, but no pointers into old views, which would otherwise stay
// reachable for as long as the slot is not a batch end again (views hold
// depth arrays and balances: in istd, over 100 MB of them, scanned by
// every garbage collection).
func (ab *afterBatch) dropViews() {
	if len(ab.markets)+len(ab.accounts)+len(ab.relations)+len(ab.leaders) == 0 && ab.dir == nil {
		// Most batches under load carry no views (ViewInterval): no
		// write into the matcher's afterBatch array, whose neighbouring
		// entries it is writing meanwhile.
		return
	}
	clear(ab.markets)
	clear(ab.accounts)
	clear(ab.relations)
	clear(ab.leaders)
	ab.markets, ab.accounts, ab.relations, ab.leaders = ab.markets[:0], ab.accounts[:0], ab.relations[:0], ab.leaders[:0]
	ab.dir = nil
}

// afterOf returns the afterBatch of ring sequence s.
func (e *Engine) afterOf(s int64) *afterBatch { return &e.after[s&int64(len(e.after)-1)] }

// publish makes the views built after a batch that ended at sequence
// number seq visible to readers.
func (e *Engine) publish(ab *afterBatch, seq uint64) {
	for _, v := range ab.markets {
		e.marketViews.store(v.Market, v)
	}
	for _, v := range ab.accounts {
		e.accountViews.store(v.Account, v)
	}
	for _, v := range ab.relations {
		e.relViews.store(v.ID, v)
	}
	for _, v := range ab.leaders {
		e.leaderViews.store(v.Account, v)
	}
	if ab.dir != nil {
		e.dir.Store(ab.dir)
	}
	if ab.viewsCurrent {
		e.viewSeq.Store(seq)
		e.viewW.Notify()
	}
}

// WaitViews waits until the published views (Market, Account, Directory)
// reflect every command up to sequence number seq, e.g. a Result's Seq for
// read-your-writes. Views lag by at most about ViewInterval. It returns
// nil at once if they already do (after Close, for every result it
// delivered), ctx.Err() if ctx ends first, and ErrClosed if the engine is
// closed before they reach seq. It panics if ctx is nil.
func (e *Engine) WaitViews(ctx context.Context, seq uint64) error {
	if ctx == nil {
		panic("engine: nil Context")
	}
	_, err := e.viewW.Wait(ctx, int64(seq), func() int64 { return int64(e.viewSeq.Load()) })
	if errors.Is(err, ring.ErrClosed) {
		return ErrClosed
	}
	return err
}

// publishAll publishes views of everything in the starting state.
func (e *Engine) publishAll() {
	for i := range e.state.markets {
		v, _ := e.state.MarketView(uint32(i+1), e.opts.DepthLevels)
		e.marketViews.store(v.Market, v)
	}
	for id := range uint64(e.state.accounts.len()) {
		v, _ := e.state.AccountView(id)
		e.accountViews.store(v.Account, v)
	}
	for i := range uint64(e.state.relations.len()) {
		v, _ := e.state.RelationView(i + 1)
		e.relViews.store(v.ID, v)
	}
	for _, L := range e.state.leaders.all() {
		v, _ := e.state.LeaderView(L.account)
		e.leaderViews.store(v.Account, v)
	}
}
