package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/wal"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Options configure a Server. The zero value (or nil) means defaults.
type Options struct {
	// DataDir holds the command log (DATA/log, DATA/snapshots) and the
	// server's metadata (DATA/server). Default "./data".
	DataDir string
	// AdminToken is the admin token. Empty: the one stored (as a hash) in
	// the data directory, or a new one generated on first start (see
	// Server.GeneratedAdminToken).
	AdminToken string
	// DisableSignup turns off open sign-up (POST /v1/accounts).
	DisableSignup bool
	// AcceptLogLoss makes Open start even when the log ends before the
	// order history or the leader statistics saved beside it (see
	// ErrLogBehind), with a warning, as istd did before it checked: the
	// engine resumes from the log's end, the commands lost from it are
	// gone, and new orders may take ids that the history still shows. A
	// last resort for a damaged data directory with no backup, or for a
	// backup written by an earlier release (whose history could be a few
	// commands ahead of its log).
	AcceptLogLoss bool
	// AcceptRuleChange makes Open start even when recovering the log
	// replays commands that an earlier release applied (ErrRulesChanged:
	// after a crash of that release, or from a backup it wrote), with a
	// warning: they are replayed under this release's rules, and where a
	// rule changed, balances, orders and fills can differ from what their
	// clients were answered. A last resort when that release cannot be
	// started any more to stop cleanly.
	AcceptRuleChange bool
	// SnapshotInterval is how often the engine snapshots its state.
	// Default 1 minute.
	SnapshotInterval time.Duration
	// SnapshotEvery also snapshots the state after this many commands
	// since the last snapshot (engine.Options.SnapshotEvery), bounding the
	// log a restart replays under heavy load. 0: on the interval only.
	SnapshotEvery uint64
	// RingSize is the number of the engine's ingress slots, a power of
	// two (engine.Options.RingSize). istd's engine refuses commands when
	// they are all taken (a request then gets 503 overloaded, an order of
	// a batch an overloaded error), so this is the most orders in flight
	// at once, including those of a journal batch being delivered.
	// Default DefaultRingSize.
	RingSize int
	// Capacity is the room the engine reserves at start-up (live orders in
	// total, resting orders per book), so that matching does not pause to
	// grow its tables before the state reaches it (engine.Options.Capacity).
	// Zero: start small and grow as needed.
	Capacity engine.Capacity
	// HistoryInterval is how often the changes to the order history (the
	// read model of orders, fills and public market data) are saved to
	// the metadata store, besides after each snapshot, on Backup, on
	// Shutdown and whenever 65,536 changes are waiting. Default 5
	// seconds; negative: not periodically. The log is never truncated
	// past the history's last save (see Persistence in the package
	// documentation).
	HistoryInterval time.Duration
	// HistoryOrders is how many done (filled, cancelled, rejected or
	// expired) orders each account keeps in its history, the most
	// recently finished; older ones are dropped from memory and from the
	// store. Open orders are always kept. Default 1000
	// (DefaultHistoryOrders); negative: all.
	HistoryOrders int
	// HistoryFills is how many fills each account keeps, the newest, and
	// how many transfers (deposits and withdrawals) and copy-trading
	// events (GET /v1/social/events). Default 1000
	// (DefaultHistoryFills); negative: all.
	HistoryFills int
	// KeepSwitches leaves the dead man's switches stored in the data
	// directory (POST /v1/orders/cancel-all-after) unarmed: none fires,
	// and they stay stored for the next start. For a process that opens
	// the directory without serving it, as the offline backup (istd
	// backup) does: armed, a deadline that passed while istd was down
	// would cancel orders from the backup tool, writing to the directory
	// it only copies.
	KeepSwitches bool
	// LeaderboardTTL is how long GET /v1/social/leaders answers from a
	// leaderboard it computed (per sort and window), instead of computing
	// it anew after the statistics applied the last durable command: a
	// board walks every leader's open relations. 0 or negative: always
	// anew (no cache); istd's default is 1 s. A leader's own row (GET
	// /v1/social/leaders/{id}) is always current.
	LeaderboardTTL time.Duration
	// MaxBodySize is the request body limit in bytes. Default 64 KiB.
	MaxBodySize int
	// MaxBatchBodySize is the body limit of POST /v1/orders/batch (up to
	// 1000 orders). Default 1 MiB, and at least MaxBodySize.
	MaxBatchBodySize int
	// RequestTimeout bounds the wait of reads for fresh views. Default 10 s.
	RequestTimeout time.Duration
	// MaxStreams caps the WebSocket streams open at once, and
	// MaxStreamsPerIP those from one client address (an IPv6 client: its
	// /64 network): an upgrade beyond them is refused (503 overloaded,
	// 429 rate_limited). 0: the
	// defaults, DefaultMaxStreams and DefaultMaxStreamsPerIP; negative:
	// no cap.
	MaxStreams, MaxStreamsPerIP int
	// MaxConnsPerIP caps the connections one client address (an IPv6
	// client: its /64 network) holds open at once, over all the listeners
	// given to Serve: a connection beyond it is answered 429 rate_limited
	// and closed as soon as it is accepted (over TLS, closed). Behind a
	// proxy, every client has the proxy's address. 0:
	// DefaultMaxConnsPerIP; negative: no cap.
	MaxConnsPerIP int
	// MaxConns caps the connections open at once in total, streams
	// included: one beyond it is answered 503 overloaded and closed as
	// soon as it is accepted, so that connections cannot take the file
	// descriptors the log needs (a Pebble that cannot open a file fails
	// the log and stops the engine). 0: the process's open-file limit
	// (RLIMIT_NOFILE) less 1,024, at least 64; negative: no cap.
	MaxConns int
	// StreamQueueBytes is the budget of bytes of messages queued for all
	// WebSocket streams together, on top of each stream's own 4 MiB:
	// past it, a stream holding more than its fair share (the budget /
	// streams open, at least 64 KiB) is closed (1008 "slow consumer:
	// server queue budget") when a message would be queued for it, and
	// the others keep receiving (see Streams in the package
	// documentation). 0: DefaultStreamQueueBytes (256 MiB); negative: no
	// budget; else at least MinStreamQueueBytes (64 KiB), or Open fails
	// with ErrInvalidOptions.
	StreamQueueBytes int
	// Logger receives request logs and warnings. Default: JSON lines on
	// standard error.
	Logger *zerolog.Logger
	// RateLimit is the sustained requests per second allowed per live
	// bearer token, a user token not revoked or the admin token (and,
	// unless AnonRateLimit says otherwise, per client IP for requests
	// without one); RateBurst is the bucket size. Default
	// 1000/s (DefaultRateLimit) with a burst of 2000 (a given
	// RateLimit's burst defaults to twice it); negative: no limit; NaN
	// and ±Inf are refused (Open fails with ErrInvalidOptions). See
	// ratelimit.go. A batch of orders costs one per order (at most the
	// burst), so that the limit bounds a token's orders too.
	RateLimit float64
	RateBurst int
	// AnonRateLimit and AnonRateBurst are the same per client IP (an IPv6
	// client: its /64 network), for
	// requests without a live bearer token: none, a made-up one or a
	// revoked one (so a made-up token gets no bucket of its own). Default (both zero): RateLimit and
	// RateBurst; a given AnonRateLimit's burst defaults to twice it;
	// negative: no limit; not NaN nor ±Inf. Sign-up is always charged
	// here, whatever token it carries.
	AnonRateLimit float64
	AnonRateBurst int
	// SignupRate and SignupBurst limit open sign-up (POST /v1/accounts)
	// per client address (an IPv6 client: its /64 network), on top of
	// AnonRateLimit: accounts are never deleted, so the anonymous rate
	// alone would let one address open millions a day. Default (both
	// zero): DefaultSignupRate a second, bursts of DefaultSignupBurst; a
	// given SignupRate's burst defaults to DefaultSignupBurst too;
	// negative: no limit; not NaN nor ±Inf. POST /v1/admin/accounts (the
	// admin token) is not charged here.
	SignupRate  float64
	SignupBurst int
	// MetricsRate and MetricsBurst limit GET /metrics per client address
	// (an IPv6 client: its /64 network): it needs no token, and each
	// answer renders every metric (about half a millisecond of CPU), so
	// without a limit of its own one client could keep a core busy with
	// it. Prometheus scrapes once every few seconds. Default (both zero):
	// DefaultMetricsRate a second, bursts of DefaultMetricsBurst; a given
	// MetricsRate's burst defaults to DefaultMetricsBurst too; negative:
	// no limit; not NaN nor ±Inf.
	MetricsRate  float64
	MetricsBurst int
	// MaxTokens is the most live tokens an account may hold: past it,
	// POST /v1/tokens answers 409 too_many_tokens until one is revoked
	// (tokens already held beyond a lowered cap stay valid). It bounds
	// the token table and the rate one account can spread over tokens.
	// Default 100 (DefaultMaxTokens); negative: no cap.
	MaxTokens int
	// BookDepth is the number of price levels per side the engine keeps
	// in its published market views (engine.Options.DepthLevels): the
	// most GET /v1/markets/{symbol}/book answers (a larger depth is 400
	// invalid_argument) and what a book stream's snapshot covers. Each
	// view rebuild copies up to this many levels of a changed book.
	// Default 50 (DefaultBookDepth).
	BookDepth int

	// historyBaseMin, if positive, replaces compactMinBytes (tests).
	historyBaseMin int64
}

