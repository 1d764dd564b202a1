package main

import (
	"cmp"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/server"
)

// tuning is istd's flags beyond the basic ones: rate limits, the token
// cap, history retention, snapshots, request limits, the book depth and
// TLS. Each has an environment variable, read when the flag
// is registered, so that a flag given on the command line wins.
type tuning struct {
	errs []error // bad environment values

	rateLimit, anonRateLimit float64
	rateBurst, anonRateBurst int
	signupRate               float64
	signupBurst              int
	metricsRate              float64
	metricsBurst             int
	anonSet                  bool // IST_ANON_RATE_LIMIT given (the flag is seen by Visit)
	maxTokens                int

	historyInterval             time.Duration
	leaderboardTTL              time.Duration
	historyOrders, historyFills int

	snapshotInterval, requestTimeout time.Duration
	snapshotEvery                    int
	maxBody, maxBatchBody            int
	reserveOrders, reserveBookOrders int
	ringSize                         int
	bookDepth                        int
	maxStreams, maxStreamsPerIP      int
	maxConnsPerIP, maxConns          int
	streamQueueBytes                 int

	tlsCert, tlsKey string
}

// addTuning registers the tuning flags on fs.
func addTuning(fs *flag.FlagSet) *tuning {
	t := &tuning{}
	t.float(fs, &t.rateLimit, "rate-limit", "IST_RATE_LIMIT", server.DefaultRateLimit,
		"requests per second per bearer token (a batch of orders costs one per order); 0: unlimited")
	t.int(fs, &t.rateBurst, "rate-burst", "IST_RATE_BURST", 0,
		"burst per bearer token; 0: twice --rate-limit")
	_, t.anonSet = os.LookupEnv("IST_ANON_RATE_LIMIT")
	t.float(fs, &t.anonRateLimit, "anon-rate-limit", "IST_ANON_RATE_LIMIT", server.DefaultRateLimit,
		"requests per second per client IP (IPv6: per /64) without a token; default: --rate-limit; 0: unlimited")
	t.int(fs, &t.anonRateBurst, "anon-rate-burst", "IST_ANON_RATE_BURST", 0,
		"burst per client IP without a token; 0: twice --anon-rate-limit (or --rate-burst, with no --anon-rate-limit)")
	t.float(fs, &t.signupRate, "signup-rate", "IST_SIGNUP_RATE", server.DefaultSignupRate,
		"open sign-ups (POST /v1/accounts) per second per client IP (IPv6: per /64), on top of --anon-rate-limit; POST /v1/admin/accounts is not limited by it; 0: unlimited")
	t.int(fs, &t.signupBurst, "signup-burst", "IST_SIGNUP_BURST", server.DefaultSignupBurst,
		"burst of open sign-ups per client IP (at least 1)")
	t.float(fs, &t.metricsRate, "metrics-rate", "IST_METRICS_RATE", server.DefaultMetricsRate,
		"GET /metrics per second per client IP (IPv6: per /64); each renders every metric; 0: unlimited")
	t.int(fs, &t.metricsBurst, "metrics-burst", "IST_METRICS_BURST", server.DefaultMetricsBurst,
		"burst of GET /metrics per client IP (at least 1)")
	t.int(fs, &t.maxTokens, "max-tokens", "IST_MAX_TOKENS", server.DefaultMaxTokens,
		"live tokens an account may hold; POST /v1/tokens past it answers 409 too_many_tokens; 0: no cap")
	t.duration(fs, &t.historyInterval, "history-interval", "IST_HISTORY_INTERVAL", 5*time.Second,
		"how often order history changes are saved (also after each snapshot: the log is not truncated past the last save); 0: only after snapshots, when many are waiting, on backup and on shutdown")
	t.duration(fs, &t.leaderboardTTL, "leaderboard-ttl", "IST_LEADERBOARD_TTL", time.Second,
		"how long GET /v1/social/leaders answers from a leaderboard it computed (a board walks every leader's open relations); 0: computed for every request")
	t.int(fs, &t.historyOrders, "history-orders", "IST_HISTORY_ORDERS", server.DefaultHistoryOrders,
		"done orders kept per account; 0: all")
	t.int(fs, &t.historyFills, "history-fills", "IST_HISTORY_FILLS", server.DefaultHistoryFills,
		"fills (and as many deposits and withdrawals, and copy-trading events) kept per account; 0: all")
	t.duration(fs, &t.snapshotInterval, "snapshot-interval", "IST_SNAPSHOT_INTERVAL", time.Minute,
		"how often the engine's state is snapshotted (the log before the older kept snapshot is then truncated)")
	t.int(fs, &t.snapshotEvery, "snapshot-every", "IST_SNAPSHOT_EVERY", 0,
		"also snapshot after this many commands since the last snapshot, to bound what a restart replays; 0: on --snapshot-interval only")
	t.int(fs, &t.reserveOrders, "reserve-orders", "IST_RESERVE_ORDERS", 0,
		"live orders (all markets) the engine makes room for at start-up, so that it does not pause to grow before; 0: grow as needed")
	t.int(fs, &t.reserveBookOrders, "reserve-book-orders", "IST_RESERVE_BOOK_ORDERS", 0,
		"resting orders each market's book makes room for at start-up (memory: about 100 bytes each, per market); 0: grow as needed")
	t.int(fs, &t.ringSize, "ring-size", "IST_RING_SIZE", server.DefaultRingSize,
		"the engine's ingress slots, a power of two: the most orders in flight before requests are refused as overloaded")
	t.int(fs, &t.bookDepth, "book-depth", "IST_BOOK_DEPTH", server.DefaultBookDepth,
		"price levels per side of the published book views: the most GET /v1/markets/{symbol}/book?depth= serves and what a book stream's snapshot covers; more costs the matcher time on each view rebuild")
	t.int(fs, &t.maxStreams, "max-streams", "IST_MAX_STREAMS", server.DefaultMaxStreams,
		"WebSocket streams open at once; an upgrade beyond is refused (503 overloaded); 0: no cap")
	t.int(fs, &t.maxStreamsPerIP, "max-streams-per-ip", "IST_MAX_STREAMS_PER_IP", server.DefaultMaxStreamsPerIP,
		"WebSocket streams open at once from one client address (IPv6: one /64); beyond, 429 rate_limited; 0: no cap")
	t.int(fs, &t.maxConnsPerIP, "max-conns-per-ip", "IST_MAX_CONNS_PER_IP", server.DefaultMaxConnsPerIP,
		"connections open at once from one client address (IPv6: one /64); beyond, a new one is answered 429 rate_limited and closed; behind a proxy every client has the proxy's address; 0: no cap")
	t.int(fs, &t.maxConns, "max-conns", "IST_MAX_CONNS", 0,
		"connections open at once in total, streams included; beyond, a new one is answered 503 overloaded and closed, so that connections cannot take the file descriptors the log needs; 0: the open-file limit (ulimit -n) less 1024")
	t.int(fs, &t.streamQueueBytes, "stream-queue-bytes", "IST_STREAM_QUEUE_BYTES", server.DefaultStreamQueueBytes,
		"bytes of messages queued for all WebSocket streams together (each also holds at most 4 MiB); past it, a stream holding more than its fair share (this / streams open, at least 64 KiB) is closed (1008 slow consumer); at least 65536; 0: no budget")
	t.int(fs, &t.maxBody, "max-body", "IST_MAX_BODY", 64<<10, "request body limit in bytes")
	t.int(fs, &t.maxBatchBody, "max-batch-body", "IST_MAX_BATCH_BODY", 1<<20,
		"body limit of POST /v1/orders/batch in bytes (at least --max-body)")
	t.duration(fs, &t.requestTimeout, "request-timeout", "IST_REQUEST_TIMEOUT", 10*time.Second,
		"how long a read waits for fresh views before answering 503")
	fs.StringVar(&t.tlsCert, "tls-cert", os.Getenv("IST_TLS_CERT"),
		"PEM certificate (chain) file: serve HTTPS, with --tls-key (IST_TLS_CERT)")
	fs.StringVar(&t.tlsKey, "tls-key", os.Getenv("IST_TLS_KEY"),
		"PEM private key file of --tls-cert (IST_TLS_KEY)")
	return t
}

