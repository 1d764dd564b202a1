// Command istd is ist's HTTP server: the engine, its command log and the
// API of API.md.
//
//	go run ./cmd/istd [--data-dir DIR] [--listen ADDR] [--admin-token TOKEN] [--tls-cert FILE --tls-key FILE]
//	go run ./cmd/istd backup --to DIR [--data-dir DIR] [--listen ADDR] [--admin-token TOKEN] [--tls-cert FILE]
//
// Every flag has an environment variable: IST_DATA_DIR (default ./data),
// IST_LISTEN (default 127.0.0.1:8080), IST_ADMIN_TOKEN (default: the
// stored one, or one generated on first start and printed once to standard
// output; only its SHA-256 is stored). IST_LOG_LEVEL (--log-level,
// default info; debug, info, warn or error, any other value stops istd at
// start) sets the level of the JSON log on standard error, one line per
// request (tokens are never logged).
//
// IST_ACCEPT_LOG_LOSS=true (or --accept-log-loss) starts istd even when
// the log ends before the order history saved beside it, which means it
// lost acknowledged commands (server.ErrLogBehind; otherwise istd
// refuses to start): a last resort, see docs/operations.md.
//
// IST_ACCEPT_RULE_CHANGE=true (or --accept-rule-change) starts istd even
// when recovering the log replays commands that an earlier release
// applied, under other matching rules (server.ErrRulesChanged: after that
// release crashed, or from a backup it wrote; otherwise istd refuses to
// start): a last resort, see docs/operations.md.
//
// IST_DISABLE_SIGNUP=true (or --disable-signup) turns off open sign-up
// (the admin still opens accounts, POST /v1/admin/accounts);
// IST_DEMO=true (or --demo) fills a fresh data directory with demo
// markets and funded accounts. Boolean variables are read as
// strconv.ParseBool reads them (1, t, T, TRUE, true, True and 0, f, F,
// FALSE, false, False); any other value stops istd at start with an
// error naming the variable.
//
// HTTPS: --tls-cert FILE and --tls-key FILE (IST_TLS_CERT, IST_TLS_KEY),
// PEM files, serve TLS 1.2 or later on --listen instead of plain HTTP;
// both or neither must be given (read at start: restart to renew).
//
// Rate limits (429 rate_limited): --rate-limit (IST_RATE_LIMIT, default
// 1000) requests per second per live bearer token with a burst of --rate-burst
// (IST_RATE_BURST, default twice the rate); --anon-rate-limit and
// --anon-rate-burst (IST_ANON_RATE_LIMIT, IST_ANON_RATE_BURST, default
// as the token's) per client IP for requests without a live token (none,
// a made-up one or a revoked one: they share their IP's bucket);
// --metrics-rate and --metrics-burst (IST_METRICS_RATE, IST_METRICS_BURST,
// default 10 a second, bursts of 30) per client IP for GET /metrics. A
// rate of 0 means unlimited. --max-tokens (IST_MAX_TOKENS, default 100; 0: no
// cap) is the most live tokens an account may hold: POST /v1/tokens past
// it answers 409 too_many_tokens until one is revoked.
//
// Copy trading: every --settle-interval (IST_SETTLE_INTERVAL, default 1h;
// 0 disables) istd submits a settlement of every copy relation: profit
// share above the high-water mark is paid to the leader and stop-losses
// are checked (server.Server.Settle; POST /v1/admin/settle does one now).
//
// Leaderboard: GET /v1/social/leaders answers from a board it computed
// for --leaderboard-ttl (IST_LEADERBOARD_TTL, default 1s; 0: computes
// each); a leader's own row is always current.
//
// Order history: --history-orders and --history-fills
// (IST_HISTORY_ORDERS, IST_HISTORY_FILLS, default 1000 each, 0: all) bound
// the done orders and fills (and as many transfers and copy-trading
// events) each account keeps; --history-interval
// (IST_HISTORY_INTERVAL, default 5s) is how often its changes are saved.
//
// Engine and requests: --snapshot-interval (IST_SNAPSHOT_INTERVAL, default
// 1m) is how often the state is snapshotted and the log truncated, and
// --snapshot-every (IST_SNAPSHOT_EVERY, default 0: off) snapshots after
// that many commands as well;
// --max-body and --max-batch-body (IST_MAX_BODY, IST_MAX_BATCH_BODY,
// default 64 KiB and 1 MiB) limit request bodies; --request-timeout
// (IST_REQUEST_TIMEOUT, default 10s) bounds a read's wait for fresh views;
// --reserve-orders and --reserve-book-orders (IST_RESERVE_ORDERS,
// IST_RESERVE_BOOK_ORDERS, default 0) make room at start-up for that many
// live orders and resting orders per book, so that matching does not
// pause to grow its tables before (docs/operations.md, Capacity);
// --ring-size (IST_RING_SIZE, default 16384) is the engine's ingress ring,
// the most orders in flight before requests are refused as overloaded.
// The Go runtime's GOGC and GOMEMLIMIT apply too (docs/operations.md).
//
// `istd backup --to DIR` writes an online, consistent backup that istd
// can start from (backup.go). While an istd runs on the data directory, it
// asks that istd for it (POST /v1/admin/backup), at --listen with the
// admin token of --admin-token (IST_LISTEN, IST_ADMIN_TOKEN: the settings
// istd runs with; --tls-cert or IST_TLS_CERT if it serves HTTPS); else it
// opens the data directory itself, keeping all the order history it holds
// (--history-orders and --history-fills are accepted but do not trim it),
// and refuses a directory without istd's data. DIR, made absolute here, is
// written by whichever process holds the directory, on this machine.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout), os.Stderr))
}