// Default retention of the order history (Options.HistoryOrders,
// Options.HistoryFills).
const (
	DefaultHistoryOrders = 1000
	DefaultHistoryFills  = 1000
)

// DefaultBookDepth is Options.BookDepth when zero: the price levels per
// side of the published market views, as the engine's own default.
const DefaultBookDepth = 50

// DefaultRingSize is the engine's ingress ring in istd when
// Options.RingSize is zero: larger than the engine's own default
// (engine.DefaultRingSize), because istd refuses what does not fit
// rather than waiting. With 8,192 slots, 64 connections sending batches
// of 100 orders had a sixth of their orders refused as overloaded:
// besides the orders in flight, the ring holds a journal batch whose
// results are being delivered. With 16,384, none were.
const DefaultRingSize = 1 << 14

// Server is istd: the HTTP API around an engine recovered from its data
// directory. Open it, Serve it, Shutdown it. Its methods are safe for
// concurrent use.
type Server struct {
	opts       Options
	log        zerolog.Logger
	wal        *wal.Log
	eng        *engine.Engine
	hub        *hub // streams (stream.go)
	store      *store
	rm         *readModel
	stats      *leaderStats         // leader statistics (leaderstats.go)
	boards     boardCache           // leaderboards kept for Options.LeaderboardTTL
	statsSaved atomic.Uint64        // seq of the statistics last saved (durably)
	statsDue   time.Time            // the next periodic save of the statistics (saveMu; saveStats)
	histSaved  atomic.Uint64        // seq of the order history last saved (durably)
	snap       snapshotState        // the engine's last snapshot, for metrics
	fsync      prometheus.Histogram // wal_fsync_duration_seconds, fed by the journal
	amendMu    [64]sync.Mutex       // PATCH /v1/social/follows/{id}, by id (social.go)
	feesMu     sync.Mutex           // PATCH /v1/admin/markets/{symbol}: one fee change at a time (admin.go)
	dm         deadman              // cancel-all-after switches (deadman.go)
	unsub      func()
	http       *fasthttp.Server
	conns      *connLimiter // counts connections, caps them if set (connlimit.go)
	reg        *prometheus.Registry
	met        *metrics
	ready      atomic.Bool
	tags       atomic.Uint64
	adminHash  [32]byte
	generated  string

	tokMu   sync.RWMutex // user tokens (tokens.go)
	tokens  map[[32]byte]*liveToken
	byID    map[uint64]*liveToken
	perAcct map[uint64]*acctTokens
	tokSeed maphash.Seed // of the tokens' rate limiter buckets (tokenBucket)
	// tokWriteMu orders the token writes to the store; tokenWriteHook,
	// if set (tests), runs before each, outside the locks, and an error
	// it returns stands for the write's.
	tokWriteMu     sync.Mutex
	tokenWriteHook func() error
	// journalFault, if it holds a function (tests), fails the journal:
	// see statsTap.fault.
	journalFault atomic.Pointer[func(*engine.Command) error]

	mktCache atomic.Pointer[marketCache]
	social   socialState // leader profiles (social.go)

	metricsH fasthttp.RequestHandler
	rl       *rateLimiter // per token; nil: no limit
	anonRL   *rateLimiter // per client IP; nil: no limit
	signupRL *rateLimiter // open sign-up per client IP; nil: no limit
	// metricsRL limits GET /metrics per client IP; nil: no limit.
	metricsRL *rateLimiter

	stopSaver chan struct{}
	saverDone chan struct{}
	snapSaved chan struct{} // wakes the saver after a snapshot (cap 1)
	saveMu    sync.Mutex    // one history save at a time
	legacy    bool          // the store holds the old whole-history value

	closeOnce sync.Once
	closeErr  error
	// closed is set when Shutdown starts, under lnMu: lns are the
	// listeners Serve was given, which Shutdown closes too.
	closed atomic.Bool
	// drained is set once Shutdown has drained the HTTP server: requests
	// that still reach the handler (through Handler, or a connection left
	// open) are answered 503 unavailable instead of reaching the engine,
	// the log and the store that Shutdown closes next.
	drained atomic.Bool
	lnMu    sync.Mutex
	lns     []net.Listener

	bootID   [8]byte       // hex, random per Open: request ids are unique across restarts
	requests atomic.Uint64 // requests numbered, for their ids
}

