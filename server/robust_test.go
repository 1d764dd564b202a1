package server

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// testSeed returns the seed of a randomised test: IST_SEED if set (to
// replay a run), else the clock's. It logs it, and prints it so that a
// run killed by the test timeout shows it too.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("IST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("IST_SEED: %v", err)
		}
	}
	t.Logf("IST_SEED=%d", seed)
	fmt.Printf("%s: IST_SEED=%d\n", t.Name(), seed)
	return seed
}

// TestHTTPRobustness sends random and mutated requests over loopback:
// never a 5xx, the server keeps answering /healthz, rejected requests
// change nothing, and the engine's invariants (money conserved) hold at
// the end. IST_SEED=N replays a run. Phase A (mixed valid, mutated and
// garbage requests) sends robustN() requests: 100,000 (also under -race:
// about 20 s on 2 cores), 20,000 with -short; phase B (only invalid
// requests, state compared before and after) a fifth of that.
func TestHTTPRobustness(t *testing.T) {
	seed := testSeed(t)
	n := robustN()

	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: -1})
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.1","lot_size":"0.001","maker_fee_bps":0,"taker_fee_bps":5}`)
	f := &fuzzer{ts: ts, markets: []string{"BTC-USDT", "ETH-USDT"}, assets: []string{"BTC", "ETH", "USDT"}}
	for i := range 4 {
		aid, tok := ts.signup(fmt.Sprintf("fz%d", i))
		f.accounts = append(f.accounts, aid)
		f.tokens = append(f.tokens, tok)
		for _, a := range []string{"BTC:100", "ETH:1000", "USDT:10000000"} {
			as, amt, _ := strings.Cut(a, ":")
			ts.must(201, "POST", "/v1/admin/deposits", adminTok,
				fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"init-%d-%s"}`, aid, as, amt, aid, as))
		}
	}
	f.client = &fasthttp.HostClient{Addr: strings.TrimPrefix(ts.base, "http://"), MaxConns: 64,
		MaxResponseBodySize: 8 << 20, ReadTimeout: 20 * time.Second, WriteTimeout: 20 * time.Second}

	const workers = 4
	t0 := time.Now()
	stA := f.run(t, seed, workers, n, false)
	t.Logf("phase A: %d requests in %v: %s", n, time.Since(t0).Round(time.Millisecond), stA)
	if stA.ok2xxWrites < int64(n/100) {
		t.Errorf("only %d successful writes: the generator makes too few valid requests", stA.ok2xxWrites)
	}

	// Phase B: only invalid requests; nothing may change.
	before := f.state()
	t1 := time.Now()
	stB := f.run(t, seed^0x5eed, workers, n/5, true)
	t.Logf("phase B: %d invalid requests in %v: %s", n/5, time.Since(t1).Round(time.Millisecond), stB)
	if after := f.state(); !reflect.DeepEqual(before, after) {
		t.Errorf("rejected requests changed the state:\nbefore %v\nafter  %v", before, after)
	}
	ts.must(200, "GET", "/healthz", "", "")

	// Money conserved: the engine's own invariant check, after Close.
	ts.stop()
	if err := ts.s.eng.State().Check(); err != nil {
		t.Fatalf("engine state check: %v", err)
	}
}

// robustN is the number of phase-A requests (see TestHTTPRobustness).
func robustN() int {
	if testing.Short() {
		return 20_000
	}
	return 100_000 // under -race: about 20 s on 2 cores
}

type fuzzer struct {
	ts       *testServer
	client   *fasthttp.HostClient
	markets  []string
	assets   []string
	accounts []uint64
	tokens   []string
	ids      sync.Map // order ids seen (uint64 → struct{}) for PATCH / DELETE
	nids     atomic.Int64
}

type fuzzStats struct {
	status      [600]atomic.Int64
	ok2xxWrites int64
	clientErrs  atomic.Int64
	mu          sync.Mutex
}

func (s *fuzzStats) String() string {
	var b strings.Builder
	for c := range s.status {
		if n := s.status[c].Load(); n > 0 {
			fmt.Fprintf(&b, "%d×%d ", c, n)
		}
	}
	fmt.Fprintf(&b, "successful_writes=%d client_errors=%d", s.ok2xxWrites, s.clientErrs.Load())
	return b.String()
}

// fstate is what rejected requests must not change.
type fstate struct {
	Accounts []string
	Markets  []string
	Tokens   int
}

func (f *fuzzer) state() fstate {
	s := f.ts.s
	s.waitViews()
	var st fstate
	for id := uint64(0); ; id++ {
		v, ok := s.eng.Account(id)
		if !ok {
			break
		}
		st.Accounts = append(st.Accounts, fmt.Sprint(v.Account, v.Name, v.Balances))
	}
	for _, m := range s.eng.Directory().Markets {
		v, ok := s.eng.Market(m.ID)
		if !ok {
			continue
		}
		st.Markets = append(st.Markets, fmt.Sprint(v.Market, v.Halted, v.Resting, v.Bids, v.Asks, v.Last))
	}
	s.tokMu.RLock()
	st.Tokens = len(s.tokens)
	s.tokMu.RUnlock()
	return st
}

// run sends n requests from workers goroutines.
func (f *fuzzer) run(t *testing.T, seed uint64, workers, n int, invalidOnly bool) *fuzzStats {
	st := &fuzzStats{}
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			var p fastjson.Parser
			for i := w; i < n && !failed.Load(); i += workers {
				var q fuzzReq
				if invalidOnly {
					q = f.invalid(r)
				} else {
					q = f.mixed(r)
				}
				code, body, err := f.send(req, resp, q)
				if err != nil {
					st.clientErrs.Add(1)
					continue
				}
				st.status[min(code, 599)].Add(1)
				if code >= 500 {
					t.Errorf("%s %q token=%q body=%q: %d %s", q.method, q.path, q.token, q.body, code, body)
					failed.Store(true)
				}
				write := q.method != "GET" && q.method != "HEAD"
				if invalidOnly && write && code < 400 {
					t.Errorf("invalid request accepted: %s %q token=%q body=%q: %d %s", q.method, q.path, q.token, q.body, code, body)
					failed.Store(true)
				}
				if write && code >= 200 && code < 300 {
					st.mu.Lock()
					st.ok2xxWrites++
					st.mu.Unlock()
					if q.path == "/v1/orders" {
						if v, err := p.ParseBytes(body); err == nil {
							if id := v.GetUint64("order", "id"); id != 0 {
								f.ids.Store(id, struct{}{})
								f.nids.Add(1)
							}
						}
					}
				}
				if i%997 == 0 {
					h, _, err := f.send(req, resp, fuzzReq{method: "GET", path: "/healthz"})
					if err != nil || h != 200 {
						t.Errorf("healthz: %d %v", h, err)
						failed.Store(true)
					}
				}
			}
		}()
	}
	wg.Wait()
	if e := st.clientErrs.Load(); e > int64(n/100) {
		t.Errorf("%d of %d requests failed at the client", e, n)
	}
	return st
}

type fuzzReq struct {
	method, path, token string
	rawAuth             string // if set, the whole Authorization header
	body                []byte
}

func (f *fuzzer) send(req *fasthttp.Request, resp *fasthttp.Response, q fuzzReq) (int, []byte, error) {
	if strings.HasPrefix(q.path, "/v1/admin/backup") && q.token == adminTok {
		q.token = f.tokens[0] // never write backups to fuzzed paths
	}
	req.Reset()
	resp.Reset()
	req.Header.SetMethod(q.method)
	req.SetRequestURI("http://" + f.client.Addr + q.path)
	if q.rawAuth != "" {
		req.Header.Set("Authorization", q.rawAuth)
	} else if q.token != "" {
		req.Header.Set("Authorization", "Bearer "+q.token)
	}
	if len(q.body) > 0 {
		req.Header.SetContentType("application/json")
		req.SetBody(q.body)
	}
	err := f.client.DoTimeout(req, resp, 30*time.Second)
	return resp.StatusCode(), resp.Body(), err
}

// template is a valid request of one kind.
type template struct {
	method, path string
	role         int    // roleNone, roleUser, roleAdmin
	body         []byte // nil: none
	batch        bool   // body is {"orders":[...]}
	bodyChecked  bool   // the handler decodes the body strictly
}

const (
	roleNone = iota
	roleUser
	roleAdmin
)

func (f *fuzzer) price(r *rand.Rand, m string) string {
	if m == "ETH-USDT" {
		return fmt.Sprintf("%d.%d", 2900+r.IntN(200), r.IntN(10))
	}
	return fmt.Sprintf("%d.%02d", 64900+r.IntN(200), r.IntN(100))
}

func (f *fuzzer) qty(r *rand.Rand, m string) string {
	if m == "ETH-USDT" {
		return fmt.Sprintf("0.%03d", 1+r.IntN(999))
	}
	return fmt.Sprintf("0.%04d", 1+r.IntN(3000))
}

func (f *fuzzer) orderJSON(r *rand.Rand) string {
	m := f.markets[r.IntN(len(f.markets))]
	side := [...]string{"buy", "sell"}[r.IntN(2)]
	var b strings.Builder
	fmt.Fprintf(&b, `{"market":%q,"side":%q`, m, side)
	switch r.IntN(10) {
	case 0:
		fmt.Fprintf(&b, `,"type":"market","quantity":%q`, f.qty(r, m))
	case 1:
		fmt.Fprintf(&b, `,"type":"stop_limit","price":%q,"stop_price":%q,"quantity":%q`, f.price(r, m), f.price(r, m), f.qty(r, m))
	default:
		fmt.Fprintf(&b, `,"type":"limit","price":%q,"quantity":%q`, f.price(r, m), f.qty(r, m))
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, `,"time_in_force":%q`, [...]string{"gtc", "ioc", "fok"}[r.IntN(3)])
		}
		if r.IntN(8) == 0 {
			b.WriteString(`,"post_only":true`)
		}
	}
	if r.IntN(4) == 0 {
		fmt.Fprintf(&b, `,"client_order_id":"c%d"`, r.IntN(5000))
	}
	if r.IntN(6) == 0 {
		fmt.Fprintf(&b, `,"stp":%q`, [...]string{"none", "cancel_taker", "cancel_maker", "cancel_both"}[r.IntN(4)])
	}
	b.WriteByte('}')
	return b.String()
}

func (f *fuzzer) orderID(r *rand.Rand) uint64 {
	if n := f.nids.Load(); n > 0 && r.IntN(4) != 0 {
		// a recent-ish id: ids are dense-ish, so pick near the top
		var picked uint64
		k := r.IntN(int(min(n, 50)))
		f.ids.Range(func(key, _ any) bool {
			picked = key.(uint64)
			k--
			return k > 0
		})
		return picked
	}
	return uint64(r.IntN(100000))
}

// valid returns a random valid request.
func (f *fuzzer) valid(r *rand.Rand) template {
	m := f.markets[r.IntN(len(f.markets))]
	switch k := r.IntN(100); {
	case k < 35:
		return template{method: "POST", path: "/v1/orders", role: roleUser, body: []byte(f.orderJSON(r)), bodyChecked: true}
	case k < 42:
		var b strings.Builder
		b.WriteString(`{"orders":[`)
		for i := range 1 + r.IntN(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.orderJSON(r))
		}
		b.WriteString("]}")
		return template{method: "POST", path: "/v1/orders/batch", role: roleUser, body: []byte(b.String()), batch: true, bodyChecked: true}
	case k < 50:
		body := fmt.Sprintf(`{"quantity":%q}`, f.qty(r, m))
		if r.IntN(2) == 0 {
			body = fmt.Sprintf(`{"price":%q}`, f.price(r, m))
		}
		return template{method: "PATCH", path: fmt.Sprintf("/v1/orders/%d", f.orderID(r)), role: roleUser, body: []byte(body), bodyChecked: true}
	case k < 56:
		return template{method: "DELETE", path: fmt.Sprintf("/v1/orders/%d", f.orderID(r)), role: roleUser}
	case k < 58:
		return template{method: "DELETE", path: "/v1/orders?market=" + m, role: roleUser}
	case k < 62:
		return template{method: "POST", path: "/v1/withdrawals", role: roleUser, bodyChecked: true,
			body: fmt.Appendf(nil, `{"asset":%q,"amount":"0.0%d","ref":"w%d"}`, f.assets[r.IntN(len(f.assets))], 1+r.IntN(9), r.Uint64())}
	case k < 63:
		return template{method: "POST", path: "/v1/tokens", role: roleUser}
	case k < 64:
		return template{method: "DELETE", path: fmt.Sprintf("/v1/tokens/%d", 100+r.IntN(1000)), role: roleUser}
	case k < 66:
		return template{method: "POST", path: "/v1/accounts", role: roleNone, bodyChecked: true,
			body: fmt.Appendf(nil, `{"name":"u%d"}`, r.Uint64())}
	case k < 68:
		return template{method: "POST", path: "/v1/admin/deposits", role: roleAdmin, bodyChecked: true,
			body: fmt.Appendf(nil, `{"account_id":%d,"asset":%q,"amount":"1.5","ref":"fd%d"}`, f.accounts[r.IntN(len(f.accounts))], f.assets[r.IntN(len(f.assets))], r.IntN(100000))}
	case k < 69:
		return template{method: "POST", path: "/v1/admin/markets", role: roleAdmin, bodyChecked: true,
			body: fmt.Appendf(nil, `{"symbol":"X%d-USDT","base":"X%d","quote":"USDT","tick_size":"0.01","lot_size":"0.1","maker_fee_bps":1,"taker_fee_bps":2}`, r.IntN(50), r.IntN(50))}
	case k < 70:
		op := "resume"
		if r.IntN(4) == 0 {
			op = "halt"
		}
		return template{method: "POST", path: "/v1/admin/markets/" + m + "/" + op, role: roleAdmin}
	case k < 71:
		return template{method: "GET", path: "/v1/admin/accounts?limit=" + strconv.Itoa(1+r.IntN(20)), role: roleAdmin}
	case k < 72:
		return template{method: "PUT", path: "/v1/social/leader", role: roleUser, bodyChecked: true,
			body: fmt.Appendf(nil, `{"display_name":"L%d","bio":"b","profit_share_bps":%d}`, r.IntN(100), r.IntN(5001))}
	case k < 74:
		modes := []string{"proportional", "fixed_quote", "multiplier"}
		return template{method: "POST", path: "/v1/social/follows", role: roleUser, bodyChecked: true,
			body: fmt.Appendf(nil, `{"leader_id":%d,"allocation":"%d","mode":%q,"value":"0.5","max_order_quote":"100","slippage_bps":%d,"stop_loss_bps":%d}`,
				f.accounts[r.IntN(len(f.accounts))], 1+r.IntN(1000), modes[r.IntN(3)], 1+r.IntN(300), r.IntN(10000))}
	case k < 75:
		op := []string{"pause", "resume"}[r.IntN(2)]
		return template{method: "POST", path: fmt.Sprintf("/v1/social/follows/%d/%s", 1+r.IntN(20), op), role: roleUser}
	case k < 76:
		return template{method: "DELETE", path: fmt.Sprintf("/v1/social/follows/%d?close=%s", 1+r.IntN(20), []string{"market", "keep"}[r.IntN(2)]), role: roleUser}
	case k < 77:
		return template{method: "PATCH", path: fmt.Sprintf("/v1/social/follows/%d", 1+r.IntN(20)), role: roleUser, bodyChecked: true,
			body: fmt.Appendf(nil, `{"top_up":"1.5","slippage_bps":%d,"max_order_quote":"20"}`, 1+r.IntN(300))}
	case k < 78:
		social := []string{"/v1/social/follows", "/v1/social/followers", "/v1/social/leaders?sort=aum&window=7d&limit=5",
			fmt.Sprintf("/v1/social/leaders/%d", f.accounts[r.IntN(len(f.accounts))])}
		return template{method: "GET", path: social[r.IntN(len(social))], role: roleUser}
	}
	gets := []string{"/v1/account", "/v1/orders?market=" + m + "&status=open&limit=10", "/v1/orders?status=done",
		fmt.Sprintf("/v1/orders/%d", f.orderID(r)), "/v1/fills?limit=5", "/v1/markets", "/v1/markets/" + m + "/book",
		"/v1/markets/" + m + "/trades?limit=3", "/v1/markets/" + m + "/candles?interval=1m", "/v1/markets/" + m + "/ticker",
		"/healthz", "/readyz"}
	return template{method: "GET", path: gets[r.IntN(len(gets))], role: roleUser}
}

// tokenFor returns a valid token for a role.
func (f *fuzzer) tokenFor(r *rand.Rand, role int) string {
	switch role {
	case roleUser:
		return f.tokens[r.IntN(len(f.tokens))]
	case roleAdmin:
		return adminTok
	}
	return ""
}

var fuzzMethods = []string{"GET", "POST", "DELETE", "PATCH", "PUT", "HEAD", "OPTIONS", "TRACE", "FOO", "get"}

var fuzzPaths = []string{"/healthz", "/readyz", "/v1/openapi.json", "/v1/accounts", "/v1/account", "/v1/tokens",
	"/v1/tokens/1", "/v1/withdrawals", "/v1/admin/markets", "/v1/admin/deposits", "/v1/admin/accounts",
	"/v1/admin/backup", "/v1/orders", "/v1/orders/batch", "/v1/orders/1", "/v1/fills", "/v1/markets",
	"/v1/markets/BTC-USDT/book", "/v1/markets/BTC-USDT/trades", "/v1/markets/BTC-USDT/candles",
	"/v1/markets/BTC-USDT/ticker", "/v1/admin/markets/BTC-USDT/halt", "/v1/admin/markets/ETH-USDT/resume",
	"/", "", "/v1", "/v1/", "/v1/orders/", "/v1/orders//", "/v1/orders/-1", "/v1/orders/1.5", "/v1/orders/0x10",
	"/v1/orders/99999999999999999999999", "/v1/markets//book", "/v1/markets/BTC-USDT/book/extra",
	"/v1/admin/markets//halt", "/v1/tokens/abc", "/../etc/passwd", "/v1/orders?limit=-1", "/v1/orders?after=x",
	"/v1/markets/BTC-USDT/candles?interval=7m", "/v1/markets/BTC-USDT/book?depth=100000000000000000000",
	"/v1/fills?market=%00", "/v1/orders?market=BTC-USDT&market=ETH-USDT", "/v1/social/follows", "/v1/ws",
	"/v1/social/leader", "/v1/social/leaders", "/v1/social/leaders/1", "/v1/social/leaders/x", "/v1/social/followers",
	"/v1/social/follows/1", "/v1/social/follows/1/pause", "/v1/social/follows/1/resume", "/v1/social/follows/1/x",
	"/v1/social/follows//pause", "/v1/social/follows/1?close=sideways", "/v1/admin/settle", "/v1/admin/settle?leader_id=x"}

var (
	hugeNumbers = []string{"99999999999999999999", "1e400", "-0", "18446744073709551616", "9223372036854775807",
		"0.000000000000000001", "1" + strings.Repeat("0", 400), "-9223372036854775808"}
	badDecimals = []string{`"1.2.3"`, `"-1"`, `"+1"`, `"1e5"`, `"abc"`, `"0.000000001"`, `""`, `" 1"`, `"1 "`,
		`".5"`, `"5."`, `"0x10"`, `"NaN"`, `"Infinity"`, `"٣"`, `"1,5"`, `"99999999999999999999"`, `"92233720368.54775808"`}
	typeValues = []string{`1`, `-1`, `1.5`, `true`, `false`, `null`, `[]`, `{}`, `"x"`, `[1,"a"]`, `{"a":1}`, `1e999`}
)

// mixed returns a valid, mutated or garbage request.
func (f *fuzzer) mixed(r *rand.Rand) fuzzReq {
	switch k := r.IntN(10); {
	case k < 3:
		tp := f.valid(r)
		return fuzzReq{method: tp.method, path: tp.path, token: f.tokenFor(r, tp.role), body: tp.body}
	case k < 9:
		tp := f.valid(r)
		q := fuzzReq{method: tp.method, path: tp.path, token: f.tokenFor(r, tp.role), body: tp.body}
		for range 1 + r.IntN(3) {
			f.mutate(r, &q, tp)
		}
		return q
	}
	q := fuzzReq{method: fuzzMethods[r.IntN(len(fuzzMethods))], path: f.garbagePath(r)}
	if r.IntN(2) == 0 {
		q.token = f.tokenFor(r, r.IntN(3))
	}
	if r.IntN(2) == 0 {
		q.body = garbageBytes(r, r.IntN(300))
	}
	return q
}

func garbageBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	const alpha = `{}[]":,0123456789.-eE+ truefalsnl\abcxyz` + "\x00\xff\n"
	for i := range b {
		if r.IntN(4) == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = alpha[r.IntN(len(alpha))]
		}
	}
	return b
}

func (f *fuzzer) garbagePath(r *rand.Rand) string {
	p := fuzzPaths[r.IntN(len(fuzzPaths))]
	switch r.IntN(4) {
	case 0:
		var b strings.Builder
		b.WriteString("/v1/")
		for range r.IntN(40) {
			c := byte(r.IntN(256))
			if c >= 'a' && c <= 'z' || c == '/' || c >= '0' && c <= '9' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		return b.String()
	case 1:
		return p + "?" + strings.Repeat("a=1&", r.IntN(20)) + "limit=" + hugeNumbers[r.IntN(len(hugeNumbers))]
	}
	return p
}

// mutate applies one random mutation.
func (f *fuzzer) mutate(r *rand.Rand, q *fuzzReq, tp template) {
	b := q.body
	switch r.IntN(12) {
	case 0: // byte flips
		if len(b) > 0 {
			b = bytes.Clone(b)
			for range 1 + r.IntN(3) {
				b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
			}
		}
	case 1: // truncation
		if len(b) > 0 {
			b = b[:r.IntN(len(b))]
		}
	case 2: // type swap of a value
		b = swapValue(r, b, typeValues[r.IntN(len(typeValues))])
	case 3: // huge number (as a number or as a decimal string)
		h := hugeNumbers[r.IntN(len(hugeNumbers))]
		if r.IntN(2) == 0 {
			h = strconv.Quote(h)
		}
		b = swapValue(r, b, h)
	case 4:
		b = swapValue(r, b, badDecimals[r.IntN(len(badDecimals))])
	case 5: // unknown field
		if len(b) > 0 && b[0] == '{' {
			b = append([]byte(`{"zz_unknown":1,`), b[1:]...)
		}
	case 6: // token: absent, wrong, other role, malformed header
		switch r.IntN(6) {
		case 0:
			q.token = ""
		case 1:
			q.token = "ist_" + strconv.FormatUint(r.Uint64(), 36)
		case 2:
			q.token = f.tokenFor(r, roleUser)
		case 3:
			q.token = adminTok
		case 4:
			q.rawAuth = [...]string{"Basic abc", "Bearer", "Bearer ", "bearer  " + f.tokens[0], "Token " + f.tokens[0]}[r.IntN(5)]
		default:
			q.token = strings.Repeat("x", r.IntN(5000))
		}
	case 7:
		q.method = fuzzMethods[r.IntN(len(fuzzMethods))]
	case 8:
		q.path = f.garbagePath(r)
	case 9: // drop a field
		if i := bytes.IndexByte(b, ','); i > 0 {
			if j := bytes.IndexByte(b[i+1:], ','); j > 0 {
				b = append(bytes.Clone(b[:i]), b[i+1+j:]...)
			}
		}
	case 10: // duplicate / nest
		if len(b) > 0 {
			b = append(append([]byte(`{"orders":[`), b...), "]}"...)
		}
	default: // body on a bodiless request, or garbage
		b = garbageBytes(r, r.IntN(200))
	}
	q.body = b
}

// swapValue replaces the value of a random "key": field of a JSON body
// with v (textually).
func swapValue(r *rand.Rand, b []byte, v string) []byte {
	var starts []int
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '"' && b[i+1] == ':' {
			starts = append(starts, i+2)
		}
	}
	if len(starts) == 0 {
		return b
	}
	s := starts[r.IntN(len(starts))]
	if s >= len(b) || b[s] == '[' || b[s] == '{' {
		return b
	}
	e := s
	if e < len(b) && b[e] == '"' {
		e++
		for e < len(b) && b[e] != '"' {
			e++
		}
		e++
	} else {
		for e < len(b) && b[e] != ',' && b[e] != '}' && b[e] != ']' {
			e++
		}
	}
	if e > len(b) {
		return b
	}
	out := append(bytes.Clone(b[:s]), v...)
	return append(out, b[e:]...)
}

// invalid returns a request that must be rejected (4xx) or is a read.
func (f *fuzzer) invalid(r *rand.Rand) fuzzReq {
	tp := f.valid(r)
	q := fuzzReq{method: tp.method, path: tp.path, token: f.tokenFor(r, tp.role), body: tp.body}
	// Any mutations first (they may make it valid), then one that surely
	// makes it invalid.
	if r.IntN(2) == 0 {
		f.mutate(r, &q, tp)
		q.method, q.path, q.rawAuth = tp.method, tp.path, "" // keep the route
		if tp.role == roleNone {
			q.body = tp.body // sign-up: only body mutations below
		}
	}
	choice := r.IntN(6)
	if tp.role == roleNone || (tp.role != roleNone && !tp.bodyChecked && choice >= 3) {
		choice = r.IntN(3) // token mutations are useless on sign-up; body ones on bodiless requests
		if tp.role == roleNone {
			choice += 3
		}
	}
	switch choice {
	case 0: // no or wrong token
		q.token = [...]string{"", "ist_nope", "Bearer"}[r.IntN(3)]
		if q.token == "Bearer" {
			q.token, q.rawAuth = "", "Basic Zm9vOmJhcg=="
		}
	case 1: // the other role's token
		if tp.role == roleAdmin {
			q.token = f.tokenFor(r, roleUser)
		} else {
			q.token = adminTok
		}
	case 2: // wrong method or path
		if r.IntN(2) == 0 {
			q.method = "PUT"
			if tp.method == "PUT" {
				q.method = "PATCH"
			}
		} else {
			q.path = "/v1/nope" + q.path
		}
	case 3: // truncation (keeps the token valid)
		q.body = bytes.Clone(tp.body[:r.IntN(len(tp.body))])
	case 4:
		q.body = append([]byte(`{"zz_unknown":1,`), tp.body[1:]...)
	default:
		if tp.batch {
			q.body = append([]byte(`{"orders":[],`), tp.body[1:]...)
		} else {
			// Every field is a scalar: null, [] and {} are never of its type.
			q.body = swapValue(r, tp.body, [...]string{`null`, `[]`, `{"a":1}`}[r.IntN(3)])
			if bytes.Equal(q.body, tp.body) {
				q.body = append([]byte(`{"zz_unknown":1,`), tp.body[1:]...)
			}
		}
	}
	return q
}
