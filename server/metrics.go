package server

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/wal"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its own.
type metrics struct {
	requests      *prometheus.CounterVec   // handler, code
	duration      *prometheus.HistogramVec // handler
	orders        *prometheus.CounterVec   // market, type, result
	trades        *prometheus.CounterVec   // market
	volume        *prometheus.CounterVec   // market, in quote
	registrations prometheus.Counter
	connsRefused  *prometheus.CounterVec // reason: per_ip, total
	commands      prometheus.Counter
	fsync         prometheus.Histogram
	// Copy-trading.
	mirrored    *prometheus.CounterVec // market: fills of mirrored orders
	copySkipped *prometheus.CounterVec // reason
	copyClosed  *prometheus.CounterVec // reason: unfollow, stop_loss
	profitShare prometheus.Counter     // quote units of 10^-8, as a decimal
	deadman     prometheus.Counter     // cancel-all-after switches fired
	// streams with cancel_on_disconnect that ended and cancelled
	cancelOnDisconnect prometheus.Counter
}

func newMetrics(s *Server) (*prometheus.Registry, *metrics) {
	reg := prometheus.NewRegistry()
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(25e-6, 2, 18)}, []string{"handler"}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orders_total",
			Help: "Order placements by market, type and result (accepted or the rejection code)."}, []string{"market", "type", "result"}),
		trades: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trades_total",
			Help: "Trades by market."}, []string{"market"}),
		volume: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trading_volume_total",
			Help: "Traded notional by market, in the quote asset."}, []string{"market"}),
		registrations: prometheus.NewCounter(prometheus.CounterOpts{Name: "user_registrations_total",
			Help: "Accounts opened, by sign-up or by the admin (POST /v1/admin/accounts)."}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_connections_refused_total",
			Help: "Connections refused as soon as accepted, by reason: per_ip (their client address held --max-conns-per-ip) or total (--max-conns open)."}, []string{"reason"}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{Name: "engine_commands_total",
			Help: "Commands the engine has made durable and applied."}),
		fsync: s.fsync,
		mirrored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "copy_mirrored_fills_total",
			Help: "Fills of orders mirrored from a leader to a follower's copy wallet, by market."}, []string{"market"}),
		copySkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "copy_skipped_total",
			Help: "Leader fills not mirrored to a relation, by reason."}, []string{"reason"}),
		copyClosed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "copy_relations_closed_total",
			Help: "Copy relations closed, by reason (unfollow, stop_loss)."}, []string{"reason"}),
		profitShare: prometheus.NewCounter(prometheus.CounterOpts{Name: "copy_profit_share_total",
			Help: "Profit share paid by followers to leaders, in units of each relation's quote asset."}),
		deadman: prometheus.NewCounter(prometheus.CounterOpts{Name: "cancel_all_after_fired_total",
			Help: "Dead man's switches (POST /v1/orders/cancel-all-after) that fired: accounts whose orders were cancelled for not renewing their deadline."}),
		cancelOnDisconnect: prometheus.NewCounter(prometheus.CounterOpts{Name: "stream_cancel_on_disconnect_total",
			Help: "WebSocket streams with cancel_on_disconnect enabled that ended, each cancelling its account's orders."}),
	}
	for _, r := range [...]string{"per_ip", "total"} {
		m.connsRefused.WithLabelValues(r) // shown at 0
	}
	reg.MustRegister(m.requests, m.duration, m.orders, m.trades, m.volume, m.registrations, m.connsRefused, m.commands, m.fsync,
		m.mirrored, m.copySkipped, m.copyClosed, m.profitShare, m.deadman, m.cancelOnDisconnect,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "copy_relations_open",
			Help: "Open (active or paused) copy relations."},
			func() float64 { return float64(s.openRelations()) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streams_open",
			Help: "WebSocket streams open (capped by --max-streams)."},
			func() float64 { n, _ := s.hub.slots.open(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stream_queue_bytes",
			Help: "Bytes of messages queued for all WebSocket streams (budget --stream-queue-bytes: past it, the streams furthest behind are closed)."},
			func() float64 { return float64(s.hub.budget.queued.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "engine_queue_depth",
			Help: "Commands submitted to the engine and not yet delivered."},
			func() float64 { return float64(s.eng.QueueDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "engine_queue_capacity",
			Help: "Slots of the engine's ingress ring (--ring-size): beyond them, orders are refused as overloaded."},
			func() float64 { return float64(s.eng.QueueCapacity()) }),
		diskSyncs{s.wal},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wal_durable_sequence",
			Help: "Sequence number of the last durable command."},
			func() float64 { return float64(s.eng.DurableSeq()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "engine_snapshot_sequence",
			Help: "Sequence number of the last state snapshot saved (or recovered from): a restart replays the log after it."},
			func() float64 { return float64(s.snap.seq.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "engine_snapshot_pause_seconds",
			Help: "How long matching paused to take the last snapshot (copying the books and the order table, encoding the rest; about 0.035-0.14 s per million resting orders)."},
			func() float64 { return time.Duration(s.snap.pause.Load()).Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "engine_snapshot_failures_total",
			Help: "Snapshots that could not be saved: the log is not truncated meanwhile, and a restart replays more of it."},
			func() float64 { return float64(s.snap.failures.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "history_base_bytes",
			Help: "Bytes of the order history's base in force (DATA/server)."},
			func() float64 { return float64(s.store.storedBase.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "history_segments_bytes",
			Help: "Bytes of the order history's segments after its base: past twice the base (and 64 MiB), a new base is written."},
			func() float64 { return float64(s.store.storedSegs.Load()) }),
	)
	return reg, m
}

// request records one HTTP request.
func (m *metrics) request(route string, code int, d time.Duration) {
	c := ""
	if code >= 100 && code < 600 {
		c = codeNames[code-100]
	} else {
		c = strconv.Itoa(code)
	}
	m.requests.WithLabelValues(route, c).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// observe counts an engine result: the command, and its trades and their
// volume.
func (m *metrics) observe(s *Server, res *engine.Result) {
	m.commands.Inc()
	for i := range res.Events {
		switch ev := &res.Events[i]; ev.Kind {
		case book.EvTrade:
			if mk, ok := s.marketByID(ev.Market); ok {
				mk.trades.get(m.trades, mk.name).Inc()
				// price × qty × QuoteScale quote units of 10^-8.
				mk.volume.get(m.volume, mk.name).Add(float64(ev.Price) * float64(ev.Qty) * float64(mk.u.qs) / 1e8)
				if ev.Relation != 0 {
					mk.mirrored.get(m.mirrored, mk.name).Inc()
				}
			}
		case engine.EvCopySkipped:
			m.copySkipped.WithLabelValues(ev.CopyReason.String()).Inc()
		case engine.EvCopyClosed:
			m.copyClosed.WithLabelValues(ev.CopyReason.String()).Inc()
		case engine.EvProfitShare:
			m.profitShare.Add(float64(ev.Amount) / 1e8)
		}
	}
}

// newFsyncHistogram returns wal_fsync_duration_seconds: how long each
// journal batch took to become durable (from its hand-off to storage to the
// end of its sync). timedJournal feeds it.
func newFsyncHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wal_fsync_duration_seconds",
		Help: "Time for a journal batch to become durable (write + fsync).", Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16)})
}