// exitCode reports err, if any, on stderr and returns the process's exit
// status: 0 for none and for -h or --help (the usage was printed), 1 else.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintln(stderr, "istd:", err)
		return 1
	}
}

// usage sets fs's usage text: how to call it, then its flags.
func usage(fs *flag.FlagSet, lines string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), lines)
		fs.PrintDefaults()
	}
}

// env returns the environment variable k, or def.
func env(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

// run runs istd with the command-line arguments args, printing the
// generated admin token, if any, to stdout.
func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "backup" {
		return backup(args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "verify" {
		return verify(args[1:], stdout)
	}
	fs := flag.NewFlagSet("istd", flag.ContinueOnError)
	usage(fs, `usage: istd [flags]               run the server
       istd backup --to DIR [flags]  write an online backup (istd backup -h)
       istd verify [flags]           check that a stopped istd's log, or a backup's,
                                     replays to its snapshots (istd verify -h)

flags (the environment variable in parentheses sets the same):
`)
	dataDir := fs.String("data-dir", env("IST_DATA_DIR", "./data"), "data directory (IST_DATA_DIR)")
	listen := fs.String("listen", env("IST_LISTEN", "127.0.0.1:8080"), "listen address (IST_LISTEN)")
	admin := fs.String("admin-token", env("IST_ADMIN_TOKEN", ""), "admin token (IST_ADMIN_TOKEN); default: stored or generated")
	level := fs.String("log-level", env("IST_LOG_LEVEL", "info"), "log level: debug, info, warn, error (IST_LOG_LEVEL)")
	// The copy-trading settlement schedule (settle.go).
	settle := addSettleFlag(fs)
	tun := addTuning(fs) // rate limits, history retention, TLS (options.go)
	var noSignup, demoData, acceptLoss, acceptRules bool
	tun.bool(fs, &noSignup, "disable-signup", "IST_DISABLE_SIGNUP", "disable open sign-up")
	tun.bool(fs, &demoData, "demo", "IST_DEMO", "on a fresh data dir, create demo markets and funded demo accounts")
	tun.bool(fs, &acceptLoss, "accept-log-loss", "IST_ACCEPT_LOG_LOSS",
		"start even if the log ends before the order history (it lost acknowledged commands); a last resort, see docs/operations.md")
	tun.bool(fs, &acceptRules, "accept-rule-change", "IST_ACCEPT_RULE_CHANGE",
		"start even if the log replays commands an earlier release applied under other matching rules (after its crash, or from its backup); a last resort, see docs/operations.md")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lvl, err := logLevel(*level)
	if err != nil {
		return err
	}
	settleEvery, err := settle.interval()
	if err != nil {
		return err
	}
	opts := server.Options{DataDir: *dataDir, AdminToken: *admin, DisableSignup: noSignup, AcceptLogLoss: acceptLoss,
		AcceptRuleChange: acceptRules}
	if err := tun.apply(fs, &opts); err != nil {
		return err
	}
	tlsConf, err := tun.tlsConfig()
	if err != nil {
		return err
	}
	// Signals are caught from the start: a SIGTERM during recovery still
	// shuts down cleanly once the server is up.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	// One log line per request: buffered, not a write(2) each (see
	// server.LogBuffer). Flushed last, after the shutdown's own lines.
	logBuf := server.NewLogBuffer(os.Stderr, 64<<10, 100*time.Millisecond)
	defer logBuf.Close()
	log := zerolog.New(server.MaskSecrets(logBuf)).With().Timestamp().Logger().Level(lvl)
	opts.Logger = &log
	s, err := server.Open(&opts)
	if err != nil {
		return err
	}
	if tok := s.GeneratedAdminToken(); tok != "" {
		fmt.Fprintf(stdout, "admin token (printed once, stored hashed): %s\n", tok)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		s.Close()
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http"
	if tlsConf != nil {
		ln, scheme = tls.NewListener(ln, tlsConf), "https"
	}
	log.Info().Str("listen", ln.Addr().String()).Str("scheme", scheme).Str("data_dir", *dataDir).Msg("istd serving")
	logTHP(&log)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	stopSettle := startSettle(s, settleEvery, &log)
	if demoData {
		tok := *admin
		if tok == "" {
			tok = s.GeneratedAdminToken()
		}
		if tok == "" {
			log.Warn().Msg("--demo needs the admin token (--admin-token) on a data dir that already has one")
		} else if err := demoVia(s, ln, tlsConf != nil, tok, stdout); err != nil {
			log.Error().Err(err).Msg("demo data")
		}
	}
	var serveErr error
	select {
	case got := <-sig:
		log.Info().Str("signal", got.String()).Msg("shutting down")
	case serveErr = <-served:
		log.Error().Err(serveErr).Msg("server stopped")
	}
	stopSettle()
	return errors.Join(serveErr, shutdown(s, &log))
}

// logLevel returns the level of --log-level: debug, info, warn or error.
// Any other value is an error (zerolog.ParseLevel would also take trace,
// fatal, panic, disabled and the empty string, the last two silencing the
// log, errors included).
func logLevel(s string) (zerolog.Level, error) {
	switch s {
	case "debug":
		return zerolog.DebugLevel, nil
	case "info":
		return zerolog.InfoLevel, nil
	case "warn":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("--log-level (IST_LOG_LEVEL) %q: want debug, info, warn or error", s)
}
