package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// runSoak runs an istd binary (--istd) as a child process on a fresh data
// directory and drives it with a steady, mixed load for --duration, to
// find what grows without bound: sign-ups, deposits and withdrawals,
// resting orders that are amended and cancelled (singly, in batches and
// by cancel-all, so the open orders stay about constant), crossing and
// market orders, copy-trading (leaders, followers following, pausing,
// resuming and unfollowing), market-data and list reads, tokens issued and
// revoked, WebSocket streams that come and go (some never read), and bad
// requests. Every --sample it prints one line of istd's RSS, peak RSS,
// threads, open fds, a few /metrics series and the data directory's size
// by subdirectory. It restarts istd --restarts times (SIGINT) and kills it
// --kills times (SIGKILL), spread over the run, with the load paused, and
// checks that the accounts' balances and open orders came back the same.
// The last line gives the growth figures as key=value pairs.
func runSoak(args []string) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	istd := fs.String("istd", "", "istd binary to run (required; go build -o /tmp/istd ./cmd/istd)")
	dur := fs.Duration("duration", 20*time.Minute, "how long to drive istd")
	every := fs.Duration("sample", 30*time.Second, "sampling interval")
	dirFlag := fs.String("dir", "", "istd's data directory, which must not exist yet (default: a temporary one, removed)")
	restarts := fs.Int("restarts", 1, "clean restarts (SIGINT) during the run")
	kills := fs.Int("kills", 1, "SIGKILL restarts during the run")
	traders := fs.Int("traders", 16, "trading accounts")
	followers := fs.Int("followers", 6, "copy-trading followers (two leaders)")
	pace := fs.Duration("pace", 20*time.Millisecond, "pause between two operations of one load worker")
	logFile := fs.String("log", "", "istd's standard error (default: istd.log beside the data directory)")
	extra := fs.String("istd-args", "--snapshot-interval 1m --settle-interval 2m", "more istd flags, space-separated")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "istbench soak:", err)
		return 1
	}
	if *istd == "" {
		fmt.Fprintln(os.Stderr, "istbench soak: --istd is required")
		return 2
	}
	base, cleanup, err := scratch("")
	if err != nil {
		return fail(err)
	}
	defer cleanup()
	dir := *dirFlag
	if dir == "" {
		dir = filepath.Join(base, "data")
	} else if _, err := os.Stat(dir); err == nil {
		return fail(fmt.Errorf("--dir %s exists: the soak wants a fresh data directory", dir))
	}
	if *logFile == "" {
		*logFile = filepath.Join(filepath.Dir(dir), "istd.log")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &soakProc{bin: *istd, addr: addr, dir: dir, logFile: *logFile,
		admin: "soak-admin-" + strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36),
		extra: strings.Fields(*extra)}
	if err := p.start(); err != nil {
		return fail(err)
	}
	defer p.stop(syscall.SIGINT)
	fmt.Printf("soak: istd=%s addr=%s data=%s log=%s duration=%v\n", *istd, addr, dir, *logFile, *dur)

	c := &fasthttp.HostClient{Addr: addr, MaxConns: 256, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	ld := &soakLoad{c: c, addr: addr, admin: p.admin}
	if err := ld.setup(*traders, *followers); err != nil {
		return fail(fmt.Errorf("setup: %w", err))
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	workers := []func(*rand.Rand){ld.rest, ld.rest, ld.cross, ld.cross, ld.market, ld.batch, ld.funds,
		ld.reads, ld.reads, ld.copy, ld.tokens, ld.bad, ld.stream, ld.stream, ld.stream, ld.stall}
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for !stop.Load() {
				ld.gate.RLock()
				w(r)
				ld.gate.RUnlock()
				time.Sleep(*pace)
			}
		}()
	}

	// The restarts, spread evenly: clean ones first, then kills.
	var events []int // 0: SIGINT, 1: SIGKILL
	for range *restarts {
		events = append(events, 0)
	}
	for range *kills {
		events = append(events, 1)
	}
	start := time.Now()
	var first, last soakSample
	var samples []soakSample
	next := 0
	tick := time.NewTicker(*every)
	defer tick.Stop()
	sample := func() {
		s := p.sample(c)
		s.t = time.Since(start)
		s.ops = ld.ops.Load()
		s.errs = ld.errs.Load()
		samples = append(samples, s)
		if len(samples) == 1 {
			first = s
			fmt.Println(s.header())
		}
		last = s
		fmt.Println(s.line())
	}
	sample()
	// An interrupt ends the run early, as its end would: the load stops,
	// the summary is printed and istd is stopped (it was left running).
	intr := make(chan os.Signal, 1)
	signal.Notify(intr, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(intr)
run:
	for time.Since(start) < *dur {
		select {
		case <-tick.C:
		case <-intr:
			fmt.Fprintln(os.Stderr, "soak: interrupted: ending the run")
			break run
		}
		sample()
		if next < len(events) && time.Since(start) >= time.Duration(next+1)*(*dur)/time.Duration(len(events)+1) {
			sig := []os.Signal{syscall.SIGINT, syscall.SIGKILL}[events[next]]
			next++
			if err := ld.restart(p, sig); err != nil {
				stop.Store(true)
				wg.Wait()
				return fail(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	sample()
	fails := ld.unexpected.Load()
	mid := samples[len(samples)/2]
	fmt.Printf("ops=%d errors=%d unexpected=%d signups=%d follows=%d restarts_ok=%d "+
		"rss_mb_start=%.1f rss_mb_mid=%.1f rss_mb_end=%.1f hwm_mb_end=%.1f heap_inuse_mb_start=%.1f heap_inuse_mb_end=%.1f "+
		"nextgc_mb_start=%.1f nextgc_mb_end=%.1f goroutines_start=%.0f goroutines_end=%.0f fds_start=%d fds_end=%d threads_start=%d threads_end=%d "+
		"data_log_mb_end=%.1f data_server_mb_end=%.1f data_snapshots_mb_end=%.1f data_mb_end=%.1f\n",
		last.ops, last.errs, fails, ld.signups.Load(), ld.follows.Load(), ld.restartsOK,
		first.rss/1024, mid.rss/1024, last.rss/1024, last.hwm/1024, first.metric("go_memstats_heap_inuse_bytes")/(1<<20), last.metric("go_memstats_heap_inuse_bytes")/(1<<20),
		first.metric("go_memstats_next_gc_bytes")/(1<<20), last.metric("go_memstats_next_gc_bytes")/(1<<20),
		first.metric("go_goroutines"), last.metric("go_goroutines"), first.fds, last.fds, first.threads, last.threads,
		last.du["log"]/(1<<20), last.du["server"]/(1<<20), last.du["snapshots"]/(1<<20), last.du["total"]/(1<<20))
	if fails > 0 || ld.restartsOK != len(events) {
		return 1
	}
	return 0
}

// soakProc is the istd child process.
type soakProc struct {
	bin, addr, dir, logFile, admin string
	extra                          []string
	cmd                            *exec.Cmd
	log                            *os.File
}

func (p *soakProc) start() error {
	if p.log == nil {
		f, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		p.log = f
	}
	args := append([]string{"--data-dir", p.dir, "--listen", p.addr}, p.extra...)
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Env = append(os.Environ(), "IST_ADMIN_TOKEN="+p.admin)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, _, err := fasthttp.Get(nil, "http://"+p.addr+"/readyz")
		if err == nil && code == 200 {
			return nil
		}
		if p.cmd.ProcessState != nil {
			break
		}
	}
	return fmt.Errorf("istd did not become ready (see %s)", p.logFile)
}

// stop signals istd and waits for it to exit.
func (p *soakProc) stop(sig os.Signal) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	err := p.cmd.Wait()
	p.cmd = nil
	if sig == syscall.SIGKILL {
		return nil
	}
	return err
}

// soakSample is one sample of istd's resources.
type soakSample struct {
	t            time.Duration
	rss, hwm     float64 // KiB
	threads, fds int
	ops, errs    int64
	metrics      map[string]float64
	du           map[string]float64 // disk by soakDirs, and "total"
}

// soakDirs are the data directory's parts sampled: the command log, the
// order history and the leader statistics, the snapshots, and any other
// entry.
var soakDirs = []string{"log", "server", "snapshots", "other"}

// soakMetrics are the /metrics series sampled (summed over labels).
var soakMetrics = []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_alloc_bytes",
	"go_memstats_next_gc_bytes", "go_memstats_sys_bytes", "go_memstats_heap_objects", "process_open_fds", "engine_queue_depth", "wal_durable_sequence",
	"engine_snapshot_sequence", "streams_open", "stream_queue_bytes", "history_base_bytes",
	"history_segments_bytes", "copy_relations_open", "trades_total", "user_registrations_total"}

func (s *soakSample) metric(name string) float64 { return s.metrics[name] }

func (p *soakProc) sample(c *fasthttp.HostClient) soakSample {
	s := soakSample{metrics: map[string]float64{}, du: map[string]float64{}}
	if p.cmd != nil && p.cmd.Process != nil {
		pid := p.cmd.Process.Pid
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				f := strings.Fields(l)
				if len(f) < 2 {
					continue
				}
				v, _ := strconv.ParseFloat(f[1], 64)
				switch f[0] {
				case "VmRSS:":
					s.rss = v
				case "VmHWM:":
					s.hwm = v
				case "Threads:":
					s.threads = int(v)
				}
			}
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			s.fds = len(ents)
		}
	}
	if code, b, err := httpDo(c, "GET", "/metrics", "", ""); err == nil && code == 200 {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if l == "" || l[0] == '#' {
				continue
			}
			name, rest, _ := strings.Cut(l, " ")
			name, _, _ = strings.Cut(name, "{")
			for _, m := range soakMetrics {
				if m == name {
					f := strings.Fields(rest)
					if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
						s.metrics[name] += v
					}
				}
			}
		}
	}
	ents, _ := os.ReadDir(p.dir)
	for _, e := range ents {
		k := e.Name()
		if !slices.Contains(soakDirs, k) {
			k = "other"
		}
		n := dirBytes(filepath.Join(p.dir, e.Name()))
		s.du[k] += n
		s.du["total"] += n
	}
	return s
}