// snapshotState is what istd knows of the engine's snapshots.
type snapshotState struct {
	seq      atomic.Uint64 // the last saved (or recovered from)
	pause    atomic.Int64  // ns the matcher paused to encode the last one
	failures atomic.Uint64
}

// onSnapshot is engine.Options.OnSnapshot: it logs each snapshot and
// keeps what the metrics report. A failure is an error line: the log is
// then not truncated and a restart replays more of it.
func (s *Server) onSnapshot(seq uint64, pause time.Duration, err error) {
	s.snap.pause.Store(int64(pause))
	if err != nil {
		s.snap.failures.Add(1)
		s.log.Error().Err(err).Uint64("seq", seq).Dur("pause", pause).Msg("snapshot failed")
		return
	}
	s.snap.seq.Store(seq)
	s.log.Info().Uint64("seq", seq).Dur("pause", pause).Msg("snapshot saved")
	// The log is truncated only up to a snapshot the history and the
	// statistics were saved after (retained): saving them now lets the
	// next snapshot truncate up to this one.
	select {
	case s.snapSaved <- struct{}{}:
	default:
	}
}

// retained is wal.Options.Retain: the sequence number up to which both the
// order history and the leader statistics are durably saved. The log
// keeps a snapshot no newer than it and every command after it, so that a
// restart replays to them what they have not saved. It reads atomics
// only: the log calls it with its lock held.
func (s *Server) retained() uint64 {
	return min(s.histSaved.Load(), s.statsSaved.Load())
}

// ErrLogBehind is the error of Open when the log recovered ends before
// the order history or the leader statistics saved in DATA/server. They
// are saved only from results of commands already durable in the log, so
// the log has lost acknowledged commands: a log file cut short or
// damaged where Pebble reads it as its end, a DATA/log missing or
// replaced, a data directory copied piece by piece. Starting would give
// new commands, orders and trades the sequence numbers and ids of the
// lost ones, which the history still shows. Restore a backup, or see
// Options.AcceptLogLoss.
var ErrLogBehind = errors.New("server: the log ends before the order history: it lost acknowledged commands")

// ErrClosed is the error of a Server's methods after Shutdown (or Close)
// has started: its engine, log and store are closed.
var ErrClosed = errors.New("server: closed")

