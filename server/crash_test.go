package server

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestCrashChild is the server process of TestCrash and
// TestCrashHistoryBases: it serves the data directory of $IST_CRASH_DIR on
// $IST_CRASH_ADDR until killed. With $IST_CRASH_HISTORY set, it saves the
// order history every 5 ms, keeps all of it and writes a new base past
// 16 KiB of segments; otherwise it saves the history only on shutdown.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("IST_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	nop := zerolog.Nop()
	o := &Options{DataDir: dir, AdminToken: adminTok, Logger: &nop, HistoryInterval: -1}
	if os.Getenv("IST_CRASH_HISTORY") != "" {
		o.HistoryInterval, o.HistoryOrders, o.HistoryFills, o.historyBaseMin = 5*time.Millisecond, -1, -1, 16<<10
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", os.Getenv("IST_CRASH_ADDR"))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(ln) // until SIGKILL
}

// startChild starts TestCrashChild on dir with the extra environment
// variables env, and returns it with a client of it once it is ready.
func startChild(t *testing.T, dir, addr string, env ...string) (*exec.Cmd, *testServer) {
	t.Helper()
	return startChildTest(t, "TestCrashChild", dir, addr, append([]string{"IST_CRASH_DIR=" + dir, "IST_CRASH_ADDR=" + addr}, env...)...)
}

