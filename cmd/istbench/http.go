package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/instant-social-trading/ist/bench"
	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// runHTTP is a load generator over loopback against (a) a bare fasthttp
// handler answering a constant and (b) istd's POST /v1/orders, served in
// process on a temporary data directory (durable acknowledgement, request
// logging off, no rate limit), both driven the same way: a closed loop
// with --conns connections for the maximum requests/s, then an open loop
// at half the bare maximum for latency (HDR histogram, measured from each
// request's intended send time, so queueing counts). Then POST
// /v1/orders/batch in a closed loop, in orders/s.
func runHTTP(args []string) int {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	dur := fs.Duration("duration", 5*time.Second, "duration of each phase")
	conns := fs.Int("conns", 64, "connections (and client goroutines) of the closed loops")
	openConns := fs.Int("open-conns", 64, "connections of the open loops")
	history := fs.Duration("history-interval", 0, "istd's Options.HistoryInterval (0: its default, 5 s; negative: only on shutdown)")
	accounts := fs.Int("accounts", 64, "trading accounts (one token each)")
	batch := fs.Int("batch", 100, "orders per batch request")
	batchConns := fs.Int("batch-conns", 0, "connections of the batch closed loop (default: --conns: enough batches in flight to keep istd busy)")
	rateFlag := fs.Float64("rate", 0, "open-loop offered requests/s (default: half the bare maximum)")
	dirFlag := fs.String("dir", "", "istd data directory (default: a temporary one, removed)")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of one phase (--profile-phase) to `file`")
	profPhase := fs.String("profile-phase", "single", "phase --cpuprofile and --trace cover: bare (the bare handler's closed loop), single (istd's), own (istd's open loop at half its own maximum) or batch")
	traceOut := fs.String("trace", "", "write an execution trace of one phase (--profile-phase) to `file`")
	logMode := fs.String("log", "buffered", "istd's request log, into istd.log in its data directory: buffered (as istd writes it), direct (a write per line) or none")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "istbench http:", err)
		return 1
	}
	dir, cleanup, err := scratch(*dirFlag)
	if err != nil {
		return fail(err)
	}
	defer cleanup()

	// (a) the bare handler.
	bareBody := []byte(`{"order":{"id":1,"status":"open"},"fills":[]}`)
	bare := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(201)
		ctx.SetContentType("application/json")
		ctx.SetBody(bareBody)
	}, NoDefaultServerHeader: true}
	bareLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go bare.Serve(bareLn)
	defer bare.Shutdown()

	// (b) istd.
	log, closeLog, err := benchLog(*logMode, dir)
	if err != nil {
		return fail(err)
	}
	defer closeLog()
	admin := "bench-admin-" + strconv.FormatUint(rand.Uint64(), 36)
	s, err := server.Open(&server.Options{DataDir: dir, AdminToken: admin, RateLimit: -1, Logger: &log,
		HistoryInterval: *history})
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "istbench http: close:", err)
		}
	}()
	istLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go s.Serve(istLn)
	if *batchConns <= 0 {
		*batchConns = *conns
	}
	ist := &fasthttp.HostClient{Addr: istLn.Addr().String(), MaxConns: max(*conns, *openConns, *batchConns)}
	tokens, err := httpSetup(ist, admin, *accounts)
	if err != nil {
		return fail(fmt.Errorf("setup: %w", err))
	}
	fmt.Printf("setup: istd data=%s market=BTC-USDT accounts=%d conns=%d open_conns=%d duration=%v log=%s\n",
		dir, *accounts, *conns, *openConns, *dur, *logMode)

	bareC := &fasthttp.HostClient{Addr: bareLn.Addr().String(), MaxConns: max(*conns, *openConns)}
	bareT := newTarget(bareC, "/v1/orders", tokens, 1, 1<<14)
	istT := newTarget(ist, "/v1/orders", tokens, 1, 1<<14)
	batchT := newTarget(ist, "/v1/orders/batch", tokens, *batch, 1<<8)

	profile := func(phase string) (stop func()) {
		if *profPhase != phase {
			return func() {}
		}
		if *traceOut != "" {
			fh, err := os.Create(*traceOut)
			if err == nil {
				err = trace.Start(fh)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "istbench http: trace:", err)
				return func() {}
			}
			return func() { trace.Stop(); fh.Close() }
		}
		if *cpuProf == "" {
			return func() {}
		}
		fh, err := os.Create(*cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(fh)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "istbench http: cpu profile:", err)
			return func() {}
		}
		return func() { pprof.StopCPUProfile(); fh.Close() }
	}
	stop := profile("bare")
	bareMax := closedLoop(bareT, *conns, *dur)
	stop()
	fmt.Printf("bare closed: %s\n", bareMax)
	stop = profile("single")
	m0 := scrapeCommits(ist)
	istMax := closedLoop(istT, *conns, *dur)
	m1 := scrapeCommits(ist)
	stop()
	fmt.Printf("istd closed: %s\n", istMax)
	if n := m1.count - m0.count; n > 0 {
		fmt.Printf("istd commits in the closed loop: commits=%.0f avg_commit_ms=%.3f orders_per_commit=%.1f disk_fsyncs=%.0f avg_disk_fsync_ms=%.3f\n",
			n, 1e3*(m1.sum-m0.sum)/n, float64(istMax.ok)/n, m1.disks-m0.disks, 1e3*(m1.diskSum-m0.diskSum)/max(m1.disks-m0.disks, 1))
	}
	rate := *rateFlag
	if rate <= 0 {
		rate = bareMax.perSec / 2
	}
	bareOpen := openLoop(bareT, *openConns, rate, *dur)
	fmt.Printf("bare open: %s\n", bareOpen)
	istOpen := openLoop(istT, *openConns, rate, *dur)
	fmt.Printf("istd open: %s\n", istOpen)
	if istMax.perSec < rate {
		stop = profile("own")
		own := openLoop(istT, *openConns, istMax.perSec/2, *dur)
		stop()
		fmt.Printf("istd open at half its own maximum (the bare half-rate exceeds its capacity): %s\n", own)
	}
	stop = profile("batch")
	bt := closedLoop(batchT, *batchConns, *dur)
	stop()
	fmt.Printf("istd batch closed (%d orders per request): %s orders_per_sec=%.0f\n", *batch, bt, bt.ordersPerSec(*batch))
	fmt.Printf("orders_per_sec=%.0f baseline_per_sec=%.0f ratio=%.3f p99_ms=%.3f batch_orders_per_sec=%.0f\n",
		istMax.perSec, bareMax.perSec, istMax.perSec/bareMax.perSec, istOpen.p99ms, bt.ordersPerSec(*batch))
	if istMax.ok == 0 || bt.ok == 0 {
		fmt.Fprintln(os.Stderr, "istbench http: no successful orders")
		return 1
	}
	return 0
}