// Open recovers the data directory and starts the engine. The caller must
// call Shutdown (or Close) to release it.
func Open(opts *Options) (*Server, error) {
	s := &Server{snapSaved: make(chan struct{}, 1)}
	var boot [4]byte
	rand.Read(boot[:])
	hex.Encode(s.bootID[:], boot[:])
	if opts != nil {
		s.opts = *opts
	}
	o := &s.opts
	if err := checkRates(o); err != nil {
		return nil, err
	}
	if o.StreamQueueBytes > 0 && o.StreamQueueBytes < MinStreamQueueBytes {
		return nil, fmt.Errorf("%w: StreamQueueBytes must be at least %d (64 KiB), 0 (the default) or negative (no budget), not %d",
			ErrInvalidOptions, MinStreamQueueBytes, o.StreamQueueBytes)
	}
	if o.DataDir == "" {
		o.DataDir = "./data"
	}
	if o.RingSize == 0 {
		o.RingSize = DefaultRingSize
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = time.Minute
	}
	if o.MaxBatchBodySize == 0 {
		o.MaxBatchBodySize = 1 << 20
	}
	o.MaxBatchBodySize = max(o.MaxBatchBodySize, o.MaxBodySize)
	if o.HistoryInterval == 0 {
		o.HistoryInterval = 5 * time.Second
	}
	if o.MaxBodySize == 0 {
		o.MaxBodySize = 64 << 10
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.BookDepth <= 0 {
		o.BookDepth = DefaultBookDepth
	}
	if o.Logger != nil {
		s.log = *o.Logger
	} else {
		s.log = zerolog.New(MaskSecrets(os.Stderr)).With().Timestamp().Logger()
	}
	// Only istd's user may read it: it holds every balance and order, and
	// the tokens' hashes (an existing directory keeps its mode).
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	st, err := openStore(o.DataDir, &s.log)
	if err != nil {
		return nil, err
	}
	s.store = st
	if o.historyBaseMin > 0 {
		st.compactMin = o.historyBaseMin
	}
	// The engine's results reach onResult from the first (its tick for
	// good-till-date orders whose time passed while istd was down may
	// come at once), once the server is ready for them: the subscriber
	// waits for ready until then.
	ready := make(chan struct{})
	var readyOnce sync.Once
	var resultsOff atomic.Bool
	openGate := func() { readyOnce.Do(func() { close(ready) }) }
	fail := func(err error) (*Server, error) {
		if s.eng != nil {
			resultsOff.Store(true)
			openGate()
			s.eng.Close()
		}
		if s.wal != nil {
			s.wal.Close()
		}
		s.store.close()
		return nil, err
	}
	if err := s.loadAdmin(); err != nil {
		return fail(err)
	}
	if err := s.loadTokens(); err != nil {
		return fail(err)
	}
	s.rm = newReadModel()
	s.rm.keepOrders = cmp.Or(o.HistoryOrders, DefaultHistoryOrders)
	s.rm.keepFills = cmp.Or(o.HistoryFills, DefaultHistoryFills)
	hist, err := s.rm.loadHistory(s.store)
	if err != nil {
		s.log.Warn().Err(err).Msg("order history partly unreadable; what could not be read is missing")
	}
	s.legacy = hist.legacy
	s.store.resume(hist)
	s.histSaved.Store(s.rm.Seq)
	if err := s.loadStats(); err != nil {
		s.log.Warn().Err(err).Msg("leader statistics unreadable: rebuilt from what the log replays")
		s.stats = newLeaderStats()
	}
	// The log replays from a snapshot no newer than what the history and
	// the statistics were saved at (or from its start, if it still has
	// it and they were never saved): they catch up on every command they
	// missed, even if a snapshot followed their last save. The log keeps
	// that snapshot and what follows it (Retain).
	histSeq, statsSeq := s.rm.Seq, s.stats.seq()
	replayAfter := histSeq
	if statsSeq > 0 {
		replayAfter = min(replayAfter, statsSeq)
	}
	walLog := s.log.With().Str("component", "wal").Logger()
	l, err := wal.Open(o.DataDir, &wal.Options{Logger: &walLog, OnReplay: s.replayHistory,
		ReplayAfter: replayAfter, ReplayFromStart: replayAfter == 0, Retain: s.retained})
	if err != nil {
		return fail(fmt.Errorf("server: open log: %w", err))
	}
	s.wal = l
	recordBase, err := s.loadTradeBase()
	if err != nil {
		return fail(err)
	}
	rules, err := s.store.rules()
	if err != nil {
		return fail(err)
	}
	state, rst, err := l.Recover()
	if err != nil {
		return fail(fmt.Errorf("server: recover: %w", err))
	}
	s.rm.resetPending() // the replay's tags are the last process's
	s.log.Info().Uint64("snapshot_seq", rst.SnapshotSeq).Int("replayed", rst.Replayed).
		Uint64("last_seq", rst.LastSeq).Dur("replay_time", rst.ReplayTime).Msg("recovered")
	if err := checkReplayRules(rules, rst.SnapshotSeq, state.Seq()); err != nil {
		if !o.AcceptRuleChange {
			return fail(err)
		}
		s.log.Warn().Err(err).Msg("commands replayed under other matching rules than they were applied under (AcceptRuleChange)")
	}
	switch {
	case max(histSeq, statsSeq) > state.Seq():
		if !o.AcceptLogLoss {
			return fail(fmt.Errorf("%w (the log ends at %d, the order history at %d, the leader statistics at %d): "+
				"restore a backup, or accept the loss with Options.AcceptLogLoss (istd --accept-log-loss)",
				ErrLogBehind, state.Seq(), histSeq, statsSeq))
		}
		s.log.Warn().Uint64("history_seq", histSeq).Uint64("stats_seq", statsSeq).Uint64("engine_seq", state.Seq()).
			Msg("order history is ahead of the engine: it holds orders and fills the log does not (AcceptLogLoss)")
	case histSeq < rst.SnapshotSeq:
		s.log.Warn().Uint64("history_seq", histSeq).Uint64("snapshot_seq", rst.SnapshotSeq).
			Msg("order history is behind the engine (its last save is older than every snapshot, and the log was truncated past it): history and fills of the gap are missing")
	}
	// Recorded only now that the start is no longer refused (see
	// setTradeBase); the commands after state.Seq() are applied under this
	// release's rules.
	if recordBase {
		if err := s.store.setTradeBase(s.rm.tradeBase); err != nil {
			return fail(err)
		}
		if s.rm.tradeBase != 0 {
			s.log.Info().Uint64("trade_id_base", s.rm.tradeBase).
				Msg("trade ids now count trades: they continue above those an earlier release gave")
		}
	}
	if !rules.ok || rules.version != engine.RulesVersion {
		if err := s.store.setRules(rulesRec{version: engine.RulesVersion, after: state.Seq(), ok: true}); err != nil {
			return fail(err)
		}
	}
	s.fsync = newFsyncHistogram()
	s.snap.seq.Store(rst.SnapshotSeq)
	// The engine keeps its timestamps from going back within a process;
	// across a restart, the newest trade the history holds is the floor.
	// Else a clock behind it (stepped back, or another machine's) would
	// date new trades before stored ones, and the candles would fold
	// them into the newest one.
	floor := s.rm.newestTrade()
	if now := wallClock(); now < floor {
		s.log.Warn().Time("clock", time.Unix(0, now)).Time("newest_trade", time.Unix(0, floor)).
			Msg("the clock is behind the newest trade: new commands are dated at that trade until it catches up")
	}
	clock := func() int64 { return max(wallClock(), floor) }
	// Read before the engine starts: from then on its matcher owns state,
	// and may apply a command at once (the tick of good-till-date orders
	// whose time passed while istd was down), which the statistics' tap
	// sees too.
	recovered := state.Seq()
	statsBehind := statsSeq < rst.SnapshotSeq || s.stats.seq() != recovered
	e, err := engine.Open(&engine.Options{Journal: statsTap{timedJournal{l, s.fsync}, s.stats, s.rm, &s.journalFault}, State: state, Snapshots: l, Clock: clock,
		SnapshotInterval: o.SnapshotInterval, SnapshotEvery: o.SnapshotEvery, OnSnapshot: s.onSnapshot,
		FailFast: true, Capacity: o.Capacity, RingSize: o.RingSize, DepthLevels: o.BookDepth,
		Subscribe: func(res *engine.Result) {
			<-ready
			if !resultsOff.Load() {
				s.onResult(res)
			}
		}})
	if err != nil {
		return fail(fmt.Errorf("server: start engine: %w", err))
	}
	s.eng = e
	s.hub = newHub(s) // streams (stream.go)
	if statsBehind {
		s.log.Warn().Uint64("stats_seq", s.stats.seq()).Uint64("engine_seq", recovered).
			Msg("leader statistics are behind the engine: holdings reconciled, the gap is missing from their history")
		s.stats.reconcile(e, recovered)
	}
	s.stats.syncPaused(e)
	s.reg, s.met = newMetrics(s)
	s.unsub = func() { resultsOff.Store(true) }
	openGate() // onResult has all it uses
	s.metricsH = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit // burst: 2×, DefaultRateBurst
	}
	s.rl = newRateLimiter(o.RateLimit, o.RateBurst)
	if o.AnonRateLimit == 0 {
		o.AnonRateLimit, o.AnonRateBurst = o.RateLimit, cmp.Or(o.AnonRateBurst, o.RateBurst)
	}
	s.anonRL = newRateLimiter(o.AnonRateLimit, o.AnonRateBurst)
	if o.SignupRate == 0 {
		o.SignupRate = DefaultSignupRate
	}
	if o.SignupBurst <= 0 {
		o.SignupBurst = DefaultSignupBurst
	}
	s.signupRL = newRateLimiter(o.SignupRate, o.SignupBurst)
	if o.MetricsRate == 0 {
		o.MetricsRate = DefaultMetricsRate
	}
	if o.MetricsBurst <= 0 {
		o.MetricsBurst = DefaultMetricsBurst
	}
	s.metricsRL = newRateLimiter(o.MetricsRate, o.MetricsBurst)
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if o.MaxConns == 0 {
		o.MaxConns = defaultMaxConns()
	}
	// Always: without caps (both negative), it still gives error answers
	// their lingering close (lingerClose).
	s.conns = newConnLimiter(s, max(o.MaxConnsPerIP, 0), max(o.MaxConns, 0))
	s.http = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "istd",
		MaxRequestBodySize:    o.MaxBatchBodySize,
		HeaderReceived:        s.bodyLimit, // MaxBodySize for routes other than batch
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		NoDefaultServerHeader: true,
		Logger:                fasthttpLogger{&s.log},
		ErrorHandler:          s.badRequest,
		ReadBufferSize:        readBufferSize,
		SecureErrorLogMessage: true, // errors of the request line do not quote the request
	}
	s.stopSaver, s.saverDone = make(chan struct{}), make(chan struct{})
	go s.saveHistoryLoop()
	if o.KeepSwitches {
		s.dm.stopped = true // nor can one be armed
	} else if err := s.dm.load(s); err != nil {
		s.log.Error().Err(err).Msg("cancel-all-after: deadlines partly unreadable; those read are armed")
	}
	s.ready.Store(true)
	return s, nil
}