// startChildTest runs the test named test of this binary in a child
// process with the extra environment variables env: an istd on dir
// listening at addr, to be killed. It returns the child with a client of
// it once it answers /readyz.
func startChildTest(t *testing.T, test, dir, addr string, env ...string) (*exec.Cmd, *testServer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, dir: dir, base: "http://" + addr, c: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	for i := 0; ; i++ {
		resp, err := ts.c.Get(ts.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, ts
			}
		}
		if i > 500 {
			cmd.Process.Kill()
			t.Fatal("child never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killChild kills child process cmd with SIGKILL (a crash: no final
// snapshot, no history save), waits for it to exit, and drops ts's
// connections to it.
func killChild(t *testing.T, cmd *exec.Cmd, ts *testServer) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ts.c.CloseIdleConnections()
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCrash kills a server process with SIGKILL after acknowledged writes
// and checks that a new server on the same directory has every one of
// them, and that the order history, never saved by the killed process, is
// rebuilt from the log at start-up.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	alice, bob := ts.setup()
	var ids []string
	for i := range 20 {
		out := ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.01"}`, 65000+i))
		ids = append(ids, id(out))
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	want := ts.balances(alice)
	killChild(t, cmd, ts)

	ts2 := start(t, dir, nil)
	if got := ts2.balances(alice); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after crash %v, want %v", got, want)
	}
	// The history was rebuilt from the log: the first order shows as
	// filled, the others rest and can be cancelled.
	if o := ts2.must(200, "GET", "/v1/orders/"+ids[0], alice, ""); o["status"] != "filled" {
		t.Fatalf("order %s after the crash: %v", ids[0], o)
	}
	// So were the public trades and candles.
	if tr := ts2.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"].([]any); len(tr) != 1 ||
		tr[0].(map[string]any)["price"] != "65000" || tr[0].(map[string]any)["side"] != "buy" {
		t.Fatalf("trades after the crash: %v", tr)
	}
	if cs := ts2.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1h", "", "")["candles"].([]any); len(cs) != 1 ||
		cs[0].(map[string]any)["volume"] != "0.01" {
		t.Fatalf("candles after the crash: %v", cs)
	}
	for _, oid := range ids[1:] {
		if c := ts2.must(200, "DELETE", "/v1/orders/"+oid, alice, ""); c["status"] != "cancelled" {
			t.Fatalf("cancel %s: %v", oid, c)
		}
	}
	if got := ts2.balances(alice); got["BTC"] != "1.99/0" {
		t.Fatalf("after cancels %v", got)
	}
}

// TestCrashHistoryBases kills a server process with SIGKILL at random
// moments while two accounts trade in batches and the order history is
// saved every few milliseconds and often rewritten as a new base, and
// after each restart checks the history: every acknowledged order is
// there, no fill is listed twice, and each order's filled quantity is the
// sum of its fills.
func TestCrashHistoryBases(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[string]map[float64]bool{} // token → acknowledged order ids
	var alice, bob string
	const kills = 8
	for round := 0; round <= kills; round++ {
		cmd, ts := startChild(t, dir, addr, "IST_CRASH_HISTORY=1")
		if round == 0 {
			alice, bob = ts.setup()
			acked[alice], acked[bob] = map[float64]bool{}, map[float64]bool{}
		} else {
			for _, tok := range []string{alice, bob} {
				checkHistory(t, ts, tok, acked[tok], round)
			}
		}
		if round == kills {
			cmd.Process.Kill()
			cmd.Wait()
			break
		}
		// Trade until the kill, which lands at a random moment.
		killAt := time.Now().Add(time.Duration(100+r.IntN(400)) * time.Millisecond)
		go func() {
			time.Sleep(time.Until(killAt))
			cmd.Process.Kill()
		}()
		for i := 0; time.Now().Before(killAt.Add(-5 * time.Millisecond)); i++ {
			tok, side := alice, "sell"
			if i%2 == 1 {
				tok, side = bob, "buy"
			}
			var b strings.Builder
			b.WriteString(`{"orders":[`)
			for j := range 20 {
				if j > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"market":"BTC-USDT","side":"%s","price":"%d","quantity":"0.0001"}`, side, 65000+(j%3)*10*(1-2*(i%2)))
			}
			b.WriteString(`]}`)
			out, ok := tryBatch(ts, tok, b.String())
			if !ok {
				break // killed
			}
			for _, res := range out["results"].([]any) {
				if o, ok := res.(map[string]any)["order"].(map[string]any); ok {
					acked[tok][o["id"].(float64)] = true
				}
			}
		}
		cmd.Wait()
		ts.c.CloseIdleConnections()
	}
	if n := len(acked[alice]) + len(acked[bob]); n < 1000 {
		t.Fatalf("only %d orders acknowledged: too few to test", n)
	}
	st, err := openStore(dir, &zerolog.Logger{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	r2, err := newReadModel().loadStored(st)
	if err != nil {
		t.Fatal(err)
	}
	if r2.base < 2 {
		t.Fatalf("base %d in force at the end: the test needs several", r2.base)
	}
	t.Logf("%d orders acknowledged; base %d in force at the end", len(acked[alice])+len(acked[bob]), r2.base)
}

// tryBatch posts a batch of orders and returns the response, or false if
// there was none in full (the server was killed) or it was not a 200.
func tryBatch(ts *testServer, tok, body string) (map[string]any, bool) {
	r, err := http.NewRequest("POST", ts.base+"/v1/orders/batch", strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := ts.c.Do(r)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil, false
	}
	return out, true
}

// checkHistory lists the orders and fills of the token's account and
// checks them against the acknowledged ids (see TestCrashHistoryBases).
func checkHistory(t *testing.T, ts *testServer, tok string, acked map[float64]bool, round int) {
	t.Helper()
	list := func(path, key, idKey string) []map[string]any {
		var all []map[string]any
		after := ""
		for {
			page := ts.must(200, "GET", path+"?limit=1000"+after, tok, "")[key].([]any)
			for _, x := range page {
				all = append(all, x.(map[string]any))
			}
			if len(page) < 1000 {
				return all
			}
			after = fmt.Sprintf("&after=%d", uint64(page[len(page)-1].(map[string]any)[idKey].(float64)))
		}
	}
	filled := map[float64]float64{} // order id → Σ fill quantity
	seen := map[string]bool{}
	for _, f := range list("/v1/fills", "fills", "trade_id") {
		k := fmt.Sprint(f["trade_id"], f["liquidity"])
		if seen[k] {
			t.Fatalf("round %d: fill %s listed twice", round, k)
		}
		seen[k] = true
		q, _ := strconv.ParseFloat(f["quantity"].(string), 64)
		filled[f["order_id"].(float64)] += q
	}
	orders := map[float64]bool{}
	for _, o := range list("/v1/orders", "orders", "id") {
		id := o["id"].(float64)
		orders[id] = true
		q, _ := strconv.ParseFloat(o["filled"].(string), 64)
		if math.Abs(q-filled[id]) > 1e-9 {
			t.Fatalf("round %d: order %v filled %v, its fills sum to %v", round, id, q, filled[id])
		}
	}
	for id := range acked {
		if !orders[id] {
			t.Fatalf("round %d: acknowledged order %v missing from the history (%d listed, %d acknowledged)",
				round, id, len(orders), len(acked))
		}
	}
}
