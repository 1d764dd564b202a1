package engine

import "errors"

// Sentinel errors of the state machine and the pipeline. Book rejections
// come through as the book package's sentinels (book.ErrWouldCross, ...).
var (
	ErrInvalidCommand     = errors.New("engine: invalid command") // also: Submit or Do with an unknown kind
	ErrInvalidName        = errors.New("engine: invalid name")
	ErrDuplicateName      = errors.New("engine: name already in use")
	ErrInvalidSpec        = errors.New("engine: invalid market spec")
	ErrInvalidAmount      = errors.New("engine: amount must be positive")
	ErrUnknownAsset       = errors.New("engine: unknown asset")
	ErrUnknownMarket      = errors.New("engine: unknown market")
	ErrUnknownAccount     = errors.New("engine: unknown account")
	ErrUnknownOrder       = errors.New("engine: unknown order")
	ErrMarketHalted       = errors.New("engine: market halted")
	ErrInsufficientFunds  = errors.New("engine: insufficient funds")
	ErrOverflow           = errors.New("engine: amount overflows int64")
	ErrRefConflict        = errors.New("engine: reference reused for a different command")
	ErrDuplicateClientID  = errors.New("engine: client order id already used for an order with other parameters")
	ErrAmendBelowFilled   = errors.New("engine: amended quantity not above the filled quantity")
	ErrStopNeedsLimit     = errors.New("engine: stop-market buy needs a protection price or a quote budget")
	ErrNotLeader          = errors.New("engine: not a leader")
	ErrLeaderCannotFollow = errors.New("engine: a leader cannot follow")
	ErrFollowerCannotLead = errors.New("engine: an account that follows cannot lead")
	ErrSelfFollow         = errors.New("engine: an account cannot follow itself")
	ErrAlreadyFollowing   = errors.New("engine: already following this leader")
	ErrInvalidCopySpec    = errors.New("engine: invalid copy parameters")
	ErrUnknownRelation    = errors.New("engine: unknown copy relation")
	ErrRelationClosed     = errors.New("engine: copy relation closed")
	// ErrProfitShareAboveMax: CmdFollow with Copy.HasMaxProfitShare, and
	// the leader's profit share rate is above Copy.MaxProfitShareBps
	// (it was raised after the follower saw it); nothing changed.
	ErrProfitShareAboveMax = errors.New("engine: the leader's profit share rate is above the follower's maximum")
	// ErrTooManyFollows: CmdFollow by an account that follows with
	// MaxOpenFollows open relations already, or has opened
	// MaxFollowsEver in all; nothing changed.
	ErrTooManyFollows = errors.New("engine: too many follows")
	// ErrTooManyFollowers: CmdFollow of a leader that has MaxFollowers
	// open relations already; nothing changed.
	ErrTooManyFollowers = errors.New("engine: the leader has too many followers")
	// ErrAccountFrozen: the command's account is frozen (see
	// CmdSetAccountFrozen) and may not trade, withdraw or change its
	// copy trading; nothing changed.
	ErrAccountFrozen = errors.New("engine: account frozen")
	// ErrInvalidExpiry: a place's ExpireAt (a good-till-date order) is
	// not after the command's time; nothing changed.
	ErrInvalidExpiry = errors.New("engine: expiry time not in the future")
	// ErrPriceOutOfBand: a place or amend whose limit price lies beyond
	// the market's price band on the aggressive side (a buy above its
	// upper bound, a sell below its lower bound; see the package doc,
	// Price bands), or a stop-limit whose limit lies beyond the band
	// around its stop price; nothing changed.
	ErrPriceOutOfBand = errors.New("engine: price beyond the market's price band")
	// ErrTooManyOpenOrders: a place of an order that could stay live
	// (a GTC or good-till-date limit order, or a stop order) by an
	// account that already has as many live orders in the market as its
	// MarketSpec.MaxOpenOrders allows; nothing changed. Orders that
	// cannot rest (market, IOC and FOK orders) are never refused by it.
	ErrTooManyOpenOrders = errors.New("engine: too many open orders in this market")
)

// Errors of the pipeline (Engine).
var (
	// ErrClosed: the engine is closed; the command was not submitted.
	ErrClosed = errors.New("engine: closed")
	// ErrFull: the ingress ring had no room for a command: Submit or Do
	// with Options.FailFast, or whose context ended while they waited
	// for room (the error then also wraps the context's error).
	ErrFull = errors.New("engine: ingress queue full")
	// ErrJournal: the Journal failed (Append, Commit, or a
	// PipelinedJournal's wait returned an error) and the engine stopped
	// acknowledging. The error the engine returns wraps ErrJournal and the
	// journal's error; from the failure on:
	//   - every command whose result was not yet delivered gets it in
	//     Outcome.Err (with no Events), through Do's Result, Submit's done
	//     and never a subscriber: the command was applied to the
	//     engine's state (the matcher works ahead of the journal) but not
	//     acknowledged, and it may or may not be in the log;
	//   - the engine hands no further command to the journal (with
	//     CommitsInFlight above 1, batches already handed over may still
	//     reach it, unacknowledged);
	//   - subscribers receive no more results, no view is published any
	//     more, and DurableSeq stays at the last acknowledged command;
	//   - Submit and Do return it for every new command, and Engine.Err
	//     and Close return it.
	// Go on from the journal (e.g. wal.Log.Recover), not from the
	// engine's State, which holds the unacknowledged commands.
	ErrJournal = errors.New("engine: journal failed; no further commands are acknowledged")
	// ErrNoSnapshotStore: Engine.Snapshot on an engine without
	// Options.Snapshots.
	ErrNoSnapshotStore = errors.New("engine: no snapshot store configured")
	// ErrInvalidOptions: Open was given Options out of their documented
	// range; the error says which.
	ErrInvalidOptions = errors.New("engine: invalid options")
	// ErrJournalMismatch: Open was given a Journal that does not end at
	// Options.State's sequence number (see Options.Journal).
	ErrJournalMismatch = errors.New("engine: the journal does not end at the state's sequence number")
	// ErrStateInUse: Open was given an Options.State that another open
	// engine owns.
	ErrStateInUse = errors.New("engine: state in use by another open engine")
	// ErrCloseFromCallback: Engine.Close was called from one of the
	// engine's goroutines (a callback), which it would have to wait for;
	// it did nothing.
	ErrCloseFromCallback = errors.New("engine: Close called from a callback on the engine's goroutine")
)