// bodyLimit tells fasthttp, once a request's header is read and before
// its body is, the most body bytes to read: MaxBatchBodySize for the
// batch route, MaxBodySize for the others, so that a request to any other
// route is refused (413) without reading up to a megabyte first. The path
// is the raw request target, not yet normalised: one that could normalise
// to the batch route (it ends in "batch", or holds "%", "//" or "/.")
// gets the batch limit, and route checks the normalised path against
// MaxBodySize.
func (s *Server) bodyLimit(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	uri := h.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	if bytes.HasSuffix(uri, []byte("batch")) || bytes.IndexByte(uri, '%') >= 0 ||
		bytes.Contains(uri, []byte("//")) || bytes.Contains(uri, []byte("/.")) {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: s.opts.MaxBodySize}
}

// loadTradeBase sets the read model's trade id base (tradeid.go), before
// the log's replay numbers trades: the one recorded, or on the first start
// of this release on a data directory, one above every trade id an
// earlier release could have given in it, which Open records (unrecorded)
// once the start is no longer refused.
func (s *Server) loadTradeBase() (unrecorded bool, err error) {
	ls, err := s.wal.Stats()
	if err != nil {
		return false, fmt.Errorf("server: read log bounds: %w", err)
	}
	last := max(s.rm.Seq, ls.LastSeq)
	if len(ls.Snapshots) > 0 {
		last = max(last, ls.Snapshots[0])
	}
	base, unrecorded, err := s.store.tradeBase(last)
	if err != nil {
		return false, err
	}
	s.rm.tradeBase = base
	return unrecorded, nil
}