// dirBytes is the disk the regular files under path take, as du counts
// it.
func dirBytes(path string) float64 {
	var n float64
	filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += float64(allocated(fi))
		}
		return nil
	})
	return n
}

var soakShort = map[string]string{"go_goroutines": "gor", "go_memstats_heap_inuse_bytes": "heap_mb",
	"go_memstats_alloc_bytes": "alloc_mb", "go_memstats_next_gc_bytes": "nextgc_mb", "go_memstats_sys_bytes": "gosys_mb",
	"go_memstats_heap_objects": "objs_k", "process_open_fds": "pfds",
	"engine_queue_depth": "qdepth", "wal_durable_sequence": "seq", "engine_snapshot_sequence": "snapseq",
	"streams_open": "streams", "stream_queue_bytes": "sq_kb", "history_base_bytes": "hbase_kb",
	"history_segments_bytes": "hseg_kb", "copy_relations_open": "rel", "trades_total": "trades",
	"user_registrations_total": "regs"}

func (s *soakSample) header() string {
	h := []string{"t_s", "ops", "errs", "rss_mb", "hwm_mb", "threads", "fds"}
	for _, m := range soakMetrics {
		h = append(h, soakShort[m])
	}
	for _, k := range soakDirs {
		h = append(h, "du_"+k+"_kb")
	}
	return strings.Join(append(h, "du_total_kb"), " ")
}