// diskSyncs exports the log's fsyncs as Pebble times them
// (wal.Log.SyncStats) as wal_disk_fsync_duration_seconds: the disk's own
// part of wal_fsync_duration_seconds.
type diskSyncs struct{ l *wal.Log }

var diskSyncsDesc = prometheus.NewDesc("wal_disk_fsync_duration_seconds",
	"Time of each fsync of the command log on disk, as Pebble measures it (without waiting for the log writer).", nil, nil)

// Describe implements prometheus.Collector.
func (d diskSyncs) Describe(ch chan<- *prometheus.Desc) { ch <- diskSyncsDesc }

// Collect implements prometheus.Collector.
func (d diskSyncs) Collect(ch chan<- prometheus.Metric) {
	st, err := d.l.SyncStats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(diskSyncsDesc, err)
		return
	}
	buckets := make(map[float64]uint64, len(st.Buckets))
	for _, b := range st.Buckets {
		buckets[b.Le.Seconds()] = b.Count
	}
	ch <- prometheus.MustNewConstHistogram(diskSyncsDesc, st.Count, st.Sum.Seconds(), buckets)
}

// timedJournal times the engine's journal batches for
// wal_fsync_duration_seconds.
type timedJournal struct {
	engine.PipelinedJournal
	h prometheus.Histogram
}

// Commit implements engine.Journal.
func (j timedJournal) Commit() error {
	t := time.Now()
	err := j.PipelinedJournal.Commit()
	j.h.Observe(time.Since(t).Seconds())
	return err
}

// LastSeq passes the log's last sequence number on, so that engine.Open
// checks the recovered state against it. The journal is always a
// *wal.Log.
func (j timedJournal) LastSeq() uint64 { return j.PipelinedJournal.(*wal.Log).LastSeq() }

// CommitAsync implements engine.PipelinedJournal.
func (j timedJournal) CommitAsync() (func() error, error) {
	t := time.Now()
	wait, err := j.PipelinedJournal.CommitAsync()
	if wait == nil || err != nil {
		return wait, err
	}
	return func() error {
		err := wait()
		j.h.Observe(time.Since(t).Seconds())
		return err
	}, nil
}

// order counts one order placement.
func (m *metrics) order(market string, typ book.OrderType, result string) {
	m.orders.WithLabelValues(market, typeNames[typ], result).Inc()
}

// accepted counts one accepted order placement on mk.
func (m *metrics) accepted(mk *mkt, typ book.OrderType) {
	mk.accepted[typ&3].get(m.orders, mk.name, typeNames[typ&3], "accepted").Inc()
}

// lazyCounter is a series of a CounterVec, looked up once and kept.
type lazyCounter struct {
	p atomic.Pointer[prometheus.Counter]
}

// get returns the series of v with labels, resolving it on first use (two
// goroutines may both resolve it: they get the same series).
func (l *lazyCounter) get(v *prometheus.CounterVec, labels ...string) prometheus.Counter {
	if c := l.p.Load(); c != nil {
		return *c
	}
	c := v.WithLabelValues(labels...)
	l.p.Store(&c)
	return c
}

// codeNames are the status codes 100..599 as strings, so that counting a
// request does not format one.
var codeNames = func() (n [500]string) {
	for i := range n {
		n[i] = strconv.Itoa(100 + i)
	}
	return n
}()

// openRelations counts the open copy relations (for copy_relations_open).
func (s *Server) openRelations() int {
	n := 0
	s.eng.Leaders(func(v *engine.LeaderView) bool {
		n += len(v.Relations)
		return true
	})
	return n
}