// replayHistory brings the order history up to date with the commands the
// log replays at start-up (those after its last save): the command carries
// what the result does not (client order id, type, time in force,
// display quantity, expiry time).
func (s *Server) replayHistory(cmd *engine.Command, res *engine.Result) {
	s.stats.apply(cmd, res) // ignores what it already has
	if res.Seq <= s.rm.seq() {
		return
	}
	switch cmd.Kind {
	case engine.CmdPlace:
		o := &cmd.Order
		s.rm.expect(cmd.Tag, &orderRec{ClientID: cmd.Ref, Type: o.Type, TIF: o.TIF, STP: o.STP,
			PostOnly: o.PostOnly, StopPrice: o.StopPrice, QuoteBudget: o.QuoteBudget, DisplayQty: o.DisplayQty,
			ExpireAt: cmd.ExpireAt}, nil)
	case engine.CmdDeposit, engine.CmdWithdraw:
		s.rm.noteTransfer(cmd)
	}
	s.rm.apply(res)
}

// GeneratedAdminToken returns the admin token generated by this Open on a
// first start, or "" if the token was given or already stored. It is
// never stored in the clear: print it once.
func (s *Server) GeneratedAdminToken() string { return s.generated }

// Serve serves HTTP on ln until Shutdown, which closes ln. Once Shutdown
// (or Close) has started, it closes ln and returns ErrClosed at once.
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	if s.closed.Load() {
		s.lnMu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.lnMu.Unlock()
	if s.conns != nil {
		ln = limitedListener{ln, s.conns}
	}
	return s.http.Serve(ln)
}