func (s *soakSample) line() string {
	f := []string{fmt.Sprintf("%.0f", s.t.Seconds()), strconv.FormatInt(s.ops, 10), strconv.FormatInt(s.errs, 10),
		fmt.Sprintf("%.1f", s.rss/1024), fmt.Sprintf("%.1f", s.hwm/1024), strconv.Itoa(s.threads), strconv.Itoa(s.fds)}
	for _, m := range soakMetrics {
		v := s.metrics[m]
		switch {
		case strings.HasSuffix(soakShort[m], "_mb"):
			f = append(f, fmt.Sprintf("%.1f", v/(1<<20)))
		case strings.HasSuffix(soakShort[m], "_kb"):
			f = append(f, fmt.Sprintf("%.0f", v/1024))
		case strings.HasSuffix(soakShort[m], "_k"):
			f = append(f, fmt.Sprintf("%.0f", v/1000))
		default:
			f = append(f, fmt.Sprintf("%.0f", v))
		}
	}
	for _, k := range soakDirs {
		f = append(f, fmt.Sprintf("%.0f", s.du[k]/1024))
	}
	f = append(f, fmt.Sprintf("%.0f", s.du["total"]/1024))
	return strings.Join(f, " ")
}

// soakAcct is an account the load uses.
type soakAcct struct {
	id    uint64
	token string
}