func (t *tuning) float(fs *flag.FlagSet, p *float64, name, key string, def float64, usage string) {
	if v, ok := os.LookupEnv(key); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.errs = append(t.errs, fmt.Errorf("%s: %w", key, err))
		} else {
			def = f
		}
	}
	fs.Float64Var(p, name, def, usage+" ("+key+")")
}

func (t *tuning) int(fs *flag.FlagSet, p *int, name, key string, def int, usage string) {
	if v, ok := os.LookupEnv(key); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.errs = append(t.errs, fmt.Errorf("%s: %w", key, err))
		} else {
			def = n
		}
	}
	fs.IntVar(p, name, def, usage+" ("+key+")")
}

// bool registers a boolean flag whose default is the environment variable
// key when set, read as strconv.ParseBool reads it (1, t, T, TRUE, true,
// True; 0, f, F, FALSE, false, False): any other value, the empty one
// included, is an error at start-up naming key, not a silent false.
func (t *tuning) bool(fs *flag.FlagSet, p *bool, name, key, usage string) {
	def := false
	if v, ok := os.LookupEnv(key); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			t.errs = append(t.errs, fmt.Errorf("%s %q: want true or false (1, t, TRUE, true, True; 0, f, FALSE, false, False)", key, v))
		}
		def = b
	}
	fs.BoolVar(p, name, def, usage+" ("+key+"=true)")
}