// Shutdown stops accepting connections, waits for requests in flight
// (up to ctx, and at most RequestTimeout and a second: connections still
// open then are left to close), snapshots the engine (with 30 seconds of
// its own if ctx is done by then), saves the order history and closes
// everything. It is idempotent. Once it has started, Serve and Backup
// return ErrClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.lnMu.Lock()
		s.closed.Store(true)
		lns := s.lns
		s.lnMu.Unlock()
		s.ready.Store(false)
		var errs []error
		s.hub.close() // streams are hijacked connections: http shutdown does not end them
		// Requests in flight finish within RequestTimeout. A connection
		// still open after that holds no request istd is working on (a
		// client that sent half a request, say): it is left to close
		// with the process, and does not hold up the rest.
		drain, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout+time.Second)
		if err := s.http.ShutdownWithContext(drain); err != nil {
			s.log.Warn().Err(err).Msg("connections still open after the drain: left to close")
		}
		cancel()
		for _, ln := range lns {
			ln.Close() // closed already, unless its Serve had not reached the HTTP server yet
		}
		s.drained.Store(true)
		s.dm.stop() // before the engine closes: a switch firing finishes its cancels
		// The final snapshot gets time of its own if the caller's is up:
		// without it the next start replays more of the log.
		snapCtx := ctx
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			snapCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
		}
		if _, err := s.eng.Snapshot(snapCtx); err != nil {
			errs = append(errs, fmt.Errorf("server: final snapshot: %w", err))
		}
		if err := s.eng.Close(); err != nil {
			errs = append(errs, fmt.Errorf("server: engine: %w", err))
		}
		s.unsub()
		close(s.stopSaver)
		<-s.saverDone
		if _, err := s.saveHistory(); err != nil {
			errs = append(errs, err)
		}
		if err := s.wal.Close(); err != nil {
			errs = append(errs, fmt.Errorf("server: close log: %w", err))
		}
		if err := s.store.close(); err != nil {
			errs = append(errs, fmt.Errorf("server: close metadata store: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Close is Shutdown with a 10-second deadline.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// Backup writes an online, consistent copy of the data directory to dir
// (which must not exist): the engine's log and snapshots (wal.Log.Backup)
// and the metadata store. istd can start from dir. Once Shutdown has
// started, it returns an error wrapping ErrClosed.
//
// The copy is written into a new directory beside dir, named after it
// with the suffix ".partial-" and a random part, and renamed to dir only
// once it is complete and synced: a backup that fails or is cut short
// by a crash never leaves a dir to start from (a crash leaves the
// partial directory, which may be deleted). Before, a crash between the
// copy of the metadata store and that of the log left a dir that istd
// started from with an empty engine under the old tokens and history.
func (s *Server) Backup(dir string) error {
	_, err := s.backupTo(dir)
	return err
}

// backupPartialHook, if set (by tests), is called once the partial
// backup directory holds the metadata store but not yet the log; an
// error from it fails the backup there.
var backupPartialHook func(partial string) error

// backupTo is Backup; it returns the sequence number the backup holds
// every command up to: its order history's.
//
// The history is saved and copied first, then the log: the copy's log
// reaches at least as far as its history, and back to a snapshot no
// newer than it (the log keeps the two newest snapshots), so a start
// from the copy replays the history up to the log's end (Open,
// wal.Options.ReplayAfter). The other way round, the history held
// orders and fills of commands the copy's log did not have, and the
// engine started from it gave their ids to new orders.
func (s *Server) backupTo(dir string) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("server: backup: %w", ErrClosed)
	}
	if _, err := os.Stat(dir); err == nil {
		return 0, fmt.Errorf("server: backup: %s already exists", dir)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return 0, fmt.Errorf("server: backup: %w", err)
	}
	partial, err := os.MkdirTemp(parent, filepath.Base(dir)+".partial-")
	if err != nil {
		return 0, fmt.Errorf("server: backup: %w", err)
	}
	var seq uint64
	// No snapshot is saved (and the log not truncated) until the log is
	// copied, and the history saved reaches the newest snapshot there is:
	// so the copy's log always holds a snapshot no newer than its history.
	err = s.wal.BackupWith(partial, func(newest uint64) error {
		if err := s.waitHistory(newest); err != nil {
			return err
		}
		var err error
		if seq, err = s.saveHistory(); err != nil { // the history as of now
			return err
		}
		if err := s.store.checkpoint(filepath.Join(partial, "server")); err != nil {
			return err
		}
		if backupPartialHook != nil {
			return backupPartialHook(partial)
		}
		return nil
	})
	if err == nil { // MkdirTemp's mode, 0700, as the data directory's
		err = os.Rename(partial, dir)
	}
	if err == nil {
		err = syncDir(parent)
	}
	if err != nil {
		os.RemoveAll(partial)
		if errors.Is(err, wal.ErrClosed) { // a Shutdown started meanwhile
			err = ErrClosed
		}
		return 0, fmt.Errorf("server: backup: %w", err)
	}
	return seq, nil
}

// syncDir makes the entries of directory dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// waitHistory waits, up to RequestTimeout, until the order history has
// applied command seq: the engine delivers a command's result to it just
// after the command is durable, and a snapshot at seq is saved once seq
// is durable.
func (s *Server) waitHistory(seq uint64) error {
	deadline := time.Now().Add(s.opts.RequestTimeout)
	for s.rm.seq() < seq {
		if time.Now().After(deadline) {
			return fmt.Errorf("server: the order history did not reach the newest snapshot %d (at %d)", seq, s.rm.seq())
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// saveHistory writes the changes to the order history since the last
// save to the metadata store (history.go) and returns the sequence number
// the store is now current to. The read model's lock is held only to swap
// its change log for an empty one.
func (s *Server) saveHistory() (uint64, error) { return s.saveHistoryStats(true) }

// saveHistoryStats is saveHistory, the statistics saved only when due
// (saveStats) unless forced.
func (s *Server) saveHistoryStats(forceStats bool) (uint64, error) {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if err := s.saveStats(forceStats); err != nil { // with the history, though not atomically
		return 0, err
	}
	if !s.legacy && s.store.needsBase() {
		// Written before the changes are taken: this save puts it in force.
		t0 := time.Now()
		err := s.store.writeBase(s.rm, func() error { _, err := s.saveChanges(); return err })
		if err != nil {
			// Not the save's failure: the segments hold the history.
			s.log.Error().Err(err).Msg("writing order history base")
		} else {
			s.log.Info().Int64("bytes", s.store.pendingBytes).Dur("took", time.Since(t0)).
				Dur("longest_lock", s.store.bw.maxHold).Msg("order history base written")
		}
	}
	seq, err := s.saveChanges()
	if err == nil {
		s.histSaved.Store(seq) // durable: the log may now be truncated up to it
	}
	return seq, err
}

// saveChanges writes the read model's change log to the store (saveMu
// held).
func (s *Server) saveChanges() (uint64, error) {
	c, seq := s.rm.takeChanges()
	if err := s.store.writeChanges(c, seq, s.legacy); err != nil {
		s.rm.putBack(c) // saved with the next
		return 0, err
	}
	c.release() // its chunks serve the next change logs
	s.legacy = false
	return seq, nil
}

// saveHistoryLoop saves the changes to the order history every
// HistoryInterval when there are any, whenever the read model reports
// that many are waiting, and after each snapshot, so that the change log
// stays small and the log can be truncated (the history is rebuilt from
// the log after a crash, see the package documentation).
func (s *Server) saveHistoryLoop() {
	defer close(s.saverDone)
	var tick <-chan time.Time
	if s.opts.HistoryInterval > 0 {
		t := time.NewTicker(s.opts.HistoryInterval)
		defer t.Stop()
		tick = t.C
	}
	var saved uint64
	for {
		select {
		case <-s.stopSaver:
			return
		case <-tick:
		case <-s.rm.full:
		case <-s.snapSaved:
		}
		if s.rm.seq() == saved {
			continue
		}
		seq, err := s.saveHistoryStats(false)
		if err != nil {
			s.log.Error().Err(err).Msg("saving order history")
			continue
		}
		saved = seq
	}
}

// onResult is the engine subscriber: it feeds the read model and metrics.
func (s *Server) onResult(res *engine.Result) {
	s.rm.apply(res)
	s.stats.onResult(res)
	s.met.observe(s, res)
	s.hub.publish(res) // non-blocking fan-out to streams
}

// hashToken returns the SHA-256 of a token.
func hashToken(tok []byte) [32]byte { return sha256.Sum256(tok) }

// newToken returns a fresh random token.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "ist_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// wallClock is the clock the engine's sequencer dates commands with, in
// Unix nanoseconds (a variable for tests).
var wallClock = func() int64 { return time.Now().UnixNano() }

// minAdminToken is the shortest admin token Open does not warn about.
const minAdminToken = 32

// loadAdmin sets the admin token hash: the given token (stored), the
// stored hash, or a newly generated token.
func (s *Server) loadAdmin() error {
	if s.opts.AdminToken != "" {
		if len(s.opts.AdminToken) < minAdminToken {
			// Its unsalted hash is in the data directory and its
			// backups: a short one could be guessed from it offline.
			s.log.Warn().Int("length", len(s.opts.AdminToken)).Int("recommended", minAdminToken).
				Msg("the admin token is short: use a random one of at least 32 characters, or let istd generate one")
		}
		s.adminHash = hashToken([]byte(s.opts.AdminToken))
		return s.store.set([]byte("admin"), s.adminHash[:])
	}
	h, err := s.store.get([]byte("admin"))
	if err != nil {
		return err
	}
	if len(h) == 32 {
		copy(s.adminHash[:], h)
		return nil
	}
	s.generated = newToken()
	s.adminHash = hashToken([]byte(s.generated))
	return s.store.set([]byte("admin"), s.adminHash[:])
}

// do runs one engine command and returns its result; a rejected command
// is returned as its error. It does not time out: the engine answers every
// command it accepted (Submit fails fast with ErrFull when it is
// saturated), and a request abandoned half-way could not tell the client
// whether its command ran.
func (s *Server) do(cmd *engine.Command, dst []engine.Event) (engine.Result, error) {
	res, err := s.eng.Do(context.Background(), cmd, dst)
	if err != nil {
		return res, err
	}
	return res, res.Err
}

// fasthttpLogger routes fasthttp's own messages (broken connections,
// oversized bodies) to zerolog at debug level.
type fasthttpLogger struct{ l *zerolog.Logger }

// Printf implements fasthttp.Logger. fasthttp's messages about requests
// it could not parse quote the raw request, its Authorization header
// included: what follows "buffer size=" is left out.
func (f fasthttpLogger) Printf(format string, args ...any) {
	if e := f.l.Debug(); e.Enabled() {
		msg, _, cut := strings.Cut(fmt.Sprintf(format, args...), "buffer size=")
		if cut {
			msg += "[request left out]"
		}
		e.Msg(msg)
	}
}

// readBufferSize is the size of each connection's read buffer, which
// bounds a request's line and headers (fasthttp's default).
const readBufferSize = 4096

// badRequest answers a request fasthttp could not read (its headers
// malformed, its body over the limit), which no handler sees, and logs
// and counts it as handle does the others.
func (s *Server) badRequest(ctx *fasthttp.RequestCtx, err error) {
	start := time.Now()
	// fasthttp closes the connection after this answer, maybe before the
	// client has sent all of its request: the close lingers, so that the
	// client reads the answer rather than a reset (lingerClose).
	if l, ok := ctx.Conn().(lingerer); ok {
		l.lingerOnClose()
	}
	var buf [32]byte
	rid := s.requestID(ctx, buf[:0])
	ctx.Response.Header.SetBytesV(requestIDHeader, rid)
	route := "too_large"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, errTooLarge)
	case errors.As(err, &small):
		// The request line and headers do not fit the connection's
		// read buffer (fasthttp's ReadBufferSize, 4 KiB): 431, as
		// fasthttp's own handler answers, not a malformed request.
		route = "headers_too_large"
		writeError(ctx, fmt.Errorf("%w: the request line and headers must fit in %d bytes", errHeaderLarge, readBufferSize))
	default:
		// fasthttp's parse errors quote the raw request, its
		// Authorization header included: the answer says what was
		// wrong, without the request.
		route = "malformed"
		msg, _, _ := strings.Cut(err.Error(), ": buffer size=")
		// Those of a header line quote the line, or its value, whatever
		// SecureErrorLogMessage: what it is comes before the quote.
		for _, p := range [...]string{"malformed mime header", "invalid header value", "invalid header key"} {
			if i := strings.Index(msg, p); i >= 0 {
				if j := strings.IndexByte(msg[i:], '"'); j >= 0 {
					msg = strings.TrimRight(msg[:i+j], ": ")
				}
			}
		}
		writeError(ctx, fmt.Errorf("%w: malformed HTTP request: %s", errInvalid, msg))
	}
	s.done(ctx, rid, &route, start)
}