// soakLoad is the mixed load.
type soakLoad struct {
	c                *fasthttp.HostClient
	addr, admin      string
	traders, leaders []soakAcct
	followers        []soakAcct
	gate             sync.RWMutex // workers read-lock it per operation; a restart write-locks it
	ops, errs        atomic.Int64
	unexpected       atomic.Int64 // 5xx and transport errors outside restarts
	signups, follows atomic.Int64
	seq              atomic.Uint64 // unique refs and client order ids
	restartsOK       int
}

var soakMarkets = []string{"BTC-USDT", "ETH-USDT"}

// do sends a request and counts it; 5xx answers and transport errors are
// unexpected, and the first few are printed.
func (l *soakLoad) do(method, path, token, body string) (int, []byte) {
	code, b, err := httpDo(l.c, method, path, token, body)
	l.ops.Add(1)
	if err != nil || code >= 500 {
		if n := l.unexpected.Add(1); n <= 20 {
			fmt.Fprintf(os.Stderr, "soak: unexpected: %s %s: %d %s %v\n", method, path, code, truncate(b, 200), err)
		}
	}
	if code >= 400 {
		l.errs.Add(1)
	}
	return code, b
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func (l *soakLoad) ref() uint64 { return l.seq.Add(1) }

// signup opens an account (with the admin token: open sign-up is limited
// per address) funded with usdt and base of each market.
func (l *soakLoad) signup(name string, usdt, base string) (soakAcct, error) {
	code, b := l.do("POST", "/v1/admin/accounts", l.admin, fmt.Sprintf(`{"name":%q}`, name))
	if code != 201 {
		return soakAcct{}, fmt.Errorf("sign-up: %d %s", code, b)
	}
	l.signups.Add(1)
	v, err := fastjson.ParseBytes(b)
	if err != nil {
		return soakAcct{}, err
	}
	a := soakAcct{id: v.GetUint64("id"), token: string(v.GetStringBytes("token"))}
	for _, d := range [][2]string{{"USDT", usdt}, {"BTC", base}, {"ETH", base}} {
		if d[1] == "" {
			continue
		}
		code, b := l.do("POST", "/v1/admin/deposits", l.admin,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"soak-%d"}`, a.id, d[0], d[1], l.ref()))
		if code != 201 {
			return a, fmt.Errorf("deposit: %d %s", code, b)
		}
	}
	return a, nil
}

func (l *soakLoad) setup(traders, followers int) error {
	for _, m := range soakMarkets {
		base, _, _ := strings.Cut(m, "-")
		code, b := l.do("POST", "/v1/admin/markets", l.admin, fmt.Sprintf(`{"symbol":%q,"base":%q,"quote":"USDT",`+
			`"tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`, m, base))
		if code != 201 {
			return fmt.Errorf("market %s: %d %s", m, code, b)
		}
	}
	for i := range traders {
		a, err := l.signup(fmt.Sprintf("trader%d", i), "100000000", "1000000")
		if err != nil {
			return err
		}
		l.traders = append(l.traders, a)
	}
	for i := range 2 {
		a, err := l.signup(fmt.Sprintf("leader%d", i), "20000", "100")
		if err != nil {
			return err
		}
		if code, b := l.do("PUT", "/v1/social/leader", a.token,
			fmt.Sprintf(`{"display_name":"leader %d","bio":"soak","profit_share_bps":1000}`, i)); code != 200 {
			return fmt.Errorf("leader: %d %s", code, b)
		}
		l.leaders = append(l.leaders, a)
	}
	for i := range followers {
		a, err := l.signup(fmt.Sprintf("follower%d", i), "1000000", "")
		if err != nil {
			return err
		}
		l.followers = append(l.followers, a)
	}
	// A fixed background book, far from the traded prices.
	for i := range 100 {
		t := l.traders[i%len(l.traders)]
		side, price := "buy", 50+float64(i%40)
		if i%2 == 1 {
			side, price = "sell", 150+float64(i%40)
		}
		o := fmt.Sprintf(`{"market":%q,"side":%q,"type":"limit","price":"%.2f","quantity":"1"}`, soakMarkets[i%2], side, price)
		if code, b := l.do("POST", "/v1/orders", t.token, o); code != 201 {
			return fmt.Errorf("background order: %d %s", code, b)
		}
	}
	return nil
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// orderID is the id of the order in an answer {"order":{...}}.
func orderID(b []byte) uint64 {
	v, err := fastjson.ParseBytes(b)
	if err != nil {
		return 0
	}
	return v.GetUint64("order", "id")
}

// rest places a few limit orders away from the traded prices, reads and
// amends them, then cancels them one by one or all at once.
func (l *soakLoad) rest(r *rand.Rand) {
	t, m := pick(r, l.traders), pick(r, soakMarkets)
	var ids []uint64
	for i := range 1 + r.IntN(5) {
		side, price := "buy", 90+r.Float64()*5
		if i%2 == 1 {
			side, price = "sell", 105+r.Float64()*5
		}
		code, b := l.do("POST", "/v1/orders", t.token, fmt.Sprintf(`{"market":%q,"side":%q,"type":"limit","price":"%.2f",`+
			`"quantity":"%.4f","client_order_id":"s-%d","post_only":%v}`, m, side, price, 0.1+r.Float64(), l.ref(), r.IntN(2) == 0))
		if code == 201 {
			ids = append(ids, orderID(b))
		}
	}
	for _, id := range ids {
		switch r.IntN(3) {
		case 0:
			l.do("GET", "/v1/orders/"+strconv.FormatUint(id, 10), t.token, "")
		case 1:
			l.do("PATCH", "/v1/orders/"+strconv.FormatUint(id, 10), t.token, `{"quantity":"0.05"}`)
		}
	}
	if r.IntN(4) == 0 {
		l.do("DELETE", "/v1/orders?market="+m, t.token, "")
		return
	}
	for _, id := range ids {
		l.do("DELETE", "/v1/orders/"+strconv.FormatUint(id, 10), t.token, "")
	}
}

// cross trades: a maker rests at a price near 100 and a taker (sometimes a
// leader) crosses it with an IOC or FOK order; the maker's rest is
// cancelled.
func (l *soakLoad) cross(r *rand.Rand) {
	maker, m := pick(r, l.traders), pick(r, soakMarkets)
	taker := pick(r, l.traders)
	leader := r.IntN(3) == 0
	if leader {
		taker = pick(r, l.leaders)
	}
	price := 99.5 + float64(r.IntN(100))/100
	mside, tside := "sell", "buy"
	if r.IntN(2) == 0 {
		mside, tside = "buy", "sell"
	}
	q := 0.01 + float64(r.IntN(50))/1000
	code, b := l.do("POST", "/v1/orders", maker.token, fmt.Sprintf(`{"market":%q,"side":%q,"type":"limit","price":"%.2f","quantity":"%.4f"}`,
		m, mside, price, q*20))
	if code != 201 {
		return
	}
	id := orderID(b)
	tif := pick(r, []string{"ioc", "fok", "gtc"})
	l.do("POST", "/v1/orders", taker.token, fmt.Sprintf(`{"market":%q,"side":%q,"type":"limit","price":"%.2f","quantity":"%.4f","time_in_force":%q,"client_order_id":"x-%d"}`,
		m, tside, price, q, tif, l.ref()))
	l.do("DELETE", "/v1/orders/"+strconv.FormatUint(id, 10), maker.token, "")
	if tif == "gtc" { // a gtc taker may rest if the maker's order went first to a follower
		l.do("DELETE", "/v1/orders?market="+m, taker.token, "")
	}
}

// market sends market orders (by quantity and by quote budget) against a
// maker's rest, and a stop order that is cancelled.
func (l *soakLoad) market(r *rand.Rand) {
	maker, taker, m := pick(r, l.traders), pick(r, l.traders), pick(r, soakMarkets)
	code, b := l.do("POST", "/v1/orders", maker.token, fmt.Sprintf(`{"market":%q,"side":"sell","type":"limit","price":"100.%02d","quantity":"2"}`, m, r.IntN(50)))
	if code != 201 {
		return
	}
	id := orderID(b)
	if r.IntN(2) == 0 {
		l.do("POST", "/v1/orders", taker.token, fmt.Sprintf(`{"market":%q,"side":"buy","type":"market","quantity":"0.%03d"}`, m, 10+r.IntN(500)))
	} else {
		l.do("POST", "/v1/orders", taker.token, fmt.Sprintf(`{"market":%q,"side":"buy","type":"market","quote_quantity":"%d"}`, m, 5+r.IntN(50)))
	}
	l.do("DELETE", "/v1/orders/"+strconv.FormatUint(id, 10), maker.token, "")
	code, b = l.do("POST", "/v1/orders", taker.token, fmt.Sprintf(`{"market":%q,"side":"sell","type":"stop_limit","stop_price":"60","price":"59","quantity":"0.1"}`, m))
	if code == 201 {
		l.do("DELETE", "/v1/orders/"+strconv.FormatUint(orderID(b), 10), taker.token, "")
	}
}

// batch places a batch of resting orders (with an invalid one) and cancels
// them all.
func (l *soakLoad) batch(r *rand.Rand) {
	t, m := pick(r, l.traders), pick(r, soakMarkets)
	var sb strings.Builder
	sb.WriteString(`{"orders":[`)
	n := 5 + r.IntN(20)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		if i == n/2 {
			sb.WriteString(`{"market":"` + m + `","side":"buy","type":"limit","price":"1.001","quantity":"1"}`)
			continue
		}
		fmt.Fprintf(&sb, `{"market":%q,"side":"buy","type":"limit","price":"%.2f","quantity":"0.5","client_order_id":"b-%d"}`, m, 85+r.Float64()*5, l.ref())
	}
	sb.WriteString("]}")
	l.do("POST", "/v1/orders/batch", t.token, sb.String())
	l.do("DELETE", "/v1/orders?market="+m, t.token, "")
}

// funds deposits (a resent ref now and then), withdraws (the same) and
// signs up a new account now and then. Deposit refs are kept forever and
// each account keeps its last 4,096 withdrawal refs (engine.State), so
// the withdrawals come from two accounts, whose windows fill in minutes,
// and the deposits and sign-ups are fewer than the other operations:
// their growth is by design.
func (l *soakLoad) funds(r *rand.Rand) {
	t := l.traders[r.IntN(2)]
	ref := l.ref()
	if r.IntN(4) == 0 {
		d := fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"40","ref":"d-%d"}`, t.id, ref)
		l.do("POST", "/v1/admin/deposits", l.admin, d)
		if r.IntN(4) == 0 {
			l.do("POST", "/v1/admin/deposits", l.admin, d)
		}
	}
	w := fmt.Sprintf(`{"asset":"USDT","amount":"9","ref":"w-%d"}`, ref)
	l.do("POST", "/v1/withdrawals", t.token, w)
	if r.IntN(4) == 0 {
		l.do("POST", "/v1/withdrawals", t.token, w)
	}
	if r.IntN(40) == 0 {
		if a, err := l.signup(fmt.Sprintf("new%d", ref), "100", ""); err == nil {
			l.do("GET", "/v1/account", a.token, "")
		}
	}
}

// reads reads market data and the account's lists, paging.
func (l *soakLoad) reads(r *rand.Rand) {
	t, m := pick(r, l.traders), pick(r, soakMarkets)
	switch r.IntN(12) {
	case 0:
		l.do("GET", "/v1/markets/"+m+"/book?depth="+strconv.Itoa(1+r.IntN(50)), "", "")
	case 1:
		l.do("GET", "/v1/markets/"+m+"/trades?limit="+strconv.Itoa(1+r.IntN(500)), "", "")
	case 2:
		l.do("GET", "/v1/markets/"+m+"/candles?interval="+pick(r, []string{"1m", "5m", "1h", "1d"})+"&limit=100", "", "")
	case 3:
		l.do("GET", "/v1/markets/"+m+"/ticker", "", "")
	case 4:
		l.do("GET", "/v1/fills?limit=50&market="+m, t.token, "")
	case 5, 6:
		after := uint64(0)
		for range 5 {
			code, b := l.do("GET", fmt.Sprintf("/v1/orders?status=done&limit=100&after=%d", after), t.token, "")
			v, err := fastjson.ParseBytes(b)
			if code != 200 || err != nil {
				return
			}
			os := v.GetArray("orders")
			if len(os) == 0 {
				return
			}
			after = os[len(os)-1].GetUint64("id")
		}
	case 7:
		l.do("GET", "/v1/account", t.token, "")
	case 8:
		l.do("GET", "/v1/social/leaders?sort="+pick(r, []string{"roi", "pnl", "followers", "aum"})+"&window="+pick(r, []string{"7d", "30d", "all"}), "", "")
	case 9:
		l.do("GET", "/v1/social/leaders/"+strconv.FormatUint(pick(r, l.leaders).id, 10), "", "")
	case 10:
		l.do("GET", "/v1/markets", "", "")
		l.do("GET", "/v1/orders?status=open", t.token, "")
	case 11:
		l.do("GET", "/v1/social/followers", pick(r, l.leaders).token, "")
		l.do("GET", "/v1/admin/accounts?limit=100", l.admin, "")
	}
}

// copy follows a leader, pauses, resumes and unfollows (closing at market
// or keeping the base).
func (l *soakLoad) copy(r *rand.Rand) {
	f, ld := pick(r, l.followers), pick(r, l.leaders)
	mode := pick(r, []string{`"mode":"multiplier","value":"0.5"`, `"mode":"fixed_quote","value":"20"`, `"mode":"proportional","value":"1"`})
	code, b := l.do("POST", "/v1/social/follows", f.token, fmt.Sprintf(`{"leader_id":%d,"allocation":"2000",%s,"slippage_bps":100}`, ld.id, mode))
	if code != 201 {
		return
	}
	l.follows.Add(1)
	v, err := fastjson.ParseBytes(b)
	if err != nil {
		return
	}
	id := strconv.FormatUint(v.GetUint64("id"), 10)
	for range 10 + r.IntN(40) { // let the leader trade meanwhile
		time.Sleep(100 * time.Millisecond)
	}
	l.do("GET", "/v1/social/follows", f.token, "")
	if r.IntN(2) == 0 {
		l.do("POST", "/v1/social/follows/"+id+"/pause", f.token, "")
		l.do("POST", "/v1/social/follows/"+id+"/resume", f.token, "")
	}
	l.do("DELETE", "/v1/social/follows/"+id+"?close="+pick(r, []string{"market", "keep"}), f.token, "")
	// Sell what keep left behind, so the wallet does not fill with base.
	for _, m := range soakMarkets {
		l.do("DELETE", "/v1/orders?market="+m, f.token, "")
	}
}

// tokens issues a token, uses it and revokes it.
func (l *soakLoad) tokens(r *rand.Rand) {
	t := pick(r, l.traders)
	code, b := l.do("POST", "/v1/tokens", t.token, "")
	if code != 201 {
		return
	}
	v, err := fastjson.ParseBytes(b)
	if err != nil {
		return
	}
	tok := string(v.GetStringBytes("token"))
	l.do("GET", "/v1/account", tok, "")
	l.do("GET", "/v1/tokens", tok, "")
	l.do("DELETE", "/v1/tokens/"+strconv.FormatUint(v.GetUint64("id"), 10), tok, "")
	l.do("GET", "/v1/account", tok, "") // revoked: 401
}

// bad sends requests that must be refused with a 4xx.
func (l *soakLoad) bad(r *rand.Rand) {
	t := pick(r, l.traders)
	switch r.IntN(8) {
	case 0:
		l.do("POST", "/v1/orders", t.token, `{"market":"BTC-USDT","side":`)
	case 1:
		l.do("GET", "/v1/nope/"+strconv.FormatUint(l.ref(), 10), "", "")
	case 2:
		l.do("GET", "/v1/account", "made-up-"+strconv.FormatUint(l.ref(), 10), "")
	case 3:
		l.do("GET", "/v1/orders/"+strconv.FormatUint(1<<40+l.ref(), 10), t.token, "")
	case 4:
		l.do("POST", "/v1/orders", t.token, `{"market":"NOPE-USDT","side":"buy","type":"limit","price":"1","quantity":"1"}`)
	case 5:
		l.do("POST", "/v1/orders", t.token, `{"market":"BTC-USDT","side":"buy","type":"limit","price":"1e9","quantity":"100000000"}`)
	case 6:
		l.do("POST", "/v1/orders", t.token, strings.Repeat("x", 70000))
	case 7:
		l.do("GET", "/v1/markets/BTC-USDT/candles?interval=2m", "", "")
	}
}

// stream connects a WebSocket, authenticates, subscribes, reads for a
// while and disconnects.
func (l *soakLoad) stream(r *rand.Rand) {
	t, m := pick(r, l.traders), pick(r, soakMarkets)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+l.addr+"/v1/stream", nil)
	l.ops.Add(1)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		l.errs.Add(1)
		return
	}
	defer conn.Close()
	conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"auth","token":%q}`, t.token)))
	conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"subscribe","channels":["book:%s","trades:%s","orders","fills","copy"]}`, m, m)))
	if r.IntN(4) == 0 {
		conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"bogus"}`))
	}
	deadline := time.Now().Add(time.Duration(500+r.IntN(3000)) * time.Millisecond)
	conn.SetReadDeadline(deadline)
	for time.Now().Before(deadline) {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	if r.IntN(2) == 0 { // a clean close half the time
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}
}

