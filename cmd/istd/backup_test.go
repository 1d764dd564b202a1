package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/instant-social-trading/ist/wal"
	"github.com/rs/zerolog"
)

// TestHelperIstd is not a test: it is istd in a child process of
// startIstd (with IST_TEST_CHILD=1), configured by its environment and
// stopped by SIGTERM.
func TestHelperIstd(t *testing.T) {
	if os.Getenv("IST_TEST_CHILD") != "1" {
		t.Skip("istd of startIstd")
	}
	if err := run(nil, io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, "istd:", err)
		os.Exit(1)
	}
}

// startIstd runs istd in a child process on dir, at addr, with admin
// token tok, and waits until it is ready. stop sends SIGTERM and waits
// for it to exit.
func startIstd(t *testing.T, dir, addr, tok string) (stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIstd$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IST_TEST_CHILD=1", "IST_DATA_DIR="+dir, "IST_LISTEN="+addr,
		"IST_ADMIN_TOKEN="+tok, "IST_LOG_LEVEL=error", "IST_SETTLE_INTERVAL=0")
	var stderr syncBuf
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("istd on %s: %v (%s)", dir, err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("istd on %s did not stop on SIGTERM", dir)
		}
	}
	t.Cleanup(stop)
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop
			}
		}
		if i == 500 {
			t.Fatalf("istd on %s never became ready: %s", dir, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpCall sends a request to the istd at addr and returns the status and
// the body.
func httpCall(t *testing.T, addr, method, path, tok, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// mustCall is httpCall that expects status want and decodes the body.
func mustCall(t *testing.T, addr string, want int, method, path, tok, body string) map[string]any {
	t.Helper()
	code, b := httpCall(t, addr, method, path, tok, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return m
}

// TestBackupOnline runs `istd backup --to DIR` while istd serves the
// data directory: the running istd writes the backup, and an istd
// started from it has the state of the moment of the backup (accounts
// and balances, orders, fills, the book, the tokens), not later writes.
func TestBackupOnline(t *testing.T) {
	const tok = "backup-admin-token"
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	stop := startIstd(t, dir, addr, tok)

	mustCall(t, addr, 201, "POST", "/v1/admin/markets", tok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	var users [2]string
	for i, name := range []string{"alice", "bob"} {
		a := mustCall(t, addr, 201, "POST", "/v1/accounts", "", fmt.Sprintf(`{"name":%q}`, name))
		users[i] = a["token"].(string)
		id := int64(a["id"].(float64))
		mustCall(t, addr, 201, "POST", "/v1/admin/deposits", tok,
			fmt.Sprintf(`{"account_id":%d,"asset":"BTC","amount":"2","ref":"d-%d-btc"}`, id, id))
		mustCall(t, addr, 201, "POST", "/v1/admin/deposits", tok,
			fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100000","ref":"d-%d-usdt"}`, id, id))
	}
	alice, bob := users[0], users[1]
	mustCall(t, addr, 201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	mustCall(t, addr, 201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65100","quantity":"0.25","client_order_id":"c-1"}`)
	mustCall(t, addr, 201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.2"}`)
	mustCall(t, addr, 201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"64000","quantity":"0.1"}`)

	// state returns what an istd at addr serves of the state above.
	state := func(addr string) map[string]string {
		t.Helper()
		st := map[string]string{}
		for _, r := range []struct{ name, path, tok string }{
			{"accounts", "/v1/admin/accounts", tok},
			{"alice", "/v1/account", alice}, {"bob", "/v1/account", bob},
			{"alice orders", "/v1/orders", alice}, {"bob orders", "/v1/orders", bob},
			{"alice done", "/v1/orders?status=done", alice}, {"bob done", "/v1/orders?status=done", bob},
			{"alice fills", "/v1/fills", alice}, {"bob fills", "/v1/fills", bob},
			{"markets", "/v1/markets", ""},
		} {
			code, b := httpCall(t, addr, "GET", r.path, r.tok, "")
			if code != 200 {
				t.Fatalf("GET %s: %d %s", r.path, code, b)
			}
			st[r.name] = b
		}
		// The book's view follows the engine within a view interval.
		for i := 0; ; i++ {
			b := mustCall(t, addr, 200, "GET", "/v1/markets/BTC-USDT/book", "", "")
			book := fmt.Sprint(b["bids"], b["asks"])
			if book == "[[64000 0.1]] [[65000 0.3] [65100 0.25]]" || i == 100 {
				st["book"] = book
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return st
	}
	before := state(addr)

	// While istd runs, with its settings.
	t.Setenv("IST_DATA_DIR", dir)
	t.Setenv("IST_LISTEN", addr)
	t.Setenv("IST_ADMIN_TOKEN", "")
	bdir := filepath.Join(t.TempDir(), "backup")
	var out bytes.Buffer
	if err := run([]string{"backup", "--to", bdir}, &out); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Fatalf("backup of a running istd without its admin token: %v", err)
	}
	if err := run([]string{"backup", "--to", bdir, "--admin-token", "wrong"}, &out); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("backup with a wrong admin token: %v", err)
	}
	t.Setenv("IST_ADMIN_TOKEN", tok)
	// A relative DIR is this process's: made absolute before istd gets it.
	t.Chdir(filepath.Dir(bdir))
	if err := run([]string{"backup", "--to", filepath.Base(bdir)}, &out); err != nil {
		t.Fatalf("online backup: %v", err)
	}
	if !strings.Contains(out.String(), "online backup written to "+bdir) {
		t.Fatalf("backup output %q", out.String())
	}
	if err := run([]string{"backup", "--to", bdir}, &out); err == nil {
		t.Fatal("second backup into the same directory succeeded")
	}
	// Later writes are not in the backup.
	mustCall(t, addr, 201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65100","quantity":"0.1"}`)
	mustCall(t, addr, 201, "POST", "/v1/admin/deposits", tok, `{"account_id":1,"asset":"USDT","amount":"5","ref":"late"}`)
	if after := state(addr); after["accounts"] == before["accounts"] {
		t.Fatal("later writes did not change the live state")
	}
	stop()

	// A fresh istd on the backup serves the state of the backup.
	addr2 := freeAddr(t)
	startIstd(t, bdir, addr2, tok)
	restored := state(addr2)
	for k, want := range before {
		if restored[k] != want {
			t.Errorf("restored %s:\n%s\nwant\n%s", k, restored[k], want)
		}
	}
}

// localURL reaches istd's --listen address from its own machine.
func TestLocalURL(t *testing.T) {
	for _, c := range []struct {
		listen string
		https  bool
		want   string
	}{
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"0.0.0.0:8080", false, "http://127.0.0.1:8080"},
		{":8080", true, "https://127.0.0.1:8080"},
		{"[::]:8443", true, "https://[::1]:8443"},
		{"istd.internal:80", false, "http://istd.internal:80"},
	} {
		if got, err := localURL(c.listen, c.https); err != nil || got != c.want {
			t.Errorf("localURL(%q, %v) = %q, %v, want %q", c.listen, c.https, got, err, c.want)
		}
	}
	if _, err := localURL("8080", false); err == nil {
		t.Error("localURL accepted an address without a port")
	}
}

// serveKeepAll opens dir as istd with --history-orders 0 --history-fills
// 0 would (keeping all history), serves it on a loopback port and
// returns it and its address.
func serveKeepAll(t *testing.T, dir, tok string) (*server.Server, string) {
	t.Helper()
	nop := zerolog.Nop()
	s, err := server.Open(&server.Options{DataDir: dir, AdminToken: tok, Logger: &nop, HistoryOrders: -1, HistoryFills: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	go s.Serve(ln)
	return s, ln.Addr().String()
}

// countHistory returns how many done orders and fills the account of tok
// has at the istd at addr, paging through them.
func countHistory(t *testing.T, addr, tok string) (done, fills int) {
	t.Helper()
	for after := 0.0; ; {
		m := mustCall(t, addr, 200, "GET", fmt.Sprintf("/v1/orders?status=done&limit=1000&after=%.0f", after), tok, "")
		page := m["orders"].([]any)
		if len(page) == 0 {
			break
		}
		done += len(page)
		after = page[len(page)-1].(map[string]any)["id"].(float64)
	}
	for after := 0.0; ; {
		m := mustCall(t, addr, 200, "GET", fmt.Sprintf("/v1/fills?limit=1000&after=%.0f", after), tok, "")
		page := m["fills"].([]any)
		if len(page) == 0 {
			break
		}
		fills += len(page)
		after = page[len(page)-1].(map[string]any)["trade_id"].(float64)
	}
	return done, fills
}

// TestBackupOfflineKeepsHistory takes an offline backup of a data
// directory that istd ran on keeping all history (--history-orders 0
// --history-fills 0), with more done orders and fills than the default
// retention (1000): the backup, run without those flags, leaves them all
// in the directory and copies them all. (It used to open the directory
// with the default retention and save the trimmed history into it.)
func TestBackupOfflineKeepsHistory(t *testing.T) {
	const tok, n = "backup-admin-token", 1100
	dir := filepath.Join(t.TempDir(), "data")
	s, addr := serveKeepAll(t, dir, tok)
	mustCall(t, addr, 201, "POST", "/v1/admin/markets", tok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	var users [2]string
	for i, name := range []string{"seller", "buyer"} {
		a := mustCall(t, addr, 201, "POST", "/v1/accounts", "", fmt.Sprintf(`{"name":%q}`, name))
		users[i] = a["token"].(string)
		mustCall(t, addr, 201, "POST", "/v1/admin/deposits", tok,
			fmt.Sprintf(`{"account_id":%.0f,"asset":"BTC","amount":"5000","ref":"btc-%d"}`, a["id"].(float64), i))
		mustCall(t, addr, 201, "POST", "/v1/admin/deposits", tok,
			fmt.Sprintf(`{"account_id":%.0f,"asset":"USDT","amount":"100000","ref":"usdt-%d"}`, a["id"].(float64), i))
	}
	seller, buyer := users[0], users[1]
	mustCall(t, addr, 201, "POST", "/v1/orders", seller,
		fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"10","quantity":"%d"}`, n))
	// n buy orders of 1 BTC, each filled at once: n done orders and n
	// fills for the buyer, n fills for the seller.
	for _, size := range []int{1000, n - 1000} {
		orders := make([]string, size)
		for i := range orders {
			orders[i] = `{"market":"BTC-USDT","side":"buy","price":"10","quantity":"1","time_in_force":"ioc"}`
		}
		mustCall(t, addr, 200, "POST", "/v1/orders/batch", buyer, `{"orders":[`+strings.Join(orders, ",")+`]}`)
	}
	if done, fills := countHistory(t, addr, buyer); done != n || fills != n {
		t.Fatalf("before the backup: %d done orders and %d fills, want %d", done, fills, n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, k := range []string{"IST_HISTORY_ORDERS", "IST_HISTORY_FILLS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	bdir := filepath.Join(t.TempDir(), "backup")
	var out bytes.Buffer
	if err := run([]string{"backup", "--to", bdir, "--data-dir", dir}, &out); err != nil {
		t.Fatalf("offline backup: %v", err)
	}
	for _, d := range []string{dir, bdir} {
		s, addr := serveKeepAll(t, d, tok)
		bDone, bFills := countHistory(t, addr, buyer)
		_, sFills := countHistory(t, addr, seller)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if bDone != n || bFills != n || sFills != n {
			t.Errorf("%s after the backup: buyer %d done orders and %d fills, seller %d fills; want %d each",
				d, bDone, bFills, sFills, n)
		}
	}
}

// TestBackupNoData refuses an offline backup of a directory without
// istd's data (missing, empty, or with a log but no metadata store) and
// writes nothing: opening it would have created a store with an admin
// token that nothing prints.
func TestBackupNoData(t *testing.T) {
	root := t.TempDir()
	empty, missing, logOnly := filepath.Join(root, "empty"), filepath.Join(root, "missing"), filepath.Join(root, "log-only")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	nop := zerolog.Nop()
	l, err := wal.Open(logOnly, &wal.Options{Logger: &nop})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	list := func(dir string) string {
		var names []string
		filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error {
			names = append(names, p)
			return nil
		})
		return strings.Join(names, " ")
	}
	for _, dir := range []string{empty, missing, logOnly} {
		before := list(dir)
		bdir := filepath.Join(root, "backup")
		var out bytes.Buffer
		err := run([]string{"backup", "--to", bdir, "--data-dir", dir}, &out)
		if !errors.Is(err, errNoData) || !strings.Contains(err.Error(), dir) {
			t.Errorf("backup of %s: %v, want %v naming it", dir, err, errNoData)
		}
		if after := list(dir); after != before {
			t.Errorf("backup of %s changed it: %s, was %s", dir, after, before)
		}
		if _, err := os.Stat(bdir); !os.IsNotExist(err) {
			t.Errorf("backup of %s wrote %s (%v)", dir, bdir, err)
		}
	}
}