func (t *tuning) duration(fs *flag.FlagSet, p *time.Duration, name, key string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(key); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.errs = append(t.errs, fmt.Errorf("%s: %w", key, err))
		} else {
			def = d
		}
	}
	fs.DurationVar(p, name, def, usage+" ("+key+")")
}

// apply checks the parsed values and sets them in o.
func (t *tuning) apply(fs *flag.FlagSet, o *server.Options) error {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "anon-rate-limit" {
			t.anonSet = true
		}
	})
	errs := t.errs
	for _, c := range []struct {
		name string
		bad  bool // negative, or for a "(must be positive)" name not positive
	}{
		{"--rate-limit", t.rateLimit < 0},
		{"--rate-burst", t.rateBurst < 0},
		{"--anon-rate-limit", t.anonRateLimit < 0},
		{"--anon-rate-burst", t.anonRateBurst < 0},
		{"--signup-rate", t.signupRate < 0},
		{"--signup-burst (must be positive)", t.signupBurst <= 0},
		{"--metrics-rate", t.metricsRate < 0},
		{"--metrics-burst (must be positive)", t.metricsBurst <= 0},
		{"--max-tokens", t.maxTokens < 0},
		{"--history-interval", t.historyInterval < 0},
		{"--leaderboard-ttl", t.leaderboardTTL < 0},
		{"--history-orders", t.historyOrders < 0},
		{"--history-fills", t.historyFills < 0},
		{"--snapshot-interval (must be positive)", t.snapshotInterval <= 0},
		{"--snapshot-every", t.snapshotEvery < 0},
		{"--max-body (must be positive)", t.maxBody <= 0},
		{"--max-batch-body (must be positive)", t.maxBatchBody <= 0},
		{"--request-timeout (must be positive)", t.requestTimeout <= 0},
		{"--book-depth (must be positive)", t.bookDepth <= 0},
		{"--max-streams", t.maxStreams < 0},
		{"--max-streams-per-ip", t.maxStreamsPerIP < 0},
		{"--max-conns-per-ip", t.maxConnsPerIP < 0},
		{"--max-conns", t.maxConns < 0},
		{"--stream-queue-bytes", t.streamQueueBytes < 0},
		{"--reserve-orders", t.reserveOrders < 0},
		{"--reserve-book-orders", t.reserveBookOrders < 0},
	} {
		if name, pos := strings.CutSuffix(c.name, " (must be positive)"); c.bad && pos {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		} else if c.bad {
			errs = append(errs, fmt.Errorf("%s must not be negative", c.name))
		}
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"--rate-limit (IST_RATE_LIMIT)", t.rateLimit}, {"--anon-rate-limit (IST_ANON_RATE_LIMIT)", t.anonRateLimit},
		{"--signup-rate (IST_SIGNUP_RATE)", t.signupRate}, {"--metrics-rate (IST_METRICS_RATE)", t.metricsRate}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) {
			errs = append(errs, fmt.Errorf("%s must be a finite number of requests per second (got %v)", c.name, c.v))
		}
	}
	if t.streamQueueBytes > 0 && t.streamQueueBytes < server.MinStreamQueueBytes {
		errs = append(errs, fmt.Errorf("--stream-queue-bytes must be 0 (no budget) or at least %d (64 KiB) (got %d)",
			server.MinStreamQueueBytes, t.streamQueueBytes))
	}
	if t.ringSize < 2 || t.ringSize&(t.ringSize-1) != 0 {
		errs = append(errs, fmt.Errorf("--ring-size must be a power of two, at least 2 (got %d)", t.ringSize))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// On the command line 0 means none (or all); in server.Options it
	// means the default, and negative none (or all).
	orNone := func(x float64) float64 {
		if x == 0 {
			return -1
		}
		return x
	}
	o.RateLimit, o.RateBurst = orNone(t.rateLimit), t.rateBurst
	if t.anonSet {
		o.AnonRateLimit, o.AnonRateBurst = orNone(t.anonRateLimit), t.anonRateBurst
	} else {
		o.AnonRateLimit, o.AnonRateBurst = o.RateLimit, cmp.Or(t.anonRateBurst, t.rateBurst)
	}
	o.SignupRate, o.SignupBurst = orNone(t.signupRate), t.signupBurst
	o.MetricsRate, o.MetricsBurst = orNone(t.metricsRate), t.metricsBurst
	o.HistoryInterval, o.LeaderboardTTL = t.historyInterval, t.leaderboardTTL
	if o.LeaderboardTTL == 0 {
		o.LeaderboardTTL = -1 // the flag's 0: no cache, as the server's 0
	}
	if o.HistoryInterval == 0 {
		o.HistoryInterval = -1
	}
	orAll := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	o.HistoryOrders, o.HistoryFills = orAll(t.historyOrders), orAll(t.historyFills)
	o.MaxTokens = orAll(t.maxTokens)
	o.SnapshotInterval, o.RequestTimeout = t.snapshotInterval, t.requestTimeout
	o.SnapshotEvery = uint64(t.snapshotEvery)
	o.MaxBodySize, o.MaxBatchBodySize = t.maxBody, t.maxBatchBody
	o.Capacity = engine.Capacity{Orders: t.reserveOrders, BookOrders: t.reserveBookOrders}
	o.RingSize = t.ringSize
	o.BookDepth = t.bookDepth
	o.MaxStreams, o.MaxStreamsPerIP = orAll(t.maxStreams), orAll(t.maxStreamsPerIP)
	o.StreamQueueBytes = orAll(t.streamQueueBytes)
	o.MaxConnsPerIP = orAll(t.maxConnsPerIP)
	o.MaxConns = t.maxConns // 0: the default, from the open-file limit
	return nil
}