// stall opens streams that subscribe and never read, holds them for up to
// 20 s and drops them.
func (l *soakLoad) stall(r *rand.Rand) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 1024}
	var conns []*websocket.Conn
	for range 3 {
		conn, resp, err := d.Dial("ws://"+l.addr+"/v1/stream", nil)
		l.ops.Add(1)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			l.errs.Add(1)
			continue
		}
		conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channels":["book:BTC-USDT","trades:BTC-USDT","book:ETH-USDT","trades:ETH-USDT"]}`))
		conns = append(conns, conn)
	}
	// Hold them unread, in slices, so that a restart need not wait long.
	for range 4 + r.IntN(16) {
		time.Sleep(time.Second)
	}
	for _, c := range conns {
		if u, ok := c.UnderlyingConn().(*net.TCPConn); ok && r.IntN(2) == 0 {
			u.SetLinger(0) // a reset now and then
		}
		c.Close()
	}
}

// restart pauses the load, records every account's balances and every
// trader's open orders, stops istd with sig, starts it again and checks
// that they came back the same, and reports the data directory's size
// before and after.
func (l *soakLoad) restart(p *soakProc, sig os.Signal) error {
	l.gate.Lock()
	defer l.gate.Unlock()
	time.Sleep(200 * time.Millisecond) // let the settle or history saver in flight land
	before, err := l.state()
	if err != nil {
		return err
	}
	duBefore := p.sample(l.c).du
	t0 := time.Now()
	if err := p.stop(sig); err != nil {
		return fmt.Errorf("stop (%v): %w", sig, err)
	}
	stopped := time.Since(t0)
	t0 = time.Now()
	if err := p.start(); err != nil {
		return err
	}
	ready := time.Since(t0)
	l.c.CloseIdleConnections() // the old process's, dead now
	after, err := l.state()
	if err != nil {
		return err
	}
	duAfter := p.sample(l.c).du
	fmt.Printf("restart: signal=%v stop_ms=%d ready_ms=%d data_kb_before=%.0f data_kb_after=%.0f same_state=%v (%d bytes)\n",
		sig, stopped.Milliseconds(), ready.Milliseconds(), duBefore["total"]/1024, duAfter["total"]/1024, before == after, len(before))
	if before != after {
		os.WriteFile(p.logFile+".state-before", []byte(before), 0o644)
		os.WriteFile(p.logFile+".state-after", []byte(after), 0o644)
		return errors.New("restart: the state differs (see " + p.logFile + ".state-before and -after)")
	}
	l.restartsOK++
	return nil
}

// state is every account with its balances and every trader's,
// leader's and follower's open orders, as istd answers them.
func (l *soakLoad) state() (string, error) {
	var sb strings.Builder
	after := uint64(0)
	for {
		code, b := l.do("GET", fmt.Sprintf("/v1/admin/accounts?limit=1000&after=%d", after), l.admin, "")
		if code != 200 {
			return "", fmt.Errorf("admin accounts: %d %s", code, b)
		}
		v, err := fastjson.ParseBytes(b)
		if err != nil {
			return "", err
		}
		as := v.GetArray("accounts")
		if len(as) == 0 {
			break
		}
		sb.Write(b)
		after = as[len(as)-1].GetUint64("id")
	}
	for _, set := range [][]soakAcct{l.traders, l.leaders, l.followers} {
		for _, a := range set {
			code, b := l.do("GET", "/v1/orders?status=open&limit=1000", a.token, "")
			if code != 200 {
				return "", fmt.Errorf("open orders: %d %s", code, b)
			}
			sb.Write(b)
		}
	}
	return sb.String(), nil
}