// commitStats are istd's wal_fsync_duration_seconds count and sum (journal
// batches, from hand-off to durable) and wal_disk_fsync_duration_seconds'
// (the disk's own fsyncs).
type commitStats struct{ count, sum, disks, diskSum float64 }

// scrapeCommits reads istd's /metrics for its journal commits (zero if it
// cannot).
func scrapeCommits(c *fasthttp.HostClient) commitStats {
	code, b, err := httpDo(c, "GET", "/metrics", "", "")
	if err != nil || code != 200 {
		return commitStats{}
	}
	var st commitStats
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "wal_fsync_duration_seconds_count":
			st.count = v
		case "wal_fsync_duration_seconds_sum":
			st.sum = v
		case "wal_disk_fsync_duration_seconds_count":
			st.disks = v
		case "wal_disk_fsync_duration_seconds_sum":
			st.diskSum = v
		}
	}
	return st
}

// httpSetup creates BTC-USDT and n funded accounts and returns their tokens.
func httpSetup(c *fasthttp.HostClient, admin string, n int) ([]string, error) {
	if code, b, err := httpDo(c, "POST", "/v1/admin/markets", admin,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`); err != nil || code != 201 {
		return nil, fmt.Errorf("create market: %d %s %v", code, b, err)
	}
	var tokens []string
	for i := range n {
		code, b, err := httpDo(c, "POST", "/v1/admin/accounts", admin, fmt.Sprintf(`{"name":"bench%d"}`, i))
		if err != nil || code != 201 {
			return nil, fmt.Errorf("sign-up: %d %s %v", code, b, err)
		}
		v, err := fastjson.ParseBytes(b)
		if err != nil {
			return nil, err
		}
		id, tok := v.GetUint64("id"), string(v.GetStringBytes("token"))
		tokens = append(tokens, tok)
		for _, d := range []string{`"BTC","amount":"10000"`, `"USDT","amount":"100000000"`} {
			code, b, err := httpDo(c, "POST", "/v1/admin/deposits", admin,
				fmt.Sprintf(`{"account_id":%d,"asset":%s,"ref":"bench-%d-%d"}`, id, d, id, len(d)))
			if err != nil || code != 201 {
				return nil, fmt.Errorf("deposit: %d %s %v", code, b, err)
			}
		}
	}
	return tokens, nil
}

func httpDo(c *fasthttp.HostClient, method, path, token, body string) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + c.Addr + path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.SetBodyString(body)
	err := c.DoTimeout(req, resp, 30*time.Second)
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), err
}

// target is what a loop sends: POSTs of random crossing limit orders
// (orders of them per request; more than 1 makes a batch). The bodies are
// generated once, before the loops (bodies), so that the load generator
// spends its CPU on HTTP, not on formatting orders.
type target struct {
	client *fasthttp.HostClient
	path   string
	tokens []string
	orders int
	bodies [][]byte
}

// newTarget returns a target with a pool of n request bodies.
func newTarget(client *fasthttp.HostClient, path string, tokens []string, orders, n int) *target {
	t := &target{client: client, path: path, tokens: tokens, orders: orders}
	r := rand.New(rand.NewPCG(uint64(orders), 7))
	for range n {
		t.bodies = append(t.bodies, t.body(r, nil))
	}
	return t
}

// body appends a fresh order (or batch) to b.
func (t *target) body(r *rand.Rand, b []byte) []byte {
	if t.orders > 1 {
		b = append(b, `{"orders":[`...)
	}
	for i := range t.orders {
		if i > 0 {
			b = append(b, ',')
		}
		side := "buy"
		if r.IntN(2) == 0 {
			side = "sell"
		}
		b = fmt.Appendf(b, `{"market":"BTC-USDT","side":"%s","type":"limit","price":"%d.%02d","quantity":"0.%04d"}`,
			side, 64990+r.IntN(20), r.IntN(100), 1+r.IntN(100))
	}
	if t.orders > 1 {
		b = append(b, "]}"...)
	}
	return b
}

// request sets up req, for sender w, as a POST from its token; next then
// gives it its i-th body.
func (t *target) request(req *fasthttp.Request, w int) {
	req.Reset()
	req.Header.SetMethod("POST")
	req.SetRequestURI("http://" + t.client.Addr + t.path)
	req.Header.Set("Authorization", "Bearer "+t.tokens[w%len(t.tokens)])
	req.Header.SetContentType("application/json")
}

// next gives req the i-th body of sender w from the pool (the request
// does not modify it).
func (t *target) next(req *fasthttp.Request, w, i int) {
	req.SetBodyRaw(t.bodies[(w*7919+i)%len(t.bodies)])
}

type loopResult struct {
	perSec                      float64
	ok, errs                    int64
	rejected                    int64 // orders refused inside successful batch responses
	p50ms, p99ms, p999ms, maxms float64
	offered                     float64
	late                        int64
	// cpu is the process's CPU time over the loop's wall time, in cores
	// (client and server together: both run in this process).
	cpu float64
}

func (l loopResult) String() string {
	if l.offered > 0 {
		return fmt.Sprintf("offered=%.0f achieved=%.0f ok=%d errors=%d unsent=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f",
			l.offered, l.perSec, l.ok, l.errs, l.late, l.p50ms, l.p99ms, l.p999ms, l.maxms)
	}
	return fmt.Sprintf("requests_per_sec=%.0f ok=%d errors=%d rejected_orders=%d p50_ms=%.3f p99_ms=%.3f cpu_cores=%.2f",
		l.perSec, l.ok, l.errs, l.rejected, l.p50ms, l.p99ms, l.cpu)
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 120_000_000, 3) } // µs

func (l *loopResult) fill(h *hdrhistogram.Histogram) {
	l.p50ms = float64(h.ValueAtQuantile(50)) / 1e3
	l.p99ms = float64(h.ValueAtQuantile(99)) / 1e3
	l.p999ms = float64(h.ValueAtQuantile(99.9)) / 1e3
	l.maxms = float64(h.Max()) / 1e3
}

// closedLoop runs conns goroutines sending back to back for d. In a
// batch's successful response, the orders refused one by one (an error
// object in place of the order, e.g. overloaded when the engine's ring
// is full) are counted as rejected.
func closedLoop(t *target, conns int, d time.Duration) loopResult {
	var ok, errs, rejected atomic.Int64
	var mu sync.Mutex
	all := newHist()
	var wg sync.WaitGroup
	cpu0 := bench.CPUTime()
	start := time.Now()
	end := start.Add(d)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			resp.KeepBodyBuffer = true // no garbage per response in the process that also runs istd
			h := newHist()
			t.request(req, w)
			for i := 0; time.Now().Before(end); i++ {
				t.next(req, w, i)
				t0 := time.Now()
				err := t.client.DoTimeout(req, resp, 30*time.Second)
				_ = h.RecordValue(max(time.Since(t0).Microseconds(), 1))
				if err != nil || resp.StatusCode() >= 300 {
					errs.Add(1)
				} else {
					ok.Add(1)
					if t.orders > 1 {
						rejected.Add(int64(bytes.Count(resp.Body(), errorObject)))
					}
				}
			}
			mu.Lock()
			all.Merge(h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	res := loopResult{ok: ok.Load(), errs: errs.Load(), rejected: rejected.Load(),
		cpu: (bench.CPUTime() - cpu0).Seconds() / el.Seconds()}
	res.perSec = float64(res.ok) / el.Seconds() // failed requests are not throughput
	res.fill(all)
	return res
}

// errorObject starts an order refused inside a batch response.
var errorObject = []byte(`{"error":`)

// ordersPerSec returns the orders a batch loop placed per second: its
// successful requests' orders, less those refused one by one.
func (l loopResult) ordersPerSec(batch int) float64 {
	if l.ok == 0 {
		return 0
	}
	return l.perSec * float64(int64(batch)*l.ok-l.rejected) / float64(l.ok)
}

// openLoop offers rate requests/s for d from a pool of conns senders;
// latency runs from each request's intended send time. Requests still
// queued 2 s after the end are not sent; they count with their wait so
// far (unsent).
func openLoop(t *target, conns int, rate float64, d time.Duration) loopResult {
	n := int(rate * d.Seconds())
	due := make(chan time.Time, n+1)
	var ok, errs, late atomic.Int64
	var mu sync.Mutex
	all := newHist()
	var wg sync.WaitGroup
	start := time.Now()
	cutoff := start.Add(d + 2*time.Second)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			resp.KeepBodyBuffer = true // no garbage per response in the process that also runs istd
			h := newHist()
			t.request(req, w)
			i := 0
			for at := range due {
				if now := time.Now(); now.After(cutoff) {
					_ = h.RecordValue(max(now.Sub(at).Microseconds(), 1))
					late.Add(1)
					continue
				}
				t.next(req, w, i)
				i++
				err := t.client.DoTimeout(req, resp, 30*time.Second)
				_ = h.RecordValue(max(time.Since(at).Microseconds(), 1))
				if err != nil || resp.StatusCode() >= 300 {
					errs.Add(1)
				} else {
					ok.Add(1)
				}
			}
			mu.Lock()
			all.Merge(h)
			mu.Unlock()
		}()
	}
	interval := float64(time.Second) / rate
	for i := 0; i < n; {
		now := time.Since(start)
		for ; i < n && time.Duration(float64(i)*interval) <= now; i++ {
			due <- start.Add(time.Duration(float64(i) * interval))
		}
		time.Sleep(50 * time.Microsecond)
	}
	close(due)
	wg.Wait()
	el := time.Since(start)
	res := loopResult{ok: ok.Load(), errs: errs.Load(), late: late.Load(), offered: rate}
	res.perSec = float64(res.ok+res.errs) / max(el.Seconds(), d.Seconds())
	res.fill(all)
	return res
}

// benchLog returns istd's logger for mode (see the --log flag) and what
// closes it: a file in dir written as istd writes stderr, at info level.
func benchLog(mode, dir string) (zerolog.Logger, func(), error) {
	if mode == "none" {
		return zerolog.Nop(), func() {}, nil
	}
	if mode != "buffered" && mode != "direct" {
		return zerolog.Logger{}, nil, fmt.Errorf("--log %q: want buffered, direct or none", mode)
	}
	f, err := os.Create(filepath.Join(dir, "istd.log"))
	if err != nil {
		return zerolog.Logger{}, nil, err
	}
	var w io.Writer = f
	closeLog := func() { f.Close() }
	if mode == "buffered" {
		b := server.NewLogBuffer(f, 64<<10, 100*time.Millisecond)
		w, closeLog = b, func() { b.Close(); f.Close() }
	}
	return zerolog.New(server.MaskSecrets(w)).With().Timestamp().Logger().Level(zerolog.InfoLevel), closeLog, nil
}