// errTLSPair is returned when only one of --tls-cert and --tls-key is
// given.
var errTLSPair = errors.New("--tls-cert and --tls-key (IST_TLS_CERT, IST_TLS_KEY) must be given together")

// tlsConfig returns the TLS configuration of --tls-cert and --tls-key
// (TLS 1.2 at least), or nil if neither is given.
func (t *tuning) tlsConfig() (*tls.Config, error) {
	if t.tlsCert == "" && t.tlsKey == "" {
		return nil, nil
	}
	if t.tlsCert == "" || t.tlsKey == "" {
		return nil, errTLSPair
	}
	cert, err := tls.LoadX509KeyPair(t.tlsCert, t.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// demoVia runs demo against s: over ln, or, when ln serves TLS (whose
// certificate need not name a loopback address), over a plain listener on
// a loopback port of its own, closed afterwards.
func demoVia(s *server.Server, ln net.Listener, isTLS bool, admin string, out io.Writer) error {
	if !isTLS {
		return demo("http://"+ln.Addr().String(), admin, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	plain := &onceCloser{Listener: l}
	defer plain.Close()
	go s.Serve(plain)
	return demo("http://"+plain.Addr().String(), admin, out)
}

// onceCloser is a listener whose Close is idempotent: the server closes
// every listener it served again on shutdown.
type onceCloser struct {
	net.Listener
	once sync.Once
	err  error
}

// Close implements net.Listener.
func (l *onceCloser) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
